/* storage-sqlite: SELECT/sync of one mailbox: \Recent claims, the message
 * list and its snapshot cache.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

/* Whether @mb holds a message with a UID of @first or more. */
static gboolean
messages_from (SqliteConn *conn, const SqliteMailbox *mb, guint32 first, gboolean *any,
               GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT 1 FROM messages "
                                                "WHERE mailbox_id = ?1 AND uid >= ?2 LIMIT 1", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  sqlite3_bind_int64 (stmt, 2, first);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  *any = rc == SQLITE_ROW;
  return rc == SQLITE_ROW || rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
}

/* Claims the unclaimed \Recent messages of a mailbox for one session. */
static gboolean
claim_recent (SqliteStore *store, const char *user, const char *name, guint32 uidvalidity,
              PosthornStoreSync *out, GError **error)
{
  SqliteConn *conn;
  SqliteMailbox mb;
  gboolean any = FALSE;
  gboolean ok;

  /* Nothing to claim is the common case: do not take the writer for it.
   * Nor when every message of the unclaimed range is gone (a session's
   * own APPEND, expunged): moving first_recent_uid past no message
   * changes nothing a later claim sees, since new UIDs start at uidnext. */
  conn = sqlite_store_reader (store, error);
  if (conn == NULL)
    return FALSE;
  ok = sqlite_store_exec (conn, "BEGIN", error) &&
       sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (mb.first_recent_uid >= mb.uidnext ||
        messages_from (conn, &mb, mb.first_recent_uid, &any, error));
  sqlite_store_reader_release (store, conn);
  if (!ok || mb.first_recent_uid >= mb.uidnext || !any)
    return ok;

  /* Losing a claim to a power failure only shows messages as \Recent
   * once more: no need to wait for the disk. */
  conn = sqlite_store_writer_relaxed (store, error);
  if (conn == NULL)
    return FALSE;
  ok = sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error);
  if (ok && mb.first_recent_uid < mb.uidnext)
    {
      posthorn_store_sync_set_recent (out, mb.first_recent_uid, mb.uidnext);
      mb.first_recent_uid = mb.uidnext;
      ok = sqlite_mailbox_save (conn, &mb, error);
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
        sqlite_keywords_from_column (stmt, 3, kw);
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

gboolean
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
      !sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
    goto out;
  posthorn_store_sync_set_state (out, mb.uidvalidity, mb.uidnext, mb.highestmodseq);

  if (!(flags & POSTHORN_STORE_SYNC_EXPUNGED_ONLY))
    {
      keywords = sqlite_keywords_list (conn, mb.id, error);
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

