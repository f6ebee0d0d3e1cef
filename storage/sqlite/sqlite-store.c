/* storage-sqlite: the store vtable over one SQLite database (WAL) for all
 * users. Writes go through one writer connection under a mutex, reads
 * through a small pool of reader connections.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

typedef struct {
  gint64 id;
  gint64 user_id;
  guint32 uidvalidity;
  guint32 uidnext;
  guint64 highestmodseq;
  guint32 first_recent_uid;
  char *user;             /* borrowed */
  char *name;             /* borrowed */
} SqliteMailbox;

static const char *const special_use_names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };

/* ---- small helpers ---- */

static gboolean
not_found (GError **error, const char *what, const char *name)
{
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no %s %s", what, name);
  return FALSE;
}

static gboolean
user_lookup (SqliteConn *conn, const char *user, gint64 *user_id, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT id FROM users WHERE name = ?1", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, user, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *user_id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  return not_found (error, "user", user);
}

/* Looks @user up, creating the row if missing (writer only). */
static gboolean
user_ensure (SqliteConn *conn, const char *user, gint64 *user_id, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "INSERT OR IGNORE INTO users (name) VALUES (?1)",
                                          error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, user, -1, SQLITE_STATIC);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  return user_lookup (conn, user, user_id, error);
}

/* Finds mailbox @name of @user; @uidvalidity 0 does not check it. */
static gboolean
mailbox_lookup (SqliteConn *conn, const char *user, const char *name, guint32 uidvalidity,
                SqliteMailbox *mb, GError **error)
{
  sqlite3_stmt *stmt;
  int rc;

  memset (mb, 0, sizeof (*mb));
  if (!user_lookup (conn, user, &mb->user_id, error))
    {
      if (g_error_matches (*error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        {
          g_clear_error (error);
          return not_found (error, "mailbox", name);
        }
      return FALSE;
    }
  stmt = sqlite_store_stmt (conn,
                            "SELECT id, uidvalidity, uidnext, highestmodseq, first_recent_uid "
                            "FROM mailboxes WHERE user_id = ?1 AND name = ?2", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->user_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      mb->id = sqlite3_column_int64 (stmt, 0);
      mb->uidvalidity = (guint32) sqlite3_column_int64 (stmt, 1);
      mb->uidnext = (guint32) sqlite3_column_int64 (stmt, 2);
      mb->highestmodseq = (guint64) sqlite3_column_int64 (stmt, 3);
      mb->first_recent_uid = (guint32) sqlite3_column_int64 (stmt, 4);
      mb->user = (char *) user;
      mb->name = (char *) name;
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  if (rc == SQLITE_DONE || (uidvalidity != 0 && uidvalidity != mb->uidvalidity))
    return not_found (error, "mailbox", name);
  return TRUE;
}

static gboolean
mailbox_save (SqliteConn *conn, const SqliteMailbox *mb, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn,
                                          "UPDATE mailboxes SET uidnext = ?2, highestmodseq = ?3, "
                                          "first_recent_uid = ?4 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, mb->uidnext);
  sqlite3_bind_int64 (stmt, 3, (gint64) mb->highestmodseq);
  sqlite3_bind_int64 (stmt, 4, mb->first_recent_uid);
  return sqlite_store_step_done (conn, stmt, error);
}

/* A new UIDVALIDITY: the time, but always above every one handed out. */
static gboolean
next_uidvalidity (SqliteConn *conn, guint32 *out, GError **error)
{
  sqlite3_stmt *stmt;
  gint64 last = 0;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  stmt = sqlite_store_stmt (conn, "SELECT value FROM meta WHERE key = 'uidvalidity'", error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    last = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  last = MAX (last + 1, now & 0x7fffffff);
  if (last > G_MAXUINT32)
    last = 1;
  stmt = sqlite_store_stmt (conn, "INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?1)",
                            error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, last);
  *out = (guint32) last;
  return sqlite_store_step_done (conn, stmt, error);
}

static gboolean
mailbox_exists (SqliteConn *conn, gint64 user_id, const char *name, gboolean *exists,
                GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT 1 FROM mailboxes WHERE user_id = ?1 AND name = ?2",
                                          error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  *exists = rc == SQLITE_ROW;
  return TRUE;
}

static gboolean
mailbox_insert (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
                PosthornSpecialUse special_use, PosthornStoreChanges *changes, GError **error)
{
  sqlite3_stmt *stmt;
  guint32 uidvalidity;

  if (!next_uidvalidity (conn, &uidvalidity, error))
    return FALSE;
  stmt = sqlite_store_stmt (conn, "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) "
                                  "VALUES (?1, ?2, ?3, ?4)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 3, special_use);
  sqlite3_bind_int64 (stmt, 4, uidvalidity);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_CREATED, user, name, NULL);
  return TRUE;
}

/* Creates @name and its missing parents. */
static gboolean
mailbox_create_path (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
                     PosthornSpecialUse special_use, PosthornStoreChanges *changes,
                     GError **error)
{
  g_autofree char *path = g_strdup (name);
  gboolean exists;

  for (char *p = strchr (path, '/'); p != NULL; p = strchr (p + 1, '/'))
    {
      *p = '\0';
      if (!mailbox_exists (conn, user_id, path, &exists, error))
        return FALSE;
      if (!exists && !mailbox_insert (conn, user, user_id, path, 0, changes, error))
        return FALSE;
      *p = '/';
    }
  return mailbox_insert (conn, user, user_id, name, special_use, changes, error);
}

static gboolean
subscription_set (SqliteConn *conn, gint64 user_id, const char *name, gboolean subscribe,
                  GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, subscribe
    ? "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)"
    : "DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  return sqlite_store_step_done (conn, stmt, error);
}

/* ---- keywords ---- */

/* Packed keyword indexes (little-endian guint32, ascending). */
static void
keywords_from_column (sqlite3_stmt *stmt, int column, GArray *out)
{
  const guint8 *data = sqlite3_column_blob (stmt, column);
  int size = sqlite3_column_bytes (stmt, column);

  g_array_set_size (out, 0);
  for (int i = 0; data != NULL && i + 4 <= size; i += 4)
    {
      guint32 v = (guint32) data[i] | (guint32) data[i + 1] << 8 |
                  (guint32) data[i + 2] << 16 | (guint32) data[i + 3] << 24;
      g_array_append_val (out, v);
    }
}

static void
keywords_bind (sqlite3_stmt *stmt, int column, GArray *kw)
{
  guint8 *data;

  if (kw == NULL || kw->len == 0)
    {
      sqlite3_bind_null (stmt, column);
      return;
    }
  data = g_malloc (kw->len * 4);
  for (guint i = 0; i < kw->len; i++)
    {
      guint32 v = g_array_index (kw, guint32, i);

      data[4 * i] = v & 0xff;
      data[4 * i + 1] = (v >> 8) & 0xff;
      data[4 * i + 2] = (v >> 16) & 0xff;
      data[4 * i + 3] = v >> 24;
    }
  sqlite3_bind_blob (stmt, column, data, (int) kw->len * 4, g_free);
}

static int
guint32_compare (gconstpointer a, gconstpointer b)
{
  guint32 ua = *(const guint32 *) a, ub = *(const guint32 *) b;

  return ua < ub ? -1 : ua > ub;
}

static gboolean
keyword_set_contains (GArray *set, guint32 v)
{
  for (guint i = 0; i < set->len; i++)
    if (g_array_index (set, guint32, i) == v)
      return TRUE;
  return FALSE;
}

static void
keyword_set_normalize (GArray *set)
{
  guint out = 0;

  g_array_sort (set, guint32_compare);
  for (guint i = 0; i < set->len; i++)
    if (out == 0 || g_array_index (set, guint32, out - 1) != g_array_index (set, guint32, i))
      g_array_index (set, guint32, out++) = g_array_index (set, guint32, i);
  g_array_set_size (set, out);
}

/* The index of keyword @name in mailbox @mailbox_id, adding it if
 * @create (writer only). -1 if absent and not created. */
static gboolean
keyword_index (SqliteConn *conn, gint64 mailbox_id, const char *name, gboolean create,
               gint64 *out, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT idx FROM keywords WHERE mailbox_id = ?1 AND name = ?2",
                                          error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mailbox_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  if (*out >= 0 || !create)
    return TRUE;

  stmt = sqlite_store_stmt (conn, "INSERT INTO keywords (mailbox_id, idx, name) VALUES "
                                  "(?1, (SELECT COALESCE (MAX (idx) + 1, 0) FROM keywords "
                                  "WHERE mailbox_id = ?1), ?2) RETURNING idx", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mailbox_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    return sqlite_store_set_error (conn, rc, error);
  return TRUE;
}

static GArray *
keywords_resolve (SqliteConn *conn, gint64 mailbox_id, const char *const *names,
                  GError **error)
{
  g_autoptr(GArray) set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      gint64 idx;
      guint32 v;

      if (!keyword_index (conn, mailbox_id, names[i], TRUE, &idx, error))
        return NULL;
      v = (guint32) idx;
      g_array_append_val (set, v);
    }
  keyword_set_normalize (set);
  return g_steal_pointer (&set);
}

static GPtrArray *
keywords_list (SqliteConn *conn, gint64 mailbox_id, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT idx, name FROM keywords WHERE mailbox_id = ?1 ORDER BY idx",
                                          error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, mailbox_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint idx = (guint) sqlite3_column_int64 (stmt, 0);

      while (names->len < idx)
        g_ptr_array_add (names, g_strdup ("$unused"));
      g_ptr_array_add (names, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      return NULL;
    }
  g_ptr_array_add (names, NULL);
  return g_steal_pointer (&names);
}

/* ---- UID sets ---- */

/* Runs @visit for every message of @mb whose UID is in @uids (ascending;
 * NULL: every message). Few UIDs are looked up one by one, many by one
 * range scan. The statement's columns are those of MESSAGE_COLUMNS. */
#define MESSAGE_COLUMNS "uid, body_id, flags, keywords, modseq, internal_date, size"
typedef gboolean (*MessageVisit) (SqliteConn *conn, sqlite3_stmt *row, gpointer data,
                                  GError **error);

static gboolean
uid_in_set (const guint32 *uids, guint n, guint32 uid)
{
  guint lo = 0, hi = n;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (uids[mid] < uid)
        lo = mid + 1;
      else if (uids[mid] > uid)
        hi = mid;
      else
        return TRUE;
    }
  return FALSE;
}

static gboolean
messages_visit (SqliteConn *conn, const SqliteMailbox *mb, const guint32 *uids, guint n_uids,
                gboolean all, MessageVisit visit, gpointer data, GError **error)
{
  sqlite3_stmt *stmt;
  int rc = SQLITE_DONE;
  gboolean by_point;
  guint32 lo, hi;

  if (!all && n_uids == 0)
    return TRUE;
  lo = all ? 1 : uids[0];
  hi = all ? G_MAXUINT32 : uids[n_uids - 1];
  by_point = !all && (guint64) n_uids * 16 < (guint64) (hi - lo);

  if (by_point)
    {
      stmt = sqlite_store_stmt (conn, "SELECT " MESSAGE_COLUMNS " FROM messages "
                                      "WHERE mailbox_id = ?1 AND uid = ?2", error);
      if (stmt == NULL)
        return FALSE;
      for (guint i = 0; i < n_uids; i++)
        {
          sqlite3_reset (stmt);
          sqlite3_bind_int64 (stmt, 1, mb->id);
          sqlite3_bind_int64 (stmt, 2, uids[i]);
          rc = sqlite3_step (stmt);
          if (rc == SQLITE_ROW)
            {
              if (!visit (conn, stmt, data, error))
                {
                  sqlite3_reset (stmt);
                  return FALSE;
                }
            }
          else if (rc != SQLITE_DONE)
            break;
        }
      sqlite3_reset (stmt);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_store_set_error (conn, rc, error);
      return TRUE;
    }

  stmt = sqlite_store_stmt (conn, "SELECT " MESSAGE_COLUMNS " FROM messages "
                                  "WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
                            error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, lo);
  sqlite3_bind_int64 (stmt, 3, hi);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

      if (all || uid_in_set (uids, n_uids, uid))
        {
          if (!visit (conn, stmt, data, error))
            {
              sqlite3_reset (stmt);
              return FALSE;
            }
        }
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  return TRUE;
}

/* A message row copied out of a statement. */
typedef struct {
  guint32 uid;
  gint64 body_id;
  guint32 flags;
  GArray *keywords;
  guint64 modseq;
  gint64 internal_date;
  guint64 size;
} MessageRow;

static void
message_row_free (gpointer p)
{
  MessageRow *row = p;

  g_array_unref (row->keywords);
  g_free (row);
}

static gboolean
collect_row (SqliteConn *conn, sqlite3_stmt *stmt, gpointer data, GError **error)
{
  GPtrArray *rows = data;
  MessageRow *row = g_new0 (MessageRow, 1);

  row->uid = (guint32) sqlite3_column_int64 (stmt, 0);
  row->body_id = sqlite3_column_int64 (stmt, 1);
  row->flags = (guint32) sqlite3_column_int64 (stmt, 2);
  row->keywords = g_array_new (FALSE, FALSE, sizeof (guint32));
  keywords_from_column (stmt, 3, row->keywords);
  row->modseq = (guint64) sqlite3_column_int64 (stmt, 4);
  row->internal_date = sqlite3_column_int64 (stmt, 5);
  row->size = (guint64) sqlite3_column_int64 (stmt, 6);
  g_ptr_array_add (rows, row);
  return TRUE;
}

/* The rows of @uids (or all rows, or those flagged \Deleted), in order. */
static GPtrArray *
messages_collect (SqliteConn *conn, const SqliteMailbox *mb, const guint32 *uids, guint n_uids,
                  gboolean all, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (message_row_free);

  if (!messages_visit (conn, mb, uids, n_uids, all, collect_row, rows, error))
    return NULL;
  return g_steal_pointer (&rows);
}

/* ---- bodies ---- */

static gboolean
body_release (SqliteConn *conn, gint64 body_id, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "UPDATE bodies SET refs = refs - 1 WHERE id = ?1 RETURNING refs",
                                          error);
  gint64 refs = 1;
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    refs = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  if (refs > 0)
    return TRUE;

  stmt = sqlite_store_stmt (conn, "DELETE FROM bodies WHERE id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  stmt = sqlite_store_stmt (conn, "DELETE FROM chunks WHERE id >= ?1 AND id < ?2", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id << SQLITE_STORE_CHUNK_BITS);
  sqlite3_bind_int64 (stmt, 2, (body_id + 1) << SQLITE_STORE_CHUNK_BITS);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  stmt = sqlite_store_stmt (conn, "DELETE FROM search WHERE rowid = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  return sqlite_store_step_done (conn, stmt, error);
}

static gboolean
body_add_refs (SqliteConn *conn, gint64 body_id, int delta, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "UPDATE bodies SET refs = refs + ?2 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  sqlite3_bind_int (stmt, 2, delta);
  return sqlite_store_step_done (conn, stmt, error);
}

/* Writes the message's bytes chunk by chunk, then its search text. */
static gboolean
body_insert (SqliteConn *conn, const PosthornStoreNewMessage *msg, guint refs, gint64 *body_id,
             GError **error)
{
  sqlite3_stmt *stmt;
  g_autofree guint8 *buffer = NULL;
  guint64 offset = 0;
  gint64 seq = 0;

  stmt = sqlite_store_stmt (conn, "INSERT INTO bodies (size, refs, info) VALUES (?1, ?2, ?3)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, (gint64) msg->size);
  sqlite3_bind_int (stmt, 2, (int) refs);
  if (msg->info != NULL)
    sqlite3_bind_blob (stmt, 3, g_bytes_get_data (msg->info, NULL),
                       (int) g_bytes_get_size (msg->info), SQLITE_STATIC);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  *body_id = sqlite3_last_insert_rowid (conn->db);

  buffer = g_malloc (SQLITE_STORE_CHUNK_SIZE);
  stmt = sqlite_store_stmt (conn, "INSERT INTO chunks (id, data) VALUES (?1, ?2)", error);
  if (stmt == NULL)
    return FALSE;
  while (offset < msg->size)
    {
      gsize want = (gsize) MIN ((guint64) SQLITE_STORE_CHUNK_SIZE, msg->size - offset);
      gsize got = 0;

      while (got < want)
        {
          gssize n = posthorn_message_read (msg->message, offset + got, buffer + got,
                                            want - got, error);
          if (n < 0)
            return FALSE;
          if (n == 0)
            {
              g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                           "message shorter than its size (%" G_GUINT64_FORMAT " bytes)",
                           msg->size);
              return FALSE;
            }
          got += (gsize) n;
        }
      sqlite3_reset (stmt);
      sqlite3_bind_int64 (stmt, 1, (*body_id << SQLITE_STORE_CHUNK_BITS) | seq);
      sqlite3_bind_blob (stmt, 2, buffer, (int) got, SQLITE_STATIC);
      if (!sqlite_store_step_done (conn, stmt, error))
        return FALSE;
      offset += got;
      seq++;
    }

  stmt = sqlite_store_stmt (conn, "INSERT INTO search (rowid, header_text, body_text) VALUES (?1, ?2, ?3)",
                            error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, *body_id);
  sqlite3_bind_text (stmt, 2, msg->search_header != NULL ? msg->search_header : "", -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, msg->search_body != NULL ? msg->search_body : "", -1, SQLITE_STATIC);
  return sqlite_store_step_done (conn, stmt, error);
}

static gboolean
message_insert (SqliteConn *conn, SqliteMailbox *mb, gint64 body_id, guint32 flags, GArray *kw,
                gint64 internal_date, guint64 size, guint32 *uid, guint64 *modseq,
                GError **error)
{
  sqlite3_stmt *stmt;

  if (mb->uidnext == 0 || mb->uidnext == G_MAXUINT32)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs",
                   mb->name);
      return FALSE;
    }
  *uid = mb->uidnext++;
  *modseq = ++mb->highestmodseq;
  stmt = sqlite_store_stmt (conn, "INSERT INTO messages (mailbox_id, uid, body_id, flags, keywords, "
                                  "modseq, internal_date, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, *uid);
  sqlite3_bind_int64 (stmt, 3, body_id);
  sqlite3_bind_int64 (stmt, 4, flags & POSTHORN_MESSAGE_STORED_FLAGS);
  keywords_bind (stmt, 5, kw);
  sqlite3_bind_int64 (stmt, 6, (gint64) *modseq);
  sqlite3_bind_int64 (stmt, 7, internal_date);
  sqlite3_bind_int64 (stmt, 8, (gint64) size);
  return sqlite_store_step_done (conn, stmt, error);
}

static gboolean
message_remove (SqliteConn *conn, SqliteMailbox *mb, const MessageRow *row, guint64 *modseq,
                gboolean release_body, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                                          error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, row->uid);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  *modseq = ++mb->highestmodseq;
  stmt = sqlite_store_stmt (conn, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
                            error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, row->uid);
  sqlite3_bind_int64 (stmt, 3, (gint64) *modseq);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  return !release_body || body_release (conn, row->body_id, error);
}

/* ---- the vtable ---- */

static gboolean
sqlite_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn;
  gint64 user_id;
  gboolean ok = FALSE;

  /* Cheap check first: most logins find everything in place. */
  conn = sqlite_store_reader (store, error);
  if (conn == NULL)
    return FALSE;
  {
    sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT initialized FROM users WHERE name = ?1", error);

    if (stmt != NULL)
      {
        sqlite3_bind_text (stmt, 1, user, -1, SQLITE_STATIC);
        ok = sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
        sqlite3_reset (stmt);
      }
  }
  sqlite_store_reader_release (store, conn);
  if (ok)
    return TRUE;

  conn = sqlite_store_writer (store, error);
  if (conn == NULL)
    return FALSE;
  ok = user_ensure (conn, user, &user_id, error);
  if (ok)
    {
      gboolean exists;

      ok = mailbox_exists (conn, user_id, "INBOX", &exists, error) &&
           (exists || mailbox_insert (conn, user, user_id, "INBOX", 0, changes, error)) &&
           subscription_set (conn, user_id, "INBOX", TRUE, error);
      for (guint i = 0; ok && i < G_N_ELEMENTS (special_use_names); i++)
        {
          ok = mailbox_exists (conn, user_id, special_use_names[i], &exists, error);
          if (ok && !exists)
            ok = mailbox_insert (conn, user, user_id, special_use_names[i], 1u << i, changes, error) &&
                 subscription_set (conn, user_id, special_use_names[i], TRUE, error);
        }
    }
  if (ok)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, "UPDATE users SET initialized = 1 WHERE id = ?1", error);

      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, user_id);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
    }
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  sqlite3_stmt *stmt;
  gint64 user_id;
  gboolean ok = FALSE;
  int rc = SQLITE_DONE;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) || !user_lookup (conn, user, &user_id, error))
    goto out;
  stmt = sqlite_store_stmt (conn, "SELECT name, special_use FROM mailboxes WHERE user_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, user_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add (out, (const char *) sqlite3_column_text (stmt, 0),
                                  sqlite3_column_int (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      goto out;
    }
  stmt = sqlite_store_stmt (conn, "SELECT name FROM subscriptions WHERE user_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, user_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add_subscription (out, (const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);
  ok = rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

static gboolean
sqlite_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
               PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  gint64 user_id;
  gboolean exists = FALSE;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = user_ensure (conn, user, &user_id, error) &&
       mailbox_exists (conn, user_id, name, &exists, error);
  if (ok && exists)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists", name);
      ok = FALSE;
    }
  if (ok)
    ok = mailbox_create_path (conn, user, user_id, name, special_use, changes, error);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
               GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  SqliteMailbox mb;
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, 0, &mb, error);
  if (ok)
    ok = (rows = messages_collect (conn, &mb, NULL, 0, TRUE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    ok = body_release (conn, ((MessageRow *) rows->pdata[i])->body_id, error);
  if (ok)
    {
      static const char *const cleanup[] = {
        "DELETE FROM messages WHERE mailbox_id = ?1",
        "DELETE FROM expunged WHERE mailbox_id = ?1",
        "DELETE FROM keywords WHERE mailbox_id = ?1",
        "DELETE FROM snapshots WHERE mailbox_id = ?1",
        "DELETE FROM mailboxes WHERE id = ?1",
      };

      for (guint i = 0; ok && i < G_N_ELEMENTS (cleanup); i++)
        {
          sqlite3_stmt *stmt = sqlite_store_stmt (conn, cleanup[i], error);

          ok = stmt != NULL;
          if (ok)
            {
              sqlite3_bind_int64 (stmt, 1, mb.id);
              ok = sqlite_store_step_done (conn, stmt, error);
            }
        }
    }
  if (ok)
    posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_DELETED, user, name, NULL);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
rename_one (SqliteConn *conn, gint64 user_id, const char *from, const char *to, GError **error)
{
  static const char *const sql[] = {
    "UPDATE mailboxes SET name = ?3 WHERE user_id = ?1 AND name = ?2",
    "UPDATE subscriptions SET name = ?3 WHERE user_id = ?1 AND name = ?2",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, sql[i], error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_text (stmt, 2, from, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, to, -1, SQLITE_STATIC);
      if (!sqlite_store_step_done (conn, stmt, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
sqlite_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
               PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func (g_free);
  gboolean is_inbox = strcmp (old_name, "INBOX") == 0;
  SqliteMailbox mb;
  gboolean ok;
  int rc;

  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, old_name, 0, &mb, error);
  if (ok)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT name FROM mailboxes WHERE user_id = ?1 AND "
                                                    "(name = ?2 OR substr (name, 1, length (?2) + 1) = ?2 || '/') "
                                                    "ORDER BY name", error);
      gsize old_len = strlen (old_name);

      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, mb.user_id);
          sqlite3_bind_text (stmt, 2, old_name, -1, SQLITE_STATIC);
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            {
              const char *name = (const char *) sqlite3_column_text (stmt, 0);

              if (is_inbox && strcmp (name, "INBOX") != 0)
                continue;   /* INBOX's children stay */
              g_ptr_array_add (from, g_strdup (name));
              g_ptr_array_add (to, g_strconcat (new_name, name + old_len, NULL));
            }
          sqlite3_reset (stmt);
          if (rc != SQLITE_DONE)
            ok = sqlite_store_set_error (conn, rc, error);
        }
    }
  for (guint i = 0; ok && i < to->len; i++)
    {
      gboolean exists;

      ok = mailbox_exists (conn, mb.user_id, to->pdata[i], &exists, error);
      if (ok && exists)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists",
                       (const char *) to->pdata[i]);
          ok = FALSE;
        }
    }
  if (ok)
    {
      /* New parents of the new name, as CREATE would make them. */
      g_autofree char *parent = g_strdup (new_name);
      char *slash = strrchr (parent, '/');

      if (slash != NULL)
        {
          gboolean exists;

          *slash = '\0';
          ok = mailbox_exists (conn, mb.user_id, parent, &exists, error) &&
               (exists || mailbox_create_path (conn, user, mb.user_id, parent, 0, changes, error));
        }
    }
  for (guint i = 0; ok && i < from->len; i++)
    {
      ok = rename_one (conn, mb.user_id, from->pdata[i], to->pdata[i], error);
      if (ok)
        posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_RENAMED, user,
                                            to->pdata[i], from->pdata[i]);
    }
  if (ok && is_inbox)
    ok = mailbox_insert (conn, user, mb.user_id, "INBOX", 0, changes, error) &&
         subscription_set (conn, mb.user_id, "INBOX", TRUE, error);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                  PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  gint64 user_id;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = user_ensure (conn, user, &user_id, error) &&
       subscription_set (conn, user_id, name, subscribe, error);
  if (ok)
    posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_SUBSCRIPTION_CHANGED, user, name, NULL);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
               GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  SqliteMailbox mb;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  int rc;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) || !mailbox_lookup (conn, user, name, 0, &mb, error))
    goto out;
  stmt = sqlite_store_stmt (conn, "SELECT count(*), total (uid >= ?2), total ((flags & 1) = 0), "
                                  "total (size) FROM messages WHERE mailbox_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, mb.id);
  sqlite3_bind_int64 (stmt, 2, mb.first_recent_uid);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      out->messages = (guint32) sqlite3_column_int64 (stmt, 0);
      out->recent = (guint32) sqlite3_column_double (stmt, 1);
      out->unseen = (guint32) sqlite3_column_double (stmt, 2);
      out->size = (guint64) sqlite3_column_double (stmt, 3);
      out->uidnext = mb.uidnext;
      out->uidvalidity = mb.uidvalidity;
      out->highestmodseq = mb.highestmodseq;
      ok = TRUE;
    }
  else
    sqlite_store_set_error (conn, rc, error);
  sqlite3_reset (stmt);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

