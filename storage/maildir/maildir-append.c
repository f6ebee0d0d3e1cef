/* storage-maildir: delivery and APPEND, group-committed.
 *
 * A call (one message to one or several users' mailboxes, or several
 * messages to one mailbox for MULTIAPPEND) runs in two parts:
 *
 * 1. On the caller's worker thread, without any lock: the message is
 *    written to tmp/ of the first target's Maildir root and fsync'ed, and
 *    placed in tmp/ of every other target (a hard link, or an fsync'ed
 *    copy across file systems): one tmp/ file per message and target.
 *
 * 2. The call joins the commit queue. Whichever waiting thread finds no
 *    commit running takes everything queued (its own call and all that
 *    arrived meanwhile) and commits it as one batch under the store lock:
 *    each call's index rows are inserted and its tmp/ files renamed into
 *    cur/ inside an SQLite savepoint (a call that fails there is undone:
 *    renamed back, rolled back; the others go on), then once per folder
 *    cur/ is fsync'ed and dovecot-uidlist appended to, and once per user
 *    the index is committed. Only then is every call of the batch
 *    answered. So N messages arriving together cost N file fsyncs (in
 *    parallel) and two more (cur/, the index) per folder, instead of two
 *    more each. dovecot-uidlist is not fsync'ed: the index is what counts
 *    for us, and a scan that finds the uidlist short of messages (lost
 *    lines after a power failure) rewrites it.
 *
 * All or nothing across targets: nothing is visible before the renames,
 * a failure before them removes every tmp/ file, a failure of a rename
 * renames the call's earlier ones back. A crash between two renames (or
 * before the index commit) leaves the message whole in cur/ of the
 * targets renamed so far (the next scan indexes each such file once,
 * with the UID dovecot-uidlist gives it when that was written) and in
 * tmp/ of the others, where no reader looks; the sender got no answer and
 * sends again. Running the scan again after another crash changes
 * nothing more: recovery is idempotent.
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

/* Writes the message into tmp/ of @root as @base: the bytes, the internal
 * date as mtime (as Dovecot does), fsync. */
