/* storage-maildir: shared between its files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>
#include <sqlite3.h>

#include "storage-keywords.h"
#include "storage-message-list.h"
#include "storage-search.h"

G_BEGIN_DECLS

/* ------------------------------------------------------------------ */
/* maildir-names.c: pure functions over names and control files        */
/* ------------------------------------------------------------------ */

/* Maildir++ folder directory (relative to the user's root) of mailbox
 * @name: "" for INBOX, ".Parent.Child" otherwise. Each component is
 * written in modified UTF-7 (as Dovecot does) with '.' and '\' escaped as
 * "\2e" and "\5c" (Dovecot's listescape form), so any name the core
 * accepts has exactly one directory. */
char *maildir_name_to_dir (const char *name);

/* The mailbox name of a root entry ".Parent.Child" (decoded as above), or
 * NULL if @dir is not a folder directory we can name ("..x", bad UTF-7,
 * empty components). */
char *maildir_dir_to_name (const char *dir);

/* Modified UTF-7 (RFC 3501 5.1.3) of one UTF-8 string, and back (NULL for
 * invalid input). */
char *maildir_mutf7_encode (const char *utf8);
char *maildir_mutf7_decode (const char *mutf7);

/* A message file name "base[:2,FLAGS]". */
typedef struct {
  gsize base_len;       /* bytes of the base (before ':') */
  gboolean has_info;    /* ":2," present */
  guint32 flags;        /* PosthornMessageFlags from D F R S T */
  guint32 keywords;     /* bit i: keyword letter 'a' + i */
  char other[27];       /* other flag letters (e.g. P), kept on rename */
  guint64 size;         /* ",S=" value or 0 */
  guint64 vsize;        /* ",W=" value or 0 */
} MaildirFileName;

/* Parses a file name found in cur/ or new/. FALSE for names that are not
 * Maildir messages: empty or starting with '.', no "<digits>." time
 * prefix, a '/' or a control character, an info part other than ":2,"
 * followed by letters. Pure. */
gboolean maildir_filename_parse (const char *filename, MaildirFileName *out);

/* "base:2,LETTERS": system flags, @other and keyword letters in ASCII
 * order, as the Maildir spec asks. */
char *maildir_filename_compose (const char *base, gsize base_len, guint32 flags,
                                guint32 keywords, const char *other);

/* dovecot-uidlist (version 3): "3 V<uidvalidity> N<nextuid> G<guid>",
 * then "<uid> [<ext> ...] :<base>" lines. Only the fields we need. */
typedef struct {
  guint32 uid;
  char *base;
} MaildirUidlistEntry;

typedef struct {
  guint32 uidvalidity;
  guint32 next_uid;     /* max(N, last UID + 1) */
  char *guid;           /* hex, or NULL */
  GArray *entries;      /* MaildirUidlistEntry, in file order */
} MaildirUidlist;

/* FALSE (with POSTHORN_ERROR_INVALID) for a header we do not understand;
 * bad record lines are skipped. */
gboolean maildir_uidlist_parse (const char *data, gsize length, MaildirUidlist *out,
                                GError **error);
void maildir_uidlist_clear (MaildirUidlist *list);

/* dovecot-keywords: "<index> <name>" lines. Returns names by index
 * (holes are NULL), at most 26 (the letters a..z). */
GPtrArray *maildir_keywords_parse (const char *data, gsize length);

/* The subscriptions file: Dovecot 2.3 writes "V\t2\n\n" then one name a
 * line with '\t' between hierarchy levels; version 1 files hold one name a
 * line with '.' between levels. Names come back with '/'. */
GPtrArray *maildir_subscriptions_parse (const char *data, gsize length);
char *maildir_subscriptions_format (const char *const *names, guint n);

/* %u (the whole user name), %n (the part before '@', or the whole name),
 * %d (the part after '@', or ""), %% ('%') in @pattern. NULL (with
 * POSTHORN_ERROR_INVALID) if the result would leave its directory: a user
 * name with '/', a component "." or "..", or a control character. */
