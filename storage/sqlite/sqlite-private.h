/* storage-sqlite: shared between its files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Message bytes are stored in chunks of this size, so a 50 MB message is
 * written and read a piece at a time. */
#define SQLITE_STORE_CHUNK_SIZE (256 * 1024)
#define SQLITE_STORE_CHUNK_BITS 24

/* One connection with its prepared statements (keyed by the SQL string's
 * address: statements are static strings). Used by one thread at a time. */
typedef struct {
  sqlite3 *db;
  GHashTable *stmts;
} SqliteConn;

typedef struct {
  char *path;
  GMutex write_lock;     /* one writer at a time */
  SqliteConn *writer;
  gboolean relaxed;      /* the open write transaction is synchronous=NORMAL */
  GMutex pool_lock;
  GPtrArray *idle;       /* idle reader connections */
  guint snapshot_min_messages; /* [storage-sqlite] snapshot_min_messages */
  guint snapshot_max_delta;    /* [storage-sqlite] snapshot_max_delta */
  GMutex queue_lock;
  GPtrArray *append_queue; /* appends waiting for the next group commit */
} SqliteStore;

SqliteConn *sqlite_conn_open (const char *path, GError **error);
void sqlite_conn_free (SqliteConn *conn);

/* Opens (creating and migrating) the database. */
SqliteStore *sqlite_store_open (const char *path, GError **error);
void sqlite_store_close (SqliteStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SqliteStore, sqlite_store_close)

gboolean sqlite_store_migrate (SqliteConn *conn, const char *path, GError **error);

/* A reader connection from the pool; give it back with _release (which
 * rolls back an open read transaction). */
SqliteConn *sqlite_store_reader (SqliteStore *store, GError **error);
void sqlite_store_reader_release (SqliteStore *store, SqliteConn *conn);

/* Takes the write lock and begins an IMMEDIATE transaction; _done commits
 * (when @ok) or rolls back, and unlocks. Returns whether it committed. */
SqliteConn *sqlite_store_writer (SqliteStore *store, GError **error);
gboolean sqlite_store_writer_done (SqliteStore *store, gboolean ok, GError **error);
/* The same for a transaction whose loss on power failure is harmless (a
 * cache, \Recent claims): it commits without waiting for the disk, and a
 * later durable commit carries it to disk (WAL keeps commit order). */
SqliteConn *sqlite_store_writer_relaxed (SqliteStore *store, GError **error);

/* A cached prepared statement, reset and unbound. */
sqlite3_stmt *sqlite_store_stmt (SqliteConn *conn, const char *sql, GError **error);
gboolean sqlite_store_exec (SqliteConn *conn, const char *sql, GError **error);
/* Steps a statement that returns no rows (or ignores them) and resets it. */
gboolean sqlite_store_step_done (SqliteConn *conn, sqlite3_stmt *stmt, GError **error);
/* Sets @error from the connection's last error; returns FALSE. */
gboolean sqlite_store_set_error (SqliteConn *conn, int rc, GError **error);

extern const PosthornStoreVTable sqlite_store_vtable;

G_END_DECLS