static char *
write_tmp (const char *root, const char *base, const PosthornStoreNewMessage *msg, GError **error)
{
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

/* A folder of a batch, locked and in its user's transaction. */
typedef struct {
  MaildirUser *user;
  MaildirFolder folder;
  GString *uidlist_lines;
  gboolean keywords_added;
  gboolean usable;        /* locked and scanned */
  guint n_placed;         /* files renamed into its cur/ by this batch */
} AppendFolder;

/* One append/deliver call waiting for (or in) a commit. */
typedef struct {
  const PosthornStoreNewMessage *const *msgs;
  guint n_msgs;
  const PosthornStoreTarget *targets;
  guint n_targets;
  PosthornStoreChanges *changes;
  char **bases;           /* [k * n_targets + i]: message k at target i */
  char **tmps;            /* its file in tmp/ of target i's root */
  GPtrArray *placed;      /* cur/ paths renamed from tmps (pairs: cur, tmp) */
  AppendFolder **folders; /* [i] */
  gboolean failed;
  GError *error;
  gboolean done;
} AppendCall;

static void
append_folder_free (gpointer p)
{
  AppendFolder *af = p;

  maildir_folder_unlock (&af->folder);
  maildir_folder_clear (&af->folder);
  g_string_free (af->uidlist_lines, TRUE);
  g_free (af);
}

static int
append_folder_compare (gconstpointer a, gconstpointer b)
{
  const AppendFolder *x = *(AppendFolder *const *) a, *y = *(AppendFolder *const *) b;

  return strcmp (x->folder.dir, y->folder.dir);
}

static void
call_fail (AppendCall *call, GError *error)
{
  if (!call->failed)
    {
      call->failed = TRUE;
      call->error = error;
    }
  else
    g_clear_error (&error);
}

/* Renames the call's files out of cur/ again (a failure after they were
 * placed, before the commit). */
static void
call_unplace (AppendCall *call)
{
  for (guint j = call->placed->len; j >= 2; j -= 2)
    {
      const char *cur = call->placed->pdata[j - 2], *tmp = call->placed->pdata[j - 1];

      if (rename (cur, tmp) < 0)
        g_unlink (cur);
    }
  g_ptr_array_set_size (call->placed, 0);
}

static AppendFolder *
batch_folder (GPtrArray *folders, MaildirUser *u, const char *name, GError **error)
{
  AppendFolder *af;

  for (guint j = 0; j < folders->len; j++)
    {
      af = folders->pdata[j];
      if (af->user == u && strcmp (af->folder.name, name) == 0)
        return af;
    }
  af = g_new0 (AppendFolder, 1);
  af->user = u;
  af->uidlist_lines = g_string_new (NULL);
  if (!maildir_folder_lookup (u, name, 0, &af->folder, error))
    {
      append_folder_free (af);
      return NULL;
    }
  g_ptr_array_add (folders, af);
  return af;
}

static gboolean
savepoint (GPtrArray *users, const char *sql, GError **error)
{
  gboolean ok = TRUE;

  for (guint j = 0; j < users->len; j++)
    if (!maildir_db_exec (users->pdata[j], sql, ok ? error : NULL))
      ok = FALSE;
  return ok;
}

/* What a call changes in its folders, to put back if it fails. */
typedef struct {
  guint32 uidnext;
  guint64 highestmodseq;
  gsize uidlist_len;
  gboolean keywords_added;
  guint n_placed;
} FolderMark;

/* Inserts the rows of every message of @call at every target and renames
 * its tmp/ files into cur/, all inside one savepoint per user: on failure
 * nothing of the call is left (rows, files, folder counters). */
static gboolean
call_place (AppendCall *call, GError **error)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new ();
  g_autofree FolderMark *marks = g_new0 (FolderMark, call->n_targets);
  gboolean ok = TRUE;

  for (guint i = 0; i < call->n_targets; i++)
    {
      AppendFolder *af = call->folders[i];

      if (!g_ptr_array_find (users, af->user, NULL))
        g_ptr_array_add (users, af->user);
      marks[i] = (FolderMark) { af->folder.uidnext, af->folder.highestmodseq, af->uidlist_lines->len,
                                af->keywords_added, af->n_placed };
    }
  if (!savepoint (users, "SAVEPOINT append_call", error))
    {
      savepoint (users, "ROLLBACK TO append_call", NULL);
      savepoint (users, "RELEASE append_call", NULL);
      return FALSE;
    }
  for (guint n = 0; ok && n < call->n_msgs * call->n_targets; n++)
    {
      const PosthornStoreNewMessage *msg = call->msgs[n / call->n_targets];
      guint i = n % call->n_targets;
      AppendFolder *af = call->folders[i];
      MaildirFolder *f = &af->folder;
      const char *base = call->bases[n];
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
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs", f->name);
          ok = FALSE;
          break;
        }
      name = maildir_filename_compose (base, strlen (base), msg->flags, maildir_keyword_letters (kw), NULL);
      filename = g_strconcat ("cur/", name, NULL);
      path = g_build_filename (f->dir, filename, NULL);
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
      if (ok && rename (call->tmps[n], path) < 0)
        ok = maildir_set_errno_error (error, errno, "cannot move a new message to", path);
      if (!ok)
        break;
      g_ptr_array_add (call->placed, g_steal_pointer (&path));
      g_ptr_array_add (call->placed, g_strdup (call->tmps[n]));
      af->n_placed++;
      g_string_append_printf (af->uidlist_lines, "%u :%s\n", r.uid, base);
      posthorn_store_changes_add_message (call->changes, POSTHORN_EVENT_MESSAGE_NEW, call->targets[i].user,
                                          call->targets[i].mailbox, f->uidvalidity, r.uid, r.modseq,
                                          msg->flags & POSTHORN_MESSAGE_STORED_FLAGS, 0);
    }
  if (ok)
    ok = savepoint (users, "RELEASE append_call", error);
  if (!ok)
    {
      call_unplace (call);
      savepoint (users, "ROLLBACK TO append_call", NULL);
      savepoint (users, "RELEASE append_call", NULL);
      for (guint i = call->n_targets; i-- > 0;)
        {
          AppendFolder *af = call->folders[i];

          af->folder.uidnext = marks[i].uidnext;
          af->folder.highestmodseq = marks[i].highestmodseq;
          g_string_truncate (af->uidlist_lines, marks[i].uidlist_len);
          af->keywords_added = marks[i].keywords_added;
          af->n_placed = marks[i].n_placed;
        }
    }
  return ok;
}

