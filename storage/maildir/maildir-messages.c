/* storage-maildir: changes to existing messages: STORE of flags and keywords
 * (renaming the file), COPY/MOVE and EXPUNGE.
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

/* ---- changing messages ---- */

/* Renames a message's file to carry @flags and @kw; follows a file
 * another program renamed. FALSE without error if the file is gone. */
static gboolean
file_set_flags (MaildirFolder *f, MaildirMessageRow *row, guint32 flags, GArray *kw, char **new_filename,
                GError **error)
{
  g_autofree char *old_path = g_build_filename (f->dir, row->filename, NULL);
  const char *old_name = strrchr (row->filename, '/') + 1;
  MaildirFileName parsed;
  g_autofree char *name = NULL;
  g_autofree char *new_path = NULL;

  if (!g_file_test (old_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *found = maildir_locate_file (f, row->base);

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
                                   flags, maildir_keyword_letters (kw), parsed.other);
  *new_filename = g_strconcat ("cur/", name, NULL);
  new_path = g_build_filename (f->dir, *new_filename, NULL);
  if (strcmp (old_path, new_path) != 0 && rename (old_path, new_path) < 0)
    {
      g_clear_pointer (new_filename, g_free);
      return maildir_set_errno_error (error, errno, "cannot rename", old_path);
    }
  return TRUE;
}

gboolean
maildir_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                     const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                     const char *const *keywords, guint64 unchangedsince,
                     PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) kw = NULL;
  g_autoptr(GArray) next_kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  gboolean keywords_added = FALSE, renamed = FALSE;
  gboolean ok = maildir_folder_open (store, user, name, uidvalidity, MAILDIR_REFRESH_WRITE, &u, &f, error) &&
                maildir_folder_lock (&f, error) && maildir_folder_refresh (store, u, &f, MAILDIR_REFRESH_WRITE, error) &&
                maildir_db_begin (u, error);
  gboolean began = ok;

  if (ok)
    ok = (rows = maildir_messages_collect (u, &f, uids, n_uids, FALSE, error)) != NULL &&
         (kw = maildir_keywords_resolve (u, f.id, keywords, &keywords_added, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];
      guint32 next;
      g_autofree char *filename = NULL;
      GError *local = NULL;
      guint64 modseq;

      next = storage_flags_apply (mode, flags, kw, row->flags, row->keywords, next_kw);
      next &= POSTHORN_MESSAGE_STORED_FLAGS;
      if (unchangedsince > 0 && row->modseq > unchangedsince)
        {
          posthorn_store_changes_add_modified (changes, row->uid);
          continue;
        }
      if (next == row->flags && storage_keyword_sets_equal (next_kw, row->keywords))
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
      ok = maildir_message_update (u, row, filename, next, next_kw, modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_FLAGS_CHANGED, user, name,
                                            f.uidvalidity, row->uid, modseq, next, 0);
    }
  if (ok && renamed)
    {
      g_autofree char *cur = maildir_folder_path (&f, "cur", NULL);

      ok = maildir_fsync_path (cur, error);
      maildir_folder_note_own_change (store, &f);
    }
  if (ok && keywords_added)
    ok = maildir_keywords_write (u, &f, error);
  if (ok)
    ok = maildir_folder_save (u, &f, error);
  if (began)
    ok = maildir_db_end (u, ok, ok ? error : NULL) && ok;
  maildir_folder_unlock (&f);
  maildir_folder_clear (&f);
  return ok;
}

gboolean
maildir_row_blobs (MaildirUser *u, gint64 id, GBytes **info, GBytes **lfmap, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT info, lfmap FROM messages WHERE id = ?1", error);
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
  return rc == SQLITE_ROW || rc == SQLITE_DONE || maildir_db_error (u, rc, error);
}