char *maildir_expand_path (const char *pattern, const char *user, GError **error);

/* ------------------------------------------------------------------ */
/* maildir-store.c                                                     */
/* ------------------------------------------------------------------ */

typedef struct _MaildirStore MaildirStore;
typedef struct _MaildirWatch MaildirWatch;

MaildirStore *maildir_store_new (const char *path_pattern, GError **error);
void maildir_store_free (MaildirStore *store);

/* Rescans a watched folder after inotify saw a change (watch thread). */
void maildir_store_rescan (MaildirStore *store, const char *user, const char *name);

extern const PosthornStoreVTable maildir_store_vtable;

/* ------------------------------------------------------------------ */
/* internals shared by the files maildir-store.c is split into          */
/* ------------------------------------------------------------------ */

#define MAILDIR_UIDLIST_NAME "dovecot-uidlist"
#define MAILDIR_KEYWORDS_NAME "dovecot-keywords"
#define MAILDIR_LOCK_NAME "dovecot-uidlist.lock"
/* The Maildir spec's age of garbage in tmp/: 36 hours. */
#define MAILDIR_TMP_MAX_AGE (36 * 3600)

struct _MaildirStore {
  char *pattern;
  GMutex lock;            /* every operation of this process */
  GHashTable *users;      /* name -> MaildirUser */
  GHashTable *warned;     /* paths of non-Maildir files already warned about */
  MaildirWatch *watch;
  /* A folder of at least snapshot_min_messages gets a new snapshot when
   * opening it found more than snapshot_max_delta changes since the last
   * one ([storage-maildir] keys of the same names). */
  guint snapshot_min_messages;
  guint snapshot_max_delta;
  /* Files in tmp/ untouched for tmp_max_age seconds ([storage-maildir]
   * key, default the Maildir spec's 36 hours) are removed when a folder
   * is opened, at most once an hour (or tmp_max_age, if shorter) per
   * folder. temp_cleaned: folder directory -> monotonic time (gint64 *)
   * of its last cleanup. */
  gint64 tmp_max_age;
  /* [storage-maildir] trust_cur_stamps: no other program changes files in
   * cur/ (others may still deliver into new/), so a stamp of cur/ is
   * trusted as taken, also right after our own change: no rescan of cur/
   * by the next reader (Dovecot's maildir_very_dirty_syncs). */
  gboolean trust_cur_stamps;
  GHashTable *temp_cleaned;
  /* Group commit of appends (maildir-append.c): calls wait in
   * commit_queue; one thread at a time commits all that wait. */
  GMutex commit_lock;
  GCond commit_cond;
  GPtrArray *commit_queue;
  gboolean committing;
};

/* One user: the Maildir root and its open index. */
typedef struct {
  char *name;
  char *root;
  sqlite3 *db;
  GHashTable *stmts;      /* SQL text address -> sqlite3_stmt */
} MaildirUser;

/* One folder row, as the operations read and update it. */
typedef struct {
  gint64 id;
  char *name;
  char *dir;
  guint32 uidvalidity;
  guint32 uidnext;
  guint32 first_recent;
  guint64 highestmodseq;
  int special_use;
  char *stamps[4];        /* cur, new, uidlist, keywords as last scanned */
  char *guid;
  char *lock_path;        /* the dotlock while held */
} MaildirFolder;

enum { MAILDIR_STAMP_CUR, MAILDIR_STAMP_NEW, MAILDIR_STAMP_UIDLIST, MAILDIR_STAMP_KEYWORDS };

/* What a scan learns from a file another program wrote. */
typedef struct {
  guint64 size;         /* canonical */
  guint64 file_size;
  GBytes *lfmap;        /* NULL for canonical files */
  GBytes *info;
  char *header_text;
  char *body_text;
  gint64 internal_date;
} MaildirImportedFile;

