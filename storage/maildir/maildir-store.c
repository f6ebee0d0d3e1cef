/* storage-maildir: the store vtable over Maildir++ folders.
 *
 * Per user: a Maildir root (INBOX in cur/ new/ tmp/, other folders as
 * .Parent.Child), Dovecot's control files kept up to date
 * (dovecot-uidlist, dovecot-keywords, subscriptions), and our own index,
 * posthorn-index.db (SQLite, WAL): per folder UIDVALIDITY, UIDNEXT,
 * HIGHESTMODSEQ, the \Recent claim and what the last scan saw; per
 * message UID, file name, flags, keywords, MODSEQ, sizes, the parsed
 * PosthornMessageInfo and the search text; expunge tombstones.
 *
 * Every operation of this process runs under one mutex; other processes
 * (a second posthornd, Dovecot) are kept apart per folder by Dovecot's
 * dotlock, dovecot-uidlist.lock. A folder is scanned (readdir of new/ and
 * cur/) only when the mtime of one of them, or the stamp of a control
 * file, differs from what the last scan recorded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define INDEX_NAME "posthorn-index.db"
#define UIDLIST_NAME "dovecot-uidlist"
#define KEYWORDS_NAME "dovecot-keywords"
#define LOCK_NAME "dovecot-uidlist.lock"
#define SUBSCRIPTIONS_NAME "subscriptions"
/* Canonical offsets are recorded every this many file bytes for files
 * that are not in canonical CRLF form (LF-only files of other MDAs). */
#define LFMAP_STEP 65536
#define LOCK_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define LOCK_STALE_SECONDS 120

struct _MaildirStore {
  char *pattern;
  GMutex lock;            /* every operation of this process */
  GHashTable *users;      /* name -> MaildirUser */
  GHashTable *warned;     /* paths of non-Maildir files already warned about */
  MaildirWatch *watch;
};

typedef struct {
  char *name;
  char *root;
  sqlite3 *db;
  GHashTable *stmts;      /* SQL text address -> sqlite3_stmt */
} MaildirUser;

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

enum { STAMP_CUR, STAMP_NEW, STAMP_UIDLIST, STAMP_KEYWORDS };

static const char *const special_use_names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };

static const char *const schema[] = {
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS folders (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
  "special_use INTEGER NOT NULL DEFAULT 0, uidvalidity INTEGER NOT NULL, "
  "uidnext INTEGER NOT NULL DEFAULT 1, highestmodseq INTEGER NOT NULL DEFAULT 1, "
  "first_recent INTEGER NOT NULL DEFAULT 1, guid TEXT, cur_stamp TEXT NOT NULL DEFAULT '', "
  "new_stamp TEXT NOT NULL DEFAULT '', uidlist_stamp TEXT NOT NULL DEFAULT '', "
  "keywords_stamp TEXT NOT NULL DEFAULT '')",
  "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL, "
  "uid INTEGER NOT NULL, base TEXT NOT NULL, filename TEXT NOT NULL, flags INTEGER NOT NULL, "
  "keywords BLOB, modseq INTEGER NOT NULL, internal_date INTEGER NOT NULL, "
  "size INTEGER NOT NULL, file_size INTEGER NOT NULL, lfmap BLOB, info BLOB, "
  "UNIQUE (folder_id, uid))",
  "CREATE INDEX IF NOT EXISTS messages_base ON messages (folder_id, base)",
  "CREATE INDEX IF NOT EXISTS messages_modseq ON messages (folder_id, modseq)",
  "CREATE TABLE IF NOT EXISTS expunged (folder_id INTEGER NOT NULL, uid INTEGER NOT NULL, "
  "modseq INTEGER NOT NULL, PRIMARY KEY (folder_id, uid))",
  "CREATE TABLE IF NOT EXISTS keywords (folder_id INTEGER NOT NULL, idx INTEGER NOT NULL, "
  "name TEXT NOT NULL, PRIMARY KEY (folder_id, idx))",
  "CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5 (header_text, body_text, "
  "tokenize = 'trigram')",
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

static gboolean
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  g_set_error (error, POSTHORN_ERROR, errsv == ENOSPC || errsv == EDQUOT ? POSTHORN_ERROR_OVER_QUOTA
                                                                         : POSTHORN_ERROR_FAILED,
               "%s %s: %s", what, path, g_strerror (errsv));
  return FALSE;
}

static gboolean
not_found (GError **error, const char *name)
{
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no mailbox %s", name);
  return FALSE;
}

static gboolean
fsync_path (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int rc;

  if (fd < 0)
    return set_errno_error (error, errno, "cannot open", path);
  rc = fsync (fd);
  close (fd);
  if (rc < 0)
    return set_errno_error (error, errno, "cannot fsync", path);
  return TRUE;
}

static gboolean
mkdir_one (const char *path, GError **error)
{
  if (mkdir (path, 0700) < 0 && errno != EEXIST)
    return set_errno_error (error, errno, "cannot create", path);
  return TRUE;
}

static gboolean
is_dir (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Makes @dir a Maildir (cur/ new/ tmp/, plus the Maildir++ marker for a
 * sub-folder) and syncs its parent so it survives a crash. */
static gboolean
maildir_make (const char *dir, gboolean subfolder, GError **error)
{
  static const char *const subs[] = { "cur", "new", "tmp" };
  g_autofree char *parent = g_path_get_dirname (dir);

  if (g_mkdir_with_parents (parent, 0700) < 0)
    return set_errno_error (error, errno, "cannot create", parent);
  if (!mkdir_one (dir, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *sub = g_build_filename (dir, subs[i], NULL);

      if (!mkdir_one (sub, error))
        return FALSE;
    }
  if (subfolder)
    {
      g_autofree char *marker = g_build_filename (dir, "maildirfolder", NULL);
      int fd = open (marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

      if (fd >= 0)
        close (fd);
    }
  return fsync_path (dir, error) && fsync_path (parent, error);
}

/* What a stat says about a file or directory: mtime (ns), size, inode.
 * "-" for a missing file. */
static char *
stamp_of (const char *path, gboolean *recent)
{
  struct stat st;

  if (recent != NULL)
    *recent = FALSE;
  if (stat (path, &st) < 0)
    return g_strdup ("-");
  if (recent != NULL)
    {
      gint64 now = g_get_real_time ();
      gint64 mtime = (gint64) st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;

      /* File times come from a coarse clock: another change within the
       * same tick would leave the same mtime. Treat a fresh mtime as
       * "scan again next time". */
      *recent = now - mtime < G_USEC_PER_SEC;
    }
  return g_strdup_printf ("%lld.%09ld:%lld:%llu", (long long) st.st_mtim.tv_sec,
                          (long) st.st_mtim.tv_nsec, (long long) st.st_size,
                          (unsigned long long) st.st_ino);
}

static char *
folder_path (const MaildirFolder *folder, const char *a, const char *b)
{
  return g_build_filename (folder->dir, a, b, NULL);
}

static void
folder_clear (MaildirFolder *folder)
{
  g_clear_pointer (&folder->name, g_free);
  g_clear_pointer (&folder->dir, g_free);
  g_clear_pointer (&folder->guid, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (folder->stamps); i++)
    g_clear_pointer (&folder->stamps[i], g_free);
  g_warn_if_fail (folder->lock_path == NULL);
}

/* ------------------------------------------------------------------ */
/* the dotlock (Dovecot's dovecot-uidlist.lock)                        */
/* ------------------------------------------------------------------ */

static gboolean
lock_is_stale (const char *path)
{
  g_autofree char *content = NULL;
  struct stat st;
  char *colon;

  if (stat (path, &st) < 0)
    return FALSE;
  if (time (NULL) - st.st_mtime > LOCK_STALE_SECONDS)
    return TRUE;
  if (!g_file_get_contents (path, &content, NULL, NULL))
    return FALSE;
  colon = strchr (content, ':');
  if (colon != NULL)
    {
      long pid = strtol (content, NULL, 10);

      g_strchomp (colon + 1);
      /* A process of this host that no longer exists. */
      if (pid > 0 && strcmp (colon + 1, g_get_host_name ()) == 0 && kill ((pid_t) pid, 0) < 0 &&
          errno == ESRCH)
        return TRUE;
    }
  return FALSE;
}

static gboolean
folder_lock (MaildirFolder *folder, GError **error)
{
  g_autofree char *path = g_build_filename (folder->dir, LOCK_NAME, NULL);
  g_autofree char *content = g_strdup_printf ("%d:%s", (int) getpid (), g_get_host_name ());
  gint64 deadline = g_get_monotonic_time () + LOCK_TIMEOUT_US;
  gulong wait = 1000;

  if (folder->lock_path != NULL)
    return TRUE;
  for (;;)
    {
      int fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

      if (fd >= 0)
        {
          gboolean ok = write (fd, content, strlen (content)) == (gssize) strlen (content);

          close (fd);
          if (!ok)
            {
              g_unlink (path);
              return set_errno_error (error, errno, "cannot write", path);
            }
          folder->lock_path = g_steal_pointer (&path);
          return TRUE;
        }
      if (errno != EEXIST)
        return set_errno_error (error, errno, "cannot create", path);
      if (lock_is_stale (path))
        {
          g_message ("removing stale lock %s", path);
          g_unlink (path);
          continue;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_TEMPORARY, "%s is locked", path);
          return FALSE;
        }
      g_usleep (wait);
      wait = MIN (wait * 2, 50000);
    }
}

static void
folder_unlock (MaildirFolder *folder)
{
  if (folder->lock_path == NULL)
    return;
  g_unlink (folder->lock_path);
  g_clear_pointer (&folder->lock_path, g_free);
}

/* ------------------------------------------------------------------ */
/* the index database                                                  */
/* ------------------------------------------------------------------ */

static gboolean
db_error (MaildirUser *u, int rc, GError **error)
{
  g_set_error (error, POSTHORN_ERROR,
               rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? POSTHORN_ERROR_TEMPORARY
               : rc == SQLITE_FULL ? POSTHORN_ERROR_OVER_QUOTA : POSTHORN_ERROR_FAILED,
               "%s/" INDEX_NAME ": %s", u->root, sqlite3_errmsg (u->db));
  return FALSE;
}

static sqlite3_stmt *
db_stmt (MaildirUser *u, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (u->stmts, sql);
  int rc;

  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  rc = sqlite3_prepare_v3 (u->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      db_error (u, rc, error);
      return NULL;
    }
  g_hash_table_insert (u->stmts, (gpointer) sql, stmt);
  return stmt;
}

static gboolean
db_exec (MaildirUser *u, const char *sql, GError **error)
{
  int rc = sqlite3_exec (u->db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK || db_error (u, rc, error);
}

static gboolean
db_done (MaildirUser *u, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  return rc == SQLITE_DONE || rc == SQLITE_ROW || db_error (u, rc, error);
}

static gboolean
db_begin (MaildirUser *u, GError **error)
{
  return db_exec (u, "BEGIN IMMEDIATE", error);
}

static gboolean
db_end (MaildirUser *u, gboolean ok, GError **error)
{
  if (ok)
    {
      if (db_exec (u, "COMMIT", error))
        return TRUE;
    }
  sqlite3_exec (u->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

static gint64
meta_get (MaildirUser *u, const char *key)
{
  sqlite3_stmt *stmt = db_stmt (u, "SELECT value FROM meta WHERE key = ?1", NULL);
  gint64 v = 0;

  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    v = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return v;
}

static gboolean
meta_set (MaildirUser *u, const char *key, gint64 value, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, value);
  return db_done (u, stmt, error);
}

static void
stmt_finalize (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static void
user_free (MaildirUser *u)
{
  g_hash_table_unref (u->stmts);
  if (u->db != NULL)
    sqlite3_close_v2 (u->db);
  g_free (u->name);
  g_free (u->root);
  g_free (u);
}

/* The user's context, opening (and with @create making) the Maildir root
 * and the index. */
static MaildirUser *
user_get (MaildirStore *store, const char *name, gboolean create, GError **error)
{
  MaildirUser *u = g_hash_table_lookup (store->users, name);
  g_autofree char *root = NULL;
  g_autofree char *db_path = NULL;
  int rc;

  if (u != NULL)
    return u;
  root = maildir_expand_path (store->pattern, name, error);
  if (root == NULL)
    return NULL;
  if (!is_dir (root))
    {
      if (!create)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no mail for %s", name);
          return NULL;
        }
      if (!maildir_make (root, FALSE, error))
        return NULL;
    }
  db_path = g_build_filename (root, INDEX_NAME, NULL);
  u = g_new0 (MaildirUser, 1);
  u->name = g_strdup (name);
  u->root = g_steal_pointer (&root);
  u->stmts = g_hash_table_new_full (NULL, NULL, NULL, stmt_finalize);
  rc = sqlite3_open_v2 (db_path, &u->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      db_error (u, rc, error);
      user_free (u);
      return NULL;
    }
  sqlite3_busy_timeout (u->db, 30000);
  if (!db_exec (u, "PRAGMA journal_mode=WAL", error) ||
      !db_exec (u, "PRAGMA synchronous=FULL", error) ||
      !db_begin (u, error))
    {
      user_free (u);
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (schema); i++)
    if (!db_exec (u, schema[i], error))
      {
        sqlite3_exec (u->db, "ROLLBACK", NULL, NULL, NULL);
        user_free (u);
        return NULL;
      }
  if (!db_end (u, TRUE, error))
    {
      user_free (u);
      return NULL;
    }
  g_hash_table_insert (store->users, u->name, u);
  return u;
}

/* A new UIDVALIDITY: the time, but above every one this user had. */
static gboolean
next_uidvalidity (MaildirUser *u, guint32 *out, GError **error)
{
  gint64 last = meta_get (u, "uidvalidity");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  last = MAX (last + 1, now & 0x7fffffff);
  if (last > G_MAXUINT32)
    last = 1;
  *out = (guint32) last;
  return meta_set (u, "uidvalidity", last, error);
}

/* ---- keyword sets: packed little-endian guint32, ascending ---- */

static void
keywords_from_blob (const void *blob, int size, GArray *out)
{
  const guint8 *data = blob;

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

static gboolean
keyword_set_contains (GArray *set, guint32 v)
{
  for (guint i = 0; i < set->len; i++)
    if (g_array_index (set, guint32, i) == v)
      return TRUE;
  return FALSE;
}

static guint32
keyword_letters (GArray *set)
{
  guint32 mask = 0;

  for (guint i = 0; i < set->len; i++)
    if (g_array_index (set, guint32, i) < 26)
      mask |= 1u << g_array_index (set, guint32, i);
  return mask;
}

/* The folder's keyword names by index (holes "$unused"), NULL-terminated. */
static GPtrArray *
keywords_list (MaildirUser *u, gint64 folder_id, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = db_stmt (u, "SELECT idx, name FROM keywords WHERE folder_id = ?1 ORDER BY idx",
                                error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, folder_id);
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
      db_error (u, rc, error);
      return NULL;
    }
  g_ptr_array_add (names, NULL);
  return g_steal_pointer (&names);
}

/* The index of keyword @name (any case), added when missing. *@added
 * tells the caller to rewrite dovecot-keywords. */
static gboolean
keyword_index (MaildirUser *u, gint64 folder_id, const char *name, guint32 *out,
               gboolean *added, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "SELECT idx FROM keywords WHERE folder_id = ?1 AND "
                                   "name = ?2 COLLATE NOCASE", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, folder_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out = (guint32) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc != SQLITE_DONE)
    return db_error (u, rc, error);
  stmt = db_stmt (u, "INSERT INTO keywords (folder_id, idx, name) VALUES (?1, (SELECT "
                     "COALESCE (MAX (idx) + 1, 0) FROM keywords WHERE folder_id = ?1), ?2) "
                     "RETURNING idx", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, folder_id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out = (guint32) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    return db_error (u, rc, error);
  *added = TRUE;
  return TRUE;
}

static GArray *
keywords_resolve (MaildirUser *u, gint64 folder_id, const char *const *names, gboolean *added,
                  GError **error)
{
  g_autoptr(GArray) set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      guint32 idx;

      if (!keyword_index (u, folder_id, names[i], &idx, added, error))
        return NULL;
      g_array_append_val (set, idx);
    }
  keyword_set_normalize (set);
  return g_steal_pointer (&set);
}

/* ------------------------------------------------------------------ */
/* folders                                                             */
/* ------------------------------------------------------------------ */

static char *
folder_dir_of (MaildirUser *u, const char *name)
{
  g_autofree char *rel = maildir_name_to_dir (name);

  return *rel == '\0' ? g_strdup (u->root) : g_build_filename (u->root, rel, NULL);
}

static PosthornSpecialUse
special_use_by_name (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (special_use_names); i++)
    if (strcmp (name, special_use_names[i]) == 0)
      return 1u << i;
  return POSTHORN_SPECIAL_USE_NONE;
}

#define FOLDER_COLUMNS "id, name, special_use, uidvalidity, uidnext, highestmodseq, " \
                       "first_recent, guid, cur_stamp, new_stamp, uidlist_stamp, keywords_stamp"

static void
folder_from_row (MaildirUser *u, sqlite3_stmt *stmt, MaildirFolder *f)
{
  f->id = sqlite3_column_int64 (stmt, 0);
  f->name = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  f->special_use = sqlite3_column_int (stmt, 2);
  f->uidvalidity = (guint32) sqlite3_column_int64 (stmt, 3);
  f->uidnext = (guint32) sqlite3_column_int64 (stmt, 4);
  f->highestmodseq = (guint64) sqlite3_column_int64 (stmt, 5);
  f->first_recent = (guint32) sqlite3_column_int64 (stmt, 6);
  f->guid = g_strdup ((const char *) sqlite3_column_text (stmt, 7));
  for (guint i = 0; i < 4; i++)
    f->stamps[i] = g_strdup ((const char *) sqlite3_column_text (stmt, 8 + (int) i));
  f->dir = folder_dir_of (u, f->name);
}

/* Reads @name's row; FALSE without error when there is none. */
static gboolean
folder_read (MaildirUser *u, const char *name, MaildirFolder *f, gboolean *found, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "SELECT " FOLDER_COLUMNS " FROM folders WHERE name = ?1", error);
  int rc;

  *found = FALSE;
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      char *lock = f->lock_path;

      f->lock_path = NULL;
      folder_clear (f);
      folder_from_row (u, stmt, f);
      f->lock_path = lock;
      *found = TRUE;
    }
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW || rc == SQLITE_DONE || db_error (u, rc, error);
}

static gboolean
folder_save (MaildirUser *u, const MaildirFolder *f, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "UPDATE folders SET uidvalidity = ?2, uidnext = ?3, "
                                   "highestmodseq = ?4, first_recent = ?5, guid = ?6, "
                                   "cur_stamp = ?7, new_stamp = ?8, uidlist_stamp = ?9, "
                                   "keywords_stamp = ?10 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, f->uidvalidity);
  sqlite3_bind_int64 (stmt, 3, f->uidnext);
  sqlite3_bind_int64 (stmt, 4, (gint64) f->highestmodseq);
  sqlite3_bind_int64 (stmt, 5, f->first_recent);
  sqlite3_bind_text (stmt, 6, f->guid, -1, SQLITE_STATIC);
  for (int i = 0; i < 4; i++)
    sqlite3_bind_text (stmt, 7 + i, f->stamps[i], -1, SQLITE_STATIC);
  return db_done (u, stmt, error);
}

static gboolean
read_uidlist (const char *dir, MaildirUidlist *out)
{
  g_autofree char *path = g_build_filename (dir, UIDLIST_NAME, NULL);
  g_autofree char *data = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return FALSE;
  if (!maildir_uidlist_parse (data, len, out, &error))
    {
      g_warning ("%s: %s; ignoring it", path, error->message);
      return FALSE;
    }
  return TRUE;
}

static char *
new_guid (void)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < 4; i++)
    g_string_append_printf (s, "%08x", g_random_int ());
  return g_string_free (s, FALSE);
}

