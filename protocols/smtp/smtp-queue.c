/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-queue.h"
#include "smtp-client.h"
#include "dsn.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct _SmtpQueueItem SmtpQueueItem;

struct _SmtpQueue {
  SmtpSettings *settings;
  SmtpQueueConfig config;
  GHashTable *items;            /* id -> SmtpQueueItem */
  GHashTable *domain_busy;      /* domain -> GUINT_TO_POINTER (attempts) */
  guint busy;
  GThreadPool *pool;
  GMainContext *context;
  guint timer;
  GFileMonitor *monitor;
  gboolean stopping;
  guint64 bytes;                /* the messages in @items */
  GHashTable *reserved;         /* id -> size (guint64 *): being spooled */
  guint64 reserved_bytes;
};

struct _SmtpQueueItem {
  gint ref;
  SmtpQueue *queue;
  SmtpEnvelope *env;
  guint jobs;                   /* attempts in flight */
  gboolean deleted;             /* removed from the queue meanwhile */
  guint64 size;                 /* of ID.msg, counted in queue->bytes */
};

typedef struct {
  SmtpQueueItem *item;
  char *domain;
  char *route_host;
  char *message_path;
  SmtpClientJob job;
} SmtpAttempt;

static void smtp_queue_tick_now (SmtpQueue *queue);

static SmtpQueueItem *
item_ref (SmtpQueueItem *item)
{
  item->ref++;
  return item;
}

static void
item_unref (SmtpQueueItem *item)
{
  if (--item->ref > 0)
    return;
  smtp_envelope_free (item->env);
  g_free (item);
}

static void
attempt_free (SmtpAttempt *attempt)
{
  for (guint i = 0; i < attempt->job.rcpts->len; i++)
    {
      SmtpClientRcpt *r = &g_array_index (attempt->job.rcpts, SmtpClientRcpt, i);
      g_free (r->status);
      g_free (r->diagnostic);
    }
  g_array_unref (attempt->job.rcpts);
  g_free (attempt->job.remote_mta);
  g_free (attempt->domain);
  g_free (attempt->route_host);
  g_free (attempt->message_path);
  item_unref (attempt->item);
  g_free (attempt);
}

/* ---- spool writes on the worker pool ---- */

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

static void
spool_save (SmtpQueue *queue, const SmtpEnvelope *env)
{
  posthorn_worker_run (spool_write_run, spool_write_for (queue, env),
                       (GDestroyNotify) spool_write_free, NULL, NULL, spool_write_logged, NULL);
}

static void
spool_remove (SmtpQueue *queue, const char *id)
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

static void
queue_add_item (SmtpQueue *queue, SmtpEnvelope *env, guint64 size)
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
smtp_queue_activate (SmtpQueue *queue, SmtpEnvelope *env)
{
  posthorn_core_count ("smtp.messages_queued", 1);
  queue_add_item (queue, env, queue_unreserve (queue, env->id));
  smtp_queue_tick_now (queue);
}

