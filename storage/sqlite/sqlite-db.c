/* Connections, prepared statements and the versioned schema of the
 * storage-sqlite plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

/* Schema migrations: entry i brings a database from user_version i to
 * i + 1, in one transaction. Only ever append. */
static const char *const sqlite_store_migrations[] = {
  /* 0 -> 1 */
  "CREATE TABLE meta ("
  "  key TEXT PRIMARY KEY,"
  "  value INTEGER NOT NULL);"
  "CREATE TABLE users ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  initialized INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE mailboxes ("
  "  id INTEGER PRIMARY KEY,"
  "  user_id INTEGER NOT NULL,"
  "  name TEXT NOT NULL,"
  "  special_use INTEGER NOT NULL DEFAULT 0,"
  "  uidvalidity INTEGER NOT NULL,"
  "  uidnext INTEGER NOT NULL DEFAULT 1,"
  "  highestmodseq INTEGER NOT NULL DEFAULT 1,"
  "  first_recent_uid INTEGER NOT NULL DEFAULT 1,"
  "  UNIQUE (user_id, name));"
  "CREATE TABLE subscriptions ("
  "  user_id INTEGER NOT NULL,"
  "  name TEXT NOT NULL,"
  "  PRIMARY KEY (user_id, name)) WITHOUT ROWID;"
  "CREATE TABLE keywords ("
  "  mailbox_id INTEGER NOT NULL,"
  "  idx INTEGER NOT NULL,"
  "  name TEXT NOT NULL COLLATE NOCASE,"
  "  PRIMARY KEY (mailbox_id, idx),"
  "  UNIQUE (mailbox_id, name)) WITHOUT ROWID;"
  /* A message body, shared by every copy of it (refs counts them). */
  "CREATE TABLE bodies ("
  "  id INTEGER PRIMARY KEY,"
  "  size INTEGER NOT NULL,"
  "  refs INTEGER NOT NULL,"
  "  info BLOB);"
  /* Its bytes in chunks of SQLITE_STORE_CHUNK_SIZE; rowid is
   * (body id << SQLITE_STORE_CHUNK_BITS) | chunk number. */
  "CREATE TABLE chunks ("
  "  id INTEGER PRIMARY KEY,"
  "  data BLOB NOT NULL);"
  "CREATE TABLE messages ("
  "  mailbox_id INTEGER NOT NULL,"
  "  uid INTEGER NOT NULL,"
  "  body_id INTEGER NOT NULL,"
  "  flags INTEGER NOT NULL,"
  "  keywords BLOB,"
  "  modseq INTEGER NOT NULL,"
  "  internal_date INTEGER NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
  "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
  "CREATE TABLE expunged ("
  "  mailbox_id INTEGER NOT NULL,"
  "  uid INTEGER NOT NULL,"
  "  modseq INTEGER NOT NULL,"
  "  PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
  /* SEARCH TEXT / BODY; rowid is the body id. */
  "CREATE VIRTUAL TABLE search USING fts5 ("
  "  header_text, body_text, tokenize = 'trigram');",

  /* 1 -> 2: a packed snapshot of each big mailbox's message list (UIDs,
   * flags, MODSEQs, keywords as of one MODSEQ), so SELECT reads one blob
   * plus what changed since instead of every row; and tombstones by
   * MODSEQ for resync. */
  "CREATE TABLE snapshots ("
  "  mailbox_id INTEGER PRIMARY KEY,"
  "  modseq INTEGER NOT NULL,"
  "  data BLOB NOT NULL);"
  "CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);",

  /* 2 -> 3: search text waiting for the FTS5 index (filled off the
   * delivery path, sqlite-index.c), and the bodies whose indexed text was
   * cut (SEARCH scans the rest). */
  "CREATE TABLE search_pending ("
  "  body_id INTEGER PRIMARY KEY,"
  "  header_text TEXT NOT NULL,"
  "  body_text TEXT NOT NULL);"
  "CREATE TABLE search_partial ("
  "  body_id INTEGER PRIMARY KEY);",
};