/* Adds the row of an existing folder directory (made by us before, or by
 * Dovecot): its UIDVALIDITY from dovecot-uidlist when there is one. Its
 * messages are read by the first scan. */
static gboolean
folder_insert (MaildirUser *u, const char *name, PosthornSpecialUse special_use,
               gboolean adopt, GError **error)
{
  g_autofree char *dir = folder_dir_of (u, name);
  MaildirUidlist uidlist = { 0 };
  g_autofree char *guid = NULL;
  guint32 uidvalidity;
  sqlite3_stmt *stmt;
  gboolean ok;

  if (adopt && read_uidlist (dir, &uidlist))
    {
      uidvalidity = uidlist.uidvalidity;
      guid = g_strdup (uidlist.guid);
      if ((gint64) uidvalidity > meta_get (u, "uidvalidity") &&
          !meta_set (u, "uidvalidity", uidvalidity, error))
        {
          maildir_uidlist_clear (&uidlist);
          return FALSE;
        }
      maildir_uidlist_clear (&uidlist);
    }
  else if (!next_uidvalidity (u, &uidvalidity, error))
    return FALSE;
  if (guid == NULL)
    guid = new_guid ();
  stmt = db_stmt (u, "INSERT INTO folders (name, special_use, uidvalidity, guid) "
                     "VALUES (?1, ?2, ?3, ?4)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, special_use);
  sqlite3_bind_int64 (stmt, 3, uidvalidity);
  sqlite3_bind_text (stmt, 4, guid, -1, SQLITE_STATIC);
  ok = db_done (u, stmt, error);
  return ok;
}

/* Removes the folder's rows (its directory is gone or going). */
static gboolean
folder_forget (MaildirUser *u, gint64 id, GError **error)
{
  static const char *const sql[] = {
    "DELETE FROM search WHERE rowid IN (SELECT id FROM messages WHERE folder_id = ?1)",
    "DELETE FROM messages WHERE folder_id = ?1",
    "DELETE FROM expunged WHERE folder_id = ?1",
    "DELETE FROM keywords WHERE folder_id = ?1",
    "DELETE FROM folders WHERE id = ?1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *stmt = db_stmt (u, sql[i], error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, id);
      if (!db_done (u, stmt, error))
        return FALSE;
    }
  return TRUE;
}

/* Finds mailbox @name: its row, adopting a directory another program made
 * and dropping a row whose directory another program removed. */
static gboolean
folder_lookup (MaildirUser *u, const char *name, guint32 uidvalidity, MaildirFolder *f,
               GError **error)
{
  g_autofree char *dir = folder_dir_of (u, name);
  g_autofree char *cur = g_build_filename (dir, "cur", NULL);
  gboolean exists = is_dir (cur);
  gboolean found;

  if (!folder_read (u, name, f, &found, error))
    return FALSE;
  if (found != exists)
    {
      gboolean ok = db_begin (u, error) &&
                    folder_read (u, name, f, &found, error);

      if (ok && found && !exists)
        ok = folder_forget (u, f->id, error);
      else if (ok && !found && exists)
        ok = folder_insert (u, name, special_use_by_name (name), TRUE, error);
      if (!db_end (u, ok, error))
        return FALSE;
      if (!folder_read (u, name, f, &found, error))
        return FALSE;
    }
  if (!found)
    return not_found (error, name);
  if (uidvalidity != 0 && uidvalidity != f->uidvalidity)
    return not_found (error, name);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* control files                                                       */
/* ------------------------------------------------------------------ */

/* Writes @path through a temporary file and rename (atomic for readers). */
static gboolean
replace_file (const char *path, const char *data, gsize len, gboolean durable, GError **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.%d.tmp", path, (int) getpid ());
  int fd = open (tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  gsize done = 0;

  if (fd < 0)
    return set_errno_error (error, errno, "cannot create", tmp);
  while (done < len)
    {
      gssize n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;

          close (fd);
          g_unlink (tmp);
          return set_errno_error (error, errsv, "cannot write", tmp);
        }
      done += (gsize) n;
    }
  if ((durable && fsync (fd) < 0) || close (fd) < 0 || rename (tmp, path) < 0)
    {
      int errsv = errno;

      g_unlink (tmp);
      return set_errno_error (error, errsv, "cannot write", path);
    }
  return TRUE;
}

/* Rewrites dovecot-uidlist from the index (under the folder's lock). */
static gboolean
uidlist_write (MaildirUser *u, MaildirFolder *f, GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *path = folder_path (f, UIDLIST_NAME, NULL);
  sqlite3_stmt *stmt = db_stmt (u, "SELECT uid, base FROM messages WHERE folder_id = ?1 ORDER BY uid",
                                error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  g_string_append_printf (out, "3 V%u N%u G%s\n", f->uidvalidity, f->uidnext,
                          f->guid != NULL ? f->guid : "");
  sqlite3_bind_int64 (stmt, 1, f->id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_string_append_printf (out, "%u :%s\n", (guint32) sqlite3_column_int64 (stmt, 0),
                            (const char *) sqlite3_column_text (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return db_error (u, rc, error);
  if (!replace_file (path, out->str, out->len, FALSE, error))
    return FALSE;
  g_free (f->stamps[STAMP_UIDLIST]);
  f->stamps[STAMP_UIDLIST] = stamp_of (path, NULL);
  return TRUE;
}

/* Appends records for new messages, as Dovecot does between rewrites. */
static gboolean
uidlist_append (MaildirFolder *f, GString *lines, GError **error)
{
  g_autofree char *path = folder_path (f, UIDLIST_NAME, NULL);
  int fd;
  gboolean ok;

  if (lines->len == 0)
    return TRUE;
  fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0)
    return set_errno_error (error, errno, "cannot open", path);
  ok = write (fd, lines->str, lines->len) == (gssize) lines->len;
  close (fd);
  if (!ok)
    return set_errno_error (error, errno, "cannot write", path);
  g_free (f->stamps[STAMP_UIDLIST]);
  f->stamps[STAMP_UIDLIST] = stamp_of (path, NULL);
  return TRUE;
}

/* Rewrites dovecot-keywords: the first 26 keywords have letters. */
static gboolean
keywords_write (MaildirUser *u, MaildirFolder *f, GError **error)
{
  g_autoptr(GPtrArray) names = keywords_list (u, f->id, error);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *path = folder_path (f, KEYWORDS_NAME, NULL);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i + 1 < names->len && i < 26; i++)
    if (strcmp (names->pdata[i], "$unused") != 0)
      g_string_append_printf (out, "%u %s\n", i, (const char *) names->pdata[i]);
  if (!replace_file (path, out->str, out->len, FALSE, error))
    return FALSE;
  g_free (f->stamps[STAMP_KEYWORDS]);
  f->stamps[STAMP_KEYWORDS] = stamp_of (path, NULL);
  return TRUE;
}

/* Adds keywords of dovecot-keywords the index does not know, at their
 * index when it is free (so that letters and indexes agree). */
static gboolean
keywords_merge (MaildirUser *u, MaildirFolder *f, gboolean *keywords_added, GError **error)
{
  g_autofree char *path = folder_path (f, KEYWORDS_NAME, NULL);
  g_autofree char *data = NULL;
  g_autoptr(GPtrArray) file = NULL;
  g_autoptr(GPtrArray) known = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return TRUE;
  file = maildir_keywords_parse (data, len);
  known = keywords_list (u, f->id, error);
  if (known == NULL)
    return FALSE;
  for (guint i = 0; i < file->len; i++)
    {
      const char *name = file->pdata[i];
      gboolean have = FALSE;

      if (name == NULL)
        continue;
      for (guint j = 0; j + 1 < known->len && !have; j++)
        have = g_ascii_strcasecmp (known->pdata[j], name) == 0;
      if (have)
        continue;
      if (i + 1 < known->len)
        {
          /* The index is taken: a new index (and letter) for the name. */
          guint32 idx;

          if (!keyword_index (u, f->id, name, &idx, keywords_added, error))
            return FALSE;
        }
      else
        {
          sqlite3_stmt *stmt = db_stmt (u, "INSERT INTO keywords (folder_id, idx, name) VALUES (?1, ?2, ?3)",
                                        error);

          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_int64 (stmt, 2, i);
          sqlite3_bind_text (stmt, 3, name, -1, SQLITE_STATIC);
          if (!db_done (u, stmt, error))
            return FALSE;
        }
      g_ptr_array_unref (known);
      known = keywords_list (u, f->id, error);
      if (known == NULL)
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* message files                                                       */
/* ------------------------------------------------------------------ */

/* A new unique base name: time.MusecPpidQn.host,S=size,W=size. */
static char *
unique_base (guint64 size)
{
  static gint counter;
  gint64 now = g_get_real_time ();
  GString *host = g_string_new (NULL);

  for (const char *p = g_get_host_name (); *p != '\0'; p++)
    {
      if (*p == '/')
        g_string_append (host, "\\057");
      else if (*p == ':')
        g_string_append (host, "\\072");
      else if (*p == ',')
        g_string_append (host, "\\054");
      else
        g_string_append_c (host, *p);
    }
  return g_strdup_printf ("%" G_GINT64_FORMAT ".M%06dP%dQ%d.%s,S=%" G_GUINT64_FORMAT
                          ",W=%" G_GUINT64_FORMAT, now / G_USEC_PER_SEC,
                          (int) (now % G_USEC_PER_SEC), (int) getpid (),
                          g_atomic_int_add (&counter, 1), g_string_free (host, FALSE) ,
                          size, size);
}

/* Canonical offsets at every LFMAP_STEP file bytes of a file with bare
 * LFs (little-endian guint64 each), and the canonical size. */
static GBytes *
lfmap_compute (const guint8 *data, gsize len, guint64 *canonical_size)
{
  g_autoptr(GByteArray) map = g_byte_array_new ();
  guint64 c = 0;

  for (gsize f = 0; f < len; f++)
    {
      if (f % LFMAP_STEP == 0)
        {
          guint64 le = GUINT64_TO_LE (c);

          g_byte_array_append (map, (const guint8 *) &le, 8);
        }
      if (data[f] == '\n' && (f == 0 || data[f - 1] != '\r'))
        c++;
      c++;
    }
  *canonical_size = c;
  return g_byte_array_free_to_bytes (g_steal_pointer (&map));
}

/* pread() of canonical bytes [offset, offset + length) from a file with
 * bare LFs, starting at the nearest recorded point. */
static gssize
lfmap_read (int fd, const guint8 *map, gsize map_len, guint64 offset, guint8 *buffer,
            gsize length, GError **error)
{
  gsize n_points = map_len / 8;
  gsize k = 0;
  guint64 c, f;
  gboolean prev_cr = FALSE;
  guint8 block[8192];
  gsize done = 0;

  for (gsize lo = 0, hi = n_points; lo < hi;)
    {
      gsize mid = lo + (hi - lo) / 2;
      guint64 v;

      memcpy (&v, map + mid * 8, 8);
      if (GUINT64_FROM_LE (v) <= offset)
        {
          k = mid;
          lo = mid + 1;
        }
      else
        hi = mid;
    }
  if (n_points == 0)
    return 0;
  memcpy (&c, map + k * 8, 8);
  c = GUINT64_FROM_LE (c);
  f = (guint64) k * LFMAP_STEP;
  if (f > 0)
    {
      guint8 b;

      if (pread (fd, &b, 1, (off_t) f - 1) == 1)
        prev_cr = b == '\r';
    }
  while (done < length)
    {
      gssize n = pread (fd, block, sizeof block, (off_t) f);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          set_errno_error (error, errno, "cannot read", "message file");
          return -1;
        }
      if (n == 0)
        break;
      for (gssize i = 0; i < n && done < length; i++)
        {
          guint8 b = block[i];

          if (b == '\n' && !prev_cr)
            {
              if (c >= offset)
                buffer[done++] = '\r';
              c++;
              if (done == length)
                break;
            }
          if (c >= offset)
            buffer[done++] = b;
          c++;
          prev_cr = b == '\r';
        }
      f += (guint64) n;
    }
  return (gssize) done;
}

/* What a scan learns from a file another program wrote. */
typedef struct {
  guint64 size;         /* canonical */
  guint64 file_size;
  GBytes *lfmap;        /* NULL for canonical files */
  GBytes *info;
  char *header_text;
  char *body_text;
  gint64 internal_date;
} ImportedFile;

static void
imported_file_clear (ImportedFile *imp)
{
  g_clear_pointer (&imp->lfmap, g_bytes_unref);
  g_clear_pointer (&imp->info, g_bytes_unref);
  g_clear_pointer (&imp->header_text, g_free);
  g_clear_pointer (&imp->body_text, g_free);
}

static gboolean
import_file (const char *path, ImportedFile *imp, GError **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(PosthornMessage) msg = NULL;
  g_autoptr(PosthornMessageInfo) info = NULL;
  const guint8 *data;
  gsize len;
  struct stat st;

  memset (imp, 0, sizeof (*imp));
  if (stat (path, &st) < 0)
    return set_errno_error (error, errno, "cannot stat", path);
  if (st.st_size == 0)
    bytes = g_bytes_new_static ("", 0);
  else
    {
      mapped = g_mapped_file_new (path, FALSE, error);
      if (mapped == NULL)
        return FALSE;
      bytes = g_mapped_file_get_bytes (mapped);
    }
  data = g_bytes_get_data (bytes, &len);
  imp->file_size = len;
  imp->internal_date = st.st_mtime;
  msg = posthorn_message_new_from_bytes (bytes);
  imp->size = posthorn_message_get_size (msg);
  if (imp->size != len)
    {
      guint64 size;

      imp->lfmap = lfmap_compute (data, len, &size);
      g_warn_if_fail (size == imp->size);
    }
  info = posthorn_message_info_parse (msg, error);
  if (info == NULL)
    return FALSE;
  imp->info = posthorn_message_info_serialize (info);
  if (!posthorn_message_extract_search_text (msg, info, &imp->body_text, &imp->header_text, error))
    {
      imported_file_clear (imp);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* message rows                                                        */
/* ------------------------------------------------------------------ */

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
} MessageRow;

#define MESSAGE_COLUMNS "id, uid, base, filename, flags, keywords, modseq, internal_date, size, file_size"

static void
message_row_free (gpointer p)
{
  MessageRow *row = p;

  g_array_unref (row->keywords);
  g_free (row->base);
  g_free (row->filename);
  g_free (row);
}

static MessageRow *
message_row_read (sqlite3_stmt *stmt)
{
  MessageRow *row = g_new0 (MessageRow, 1);

  row->id = sqlite3_column_int64 (stmt, 0);
  row->uid = (guint32) sqlite3_column_int64 (stmt, 1);
  row->base = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  row->filename = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
  row->flags = (guint32) sqlite3_column_int64 (stmt, 4);
  row->keywords = g_array_new (FALSE, FALSE, sizeof (guint32));
  keywords_from_blob (sqlite3_column_blob (stmt, 5), sqlite3_column_bytes (stmt, 5), row->keywords);
  row->modseq = (guint64) sqlite3_column_int64 (stmt, 6);
  row->internal_date = sqlite3_column_int64 (stmt, 7);
  row->size = (guint64) sqlite3_column_int64 (stmt, 8);
  row->file_size = (guint64) sqlite3_column_int64 (stmt, 9);
  return row;
}

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

/* The rows of @uids (ascending), or every row with @all. */
static GPtrArray *
messages_collect (MaildirUser *u, const MaildirFolder *f, const guint32 *uids, guint n_uids,
                  gboolean all, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (message_row_free);
  sqlite3_stmt *stmt;
  guint32 lo, hi;
  int rc;

  if (!all && n_uids == 0)
    return g_steal_pointer (&rows);
  lo = all ? 1 : uids[0];
  hi = all ? G_MAXUINT32 : uids[n_uids - 1];
  if (!all && (guint64) n_uids * 16 < (guint64) (hi - lo))
    {
      stmt = db_stmt (u, "SELECT " MESSAGE_COLUMNS " FROM messages WHERE folder_id = ?1 AND uid = ?2",
                      error);
      if (stmt == NULL)
        return NULL;
      for (guint i = 0; i < n_uids; i++)
        {
          sqlite3_reset (stmt);
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_int64 (stmt, 2, uids[i]);
          rc = sqlite3_step (stmt);
          if (rc == SQLITE_ROW)
            g_ptr_array_add (rows, message_row_read (stmt));
          else if (rc != SQLITE_DONE)
            {
              sqlite3_reset (stmt);
              db_error (u, rc, error);
              return NULL;
            }
        }
      sqlite3_reset (stmt);
      return g_steal_pointer (&rows);
    }
  stmt = db_stmt (u, "SELECT " MESSAGE_COLUMNS " FROM messages WHERE folder_id = ?1 AND "
                     "uid BETWEEN ?2 AND ?3 ORDER BY uid", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, lo);
  sqlite3_bind_int64 (stmt, 3, hi);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (all || uid_in_set (uids, n_uids, (guint32) sqlite3_column_int64 (stmt, 1)))
      g_ptr_array_add (rows, message_row_read (stmt));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      db_error (u, rc, error);
      return NULL;
    }
  return g_steal_pointer (&rows);
}

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
} NewRow;

static gboolean
message_insert (MaildirUser *u, const MaildirFolder *f, const NewRow *r, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "INSERT INTO messages (folder_id, uid, base, filename, flags, "
                                   "keywords, modseq, internal_date, size, file_size, lfmap, info) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                error);
  gint64 id;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, r->uid);
  sqlite3_bind_text (stmt, 3, r->base, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, r->filename, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, r->flags & POSTHORN_MESSAGE_STORED_FLAGS);
  keywords_bind (stmt, 6, r->keywords);
  sqlite3_bind_int64 (stmt, 7, (gint64) r->modseq);
  sqlite3_bind_int64 (stmt, 8, r->internal_date);
  sqlite3_bind_int64 (stmt, 9, (gint64) r->size);
  sqlite3_bind_int64 (stmt, 10, (gint64) r->file_size);
  if (r->lfmap != NULL)
    sqlite3_bind_blob (stmt, 11, g_bytes_get_data (r->lfmap, NULL), (int) g_bytes_get_size (r->lfmap),
                       SQLITE_STATIC);
  if (r->info != NULL)
    sqlite3_bind_blob (stmt, 12, g_bytes_get_data (r->info, NULL), (int) g_bytes_get_size (r->info),
                       SQLITE_STATIC);
  if (!db_done (u, stmt, error))
    return FALSE;
  id = sqlite3_last_insert_rowid (u->db);
  if (r->copy_search_from > 0)
    {
      stmt = db_stmt (u, "INSERT INTO search (rowid, header_text, body_text) SELECT ?1, "
                         "header_text, body_text FROM search WHERE rowid = ?2", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, id);
      sqlite3_bind_int64 (stmt, 2, r->copy_search_from);
      return db_done (u, stmt, error);
    }
  stmt = db_stmt (u, "INSERT INTO search (rowid, header_text, body_text) VALUES (?1, ?2, ?3)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, r->header_text != NULL ? r->header_text : "", -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, r->body_text != NULL ? r->body_text : "", -1, SQLITE_STATIC);
  return db_done (u, stmt, error);
}

/* Removes a message's row and leaves its tombstone. */
static gboolean
message_remove (MaildirUser *u, MaildirFolder *f, const MessageRow *row, guint64 *modseq,
                GError **error)
{
  static const char *const sql[] = {
    "DELETE FROM search WHERE rowid = ?1",
    "DELETE FROM messages WHERE id = ?1",
  };
  sqlite3_stmt *stmt;

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      stmt = db_stmt (u, sql[i], error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, row->id);
      if (!db_done (u, stmt, error))
        return FALSE;
    }
  *modseq = ++f->highestmodseq;
  stmt = db_stmt (u, "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?1, ?2, ?3)",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, row->uid);
  sqlite3_bind_int64 (stmt, 3, (gint64) *modseq);
  return db_done (u, stmt, error);
}

static gboolean
message_update (MaildirUser *u, const MessageRow *row, const char *filename, guint32 flags,
                GArray *keywords, guint64 modseq, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "UPDATE messages SET filename = ?2, flags = ?3, keywords = ?4, "
                                   "modseq = ?5 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, row->id);
  sqlite3_bind_text (stmt, 2, filename, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, flags);
  keywords_bind (stmt, 4, keywords);
  sqlite3_bind_int64 (stmt, 5, (gint64) modseq);
  return db_done (u, stmt, error);
}

/* ------------------------------------------------------------------ */
/* scanning: what other programs changed                               */
/* ------------------------------------------------------------------ */

typedef struct {
  char *name;             /* file name in its sub-directory */
  gboolean in_new;
  MaildirFileName parsed;
} DiskEntry;

static void
disk_entry_free (gpointer p)
{
  DiskEntry *e = p;

  g_free (e->name);
  g_free (e);
}

/* Reads cur/ or new/ into @by_base (base -> DiskEntry); an entry already
 * there (seen in new/ before it moved to cur/) is replaced. Files that are
 * not Maildir messages are skipped with one warning each. */
static gboolean
read_entries (MaildirStore *store, MaildirFolder *f, const char *sub, GHashTable *by_base,
              GError **error)
{
  g_autofree char *path = folder_path (f, sub, NULL);
  g_autoptr(GDir) dir = NULL;
  GError *local = NULL;
  const char *name;

  dir = g_dir_open (path, 0, &local);
  if (dir == NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      DiskEntry *e;
      g_autofree char *full = NULL;
      struct stat st;

      if (name[0] == '.')
        continue;
      e = g_new0 (DiskEntry, 1);
      full = g_build_filename (path, name, NULL);
      if (!maildir_filename_parse (name, &e->parsed) || lstat (full, &st) < 0 ||
          !S_ISREG (st.st_mode))
        {
          if (g_hash_table_add (store->warned, g_strdup (full)))
            g_warning ("ignoring %s: not a Maildir message file", full);
          g_free (e);
          continue;
        }
      e->name = g_strdup (name);
      e->in_new = strcmp (sub, "new") == 0;
      g_hash_table_replace (by_base, g_strndup (name, e->parsed.base_len), e);
    }
  return TRUE;
}

static void
event_add (GPtrArray *events, PosthornEventKind kind, const char *user, const char *name,
           guint32 uid, guint64 modseq)
{
  PosthornEvent *ev = posthorn_event_new (kind, user, name);

  posthorn_event_set_uid (ev, uid);
  posthorn_event_set_modseq (ev, modseq);
  g_ptr_array_add (events, ev);
}

static void
events_publish (GPtrArray *events)
{
  for (guint i = 0; i < events->len; i++)
    posthorn_event_publish (g_steal_pointer (&events->pdata[i]));
  g_ptr_array_set_size (events, 0);
}

/* Keyword indexes of a file name's letters, plus the message's keywords
 * beyond 'z' (which only the index knows). */
static GArray *
keywords_from_name (const MaildirFileName *parsed, GArray *old, guint n_known)
{
  GArray *set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint32 i = 0; i < 26; i++)
    if ((parsed->keywords & (1u << i)) && i < n_known)
      g_array_append_val (set, i);
  for (guint i = 0; old != NULL && i < old->len; i++)
    if (g_array_index (old, guint32, i) >= 26)
      g_array_append_val (set, g_array_index (old, guint32, i));
  keyword_set_normalize (set);
  return set;
}

static gboolean
keyword_sets_equal (GArray *a, GArray *b)
{
  return a->len == b->len && memcmp (a->data, b->data, a->len * sizeof (guint32)) == 0;
}

typedef struct {
  DiskEntry *entry;
  const char *base;
  guint32 listed_uid;     /* from dovecot-uidlist, or 0 */
} NewFile;

static int
new_file_compare (gconstpointer a, gconstpointer b)
{
  const NewFile *x = a, *y = b;
  guint64 kx = x->listed_uid != 0 ? x->listed_uid : G_MAXUINT64;
  guint64 ky = y->listed_uid != 0 ? y->listed_uid : G_MAXUINT64;

  if (kx != ky)
    return kx < ky ? -1 : 1;
  return strcmp (x->entry->name, y->entry->name);
}

/* Moves a file from new/ to cur/ (as Dovecot does once it has a UID). */
static gboolean
entry_move_to_cur (MaildirFolder *f, DiskEntry *e, GError **error)
{
  g_autofree char *from = folder_path (f, "new", e->name);
  g_autofree char *name = e->parsed.has_info ? g_strdup (e->name) : g_strconcat (e->name, ":2,", NULL);
  g_autofree char *to = folder_path (f, "cur", name);

  if (rename (from, to) < 0)
    return set_errno_error (error, errno, "cannot move", from);
  g_free (e->name);
  e->name = g_steal_pointer (&name);
  e->parsed.has_info = TRUE;
  e->in_new = FALSE;
  return TRUE;
}

static gboolean
stamps_current (MaildirFolder *f, char **now)
{
  static const char *const names[] = { "cur", "new", UIDLIST_NAME, KEYWORDS_NAME };
  gboolean same = TRUE;

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *path = folder_path (f, names[i], NULL);

      now[i] = stamp_of (path, NULL);
      same = same && f->stamps[i] != NULL && strcmp (now[i], f->stamps[i]) == 0;
    }
  return same;
}

static void
stamps_free (char **now)
{
  for (guint i = 0; i < 4; i++)
    g_clear_pointer (&now[i], g_free);
}

static gboolean
refresh_locked (MaildirStore *store, MaildirUser *u, MaildirFolder *f, gboolean force,
                GError **error)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_event_unref);
  g_autoptr(GHashTable) disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, disk_entry_free);
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) fresh = g_array_new (FALSE, FALSE, sizeof (NewFile));
  g_autoptr(GPtrArray) known = NULL;
  MaildirUidlist uidlist = { 0 };
  gboolean have_uidlist = FALSE;
  gboolean changed = FALSE, moved = FALSE, keywords_added = FALSE;
  char *now[4] = { NULL };
  g_autofree char *cur_path = folder_path (f, "cur", NULL);
  g_autofree char *new_path = folder_path (f, "new", NULL);
  g_autofree char *cur_stamp = NULL, *new_stamp = NULL;
  gboolean cur_recent, new_recent, full, found;
  gboolean ok;

  if (!db_begin (u, error))
    return FALSE;
  ok = folder_read (u, f->name, f, &found, error);
  if (ok && !found)
    ok = not_found (error, f->name);
  if (!ok)
    return db_end (u, FALSE, NULL);
  if (stamps_current (f, now) && !force)
    {
      stamps_free (now);
      return db_end (u, TRUE, error);
    }

  full = force || strcmp (now[STAMP_CUR], f->stamps[STAMP_CUR]) != 0 ||
         strcmp (now[STAMP_UIDLIST], f->stamps[STAMP_UIDLIST]) != 0 ||
         strcmp (now[STAMP_KEYWORDS], f->stamps[STAMP_KEYWORDS]) != 0;

  if (strcmp (now[STAMP_UIDLIST], f->stamps[STAMP_UIDLIST]) != 0 || force)
    {
      have_uidlist = read_uidlist (f->dir, &uidlist);
      if (have_uidlist && uidlist.uidvalidity != f->uidvalidity)
        {
          /* Another program re-created the folder: a new UIDVALIDITY, and
           * every message is new. */
          static const char *const sql[] = {
            "DELETE FROM search WHERE rowid IN (SELECT id FROM messages WHERE folder_id = ?1)",
            "DELETE FROM messages WHERE folder_id = ?1",
            "DELETE FROM expunged WHERE folder_id = ?1",
          };

          g_message ("%s: UIDVALIDITY changed from %u to %u by another program", f->dir,
                     f->uidvalidity, uidlist.uidvalidity);
          for (guint i = 0; ok && i < G_N_ELEMENTS (sql); i++)
            {
              sqlite3_stmt *stmt = db_stmt (u, sql[i], error);

              ok = stmt != NULL;
              if (ok)
                {
                  sqlite3_bind_int64 (stmt, 1, f->id);
                  ok = db_done (u, stmt, error);
                }
            }
          f->uidvalidity = uidlist.uidvalidity;
          f->uidnext = 1;
          f->first_recent = 1;
          g_free (f->guid);
          f->guid = g_strdup (uidlist.guid);
          if (ok && (gint64) f->uidvalidity > meta_get (u, "uidvalidity"))
            ok = meta_set (u, "uidvalidity", f->uidvalidity, error);
        }
      for (guint i = 0; have_uidlist && i < uidlist.entries->len; i++)
        {
          MaildirUidlistEntry *e = &g_array_index (uidlist.entries, MaildirUidlistEntry, i);

          g_hash_table_replace (listed, e->base, GUINT_TO_POINTER (e->uid));
        }
    }
  if (ok && strcmp (now[STAMP_KEYWORDS], f->stamps[STAMP_KEYWORDS]) != 0)
    ok = keywords_merge (u, f, &keywords_added, error);
  if (ok)
    ok = (known = keywords_list (u, f->id, error)) != NULL;

  /* new/ before cur/: a file moving from new/ to cur/ meanwhile is seen
   * at least once. The stamps are taken before reading. */
  new_stamp = stamp_of (new_path, &new_recent);
  if (ok)
    ok = read_entries (store, f, "new", disk, error);
  cur_stamp = stamp_of (cur_path, &cur_recent);
  if (ok && full)
    ok = read_entries (store, f, "cur", disk, error);

  if (ok && full)
    ok = (rows = messages_collect (u, f, NULL, 0, TRUE, error)) != NULL;
  else if (ok)
    {
      /* Only new/ changed: look its files up one by one. */
      GHashTableIter iter;
      gpointer key;

      rows = g_ptr_array_new_with_free_func (message_row_free);
      g_hash_table_iter_init (&iter, disk);
      while (ok && g_hash_table_iter_next (&iter, &key, NULL))
        {
          sqlite3_stmt *stmt = db_stmt (u, "SELECT " MESSAGE_COLUMNS " FROM messages "
                                           "WHERE folder_id = ?1 AND base = ?2", error);

          ok = stmt != NULL;
          if (!ok)
            break;
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_text (stmt, 2, key, -1, SQLITE_STATIC);
          if (sqlite3_step (stmt) == SQLITE_ROW)
            g_ptr_array_add (rows, message_row_read (stmt));
          sqlite3_reset (stmt);
        }
    }

  /* Known messages: renamed (flags) or gone. */
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      DiskEntry *e = g_hash_table_lookup (disk, row->base);
      g_autofree char *filename = NULL;
      g_autoptr(GArray) kw = NULL;

      if (e == NULL)
        {
          g_autofree char *path = g_build_filename (f->dir, row->filename, NULL);
          guint64 modseq;

          /* Renamed while we read the directory? Then it is still there. */
          if (g_file_test (path, G_FILE_TEST_EXISTS))
            continue;
          {
            g_autoptr(GHashTable) again = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                                 disk_entry_free);

            ok = read_entries (store, f, "cur", again, error);
            if (ok && g_hash_table_contains (again, row->base))
              {
                gpointer k, v;

                g_hash_table_steal_extended (again, row->base, &k, &v);
                g_hash_table_replace (disk, k, v);
                e = v;
              }
          }
          if (ok && e == NULL)
            {
              ok = message_remove (u, f, row, &modseq, error);
              if (ok)
                event_add (events, POSTHORN_EVENT_MESSAGE_EXPUNGED, u->name, f->name, row->uid, modseq);
              changed = TRUE;
              continue;
            }
          if (!ok)
            break;
        }
      if (e->in_new)
        {
          ok = entry_move_to_cur (f, e, error);
          moved = TRUE;
          if (!ok)
            break;
        }
      filename = g_strconcat ("cur/", e->name, NULL);
      if (strcmp (filename, row->filename) != 0)
        {
          guint64 modseq = row->modseq;

          kw = keywords_from_name (&e->parsed, row->keywords, known->len - 1);
          if (e->parsed.flags != row->flags || !keyword_sets_equal (kw, row->keywords))
            {
              modseq = ++f->highestmodseq;
              event_add (events, POSTHORN_EVENT_FLAGS_CHANGED, u->name, f->name, row->uid, modseq);
            }
          ok = message_update (u, row, filename, e->parsed.flags, kw, modseq, error);
        }
      g_hash_table_remove (disk, row->base);
    }

  /* Files without a row: new messages, in dovecot-uidlist's order first. */
  if (ok)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, disk);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          NewFile nf = { value, key, GPOINTER_TO_UINT (g_hash_table_lookup (listed, key)) };

          g_array_append_val (fresh, nf);
        }
      g_array_sort (fresh, new_file_compare);
    }
  for (guint i = 0; ok && i < fresh->len; i++)
    {
      NewFile *nf = &g_array_index (fresh, NewFile, i);
      g_autofree char *path = NULL;
      g_autofree char *filename = NULL;
      g_autoptr(GError) local = NULL;
      g_autoptr(GArray) kw = NULL;
      ImportedFile imp;
      NewRow r = { 0 };

      if (nf->entry->in_new)
        {
          ok = entry_move_to_cur (f, nf->entry, error);
          moved = TRUE;
          if (!ok)
            break;
        }
      filename = g_strconcat ("cur/", nf->entry->name, NULL);
      path = g_build_filename (f->dir, filename, NULL);
      if (!import_file (path, &imp, &local))
        {
          g_warning ("ignoring %s: %s", path, local->message);
          continue;
        }
      if (f->uidnext == G_MAXUINT32)
        {
          imported_file_clear (&imp);
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs",
                       f->name);
          ok = FALSE;
          break;
        }
      kw = keywords_from_name (&nf->entry->parsed, NULL, known->len - 1);
      r.uid = nf->listed_uid >= f->uidnext ? nf->listed_uid : f->uidnext;
      f->uidnext = r.uid + 1;
      r.base = nf->base;
      r.filename = filename;
      r.flags = nf->entry->parsed.flags;
      r.keywords = kw;
      r.modseq = ++f->highestmodseq;
      r.internal_date = imp.internal_date;
      r.size = imp.size;
      r.file_size = imp.file_size;
      r.lfmap = imp.lfmap;
      r.info = imp.info;
      r.header_text = imp.header_text;
      r.body_text = imp.body_text;
      ok = message_insert (u, f, &r, error);
      imported_file_clear (&imp);
      if (ok)
        event_add (events, POSTHORN_EVENT_MESSAGE_NEW, u->name, f->name, r.uid, r.modseq);
      changed = TRUE;
    }

  if (ok && have_uidlist && uidlist.next_uid > f->uidnext)
    f->uidnext = uidlist.next_uid;
  if (ok && moved)
    ok = fsync_path (cur_path, error) && fsync_path (new_path, error);
  if (ok && keywords_added)
    ok = keywords_write (u, f, error);
  if (ok)
    {
      g_free (f->stamps[STAMP_NEW]);
      f->stamps[STAMP_NEW] = new_recent ? g_strdup ("") : g_steal_pointer (&new_stamp);
      if (full)
        {
          g_free (f->stamps[STAMP_CUR]);
          f->stamps[STAMP_CUR] = cur_recent ? g_strdup ("") : g_steal_pointer (&cur_stamp);
        }
      else if (moved && *f->stamps[STAMP_CUR] != '\0')
        {
          /* Only our own moves changed cur/. */
          g_free (f->stamps[STAMP_CUR]);
          f->stamps[STAMP_CUR] = stamp_of (cur_path, NULL);
        }
      {
        gboolean uidlist_changed = strcmp (now[STAMP_UIDLIST], f->stamps[STAMP_UIDLIST]) != 0;

        /* Dovecot's view of the folder follows ours. */
        if (changed || force || strcmp (now[STAMP_UIDLIST], "-") == 0 ||
            (uidlist_changed && !have_uidlist))
          ok = uidlist_write (u, f, error);
        else if (uidlist_changed)
          {
            g_free (f->stamps[STAMP_UIDLIST]);
            f->stamps[STAMP_UIDLIST] = g_strdup (now[STAMP_UIDLIST]);
          }
      }
      if (!keywords_added)
        {
          g_free (f->stamps[STAMP_KEYWORDS]);
          f->stamps[STAMP_KEYWORDS] = g_strdup (now[STAMP_KEYWORDS]);
        }
    }
  if (ok)
    ok = folder_save (u, f, error);
  stamps_free (now);
  if (have_uidlist)
    maildir_uidlist_clear (&uidlist);
  if (!db_end (u, ok, error))
    return FALSE;
  events_publish (events);
  return TRUE;
}