/* Commits @batch (AppendCall) under the store lock; sets each call's
 * result. */
static void
commit_batch (MaildirStore *store, GPtrArray *batch)
{
  g_autoptr(GPtrArray) folders = g_ptr_array_new_with_free_func (append_folder_free);
  g_autoptr(GPtrArray) users = g_ptr_array_new ();
  g_autoptr(GPtrArray) in_transaction = g_ptr_array_new ();
  GError *error = NULL;
  gboolean ok = TRUE;
  guint n_committed = 0;

  MAILDIR_STORE_LOCK (store);

  /* The folders of every call (a missing one fails that call only). */
  for (guint c = 0; c < batch->len; c++)
    {
      AppendCall *call = batch->pdata[c];

      for (guint i = 0; !call->failed && i < call->n_targets; i++)
        {
          MaildirUser *u = maildir_user_get (store, call->targets[i].user, TRUE, &error);
          gboolean created;

          if (u != NULL && strcmp (call->targets[i].mailbox, "INBOX") == 0 &&
              !maildir_folder_create (u, "INBOX", 0, &created, call->changes, &error))
            u = NULL;
          if (u != NULL)
            call->folders[i] = batch_folder (folders, u, call->targets[i].mailbox, &error);
          if (u == NULL || call->folders[i] == NULL)
            call_fail (call, g_steal_pointer (&error));
        }
    }

  /* Lock in one order (directory names), so two processes never wait for
   * each other, and catch up with what others changed. */
  g_ptr_array_sort (folders, append_folder_compare);
  for (guint j = 0; j < folders->len; j++)
    {
      AppendFolder *af = folders->pdata[j];

      af->usable = maildir_folder_lock (&af->folder, &error) &&
                   maildir_folder_refresh (store, af->user, &af->folder, MAILDIR_REFRESH_WRITE, &error);
      if (!af->usable)
        {
          for (guint c = 0; c < batch->len; c++)
            {
              AppendCall *call = batch->pdata[c];

              for (guint i = 0; !call->failed && i < call->n_targets; i++)
                if (call->folders[i] == af)
                  call_fail (call, g_error_copy (error));
            }
          g_clear_error (&error);
        }
      else if (!g_ptr_array_find (users, af->user, NULL))
        g_ptr_array_add (users, af->user);
    }
  for (guint j = 0; j < users->len; j++)
    {
      MaildirUser *u = users->pdata[j];

      if (!maildir_db_begin (u, &error))
        {
          for (guint c = 0; c < batch->len; c++)
            {
              AppendCall *call = batch->pdata[c];

              for (guint i = 0; !call->failed && i < call->n_targets; i++)
                if (call->folders[i]->user == u)
                  call_fail (call, g_error_copy (error));
            }
          g_clear_error (&error);
        }
      else
        g_ptr_array_add (in_transaction, u);
    }

  /* Each call in its savepoint: rows and renames. */
  for (guint c = 0; c < batch->len; c++)
    {
      AppendCall *call = batch->pdata[c];

      if (!call->failed && !call_place (call, &error))
        call_fail (call, g_steal_pointer (&error));
    }

  /* Once per folder: cur/ and dovecot-uidlist to disk, the folder row. */
  for (guint j = 0; ok && j < folders->len; j++)
    {
      AppendFolder *af = folders->pdata[j];
      g_autofree char *cur = NULL;

      if (!af->usable || af->n_placed == 0)
        continue;
      cur = maildir_folder_path (&af->folder, "cur", NULL);
      ok = maildir_fsync_path (cur, &error) &&
           maildir_uidlist_append (&af->folder, af->uidlist_lines, &error) &&
           (!af->keywords_added || maildir_keywords_write (af->user, &af->folder, &error));
      if (ok)
        {
          maildir_folder_note_own_change (store, &af->folder);
          ok = maildir_folder_save (af->user, &af->folder, &error);
        }
    }

  /* Once per user: the index. Until the first commit nothing is kept;
   * after it, every placed file is on disk in cur/ (the fsyncs above), so
   * a later user whose commit fails still has the messages: its next
   * scan indexes them with the UIDs dovecot-uidlist now lists. */
  for (guint j = 0; j < in_transaction->len; j++)
    {
      MaildirUser *u = in_transaction->pdata[j];
      g_autoptr(GError) local = NULL;

      if (ok && maildir_db_end (u, TRUE, &local))
        n_committed++;
      else if (ok && n_committed == 0)
        {
          ok = FALSE;
          error = g_steal_pointer (&local);
        }
      else if (ok)
        g_warning ("%s: the index commit failed after the new messages were placed; the next scan "
                   "indexes them: %s", u->root, local->message);
      else
        maildir_db_end (u, FALSE, NULL);
    }
  for (guint c = 0; c < batch->len; c++)
    {
      AppendCall *call = batch->pdata[c];

      if (!ok && !call->failed)
        {
          call_unplace (call);
          call_fail (call, g_error_copy (error));
        }
    }
  g_clear_error (&error);
  if (batch->len > 1)
    g_debug ("group commit: %u calls", batch->len);
}

