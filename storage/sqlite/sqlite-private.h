/* storage-sqlite: shared between its files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>
#include <sqlite3.h>

#include "storage-keywords.h"

G_BEGIN_DECLS

/* Message bytes are stored in chunks of this size, so a 50 MB message is
 * written and read a piece at a time. */
#define SQLITE_STORE_CHUNK_SIZE (256 * 1024)
#define SQLITE_STORE_CHUNK_BITS 24
/* Header and body text are indexed up to this many bytes each; SEARCH
 * finds the rest by scanning the message (sqlite-index.c). Below the
 * core's own 4 MiB cut, so a text the core cut is marked as well. */
#define SQLITE_STORE_INDEX_MAX (256 * 1024)

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
  gint fg_waiting;       /* foreground writers waiting for write_lock (atomic) */
  GMutex pool_lock;
  GPtrArray *idle;       /* idle reader connections */
  guint snapshot_min_messages; /* [storage-sqlite] snapshot_min_messages */
  guint snapshot_max_delta;    /* [storage-sqlite] snapshot_max_delta */
  GMutex queue_lock;
  GPtrArray *write_queue;  /* writes waiting for the next group commit (sqlite-append.c) */
  GCond commit_cond;       /* a group commit finished (with queue_lock) */
  gboolean committing;     /* a thread runs a group commit (queue_lock) */
  guint64 commits;         /* group commits and the writes they held */
  guint64 committed_writes;
  GThread *checkpoint_thread; /* copies the WAL back (sqlite-db.c) */
  GMutex checkpoint_lock;
  GCond checkpoint_cond;
  gboolean checkpoint_wanted; /* under checkpoint_lock */
  gboolean stopping;          /* under checkpoint_lock */
  GThread *index_thread;      /* moves search_pending into the index */
  GCond index_cond;           /* with checkpoint_lock */
  gint64 index_pending;       /* rows in search_pending (checkpoint_lock) */
  gint64 last_commit;         /* monotonic time of the last group commit (checkpoint_lock) */
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
/* A relaxed transaction for background work (the indexer): it is not
 * counted in fg_waiting, and should end soon when fg_waiting > 0. */
SqliteConn *sqlite_store_writer_background (SqliteStore *store, GError **error);

/* A cached prepared statement, reset and unbound. */
sqlite3_stmt *sqlite_store_stmt (SqliteConn *conn, const char *sql, GError **error);
gboolean sqlite_store_exec (SqliteConn *conn, const char *sql, GError **error);
/* Steps a statement that returns no rows (or ignores them) and resets it. */
gboolean sqlite_store_step_done (SqliteConn *conn, sqlite3_stmt *stmt, GError **error);
/* Sets @error from the connection's last error; returns FALSE. */
gboolean sqlite_store_set_error (SqliteConn *conn, int rc, GError **error);

/* One mailbox row, as the operations read and update it. */
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

/* A message row copied out of a statement. */
typedef struct {
  guint32 uid;
  gint64 body_id;
  guint32 flags;
  GArray *keywords;
  guint64 modseq;
  gint64 internal_date;
  guint64 size;
} SqliteMessageRow;

/* sqlite-rows.c: row helpers shared by the operations below. */
gboolean sqlite_user_lookup (SqliteConn *conn, const char *user, gint64 *user_id, GError **error);
gboolean sqlite_user_ensure (SqliteConn *conn, const char *user, gint64 *user_id, GError **error);
gboolean sqlite_mailbox_lookup (SqliteConn *conn, const char *user, const char *name, guint32 uidvalidity,
                                SqliteMailbox *mb, GError **error);
gboolean sqlite_mailbox_save (SqliteConn *conn, const SqliteMailbox *mb, GError **error);
gboolean sqlite_mailbox_exists (SqliteConn *conn, gint64 user_id, const char *name, gboolean *exists,
                                GError **error);
gboolean sqlite_mailbox_insert (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
                                PosthornSpecialUse special_use, PosthornStoreChanges *changes, GError **error);
gboolean sqlite_mailbox_create_path (SqliteConn *conn, const char *user, gint64 user_id, const char *name,
                                     PosthornSpecialUse special_use, PosthornStoreChanges *changes,
                                     GError **error);
gboolean sqlite_subscription_set (SqliteConn *conn, gint64 user_id, const char *name, gboolean subscribe,
                                  GError **error);
gboolean sqlite_keyword_index (SqliteConn *conn, gint64 mailbox_id, const char *name, gboolean create,
                               gint64 *out, GError **error);
GArray * sqlite_keywords_resolve (SqliteConn *conn, gint64 mailbox_id, const char *const *names,
                                  GError **error);
GPtrArray * sqlite_keywords_list (SqliteConn *conn, gint64 mailbox_id, GError **error);
GPtrArray * sqlite_messages_collect (SqliteConn *conn, const SqliteMailbox *mb, const guint32 *uids, guint n_uids,
                                     gboolean all, GError **error);
