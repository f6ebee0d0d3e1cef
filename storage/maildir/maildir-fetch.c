/* storage-maildir: reading messages: FETCH of metadata, READ of the bytes
 * (through the LF map of non-canonical files) and full-text SEARCH.
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

/* ---- reading ---- */

gboolean
maildir_fetch (gpointer data, const char *user, const char *name, guint32 uidvalidity,
               const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
               GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok = u != NULL && maildir_folder_lookup (u, name, uidvalidity, &f, error) &&
                maildir_db_exec (u, "BEGIN", error);

  if (ok)
    ok = (rows = maildir_messages_collect (u, &f, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];
      g_autoptr(GBytes) info = NULL;
      g_autoptr(GBytes) lfmap = NULL;

      ok = maildir_row_blobs (u, row->id, &info, &lfmap, error);
      if (ok)
        posthorn_store_fetch_builder_add (out, row->uid, row->internal_date, row->size, info);
    }
  if (u != NULL && sqlite3_get_autocommit (u->db) == 0)
    sqlite3_exec (u->db, "COMMIT", NULL, NULL, NULL);
  maildir_folder_clear (&f);
  return ok;
}

gboolean
maildir_fetch_sizes (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                     const guint32 *uids, guint n_uids, PosthornStoreFetchBuilder *out,
                     GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok = u != NULL && maildir_folder_lookup (u, name, uidvalidity, &f, error) &&
                maildir_db_exec (u, "BEGIN", error);

  if (ok)
    ok = (rows = maildir_messages_collect (u, &f, uids, n_uids, FALSE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];

      posthorn_store_fetch_builder_add (out, row->uid, row->internal_date, row->size, NULL);
    }
  if (u != NULL && sqlite3_get_autocommit (u->db) == 0)
    sqlite3_exec (u->db, "COMMIT", NULL, NULL, NULL);
  maildir_folder_clear (&f);
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
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok = u != NULL && maildir_folder_lookup (u, name, uidvalidity, &f, error) &&
                (!rescan || maildir_folder_refresh (store, u, &f, MAILDIR_REFRESH_FORCE, error)) &&
                (rows = maildir_messages_collect (u, &f, &uid, 1, FALSE, error)) != NULL;
  GBytes *info = NULL;

  if (ok && rows->len == 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no message UID %u in %s",
                   uid, name);
      ok = FALSE;
    }
  if (ok)
    {
      MaildirMessageRow *row = rows->pdata[0];

      t->path = g_build_filename (f.dir, row->filename, NULL);
      t->size = row->size;
      t->file_size = row->file_size;
      ok = maildir_row_blobs (u, row->id, &info, &t->lfmap, error);
      g_clear_pointer (&info, g_bytes_unref);
    }
  maildir_folder_clear (&f);
  return ok;
}

gssize
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
        maildir_set_errno_error (error, errno, "cannot open", t.path);
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

      done = maildir_lfmap_read (fd, map, map_len, offset, buffer, length, error);
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
              maildir_set_errno_error (error, errno, "cannot read", t.path);
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

gboolean
maildir_search_text (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                     PosthornSearchField field, const char *needle, GArray *out_uids,
                     GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
  MaildirFolder f = { 0 };
  gboolean body = field == POSTHORN_SEARCH_BODY;
  StorageSearchKind kind;
  g_autofree char *query = storage_search_query (needle, body, &kind);
  sqlite3_stmt *stmt = NULL;
  gboolean ok = u != NULL && maildir_folder_lookup (u, name, uidvalidity, &f, error);
  int rc;

  if (ok)
    switch (kind)
      {
      case STORAGE_SEARCH_MATCH:
        stmt = maildir_db_stmt (u, "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
                                   "(SELECT rowid FROM search WHERE search MATCH ?2) ORDER BY uid", error);
        break;
      case STORAGE_SEARCH_EVERY:
        stmt = maildir_db_stmt (u, "SELECT uid FROM messages WHERE folder_id = ?1 AND ?2 IS NULL ORDER BY uid",
                                error);
        break;
      case STORAGE_SEARCH_LIKE:
        stmt = maildir_db_stmt (u, body
          ? "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
            "(SELECT rowid FROM search WHERE body_text LIKE ?2 ESCAPE '\\') ORDER BY uid"
          : "SELECT uid FROM messages WHERE folder_id = ?1 AND id IN "
            "(SELECT rowid FROM search WHERE header_text LIKE ?2 ESCAPE '\\' "
            "OR body_text LIKE ?2 ESCAPE '\\') ORDER BY uid", error);
        break;
      }
  ok = ok && stmt != NULL;
  if (ok)
    {
      sqlite3_bind_int64 (stmt, 1, f.id);
      if (query != NULL)
        sqlite3_bind_text (stmt, 2, query, -1, SQLITE_STATIC);
      rc = storage_uids_read (stmt, out_uids);
      ok = rc == SQLITE_DONE || maildir_db_error (u, rc, error);
    }
  maildir_folder_clear (&f);
  return ok;
}