/* Brings the index up to date with the folder when its stamps say that
 * something changed (or always with @force). */
static gboolean
folder_refresh (MaildirStore *store, MaildirUser *u, MaildirFolder *f, gboolean force,
                GError **error)
{
  gboolean ok;

  if (f->lock_path == NULL)
    {
      char *now[4] = { NULL };
      gboolean same = stamps_current (f, now);

      stamps_free (now);
      if (same && !force)
        return TRUE;
      if (!folder_lock (f, error))
        return FALSE;
      ok = refresh_locked (store, u, f, force, error);
      folder_unlock (f);
      return ok;
    }
  return refresh_locked (store, u, f, force, error);
}

/* After this process changed cur/ itself (under the folder lock, right
 * after a refresh): remember its new stamp, so that our own changes do
 * not cost a scan. */
static void
folder_note_own_change (MaildirFolder *f)
{
  g_autofree char *cur = folder_path (f, "cur", NULL);

  g_free (f->stamps[STAMP_CUR]);
  f->stamps[STAMP_CUR] = stamp_of (cur, NULL);
}

/* Finds a message's file by its base when its recorded name is stale
 * (another program renamed it). Returns "cur/NAME" or NULL. */
static char *
locate_file (MaildirFolder *f, const char *base)
{
  static const char *const subs[] = { "cur", "new" };
  gsize len = strlen (base);

  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *path = folder_path (f, subs[i], NULL);
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        if (strncmp (name, base, len) == 0 && (name[len] == '\0' || name[len] == ':'))
          return g_build_filename (subs[i], name, NULL);
    }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* subscriptions and the folder list                                   */