void
smtp_queue_discard (SmtpQueue *queue, SmtpEnvelope *env)
{
  queue_unreserve (queue, env->id);
  spool_remove (queue, env->id);
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

/* ---- DSNs ---- */

typedef struct {
  SmtpQueue *queue;
  SmtpDsnKind kind;
  char *hostname;
  char *sender;
  char *envid;
  SmtpRet ret;
  gint64 arrival;
  gint64 retry_until;
  char *message_path;
  GPtrArray *rcpts;             /* of SmtpSpoolRcpt copies, owned through @strings */
  GPtrArray *strings;
} DsnJob;

static void
dsn_job_free (DsnJob *job)
{
  g_free (job->hostname);
  g_free (job->sender);
  g_free (job->envid);
  g_free (job->message_path);
  g_ptr_array_unref (job->rcpts);
  g_ptr_array_unref (job->strings);
  g_free (job);
}

static SmtpDsnAction
dsn_action (SmtpDsnKind kind)
{
  return kind == SMTP_DSN_FAILURE ? SMTP_DSN_ACTION_FAILED : SMTP_DSN_ACTION_DELAYED;
}

typedef struct {
  char *sender;
  char *text;
} DsnResult;

static void
dsn_result_free (DsnResult *r)
{
  g_free (r->sender);
  g_free (r->text);
  g_free (r);
}

/* Builds the report (reads the original message): runs on a worker. */
static gpointer
dsn_build_run (gpointer data, GCancellable *cancellable, GError **error)
{
  DsnJob *job = data;
  g_autoptr(GMappedFile) file = g_mapped_file_new (job->message_path, FALSE, NULL);
  g_autoptr(GBytes) original = NULL;
  g_autoptr(GBytes) attached = NULL;
  g_autoptr(GDateTime) arrival = g_date_time_new_from_unix_utc (job->arrival);
  g_autoptr(GDateTime) until = g_date_time_new_from_unix_utc (job->retry_until);
  g_autoptr(GArray) recipients = g_array_new (FALSE, TRUE, sizeof (SmtpDsnRecipient));
  SmtpDsnInfo info = { 0 };

  if (file != NULL)
    original = g_mapped_file_get_bytes (file);
  if (original != NULL)
    attached = job->ret == SMTP_RET_FULL ? g_bytes_ref (original)
                                         : smtp_dsn_extract_headers (original);
  for (guint i = 0; i < job->rcpts->len; i++)
    {
      const SmtpSpoolRcpt *r = job->rcpts->pdata[i];
      SmtpDsnRecipient d = { 0 };

      d.final_recipient = r->mailbox;
      d.orcpt_type = r->orcpt_type;
      d.orcpt = r->orcpt;
      d.action = dsn_action (job->kind);
      d.status = r->status != NULL ? r->status : (job->kind == SMTP_DSN_FAILURE ? "5.0.0" : "4.0.0");
      d.remote_mta = r->remote_mta;
      d.diagnostic = r->diagnostic;
      d.will_retry_until = job->kind == SMTP_DSN_DELAY ? until : NULL;
      g_array_append_val (recipients, d);
    }
  info.kind = job->kind;
  info.reporting_mta = job->hostname;
  info.to = job->sender;
  info.envid = job->envid;
  info.arrival_date = arrival;
  info.recipients = (const SmtpDsnRecipient *) recipients->data;
  info.n_recipients = recipients->len;
  info.original = attached;
  info.ret = job->ret == SMTP_RET_FULL ? SMTP_RET_FULL : SMTP_RET_HDRS;
  {
    DsnResult *out = g_new0 (DsnResult, 1);

    out->text = smtp_dsn_build (&info, error);
    if (out->text == NULL)
      {
        g_free (out);
        return NULL;
      }
    out->sender = g_strdup (job->sender);
    return out;
  }
}

typedef struct {
  SmtpQueue *queue;
  char *sender;
  PosthornMessage *report;
} DsnDelivery;

static void
dsn_delivery_free (DsnDelivery *d)
{
  g_free (d->sender);
  posthorn_message_unref (d->report);
  g_free (d);
}

static void
dsn_stored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DsnDelivery *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (changes == NULL)
    g_warning ("cannot deliver the delivery report to %s: %s", d->sender, error->message);
  else
    g_message ("delivery report stored for %s", d->sender);
  dsn_delivery_free (d);
}

static void
dsn_user_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DsnDelivery *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = NULL;

  if (!posthorn_auth_user_exists_finish (result, &user, &error))
    {
      g_message ("no delivery report for %s: %s", d->sender,
                 error != NULL ? error->message : "no such local user");
      dsn_delivery_free (d);
      return;
    }
  {
    const char *users[] = { user, NULL };
    posthorn_store_deliver_async (users, NULL, d->report, 0, NULL, NULL, dsn_stored, d);
  }
}

static gboolean
is_local_domain (SmtpQueue *queue, const char *domain)
{
  for (guint i = 0; queue->settings->domains[i] != NULL; i++)
    if (smtp_domain_equal (queue->settings->domains[i], domain))
      return TRUE;
  return FALSE;
}

static void
dsn_built (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpQueue *queue = user_data;
  g_autoptr(GError) error = NULL;
  DsnResult *built = posthorn_worker_finish (result, &error);
  DsnDelivery *d;

  if (built == NULL)
    {
      g_warning ("cannot build a delivery report: %s", error->message);
      return;
    }
  d = g_new0 (DsnDelivery, 1);
  d->queue = queue;
  d->sender = g_steal_pointer (&built->sender);
  d->report = posthorn_message_new_from_data (built->text, strlen (built->text));
  dsn_result_free (built);
  if (is_local_domain (queue, smtp_mailbox_domain (d->sender)))
    {
      posthorn_auth_user_exists_async (NULL, d->sender, NULL, dsn_user_checked, d);
      return;
    }
  {
    g_autofree char *id = smtp_spool_new_id ();
    SmtpEnvelope *env = smtp_envelope_new (id);

    env->arrival = g_get_real_time () / G_USEC_PER_SEC;
    smtp_envelope_add_rcpt (env, d->sender);
    smtp_queue_submit (queue, env, d->report);
    dsn_delivery_free (d);
  }
}

