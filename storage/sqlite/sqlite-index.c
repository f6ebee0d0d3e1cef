/* storage-sqlite: the search index off the delivery path.
 *
 * An append stores its search text in `search_pending` (a plain table:
 * cheap to write) inside its group commit. The indexer thread moves
 * pending rows into the FTS5 table `search` when deliveries pause (no
 * group commit for INDEX_QUIET_USEC) or when INDEX_BACKLOG_MAX rows are
 * waiting, in small transactions of their own that need no fsync (a lost
 * batch after a power loss is still pending: the move is one
 * transaction). So trigram tokenizing and FTS5 segment writes, the
 * biggest CPU cost of an append, are not paid inside the group commit
 * that deliveries wait for, and a burst of mail is indexed after it.
 *
 * SEARCH stays exact: sqlite_search_scan() looks through the pending
 * text of the mailbox's messages, and through the whole text of the
 * messages whose indexed text was cut (`search_partial`: more than
 * SQLITE_STORE_INDEX_MAX bytes of header or body text), which it
 * extracts again from the stored message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

/* Pending rows moved per indexer transaction: the write lock is held
 * for one batch at a time (trigram indexing costs about 1-6 ms of CPU
 * for 10 KB of text, far more on a busy machine): a batch holds at most
 * INDEX_BATCH_ROWS rows and INDEX_BATCH_BYTES of text, and ends after
 * the row that passes INDEX_BATCH_USEC or as soon as a foreground writer
 * waits for the lock (at least one row is moved). */
#define INDEX_BATCH_ROWS 32
#define INDEX_BATCH_BYTES (256 * 1024)
#define INDEX_BATCH_USEC (4 * G_TIME_SPAN_MILLISECOND)
/* The indexer runs once no group commit has happened for this long... */
#define INDEX_QUIET_USEC (200 * G_TIME_SPAN_MILLISECOND)
/* ...or, under a steady load, once this many rows are pending (each
 * SEARCH BODY/TEXT scans the pending text of its mailbox: this bounds
 * that scan). */
#define INDEX_BACKLOG_MAX 20000
/* While foreground writers wait for the write lock, the indexer stays
 * away, polling this often; with INDEX_BACKLOG_MAX rows pending it still
 * takes one batch after INDEX_YIELD_MAX_USEC of yielding. */
#define INDEX_YIELD_POLL_USEC (2 * G_TIME_SPAN_MILLISECOND)
#define INDEX_YIELD_MAX_USEC (100 * G_TIME_SPAN_MILLISECOND)

/* ---- the indexer thread ---- */

static gboolean
index_batch (SqliteStore *store, gint64 *moved, GError **error)
{
  SqliteConn *conn = sqlite_store_writer_background (store, error);
  sqlite3_stmt *stmt;
  gint64 ids[INDEX_BATCH_ROWS];
  gint64 bytes = 0, start;
  guint n = 0;
  int rc;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  start = g_get_monotonic_time ();
  *moved = 0;
  /* Up to INDEX_BATCH_ROWS rows and INDEX_BATCH_BYTES of text (at least
   * one row): the write lock is held while they are indexed. */
  stmt = sqlite_store_stmt (conn, "SELECT body_id, length (CAST (header_text AS BLOB)) + "
                                  "length (CAST (body_text AS BLOB)) FROM search_pending "
                                  "ORDER BY body_id LIMIT " G_STRINGIFY (INDEX_BATCH_ROWS), error);
  if (stmt == NULL)
    return sqlite_store_writer_done (store, FALSE, NULL);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW && n < INDEX_BATCH_ROWS)
    {
      if (n > 0 && bytes + sqlite3_column_int64 (stmt, 1) > INDEX_BATCH_BYTES)
        break;
      ids[n++] = sqlite3_column_int64 (stmt, 0);
      bytes += sqlite3_column_int64 (stmt, 1);
    }
  sqlite3_reset (stmt);
  ok = rc == SQLITE_ROW || rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
  /* One row at a time, so the batch can end early: a foreground writer
   * waits for it, or it ran INDEX_BATCH_USEC. */
  for (guint i = 0; ok && i < n; i++)
    {
      if (i > 0 && (g_atomic_int_get (&store->fg_waiting) > 0 ||
                    g_get_monotonic_time () - start >= INDEX_BATCH_USEC))
        break;
      stmt = sqlite_store_stmt (conn, "INSERT INTO search (rowid, header_text, body_text) "
                                      "SELECT body_id, header_text, body_text FROM search_pending "
                                      "WHERE body_id = ?1", error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, ids[i]);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
      stmt = ok ? sqlite_store_stmt (conn, "DELETE FROM search_pending WHERE body_id = ?1", error) : NULL;
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, ids[i]);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
      if (ok)
        (*moved)++;
    }
  return sqlite_store_writer_done (store, ok, ok ? error : NULL) && ok;
}

