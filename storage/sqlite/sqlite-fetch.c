/* storage-sqlite: reading messages: FETCH of metadata, READ of the chunked
 * bytes and full-text SEARCH (FTS5, LIKE fallback).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"
#include "storage-message-list.h"
#include "storage-search.h"

#include <string.h>

gboolean
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
       sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = sqlite_messages_collect (conn, &mb, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];
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

gboolean
sqlite_fetch_sizes (gpointer data, const char *user, const char *name, guint32 uidvalidity,
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
       sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = sqlite_messages_collect (conn, &mb, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];

      posthorn_store_fetch_builder_add (out, row->uid, row->internal_date, row->size, NULL);
    }
  sqlite_store_reader_release (store, conn);
  return ok;
}

gssize
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
      !sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
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

  /* Incremental blob I/O copies straight from the pages into @buffer; a
   * SELECT of the data column would first assemble the whole chunk in a
   * buffer of its own (one more copy of every byte read). */
  {
    sqlite3_blob *blob = NULL;
    guint64 chunk = offset / SQLITE_STORE_CHUNK_SIZE;

    while ((gsize) done < length)
      {
        guint64 pos = offset + (guint64) done;
        guint64 in_chunk = pos - chunk * SQLITE_STORE_CHUNK_SIZE;
        gint64 rowid = (body_id << SQLITE_STORE_CHUNK_BITS) | (gint64) chunk;
        guint64 chunk_len;
        gsize n;

        rc = blob == NULL ? sqlite3_blob_open (conn->db, "main", "chunks", "data", rowid, 0, &blob)
                          : sqlite3_blob_reopen (blob, rowid);
        if (rc == SQLITE_ERROR)
          break;  /* no such chunk: reported as damaged below */
        if (rc != SQLITE_OK)
          {
            sqlite_store_set_error (conn, rc, error);
            done = -1;
            break;
          }
        chunk_len = (guint64) sqlite3_blob_bytes (blob);
        if (in_chunk >= chunk_len)
          break;
        n = (gsize) MIN (chunk_len - in_chunk, (guint64) (length - (gsize) done));
        rc = sqlite3_blob_read (blob, (guint8 *) buffer + done, (int) n, (int) in_chunk);
        if (rc != SQLITE_OK)
          {
            sqlite_store_set_error (conn, rc, error);
            done = -1;
            break;
          }
        done += (gssize) n;
        chunk++;
      }
    if (blob != NULL)
      sqlite3_blob_close (blob);
    if (done < 0)
      goto out;
  }
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

gboolean
sqlite_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                    PosthornSearchField field, const char *needle, GArray *out_uids,
                    GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  gboolean body = field == POSTHORN_SEARCH_BODY;
  StorageSearchKind kind;
  g_autofree char *query = storage_search_query (needle, body, &kind);
  SqliteMailbox mb;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = FALSE;
  int rc;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) ||
      !sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error))
    goto out;

  switch (kind)
    {
    case STORAGE_SEARCH_MATCH:
      stmt = sqlite_store_stmt (conn, "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
                                      "(SELECT rowid FROM search WHERE search MATCH ?2) ORDER BY uid",
                                error);
      break;
    case STORAGE_SEARCH_EVERY:
      stmt = sqlite_store_stmt (conn, "SELECT uid FROM messages WHERE mailbox_id = ?1 AND ?2 IS NULL "
                                      "ORDER BY uid", error);
      break;
    case STORAGE_SEARCH_LIKE:
      stmt = sqlite_store_stmt (conn, body
        ? "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
          "(SELECT rowid FROM search WHERE body_text LIKE ?2 ESCAPE '\\') ORDER BY uid"
        : "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN "
          "(SELECT rowid FROM search WHERE header_text LIKE ?2 ESCAPE '\\' "
          "OR body_text LIKE ?2 ESCAPE '\\') ORDER BY uid", error);
      break;
    }
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, mb.id);
  if (query != NULL)
    sqlite3_bind_text (stmt, 2, query, -1, SQLITE_STATIC);
  rc = storage_uids_read (stmt, out_uids);
  ok = rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
  /* Text not (or not all) in the index yet: see sqlite-index.c. */
  if (ok)
    ok = sqlite_search_scan (conn, &mb, body, needle, out_uids, error);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