/* A message row copied out of a statement (MAILDIR_MESSAGE_COLUMNS). */
typedef struct {
  gint64 id;
  guint32 uid;
  char *base;
  char *filename;       /* "cur/NAME" or "new/NAME" */
  guint32 flags;
  GArray *keywords;
  guint64 modseq;
  gint64 internal_date;
  guint64 size;
  guint64 file_size;
} MaildirMessageRow;

#define MAILDIR_MESSAGE_COLUMNS "id, uid, base, filename, flags, keywords, modseq, internal_date, size, file_size"

/* A message row to insert. */
typedef struct {
  guint32 uid;
  const char *base;
  const char *filename;
  guint32 flags;
  GArray *keywords;
  guint64 modseq;
  gint64 internal_date;
  guint64 size;
  guint64 file_size;
  GBytes *lfmap;
  GBytes *info;
  const char *header_text;
  const char *body_text;
  gint64 copy_search_from;   /* > 0: copy the search row of this message id */
} MaildirNewRow;

/* Holds the store mutex until the end of the scope. */
#define MAILDIR_STORE_LOCK(store) g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&(store)->lock)

/* special-use mailboxes created for every user, bit i = 1u << i */
extern const char *const maildir_special_use_names[5];

/* maildir-files.c: helpers, the dotlock, control files, message files */
gboolean maildir_set_errno_error (GError **error, int errsv, const char *what, const char *path);
gboolean maildir_not_found (GError **error, const char *name);
gboolean maildir_fsync_path (const char *path, GError **error);
gboolean maildir_is_dir (const char *path);
gboolean maildir_make (const char *dir, gboolean subfolder, GError **error);
char *maildir_stamp_of (const char *path, gboolean *recent);
char *maildir_folder_path (const MaildirFolder *folder, const char *a, const char *b);
void maildir_folder_clear (MaildirFolder *folder);
gboolean maildir_folder_lock (MaildirFolder *folder, GError **error);
void maildir_folder_unlock (MaildirFolder *folder);
/* Removes files in tmp/ untouched (mtime and ctime) for more than
 * @max_age seconds, stale dotlock temporaries (dovecot-uidlist.lock.PID.N.tmp,
 * by the rules of a stale lock) and temporary control files
 * (NAME.PID.tmp) older than @max_age. Problems are logged. */
void maildir_folder_clean_temp (const MaildirFolder *folder, gint64 max_age);
gboolean maildir_replace_file (const char *path, const char *data, gsize len, gboolean durable, GError **error);
gboolean maildir_uidlist_write (MaildirUser *u, MaildirFolder *f, GError **error);
gboolean maildir_uidlist_append (MaildirFolder *f, GString *lines, GError **error);
gboolean maildir_keywords_write (MaildirUser *u, MaildirFolder *f, GError **error);
gboolean maildir_keywords_merge (MaildirUser *u, MaildirFolder *f, gboolean *keywords_added, GError **error);
char *maildir_unique_base (guint64 size);
gssize maildir_lfmap_read (int fd, const guint8 *map, gsize map_len, guint64 offset, guint8 *buffer,
                           gsize length, GError **error);
void maildir_imported_file_clear (MaildirImportedFile *imp);
gboolean maildir_import_file (const char *path, MaildirImportedFile *imp, GError **error);

/* maildir-index.c: the index database, keyword sets, folder rows */
gboolean maildir_db_error (MaildirUser *u, int rc, GError **error);
sqlite3_stmt *maildir_db_stmt (MaildirUser *u, const char *sql, GError **error);
gboolean maildir_db_exec (MaildirUser *u, const char *sql, GError **error);
gboolean maildir_db_done (MaildirUser *u, sqlite3_stmt *stmt, GError **error);
gboolean maildir_db_begin (MaildirUser *u, GError **error);
gboolean maildir_db_end (MaildirUser *u, gboolean ok, GError **error);
gint64 maildir_meta_get (MaildirUser *u, const char *key);
gboolean maildir_meta_set (MaildirUser *u, const char *key, gint64 value, GError **error);
void maildir_user_free (MaildirUser *u);
MaildirUser *maildir_user_get (MaildirStore *store, const char *name, gboolean create, GError **error);
guint32 maildir_keyword_letters (GArray *set);
GPtrArray *maildir_keywords_list (MaildirUser *u, gint64 folder_id, GError **error);
gboolean maildir_keyword_index (MaildirUser *u, gint64 folder_id, const char *name, guint32 *out,
                                gboolean *added, GError **error);
