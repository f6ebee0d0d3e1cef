/* storage-maildir: delivery and APPEND: the file is written to tmp/, placed
 * in new/ or cur/ of each target folder and indexed.
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

/* ---- adding messages ---- */

/* Places @src at @dst: a hard link, or a copy (fsync'ed) across file
 * systems. */
gboolean
maildir_file_place (const char *src, const char *dst, GError **error)
{
  int in, out;
  char buf[65536];
  gssize n;

  if (link (src, dst) == 0)
    return TRUE;
  if (errno != EXDEV && errno != EPERM && errno != EMLINK)
    return maildir_set_errno_error (error, errno, "cannot link", dst);
  in = open (src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return maildir_set_errno_error (error, errno, "cannot open", src);
  out = open (dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (out < 0)
    {
      close (in);
      return maildir_set_errno_error (error, errno, "cannot create", dst);
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
      return maildir_set_errno_error (error, errsv, "cannot write", dst);
    }
  close (out);
  return TRUE;
}

/* Writes the message into tmp/ of @root: the bytes, the internal date as
 * mtime (as Dovecot does), fsync. */
static char *
write_tmp (const char *root, const PosthornStoreNewMessage *msg, GError **error)
{
  g_autofree char *base = maildir_unique_base (msg->size);
  g_autofree char *path = g_build_filename (root, "tmp", base, NULL);
  struct timespec times[2];
  int fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      maildir_set_errno_error (error, errno, "cannot create", path);
      return NULL;
    }
  times[0].tv_sec = times[1].tv_sec = msg->internal_date != 0 ? msg->internal_date : time (NULL);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (!posthorn_message_write_to_fd (msg->message, fd, error) ||
      futimens (fd, times) < 0 || fsync (fd) < 0)
    {
      if (error != NULL && *error == NULL)
        maildir_set_errno_error (error, errno, "cannot write", path);
      close (fd);
      g_unlink (path);
      return NULL;
    }
  if (close (fd) < 0)
    {
      maildir_set_errno_error (error, errno, "cannot write", path);
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

  maildir_folder_unlock (&af->folder);
  maildir_folder_clear (&af->folder);
  g_string_free (af->uidlist_lines, TRUE);
  g_free (af);
}

static void
unlink_all (GPtrArray *paths)
{
  for (guint i = 0; i < paths->len; i++)
    g_unlink (paths->pdata[i]);
}

/* Adds every message of @msgs to every target: all files are written to
 * tmp/ first, then placed in cur/ and indexed under the lock, and each
 * folder's uidlist is appended to once, so a reader sees all of them or
 * none (MULTIAPPEND). */
static gboolean
append_messages (MaildirStore *store, const PosthornStoreNewMessage *const *msgs, guint n_msgs,
                 const PosthornStoreTarget *targets, guint n_targets,
                 PosthornStoreChanges *changes, GError **error)
{
  g_autoptr(GPtrArray) folders = g_ptr_array_new_with_free_func (append_folder_free);
  g_autoptr(GPtrArray) placed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) tmps = g_ptr_array_new_with_free_func (g_free);
  g_autofree AppendFolder **target_folder = g_new0 (AppendFolder *, n_targets);
  gboolean ok = TRUE;

  /* The bytes go to disk before the lock is taken: a 50 MB APPEND does not
   * hold up everyone else. */
  {
    g_autofree char *root = maildir_expand_path (store->pattern, targets[0].user, error);

    if (root == NULL || (!maildir_is_dir (root) && !maildir_make (root, FALSE, error)))
      return FALSE;
    for (guint k = 0; k < n_msgs; k++)
      {
        char *tmp = write_tmp (root, msgs[k], error);

        if (tmp == NULL)
          {
            unlink_all (tmps);
            return FALSE;
          }
        g_ptr_array_add (tmps, tmp);
      }
  }

  g_mutex_lock (&store->lock);
  for (guint i = 0; ok && i < n_targets; i++)
    {
      MaildirUser *u = maildir_user_get (store, targets[i].user, TRUE, error);
      AppendFolder *af = NULL;

      ok = u != NULL;
      if (ok && strcmp (targets[i].mailbox, "INBOX") == 0)
        {
          gboolean created;

          /* Delivery to someone who never logged in: make INBOX. */
          ok = maildir_folder_create (u, "INBOX", 0, &created, changes, error);
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
          ok = maildir_folder_lookup (u, targets[i].mailbox, 0, &af->folder, error);
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

      ok = maildir_folder_lock (&af->folder, error) &&
           maildir_folder_refresh (store, af->user, &af->folder, FALSE, error);
    }
  for (guint i = 0; ok && i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];

      if (sqlite3_get_autocommit (af->user->db) != 0)
        {
          ok = maildir_db_begin (af->user, error);
          af->in_transaction = ok;
        }
    }
  for (guint n = 0; ok && n < n_msgs * n_targets; n++)
    {
      const PosthornStoreNewMessage *msg = msgs[n / n_targets];
      const char *tmp = tmps->pdata[n / n_targets];
      guint i = n % n_targets;
      AppendFolder *af = target_folder[i];
      MaildirFolder *f = &af->folder;
      g_autofree char *base = maildir_unique_base (msg->size);
      g_autoptr(GArray) kw = maildir_keywords_resolve (af->user, f->id, msg->keywords, &af->keywords_added, error);
      g_autofree char *name = NULL;
      g_autofree char *filename = NULL;
      g_autofree char *path = NULL;
      MaildirNewRow r = { 0 };

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
      name = maildir_filename_compose (base, strlen (base), msg->flags, maildir_keyword_letters (kw), NULL);
      filename = g_strconcat ("cur/", name, NULL);
      path = g_build_filename (f->dir, filename, NULL);
      ok = maildir_file_place (tmp, path, error);
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
      ok = maildir_message_insert (af->user, f, &r, error);
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
      g_autofree char *cur = maildir_folder_path (&af->folder, "cur", NULL);

      ok = maildir_fsync_path (cur, error) &&
           maildir_uidlist_append (&af->folder, af->uidlist_lines, error) &&
           (!af->keywords_added || maildir_keywords_write (af->user, &af->folder, error));
      if (ok)
        {
          maildir_folder_note_own_change (&af->folder);
          ok = maildir_folder_save (af->user, &af->folder, error);
        }
    }
  /* Commit (each user's index once). */
  for (guint i = 0; i < folders->len; i++)
    {
      AppendFolder *af = folders->pdata[i];

      if (af->in_transaction)
        {
          if (!maildir_db_end (af->user, ok, ok ? error : NULL))
            ok = FALSE;
          af->in_transaction = FALSE;
        }
    }
  if (!ok)
    unlink_all (placed);
  g_clear_pointer (&folders, g_ptr_array_unref);
  g_mutex_unlock (&store->lock);
  unlink_all (tmps);
  return ok;
}

gboolean
maildir_append (gpointer data, const PosthornStoreNewMessage *msg,
                const PosthornStoreTarget *targets, guint n_targets,
                PosthornStoreChanges *changes, GError **error)
{
  return append_messages (data, &msg, 1, targets, n_targets, changes, error);
}

gboolean
maildir_append_multi (gpointer data, const PosthornStoreNewMessage *const *messages,
                      guint n_messages, const PosthornStoreTarget *target,
                      PosthornStoreChanges *changes, GError **error)
{
  return append_messages (data, messages, n_messages, target, 1, changes, error);
}

