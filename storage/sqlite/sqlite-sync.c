/* storage-sqlite: SELECT/sync of one mailbox: \Recent claims, the message
 * list and its snapshot cache.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"
#include "storage-message-list.h"

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
 * The blob's layout is storage_snapshot_encode()'s, tagged "PHS1". */
#define SNAPSHOT_MAGIC 0x31534850u

/* Appends the rows of @stmt (uid, flags, modseq, keywords). */
static gboolean
message_list_read (SqliteConn *conn, sqlite3_stmt *stmt, StorageMessageList *l, GError **error)
{
  int rc = storage_message_list_read (stmt, l);

  return rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
}

/* The whole message list of @mb, from its snapshot plus the changes since
 * when there is one, else row by row. *@delta is how many changes the
 * snapshot was behind (or the message count without one). */
static gboolean
message_list_load (SqliteConn *conn, const SqliteMailbox *mb, StorageMessageList *out, guint *delta,
                   GError **error)
{
  StorageMessageList snap = { 0 }, changed = { 0 };
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint64 snap_modseq = 0;
  sqlite3_stmt *stmt;
  gboolean have_snap = FALSE;
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
                  storage_snapshot_decode (sqlite3_column_blob (stmt, 1),
                                           (gsize) sqlite3_column_bytes (stmt, 1), SNAPSHOT_MAGIC,
                                           mb->uidvalidity, &snap);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);

  if (!have_snap)
    {
      storage_message_list_init (out, 0);
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
  storage_message_list_init (&changed, 0);
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
  rc = storage_uids_read (stmt, gone);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      goto fail;
    }

  *delta = storage_message_list_merge (&snap, &changed, gone, out);
  return TRUE;

fail:
  storage_message_list_clear (&snap);
  storage_message_list_clear (&changed);
  return FALSE;
}

/* Stores @list as @mb's snapshot as of @modseq. A cache: written without
 * waiting for the disk (synchronous=NORMAL for this transaction). */
static void
snapshot_store (SqliteStore *store, const SqliteMailbox *mb, guint64 modseq, const StorageMessageList *list)
{
  g_autoptr(GBytes) blob = storage_snapshot_encode (list, SNAPSHOT_MAGIC, mb->uidvalidity);
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
  StorageMessageList list = { 0 };
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
          storage_message_list_init (&list, 0);
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
          const guint32 *kw = storage_message_list_keywords (&list, i, &n_kw);

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
  storage_message_list_clear (&list);
  return ok;
}

