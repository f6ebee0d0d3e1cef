/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MAIL and RCPT: the envelope, relay control and the sender check. */
#include "smtp-session.h"
#include "smtp-queue.h"

#include <string.h>

static char *
smtp_new_transaction_id (void)
{
  guint32 r = g_random_int ();

  return g_strdup_printf ("%08" G_GINT64_MODIFIER "X%08X",
                          (gint64) (g_get_real_time () / G_USEC_PER_SEC) & 0xffffffff, r);
}

static void
smtp_mail_accept (SmtpSession *session, SmtpCommand *cmd)
{
  session->in_transaction = TRUE;
  session->sender = g_steal_pointer (&cmd->path);
  session->body = cmd->body;
  session->smtputf8 = cmd->smtputf8;
  session->ret = cmd->ret;
  session->envid = g_steal_pointer (&cmd->envid);
  session->txn_id = smtp_new_transaction_id ();
  if (session->conn != NULL)
    posthorn_connection_set_state (session->conn, "mail");
  smtp_session_reply (session, 250, "2.1.0", "Ok");
}

static void
smtp_mail_filtered (SmtpSession *session, gboolean accepted, gpointer user_data)
{
  g_autoptr(SmtpCommand) cmd = user_data;

  if (accepted)
    smtp_mail_accept (session, cmd);
}

void
smtp_cmd_mail (SmtpSession *session, const SmtpCommand *cmd)
{
  const SmtpSettings *settings = session->settings;
  g_autofree char *sender = NULL;
  g_autoptr(SmtpCommand) copy = NULL;

  if (session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "Nested MAIL command");
      smtp_session_bad_command (session);
      return;
    }
  if (session->info->role == SMTP_ROLE_SUBMISSION && session->user == NULL)
    {
      smtp_session_reply (session, 530, "5.7.0", "Authentication required");
      smtp_session_bad_command (session);
      return;
    }
  if (cmd->has_size && settings->max_message_size > 0 && cmd->size > settings->max_message_size)
    {
      smtp_session_reply (session, 552, "5.3.4", "Message size exceeds fixed maximum message size");
      return;
    }
  sender = smtp_path_to_mailbox (cmd->path);
  if (session->info->role == SMTP_ROLE_SUBMISSION && !settings->allow_sender_mismatch &&
      !smtp_sender_matches_user (sender, session->user))
    {
      smtp_session_reply (session, 553, "5.7.1", "Sender address rejected: not owned by user %s",
                          session->user);
      return;
    }

  copy = g_new0 (SmtpCommand, 1);
  copy->verb = cmd->verb;
  copy->path = smtp_path_copy (cmd->path);
  copy->params = g_ptr_array_new ();
  copy->body = cmd->body;
  copy->smtputf8 = cmd->smtputf8;
  copy->ret = cmd->ret;
  copy->envid = g_strdup (cmd->envid);
  smtp_filter_mail (session, sender, cmd->has_size ? cmd->size : 0, smtp_mail_filtered,
                    g_steal_pointer (&copy));
}

/* ---- RCPT ---- */

typedef struct {
  SmtpSession *session;
  SmtpRecipient *rcpt;
} SmtpRcptCheck;

static void
smtp_rcpt_check_free (SmtpRcptCheck *check)
{
  smtp_recipient_free (check->rcpt);
  smtp_session_unref (check->session);
  g_free (check);
}

static void
smtp_rcpt_filtered (SmtpSession *session, gboolean accepted, gpointer user_data)
{
  SmtpRcptCheck *check = user_data;

  if (!accepted)
    {
      smtp_rcpt_check_free (check);
      return;
    }
  if (!session->in_transaction)
    smtp_session_reply (session, 503, "5.5.1", "Need MAIL command");
  else
    {
      g_ptr_array_add (session->rcpts, g_steal_pointer (&check->rcpt));
      smtp_session_reply (session, 250, "2.1.5", "Ok");
    }
  smtp_rcpt_check_free (check);
}