/* ------------------------------------------------------------------ */

static GPtrArray *
subscriptions_read (MaildirUser *u)
{
  g_autofree char *path = g_build_filename (u->root, SUBSCRIPTIONS_NAME, NULL);
  g_autofree char *data = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return g_ptr_array_new_with_free_func (g_free);
  return maildir_subscriptions_parse (data, len);
}

static gboolean
subscriptions_write (MaildirUser *u, GPtrArray *names, GError **error)
{
  g_autofree char *path = g_build_filename (u->root, SUBSCRIPTIONS_NAME, NULL);
  g_autofree char *data = maildir_subscriptions_format ((const char *const *) names->pdata, names->len);

  return replace_file (path, data, strlen (data), TRUE, error) && fsync_path (u->root, error);
}

static gboolean
subscription_set (MaildirUser *u, const char *name, gboolean subscribe, GError **error)
{
  g_autoptr(GPtrArray) names = subscriptions_read (u);
  guint index;
  gboolean have = g_ptr_array_find_with_equal_func (names, name, g_str_equal, &index);

  if (have == subscribe)
    return TRUE;
  if (subscribe)
    g_ptr_array_add (names, g_strdup (name));
  else
    g_ptr_array_remove_index (names, index);
  return subscriptions_write (u, names, error);
}