static gpointer
index_thread (gpointer data)
{
  SqliteStore *store = data;
  gint64 yield_since = 0;

  g_mutex_lock (&store->checkpoint_lock);
  while (!store->stopping)
    {
      gint64 quiet_at = store->last_commit + INDEX_QUIET_USEC;
      gint64 moved = 0, now;
      gboolean ok;
      g_autoptr(GError) error = NULL;

      if (store->index_pending <= 0)
        {
          g_cond_wait (&store->index_cond, &store->checkpoint_lock);
          continue;
        }
      now = g_get_monotonic_time ();
      if (now < quiet_at && store->index_pending < INDEX_BACKLOG_MAX)
        {
          g_cond_wait_until (&store->index_cond, &store->checkpoint_lock, quiet_at);
          continue;
        }
      /* Foreground writes first: no turn while one waits for the lock. */
      if (g_atomic_int_get (&store->fg_waiting) > 0)
        {
          if (yield_since == 0)
            yield_since = now;
          if (store->index_pending < INDEX_BACKLOG_MAX || now - yield_since < INDEX_YIELD_MAX_USEC)
            {
              g_cond_wait_until (&store->index_cond, &store->checkpoint_lock, now + INDEX_YIELD_POLL_USEC);
              continue;
            }
        }
      yield_since = 0;
      g_mutex_unlock (&store->checkpoint_lock);
      ok = index_batch (store, &moved, &error);
      g_mutex_lock (&store->checkpoint_lock);
      if (!ok)
        {
          g_warning ("%s: search index: %s", store->path, error != NULL ? error->message : "failed");
          /* try again after the next commit */
          store->last_commit = g_get_monotonic_time ();
          continue;
        }
      store->index_pending = moved == 0 ? 0 : MAX (store->index_pending - moved, 1);
    }
  g_mutex_unlock (&store->checkpoint_lock);
  return NULL;
}

