/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue's runner, on the main loop: one attempt per
 * (message, destination domain) on the client thread pool within the
 * concurrency limits, then per round: the results, reports, growing
 * back-off, expiry after [smtp] queue_lifetime. */
#include "smtp-queue-private.h"

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
  smtp_queue_item_unref (attempt->item);
  g_free (attempt);
}

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
      smtp_queue_spool_remove (queue, env->id);
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
    smtp_queue_dsn_send (queue, item, SMTP_DSN_FAILURE, failed);
  if (pending > 0 && !env->delay_warned && queue->config.delay_warning > 0 &&
      (guint64) (now - env->arrival) >= queue->config.delay_warning)
    {
      env->delay_warned = TRUE;
      if (env->sender[0] != '\0' && delayed->len > 0)
        smtp_queue_dsn_send (queue, item, SMTP_DSN_DELAY, delayed);
    }

  if (pending == 0)
    {
      g_message ("%s: done after %u attempt(s)", env->id, env->attempts);
      /* the reports read the message first: remove it after them */
      smtp_queue_spool_remove (queue, env->id);
      smtp_queue_item_remove (queue, item);
      return;
    }
  backoff = queue->config.retry_min;
  for (guint i = 1; i < env->attempts && backoff < queue->config.retry_max; i++)
    backoff *= 2;
  backoff = MIN (backoff, queue->config.retry_max);
  env->next_attempt = now + (gint64) backoff;
  g_message ("%s: %u recipient(s) deferred, next attempt in %" G_GUINT64_FORMAT " s",
             env->id, pending, backoff);
  smtp_queue_spool_save (queue, env);
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

void
smtp_queue_attempt_run (gpointer data, gpointer user_data)
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

  attempt->item = smtp_queue_item_ref (item);
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
void
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

gboolean
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

void
smtp_queue_tick_now (SmtpQueue *queue)
{
  if (queue->timer != 0 && !queue->stopping)
    g_idle_add (smtp_queue_tick_once, queue);
}