/* Claims the unclaimed \Recent messages of a mailbox for one session. */
static gboolean
claim_recent (SqliteStore *store, const char *user, const char *name, guint32 uidvalidity,
              PosthornStoreSync *out, GError **error)
{
  SqliteConn *conn;
  SqliteMailbox mb;
  gboolean ok;

  /* Nothing to claim is the common case: do not take the writer for it. */
  conn = sqlite_store_reader (store, error);
  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, uidvalidity, &mb, error);
  sqlite_store_reader_release (store, conn);
  if (!ok || mb.first_recent_uid >= mb.uidnext)
    return ok;

  /* Losing a claim to a power failure only shows messages as \Recent
   * once more: no need to wait for the disk. */
  conn = sqlite_store_writer_relaxed (store, error);
  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, uidvalidity, &mb, error);
  if (ok && mb.first_recent_uid < mb.uidnext)
    {
      posthorn_store_sync_set_recent (out, mb.first_recent_uid, mb.uidnext);
      mb.first_recent_uid = mb.uidnext;
      ok = mailbox_save (conn, &mb, error);
    }
  return sqlite_store_writer_done (store, ok, error);
}

/* ---- mailbox snapshots ----
 *
 * A mailbox's message list (UID, flags, MODSEQ, keywords) as of one
 * MODSEQ, packed in one blob: SELECT of a big mailbox reads it plus the
 * rows and tombstones with a greater MODSEQ, instead of every row. It is
 * only a cache: rewritten when the changes since pile up, ignored when it
 * does not match the mailbox (UIDVALIDITY, byte order, size).
 *
 * Layout (native byte order): magic, uidvalidity, n, n_pool (guint32
 * each), then uids[n], flags[n] (guint32), modseqs[n] (guint64),
 * kw_offsets[n] (guint32) and kw_pool[n_pool] (guint32). */