gboolean
maildir_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
              const guint32 *uids, guint n_uids, const char *dest, gboolean move,
              PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder src = { 0 }, dst_folder = { 0 };
  MaildirFolder *dst;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) src_names = NULL;
  g_autoptr(GPtrArray) placed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) unlink_after = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) lines = g_string_new (NULL);
  gboolean keywords_added = FALSE, same, began = FALSE;
  gboolean ok = maildir_folder_open (store, user, name, uidvalidity, MAILDIR_REFRESH_WRITE, &u, &src, error) &&
                maildir_folder_lookup (u, dest, 0, &dst_folder, error);

  same = ok && src.id == dst_folder.id;
  dst = same ? &src : &dst_folder;
  if (ok)
    {
      /* Lock order: directory names. */
      MaildirFolder *first = same || strcmp (src.dir, dst->dir) < 0 ? &src : dst;
      MaildirFolder *second = first == &src ? dst : &src;

      ok = maildir_folder_lock (first, error) && maildir_folder_lock (second, error) &&
           maildir_folder_refresh (store, u, &src, MAILDIR_REFRESH_WRITE, error) &&
           (same || maildir_folder_refresh (store, u, dst, MAILDIR_REFRESH_WRITE, error)) &&
           maildir_db_begin (u, error);
      began = ok;
    }
  if (ok)
    ok = (rows = maildir_messages_collect (u, &src, uids, n_uids, FALSE, error)) != NULL &&
         (src_names = maildir_keywords_list (u, src.id, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];
      g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
      g_autofree char *base = maildir_unique_base (row->size);
      g_autofree char *src_path = g_build_filename (src.dir, row->filename, NULL);
      g_autofree char *fname = NULL;
      g_autofree char *filename = NULL;
      g_autofree char *path = NULL;
      g_autoptr(GBytes) info = NULL;
      g_autoptr(GBytes) lfmap = NULL;
      MaildirNewRow r = { 0 };

      for (guint k = 0; ok && k < row->keywords->len; k++)
        {
          guint32 idx = g_array_index (row->keywords, guint32, k);
          guint32 dest_idx;

          if (idx + 1 >= src_names->len)
            continue;
          ok = maildir_keyword_index (u, dst->id, src_names->pdata[idx], &dest_idx, &keywords_added, error);
          if (ok)
            g_array_append_val (kw, dest_idx);
        }
      if (!ok)
        break;
      storage_keyword_set_normalize (kw);
      if (!g_file_test (src_path, G_FILE_TEST_EXISTS))
        {
          g_autofree char *found = maildir_locate_file (&src, row->base);

          if (found == NULL)
            continue;   /* gone: the next scan expunges it */
          g_free (src_path);
          src_path = g_build_filename (src.dir, found, NULL);
        }
      fname = maildir_filename_compose (base, strlen (base), row->flags, maildir_keyword_letters (kw), NULL);
      filename = g_strconcat ("cur/", fname, NULL);
      path = g_build_filename (dst->dir, filename, NULL);
      ok = maildir_row_blobs (u, row->id, &info, &lfmap, error) && maildir_file_place (src_path, path, error);
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
      ok = maildir_message_insert (u, dst, &r, error);
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
      MaildirMessageRow *row = rows->pdata[i];
      guint64 modseq;

      ok = maildir_message_remove (u, &src, row, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            src.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok)
    {
      g_autofree char *cur = maildir_folder_path (dst, "cur", NULL);

      ok = maildir_fsync_path (cur, error) && maildir_uidlist_append (dst, lines, error) &&
           (!keywords_added || maildir_keywords_write (u, dst, error));
    }
  if (ok && move)
    {
      g_autofree char *cur = maildir_folder_path (&src, "cur", NULL);

      for (guint i = 0; i < unlink_after->len; i++)
        g_unlink (unlink_after->pdata[i]);
      ok = maildir_fsync_path (cur, error);
    }
  if (ok)
    {
      maildir_folder_note_own_change (store, &src);
      if (!same)
        maildir_folder_note_own_change (store, dst);
      ok = maildir_folder_save (u, &src, error) && (same || maildir_folder_save (u, dst, error));
    }
  if (began)
    ok = maildir_db_end (u, ok, ok ? error : NULL) && ok;
  if (!ok)
    for (guint i = 0; i < placed->len; i++)
      g_unlink (placed->pdata[i]);
  maildir_folder_unlock (&src);
  maildir_folder_unlock (&dst_folder);
  maildir_folder_clear (&src);
  maildir_folder_clear (&dst_folder);
  return ok;
}

gboolean
maildir_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                 const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                 GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  g_autoptr(GPtrArray) rows = NULL;
  gboolean removed = FALSE;
  gboolean ok = maildir_folder_open (store, user, name, uidvalidity, MAILDIR_REFRESH_WRITE, &u, &f, error) &&
                maildir_folder_lock (&f, error) && maildir_folder_refresh (store, u, &f, MAILDIR_REFRESH_WRITE, error) &&
                maildir_db_begin (u, error);
  gboolean began = ok;

  if (ok)
    ok = (rows = maildir_messages_collect (u, &f, uids, n_uids, uids == NULL, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];
      g_autofree char *path = g_build_filename (f.dir, row->filename, NULL);
      guint64 modseq;

      if (!(row->flags & POSTHORN_MESSAGE_DELETED))
        continue;
      if (g_unlink (path) < 0)
        {
          g_autofree char *found = maildir_locate_file (&f, row->base);

          if (found != NULL)
            {
              g_autofree char *other = g_build_filename (f.dir, found, NULL);

              g_unlink (other);
            }
        }
      removed = TRUE;
      ok = maildir_message_remove (u, &f, row, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            f.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok && removed)
    {
      g_autofree char *cur = maildir_folder_path (&f, "cur", NULL);

      ok = maildir_fsync_path (cur, error);
      maildir_folder_note_own_change (store, &f);
    }
  if (ok)
    ok = maildir_folder_save (u, &f, error);
  if (began)
    ok = maildir_db_end (u, ok, ok ? error : NULL) && ok;
  maildir_folder_unlock (&f);
  maildir_folder_clear (&f);
  return ok;
}