void
sqlite_index_start (SqliteStore *store)
{
  sqlite3_stmt *stmt = NULL;

  g_cond_init (&store->index_cond);
  /* rows left pending by the last run */
  if (sqlite3_prepare_v2 (store->writer->db, "SELECT count(*) FROM search_pending", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    store->index_pending = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  store->index_thread = g_thread_new ("sqlite-index", index_thread, store);
}

void
sqlite_index_wake (SqliteStore *store, guint n_new)
{
  g_mutex_lock (&store->checkpoint_lock);
  store->index_pending += n_new;
  store->last_commit = g_get_monotonic_time ();
  g_cond_signal (&store->index_cond);
  g_mutex_unlock (&store->checkpoint_lock);
}

/* Called with stopping set (and index_cond signalled by the caller). */
void
sqlite_index_stop (SqliteStore *store)
{
  if (store->index_thread == NULL)
    return;
  g_thread_join (store->index_thread);
  store->index_thread = NULL;
  g_cond_clear (&store->index_cond);
}

/* ---- the append side ---- */

/* At most @max bytes of @text, cut before a UTF-8 character; *@cut says
 * whether anything was left out. */
static int
index_length (const char *text, gsize max, gboolean *cut)
{
  gsize len = text != NULL ? strlen (text) : 0;

  if (len <= max)
    return (int) len;
  *cut = TRUE;
  while (max > 0 && ((guchar) text[max] & 0xc0) == 0x80)
    max--;
  return (int) max;
}

gboolean
sqlite_search_index (SqliteConn *conn, gint64 body_id, const PosthornStoreNewMessage *msg, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "INSERT INTO search_pending (body_id, header_text, body_text) "
                                                "VALUES (?1, ?2, ?3)", error);
  gboolean cut = FALSE;
  int header_len, body_len;

  if (stmt == NULL)
    return FALSE;
  header_len = index_length (msg->search_header, SQLITE_STORE_INDEX_MAX, &cut);
  body_len = index_length (msg->search_body, SQLITE_STORE_INDEX_MAX, &cut);
  /* The core cuts at 4 MiB as well: a text that long may have been cut. */
  sqlite3_bind_int64 (stmt, 1, body_id);
  sqlite3_bind_text (stmt, 2, msg->search_header != NULL ? msg->search_header : "", header_len, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, msg->search_body != NULL ? msg->search_body : "", body_len, SQLITE_STATIC);
  if (!sqlite_store_step_done (conn, stmt, error))
    return FALSE;
  if (!cut)
    return TRUE;
  stmt = sqlite_store_stmt (conn, "INSERT OR IGNORE INTO search_partial (body_id) VALUES (?1)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id);
  return sqlite_store_step_done (conn, stmt, error);
}

gboolean
sqlite_search_forget (SqliteConn *conn, gint64 body_id, GError **error)
{
  static const char *const sql[] = {
    "DELETE FROM search WHERE rowid = ?1",
    "DELETE FROM search_pending WHERE body_id = ?1",
    "DELETE FROM search_partial WHERE body_id = ?1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, sql[i], error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, body_id);
      if (!sqlite_store_step_done (conn, stmt, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- the search side ---- */

/* Whether @folded_needle occurs in @text, case-insensitively (both case
 * folded, as the trigram index folds). Folds @text a window at a time,
 * so a long text is never folded whole; windows overlap by enough source
 * bytes to hold any match. */
static gboolean
text_contains (const char *text, gsize len, const char *folded_needle)
{
  gsize needle_len = strlen (folded_needle);
  gsize window = MAX ((gsize) 256 * 1024, 8 * needle_len);
  gsize overlap = 4 * needle_len + 4;
  gsize pos = 0;

  if (needle_len == 0)
    return TRUE;
  while (pos < len)
    {
      gsize end = MIN (len, pos + window);
      g_autofree char *folded = NULL;

      while (end < len && ((guchar) text[end] & 0xc0) == 0x80)
        end++;
      folded = g_utf8_casefold (text + pos, (gssize) (end - pos));
      if (strstr (folded, folded_needle) != NULL)
        return TRUE;
      if (end >= len)
        break;
      pos = end > overlap ? end - overlap : 0;
      while (pos < len && ((guchar) text[pos] & 0xc0) == 0x80)
        pos++;
    }
  return FALSE;
}

/* The whole search text of a stored body, extracted again. */
static gboolean
scan_stored_body (SqliteConn *conn, gint64 body_id, gboolean body_only, const char *folded_needle,
                  gboolean *match, GError **error)
{
  sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT data FROM chunks WHERE id >= ?1 AND id < ?2 ORDER BY id",
                                          error);
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GBytes) data = NULL;
  g_autoptr(PosthornMessage) message = NULL;
  g_autoptr(PosthornMessageInfo) info = NULL;
  g_autofree char *body_text = NULL;
  g_autofree char *all_text = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, body_id << SQLITE_STORE_CHUNK_BITS);
  sqlite3_bind_int64 (stmt, 2, (body_id + 1) << SQLITE_STORE_CHUNK_BITS);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_byte_array_append (bytes, sqlite3_column_blob (stmt, 0), (guint) sqlite3_column_bytes (stmt, 0));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  data = g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
  message = posthorn_message_new_from_bytes (data);
  info = posthorn_message_info_parse (message, error);
  if (info == NULL ||
      !posthorn_message_extract_search_text (message, info, &body_text, body_only ? NULL : &all_text, error))
    return FALSE;
  *match = text_contains (body_only ? body_text : all_text, strlen (body_only ? body_text : all_text),
                          folded_needle);
  return TRUE;
}

gboolean
sqlite_search_scan (SqliteConn *conn, const SqliteMailbox *mb, gboolean body_only, const char *needle,
                    GArray *out_uids, GError **error)
{
  g_autofree char *folded = g_utf8_casefold (needle, -1);
  g_autoptr(GHashTable) found = g_hash_table_new (NULL, NULL);
  g_autoptr(GArray) partial_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr(GArray) partial_bodies = g_array_new (FALSE, FALSE, sizeof (gint64));
  sqlite3_stmt *stmt;
  int rc;

  if (*needle == '\0')
    return TRUE; /* the caller's query matched every message */
  for (guint i = 0; i < out_uids->len; i++)
    g_hash_table_add (found, GUINT_TO_POINTER (g_array_index (out_uids, guint32, i)));

  /* Text not in the index yet. */
  stmt = sqlite_store_stmt (conn, "SELECT m.uid, p.header_text, p.body_text FROM messages m "
                                  "JOIN search_pending p ON p.body_id = m.body_id "
                                  "WHERE m.mailbox_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);
      const char *header = (const char *) sqlite3_column_text (stmt, 1);
      const char *body = (const char *) sqlite3_column_text (stmt, 2);

      if (g_hash_table_contains (found, GUINT_TO_POINTER (uid)))
        continue;
      if ((body != NULL && text_contains (body, (gsize) sqlite3_column_bytes (stmt, 2), folded)) ||
          (!body_only && header != NULL &&
           text_contains (header, (gsize) sqlite3_column_bytes (stmt, 1), folded)))
        {
          g_hash_table_add (found, GUINT_TO_POINTER (uid));
          g_array_append_val (out_uids, uid);
        }
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);

  /* Messages whose indexed text was cut: the rest is only in the message. */
  stmt = sqlite_store_stmt (conn, "SELECT m.uid, m.body_id FROM messages m "
                                  "JOIN search_partial p ON p.body_id = m.body_id "
                                  "WHERE m.mailbox_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, mb->id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);
      gint64 body_id = sqlite3_column_int64 (stmt, 1);

      if (g_hash_table_contains (found, GUINT_TO_POINTER (uid)))
        continue;
      g_array_append_val (partial_uids, uid);
      g_array_append_val (partial_bodies, body_id);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return sqlite_store_set_error (conn, rc, error);
  for (guint i = 0; i < partial_uids->len; i++)
    {
      gboolean match = FALSE;

      if (!scan_stored_body (conn, g_array_index (partial_bodies, gint64, i), body_only, folded, &match, error))
        return FALSE;
      if (match)
        g_array_append_val (out_uids, g_array_index (partial_uids, guint32, i));
    }
  return TRUE;
}
