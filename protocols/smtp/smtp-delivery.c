/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-delivery.h"
#include "smtp-queue.h"
#include "smtp-received.h"

#include <string.h>

typedef struct {
  SmtpSession *session;
  PosthornMessage *message;
  char *sender;
  GStrv users;                 /* unique local users */
  SmtpEnvelope *env;           /* remote recipients, spooled; or NULL */
  char *return_path;           /* for the local copy of a mixed delivery */
  SmtpDeliveryFunc callback;
  gpointer user_data;
} SmtpDelivery;

static void
smtp_delivery_free (SmtpDelivery *delivery)
{
  smtp_session_unref (delivery->session);
  posthorn_message_unref (delivery->message);
  g_free (delivery->sender);
  g_strfreev (delivery->users);
  smtp_envelope_free (delivery->env);
  g_free (delivery->return_path);
  g_free (delivery);
}

GError *
smtp_delivery_store_error (const GError *error)
{
  GError *reply = NULL;

  if (error->domain == POSTHORN_ERROR && error->code == POSTHORN_ERROR_OVER_QUOTA)
    smtp_reply_set_error (&reply, 452, "4.2.2", "Mailbox full");
  else if (error->domain == POSTHORN_ERROR && error->code == POSTHORN_ERROR_TOO_BIG)
    smtp_reply_set_error (&reply, 552, "5.3.4", "Message too big for the mailbox");
  else
    smtp_reply_set_error (&reply, 451, "4.3.0", "Local error in processing, try again later");
  return reply;
}

static void
smtp_delivery_complete (SmtpDelivery *delivery, GError *error)
{
  SmtpDeliveryResult result = { 0 };
  SmtpQueue *queue = delivery->session->settings->queue;

  /* the spooled part goes to the runner only when everything is durable */
  if (delivery->env != NULL)
    {
      if (error == NULL)
        smtp_queue_activate (queue, g_steal_pointer (&delivery->env));
      else
        smtp_queue_discard (queue, g_steal_pointer (&delivery->env));
    }

  if (error == NULL)
    posthorn_core_count ("smtp.messages_received", 1);
  result.error = error;
  result.sender = delivery->sender;
  result.size = posthorn_message_get_size (delivery->message);
  delivery->callback (&result, delivery->user_data);
  g_clear_error (&error);
  smtp_delivery_free (delivery);
}

static void
smtp_delivery_stored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpDelivery *delivery = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;

  changes = posthorn_store_changes_finish (result, &error);
  if (changes == NULL)
    {
      g_warning ("%s: local delivery failed: %s", delivery->session->txn_id, error->message);
      smtp_delivery_complete (delivery, smtp_delivery_store_error (error));
      return;
    }
  posthorn_core_count ("smtp.messages_delivered", g_strv_length (delivery->users));
  smtp_delivery_complete (delivery, NULL);
}

static void
smtp_delivery_local (SmtpDelivery *delivery, PosthornMessage *message)
{
  if (delivery->users[0] == NULL)
    {
      smtp_delivery_complete (delivery, NULL);
      return;
    }
  posthorn_store_deliver_async ((const char *const *) delivery->users, NULL, message, 0,
                                delivery->session, NULL, smtp_delivery_stored, delivery);
}

/* The local copy of a message that also goes out: Return-Path first. */
static gpointer
smtp_delivery_copy_run (gpointer data, GCancellable *cancellable, GError **error)
{
  SmtpDelivery *delivery = data;
  g_autoptr(PosthornMessageWriter) writer = posthorn_message_writer_new (NULL, 0);
  guint64 offset = 0;
  char buf[65536];
  gssize n;

  if (!posthorn_message_writer_write (writer, delivery->return_path,
                                      strlen (delivery->return_path), error))
    return NULL;
  while ((n = posthorn_message_read (delivery->message, offset, buf, sizeof buf, error)) > 0)
    {
      if (!posthorn_message_writer_write (writer, buf, (gsize) n, error))
        return NULL;
      offset += (guint64) n;
    }
  if (n < 0)
    return NULL;
  return posthorn_message_writer_finish (writer, error);
}