GArray *maildir_keywords_resolve (MaildirUser *u, gint64 folder_id, const char *const *names, gboolean *added,
                                   GError **error);
char *maildir_folder_dir_of (MaildirUser *u, const char *name);
PosthornSpecialUse maildir_special_use_by_name (const char *name);
gboolean maildir_folder_read (MaildirUser *u, const char *name, MaildirFolder *f, gboolean *found, GError **error);
gboolean maildir_folder_save (MaildirUser *u, const MaildirFolder *f, GError **error);
gboolean maildir_read_uidlist (const char *dir, MaildirUidlist *out);
gboolean maildir_folder_insert (MaildirUser *u, const char *name, PosthornSpecialUse special_use,
                                gboolean adopt, GError **error);
gboolean maildir_folder_forget (MaildirUser *u, gint64 id, GError **error);
gboolean maildir_folder_lookup (MaildirUser *u, const char *name, guint32 uidvalidity, MaildirFolder *f,
                                GError **error);

/* maildir-rows.c: message rows */
void maildir_message_row_free (gpointer p);
MaildirMessageRow *maildir_message_row_read (sqlite3_stmt *stmt);
GPtrArray *maildir_messages_collect (MaildirUser *u, const MaildirFolder *f, const guint32 *uids, guint n_uids,
                                      gboolean all, GError **error);
gboolean maildir_message_insert (MaildirUser *u, const MaildirFolder *f, const MaildirNewRow *r, GError **error);
gboolean maildir_message_remove (MaildirUser *u, MaildirFolder *f, const MaildirMessageRow *row, guint64 *modseq,
                                 GError **error);
gboolean maildir_message_update (MaildirUser *u, const MaildirMessageRow *row, const char *filename, guint32 flags,
                                 GArray *keywords, guint64 modseq, GError **error);

/* maildir-snapshot.c: a folder's message list and its snapshot (see there
 * and storage-message-list.h) */
/* Appends the rows of @f with MODSEQ > @since, ascending by UID. */
gboolean maildir_message_list_read_changed (MaildirUser *u, const MaildirFolder *f, guint64 since,
                                            StorageMessageList *l, GError **error);
/* Every message of @f (inside a transaction): the snapshot plus the rows
 * and tombstones with a greater MODSEQ, or every row without a usable
 * snapshot. *@delta: how many changes the snapshot was behind (every row
 * without one). */
gboolean maildir_message_list_load (MaildirUser *u, const MaildirFolder *f, StorageMessageList *out,
                                    guint *delta, GError **error);
/* Stores @list as @f's snapshot as of f->highestmodseq. */
gboolean maildir_snapshot_save (MaildirUser *u, const MaildirFolder *f, const StorageMessageList *list,
                                GError **error);

/* maildir-sync.c: scanning; STATUS and sync (vtable entries) */
/* What a refresh must see. A directory stamp taken too soon after the
 * directory changed (maildir_stamp_of()'s @recent), or right after our
 * own change, is recorded untrusted ('?' in front): another program's
 * change in the same mtime tick would leave it as it is. */
typedef enum {
  /* Readers (STATUS, SELECT, the watch): cur/ is read again while its
   * stamp is untrusted. */
  MAILDIR_REFRESH_READ,
  /* Writers under the folder lock (APPEND, STORE, COPY, EXPUNGE): cur/ is
   * read only when it changed since its stamp, trusted or not, so that a
   * stream of our own changes costs no scans; the untrusted stamp stays
   * for the next reader. */
  MAILDIR_REFRESH_WRITE,
  /* Everything is read. */
  MAILDIR_REFRESH_FORCE,
} MaildirRefreshMode;