/* Reconciles the folder rows with the directories under the root:
 * folders other programs made or removed. */
static gboolean
folders_discover (MaildirUser *u, GError **error)
{
  g_autoptr(GHashTable) on_disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GDir) dir = g_dir_open (u->root, 0, error);
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();
  sqlite3_stmt *stmt;
  const char *entry;
  gboolean ok;
  int rc;

  if (dir == NULL)
    return FALSE;
  g_hash_table_add (on_disk, g_strdup ("INBOX"));
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *name = maildir_dir_to_name (entry);
      g_autofree char *cur = NULL;

      if (name == NULL)
        continue;
      cur = g_build_filename (u->root, entry, "cur", NULL);
      if (is_dir (cur))
        g_hash_table_add (on_disk, g_steal_pointer (&name));
    }
  if (!db_begin (u, error))
    return FALSE;
  stmt = db_stmt (u, "SELECT id, name FROM folders", error);
  ok = stmt != NULL;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *name = (const char *) sqlite3_column_text (stmt, 1);

      if (!g_hash_table_remove (on_disk, name))
        g_ptr_array_add (gone, GINT_TO_POINTER ((gint) sqlite3_column_int64 (stmt, 0)));
    }
  if (stmt != NULL)
    sqlite3_reset (stmt);
  for (guint i = 0; ok && i < gone->len; i++)
    ok = folder_forget (u, GPOINTER_TO_INT (gone->pdata[i]), error);
  if (ok)
    {
      GHashTableIter iter;
      gpointer name;

      g_hash_table_iter_init (&iter, on_disk);
      while (ok && g_hash_table_iter_next (&iter, &name, NULL))
        ok = folder_insert (u, name, special_use_by_name (name), TRUE, error);
    }
  return db_end (u, ok, error);
}

/* Makes folder @name (directory and row) unless it exists. */
static gboolean
folder_create (MaildirUser *u, const char *name, PosthornSpecialUse special_use, gboolean *created,
               PosthornStoreChanges *changes, GError **error)
{
  g_autofree char *dir = folder_dir_of (u, name);
  g_autofree char *cur = g_build_filename (dir, "cur", NULL);
  MaildirFolder f = { 0 };
  gboolean found;
  gboolean ok;

  *created = FALSE;
  if (!folder_read (u, name, &f, &found, error))
    return FALSE;
  folder_clear (&f);
  if (found && is_dir (cur))
    return TRUE;
  if (!is_dir (cur) && !maildir_make (dir, strcmp (name, "INBOX") != 0, error))
    return FALSE;
  if (found)
    return TRUE;
  ok = db_begin (u, error) && folder_insert (u, name, special_use, TRUE, error);
  if (!db_end (u, ok, error))
    return FALSE;
  *created = TRUE;
  posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_CREATED, u->name, name, NULL);
  return TRUE;
}

static gboolean
folder_create_path (MaildirUser *u, const char *name, PosthornSpecialUse special_use,
                    PosthornStoreChanges *changes, GError **error)
{
  g_autofree char *path = g_strdup (name);
  gboolean created;

  for (char *p = strchr (path, '/'); p != NULL; p = strchr (p + 1, '/'))
    {
      *p = '\0';
      if (!folder_create (u, path, 0, &created, changes, error))
        return FALSE;
      *p = '/';
    }
  return folder_create (u, name, special_use, &created, changes, error);
}

static gboolean
folder_exists (MaildirUser *u, const char *name)
{
  MaildirFolder f = { 0 };
  gboolean ok = folder_lookup (u, name, 0, &f, NULL);

  folder_clear (&f);
  return ok;
}

/* ------------------------------------------------------------------ */
/* the vtable                                                          */
/* ------------------------------------------------------------------ */

#define STORE_LOCK(store) g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new (&(store)->lock)

static gboolean
maildir_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, TRUE, error);
  gboolean created;

  if (u == NULL)
    return FALSE;
  if (meta_get (u, "initialized") != 0)
    return TRUE;
  if (!folders_discover (u, error) ||
      !folder_create (u, "INBOX", 0, &created, changes, error) ||
      !subscription_set (u, "INBOX", TRUE, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (special_use_names); i++)
    {
      if (!folder_create (u, special_use_names[i], 1u << i, &created, changes, error))
        return FALSE;
      if (created && !subscription_set (u, special_use_names[i], TRUE, error))
        return FALSE;
    }
  return meta_set (u, "initialized", 1, error);
}