static void
dsn_send (SmtpQueue *queue, SmtpQueueItem *item, SmtpDsnKind kind, GPtrArray *rcpts)
{
  const SmtpEnvelope *env = item->env;
  DsnJob *job = g_new0 (DsnJob, 1);

  if (kind == SMTP_DSN_FAILURE)
    posthorn_core_count ("smtp.messages_bounced", 1);
  job->queue = queue;
  job->kind = kind;
  job->hostname = g_strdup (queue->settings->hostname);
  job->sender = g_strdup (env->sender);
  job->envid = g_strdup (env->envid);
  job->ret = env->ret;
  job->arrival = env->arrival;
  job->retry_until = env->arrival + (gint64) queue->config.lifetime;
  job->message_path = smtp_spool_message_path (queue->config.dir, env->id);
  job->rcpts = g_ptr_array_new ();
  job->strings = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < rcpts->len; i++)
    {
      const SmtpSpoolRcpt *r = rcpts->pdata[i];
      SmtpSpoolRcpt *copy = g_new0 (SmtpSpoolRcpt, 1);

      copy->mailbox = g_strdup (r->mailbox);
      copy->orcpt_type = g_strdup (r->orcpt_type);
      copy->orcpt = g_strdup (r->orcpt);
      copy->status = g_strdup (r->status);
      copy->diagnostic = g_strdup (r->diagnostic);
      copy->remote_mta = g_strdup (r->remote_mta);
      g_ptr_array_add (job->strings, copy->mailbox);
      g_ptr_array_add (job->strings, copy->orcpt_type);
      g_ptr_array_add (job->strings, copy->orcpt);
      g_ptr_array_add (job->strings, copy->status);
      g_ptr_array_add (job->strings, copy->diagnostic);
      g_ptr_array_add (job->strings, copy->remote_mta);
      g_ptr_array_add (job->strings, copy);
      g_ptr_array_add (job->rcpts, copy);
    }
  g_message ("%s: %s report to <%s> for %u recipient(s)", env->id,
             kind == SMTP_DSN_FAILURE ? "failure" : "delay", env->sender, rcpts->len);
  posthorn_worker_run (dsn_build_run, job, (GDestroyNotify) dsn_job_free,
                       (GDestroyNotify) dsn_result_free, NULL,
                       dsn_built, queue);
}

/* ---- the runner ---- */

