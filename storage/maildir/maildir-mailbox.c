/* storage-maildir: subscriptions, the folder list, and the vtable's mailbox
 * tree operations: open_user, LIST, CREATE, DELETE, RENAME, SUBSCRIBE.
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

#define SUBSCRIPTIONS_NAME "subscriptions"
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

  return maildir_replace_file (path, data, strlen (data), TRUE, error) && maildir_fsync_path (u->root, error);
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
      if (maildir_is_dir (cur))
        g_hash_table_add (on_disk, g_steal_pointer (&name));
    }
  if (!maildir_db_begin (u, error))
    return FALSE;
  stmt = maildir_db_stmt (u, "SELECT id, name FROM folders", error);
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
    ok = maildir_folder_forget (u, GPOINTER_TO_INT (gone->pdata[i]), error);
  if (ok)
    {
      GHashTableIter iter;
      gpointer name;

      g_hash_table_iter_init (&iter, on_disk);
      while (ok && g_hash_table_iter_next (&iter, &name, NULL))
        ok = maildir_folder_insert (u, name, maildir_special_use_by_name (name), TRUE, error);
    }
  return maildir_db_end (u, ok, error);
}

/* Makes folder @name (directory and row) unless it exists. */
gboolean
maildir_folder_create (MaildirUser *u, const char *name, PosthornSpecialUse special_use, gboolean *created,
                       PosthornStoreChanges *changes, GError **error)
{
  g_autofree char *dir = maildir_folder_dir_of (u, name);
  g_autofree char *cur = g_build_filename (dir, "cur", NULL);
  MaildirFolder f = { 0 };
  gboolean found;
  gboolean ok;

  *created = FALSE;
  if (!maildir_folder_read (u, name, &f, &found, error))
    return FALSE;
  maildir_folder_clear (&f);
  if (found && maildir_is_dir (cur))
    return TRUE;
  if (!maildir_is_dir (cur) && !maildir_make (dir, strcmp (name, "INBOX") != 0, error))
    return FALSE;
  if (found)
    return TRUE;
  ok = maildir_db_begin (u, error) && maildir_folder_insert (u, name, special_use, TRUE, error);
  if (!maildir_db_end (u, ok, error))
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
      if (!maildir_folder_create (u, path, 0, &created, changes, error))
        return FALSE;
      *p = '/';
    }
  return maildir_folder_create (u, name, special_use, &created, changes, error);
}

static gboolean
folder_exists (MaildirUser *u, const char *name)
{
  MaildirFolder f = { 0 };
  gboolean ok = maildir_folder_lookup (u, name, 0, &f, NULL);

  maildir_folder_clear (&f);
  return ok;
}

gboolean
maildir_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, TRUE, error);
  gboolean created;

  if (u == NULL)
    return FALSE;
  if (maildir_meta_get (u, "initialized") != 0)
    return TRUE;
  if (!folders_discover (u, error) ||
      !maildir_folder_create (u, "INBOX", 0, &created, changes, error) ||
      !subscription_set (u, "INBOX", TRUE, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (maildir_special_use_names); i++)
    {
      if (!maildir_folder_create (u, maildir_special_use_names[i], 1u << i, &created, changes, error))
        return FALSE;
      if (created && !subscription_set (u, maildir_special_use_names[i], TRUE, error))
        return FALSE;
    }
  return maildir_meta_set (u, "initialized", 1, error);
}

gboolean
maildir_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
  g_autoptr(GPtrArray) subs = NULL;
  sqlite3_stmt *stmt;
  int rc;

  if (u == NULL)
    return FALSE;
  if (!folders_discover (u, error))
    return FALSE;
  stmt = maildir_db_stmt (u, "SELECT name, special_use FROM folders", error);
  if (stmt == NULL)
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add (out, (const char *) sqlite3_column_text (stmt, 0),
                                  sqlite3_column_int (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  subs = subscriptions_read (u);
  for (guint i = 0; i < subs->len; i++)
    posthorn_store_mailboxes_add_subscription (out, subs->pdata[i]);
  return TRUE;
}

gboolean
maildir_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
                PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, TRUE, error);

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

