/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue: delivery status notifications (RFC 3464), built
 * on a worker from the spooled message, stored in the sender's INBOX
 * when the sender is local, else queued with a null sender. */
#include "smtp-queue-private.h"

#include <string.h>

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

void
smtp_queue_dsn_send (SmtpQueue *queue, SmtpQueueItem *item, SmtpDsnKind kind, GPtrArray *rcpts)
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

