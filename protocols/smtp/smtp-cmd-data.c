/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DATA and BDAT: the message through the smuggling-safe DATA machine into
 * a PosthornMessageWriter (behind our Return-Path: and Received:), then
 * durable in every local mailbox and/or the queue before the 250. */
#include "smtp-session.h"
#include "smtp-delivery.h"
#include "smtp-received.h"

#include <string.h>

/* Lines of DATA are read up to this length, longer ones in pieces. */
#define SMTP_DATA_LINE_MAX 8192

static void
smtp_data_sink (const char *data, gsize length, gpointer user_data)
{
  SmtpSession *session = user_data;

  if (session->write_error != NULL)
    return;
  posthorn_message_writer_write (session->writer, data, length, &session->write_error);
}

static guint
smtp_count_remote (SmtpSession *session)
{
  guint n = 0;

  for (guint i = 0; i < session->rcpts->len; i++)
    if (((SmtpRecipient *) g_ptr_array_index (session->rcpts, i))->user == NULL)
      n++;
  return n;
}

/* Starts the message: the writer with our trace fields, the DATA machine. */
static void
smtp_message_begin (SmtpSession *session, gboolean binary)
{
  SmtpDataOptions options = { 0 };
  SmtpReceivedInfo info = { 0 };
  g_autoptr(SmtpPath) rcpt_path = NULL;
  g_autofree char *received = NULL;
  gboolean tls = session->conn != NULL && posthorn_connection_is_tls (session->conn);

  session->writer = posthorn_message_writer_new (NULL, 0);
  session->filter_header_offset = 0;
  /* Return-Path: belongs to the final delivery (RFC 5321 §4.4); when some
   * recipients are queued the local copy gets it at delivery time. */
  if (smtp_count_remote (session) == 0)
    {
      g_autofree char *return_path = smtp_return_path_build (session->sender);
      smtp_data_sink (return_path, strlen (return_path), session);
      session->filter_header_offset = strlen (return_path);
    }
  info.helo = session->helo;
  info.address = session->conn != NULL ? posthorn_connection_get_peer_address (session->conn) : NULL;
  info.by = session->settings->hostname;
  info.with = smtp_with_for (session->info->role == SMTP_ROLE_LMTP, session->esmtp, tls,
                             session->user != NULL, session->smtputf8);
  info.id = session->txn_id;
  if (session->rcpts->len == 1)
    {
      const SmtpRecipient *rcpt = g_ptr_array_index (session->rcpts, 0);
      const char *at = strrchr (rcpt->mailbox, '@');

      rcpt_path = g_new0 (SmtpPath, 1);
      rcpt_path->local_part = g_strndup (rcpt->mailbox, at != NULL ? (gsize) (at - rcpt->mailbox) : strlen (rcpt->mailbox));
      rcpt_path->domain = at != NULL ? g_strdup (at + 1) : NULL;
      info.recipient = rcpt_path;
    }
  received = smtp_received_build (&info);
  smtp_data_sink (received, strlen (received), session);

  options.max_size = session->settings->max_message_size;
  options.max_received = session->settings->max_received;
  options.bare_newline = session->settings->bare_newline;
  options.binary = binary;
  session->data = smtp_data_new (&options, smtp_data_sink, session);
}

/* ---- the end of a message ---- */

typedef struct {
  SmtpSession *session;
  gboolean lmtp;
} SmtpFinish;

static void
smtp_delivered (SmtpDeliveryResult *result, gpointer user_data)
{
  SmtpFinish *finish = user_data;
  SmtpSession *session = finish->session;

  smtp_session_resume (session);
  if (finish->lmtp)
    {
      /* RFC 2033 §4.2: one reply per accepted recipient, in order */
      for (guint i = 0; i < session->rcpts->len; i++)
        {
          const SmtpRecipient *rcpt = g_ptr_array_index (session->rcpts, i);

          if (result->error == NULL)
            smtp_session_reply (session, 250, "2.1.5", "<%s> Delivered", rcpt->mailbox);
          else
            smtp_session_reply_error (session, result->error);
        }
    }
  else if (result->error == NULL)
    smtp_session_reply (session, 250, "2.0.0", "Ok: queued as %s", session->txn_id);
  else
    smtp_session_reply_error (session, result->error);

  if (result->error == NULL)
    session->junk_commands = 0;  /* mail moved: [smtp] max_junk_commands starts over */
  if (session->conn != NULL)
    {
      if (result->error == NULL)
        posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO,
                                 "%s accepted: from=<%s> recipients=%u size=%" G_GUINT64_FORMAT,
                                 session->txn_id, result->sender, session->rcpts->len,
                                 result->size);
      else
        posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO, "%s refused: %s",
                                 session->txn_id, result->error->message);
      posthorn_connection_set_state (session->conn, "ready");
    }
  smtp_session_reset_transaction (session);
  smtp_session_unref (session);
  g_free (finish);
}

/* Refuses the message with @error (one reply, or one per recipient for
 * LMTP) and ends the transaction. */
static void
smtp_message_refuse (SmtpSession *session, const GError *error)
{
  guint n = session->info->role == SMTP_ROLE_LMTP ? session->rcpts->len : 1;

  for (guint i = 0; i < n; i++)
    smtp_session_reply_error (session, error);
  smtp_session_reset_transaction (session);
}

