/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue: writing the spool on the worker pool (messages,
 * envelopes, removals) and the queue's limits. */
#include "smtp-queue-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct {
  char *dir;
  char *name;
  char *text;
  gsize length;
  char *remove_id;              /* instead: remove this message */
  PosthornMessage *message;     /* with @name: write ID.msg first */
  char *id;
  gboolean refused;             /* over the queue's limits: write nothing */
} SpoolWrite;

static void
spool_write_free (SpoolWrite *w)
{
  g_free (w->dir);
  g_free (w->name);
  g_free (w->text);
  g_free (w->remove_id);
  g_free (w->id);
  g_clear_pointer (&w->message, posthorn_message_unref);
  g_free (w);
}

static gboolean
spool_write_message (const char *dir, const char *id, PosthornMessage *message, GError **error)
{
  g_autofree char *path = smtp_spool_message_path (dir, id);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  int fd;

  if (!smtp_spool_ensure_dir (dir, error))
    return FALSE;
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create %s: %s",
                   tmp, g_strerror (errno));
      return FALSE;
    }
  if (!posthorn_message_write_to_fd (message, fd, error))
    {
      close (fd);
      g_unlink (tmp);
      return FALSE;
    }
  if (fsync (fd) != 0 || close (fd) != 0 || g_rename (tmp, path) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot write %s: %s",
                   path, g_strerror (errno));
      g_unlink (tmp);
      return FALSE;
    }
  return TRUE;
}

static gpointer
spool_write_run (gpointer data, GCancellable *cancellable, GError **error)
{
  SpoolWrite *w = data;

  if (w->refused)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT,
                           "the outbound queue is full");
      return NULL;
    }
  if (w->remove_id != NULL)
    return smtp_spool_remove (w->dir, w->remove_id, error) ? GINT_TO_POINTER (1) : NULL;
  if (w->message != NULL && !spool_write_message (w->dir, w->id, w->message, error))
    return NULL;
  /* deleted by posthornctl meanwhile: do not bring the envelope back */
  if (w->message == NULL && smtp_spool_is_deleted (w->dir, w->id))
    return GINT_TO_POINTER (1);
  return smtp_spool_write_file (w->dir, w->name, w->text, w->length, error)
         ? GINT_TO_POINTER (1) : NULL;
}

static void
spool_write_logged (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (posthorn_worker_finish (result, &error) == NULL)
    g_warning ("queue spool: %s", error->message);
}

static SpoolWrite *
spool_write_for (SmtpQueue *queue, const SmtpEnvelope *env)
{
  SpoolWrite *w = g_new0 (SpoolWrite, 1);

  w->dir = g_strdup (queue->config.dir);
  w->id = g_strdup (env->id);
  w->name = g_strconcat (env->id, ".env", NULL);
  w->text = smtp_envelope_serialize (env, &w->length);
  return w;
}

void
smtp_queue_spool_save (SmtpQueue *queue, const SmtpEnvelope *env)
{
  posthorn_worker_run (spool_write_run, spool_write_for (queue, env),
                       (GDestroyNotify) spool_write_free, NULL, NULL, spool_write_logged, NULL);
}

void
smtp_queue_spool_remove (SmtpQueue *queue, const char *id)
{
  SpoolWrite *w = g_new0 (SpoolWrite, 1);

  w->dir = g_strdup (queue->config.dir);
  w->remove_id = g_strdup (id);
  posthorn_worker_run (spool_write_run, w, (GDestroyNotify) spool_write_free, NULL, NULL,
                       spool_write_logged, NULL);
}

/* ---- the queue's limits ---- */

gboolean
smtp_queue_has_room (SmtpQueue *queue, guint64 size)
{
  guint64 messages = g_hash_table_size (queue->items) + g_hash_table_size (queue->reserved);

  if (queue->config.max_messages > 0 && messages >= queue->config.max_messages)
    return FALSE;
  return queue->config.max_bytes == 0
         || queue->bytes + queue->reserved_bytes + size <= queue->config.max_bytes;
}

