/* storage-maildir: inotify on the cur/ and new/ directories of folders
 * that a session has open, so that a message another MDA drops into new/
 * or a flag another program renames reaches IDLE sessions without
 * waiting for their next command. One thread reads the inotify
 * descriptor; changes are collected for 50 ms, then each folder is
 * rescanned (the scan publishes what it found on the event bus).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_DELAY_MS 50

typedef struct {
  char *user;
  char *name;
} WatchFolder;

struct _MaildirWatch {
  MaildirStore *store;
  int fd;
  int wake[2];
  GThread *thread;
  GMutex lock;
  GHashTable *by_wd;      /* wd -> WatchFolder */
  GHashTable *pending;    /* "user\nname" */
};

static void
watch_folder_free (gpointer p)
{
  WatchFolder *w = p;

  g_free (w->user);
  g_free (w->name);
  g_free (w);
}

static gpointer
watch_thread (gpointer data)
{
  MaildirWatch *watch = data;
  char buf[16384] __attribute__ ((aligned (__alignof__ (struct inotify_event))));

  for (;;)
    {
      struct pollfd fds[2] = { { watch->fd, POLLIN, 0 }, { watch->wake[0], POLLIN, 0 } };
      gboolean have_pending;
      int rc;

      g_mutex_lock (&watch->lock);
      have_pending = g_hash_table_size (watch->pending) > 0;
      g_mutex_unlock (&watch->lock);
      rc = poll (fds, 2, have_pending ? WATCH_DELAY_MS : -1);
      if (rc < 0 && errno == EINTR)
        continue;
      if (fds[1].revents != 0)
        return NULL;
      if (rc > 0 && (fds[0].revents & POLLIN))
        {
          gssize n = read (watch->fd, buf, sizeof buf);

          g_mutex_lock (&watch->lock);
          for (char *p = buf; n > 0 && p < buf + n;)
            {
              const struct inotify_event *ev = (const struct inotify_event *) (gpointer) p;
              WatchFolder *w = g_hash_table_lookup (watch->by_wd, GINT_TO_POINTER (ev->wd));

              if (ev->mask & IN_IGNORED)
                g_hash_table_remove (watch->by_wd, GINT_TO_POINTER (ev->wd));
              else if (w != NULL && !(ev->len > 0 && ev->name[0] == '.'))
                g_hash_table_add (watch->pending, g_strconcat (w->user, "\n", w->name, NULL));
              p += sizeof (struct inotify_event) + ev->len;
            }
          g_mutex_unlock (&watch->lock);
          continue;
        }
      if (rc == 0)
        {
          g_autoptr(GPtrArray) rescans = g_ptr_array_new_with_free_func (g_free);
          GHashTableIter iter;
          gpointer key;

          g_mutex_lock (&watch->lock);
          g_hash_table_iter_init (&iter, watch->pending);
          while (g_hash_table_iter_next (&iter, &key, NULL))
            {
              g_ptr_array_add (rescans, key);
              g_hash_table_iter_steal (&iter);
            }
          g_mutex_unlock (&watch->lock);
          for (guint i = 0; i < rescans->len; i++)
            {
              char *nl = strchr (rescans->pdata[i], '\n');

              *nl = '\0';
              maildir_store_rescan (watch->store, rescans->pdata[i], nl + 1);
            }
        }
    }
}

MaildirWatch *
maildir_watch_new (MaildirStore *store)
{
  MaildirWatch *watch = g_new0 (MaildirWatch, 1);

  watch->store = store;
  watch->fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (watch->fd < 0 || pipe (watch->wake) < 0)
    {
      g_warning ("inotify not available (%s): changes by other programs are seen on the next "
                 "command only", g_strerror (errno));
      if (watch->fd >= 0)
        close (watch->fd);
      g_free (watch);
      return NULL;
    }
  g_mutex_init (&watch->lock);
  watch->by_wd = g_hash_table_new_full (NULL, NULL, NULL, watch_folder_free);
  watch->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  watch->thread = g_thread_new ("maildir-watch", watch_thread, watch);
  return watch;
}

void
maildir_watch_free (MaildirWatch *watch)
{
  if (write (watch->wake[1], "x", 1) != 1)
    g_warning ("cannot stop the maildir watch thread: %s", g_strerror (errno));
  g_thread_join (watch->thread);
  close (watch->wake[0]);
  close (watch->wake[1]);
  close (watch->fd);
  g_hash_table_unref (watch->by_wd);
  g_hash_table_unref (watch->pending);
  g_mutex_clear (&watch->lock);
  g_free (watch);
}

void
maildir_watch_add (MaildirWatch *watch, const char *user, const char *name, const char *dir)
{
  static const char *const subs[] = { "new", "cur" };

  g_mutex_lock (&watch->lock);
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *path = g_build_filename (dir, subs[i], NULL);
      int wd = inotify_add_watch (watch->fd, path, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                  IN_DELETE | IN_ONLYDIR);
      WatchFolder *w;

      if (wd < 0)
        {
          g_debug ("cannot watch %s: %s", path, g_strerror (errno));
          continue;
        }
      w = g_hash_table_lookup (watch->by_wd, GINT_TO_POINTER (wd));
      if (w != NULL && strcmp (w->user, user) == 0 && strcmp (w->name, name) == 0)
        continue;
      w = g_new0 (WatchFolder, 1);
      w->user = g_strdup (user);
      w->name = g_strdup (name);
      g_hash_table_replace (watch->by_wd, GINT_TO_POINTER (wd), w);
    }
  g_mutex_unlock (&watch->lock);
}

void
maildir_watch_forget_user (MaildirWatch *watch, const char *user)
{
  GHashTableIter iter;
  gpointer key, value;

  g_mutex_lock (&watch->lock);
  g_hash_table_iter_init (&iter, watch->by_wd);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (strcmp (((WatchFolder *) value)->user, user) == 0)
      {
        inotify_rm_watch (watch->fd, GPOINTER_TO_INT (key));
        g_hash_table_iter_remove (&iter);
      }
  g_mutex_unlock (&watch->lock);
}
