/* storage-maildir: the per-user index database, posthorn-index.db (SQLite,
 * WAL): schema, statements, users, keyword sets and folder rows.
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
const char *const maildir_special_use_names[5] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };

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
  /* added in session 2 (IF NOT EXISTS: older indexes get them on open) */
  "CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (folder_id, modseq)",
  "CREATE TABLE IF NOT EXISTS snapshots (folder_id INTEGER PRIMARY KEY, modseq INTEGER NOT NULL, "
  "data BLOB NOT NULL)",
};

/* ------------------------------------------------------------------ */
/* the index database                                                  */
/* ------------------------------------------------------------------ */

gboolean
maildir_db_error (MaildirUser *u, int rc, GError **error)
{
  g_set_error (error, POSTHORN_ERROR,
               rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? POSTHORN_ERROR_TEMPORARY
               : rc == SQLITE_FULL ? POSTHORN_ERROR_OVER_QUOTA : POSTHORN_ERROR_FAILED,
               "%s/" INDEX_NAME ": %s", u->root, sqlite3_errmsg (u->db));
  return FALSE;
}

sqlite3_stmt *
maildir_db_stmt (MaildirUser *u, const char *sql, GError **error)
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
      maildir_db_error (u, rc, error);
      return NULL;
    }
  g_hash_table_insert (u->stmts, (gpointer) sql, stmt);
  return stmt;
}

gboolean
maildir_db_exec (MaildirUser *u, const char *sql, GError **error)
{
  int rc = sqlite3_exec (u->db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK || maildir_db_error (u, rc, error);
}

gboolean
maildir_db_done (MaildirUser *u, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  return rc == SQLITE_DONE || rc == SQLITE_ROW || maildir_db_error (u, rc, error);
}

gboolean
maildir_db_begin (MaildirUser *u, GError **error)
{
  return maildir_db_exec (u, "BEGIN IMMEDIATE", error);
}

gboolean
maildir_db_end (MaildirUser *u, gboolean ok, GError **error)
{
  if (ok)
    {
      if (maildir_db_exec (u, "COMMIT", error))
        return TRUE;
    }
  sqlite3_exec (u->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

gint64
maildir_meta_get (MaildirUser *u, const char *key)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT value FROM meta WHERE key = ?1", NULL);
  gint64 v = 0;

  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    v = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return v;
}

gboolean
maildir_meta_set (MaildirUser *u, const char *key, gint64 value, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, value);
  return maildir_db_done (u, stmt, error);
}

static void
stmt_finalize (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

void
maildir_user_free (MaildirUser *u)
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
MaildirUser *
maildir_user_get (MaildirStore *store, const char *name, gboolean create, GError **error)
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
  if (!maildir_is_dir (root))
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
      maildir_db_error (u, rc, error);
      maildir_user_free (u);
      return NULL;
    }
  sqlite3_busy_timeout (u->db, 30000);
  if (!maildir_db_exec (u, "PRAGMA journal_mode=WAL", error) ||
      !maildir_db_exec (u, "PRAGMA synchronous=FULL", error) ||
      !maildir_db_begin (u, error))
    {
      maildir_user_free (u);
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (schema); i++)
    if (!maildir_db_exec (u, schema[i], error))
      {
        sqlite3_exec (u->db, "ROLLBACK", NULL, NULL, NULL);
        maildir_user_free (u);
        return NULL;
      }
  if (!maildir_db_end (u, TRUE, error))
    {
      maildir_user_free (u);
      return NULL;
    }
  g_hash_table_insert (store->users, u->name, u);
  return u;
}

/* A new UIDVALIDITY: the time, but above every one this user had. */
static gboolean
next_uidvalidity (MaildirUser *u, guint32 *out, GError **error)
{
  gint64 last = maildir_meta_get (u, "uidvalidity");
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  last = MAX (last + 1, now & 0x7fffffff);
  if (last > G_MAXUINT32)
    last = 1;
  *out = (guint32) last;
  return maildir_meta_set (u, "uidvalidity", last, error);
}

/* ---- keyword sets (storage-keywords.h) ---- */

guint32
maildir_keyword_letters (GArray *set)
{
  guint32 mask = 0;

  for (guint i = 0; i < set->len; i++)
    if (g_array_index (set, guint32, i) < 26)
      mask |= 1u << g_array_index (set, guint32, i);
  return mask;
}

/* The folder's keyword names by index (holes "$unused"), NULL-terminated. */
GPtrArray *
maildir_keywords_list (MaildirUser *u, gint64 folder_id, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT idx, name FROM keywords WHERE folder_id = ?1 ORDER BY idx",
                                        error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, folder_id);
  rc = storage_keyword_names_read (stmt, names);
  if (rc != SQLITE_DONE)
    {
      maildir_db_error (u, rc, error);
      return NULL;
    }
  return g_steal_pointer (&names);
}

/* The index of keyword @name (any case), added when missing. *@added
 * tells the caller to rewrite dovecot-keywords. */