#define SQLITE_STORE_SCHEMA_VERSION ((int) G_N_ELEMENTS (sqlite_store_migrations))

gboolean
sqlite_store_set_error (SqliteConn *conn, int rc, GError **error)
{
  int code = POSTHORN_ERROR_FAILED;

  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    code = POSTHORN_ERROR_TEMPORARY;
  else if (rc == SQLITE_FULL)
    code = POSTHORN_ERROR_OVER_QUOTA;
  g_set_error (error, POSTHORN_ERROR, code, "database: %s",
               conn != NULL ? sqlite3_errmsg (conn->db) : sqlite3_errstr (rc));
  if (code == POSTHORN_ERROR_FAILED)
    g_warning ("database error: %s", conn != NULL ? sqlite3_errmsg (conn->db) : sqlite3_errstr (rc));
  return FALSE;
}

gboolean
sqlite_store_exec (SqliteConn *conn, const char *sql, GError **error)
{
  int rc = sqlite3_exec (conn->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    return sqlite_store_set_error (conn, rc, error);
  return TRUE;
}

sqlite3_stmt *
sqlite_store_stmt (SqliteConn *conn, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (conn->stmts, sql);
  int rc;

  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  rc = sqlite3_prepare_v3 (conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      sqlite_store_set_error (conn, rc, error);
      return NULL;
    }
  g_hash_table_insert (conn->stmts, (gpointer) sql, stmt);
  return stmt;
}

gboolean
sqlite_store_step_done (SqliteConn *conn, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return sqlite_store_set_error (conn, rc, error);
  return TRUE;
}

static void
stmt_finalize (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

void
sqlite_conn_free (SqliteConn *conn)
{
  if (conn == NULL)
    return;
  g_hash_table_unref (conn->stmts);
  sqlite3_close_v2 (conn->db);
  g_free (conn);
}

SqliteConn *
sqlite_conn_open (const char *path, GError **error)
{
  SqliteConn *conn = g_new0 (SqliteConn, 1);
  int rc;

  conn->stmts = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                       stmt_finalize);
  rc = sqlite3_open_v2 (path, &conn->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "%s: %s", path,
                   conn->db != NULL ? sqlite3_errmsg (conn->db) : sqlite3_errstr (rc));
      sqlite_conn_free (conn);
      return NULL;
    }
  sqlite3_busy_timeout (conn->db, 30000);
  /* WAL with synchronous=FULL: every commit fsyncs the WAL, so a committed
   * append survives power loss (see README.md). */
  if (!sqlite_store_exec (conn, "PRAGMA journal_mode = WAL;"
                                "PRAGMA synchronous = FULL;"
                                "PRAGMA foreign_keys = OFF;"
                                "PRAGMA cache_size = -8192;", error))
    {
      g_prefix_error (error, "%s: ", path);
      sqlite_conn_free (conn);
      return NULL;
    }
  return conn;
}