static gboolean
maildir_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  g_autoptr(GPtrArray) subs = NULL;
  sqlite3_stmt *stmt;
  int rc;

  if (u == NULL)
    return FALSE;
  if (!folders_discover (u, error))
    return FALSE;
  stmt = db_stmt (u, "SELECT name, special_use FROM folders", error);
  if (stmt == NULL)
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add (out, (const char *) sqlite3_column_text (stmt, 0),
                                  sqlite3_column_int (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return db_error (u, rc, error);
  subs = subscriptions_read (u);
  for (guint i = 0; i < subs->len; i++)
    posthorn_store_mailboxes_add_subscription (out, subs->pdata[i]);
  return TRUE;
}

static gboolean
maildir_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
                PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, TRUE, error);

  if (u == NULL)
    return FALSE;
  if (folder_exists (u, name))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists", name);
      return FALSE;
    }
  return folder_create_path (u, name, special_use, changes, error);
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      struct stat st;

      if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static gboolean
maildir_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
                GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autofree char *trash = NULL;
  gboolean ok;

  if (u == NULL)
    return FALSE;
  if (strcmp (name, "INBOX") == 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION, "INBOX cannot be deleted");
      return FALSE;
    }
  if (!folder_lookup (u, name, 0, &f, error))
    {
      folder_clear (&f);
      return FALSE;
    }
  ok = folder_lock (&f, error);
  if (ok)
    {
      /* Out of sight first (one rename), then removed at leisure. */
      trash = g_strdup_printf ("%s/tmp/posthorn-deleted.%" G_GINT64_FORMAT ".%u", u->root, f.id,
                               g_random_int ());
      if (rename (f.dir, trash) < 0)
        ok = set_errno_error (error, errno, "cannot remove", f.dir);
      else
        ok = fsync_path (u->root, error);
      g_clear_pointer (&f.lock_path, g_free);
    }
  if (ok)
    ok = db_begin (u, error) && db_end (u, folder_forget (u, f.id, error), error);
  folder_unlock (&f);
  folder_clear (&f);
  if (trash != NULL && ok)
    rm_rf (trash);
  if (ok)
    {
      if (store->watch != NULL)
        maildir_watch_forget_user (store->watch, user);
      posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_DELETED, user, name, NULL);
    }
  return ok;
}

/* Renaming INBOX: its messages and control files move to a new folder. */
static gboolean
move_inbox (MaildirUser *u, MaildirFolder *inbox, const char *new_dir, GError **error)
{
  static const char *const subs[] = { "cur", "new" };
  static const char *const control[] = { UIDLIST_NAME, KEYWORDS_NAME };

  if (!maildir_make (new_dir, TRUE, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *from_dir = folder_path (inbox, subs[i], NULL);
      g_autofree char *to_dir = g_build_filename (new_dir, subs[i], NULL);
      g_autoptr(GDir) dir = g_dir_open (from_dir, 0, error);
      const char *name;

      if (dir == NULL)
        return FALSE;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *from = g_build_filename (from_dir, name, NULL);
          g_autofree char *to = g_build_filename (to_dir, name, NULL);

          if (rename (from, to) < 0)
            return set_errno_error (error, errno, "cannot move", from);
        }
      if (!fsync_path (from_dir, error) || !fsync_path (to_dir, error))
        return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (control); i++)
    {
      g_autofree char *from = folder_path (inbox, control[i], NULL);
      g_autofree char *to = g_build_filename (new_dir, control[i], NULL);

      if (rename (from, to) < 0 && errno != ENOENT)
        return set_errno_error (error, errno, "cannot move", from);
    }
  return fsync_path (u->root, error);
}

static gboolean
maildir_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
                PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func (g_free);
  gboolean is_inbox = strcmp (old_name, "INBOX") == 0;
  MaildirFolder f = { 0 };
  sqlite3_stmt *stmt;
  gsize old_len = strlen (old_name);
  gboolean ok;
  int rc;

  if (u == NULL || !folders_discover (u, error))
    return FALSE;
  if (!folder_lookup (u, old_name, 0, &f, error))
    {
      folder_clear (&f);
      return FALSE;
    }
  stmt = db_stmt (u, "SELECT name FROM folders WHERE name = ?1 OR substr (name, 1, length (?1) + 1) = ?1 || '/' "
                     "ORDER BY name", error);
  ok = stmt != NULL;
  if (ok)
    {
      sqlite3_bind_text (stmt, 1, old_name, -1, SQLITE_STATIC);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          const char *name = (const char *) sqlite3_column_text (stmt, 0);

          if (is_inbox && strcmp (name, "INBOX") != 0)
            continue;
          g_ptr_array_add (from, g_strdup (name));
          g_ptr_array_add (to, g_strconcat (new_name, name + old_len, NULL));
        }
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        ok = db_error (u, rc, error);
    }
  for (guint i = 0; ok && i < to->len; i++)
    if (folder_exists (u, to->pdata[i]))
      {
        g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists",
                     (const char *) to->pdata[i]);
        ok = FALSE;
      }
  if (ok && strchr (new_name, '/') != NULL)
    {
      g_autofree char *parent = g_strndup (new_name, (gsize) (strrchr (new_name, '/') - new_name));

      ok = folder_create_path (u, parent, 0, changes, error);
    }
  if (ok)
    ok = folder_lock (&f, error);
  for (guint i = 0; ok && i < from->len; i++)
    {
      g_autofree char *src = folder_dir_of (u, from->pdata[i]);
      g_autofree char *dst = folder_dir_of (u, to->pdata[i]);

      if (is_inbox)
        ok = move_inbox (u, &f, dst, error);
      else if (rename (src, dst) < 0)
        ok = set_errno_error (error, errno, "cannot rename", src);
      if (ok && i == 0 && !is_inbox)
        {
          /* The lock moved with the directory. */
          g_free (f.lock_path);
          f.lock_path = g_build_filename (dst, LOCK_NAME, NULL);
        }
      if (ok)
        {
          stmt = db_stmt (u, "UPDATE folders SET name = ?2, cur_stamp = '' WHERE name = ?1", error);
          ok = stmt != NULL;
          if (ok)
            {
              sqlite3_bind_text (stmt, 1, from->pdata[i], -1, SQLITE_STATIC);
              sqlite3_bind_text (stmt, 2, to->pdata[i], -1, SQLITE_STATIC);
              ok = db_done (u, stmt, error);
            }
        }
      if (ok)
        posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_RENAMED, user,
                                            to->pdata[i], from->pdata[i]);
    }
  folder_unlock (&f);
  folder_clear (&f);
  if (ok && !is_inbox)
    ok = fsync_path (u->root, error);
  if (ok)
    {
      g_autoptr(GPtrArray) subs = subscriptions_read (u);
      gboolean subs_changed = FALSE;

      for (guint i = 0; i < subs->len; i++)
        for (guint j = 0; j < from->len; j++)
          if (strcmp (subs->pdata[i], from->pdata[j]) == 0 && !is_inbox)
            {
              g_free (subs->pdata[i]);
              subs->pdata[i] = g_strdup (to->pdata[j]);
              subs_changed = TRUE;
              break;
            }
      if (subs_changed)
        ok = subscriptions_write (u, subs, error);
    }
  if (ok && is_inbox)
    {
      gboolean created;

      ok = folder_create (u, "INBOX", 0, &created, changes, error);
    }
  if (store->watch != NULL)
    maildir_watch_forget_user (store->watch, user);
  return ok;
}

static gboolean
maildir_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                   PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, TRUE, error);

  if (u == NULL || !subscription_set (u, name, subscribe, error))
    return FALSE;
  posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_SUBSCRIPTION_CHANGED, user, name, NULL);
  return TRUE;
}

/* Looks @name up and brings it up to date. */
static gboolean
folder_open (MaildirStore *store, const char *user, const char *name, guint32 uidvalidity,
             MaildirUser **out_user, MaildirFolder *f, GError **error)
{
  MaildirUser *u = user_get (store, user, FALSE, error);

  if (u == NULL)
    {
      if (g_error_matches (*error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        {
          g_clear_error (error);
          return not_found (error, name);
        }
      return FALSE;
    }
  *out_user = u;
  if (!folder_lookup (u, name, uidvalidity, f, error) ||
      !folder_refresh (store, u, f, FALSE, error))
    return FALSE;
  if (uidvalidity != 0 && f->uidvalidity != uidvalidity)
    return not_found (error, name);
  return TRUE;
}

static gboolean
maildir_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
                GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  sqlite3_stmt *stmt;
  gboolean ok = folder_open (store, user, name, 0, &u, &f, error);

  if (ok)
    ok = (stmt = db_stmt (u, "SELECT count(*), total (uid >= ?2), total ((flags & 1) = 0), "
                             "total (size) FROM messages WHERE folder_id = ?1", error)) != NULL;
  if (ok)
    {
      sqlite3_bind_int64 (stmt, 1, f.id);
      sqlite3_bind_int64 (stmt, 2, f.first_recent);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        {
          out->messages = (guint32) sqlite3_column_int64 (stmt, 0);
          out->recent = (guint32) sqlite3_column_double (stmt, 1);
          out->unseen = (guint32) sqlite3_column_double (stmt, 2);
          out->size = (guint64) sqlite3_column_double (stmt, 3);
          out->uidnext = f.uidnext;
          out->uidvalidity = f.uidvalidity;
          out->highestmodseq = f.highestmodseq;
        }
      else
        ok = db_error (u, sqlite3_errcode (u->db), error);
      sqlite3_reset (stmt);
    }
  folder_clear (&f);
  return ok;
}

static gboolean
maildir_sync (gpointer data, const char *user, const char *name, guint32 uidvalidity,
              guint64 since_modseq, PosthornStoreSyncFlags flags, PosthornStoreSync *out,
              GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) keywords = NULL;
  g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  sqlite3_stmt *stmt;
  gboolean found;
  gboolean ok = folder_open (store, user, name, uidvalidity, &u, &f, error);
  int rc;

  if (ok && store->watch != NULL)
    maildir_watch_add (store->watch, user, name, f.dir);
  if (ok)
    ok = db_begin (u, error) && folder_read (u, name, &f, &found, error);
  if (ok && (flags & POSTHORN_STORE_SYNC_CLAIM_RECENT) && f.first_recent < f.uidnext)
    {
      /* Losing a claim to a power failure only shows messages as \Recent
       * once more. */
      posthorn_store_sync_set_recent (out, f.first_recent, f.uidnext);
      f.first_recent = f.uidnext;
      ok = folder_save (u, &f, error);
    }
  if (ok)
    posthorn_store_sync_set_state (out, f.uidvalidity, f.uidnext, f.highestmodseq);
  if (ok && !(flags & POSTHORN_STORE_SYNC_EXPUNGED_ONLY))
    {
      ok = (keywords = keywords_list (u, f.id, error)) != NULL;
      if (ok)
        posthorn_store_sync_set_keywords (out, (const char *const *) keywords->pdata);
      stmt = ok ? db_stmt (u, "SELECT uid, flags, modseq, keywords FROM messages "
                              "WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid", error) : NULL;
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, f.id);
          sqlite3_bind_int64 (stmt, 2, (gint64) since_modseq);
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            {
              keywords_from_blob (sqlite3_column_blob (stmt, 3), sqlite3_column_bytes (stmt, 3), kw);
              posthorn_store_sync_add_record (out, (guint32) sqlite3_column_int64 (stmt, 0),
                                              (guint32) sqlite3_column_int64 (stmt, 1),
                                              (guint64) sqlite3_column_int64 (stmt, 2),
                                              (const guint32 *) (gpointer) kw->data, kw->len);
            }
          sqlite3_reset (stmt);
          if (rc != SQLITE_DONE)
            ok = db_error (u, rc, error);
        }
    }
  if (ok && since_modseq > 0)
    {
      stmt = db_stmt (u, "SELECT uid, modseq FROM expunged WHERE folder_id = ?1 AND modseq > ?2 "
                         "ORDER BY uid", error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, f.id);
          sqlite3_bind_int64 (stmt, 2, (gint64) since_modseq);
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            posthorn_store_sync_add_expunged (out, (guint32) sqlite3_column_int64 (stmt, 0),
                                              (guint64) sqlite3_column_int64 (stmt, 1));
          sqlite3_reset (stmt);
          if (rc != SQLITE_DONE)
            ok = db_error (u, rc, error);
        }
    }
  if (u != NULL && sqlite3_get_autocommit (u->db) == 0)
    ok = db_end (u, ok, ok ? error : NULL) && ok;
  folder_clear (&f);
  return ok;
}

/* ---- adding messages ---- */

/* Places @src at @dst: a hard link, or a copy (fsync'ed) across file
 * systems. */