static gint64
now_seconds (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static gboolean
notify_wants (SmtpNotify notify, SmtpNotify what)
{
  if (notify & SMTP_NOTIFY_NEVER)
    return FALSE;
  if (notify == SMTP_NOTIFY_NONE)
    return TRUE;  /* RFC 3461 §5.1: FAILURE (and DELAY at our discretion) */
  return (notify & what) != 0;
}

static void
item_remove (SmtpQueue *queue, SmtpQueueItem *item)
{
  gboolean listed = !item->deleted && g_hash_table_lookup (queue->items, item->env->id) == item;

  item->deleted = TRUE;
  if (listed)
    {
      queue->bytes -= item->size;
      g_hash_table_remove (queue->items, item->env->id);  /* may free @item */
    }
}

/* Every attempt of a round came back: record, report, reschedule. */
static void
item_round_done (SmtpQueue *queue, SmtpQueueItem *item)
{
  SmtpEnvelope *env = item->env;
  gint64 now = now_seconds ();
  g_autoptr(GPtrArray) failed = g_ptr_array_new ();
  g_autoptr(GPtrArray) delayed = g_ptr_array_new ();
  gboolean expired = (guint64) (now - env->arrival) >= queue->config.lifetime;
  guint pending = 0;
  guint64 backoff;

  if (item->deleted)
    {
      /* posthornctl queue delete: the last attempt is over, the files go */
      spool_remove (queue, env->id);
      return;
    }
  env->attempts++;
  for (guint i = 0; i < env->rcpts->len; i++)
    {
      SmtpSpoolRcpt *r = g_ptr_array_index (env->rcpts, i);

      if (r->state == SMTP_RCPT_PENDING && expired)
        {
          g_autofree char *why = g_strdup_printf ("delivery time expired; last error: %s",
                                                  r->diagnostic != NULL ? r->diagnostic : "none");
          r->state = SMTP_RCPT_FAILED;
          g_free (r->status);
          r->status = g_strdup ("4.4.7");
          g_free (r->diagnostic);
          r->diagnostic = g_steal_pointer (&why);
        }
      if (r->state == SMTP_RCPT_FAILED && !r->reported)
        {
          r->reported = TRUE;
          if (env->sender[0] != '\0' && notify_wants (r->notify, SMTP_NOTIFY_FAILURE))
            g_ptr_array_add (failed, r);
        }
      if (r->state == SMTP_RCPT_PENDING)
        {
          pending++;
          if (notify_wants (r->notify, SMTP_NOTIFY_DELAY))
            g_ptr_array_add (delayed, r);
        }
    }
  if (failed->len > 0)
    dsn_send (queue, item, SMTP_DSN_FAILURE, failed);
  if (pending > 0 && !env->delay_warned && queue->config.delay_warning > 0 &&
      (guint64) (now - env->arrival) >= queue->config.delay_warning)
    {
      env->delay_warned = TRUE;
      if (env->sender[0] != '\0' && delayed->len > 0)
        dsn_send (queue, item, SMTP_DSN_DELAY, delayed);
    }

  if (pending == 0)
    {
      g_message ("%s: done after %u attempt(s)", env->id, env->attempts);
      /* the reports read the message first: remove it after them */
      spool_remove (queue, env->id);
      item_remove (queue, item);
      return;
    }
  backoff = queue->config.retry_min;
  for (guint i = 1; i < env->attempts && backoff < queue->config.retry_max; i++)
    backoff *= 2;
  backoff = MIN (backoff, queue->config.retry_max);
  env->next_attempt = now + (gint64) backoff;
  g_message ("%s: %u recipient(s) deferred, next attempt in %" G_GUINT64_FORMAT " s",
             env->id, pending, backoff);
  spool_save (queue, env);
}

static gboolean
attempt_done (gpointer user_data)
{
  SmtpAttempt *attempt = user_data;
  SmtpQueueItem *item = attempt->item;
  SmtpQueue *queue = item->queue;
  guint busy;

  if (queue->stopping)
    {
      attempt_free (attempt);
      return G_SOURCE_REMOVE;
    }
  for (guint i = 0; i < attempt->job.rcpts->len; i++)
    {
      SmtpClientRcpt *r = &g_array_index (attempt->job.rcpts, SmtpClientRcpt, i);
      SmtpSpoolRcpt *s = r->rcpt;

      g_free (s->status);
      s->status = g_strdup (r->status);
      g_free (s->diagnostic);
      s->diagnostic = g_strdup (r->diagnostic);
      g_free (s->remote_mta);
      s->remote_mta = g_strdup (attempt->job.remote_mta);
      if (r->code >= 200 && r->code < 300)
        s->state = SMTP_RCPT_DELIVERED;
      else if (r->code >= 500 && r->code < 600)
        s->state = SMTP_RCPT_FAILED;
      g_message ("%s: <%s> %s: %s", item->env->id, s->mailbox,
                 s->state == SMTP_RCPT_DELIVERED ? "sent" :
                 s->state == SMTP_RCPT_FAILED ? "bounced" : "deferred",
                 r->diagnostic != NULL ? r->diagnostic : "");
    }
  busy = GPOINTER_TO_UINT (g_hash_table_lookup (queue->domain_busy, attempt->domain));
  if (busy <= 1)
    g_hash_table_remove (queue->domain_busy, attempt->domain);
  else
    g_hash_table_insert (queue->domain_busy, g_strdup (attempt->domain), GUINT_TO_POINTER (busy - 1));
  queue->busy--;
  if (--item->jobs == 0)
    item_round_done (queue, item);
  attempt_free (attempt);
  smtp_queue_tick_now (queue);
  return G_SOURCE_REMOVE;
}

static void
attempt_run (gpointer data, gpointer user_data)
{
  SmtpAttempt *attempt = data;
  SmtpQueue *queue = user_data;

  smtp_client_deliver (&attempt->job);
  g_main_context_invoke (queue->context, attempt_done, attempt);
}

static void
attempt_start (SmtpQueue *queue, SmtpQueueItem *item, const char *domain, GPtrArray *rcpts)
{
  SmtpAttempt *attempt = g_new0 (SmtpAttempt, 1);
  const char *route = g_hash_table_lookup (queue->config.transport, domain);
  gboolean relay = route == NULL && queue->config.relayhost != NULL;
  guint busy = GPOINTER_TO_UINT (g_hash_table_lookup (queue->domain_busy, domain));

  attempt->item = item_ref (item);
  attempt->domain = g_strdup (domain);
  attempt->message_path = smtp_spool_message_path (queue->config.dir, item->env->id);
  if (route == NULL)
    route = queue->config.relayhost;
  if (route != NULL)
    smtp_client_parse_hostport (route, &attempt->route_host, &attempt->job.route_port);
  attempt->job.helo = queue->settings->hostname;
  attempt->job.domain = attempt->domain;
  attempt->job.route_host = attempt->route_host;
  if (relay)
    {
      attempt->job.auth_user = queue->config.relayhost_user;
      attempt->job.auth_password = queue->config.relayhost_password;
    }
  attempt->job.env = item->env;
  attempt->job.message_path = attempt->message_path;
  attempt->job.timeout = queue->config.timeout;
  attempt->job.rcpts = g_array_new (FALSE, TRUE, sizeof (SmtpClientRcpt));
  for (guint i = 0; i < rcpts->len; i++)
    {
      SmtpClientRcpt r = { .rcpt = rcpts->pdata[i] };
      g_array_append_val (attempt->job.rcpts, r);
    }
  item->jobs++;
  queue->busy++;
  g_hash_table_insert (queue->domain_busy, g_strdup (domain), GUINT_TO_POINTER (busy + 1));
  g_thread_pool_push (queue->pool, attempt, NULL);
}

/* Starts what is due, within the limits. */
static void
smtp_queue_run (SmtpQueue *queue)
{
  gint64 now = now_seconds ();
  GHashTableIter iter;
  gpointer value;

  if (queue->stopping)
    return;
  g_hash_table_iter_init (&iter, queue->items);
  while (g_hash_table_iter_next (&iter, NULL, &value) && queue->busy < queue->config.concurrency)
    {
      SmtpQueueItem *item = value;
      g_autoptr(GHashTable) by_domain = NULL;
      GHashTableIter d;
      gpointer key, rcpts;

      if (item->jobs > 0 || item->env->next_attempt > now)
        continue;
      by_domain = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_ptr_array_unref);
      for (guint i = 0; i < item->env->rcpts->len; i++)
        {
          SmtpSpoolRcpt *r = g_ptr_array_index (item->env->rcpts, i);
          char *domain;
          GPtrArray *list;

          if (r->state != SMTP_RCPT_PENDING)
            continue;
          domain = g_ascii_strdown (smtp_mailbox_domain (r->mailbox), -1);
          list = g_hash_table_lookup (by_domain, domain);
          if (list == NULL)
            {
              list = g_ptr_array_new ();
              g_hash_table_insert (by_domain, g_strdup (domain), list);
            }
          g_ptr_array_add (list, r);
          g_free (domain);
        }
      /* one attempt per destination domain, its recipients batched; a
       * domain at its limit waits for the next round */
      g_hash_table_iter_init (&d, by_domain);
      while (g_hash_table_iter_next (&d, &key, &rcpts))
        {
          if (queue->busy >= queue->config.concurrency)
            break;
          if (GPOINTER_TO_UINT (g_hash_table_lookup (queue->domain_busy, key)) >=
              queue->config.domain_concurrency)
            continue;
          attempt_start (queue, item, key, rcpts);
        }
      if (item->jobs == 0 && g_hash_table_size (by_domain) == 0)
        item_round_done (queue, item);
    }
}