static void
smtp_rcpt_accept (SmtpRcptCheck *check)
{
  SmtpSession *session = check->session;

  if (!session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "Need MAIL command");
      smtp_rcpt_check_free (check);
      return;
    }
  smtp_filter_rcpt (session, check->rcpt->mailbox, smtp_rcpt_filtered, check);
}

static void
smtp_rcpt_user_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpRcptCheck *check = user_data;
  SmtpSession *session = check->session;
  g_autoptr(GError) error = NULL;
  g_autofree char *canonical = NULL;
  gboolean exists;

  exists = posthorn_auth_user_exists_finish (result, &canonical, &error);
  smtp_session_resume (session);
  if (error != NULL)
    {
      if (session->conn != NULL)
        posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                                 "cannot look up recipient %s: %s", check->rcpt->mailbox,
                                 error->message);
      smtp_session_reply (session, 451, "4.3.0", "Recipient lookup failed, try again later");
      smtp_rcpt_check_free (check);
      return;
    }
  if (!exists)
    {
      smtp_session_reply (session, 550, "5.1.1", "Recipient address rejected: User unknown");
      smtp_rcpt_check_free (check);
      return;
    }
  /* A user the store cannot hold mail for (a Maildir store and a slash
   * in the name): refused now, not with a 451 after the data. */
  if (!posthorn_store_check_user (canonical, &error) &&
      g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID))
    {
      if (session->conn != NULL)
        posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO, "recipient %s refused: %s",
                                 check->rcpt->mailbox, error->message);
      smtp_session_reply (session, 550, "5.1.3",
                          "Recipient address rejected: no mailbox can be kept under this name");
      smtp_rcpt_check_free (check);
      return;
    }
  g_clear_error (&error);
  check->rcpt->user = g_steal_pointer (&canonical);
  smtp_rcpt_accept (check);
}

void
smtp_cmd_rcpt (SmtpSession *session, const SmtpCommand *cmd)
{
  const SmtpSettings *settings = session->settings;
  SmtpAddressClass klass;
  SmtpRcptCheck *check;
  SmtpRecipient *rcpt;

  if (!session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "Need MAIL command");
      smtp_session_bad_command (session);
      return;
    }
  if (session->rcpts->len >= settings->max_recipients)
    {
      smtp_session_reply (session, 452, "4.5.3", "Too many recipients");
      return;
    }

  klass = smtp_address_classify (cmd->path, (const char *const *) settings->domains);
  if (klass == SMTP_ADDRESS_INVALID ||
      (klass == SMTP_ADDRESS_REMOTE &&
       !(session->info->role == SMTP_ROLE_SUBMISSION && session->user != NULL &&
         settings->queue != NULL)))
    {
      if (session->conn != NULL)
        posthorn_connection_count (session->conn, "relay_denied", 1);
      smtp_session_reply (session, 554, "5.7.1", "Relay access denied");
      return;
    }

  rcpt = g_new0 (SmtpRecipient, 1);
  if (cmd->path->postmaster)
    rcpt->mailbox = g_strdup_printf ("postmaster@%s", settings->domains[0]);
  else
    rcpt->mailbox = smtp_path_to_mailbox (cmd->path);
  rcpt->notify = cmd->notify;
  rcpt->orcpt_type = g_strdup (cmd->orcpt_type);
  rcpt->orcpt = g_strdup (cmd->orcpt);
  check = g_new0 (SmtpRcptCheck, 1);
  check->session = smtp_session_ref (session);
  check->rcpt = rcpt;

  if (klass == SMTP_ADDRESS_REMOTE)
    {
      /* it would be queued: [smtp] queue_max_messages / queue_max_size */
      if (!smtp_queue_has_room (settings->queue, 0))
        {
          smtp_session_reply (session, 452, "4.3.1", "Outbound queue full, try again later");
          smtp_rcpt_check_free (check);
          return;
        }
      smtp_rcpt_accept (check);
      return;
    }
  smtp_session_pause (session);
  posthorn_auth_user_exists_async (session->conn, rcpt->mailbox, NULL,
                                   smtp_rcpt_user_checked, check);
}