static gboolean
file_place (const char *src, const char *dst, GError **error)
{
  int in, out;
  char buf[65536];
  gssize n;

  if (link (src, dst) == 0)
    return TRUE;
  if (errno != EXDEV && errno != EPERM && errno != EMLINK)
    return set_errno_error (error, errno, "cannot link", dst);
  in = open (src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return set_errno_error (error, errno, "cannot open", src);
  out = open (dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (out < 0)
    {
      close (in);
      return set_errno_error (error, errno, "cannot create", dst);
    }
  while ((n = read (in, buf, sizeof buf)) > 0)
    if (write (out, buf, (gsize) n) != n)
      {
        n = -1;
        break;
      }
  close (in);
  if (n < 0 || fsync (out) < 0)
    {
      int errsv = errno;

      close (out);
      g_unlink (dst);
      return set_errno_error (error, errsv, "cannot write", dst);
    }
  close (out);
  return TRUE;
}

/* Writes the message into tmp/ of @root: the bytes, the internal date as
 * mtime (as Dovecot does), fsync. */
static char *
write_tmp (const char *root, const PosthornStoreNewMessage *msg, GError **error)
{
  g_autofree char *base = unique_base (msg->size);
  g_autofree char *path = g_build_filename (root, "tmp", base, NULL);
  struct timespec times[2];
  int fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      set_errno_error (error, errno, "cannot create", path);
      return NULL;
    }
  times[0].tv_sec = times[1].tv_sec = msg->internal_date != 0 ? msg->internal_date : time (NULL);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (!posthorn_message_write_to_fd (msg->message, fd, error) ||
      futimens (fd, times) < 0 || fsync (fd) < 0)
    {
      if (error != NULL && *error == NULL)
        set_errno_error (error, errno, "cannot write", path);
      close (fd);
      g_unlink (path);
      return NULL;
    }
  if (close (fd) < 0)
    {
      set_errno_error (error, errno, "cannot write", path);
      g_unlink (path);
      return NULL;
    }
  return g_steal_pointer (&path);
}

typedef struct {
  MaildirUser *user;
  MaildirFolder folder;
  GString *uidlist_lines;
  gboolean keywords_added;
  gboolean in_transaction;
} AppendFolder;

static int
append_folder_compare (gconstpointer a, gconstpointer b)
{
  const AppendFolder *x = *(AppendFolder *const *) a, *y = *(AppendFolder *const *) b;

  return strcmp (x->folder.dir, y->folder.dir);
}

static void
append_folder_free (gpointer p)
{
  AppendFolder *af = p;

  folder_unlock (&af->folder);
  folder_clear (&af->folder);
  g_string_free (af->uidlist_lines, TRUE);
  g_free (af);
}

static gboolean
maildir_append (gpointer data, const PosthornStoreNewMessage *msg,
                const PosthornStoreTarget *targets, guint n_targets,
                PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  g_autoptr(GPtrArray) folders = g_ptr_array_new_with_free_func (append_folder_free);
  g_autoptr(GPtrArray) placed = g_ptr_array_new_with_free_func (g_free);
  g_autofree AppendFolder **target_folder = g_new0 (AppendFolder *, n_targets);
  g_autofree char *tmp = NULL;
  g_autofree char *first_root = NULL;
  gboolean ok = TRUE;

  /* The bytes go to disk before the lock is taken: a 50 MB APPEND does not
   * hold up everyone else. */
  {
    g_autofree char *root = maildir_expand_path (store->pattern, targets[0].user, error);

    if (root == NULL || (!is_dir (root) && !maildir_make (root, FALSE, error)))
      return FALSE;
    tmp = write_tmp (root, msg, error);
    if (tmp == NULL)
      return FALSE;
  }

  g_mutex_lock (&store->lock);
  for (guint i = 0; ok && i < n_targets; i++)
    {
      MaildirUser *u = user_get (store, targets[i].user, TRUE, error);
      AppendFolder *af = NULL;

      ok = u != NULL;
      if (ok && strcmp (targets[i].mailbox, "INBOX") == 0)
        {
          gboolean created;

          /* Delivery to someone who never logged in: make INBOX. */
          ok = folder_create (u, "INBOX", 0, &created, changes, error);
        }
      for (guint j = 0; ok && j < folders->len; j++)
        {
          AppendFolder *other = folders->pdata[j];

          if (other->user == u && strcmp (other->folder.name, targets[i].mailbox) == 0)
            af = other;
        }
      if (ok && af == NULL)
        {
          af = g_new0 (AppendFolder, 1);
          af->user = u;
          af->uidlist_lines = g_string_new (NULL);
          g_ptr_array_add (folders, af);
          ok = folder_lookup (u, targets[i].mailbox, 0, &af->folder, error);
        }
      target_folder[i] = af;
    }
  /* Lock in one order (directory names), so two processes never wait for
   * each other. */
  if (ok)
    g_ptr_array_sort (folders, append_folder_compare);
  for (guint i = 0; ok && i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];

      ok = folder_lock (&af->folder, error) &&
           folder_refresh (store, af->user, &af->folder, FALSE, error);
    }
  for (guint i = 0; ok && i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];

      if (sqlite3_get_autocommit (af->user->db) != 0)
        {
          ok = db_begin (af->user, error);
          af->in_transaction = ok;
        }
    }
  for (guint i = 0; ok && i < n_targets; i++)
    {
      AppendFolder *af = target_folder[i];
      MaildirFolder *f = &af->folder;
      g_autofree char *base = unique_base (msg->size);
      g_autoptr(GArray) kw = keywords_resolve (af->user, f->id, msg->keywords, &af->keywords_added, error);
      g_autofree char *name = NULL;
      g_autofree char *filename = NULL;
      g_autofree char *path = NULL;
      NewRow r = { 0 };

      ok = kw != NULL;
      if (!ok)
        break;
      if (f->uidnext == 0 || f->uidnext == G_MAXUINT32)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs",
                       f->name);
          ok = FALSE;
          break;
        }
      name = maildir_filename_compose (base, strlen (base), msg->flags, keyword_letters (kw), NULL);
      filename = g_strconcat ("cur/", name, NULL);
      path = g_build_filename (f->dir, filename, NULL);
      ok = file_place (tmp, path, error);
      if (!ok)
        break;
      g_ptr_array_add (placed, g_strdup (path));
      r.uid = f->uidnext++;
      r.base = base;
      r.filename = filename;
      r.flags = msg->flags;
      r.keywords = kw;
      r.modseq = ++f->highestmodseq;
      r.internal_date = msg->internal_date != 0 ? msg->internal_date : g_get_real_time () / G_USEC_PER_SEC;
      r.size = msg->size;
      r.file_size = msg->size;
      r.info = msg->info;
      r.header_text = msg->search_header;
      r.body_text = msg->search_body;
      ok = message_insert (af->user, f, &r, error);
      if (ok)
        {
          g_string_append_printf (af->uidlist_lines, "%u :%s\n", r.uid, base);
          posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, targets[i].user,
                                              targets[i].mailbox, f->uidvalidity, r.uid, r.modseq,
                                              msg->flags & POSTHORN_MESSAGE_STORED_FLAGS, 0);
        }
    }
  for (guint i = 0; ok && i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];
      g_autofree char *cur = folder_path (&af->folder, "cur", NULL);

      ok = fsync_path (cur, error) &&
           uidlist_append (&af->folder, af->uidlist_lines, error) &&
           (!af->keywords_added || keywords_write (af->user, &af->folder, error));
      if (ok)
        {
          folder_note_own_change (&af->folder);
          ok = folder_save (af->user, &af->folder, error);
        }
    }
  /* Commit (each user's index once). */
  for (guint i = 0; i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];

      if (af->in_transaction)
        {
          if (!db_end (af->user, ok, ok ? error : NULL))
            ok = FALSE;
          af->in_transaction = FALSE;
        }
    }
  if (!ok)
    for (guint i = 0; i < placed->len; i++)
      g_unlink (placed->pdata[i]);
  g_clear_pointer (&folders, g_ptr_array_unref);
  g_mutex_unlock (&store->lock);
  g_unlink (tmp);
  return ok;
}

/* ---- changing messages ---- */

/* Renames a message's file to carry @flags and @kw; follows a file
 * another program renamed. FALSE without error if the file is gone. */
static gboolean
file_set_flags (MaildirFolder *f, MessageRow *row, guint32 flags, GArray *kw, char **new_filename,
                GError **error)
{
  g_autofree char *old_path = g_build_filename (f->dir, row->filename, NULL);
  const char *old_name = strrchr (row->filename, '/') + 1;
  MaildirFileName parsed;
  g_autofree char *name = NULL;
  g_autofree char *new_path = NULL;

  if (!g_file_test (old_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *found = locate_file (f, row->base);

      if (found == NULL)
        return FALSE;
      g_free (row->filename);
      row->filename = g_steal_pointer (&found);
      g_free (old_path);
      old_path = g_build_filename (f->dir, row->filename, NULL);
      old_name = strrchr (row->filename, '/') + 1;
    }
  maildir_filename_parse (old_name, &parsed);
  name = maildir_filename_compose (old_name, parsed.base_len != 0 ? parsed.base_len : strlen (row->base),
                                   flags, keyword_letters (kw), parsed.other);
  *new_filename = g_strconcat ("cur/", name, NULL);
  new_path = g_build_filename (f->dir, *new_filename, NULL);
  if (strcmp (old_path, new_path) != 0 && rename (old_path, new_path) < 0)
    {
      g_clear_pointer (new_filename, g_free);
      return set_errno_error (error, errno, "cannot rename", old_path);
    }
  return TRUE;
}

static gboolean
maildir_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                     const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                     const char *const *keywords, guint64 unchangedsince,
                     PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) kw = NULL;
  g_autoptr(GArray) next_kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  gboolean keywords_added = FALSE, renamed = FALSE;
  gboolean ok = folder_open (store, user, name, uidvalidity, &u, &f, error) &&
                folder_lock (&f, error) && folder_refresh (store, u, &f, FALSE, error) &&
                db_begin (u, error);
  gboolean began = ok;

  if (ok)
    ok = (rows = messages_collect (u, &f, uids, n_uids, FALSE, error)) != NULL &&
         (kw = keywords_resolve (u, f.id, keywords, &keywords_added, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      guint32 next = row->flags;
      g_autofree char *filename = NULL;
      GError *local = NULL;
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
      next &= POSTHORN_MESSAGE_STORED_FLAGS;
      if (unchangedsince > 0 && row->modseq > unchangedsince)
        {
          posthorn_store_changes_add_modified (changes, row->uid);
          continue;
        }
      if (next == row->flags && keyword_sets_equal (next_kw, row->keywords))
        continue;
      if (!file_set_flags (&f, row, next, next_kw, &filename, &local))
        {
          if (local != NULL)
            {
              g_propagate_error (error, local);
              ok = FALSE;
            }
          continue;   /* gone: the next scan expunges it */
        }
      renamed = TRUE;
      modseq = ++f.highestmodseq;
      ok = message_update (u, row, filename, next, next_kw, modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_FLAGS_CHANGED, user, name,
                                            f.uidvalidity, row->uid, modseq, next, 0);
    }
  if (ok && renamed)
    {
      g_autofree char *cur = folder_path (&f, "cur", NULL);

      ok = fsync_path (cur, error);
      folder_note_own_change (&f);
    }
  if (ok && keywords_added)
    ok = keywords_write (u, &f, error);
  if (ok)
    ok = folder_save (u, &f, error);
  if (began)
    ok = db_end (u, ok, ok ? error : NULL) && ok;
  folder_unlock (&f);
  folder_clear (&f);
  return ok;
}

static gboolean
row_blobs (MaildirUser *u, gint64 id, GBytes **info, GBytes **lfmap, GError **error)
{
  sqlite3_stmt *stmt = db_stmt (u, "SELECT info, lfmap FROM messages WHERE id = ?1", error);
  int rc;

  *info = *lfmap = NULL;
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      if (sqlite3_column_type (stmt, 0) != SQLITE_NULL)
        *info = g_bytes_new (sqlite3_column_blob (stmt, 0), (gsize) sqlite3_column_bytes (stmt, 0));
      if (sqlite3_column_type (stmt, 1) != SQLITE_NULL)
        *lfmap = g_bytes_new (sqlite3_column_blob (stmt, 1), (gsize) sqlite3_column_bytes (stmt, 1));
    }
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW || rc == SQLITE_DONE || db_error (u, rc, error);
}