#define SNAPSHOT_MAGIC 0x31534850u   /* "PHS1" */

typedef struct {
  GArray *uids;       /* guint32 */
  GArray *flags;      /* guint32 */
  GArray *modseqs;    /* guint64 */
  GArray *kw_offsets; /* guint32, start of each message's keywords in kw_pool */
  GArray *kw_pool;    /* guint32 */
} MessageList;

static void
message_list_init (MessageList *l, guint reserve)
{
  l->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->flags = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->modseqs = g_array_sized_new (FALSE, FALSE, sizeof (guint64), reserve);
  l->kw_offsets = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->kw_pool = g_array_new (FALSE, FALSE, sizeof (guint32));
}

static void
message_list_clear (MessageList *l)
{
  g_clear_pointer (&l->uids, g_array_unref);
  g_clear_pointer (&l->flags, g_array_unref);
  g_clear_pointer (&l->modseqs, g_array_unref);
  g_clear_pointer (&l->kw_offsets, g_array_unref);
  g_clear_pointer (&l->kw_pool, g_array_unref);
}

static void
message_list_add (MessageList *l, guint32 uid, guint32 flags, guint64 modseq,
                  const guint32 *kw, guint n_kw)
{
  guint32 offset = l->kw_pool->len;

  g_array_append_val (l->uids, uid);
  g_array_append_val (l->flags, flags);
  g_array_append_val (l->modseqs, modseq);
  g_array_append_val (l->kw_offsets, offset);
  if (n_kw > 0)
    g_array_append_vals (l->kw_pool, kw, n_kw);
}