static void
smtp_delivery_copied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpDelivery *delivery = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) local = posthorn_worker_finish (result, &error);

  if (local == NULL)
    {
      g_warning ("%s: cannot copy the message: %s", delivery->session->txn_id, error->message);
      smtp_delivery_complete (delivery, smtp_delivery_store_error (error));
      return;
    }
  smtp_delivery_local (delivery, local);
}

static void
smtp_delivery_spooled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpDelivery *delivery = user_data;
  g_autoptr(GError) error = NULL;

  if (!smtp_queue_spool_finish (result, &error))
    {
      GError *reply = NULL;

      g_clear_pointer (&delivery->env, smtp_envelope_free);
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT))
        /* [smtp] queue_max_messages / queue_max_size */
        smtp_reply_set_error (&reply, 452, "4.3.1", "Outbound queue full, try again later");
      else
        {
          g_warning ("%s: cannot queue: %s", delivery->session->txn_id, error->message);
          reply = smtp_delivery_store_error (error);
        }
      smtp_delivery_complete (delivery, reply);
      return;
    }
  if (delivery->users[0] == NULL)
    {
      smtp_delivery_complete (delivery, NULL);
      return;
    }
  posthorn_worker_run (smtp_delivery_copy_run, delivery, NULL,
                       (GDestroyNotify) posthorn_message_unref, NULL,
                       smtp_delivery_copied, delivery);
}

static SmtpEnvelope *
smtp_delivery_envelope (SmtpSession *session, const char *sender)
{
  SmtpEnvelope *env = NULL;

  for (guint i = 0; i < session->rcpts->len; i++)
    {
      const SmtpRecipient *rcpt = g_ptr_array_index (session->rcpts, i);
      SmtpSpoolRcpt *s;

      if (rcpt->user != NULL)
        continue;
      if (env == NULL)
        {
          env = smtp_envelope_new (session->txn_id);
          g_free (env->sender);
          env->sender = g_strdup (sender);
          env->body = session->body;
          env->smtputf8 = session->smtputf8;
          env->ret = session->ret;
          env->envid = g_strdup (session->envid);
          env->arrival = g_get_real_time () / G_USEC_PER_SEC;
        }
      s = smtp_envelope_add_rcpt (env, rcpt->mailbox);
      s->notify = rcpt->notify;
      s->orcpt_type = g_strdup (rcpt->orcpt_type);
      s->orcpt = g_strdup (rcpt->orcpt);
    }
  return env;
}

void
smtp_delivery_run (SmtpSession *session, PosthornMessage *message,
                   SmtpDeliveryFunc callback, gpointer user_data)
{
  SmtpDelivery *delivery = g_new0 (SmtpDelivery, 1);
  g_autoptr(GPtrArray) users = g_ptr_array_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  delivery->session = smtp_session_ref (session);
  delivery->message = posthorn_message_ref (message);
  delivery->sender = smtp_path_to_mailbox (session->sender);
  delivery->callback = callback;
  delivery->user_data = user_data;
  for (guint i = 0; i < session->rcpts->len; i++)
    {
      const SmtpRecipient *rcpt = g_ptr_array_index (session->rcpts, i);

      if (rcpt->user != NULL && g_hash_table_add (seen, rcpt->user))
        g_ptr_array_add (users, g_strdup (rcpt->user));
    }
  g_ptr_array_add (users, NULL);
  delivery->users = (GStrv) g_ptr_array_free (g_steal_pointer (&users), FALSE);
  delivery->env = smtp_delivery_envelope (session, delivery->sender);
  if (delivery->env == NULL)
    {
      smtp_delivery_local (delivery, message);
      return;
    }
  delivery->return_path = smtp_return_path_build (session->sender);
  smtp_queue_spool_async (session->settings->queue, delivery->env, message,
                          smtp_delivery_spooled, delivery);
}