static void
queue_reserve (SmtpQueue *queue, const char *id, guint64 size)
{
  g_hash_table_replace (queue->reserved, g_strdup (id), g_memdup2 (&size, sizeof size));
  queue->reserved_bytes += size;
}

/* The reserved size of @id (0 if none), which is no longer reserved. */
static guint64
queue_unreserve (SmtpQueue *queue, const char *id)
{
  guint64 *size = g_hash_table_lookup (queue->reserved, id);
  guint64 value = size != NULL ? *size : 0;

  if (size != NULL)
    {
      queue->reserved_bytes -= value;
      g_hash_table_remove (queue->reserved, id);
    }
  return value;
}

typedef struct {
  SmtpQueue *queue;
  char *id;
  GAsyncReadyCallback callback;
  gpointer user_data;
} SpoolCall;

/* A failed write reserves nothing: its envelope is freed, never activated. */
static void
spool_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpoolCall *call = user_data;

  if (g_task_had_error (G_TASK (result)))
    queue_unreserve (call->queue, call->id);
  call->callback (source, result, call->user_data);
  g_free (call->id);
  g_free (call);
}

static void
spool_async (SmtpQueue *queue, SmtpEnvelope *env, PosthornMessage *message, gboolean limited,
             GAsyncReadyCallback callback, gpointer user_data)
{
  SpoolWrite *w = spool_write_for (queue, env);
  guint64 size = posthorn_message_get_size (message);
  SpoolCall *call = g_new0 (SpoolCall, 1);

  w->message = posthorn_message_ref (message);
  if (limited && !smtp_queue_has_room (queue, size))
    {
      w->refused = TRUE;
      posthorn_core_count ("smtp.messages_refused_queue_full", 1);
      g_message ("%s: refused: the outbound queue is full (%u messages, %" G_GUINT64_FORMAT
                 " bytes)", env->id, g_hash_table_size (queue->items)
                 + g_hash_table_size (queue->reserved), queue->bytes + queue->reserved_bytes);
    }
  else
    queue_reserve (queue, env->id, size);
  call->queue = queue;
  call->id = g_strdup (env->id);
  call->callback = callback;
  call->user_data = user_data;
  posthorn_worker_run (spool_write_run, w, (GDestroyNotify) spool_write_free, NULL, NULL,
                       spool_call_done, call);
}

void
smtp_queue_spool_async (SmtpQueue *queue, SmtpEnvelope *env, PosthornMessage *message,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  spool_async (queue, env, message, TRUE, callback, user_data);
}

gboolean
smtp_queue_spool_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error) != NULL;
}

void
smtp_queue_activate (SmtpQueue *queue, SmtpEnvelope *env)
{
  posthorn_core_count ("smtp.messages_queued", 1);
  smtp_queue_add_item (queue, env, queue_unreserve (queue, env->id));
  smtp_queue_tick_now (queue);
}

void
smtp_queue_discard (SmtpQueue *queue, SmtpEnvelope *env)
{
  queue_unreserve (queue, env->id);
  smtp_queue_spool_remove (queue, env->id);
  smtp_envelope_free (env);
}

typedef struct {
  SmtpQueue *queue;
  SmtpEnvelope *env;
} SubmitData;

static void
smtp_queue_submitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SubmitData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!smtp_queue_spool_finish (result, &error))
    {
      g_warning ("cannot queue %s: %s", data->env->id, error->message);
      smtp_envelope_free (data->env);
    }
  else
    smtp_queue_activate (data->queue, data->env);
  g_free (data);
}

void
smtp_queue_submit (SmtpQueue *queue, SmtpEnvelope *env, PosthornMessage *message)
{
  SubmitData *data = g_new0 (SubmitData, 1);

  data->queue = queue;
  data->env = env;
  spool_async (queue, env, message, FALSE, smtp_queue_submitted, data);
}