gboolean sqlite_body_release (SqliteConn *conn, gint64 body_id, GError **error);
gboolean sqlite_body_add_refs (SqliteConn *conn, gint64 body_id, int delta, GError **error);
gboolean sqlite_body_insert (SqliteConn *conn, const PosthornStoreNewMessage *msg, guint refs, gint64 *body_id,
                             GError **error);
gboolean sqlite_message_insert (SqliteConn *conn, SqliteMailbox *mb, gint64 body_id, guint32 flags, GArray *kw,
                                gint64 internal_date, guint64 size, guint32 *uid, guint64 *modseq,
                                GError **error);
gboolean sqlite_message_remove (SqliteConn *conn, SqliteMailbox *mb, const SqliteMessageRow *row, guint64 *modseq,
                                gboolean release_body, GError **error);

/* sqlite-mailbox.c: the mailbox tree (vtable entries). */
gboolean sqlite_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error);
gboolean sqlite_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error);
gboolean sqlite_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
                        PosthornStoreChanges *changes, GError **error);
gboolean sqlite_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
                        GError **error);
gboolean sqlite_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
                        PosthornStoreChanges *changes, GError **error);
gboolean sqlite_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                           PosthornStoreChanges *changes, GError **error);
gboolean sqlite_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
                        GError **error);

/* sqlite-sync.c: SELECT/sync (vtable entry). */
gboolean sqlite_sync (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                      guint64 since_modseq, PosthornStoreSyncFlags flags, PosthornStoreSync *out,
                      GError **error);

/* sqlite-append.c: the group commit. A durable write runs as @func inside
 * the transaction the writes waiting together share (in a savepoint of
 * its own when it has company: a write that fails, returning FALSE with
 * @error set, rolls back only its own changes). sqlite_store_write()
 * returns once the transaction holding the write is committed and on
 * disk (synchronous=FULL), or with the error of the write or the commit.
 * @func must not run SAVEPOINT, BEGIN or COMMIT itself. */
typedef gboolean (*SqliteWriteFunc) (SqliteConn *conn, gpointer data, GError **error);
gboolean sqlite_store_write (SqliteStore *store, SqliteWriteFunc func, gpointer data, GError **error);

/* sqlite-append.c: append with group commit (vtable entry). */
gboolean sqlite_append (gpointer data, const PosthornStoreNewMessage *msg,
                        const PosthornStoreTarget *targets, guint n_targets,
                        PosthornStoreChanges *changes, GError **error);
gboolean sqlite_append_multi (gpointer data, const PosthornStoreNewMessage *const *messages,
                              guint n_messages, const PosthornStoreTarget *target,
                              PosthornStoreChanges *changes, GError **error);

/* sqlite-index.c: the search index, filled off the delivery path. */
void sqlite_index_start (SqliteStore *store);
void sqlite_index_wake (SqliteStore *store, guint n_new);
void sqlite_index_stop (SqliteStore *store);
/* Queues a new body's search text for the index (in the append's
 * transaction), marking it partial when its text is over
 * SQLITE_STORE_INDEX_MAX. */
gboolean sqlite_search_index (SqliteConn *conn, gint64 body_id, const PosthornStoreNewMessage *msg,
                              GError **error);
/* Drops a deleted body's index rows. */
gboolean sqlite_search_forget (SqliteConn *conn, gint64 body_id, GError **error);
/* Adds to @out_uids (holding what the index matched) the messages of @mb
 * whose text is not (or not all) in the index and holds @needle. */
gboolean sqlite_search_scan (SqliteConn *conn, const SqliteMailbox *mb, gboolean body_only, const char *needle,
                             GArray *out_uids, GError **error);

/* sqlite-messages.c: STORE, COPY/MOVE, EXPUNGE (vtable entries). */
gboolean sqlite_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                             const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                             const char *const *keywords, guint64 unchangedsince,
                             PosthornStoreChanges *changes, GError **error);
gboolean sqlite_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                      const guint32 *uids, guint n_uids, const char *dest, gboolean move,
                      PosthornStoreChanges *changes, GError **error);
gboolean sqlite_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                         const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                         GError **error);

/* sqlite-fetch.c: FETCH, READ, SEARCH (vtable entries). */
gboolean sqlite_fetch (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                       const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
                       GError **error);
gboolean sqlite_fetch_sizes (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                             const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
                             GError **error);
gssize sqlite_read (gpointer data, const char *user, const char *name, guint32 uidvalidity, guint32 uid,
                    guint64 offset, void *buffer, gsize length, GError **error);
gboolean sqlite_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                             PosthornSearchField field, const char *needle, GArray *out_uids,
                             GError **error);

extern const PosthornStoreVTable sqlite_store_vtable;

G_END_DECLS