gboolean
maildir_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
                GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
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
  if (!maildir_folder_lookup (u, name, 0, &f, error))
    {
      maildir_folder_clear (&f);
      return FALSE;
    }
  ok = maildir_folder_lock (&f, error);
  if (ok)
    {
      /* Out of sight first (one rename), then removed at leisure. */
      trash = g_strdup_printf ("%s/tmp/posthorn-deleted.%" G_GINT64_FORMAT ".%u", u->root, f.id,
                               g_random_int ());
      if (rename (f.dir, trash) < 0)
        ok = maildir_set_errno_error (error, errno, "cannot remove", f.dir);
      else
        ok = maildir_fsync_path (u->root, error);
      g_clear_pointer (&f.lock_path, g_free);
    }
  if (ok)
    ok = maildir_db_begin (u, error) && maildir_db_end (u, maildir_folder_forget (u, f.id, error), error);
  maildir_folder_unlock (&f);
  maildir_folder_clear (&f);
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
  static const char *const control[] = { MAILDIR_UIDLIST_NAME, MAILDIR_KEYWORDS_NAME };

  if (!maildir_make (new_dir, TRUE, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *from_dir = maildir_folder_path (inbox, subs[i], NULL);
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
            return maildir_set_errno_error (error, errno, "cannot move", from);
        }
      if (!maildir_fsync_path (from_dir, error) || !maildir_fsync_path (to_dir, error))
        return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (control); i++)
    {
      g_autofree char *from = maildir_folder_path (inbox, control[i], NULL);
      g_autofree char *to = g_build_filename (new_dir, control[i], NULL);

      if (rename (from, to) < 0 && errno != ENOENT)
        return maildir_set_errno_error (error, errno, "cannot move", from);
    }
  return maildir_fsync_path (u->root, error);
}

gboolean
maildir_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
                PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);
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
  if (!maildir_folder_lookup (u, old_name, 0, &f, error))
    {
      maildir_folder_clear (&f);
      return FALSE;
    }
  stmt = maildir_db_stmt (u, "SELECT name FROM folders WHERE name = ?1 OR substr (name, 1, length (?1) + 1) = ?1 || '/' "
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
        ok = maildir_db_error (u, rc, error);
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
    ok = maildir_folder_lock (&f, error);
  for (guint i = 0; ok && i < from->len; i++)
    {
      g_autofree char *src = maildir_folder_dir_of (u, from->pdata[i]);
      g_autofree char *dst = maildir_folder_dir_of (u, to->pdata[i]);

      if (is_inbox)
        ok = move_inbox (u, &f, dst, error);
      else if (rename (src, dst) < 0)
        ok = maildir_set_errno_error (error, errno, "cannot rename", src);
      if (ok && i == 0 && !is_inbox)
        {
          /* The lock moved with the directory. */
          g_free (f.lock_path);
          f.lock_path = g_build_filename (dst, MAILDIR_LOCK_NAME, NULL);
        }
      if (ok)
        {
          stmt = maildir_db_stmt (u, "UPDATE folders SET name = ?2, cur_stamp = '' WHERE name = ?1", error);
          ok = stmt != NULL;
          if (ok)
            {
              sqlite3_bind_text (stmt, 1, from->pdata[i], -1, SQLITE_STATIC);
              sqlite3_bind_text (stmt, 2, to->pdata[i], -1, SQLITE_STATIC);
              ok = maildir_db_done (u, stmt, error);
            }
        }
      if (ok)
        posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_RENAMED, user,
                                            to->pdata[i], from->pdata[i]);
    }
  maildir_folder_unlock (&f);
  maildir_folder_clear (&f);
  if (ok && !is_inbox)
    ok = maildir_fsync_path (u->root, error);
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

      ok = maildir_folder_create (u, "INBOX", 0, &created, changes, error);
    }
  if (store->watch != NULL)
    maildir_watch_forget_user (store->watch, user);
  return ok;
}

gboolean
maildir_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                   PosthornStoreChanges *changes, GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = maildir_user_get (store, user, TRUE, error);

  if (u == NULL || !subscription_set (u, name, subscribe, error))
    return FALSE;
  posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_SUBSCRIPTION_CHANGED, user, name, NULL);
  return TRUE;
}