static const guint32 *
message_list_keywords (const MessageList *l, guint i, guint *n)
{
  guint32 start = g_array_index (l->kw_offsets, guint32, i);
  guint32 end = i + 1 < l->kw_offsets->len ? g_array_index (l->kw_offsets, guint32, i + 1)
                                           : l->kw_pool->len;

  *n = end - start;
  return &g_array_index (l->kw_pool, guint32, start);
}

/* Appends the rows of @stmt (uid, flags, modseq, keywords). */
static gboolean
message_list_read (SqliteConn *conn, sqlite3_stmt *stmt, MessageList *l, GError **error)
{
  g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      if (sqlite3_column_type (stmt, 3) == SQLITE_NULL)
        g_array_set_size (kw, 0);
      else
        keywords_from_column (stmt, 3, kw);
      message_list_add (l, (guint32) sqlite3_column_int64 (stmt, 0),
                        (guint32) sqlite3_column_int64 (stmt, 1),
                        (guint64) sqlite3_column_int64 (stmt, 2),
                        (const guint32 *) (gpointer) kw->data, kw->len);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  return TRUE;
}

static gboolean
snapshot_decode (const guint8 *data, gsize size, guint32 uidvalidity, MessageList *l)
{
  guint32 header[4];
  gsize n, n_pool, need;
  const guint8 *p;

  if (size < sizeof header)
    return FALSE;
  memcpy (header, data, sizeof header);
  n = header[2];
  n_pool = header[3];
  need = sizeof header + n * (4 + 4 + 8 + 4) + n_pool * 4;
  if (header[0] != SNAPSHOT_MAGIC || header[1] != uidvalidity || size != need)
    return FALSE;
  message_list_init (l, (guint) n);
  p = data + sizeof header;
  g_array_append_vals (l->uids, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->flags, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->modseqs, p, (guint) n);
  p += n * 8;
  g_array_append_vals (l->kw_offsets, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->kw_pool, p, (guint) n_pool);
  for (gsize i = 0; i < n; i++)
    if (g_array_index (l->kw_offsets, guint32, i) > n_pool ||
        (i > 0 && g_array_index (l->uids, guint32, i) <= g_array_index (l->uids, guint32, i - 1)))
      {
        message_list_clear (l);
        return FALSE;
      }
  return TRUE;
}

