/* storage-sqlite: row-level helpers shared by the store operations: users,
 * mailboxes, subscriptions, keywords, message rows (by UID set) and
 * reference-counted bodies.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

/* ---- small helpers ---- */

static gboolean
not_found (GError **error, const char *what, const char *name)
{
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no %s %s", what, name);
  return FALSE;
}

gboolean
sqlite_user_lookup (SqliteConn *conn, const char *user, gint64 *user_id, GError **error)
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
gboolean
sqlite_user_ensure (SqliteConn *conn, const char *user, gint64 *user_id, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "INSERT OR IGNORE INTO users (name) VALUES (?1)",
                                          error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, user, -1, SQLITE_STATIC);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  return sqlite_user_lookup (conn, user, user_id, error);
}

/* Finds mailbox @name of @user; @uidvalidity 0 does not check it. */
gboolean
sqlite_mailbox_lookup (SqliteConn *conn, const char *user, const char *name, guint32 uidvalidity,
                       SqliteMailbox *mb, GError **error)
{
  sqlite3_stmt *stmt;
  int rc;

  memset (mb, 0, sizeof (*mb));
  if (!sqlite_user_lookup (conn, user, &mb->user_id, error))
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

gboolean
sqlite_mailbox_save (SqliteConn *conn, const SqliteMailbox *mb, GError **error)
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

gboolean
sqlite_mailbox_exists (SqliteConn *conn, gint64 user_id, const char *name, gboolean *exists,
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

gboolean
sqlite_mailbox_insert (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
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
gboolean
sqlite_mailbox_create_path (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
                            PosthornSpecialUse special_use, PosthornStoreChanges *changes,
                            GError **error)
{
  g_autofree char *path = g_strdup (name);
  gboolean exists;

  for (char *p = strchr (path, '/'); p != NULL; p = strchr (p + 1, '/'))
    {
      *p = '\0';
      if (!sqlite_mailbox_exists (conn, user_id, path, &exists, error))
        return FALSE;
      if (!exists && !sqlite_mailbox_insert (conn, user, user_id, path, 0, changes, error))
        return FALSE;
      *p = '/';
    }
  return sqlite_mailbox_insert (conn, user, user_id, name, special_use, changes, error);
}

gboolean
sqlite_subscription_set (SqliteConn *conn, gint64 user_id, const char *name, gboolean subscribe,
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

/* The index of keyword @name in mailbox @mailbox_id, adding it if
 * @create (writer only). -1 if absent and not created. */
gboolean
sqlite_keyword_index (SqliteConn *conn, gint64 mailbox_id, const char *name, gboolean create,
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

GArray *
sqlite_keywords_resolve (SqliteConn *conn, gint64 mailbox_id, const char *const *names,
                         GError **error)
{
  g_autoptr(GArray) set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      gint64 idx;
      guint32 v;

      if (!sqlite_keyword_index (conn, mailbox_id, names[i], TRUE, &idx, error))
        return NULL;
      v = (guint32) idx;
      g_array_append_val (set, v);
    }
  storage_keyword_set_normalize (set);
  return g_steal_pointer (&set);
}

GPtrArray *
sqlite_keywords_list (SqliteConn *conn, gint64 mailbox_id, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT idx, name FROM keywords WHERE mailbox_id = ?1 ORDER BY idx",
                                          error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, mailbox_id);
  rc = storage_keyword_names_read (stmt, names);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      return NULL;
    }
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

static void
message_row_free (gpointer p)
{
  SqliteMessageRow *row = p;

  g_array_unref (row->keywords);
  g_free (row);
}

static gboolean
collect_row (SqliteConn *conn, sqlite3_stmt *stmt, gpointer data, GError **error)
{
  GPtrArray *rows = data;
  SqliteMessageRow *row = g_new0 (SqliteMessageRow, 1);

  row->uid = (guint32) sqlite3_column_int64 (stmt, 0);
  row->body_id = sqlite3_column_int64 (stmt, 1);
  row->flags = (guint32) sqlite3_column_int64 (stmt, 2);
  row->keywords = g_array_new (FALSE, FALSE, sizeof (guint32));
  storage_keywords_from_column (stmt, 3, row->keywords);
  row->modseq = (guint64) sqlite3_column_int64 (stmt, 4);
  row->internal_date = sqlite3_column_int64 (stmt, 5);
  row->size = (guint64) sqlite3_column_int64 (stmt, 6);
  g_ptr_array_add (rows, row);
  return TRUE;
}

/* The rows of @uids (or all rows, or those flagged \Deleted), in order. */
GPtrArray *
sqlite_messages_collect (SqliteConn *conn, const SqliteMailbox *mb, const guint32 *uids, guint n_uids,
                         gboolean all, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (message_row_free);

  if (!messages_visit (conn, mb, uids, n_uids, all, collect_row, rows, error))
    return NULL;
  return g_steal_pointer (&rows);
}

/* ---- bodies ---- */

gboolean
sqlite_body_release (SqliteConn *conn, gint64 body_id, GError **error)
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
  return sqlite_search_forget (conn, body_id, error);
}

gboolean
sqlite_body_add_refs (SqliteConn *conn, gint64 body_id, int delta, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "UPDATE bodies SET refs = refs + ?2 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  sqlite3_bind_int (stmt, 2, delta);
  return sqlite_store_step_done (conn, stmt, error);
}

/* Writes the message's bytes chunk by chunk (its search text: sqlite-index.c). */
gboolean
sqlite_body_insert (SqliteConn *conn, const PosthornStoreNewMessage *msg, guint refs, gint64 *body_id,
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
  return TRUE;
}

gboolean
sqlite_message_insert (SqliteConn *conn, SqliteMailbox *mb, gint64 body_id, guint32 flags, GArray *kw,
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
  storage_keywords_bind (stmt, 5, kw);
  sqlite3_bind_int64 (stmt, 6, (gint64) *modseq);
  sqlite3_bind_int64 (stmt, 7, internal_date);
  sqlite3_bind_int64 (stmt, 8, (gint64) size);
  return sqlite_store_step_done (conn, stmt, error);
}

gboolean
sqlite_message_remove (SqliteConn *conn, SqliteMailbox *mb, const SqliteMessageRow *row, guint64 *modseq,
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
  return !release_body || sqlite_body_release (conn, row->body_id, error);
}

