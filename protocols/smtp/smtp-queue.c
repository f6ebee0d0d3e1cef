/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue (smtp-queue.h): the queue object and its items,
 * its life cycle, and `posthornctl queue flush / delete` through a
 * directory monitor. The rest: smtp-queue-spool.c, smtp-queue-run.c,
 * smtp-queue-dsn.c. */
#include "smtp-queue-private.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

SmtpQueueItem *
smtp_queue_item_ref (SmtpQueueItem *item)
{
  item->ref++;
  return item;
}

void
smtp_queue_item_unref (SmtpQueueItem *item)
{
  if (--item->ref > 0)
    return;
  smtp_envelope_free (item->env);
  g_free (item);
}

void
smtp_queue_add_item (SmtpQueue *queue, SmtpEnvelope *env, guint64 size)
{
  SmtpQueueItem *item = g_new0 (SmtpQueueItem, 1);
  SmtpQueueItem *old = g_hash_table_lookup (queue->items, env->id);

  if (old != NULL)
    queue->bytes -= old->size;
  item->ref = 1;
  item->queue = queue;
  item->env = env;
  item->size = size;
  queue->bytes += size;
  g_hash_table_replace (queue->items, env->id, item);
}

void
smtp_queue_item_remove (SmtpQueue *queue, SmtpQueueItem *item)
{
  gboolean listed = !item->deleted && g_hash_table_lookup (queue->items, item->env->id) == item;

  item->deleted = TRUE;
  if (listed)
    {
      queue->bytes -= item->size;
      g_hash_table_remove (queue->items, item->env->id);  /* may free @item */
    }
}

/* ---- posthornctl queue flush / delete ---- */

static void
smtp_queue_dir_changed (GFileMonitor *monitor, GFile *file, GFile *other,
                        GFileMonitorEvent event, gpointer user_data)
{
  SmtpQueue *queue = user_data;
  g_autofree char *name = g_file_get_basename (file);

  if (event == G_FILE_MONITOR_EVENT_CREATED && g_strcmp0 (name, "flush") == 0)
    {
      GHashTableIter iter;
      gpointer value;
      g_autofree char *path = g_file_get_path (file);

      g_message ("queue flush requested");
      g_unlink (path);
      g_hash_table_iter_init (&iter, queue->items);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        ((SmtpQueueItem *) value)->env->next_attempt = 0;
      smtp_queue_tick_now (queue);
      return;
    }
  if (event == G_FILE_MONITOR_EVENT_DELETED && g_str_has_suffix (name, ".env"))
    {
      g_autofree char *id = g_strndup (name, strlen (name) - 4);
      SmtpQueueItem *item = g_hash_table_lookup (queue->items, id);

      if (item != NULL)
        {
          gboolean busy = item->jobs > 0;

          g_message ("%s: removed from the queue%s", id,
                     busy ? " (after the attempt in progress)" : "");
          smtp_queue_item_remove (queue, item);
          if (!busy)
            smtp_queue_spool_remove (queue, id);
        }
    }
}

/* ---- life cycle ---- */

SmtpQueue *
smtp_queue_new (SmtpSettings *settings, SmtpQueueConfig *config, GError **error)
{
  SmtpQueue *queue = g_new0 (SmtpQueue, 1);
  g_autoptr(GPtrArray) ids = NULL;

  queue->settings = settings;
  queue->config = *config;
  queue->items = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) smtp_queue_item_unref);
  queue->domain_busy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  queue->reserved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!smtp_spool_ensure_dir (queue->config.dir, error) ||
      !smtp_spool_purge_deleted (queue->config.dir, error) ||
      (ids = smtp_spool_list (queue->config.dir, error)) == NULL)
    {
      smtp_queue_free (queue);
      return NULL;
    }
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr(GError) local = NULL;
      g_autofree char *msg = smtp_spool_message_path (queue->config.dir, ids->pdata[i]);
      SmtpEnvelope *env = smtp_spool_read_envelope (queue->config.dir, ids->pdata[i], &local);
      GStatBuf st;

      if (env == NULL || g_stat (msg, &st) != 0 || !S_ISREG (st.st_mode))
        {
          g_warning ("queue: skipping %s: %s", (char *) ids->pdata[i],
                     local != NULL ? local->message : "message file missing");
          smtp_envelope_free (env);
          continue;
        }
      env->next_attempt = 0;
      smtp_queue_add_item (queue, env, (guint64) st.st_size);
    }
  if (ids->len > 0)
    g_message ("queue: %u message(s) in %s", g_hash_table_size (queue->items), queue->config.dir);
  return queue;
}

void
smtp_queue_start (SmtpQueue *queue)
{
  g_autoptr(GFile) dir = g_file_new_for_path (queue->config.dir);
  g_autoptr(GError) error = NULL;

  queue->context = g_main_context_ref_thread_default ();
  queue->pool = g_thread_pool_new (smtp_queue_attempt_run, queue, (gint) queue->config.concurrency,
                                   FALSE, NULL);
  queue->monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_NONE, NULL, &error);
  if (queue->monitor != NULL)
    g_signal_connect (queue->monitor, "changed", G_CALLBACK (smtp_queue_dir_changed), queue);
  else
    g_warning ("queue: cannot watch %s: %s", queue->config.dir, error->message);
  queue->timer = g_timeout_add_seconds (1, smtp_queue_tick, queue);
  smtp_queue_publish_status (queue);
  smtp_queue_tick_now (queue);
}

void
smtp_queue_free (SmtpQueue *queue)
{
  if (queue == NULL)
    return;
  queue->stopping = TRUE;
  if (queue->timer != 0)
    g_source_remove (queue->timer);
  if (queue->monitor != NULL)
    {
      g_file_monitor_cancel (queue->monitor);
      g_clear_object (&queue->monitor);
    }
  if (queue->pool != NULL)
    g_thread_pool_free (queue->pool, TRUE, TRUE);
  if (queue->context != NULL)
    {
      while (g_main_context_iteration (queue->context, FALSE))
        ;
      g_main_context_unref (queue->context);
    }
  g_hash_table_unref (queue->items);
  g_clear_pointer (&queue->reserved, g_hash_table_unref);
  g_hash_table_unref (queue->domain_busy);
  g_hash_table_unref (queue->config.transport);
  g_free (queue->config.dir);
  g_free (queue->config.relayhost);
  g_free (queue->config.relayhost_user);
  g_free (queue->config.relayhost_password);
  g_free (queue);
}