static int
sqlite_store_user_version (SqliteConn *conn)
{
  sqlite3_stmt *stmt = NULL;
  int version = -1;

  if (sqlite3_prepare_v2 (conn->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  return version;
}

gboolean
sqlite_store_migrate (SqliteConn *conn, const char *path, GError **error)
{
  int version = sqlite_store_user_version (conn);

  if (version < 0)
    return sqlite_store_set_error (conn, sqlite3_errcode (conn->db), error);
  if (version > SQLITE_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "%s: schema version %d is newer than this plugin's (%d)", path, version,
                   SQLITE_STORE_SCHEMA_VERSION);
      return FALSE;
    }
  for (; version < SQLITE_STORE_SCHEMA_VERSION; version++)
    {
      g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %d;", version + 1);

      if (!sqlite_store_exec (conn, "BEGIN IMMEDIATE", error))
        return FALSE;
      if (!sqlite_store_exec (conn, sqlite_store_migrations[version], error) ||
          !sqlite_store_exec (conn, set_version, error) ||
          !sqlite_store_exec (conn, "COMMIT", error))
        {
          sqlite3_exec (conn->db, "ROLLBACK", NULL, NULL, NULL);
          g_prefix_error (error, "%s: migrating the schema to version %d: ", path, version + 1);
          return FALSE;
        }
      g_message ("%s: schema migrated to version %d", path, version + 1);
    }
  return TRUE;
}

/* ---- the connection pool ---- */

SqliteConn *
sqlite_store_reader (SqliteStore *store, GError **error)
{
  SqliteConn *conn = NULL;

  g_mutex_lock (&store->pool_lock);
  if (store->idle->len > 0)
    conn = g_ptr_array_steal_index_fast (store->idle, store->idle->len - 1);
  g_mutex_unlock (&store->pool_lock);
  if (conn == NULL)
    conn = sqlite_conn_open (store->path, error);
  return conn;
}

void
sqlite_store_reader_release (SqliteStore *store, SqliteConn *conn)
{
  if (conn == NULL)
    return;
  if (!sqlite3_get_autocommit (conn->db))
    sqlite3_exec (conn->db, "ROLLBACK", NULL, NULL, NULL);
  g_mutex_lock (&store->pool_lock);
  if (store->idle->len < 32)
    {
      g_ptr_array_add (store->idle, conn);
      conn = NULL;
    }
  g_mutex_unlock (&store->pool_lock);
  sqlite_conn_free (conn);
}

/* Foreground writers count themselves in fg_waiting while they wait for
 * the write lock: the indexer (sqlite-index.c) takes no turn while one
 * waits, and ends its batch early, since a GMutex is not fair (the thread
 * that just unlocked it tends to take it again first). */
static SqliteConn *
sqlite_store_writer_begin (SqliteStore *store, gboolean relaxed, gboolean foreground, GError **error)
{
  if (foreground)
    g_atomic_int_inc (&store->fg_waiting);
  g_mutex_lock (&store->write_lock);
  if (foreground)
    g_atomic_int_dec_and_test (&store->fg_waiting);
  store->relaxed = relaxed;
  if (!sqlite_store_exec (store->writer, relaxed ? "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE"
                                                 : "BEGIN IMMEDIATE", error))
    {
      sqlite_store_writer_done (store, FALSE, NULL);
      return NULL;
    }
  return store->writer;
}

SqliteConn *
sqlite_store_writer (SqliteStore *store, GError **error)
{
  return sqlite_store_writer_begin (store, FALSE, TRUE, error);
}

SqliteConn *
sqlite_store_writer_relaxed (SqliteStore *store, GError **error)
{
  return sqlite_store_writer_begin (store, TRUE, TRUE, error);
}

SqliteConn *
sqlite_store_writer_background (SqliteStore *store, GError **error)
{
  return sqlite_store_writer_begin (store, TRUE, FALSE, error);
}

gboolean
sqlite_store_writer_done (SqliteStore *store, gboolean ok, GError **error)
{
  if (ok)
    ok = sqlite_store_exec (store->writer, "COMMIT", error);
  if (!ok && !sqlite3_get_autocommit (store->writer->db))
    sqlite3_exec (store->writer->db, "ROLLBACK", NULL, NULL, NULL);
  if (store->relaxed)
    {
      sqlite3_exec (store->writer->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
      store->relaxed = FALSE;
    }
  g_mutex_unlock (&store->write_lock);
  return ok;
}

/* ---- checkpoints off the write path ----
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses 1000
 * WAL pages, i.e. inside the group commit, while every delivery waits.
 * Instead the writer's WAL hook wakes a checkpoint thread with its own
 * connection, which copies the WAL back into the database (PASSIVE: it
 * never blocks the writer or readers) while the writer goes on. If the
 * WAL still grows past SQLITE_STORE_WAL_FORCE_PAGES (the checkpoint
 * cannot keep up), the writer checkpoints itself, as SQLite would. */
#define SQLITE_STORE_WAL_WAKE_PAGES 1000
#define SQLITE_STORE_WAL_FORCE_PAGES 16384

static int
sqlite_store_wal_hook (void *data, sqlite3 *db, const char *name, int pages)
{
  SqliteStore *store = data;

  if (pages >= SQLITE_STORE_WAL_FORCE_PAGES)
    {
      sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      return SQLITE_OK;
    }
  if (pages >= SQLITE_STORE_WAL_WAKE_PAGES)
    {
      g_mutex_lock (&store->checkpoint_lock);
      store->checkpoint_wanted = TRUE;
      g_cond_signal (&store->checkpoint_cond);
      g_mutex_unlock (&store->checkpoint_lock);
    }
  return SQLITE_OK;
}

static gpointer
sqlite_store_checkpoint_thread (gpointer data)
{
  SqliteStore *store = data;
  SqliteConn *conn = NULL;

  g_mutex_lock (&store->checkpoint_lock);
  for (;;)
    {
      while (!store->checkpoint_wanted && !store->stopping)
        g_cond_wait (&store->checkpoint_cond, &store->checkpoint_lock);
      if (store->stopping)
        break;
      store->checkpoint_wanted = FALSE;
      g_mutex_unlock (&store->checkpoint_lock);
      if (conn == NULL)
        {
          g_autoptr(GError) error = NULL;

          conn = sqlite_conn_open (store->path, &error);
          if (conn == NULL)
            g_warning ("checkpoint: %s", error->message);
        }
      if (conn != NULL)
        {
          int rc = sqlite3_wal_checkpoint_v2 (conn->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

          if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            g_warning ("checkpoint of %s: %s", store->path, sqlite3_errmsg (conn->db));
        }
      g_mutex_lock (&store->checkpoint_lock);
    }
  g_mutex_unlock (&store->checkpoint_lock);
  sqlite_conn_free (conn);
  return NULL;
}

SqliteStore *
sqlite_store_open (const char *path, GError **error)
{
  g_autoptr(SqliteStore) store = g_new0 (SqliteStore, 1);

  store->path = g_strdup (path);
  g_mutex_init (&store->write_lock);
  g_mutex_init (&store->pool_lock);
  g_mutex_init (&store->queue_lock);
  g_mutex_init (&store->checkpoint_lock);
  g_cond_init (&store->checkpoint_cond);
  g_cond_init (&store->commit_cond);
  store->write_queue = g_ptr_array_new ();
  store->idle = g_ptr_array_new_with_free_func ((GDestroyNotify) sqlite_conn_free);
  store->writer = sqlite_conn_open (path, error);
  if (store->writer == NULL)
    return NULL;
  if (!sqlite_store_migrate (store->writer, path, error))
    return NULL;
  /* replaces SQLite's automatic checkpoint on this connection */
  sqlite3_wal_hook (store->writer->db, sqlite_store_wal_hook, store);
  store->checkpoint_thread = g_thread_new ("sqlite-checkpoint", sqlite_store_checkpoint_thread, store);
  sqlite_index_start (store);
  return g_steal_pointer (&store);
}

void
sqlite_store_close (SqliteStore *store)
{
  if (store == NULL)
    return;
  if (store->checkpoint_thread != NULL)
    {
      g_mutex_lock (&store->checkpoint_lock);
      store->stopping = TRUE;
      g_cond_signal (&store->checkpoint_cond);
      g_cond_signal (&store->index_cond);
      g_mutex_unlock (&store->checkpoint_lock);
      g_thread_join (store->checkpoint_thread);
      sqlite_index_stop (store);
    }
  if (store->commits > 0)
    g_info ("%s: %" G_GUINT64_FORMAT " writes in %" G_GUINT64_FORMAT " group commits", store->path,
             store->committed_writes, store->commits);
  g_clear_pointer (&store->idle, g_ptr_array_unref);
  g_clear_pointer (&store->writer, sqlite_conn_free);
  g_mutex_clear (&store->write_lock);
  g_mutex_clear (&store->pool_lock);
  g_mutex_clear (&store->queue_lock);
  g_mutex_clear (&store->checkpoint_lock);
  g_cond_clear (&store->checkpoint_cond);
  g_cond_clear (&store->commit_cond);
  g_clear_pointer (&store->write_queue, g_ptr_array_unref);
  g_free (store->path);
  g_free (store);
}