/* After the filters: the message to store (with their header fields), or
 * their refusal. */
static void
smtp_message_filtered (SmtpSession *session, PosthornMessage *message, const GError *refusal,
                       gpointer user_data)
{
  SmtpFinish *finish;

  if (refusal != NULL)
    {
      smtp_message_refuse (session, refusal);
      if (session->conn != NULL)
        posthorn_connection_set_state (session->conn, "ready");
      return;
    }
  finish = g_new0 (SmtpFinish, 1);
  finish->session = smtp_session_ref (session);
  finish->lmtp = session->info->role == SMTP_ROLE_LMTP;
  smtp_session_pause (session);
  smtp_delivery_run (session, message, smtp_delivered, finish);
}

static void
smtp_message_end (SmtpSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) message = NULL;

  smtp_session_command_mode (session);
  if (!smtp_data_finish (session->data, &error))
    {
      smtp_message_refuse (session, error);
      return;
    }
  if (session->write_error != NULL)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING, "cannot spool message: %s",
                               session->write_error->message);
      smtp_session_reply (session, 451, "4.3.0", "Local error in processing");
      smtp_session_reset_transaction (session);
      return;
    }
  message = posthorn_message_writer_finish (session->writer, &error);
  g_clear_pointer (&session->writer, posthorn_message_writer_free);
  if (message == NULL)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING, "cannot spool message: %s",
                               error->message);
      smtp_session_reply (session, 451, "4.3.0", "Local error in processing");
      smtp_session_reset_transaction (session);
      return;
    }

  smtp_filter_data (session, message, smtp_message_filtered, NULL);
}

/* ---- DATA ---- */

static gboolean
smtp_check_ready_for_data (SmtpSession *session)
{
  if (!session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "Need MAIL command");
      smtp_session_bad_command (session);
      return FALSE;
    }
  if (session->rcpts->len == 0)
    {
      smtp_session_reply (session, 554, "5.5.1", "No valid recipients");
      return FALSE;
    }
  return TRUE;
}

void
smtp_cmd_data (SmtpSession *session, const SmtpCommand *cmd)
{
  if (session->in_bdat)
    {
      smtp_session_reply (session, 503, "5.5.1", "DATA not allowed after BDAT");
      smtp_session_reset_transaction (session);
      return;
    }
  if (!smtp_check_ready_for_data (session))
    return;
  if (session->body == SMTP_BODY_BINARYMIME)
    {
      smtp_session_reply (session, 503, "5.5.1", "BODY=BINARYMIME requires BDAT");
      return;
    }
  smtp_message_begin (session, FALSE);
  session->in_data = TRUE;
  if (session->conn != NULL)
    {
      posthorn_connection_set_line_mode (session->conn, SMTP_DATA_LINE_MAX,
                                         POSTHORN_LINE_SPLIT_LONG);
      posthorn_connection_set_state (session->conn, "data");
    }
  smtp_session_reply (session, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

void
smtp_cmd_data_line (SmtpSession *session, const char *line, gsize length, PosthornLineEnd end)
{
  if (smtp_data_feed_line (session->data, line, length, (SmtpLineEnd) end) != SMTP_DATA_END)
    return;
  session->in_data = FALSE;
  smtp_message_end (session);
}

/* ---- BDAT (RFC 3030) ---- */

void
smtp_cmd_bdat (SmtpSession *session, const SmtpCommand *cmd)
{
  session->bdat_last = cmd->bdat_last;
  if (!session->in_bdat)
    {
      /* the first chunk: the transaction must be ready, else the chunk is
       * read and thrown away, and the failure reported after it */
      session->in_bdat = TRUE;
      if (!session->in_transaction)
        {
          session->bdat_discard = TRUE;
          smtp_reply_set_error (&session->bdat_error, 503, "5.5.1", "Need MAIL command");
        }
      else if (session->rcpts->len == 0)
        {
          session->bdat_discard = TRUE;
          smtp_reply_set_error (&session->bdat_error, 554, "5.5.1", "No valid recipients");
        }
      else
        smtp_message_begin (session, session->body == SMTP_BODY_BINARYMIME);
    }
  if (session->conn != NULL)
    {
      posthorn_connection_set_state (session->conn, "bdat");
      posthorn_connection_read_bytes (session->conn, cmd->bdat_size);
    }
}

void
smtp_cmd_bdat_bytes (SmtpSession *session, const guint8 *data, gsize length, gboolean last)
{
  if (!session->in_bdat)
    return;
  session->bdat_total += length;
  if (!session->bdat_discard && length > 0)
    smtp_data_feed_bytes (session->data, (const char *) data, length);
  if (!last)
    return;

  if (session->bdat_discard)
    {
      if (session->bdat_error != NULL)
        smtp_session_reply_error (session, session->bdat_error);
      smtp_session_reset_transaction (session);
      return;
    }
  if (!session->bdat_last)
    {
      smtp_session_reply (session, 250, "2.0.0", "%" G_GUINT64_FORMAT " octets received",
                          session->bdat_total);
      return;
    }
  session->in_bdat = FALSE;
  smtp_message_end (session);
}