static void
append_call_clear (AppendCall *call)
{
  for (guint n = 0; n < call->n_msgs * call->n_targets; n++)
    if (call->tmps[n] != NULL)
      g_unlink (call->tmps[n]);
  g_strfreev (call->tmps);
  g_strfreev (call->bases);
  g_ptr_array_unref (call->placed);
  g_free (call->folders);
  g_clear_error (&call->error);
}

/* Part 1 of the file comment: every message in tmp/ of every target. */
static gboolean
call_write_tmps (MaildirStore *store, AppendCall *call, GError **error)
{
  g_auto(GStrv) roots = g_new0 (char *, call->n_targets + 1);

  for (guint i = 0; i < call->n_targets; i++)
    {
      roots[i] = maildir_expand_path (store->pattern, call->targets[i].user, error);
      if (roots[i] == NULL || (!maildir_is_dir (roots[i]) && !maildir_make (roots[i], FALSE, error)))
        return FALSE;
    }
  for (guint k = 0; k < call->n_msgs; k++)
    for (guint i = 0; i < call->n_targets; i++)
      {
        guint n = k * call->n_targets + i;

        call->bases[n] = maildir_unique_base (call->msgs[k]->size);
        if (i == 0)
          call->tmps[n] = write_tmp (roots[0], call->bases[n], call->msgs[k], error);
        else
          {
            char *path = g_build_filename (roots[i], "tmp", call->bases[n], NULL);

            if (!maildir_file_place (call->tmps[k * call->n_targets], path, error))
              {
                g_free (path);
                return FALSE;
              }
            call->tmps[n] = path;
          }
        if (call->tmps[n] == NULL)
          return FALSE;
      }
  return TRUE;
}

/* Adds every message of @msgs to every target, all or nothing, durable
 * when it returns TRUE (see the comment at the top). */
static gboolean
append_messages (MaildirStore *store, const PosthornStoreNewMessage *const *msgs, guint n_msgs,
                 const PosthornStoreTarget *targets, guint n_targets,
                 PosthornStoreChanges *changes, GError **error)
{
  AppendCall call = { msgs, n_msgs, targets, n_targets, changes };
  gboolean ok;

  call.bases = g_new0 (char *, n_msgs * n_targets + 1);
  call.tmps = g_new0 (char *, n_msgs * n_targets + 1);
  call.placed = g_ptr_array_new_with_free_func (g_free);
  call.folders = g_new0 (AppendFolder *, n_targets);
  if (!call_write_tmps (store, &call, error))
    {
      append_call_clear (&call);
      return FALSE;
    }

  g_mutex_lock (&store->commit_lock);
  g_ptr_array_add (store->commit_queue, &call);
  while (!call.done)
    {
      if (!store->committing)
        {
          GPtrArray *batch = g_steal_pointer (&store->commit_queue);

          store->commit_queue = g_ptr_array_new ();
          store->committing = TRUE;
          g_mutex_unlock (&store->commit_lock);
          commit_batch (store, batch);
          g_mutex_lock (&store->commit_lock);
          for (guint c = 0; c < batch->len; c++)
            ((AppendCall *) batch->pdata[c])->done = TRUE;
          store->committing = FALSE;
          g_cond_broadcast (&store->commit_cond);
          g_ptr_array_unref (batch);
        }
      else
        g_cond_wait (&store->commit_cond, &store->commit_lock);
    }
  g_mutex_unlock (&store->commit_lock);

  ok = !call.failed;
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&call.error));
  append_call_clear (&call);
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