/* The queue as D-Bus (/org/posthorn/Posthorn1/plugins/smtp) and the
 * metrics plugin show it: how many messages wait, and for how long the
 * oldest one has. */
static void
smtp_queue_publish_status (SmtpQueue *queue)
{
  gint64 now = now_seconds ();
  gint64 oldest = now;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, queue->items);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    oldest = MIN (oldest, ((SmtpQueueItem *) value)->env->arrival);
  posthorn_status_set_property (queue->settings->plugin, "queue_length",
                                g_variant_new_uint32 (g_hash_table_size (queue->items)));
  posthorn_status_set_property (queue->settings->plugin, "queue_oldest_age",
                                g_variant_new_uint64 ((guint64) MAX (now - oldest, 0)));
}

static gboolean
smtp_queue_tick (gpointer user_data)
{
  smtp_queue_run (user_data);
  smtp_queue_publish_status (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
smtp_queue_tick_once (gpointer user_data)
{
  smtp_queue_run (user_data);
  return G_SOURCE_REMOVE;
}

static void
smtp_queue_tick_now (SmtpQueue *queue)
{
  if (queue->timer != 0 && !queue->stopping)
    g_idle_add (smtp_queue_tick_once, queue);
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
          item_remove (queue, item);
          if (!busy)
            spool_remove (queue, id);
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
                                        (GDestroyNotify) item_unref);
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
      queue_add_item (queue, env, (guint64) st.st_size);
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
  queue->pool = g_thread_pool_new (attempt_run, queue, (gint) queue->config.concurrency,
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