static GBytes *
snapshot_encode (const MessageList *l, guint32 uidvalidity)
{
  guint32 header[4] = { SNAPSHOT_MAGIC, uidvalidity, l->uids->len, l->kw_pool->len };
  GByteArray *out = g_byte_array_sized_new (sizeof header + l->uids->len * 20 + l->kw_pool->len * 4);

  g_byte_array_append (out, (const guint8 *) header, sizeof header);
  g_byte_array_append (out, (const guint8 *) l->uids->data, l->uids->len * 4);
  g_byte_array_append (out, (const guint8 *) l->flags->data, l->flags->len * 4);
  g_byte_array_append (out, (const guint8 *) l->modseqs->data, l->modseqs->len * 8);
  g_byte_array_append (out, (const guint8 *) l->kw_offsets->data, l->kw_offsets->len * 4);
  g_byte_array_append (out, (const guint8 *) l->kw_pool->data, l->kw_pool->len * 4);
  return g_byte_array_free_to_bytes (out);
}

/* The whole message list of @mb, from its snapshot plus the changes since
 * when there is one, else row by row. *@delta is how many changes the
 * snapshot was behind (or the message count without one). */
static gboolean
message_list_load (SqliteConn *conn, const SqliteMailbox *mb, MessageList *out, guint *delta,
                   GError **error)
{
  MessageList snap = { 0 }, changed = { 0 };
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint64 snap_modseq = 0;
  sqlite3_stmt *stmt;
  gboolean have_snap = FALSE;
  guint i = 0, j = 0, g = 0;
  int rc;

  stmt = sqlite_store_stmt (conn, "SELECT modseq, data FROM snapshots WHERE mailbox_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      snap_modseq = (guint64) sqlite3_column_int64 (stmt, 0);
      have_snap = snap_modseq <= mb->highestmodseq &&
                  snapshot_decode (sqlite3_column_blob (stmt, 1),
                                   (gsize) sqlite3_column_bytes (stmt, 1), mb->uidvalidity, &snap);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);

  if (!have_snap)
    {
      message_list_init (out, 0);
      stmt = sqlite_store_stmt (conn, "SELECT uid, flags, modseq, keywords FROM messages "
                                      "WHERE mailbox_id = ?1 ORDER BY uid", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, mb->id);
      if (!message_list_read (conn, stmt, out, error))
        return FALSE;
      *delta = out->uids->len;
      return TRUE;
    }

  /* Rows changed or added since, and tombstones since. */
  message_list_init (&changed, 0);
  stmt = sqlite_store_stmt (conn, "SELECT uid, flags, modseq, keywords FROM messages "
                                  "WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid", error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) snap_modseq);
  if (!message_list_read (conn, stmt, &changed, error))
    goto fail;
  stmt = sqlite_store_stmt (conn, "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 "
                                  "ORDER BY uid", error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) snap_modseq);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

      g_array_append_val (gone, uid);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      goto fail;
    }

  *delta = changed.uids->len + gone->len;
  if (*delta == 0)
    {
      *out = snap;
      message_list_clear (&changed);
      return TRUE;
    }

  /* Merge: both lists ascend by UID; a changed row replaces the
   * snapshot's, a tombstone removes it. */
  message_list_init (out, snap.uids->len + changed.uids->len);
  while (i < snap.uids->len || j < changed.uids->len)
    {
      guint32 su = i < snap.uids->len ? g_array_index (snap.uids, guint32, i) : G_MAXUINT32;
      guint32 cu = j < changed.uids->len ? g_array_index (changed.uids, guint32, j) : G_MAXUINT32;
      const MessageList *from;
      guint k, n_kw;
      const guint32 *kw;

      if (cu <= su)
        {
          from = &changed;
          k = j++;
          if (cu == su)
            i++;
        }
      else
        {
          from = &snap;
          k = i++;
          while (g < gone->len && g_array_index (gone, guint32, g) < su)
            g++;
          if (g < gone->len && g_array_index (gone, guint32, g) == su)
            continue;
        }
      kw = message_list_keywords (from, k, &n_kw);
      message_list_add (out, g_array_index (from->uids, guint32, k),
                        g_array_index (from->flags, guint32, k),
                        g_array_index (from->modseqs, guint64, k), kw, n_kw);
    }
  message_list_clear (&snap);
  message_list_clear (&changed);
  return TRUE;

