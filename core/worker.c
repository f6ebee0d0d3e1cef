/* The worker pool: blocking work off the main loop thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

typedef struct {
  PosthornWorkerFunc func;
  gpointer data;
  GDestroyNotify data_free;
  GDestroyNotify result_free;
} WorkerItem;

/* Two pools: general work, and store writes (ph_worker_run_write()). */
typedef enum {
  WORKER_POOL_GENERAL,
  WORKER_POOL_WRITE,
  WORKER_N_POOLS
} WorkerPoolKind;

static GMutex pool_lock;
static GThreadPool *pools[WORKER_N_POOLS];

static void
worker_item_free (WorkerItem *item)
{
  if (item->data_free != NULL)
    item->data_free (item->data);
  g_free (item);
}

/* On a pool thread: the task returns to its context (the caller's). */
static void
worker_pool_func (gpointer task_ptr, gpointer unused)
{
  g_autoptr(GTask) task = task_ptr;
  WorkerItem *item = g_task_get_task_data (task);
  GError *error = NULL;
  gpointer result;

  if (g_task_return_error_if_cancelled (task))
    return;
  result = item->func (item->data, g_task_get_cancellable (task), &error);
  if (error != NULL)
    {
      if (result != NULL && item->result_free != NULL)
        item->result_free (result);
      g_task_return_error (task, error);
    }
  else
    g_task_return_pointer (task, result, item->result_free);
}

/* [core] worker_threads sizes each pool. By default the general pool has
 * four threads per core (at least 8): its work (store reads, crypt) also
 * waits for page faults and reads, and under the IMAP load at 50 clients
 * 4 threads queued FETCH/SELECT for 10-20 ms on a 2-core machine. The
 * write pool has as many, at least 16, since its threads mostly wait (for
 * the store's write lock, then for the disk) and the store commits the
 * appends waiting together as one group: more waiting writers make
 * bigger groups, not more CPU. */
static guint
worker_pool_size (WorkerPoolKind kind)
{
  guint configured = ph_settings ()->worker_threads;

  if (configured > 0)
    return configured;
  if (kind == WORKER_POOL_WRITE)
    return MAX (16, 4 * g_get_num_processors ());
  return MAX (8, 4 * g_get_num_processors ());
}

static GThreadPool *
worker_pool_get (WorkerPoolKind kind)
{
  GThreadPool *result;

  g_mutex_lock (&pool_lock);
  if (pools[kind] == NULL)
    {
      GError *error = NULL;

      pools[kind] = g_thread_pool_new (worker_pool_func, NULL, (gint) worker_pool_size (kind), FALSE,
                                       &error);
      g_assert_no_error (error);
    }
  result = pools[kind];
  g_mutex_unlock (&pool_lock);
  return result;
}

static void
worker_run_on (WorkerPoolKind kind, PosthornWorkerFunc func, gpointer data,
               GDestroyNotify data_free, GDestroyNotify result_free, GCancellable *cancellable,
               GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  WorkerItem *item;
  GError *error = NULL;

  g_return_if_fail (func != NULL);

  item = g_new0 (WorkerItem, 1);
  item->func = func;
  item->data = data;
  item->data_free = data_free;
  item->result_free = result_free;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, posthorn_worker_run);
  g_task_set_name (task, "posthorn_worker_run");
  g_task_set_task_data (task, item, (GDestroyNotify) worker_item_free);

  if (!g_thread_pool_push (worker_pool_get (kind), task, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
    }
}

void
posthorn_worker_run (PosthornWorkerFunc func, gpointer data, GDestroyNotify data_free,
                     GDestroyNotify result_free, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  worker_run_on (WORKER_POOL_GENERAL, func, data, data_free, result_free, cancellable,
                 callback, user_data);
}

void
ph_worker_run_write (PosthornWorkerFunc func, gpointer data, GDestroyNotify data_free,
                     GDestroyNotify result_free, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  worker_run_on (WORKER_POOL_WRITE, func, data, data_free, result_free, cancellable,
                 callback, user_data);
}

gpointer
posthorn_worker_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == posthorn_worker_run, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
ph_worker_shutdown (void)
{
  for (guint i = 0; i < WORKER_N_POOLS; i++)
    {
      GThreadPool *old;

      g_mutex_lock (&pool_lock);
      old = g_steal_pointer (&pools[i]);
      g_mutex_unlock (&pool_lock);
      if (old != NULL)
        g_thread_pool_free (old, FALSE, TRUE);
    }
}