static gboolean
maildir_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
              const guint32 *uids, guint n_uids, const char *dest, gboolean move,
              PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder src = { 0 }, dst_folder = { 0 };
  MaildirFolder *dst;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) src_names = NULL;
  g_autoptr(GPtrArray) placed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) unlink_after = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) lines = g_string_new (NULL);
  gboolean keywords_added = FALSE, same, began = FALSE;
  gboolean ok = folder_open (store, user, name, uidvalidity, &u, &src, error) &&
                folder_lookup (u, dest, 0, &dst_folder, error);

  same = ok && src.id == dst_folder.id;
  dst = same ? &src : &dst_folder;
  if (ok)
    {
      /* Lock order: directory names. */
      MaildirFolder *first = same || strcmp (src.dir, dst->dir) < 0 ? &src : dst;
      MaildirFolder *second = first == &src ? dst : &src;

      ok = folder_lock (first, error) && folder_lock (second, error) &&
           folder_refresh (store, u, &src, FALSE, error) &&
           (same || folder_refresh (store, u, dst, FALSE, error)) &&
           db_begin (u, error);
      began = ok;
    }
  if (ok)
    ok = (rows = messages_collect (u, &src, uids, n_uids, FALSE, error)) != NULL &&
         (src_names = keywords_list (u, src.id, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
      g_autofree char *base = unique_base (row->size);
      g_autofree char *src_path = g_build_filename (src.dir, row->filename, NULL);
      g_autofree char *fname = NULL;
      g_autofree char *filename = NULL;
      g_autofree char *path = NULL;
      g_autoptr(GBytes) info = NULL;
      g_autoptr(GBytes) lfmap = NULL;
      NewRow r = { 0 };

      for (guint k = 0; ok && k < row->keywords->len; k++)
        {
          guint32 idx = g_array_index (row->keywords, guint32, k);
          guint32 dest_idx;

          if (idx + 1 >= src_names->len)
            continue;
          ok = keyword_index (u, dst->id, src_names->pdata[idx], &dest_idx, &keywords_added, error);
          if (ok)
            g_array_append_val (kw, dest_idx);
        }
      if (!ok)
        break;
      keyword_set_normalize (kw);
      if (!g_file_test (src_path, G_FILE_TEST_EXISTS))
        {
          g_autofree char *found = locate_file (&src, row->base);

          if (found == NULL)
            continue;   /* gone: the next scan expunges it */
          g_free (src_path);
          src_path = g_build_filename (src.dir, found, NULL);
        }
      fname = maildir_filename_compose (base, strlen (base), row->flags, keyword_letters (kw), NULL);
      filename = g_strconcat ("cur/", fname, NULL);
      path = g_build_filename (dst->dir, filename, NULL);
      ok = row_blobs (u, row->id, &info, &lfmap, error) && file_place (src_path, path, error);
      if (!ok)
        break;
      g_ptr_array_add (placed, g_strdup (path));
      if (dst->uidnext == G_MAXUINT32)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs",
                       dst->name);
          ok = FALSE;
          break;
        }
      r.uid = dst->uidnext++;
      r.base = base;
      r.filename = filename;
      r.flags = row->flags;
      r.keywords = kw;
      r.modseq = ++dst->highestmodseq;
      r.internal_date = row->internal_date;
      r.size = row->size;
      r.file_size = row->file_size;
      r.lfmap = lfmap;
      r.info = info;
      r.copy_search_from = row->id;
      ok = message_insert (u, dst, &r, error);
      if (ok)
        {
          g_string_append_printf (lines, "%u :%s\n", r.uid, base);
          posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, user, dest,
                                              dst->uidvalidity, r.uid, r.modseq, row->flags, row->uid);
        }
      if (ok && move)
        g_ptr_array_add (unlink_after, g_steal_pointer (&src_path));
    }
  for (guint i = 0; ok && move && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      guint64 modseq;

      ok = message_remove (u, &src, row, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            src.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok)
    {
      g_autofree char *cur = folder_path (dst, "cur", NULL);

      ok = fsync_path (cur, error) && uidlist_append (dst, lines, error) &&
           (!keywords_added || keywords_write (u, dst, error));
    }
  if (ok && move)
    {
      g_autofree char *cur = folder_path (&src, "cur", NULL);

      for (guint i = 0; i < unlink_after->len; i++)
        g_unlink (unlink_after->pdata[i]);
      ok = fsync_path (cur, error);
    }
  if (ok)
    {
      folder_note_own_change (&src);
      if (!same)
        folder_note_own_change (dst);
      ok = folder_save (u, &src, error) && (same || folder_save (u, dst, error));
    }
  if (began)
    ok = db_end (u, ok, ok ? error : NULL) && ok;
  if (!ok)
    for (guint i = 0; i < placed->len; i++)
      g_unlink (placed->pdata[i]);
  folder_unlock (&src);
  folder_unlock (&dst_folder);
  folder_clear (&src);
  folder_clear (&dst_folder);
  return ok;
}

static gboolean
maildir_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                 const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                 GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean removed = FALSE;
  gboolean ok = folder_open (store, user, name, uidvalidity, &u, &f, error) &&
                folder_lock (&f, error) && folder_refresh (store, u, &f, FALSE, error) &&
                db_begin (u, error);
  gboolean began = ok;

  if (ok)
    ok = (rows = messages_collect (u, &f, uids, n_uids, uids == NULL, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      g_autofree char *path = g_build_filename (f.dir, row->filename, NULL);
      guint64 modseq;

      if (!(row->flags & POSTHORN_MESSAGE_DELETED))
        continue;
      if (g_unlink (path) < 0)
        {
          g_autofree char *found = locate_file (&f, row->base);

          if (found != NULL)
            {
              g_autofree char *other = g_build_filename (f.dir, found, NULL);

              g_unlink (other);
            }
        }
      removed = TRUE;
      ok = message_remove (u, &f, row, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            f.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok && removed)
    {
      g_autofree char *cur = folder_path (&f, "cur", NULL);

      ok = fsync_path (cur, error);
      folder_note_own_change (&f);
    }
  if (ok)
    ok = folder_save (u, &f, error);
  if (began)
    ok = db_end (u, ok, ok ? error : NULL) && ok;
  folder_unlock (&f);
  folder_clear (&f);
  return ok;
}

/* ---- reading ---- */

static gboolean
maildir_fetch (gpointer data, const char *user, const char *name, guint32 uidvalidity,
               const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
               GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok = u != NULL && folder_lookup (u, name, uidvalidity, &f, error) &&
                db_exec (u, "BEGIN", error);

  if (ok)
    ok = (rows = messages_collect (u, &f, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MessageRow *row = rows->pdata[i];
      g_autoptr(GBytes) info = NULL;
      g_autoptr(GBytes) lfmap = NULL;

      ok = row_blobs (u, row->id, &info, &lfmap, error);
      if (ok)
        posthorn_store_fetch_builder_add (out, row->uid, row->internal_date, row->size, info);
    }
  if (u != NULL && sqlite3_get_autocommit (u->db) == 0)
    sqlite3_exec (u->db, "COMMIT", NULL, NULL, NULL);
  folder_clear (&f);
  return ok;
}

typedef struct {
  char *path;
  guint64 size;
  guint64 file_size;
  GBytes *lfmap;
} ReadTarget;

static gboolean
read_target (MaildirStore *store, const char *user, const char *name, guint32 uidvalidity,
             guint32 uid, gboolean rescan, ReadTarget *t, GError **error)
{
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok = u != NULL && folder_lookup (u, name, uidvalidity, &f, error) &&
                (!rescan || folder_refresh (store, u, &f, TRUE, error)) &&
                (rows = messages_collect (u, &f, &uid, 1, FALSE, error)) != NULL;
  GBytes *info = NULL;

  if (ok && rows->len == 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no message UID %u in %s",
                   uid, name);
      ok = FALSE;
    }
  if (ok)
    {
      MessageRow *row = rows->pdata[0];

      t->path = g_build_filename (f.dir, row->filename, NULL);
      t->size = row->size;
      t->file_size = row->file_size;
      ok = row_blobs (u, row->id, &info, &t->lfmap, error);
      g_clear_pointer (&info, g_bytes_unref);
    }
  folder_clear (&f);
  return ok;
}

static gssize
maildir_read (gpointer data, const char *user, const char *name, guint32 uidvalidity, guint32 uid,
              guint64 offset, void *buffer, gsize length, GError **error)
{
  MaildirStore *store = data;
  ReadTarget t = { 0 };
  gssize done = -1;
  int fd = -1;

  for (int attempt = 0; attempt < 2 && fd < 0; attempt++)
    {
      g_free (t.path);
      g_clear_pointer (&t.lfmap, g_bytes_unref);
      memset (&t, 0, sizeof t);
      if (!read_target (store, user, name, uidvalidity, uid, attempt > 0, &t, error))
        goto out;
      fd = open (t.path, O_RDONLY | O_CLOEXEC);
      /* Renamed by another program: rescan once and follow it. */
      if (fd < 0 && errno != ENOENT)
        break;
    }
  if (fd < 0)
    {
      if (errno == ENOENT)
        g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no message UID %u in %s",
                     uid, name);
      else
        set_errno_error (error, errno, "cannot open", t.path);
      goto out;
    }
  if (offset >= t.size)
    {
      done = 0;
      goto out;
    }
  length = (gsize) MIN ((guint64) length, t.size - offset);
  if (t.lfmap != NULL)
    {
      gsize map_len;
      const guint8 *map = g_bytes_get_data (t.lfmap, &map_len);

      done = lfmap_read (fd, map, map_len, offset, buffer, length, error);
    }
  else
    {
      done = 0;
      while ((gsize) done < length)
        {
          gssize n = pread (fd, (guint8 *) buffer + done, length - (gsize) done, (off_t) (offset + (guint64) done));

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              set_errno_error (error, errno, "cannot read", t.path);
              done = -1;
              break;
            }
          if (n == 0)
            break;
          done += n;
        }
    }
out:
  if (fd >= 0)
    close (fd);
  g_free (t.path);
  g_clear_pointer (&t.lfmap, g_bytes_unref);
  return done;
}

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
maildir_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                     PosthornSearchField field, const char *needle, GArray *out_uids,
                     GError **error)
{
  MaildirStore *store = data;
  STORE_LOCK (store);
  MaildirUser *u = user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autofree char *pattern = NULL;
  gboolean body = field == POSTHORN_SEARCH_BODY;
  sqlite3_stmt *stmt = NULL;
  gboolean ok = u != NULL && folder_lookup (u, name, uidvalidity, &f, error);
  int rc;

  if (ok && g_utf8_strlen (needle, -1) >= 3)
    {
      g_autofree char *phrase = fts_phrase (needle);

      pattern = g_strconcat (body ? "body_text : " : "{header_text body_text} : ", phrase, NULL);
      stmt = db_stmt (u, "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
                         "(SELECT rowid FROM search WHERE search MATCH ?2) ORDER BY uid", error);
    }
  else if (ok && *needle == '\0')
    stmt = db_stmt (u, "SELECT uid FROM messages WHERE folder_id = ?1 AND ?2 IS NULL ORDER BY uid",
                    error);
  else if (ok)
    {
      pattern = like_pattern (needle);
      stmt = db_stmt (u, body
        ? "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
          "(SELECT rowid FROM search WHERE body_text LIKE ?2 ESCAPE '\\') ORDER BY uid"
        : "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
          "(SELECT rowid FROM search WHERE header_text LIKE ?2 ESCAPE '\\' "
          "OR body_text LIKE ?2 ESCAPE '\\') ORDER BY uid", error);
    }
  ok = ok && stmt != NULL;
  if (ok)
    {
      sqlite3_bind_int64 (stmt, 1, f.id);
      if (pattern != NULL)
        sqlite3_bind_text (stmt, 2, pattern, -1, SQLITE_STATIC);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

          g_array_append_val (out_uids, uid);
        }
      sqlite3_reset (stmt);
      ok = rc == SQLITE_DONE || db_error (u, rc, error);
    }
  folder_clear (&f);
  return ok;
}

const PosthornStoreVTable maildir_store_vtable = {
  .struct_size = sizeof (PosthornStoreVTable),
  .open_user = maildir_open_user,
  .list = maildir_list,
  .create = maildir_create,
  .delete_mailbox = maildir_delete,
  .rename = maildir_rename,
  .subscribe = maildir_subscribe,
  .status = maildir_status,
  .sync = maildir_sync,
  .append = maildir_append,
  .store_flags = maildir_store_flags,
  .copy = maildir_copy,
  .expunge = maildir_expunge,
  .fetch = maildir_fetch,
  .read = maildir_read,
  .search_text = maildir_search_text,
};

/* ------------------------------------------------------------------ */

MaildirStore *
maildir_store_new (const char *path_pattern, GError **error)
{
  MaildirStore *store = g_new0 (MaildirStore, 1);

  store->pattern = g_strdup (path_pattern);
  g_mutex_init (&store->lock);
  store->users = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) user_free);
  store->warned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  store->watch = maildir_watch_new (store);
  return store;
}

void
maildir_store_free (MaildirStore *store)
{
  g_clear_pointer (&store->watch, maildir_watch_free);
  g_hash_table_unref (store->users);
  g_hash_table_unref (store->warned);
  g_mutex_clear (&store->lock);
  g_free (store->pattern);
  g_free (store);
}

void
maildir_store_rescan (MaildirStore *store, const char *user, const char *name)
{
  STORE_LOCK (store);
  g_autoptr(GError) error = NULL;
  MaildirUser *u = user_get (store, user, FALSE, &error);
  MaildirFolder f = { 0 };

  if (u != NULL && folder_lookup (u, name, 0, &f, &error))
    folder_refresh (store, u, &f, FALSE, &error);
  if (error != NULL && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
    g_warning ("rescan of %s for %s: %s", name, user, error->message);
  folder_clear (&f);
}