fail:
  message_list_clear (&snap);
  message_list_clear (&changed);
  return FALSE;
}

/* Stores @list as @mb's snapshot as of @modseq. A cache: written without
 * waiting for the disk (synchronous=NORMAL for this transaction). */
static void
snapshot_store (SqliteStore *store, const SqliteMailbox *mb, guint64 modseq, const MessageList *list)
{
  g_autoptr(GBytes) blob = snapshot_encode (list, mb->uidvalidity);
  g_autoptr(GError) error = NULL;
  SqliteConn *conn = sqlite_store_writer_relaxed (store, &error);
  sqlite3_stmt *stmt;
  gboolean ok = conn != NULL;

  if (ok)
    {
      /* Only if the mailbox is still the one the list was read from. */
      stmt = sqlite_store_stmt (conn, "INSERT OR REPLACE INTO snapshots (mailbox_id, modseq, data) "
                                      "SELECT id, ?2, ?3 FROM mailboxes WHERE id = ?1 AND uidvalidity = ?4",
                                &error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, mb->id);
          sqlite3_bind_int64 (stmt, 2, (gint64) modseq);
          sqlite3_bind_blob (stmt, 3, g_bytes_get_data (blob, NULL), (int) g_bytes_get_size (blob),
                             SQLITE_STATIC);
          sqlite3_bind_int64 (stmt, 4, mb->uidvalidity);
          ok = sqlite_store_step_done (conn, stmt, &error);
        }
      ok = sqlite_store_writer_done (store, ok, &error);
    }
  if (!ok)
    g_debug ("snapshot of %s not stored: %s", mb->name, error->message);
}

static gboolean
sqlite_sync (gpointer data, const char *user, const char *name, guint32 uidvalidity,
             guint64 since_modseq, PosthornStoreSyncFlags flags, PosthornStoreSync *out,
             GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn;
  SqliteMailbox mb;
  MessageList list = { 0 };
  g_autoptr(GPtrArray) keywords = NULL;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  gboolean save_snapshot = FALSE;
  int rc;

  if ((flags & POSTHORN_STORE_SYNC_CLAIM_RECENT) &&
      !claim_recent (store, user, name, uidvalidity, out, error))
    return FALSE;

  conn = sqlite_store_reader (store, error);
  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) ||
      !mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
    goto out;
  posthorn_store_sync_set_state (out, mb.uidvalidity, mb.uidnext, mb.highestmodseq);

  if (!(flags & POSTHORN_STORE_SYNC_EXPUNGED_ONLY))
    {
      keywords = keywords_list (conn, mb.id, error);
      if (keywords == NULL)
        goto out;
      posthorn_store_sync_set_keywords (out, (const char *const *) keywords->pdata);

      if (since_modseq == 0)
        {
          guint delta = 0;

          if (!message_list_load (conn, &mb, &list, &delta, error))
            goto out;
          save_snapshot = list.uids->len >= store->snapshot_min_messages &&
                          delta > store->snapshot_max_delta;
        }
      else
        {
          message_list_init (&list, 0);
          stmt = sqlite_store_stmt (conn, "SELECT uid, flags, modseq, keywords FROM messages "
                                          "WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid", error);
          if (stmt == NULL)
            goto out;
          sqlite3_bind_int64 (stmt, 1, mb.id);
          sqlite3_bind_int64 (stmt, 2, (gint64) since_modseq);
          if (!message_list_read (conn, stmt, &list, error))
            goto out;
        }
      posthorn_store_sync_reserve (out, list.uids->len);
      for (guint i = 0; i < list.uids->len; i++)
        {
          guint n_kw;
          const guint32 *kw = message_list_keywords (&list, i, &n_kw);

          posthorn_store_sync_add_record (out, g_array_index (list.uids, guint32, i),
                                          g_array_index (list.flags, guint32, i),
                                          g_array_index (list.modseqs, guint64, i), kw, n_kw);
        }
    }

  if (since_modseq > 0)
    {
      stmt = sqlite_store_stmt (conn, "SELECT uid, modseq FROM expunged WHERE mailbox_id = ?1 "
                                      "AND modseq > ?2 ORDER BY uid", error);
      if (stmt == NULL)
        goto out;
      sqlite3_bind_int64 (stmt, 1, mb.id);
      sqlite3_bind_int64 (stmt, 2, (gint64) since_modseq);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        posthorn_store_sync_add_expunged (out, (guint32) sqlite3_column_int64 (stmt, 0),
                                          (guint64) sqlite3_column_int64 (stmt, 1));
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        {
          sqlite_store_set_error (conn, rc, error);
          goto out;
        }
    }
  ok = TRUE;
out:
  sqlite_store_reader_release (store, conn);
  if (ok && save_snapshot)
    snapshot_store (store, &mb, mb.highestmodseq, &list);
  message_list_clear (&list);
  return ok;
}

/* One append inside the writer's open transaction. */
static gboolean
append_in_transaction (SqliteConn *conn, const PosthornStoreNewMessage *msg,
                       const PosthornStoreTarget *targets, guint n_targets,
                       PosthornStoreChanges *changes, GError **error)
{
  g_autofree SqliteMailbox *mbs = g_new0 (SqliteMailbox, n_targets);
  gint64 body_id = 0;
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < n_targets; i++)
    {
      gint64 user_id;
      gboolean exists;

      /* Delivery to someone who never logged in: make INBOX. */
      if (strcmp (targets[i].mailbox, "INBOX") == 0)
        ok = user_ensure (conn, targets[i].user, &user_id, error) &&
             mailbox_exists (conn, user_id, "INBOX", &exists, error) &&
             (exists || mailbox_insert (conn, targets[i].user, user_id, "INBOX", 0, changes, error));
      if (ok)
        ok = mailbox_lookup (conn, targets[i].user, targets[i].mailbox, 0, &mbs[i], error);
    }
  if (ok)
    ok = body_insert (conn, msg, n_targets, &body_id, error);
  for (guint i = 0; ok && i < n_targets; i++)
    {
      g_autoptr(GArray) kw = keywords_resolve (conn, mbs[i].id, msg->keywords, error);
      guint32 uid;
      guint64 modseq;

      ok = kw != NULL &&
           message_insert (conn, &mbs[i], body_id, msg->flags, kw, msg->internal_date, msg->size,
                           &uid, &modseq, error) &&
           mailbox_save (conn, &mbs[i], error);
      /* Two targets may be the same mailbox: later lookups see the update. */
      for (guint j = i + 1; ok && j < n_targets; j++)
        if (mbs[j].id == mbs[i].id)
          {
            mbs[j].uidnext = mbs[i].uidnext;
            mbs[j].highestmodseq = mbs[i].highestmodseq;
          }
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, targets[i].user,
                                            targets[i].mailbox, mbs[i].uidvalidity, uid, modseq,
                                            msg->flags, 0);
    }
  return ok;
}