gboolean maildir_folder_refresh (MaildirStore *store, MaildirUser *u, MaildirFolder *f,
                                 MaildirRefreshMode mode, GError **error);
/* After this process changed cur/ itself: records its stamp, untrusted
 * unless trust_cur_stamps. */
void maildir_folder_note_own_change (const MaildirStore *store, MaildirFolder *f);
char *maildir_locate_file (MaildirFolder *f, const char *base);
gboolean maildir_folder_open (MaildirStore *store, const char *user, const char *name, guint32 uidvalidity,
                              MaildirRefreshMode mode, MaildirUser **out_user, MaildirFolder *f,
                              GError **error);
gboolean maildir_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
                         GError **error);
gboolean maildir_sync (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                       guint64 since_modseq, PosthornStoreSyncFlags flags, PosthornStoreSync *out,
                       GError **error);

/* maildir-mailbox.c: the mailbox tree (vtable entries) */
gboolean maildir_folder_create (MaildirUser *u, const char *name, PosthornSpecialUse special_use, gboolean *created,
                                PosthornStoreChanges *changes, GError **error);
gboolean maildir_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error);
gboolean maildir_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error);
gboolean maildir_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
                         PosthornStoreChanges *changes, GError **error);
gboolean maildir_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
                         GError **error);
gboolean maildir_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
                         PosthornStoreChanges *changes, GError **error);
gboolean maildir_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                            PosthornStoreChanges *changes, GError **error);

/* maildir-append.c: delivery and APPEND (vtable entry) */
gboolean maildir_file_place (const char *src, const char *dst, GError **error);
gboolean maildir_append (gpointer data, const PosthornStoreNewMessage *msg,
                         const PosthornStoreTarget *targets, guint n_targets,
                         PosthornStoreChanges *changes, GError **error);
gboolean maildir_append_multi (gpointer data, const PosthornStoreNewMessage *const *messages,
                               guint n_messages, const PosthornStoreTarget *target,
                               PosthornStoreChanges *changes, GError **error);

/* maildir-messages.c: STORE, COPY/MOVE, EXPUNGE (vtable entries) */
gboolean maildir_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                              const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                              const char *const *keywords, guint64 unchangedsince,
                              PosthornStoreChanges *changes, GError **error);
gboolean maildir_row_blobs (MaildirUser *u, gint64 id, GBytes **info, GBytes **lfmap, GError **error);
gboolean maildir_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                       const guint32 *uids, guint n_uids, const char *dest, gboolean move,
                       PosthornStoreChanges *changes, GError **error);
gboolean maildir_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                          const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                          GError **error);

/* maildir-fetch.c: FETCH, READ, SEARCH (vtable entries) */
gboolean maildir_fetch (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                        const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
                        GError **error);
gboolean maildir_fetch_sizes (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                              const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
                              GError **error);
gssize maildir_read (gpointer data, const char *user, const char *name, guint32 uidvalidity, guint32 uid,
                     guint64 offset, void *buffer, gsize length, GError **error);
gboolean maildir_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                              PosthornSearchField field, const char *needle, GArray *out_uids,
                              GError **error);

/* ------------------------------------------------------------------ */
/* maildir-watch.c: inotify on cur/ and new/ of selected folders       */
/* ------------------------------------------------------------------ */

/* Starts the watch thread; NULL (with a warning logged) if inotify is not
 * available: changes are then seen on the next command only. */
MaildirWatch *maildir_watch_new (MaildirStore *store);
void maildir_watch_free (MaildirWatch *watch);
/* Watches @dir (a folder directory) for @user's mailbox @name; no-op when
 * already watched. Any thread. */
void maildir_watch_add (MaildirWatch *watch, const char *user, const char *name,
                        const char *dir);
/* Forgets the watches of @user's folders (after delete/rename). */
void maildir_watch_forget_user (MaildirWatch *watch, const char *user);

G_END_DECLS
