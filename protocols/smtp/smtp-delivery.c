/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-delivery.h"

#include <string.h>

typedef struct {
  SmtpSession *session;
  PosthornMessage *message;
  char *sender;
  GStrv users;                 /* unique local users */
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
  smtp_delivery_complete (delivery, NULL);
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
  posthorn_store_deliver_async ((const char *const *) delivery->users, NULL, message, 0,
                                session, NULL, smtp_delivery_stored, delivery);
}