/* Group commit. Appends queue up; whoever holds the write lock next runs
 * every queued append in one transaction (each in its own savepoint, so
 * one failing append does not take the others with it) and pays for one
 * fsync for all of them. Nobody returns before the commit that holds its
 * message is durable. */
typedef struct {
  const PosthornStoreNewMessage *msg;
  const PosthornStoreTarget *targets;
  guint n_targets;
  PosthornStoreChanges *changes;
  GError *error;
  gboolean ok;
  gboolean done;        /* under write_lock */
} AppendRequest;

static void
append_run_batch (SqliteStore *store, GPtrArray *batch)
{
  SqliteConn *conn = store->writer;
  GError *error = NULL;
  gboolean committed;

  if (!sqlite_store_exec (conn, "BEGIN IMMEDIATE", &error))
    {
      for (guint i = 0; i < batch->len; i++)
        {
          AppendRequest *r = batch->pdata[i];

          r->ok = FALSE;
          r->error = g_error_copy (error);
        }
      g_error_free (error);
      return;
    }
  for (guint i = 0; i < batch->len; i++)
    {
      AppendRequest *r = batch->pdata[i];

      r->ok = sqlite_store_exec (conn, "SAVEPOINT append", &r->error) &&
              append_in_transaction (conn, r->msg, r->targets, r->n_targets, r->changes, &r->error);
      if (!r->ok)
        sqlite3_exec (conn->db, "ROLLBACK TO append", NULL, NULL, NULL);
      sqlite3_exec (conn->db, "RELEASE append", NULL, NULL, NULL);
    }
  committed = sqlite_store_exec (conn, "COMMIT", &error);
  if (!committed)
    {
      sqlite3_exec (conn->db, "ROLLBACK", NULL, NULL, NULL);
      for (guint i = 0; i < batch->len; i++)
        {
          AppendRequest *r = batch->pdata[i];

          if (r->ok)
            {
              r->ok = FALSE;
              r->error = g_error_copy (error);
            }
        }
      g_error_free (error);
    }
}

static gboolean
sqlite_append (gpointer data, const PosthornStoreNewMessage *msg,
               const PosthornStoreTarget *targets, guint n_targets,
               PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  AppendRequest req = { msg, targets, n_targets, changes, NULL, FALSE, FALSE };

  g_mutex_lock (&store->queue_lock);
  g_ptr_array_add (store->append_queue, &req);
  g_mutex_unlock (&store->queue_lock);

  g_mutex_lock (&store->write_lock);
  if (!req.done)
    {
      g_autoptr(GPtrArray) batch = NULL;

      g_mutex_lock (&store->queue_lock);
      batch = g_steal_pointer (&store->append_queue);
      store->append_queue = g_ptr_array_new ();
      g_mutex_unlock (&store->queue_lock);
      append_run_batch (store, batch);
      for (guint i = 0; i < batch->len; i++)
        ((AppendRequest *) batch->pdata[i])->done = TRUE;
    }
  g_mutex_unlock (&store->write_lock);

  if (!req.ok)
    g_propagate_error (error, req.error);
  return req.ok;
}

static gboolean
sqlite_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                    const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                    const char *const *keywords, guint64 unchangedsince,
                    PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) kw = NULL;
  g_autoptr(GArray) next_kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  SqliteMailbox mb;
  sqlite3_stmt *stmt;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = messages_collect (conn, &mb, uids, n_uids, FALSE, error)) != NULL &&
       (kw = keywords_resolve (conn, mb.id, keywords, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      guint32 next = row->flags;
      guint64 modseq;

      g_array_set_size (next_kw, 0);
      switch (mode)
        {
        case POSTHORN_FLAGS_REPLACE:
          next = flags;
          g_array_append_vals (next_kw, kw->data, kw->len);
          break;
        case POSTHORN_FLAGS_ADD:
          next |= flags;
          g_array_append_vals (next_kw, row->keywords->data, row->keywords->len);
          g_array_append_vals (next_kw, kw->data, kw->len);
          keyword_set_normalize (next_kw);
          break;
        case POSTHORN_FLAGS_REMOVE:
          next &= ~flags;
          for (guint k = 0; k < row->keywords->len; k++)
            if (!keyword_set_contains (kw, g_array_index (row->keywords, guint32, k)))
              g_array_append_val (next_kw, g_array_index (row->keywords, guint32, k));
          break;
        }
      if (unchangedsince > 0 && row->modseq > unchangedsince)
        {
          posthorn_store_changes_add_modified (changes, row->uid);
          continue;
        }
      if (next == row->flags && next_kw->len == row->keywords->len &&
          memcmp (next_kw->data, row->keywords->data, next_kw->len * sizeof (guint32)) == 0)
        continue;
      modseq = ++mb.highestmodseq;
      stmt = sqlite_store_stmt (conn, "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "
                                      "WHERE mailbox_id = ?1 AND uid = ?2", error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, mb.id);
          sqlite3_bind_int64 (stmt, 2, row->uid);
          sqlite3_bind_int64 (stmt, 3, next);
          keywords_bind (stmt, 4, next_kw);
          sqlite3_bind_int64 (stmt, 5, (gint64) modseq);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_FLAGS_CHANGED, user, name,
                                            mb.uidvalidity, row->uid, modseq, next, 0);
    }
  if (ok)
    ok = mailbox_save (conn, &mb, error);
  return sqlite_store_writer_done (store, ok, error);
}

/* Maps keyword indexes of one mailbox to another's (by name). */
static GArray *
keywords_translate (SqliteConn *conn, GPtrArray *src_names, gint64 dest_id, GArray *src,
                    GError **error)
{
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; i < src->len; i++)
    {
      guint32 idx = g_array_index (src, guint32, i);
      gint64 dest_idx;
      guint32 v;

      if (idx + 1 >= src_names->len)
        continue;
      if (!keyword_index (conn, dest_id, src_names->pdata[idx], TRUE, &dest_idx, error))
        return NULL;
      v = (guint32) dest_idx;
      g_array_append_val (out, v);
    }
  keyword_set_normalize (out);
  return g_steal_pointer (&out);
}