gboolean
maildir_keyword_index (MaildirUser *u, gint64 folder_id, const char *name, guint32 *out,
                       gboolean *added, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT idx FROM keywords WHERE folder_id = ?1 AND "
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
    return maildir_db_error (u, rc, error);
  stmt = maildir_db_stmt (u, "INSERT INTO keywords (folder_id, idx, name) VALUES (?1, (SELECT "
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
    return maildir_db_error (u, rc, error);
  *added = TRUE;
  return TRUE;
}

GArray *
maildir_keywords_resolve (MaildirUser *u, gint64 folder_id, const char *const *names, gboolean *added,
                          GError **error)
{
  g_autoptr(GArray) set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      guint32 idx;

      if (!maildir_keyword_index (u, folder_id, names[i], &idx, added, error))
        return NULL;
      g_array_append_val (set, idx);
    }
  storage_keyword_set_normalize (set);
  return g_steal_pointer (&set);
}

/* ------------------------------------------------------------------ */
/* folders                                                             */
/* ------------------------------------------------------------------ */

char *
maildir_folder_dir_of (MaildirUser *u, const char *name)
{
  g_autofree char *rel = maildir_name_to_dir (name);

  return *rel == '\0' ? g_strdup (u->root) : g_build_filename (u->root, rel, NULL);
}

PosthornSpecialUse
maildir_special_use_by_name (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (maildir_special_use_names); i++)
    if (strcmp (name, maildir_special_use_names[i]) == 0)
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
  f->dir = maildir_folder_dir_of (u, f->name);
}

/* Reads @name's row; FALSE without error when there is none. */
gboolean
maildir_folder_read (MaildirUser *u, const char *name, MaildirFolder *f, gboolean *found, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT " FOLDER_COLUMNS " FROM folders WHERE name = ?1", error);
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
      maildir_folder_clear (f);
      folder_from_row (u, stmt, f);
      f->lock_path = lock;
      *found = TRUE;
    }
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW || rc == SQLITE_DONE || maildir_db_error (u, rc, error);
}

gboolean
maildir_folder_save (MaildirUser *u, const MaildirFolder *f, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "UPDATE folders SET uidvalidity = ?2, uidnext = ?3, "
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
  return maildir_db_done (u, stmt, error);
}

gboolean
maildir_read_uidlist (const char *dir, MaildirUidlist *out)
{
  g_autofree char *path = g_build_filename (dir, MAILDIR_UIDLIST_NAME, NULL);
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
gboolean
maildir_folder_insert (MaildirUser *u, const char *name, PosthornSpecialUse special_use,
                       gboolean adopt, GError **error)
{
  g_autofree char *dir = maildir_folder_dir_of (u, name);
  MaildirUidlist uidlist = { 0 };
  g_autofree char *guid = NULL;
  guint32 uidvalidity;
  sqlite3_stmt *stmt;
  gboolean ok;

  if (adopt && maildir_read_uidlist (dir, &uidlist))
    {
      uidvalidity = uidlist.uidvalidity;
      guid = g_strdup (uidlist.guid);
      if ((gint64) uidvalidity > maildir_meta_get (u, "uidvalidity") &&
          !maildir_meta_set (u, "uidvalidity", uidvalidity, error))
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
  stmt = maildir_db_stmt (u, "INSERT INTO folders (name, special_use, uidvalidity, guid) "
                     "VALUES (?1, ?2, ?3, ?4)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, special_use);
  sqlite3_bind_int64 (stmt, 3, uidvalidity);
  sqlite3_bind_text (stmt, 4, guid, -1, SQLITE_STATIC);
  ok = maildir_db_done (u, stmt, error);
  return ok;
}

/* Removes the folder's rows (its directory is gone or going). */
gboolean
maildir_folder_forget (MaildirUser *u, gint64 id, GError **error)
{
  static const char *const sql[] = {
    "DELETE FROM search WHERE rowid IN (SELECT id FROM messages WHERE folder_id = ?1)",
    "DELETE FROM messages WHERE folder_id = ?1",
    "DELETE FROM expunged WHERE folder_id = ?1",
    "DELETE FROM keywords WHERE folder_id = ?1",
    "DELETE FROM snapshots WHERE folder_id = ?1",
    "DELETE FROM folders WHERE id = ?1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *stmt = maildir_db_stmt (u, sql[i], error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, id);
      if (!maildir_db_done (u, stmt, error))
        return FALSE;
    }
  return TRUE;
}

/* Finds mailbox @name: its row, adopting a directory another program made
 * and dropping a row whose directory another program removed. */
gboolean
maildir_folder_lookup (MaildirUser *u, const char *name, guint32 uidvalidity, MaildirFolder *f,
                       GError **error)
{
  g_autofree char *dir = maildir_folder_dir_of (u, name);
  g_autofree char *cur = g_build_filename (dir, "cur", NULL);
  gboolean exists = maildir_is_dir (cur);
  gboolean found;

  if (!maildir_folder_read (u, name, f, &found, error))
    return FALSE;
  if (found != exists)
    {
      gboolean ok = maildir_db_begin (u, error) &&
                    maildir_folder_read (u, name, f, &found, error);

      if (ok && found && !exists)
        ok = maildir_folder_forget (u, f->id, error);
      else if (ok && !found && exists)
        ok = maildir_folder_insert (u, name, maildir_special_use_by_name (name), TRUE, error);
      if (!maildir_db_end (u, ok, error))
        return FALSE;
      if (!maildir_folder_read (u, name, f, &found, error))
        return FALSE;
    }
  if (!found)
    return maildir_not_found (error, name);
  if (uidvalidity != 0 && uidvalidity != f->uidvalidity)
    return maildir_not_found (error, name);
  return TRUE;
}