static gboolean
sqlite_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
             const guint32 *uids, guint n_uids, const char *dest, gboolean move,
             PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) src_names = NULL;
  SqliteMailbox src, dst;
  gboolean same;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, uidvalidity, &src, error) &&
       mailbox_lookup (conn, user, dest, 0, &dst, error) &&
       (rows = messages_collect (conn, &src, uids, n_uids, FALSE, error)) != NULL &&
       (src_names = keywords_list (conn, src.id, error)) != NULL;
  same = ok && src.id == dst.id;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      g_autoptr(GArray) kw = keywords_translate (conn, src_names, dst.id, row->keywords, error);
      SqliteMailbox *target = same ? &src : &dst;
      guint32 uid;
      guint64 modseq;

      ok = kw != NULL &&
           (move || body_add_refs (conn, row->body_id, 1, error)) &&
           message_insert (conn, target, row->body_id, row->flags, kw, row->internal_date,
                           row->size, &uid, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, user, dest,
                                            target->uidvalidity, uid, modseq, row->flags,
                                            row->uid);
    }
  for (guint i = 0; ok && move && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      guint64 modseq;

      ok = message_remove (conn, &src, row, &modseq, FALSE, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            src.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok)
    ok = mailbox_save (conn, &src, error) && (same || mailbox_save (conn, &dst, error));
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  SqliteMailbox mb;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = messages_collect (conn, &mb, uids, n_uids, uids == NULL, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      guint64 modseq;

      if (!(row->flags & POSTHORN_MESSAGE_DELETED))
        continue;
      ok = message_remove (conn, &mb, row, &modseq, TRUE, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            mb.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok)
    ok = mailbox_save (conn, &mb, error);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
sqlite_fetch (gpointer data, const char *user, const char *name, guint32 uidvalidity,
              const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
              GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  SqliteMailbox mb;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_store_exec (conn, "BEGIN", error) &&
       mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = messages_collect (conn, &mb, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT info FROM bodies WHERE id = ?1", error);
      g_autoptr(GBytes) info = NULL;
      int rc;

      ok = stmt != NULL;
      if (!ok)
        break;
      sqlite3_bind_int64 (stmt, 1, row->body_id);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL)
        info = g_bytes_new (sqlite3_column_blob (stmt, 0), (gsize) sqlite3_column_bytes (stmt, 0));
      sqlite3_reset (stmt);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ok = sqlite_store_set_error (conn, rc, error);
      else
        posthorn_store_fetch_builder_add (out, row->uid, row->internal_date, row->size, info);
    }
  sqlite_store_reader_release (store, conn);
  return ok;
}

static gssize
sqlite_read (gpointer data, const char *user, const char *name, guint32 uidvalidity, guint32 uid,
             guint64 offset, void *buffer, gsize length, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  SqliteMailbox mb;
  sqlite3_stmt *stmt;
  gint64 body_id = 0;
  guint64 size = 0;
  gssize done = -1;
  int rc;

  if (conn == NULL)
    return -1;
  if (!sqlite_store_exec (conn, "BEGIN", error) ||
      !mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
    goto out;
  stmt = sqlite_store_stmt (conn, "SELECT body_id, size FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                            error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, mb.id);
  sqlite3_bind_int64 (stmt, 2, uid);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      body_id = sqlite3_column_int64 (stmt, 0);
      size = (guint64) sqlite3_column_int64 (stmt, 1);
    }
  sqlite3_reset (stmt);
  if (rc == SQLITE_DONE)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no message UID %u in %s",
                   uid, name);
      goto out;
    }
  if (rc != SQLITE_ROW)
    {
      sqlite_store_set_error (conn, rc, error);
      goto out;
    }
  done = 0;
  if (offset >= size)
    goto out;
  length = (gsize) MIN ((guint64) length, size - offset);

  stmt = sqlite_store_stmt (conn, "SELECT id, data FROM chunks WHERE id >= ?1 AND id < ?2 ORDER BY id",
                            error);
  if (stmt == NULL)
    {
      done = -1;
      goto out;
    }
  sqlite3_bind_int64 (stmt, 1, (body_id << SQLITE_STORE_CHUNK_BITS) |
                                 (gint64) (offset / SQLITE_STORE_CHUNK_SIZE));
  sqlite3_bind_int64 (stmt, 2, (body_id << SQLITE_STORE_CHUNK_BITS) |
                                 (gint64) ((offset + length - 1) / SQLITE_STORE_CHUNK_SIZE + 1));
  while ((gsize) done < length && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint64 chunk = (guint64) (sqlite3_column_int64 (stmt, 0) & ((1 << SQLITE_STORE_CHUNK_BITS) - 1));
      guint64 chunk_start = chunk * SQLITE_STORE_CHUNK_SIZE;
      const guint8 *bytes = sqlite3_column_blob (stmt, 1);
      guint64 chunk_len = (guint64) sqlite3_column_bytes (stmt, 1);
      guint64 pos = offset + (guint64) done;
      gsize n;

      if (pos < chunk_start || pos >= chunk_start + chunk_len)
        break;
      n = (gsize) MIN (chunk_start + chunk_len - pos, (guint64) (length - (gsize) done));
      memcpy ((guint8 *) buffer + done, bytes + (pos - chunk_start), n);
      done += (gssize) n;
    }
  sqlite3_reset (stmt);
  if ((gsize) done < length)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "message UID %u of %s is damaged (chunk missing at %" G_GUINT64_FORMAT ")",
                   uid, name, offset + (guint64) done);
      g_warning ("%s", (*error)->message);
      done = -1;
    }
out:
  sqlite_store_reader_release (store, conn);
  return done;
}

/* An FTS5 phrase: the text in double quotes, inner quotes doubled. */
static char *
fts_phrase (const char *needle)
{
  GString *s = g_string_new ("\"");

  for (const char *p = needle; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
  return g_string_free (s, FALSE);
}

static char *
like_pattern (const char *needle)
{
  GString *s = g_string_new ("%");

  for (const char *p = needle; *p != '\0'; p++)
    {
      if (*p == '%' || *p == '_' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '%');
  return g_string_free (s, FALSE);
}

static gboolean
sqlite_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                    PosthornSearchField field, const char *needle, GArray *out_uids,
                    GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  g_autofree char *pattern = NULL;
  SqliteMailbox mb;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = FALSE;
  gboolean body = field == POSTHORN_SEARCH_BODY;
  int rc;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) ||
      !mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
    goto out;

  /* The trigram index answers needles of three characters or more; shorter
   * ones are a scan of the index's text. */
  if (g_utf8_strlen (needle, -1) >= 3)
    {
      g_autofree char *phrase = fts_phrase (needle);

      pattern = g_strconcat (body ? "body_text : " : "{header_text body_text} : ", phrase, NULL);
      stmt = sqlite_store_stmt (conn, "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
                                      "(SELECT rowid FROM search WHERE search MATCH ?2) ORDER BY uid",
                                error);
    }
  else if (*needle == '\0')
    stmt = sqlite_store_stmt (conn, "SELECT uid FROM messages WHERE mailbox_id = ?1 AND ?2 IS NULL "
                                    "ORDER BY uid", error);
  else
    {
      pattern = like_pattern (needle);
      stmt = sqlite_store_stmt (conn, body
        ? "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
          "(SELECT rowid FROM search WHERE body_text LIKE ?2 ESCAPE '\\') ORDER BY uid"
        : "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
          "(SELECT rowid FROM search WHERE header_text LIKE ?2 ESCAPE '\\' "
          "OR body_text LIKE ?2 ESCAPE '\\') ORDER BY uid", error);
    }
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, mb.id);
  if (pattern != NULL)
    sqlite3_bind_text (stmt, 2, pattern, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

      g_array_append_val (out_uids, uid);
    }
  sqlite3_reset (stmt);
  ok = rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

const PosthornStoreVTable sqlite_store_vtable = {
  .struct_size = sizeof (PosthornStoreVTable),
  .open_user = sqlite_open_user,
  .list = sqlite_list,
  .create = sqlite_create,
  .delete_mailbox = sqlite_delete,
  .rename = sqlite_rename,
  .subscribe = sqlite_subscribe,
  .status = sqlite_status,
  .sync = sqlite_sync,
  .append = sqlite_append,
  .store_flags = sqlite_store_flags,
  .copy = sqlite_copy,
  .expunge = sqlite_expunge,
  .fetch = sqlite_fetch,
  .read = sqlite_read,
  .search_text = sqlite_search_text,
};
