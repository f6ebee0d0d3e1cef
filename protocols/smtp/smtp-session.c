/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The session state machine: life cycle, command dispatch, and the
 * commands that do not belong to a family (EHLO/HELO/LHLO, RSET, NOOP,
 * VRFY, EXPN, HELP, QUIT, STARTTLS). */
#include "smtp-session.h"

#include <stdarg.h>
#include <string.h>

G_STATIC_ASSERT ((int) SMTP_LINE_END_CRLF == (int) POSTHORN_LINE_END_CRLF);
G_STATIC_ASSERT ((int) SMTP_LINE_END_LF == (int) POSTHORN_LINE_END_LF);
G_STATIC_ASSERT ((int) SMTP_LINE_END_NONE == (int) POSTHORN_LINE_END_NONE);

void
smtp_recipient_free (SmtpRecipient *rcpt)
{
  if (rcpt == NULL)
    return;
  g_free (rcpt->mailbox);
  g_free (rcpt->user);
  g_free (rcpt->orcpt_type);
  g_free (rcpt->orcpt);
  g_free (rcpt);
}

/* ---- life cycle ---- */

SmtpSession *
smtp_session_ref (SmtpSession *session)
{
  session->ref++;
  return session;
}

void
smtp_session_unref (SmtpSession *session)
{
  if (--session->ref > 0)
    return;
  smtp_session_reset_transaction (session);
  posthorn_sasl_session_free (&session->sasl);
  g_clear_pointer (&session->rcpts, g_ptr_array_unref);
  g_clear_pointer (&session->helo, g_free);
  g_clear_pointer (&session->user, g_free);
  g_clear_object (&session->cancellable);
  g_free (session);
}

void
smtp_session_reset_transaction (SmtpSession *session)
{
  session->in_transaction = FALSE;
  g_clear_pointer (&session->sender, smtp_path_free);
  session->body = SMTP_BODY_NONE;
  session->smtputf8 = FALSE;
  session->ret = SMTP_RET_NONE;
  g_clear_pointer (&session->envid, g_free);
  g_clear_pointer (&session->txn_id, g_free);
  if (session->rcpts != NULL)
    g_ptr_array_set_size (session->rcpts, 0);
  session->in_data = FALSE;
  session->in_bdat = FALSE;
  session->bdat_discard = FALSE;
  session->bdat_last = FALSE;
  session->bdat_total = 0;
  g_clear_error (&session->bdat_error);
  smtp_data_free (&session->data);
  g_clear_pointer (&session->writer, posthorn_message_writer_free);
  g_clear_error (&session->write_error);
}

/* ---- output ---- */

void
smtp_session_write (SmtpSession *session, const char *text)
{
  if (session->conn != NULL)
    posthorn_connection_write_string (session->conn, text);
}

void
smtp_session_reply (SmtpSession *session, guint code, const char *enhanced,
                    const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_autofree char *reply = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  reply = smtp_reply_format (code, enhanced, text);
  smtp_session_write (session, reply);
}

void
smtp_session_reply_error (SmtpSession *session, const GError *error)
{
  g_autofree char *reply = smtp_reply_format_error (error);

  smtp_session_write (session, reply);
}

gboolean
smtp_session_bad_command (SmtpSession *session)
{
  if (++session->bad_commands <= session->settings->max_bad_commands)
    return FALSE;
  smtp_session_reply (session, 421, "4.7.0", "%s Too many errors, closing connection",
                      session->settings->hostname);
  if (session->conn != NULL)
    {
      posthorn_connection_count (session->conn, "too_many_errors", 1);
      posthorn_connection_close (session->conn);
    }
  return TRUE;
}

gboolean
smtp_session_junk_command (SmtpSession *session)
{
  if (++session->junk_commands <= session->settings->max_junk_commands)
    return FALSE;
  smtp_session_reply (session, 421, "4.7.0", "%s Too many commands without mail, closing connection",
                      session->settings->hostname);
  if (session->conn != NULL)
    {
      posthorn_connection_count (session->conn, "too_many_commands", 1);
      posthorn_connection_close (session->conn);
    }
  return TRUE;
}

void
smtp_session_pause (SmtpSession *session)
{
  if (session->conn != NULL)
    posthorn_connection_pause_input (session->conn);
}

void
smtp_session_resume (SmtpSession *session)
{
  if (session->conn != NULL)
    posthorn_connection_resume_input (session->conn);
}

void
smtp_session_command_mode (SmtpSession *session)
{
  if (session->conn != NULL)
    posthorn_connection_set_line_mode (session->conn, SMTP_COMMAND_LINE_MAX,
                                       POSTHORN_LINE_DEFAULT);
}

gboolean
smtp_sender_matches_user (const char *mailbox, const char *user)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  if (mailbox == NULL || user == NULL)
    return FALSE;
  a = posthorn_auth_normalize_user (mailbox);
  b = posthorn_auth_normalize_user (user);
  return strcmp (a, b) == 0;
}

/* ---- simple commands ---- */

static void
smtp_cmd_ehlo (SmtpSession *session, const SmtpCommand *cmd)
{
  SmtpCapabilities caps = { 0 };
  g_auto (GStrv) mechanisms = NULL;
  g_autofree char *reply = NULL;
  gboolean lmtp = session->info->role == SMTP_ROLE_LMTP;

  if (lmtp != (cmd->verb == SMTP_VERB_LHLO))
    {
      if (lmtp)
        smtp_session_reply (session, 500, "5.5.1", "This is LMTP: say LHLO");
      else
        smtp_session_reply (session, 502, "5.5.1", "LHLO is for LMTP only");
      smtp_session_bad_command (session);
      return;
    }
  smtp_session_reset_transaction (session);
  g_free (session->helo);
  session->helo = g_strdup (cmd->argument);
  session->esmtp = cmd->verb != SMTP_VERB_HELO;
  if (session->conn != NULL)
    posthorn_connection_set_state (session->conn, "ready");

  if (!session->esmtp)
    {
      smtp_session_reply (session, 250, NULL, "%s", session->settings->hostname);
      return;
    }

  caps.hostname = session->settings->hostname;
  caps.flags = SMTP_CAP_SIZE | SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME |
               SMTP_CAP_SMTPUTF8 | SMTP_CAP_ENHANCEDSTATUSCODES |
               SMTP_CAP_CHUNKING | SMTP_CAP_BINARYMIME;
  if (session->settings->queue != NULL)
    caps.flags |= SMTP_CAP_DSN;
  if (session->conn != NULL && !posthorn_connection_is_tls (session->conn) &&
      posthorn_connection_tls_available (session->conn))
    caps.flags |= SMTP_CAP_STARTTLS;
  caps.max_size = session->settings->max_message_size;
  if (session->info->role == SMTP_ROLE_SUBMISSION && session->user == NULL)
    {
      mechanisms = posthorn_auth_list_mechanisms (session->conn);
      caps.auth_mechanisms = (const char *const *) mechanisms;
    }
  reply = smtp_reply_format_ehlo (&caps);
  smtp_session_write (session, reply);
}

static void
smtp_starttls_done (PosthornConnection *conn, gboolean success, gpointer user_data)
{
  SmtpSession *session = user_data;

  /* RFC 3207 §4.2: forget everything learnt before the handshake */
  if (success)
    {
      g_clear_pointer (&session->helo, g_free);
      session->esmtp = FALSE;
      smtp_session_reset_transaction (session);
    }
}

static void
smtp_cmd_starttls (SmtpSession *session)
{
  if (session->conn == NULL)
    return;
  if (posthorn_connection_is_tls (session->conn))
    {
      smtp_session_reply (session, 503, "5.5.1", "TLS already active");
      return;
    }
  if (!posthorn_connection_tls_available (session->conn))
    {
      smtp_session_reply (session, 454, "4.7.0", "TLS not available");
      return;
    }
  if (session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "STARTTLS not allowed in a mail transaction");
      return;
    }
  smtp_session_reply (session, 220, "2.0.0", "Ready to start TLS");
  posthorn_connection_start_tls (session->conn, smtp_starttls_done, session);
}

static gboolean
smtp_needs_helo (SmtpSession *session, const SmtpCommand *cmd)
{
  switch (cmd->verb)
    {
    case SMTP_VERB_MAIL:
    case SMTP_VERB_RCPT:
    case SMTP_VERB_DATA:
    case SMTP_VERB_BDAT:
    case SMTP_VERB_AUTH:
      return session->helo == NULL;
    default:
      return FALSE;
    }
}

static void
smtp_session_command (SmtpSession *session, const char *line, gsize length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpCommand) cmd = NULL;
  SmtpParseFlags flags = session->smtputf8 ? SMTP_PARSE_UTF8 : SMTP_PARSE_DEFAULT;

  cmd = smtp_command_parse (line, length, flags, &error);
  if (cmd == NULL)
    {
      smtp_session_reply_error (session, error);
      smtp_session_bad_command (session);
      return;
    }
  if (smtp_needs_helo (session, cmd))
    {
      smtp_session_reply (session, 503, "5.5.1", "Send %s first",
                          session->info->role == SMTP_ROLE_LMTP ? "LHLO" : "EHLO/HELO");
      smtp_session_bad_command (session);
      return;
    }

  switch (cmd->verb)
    {
    case SMTP_VERB_EHLO:
    case SMTP_VERB_HELO:
    case SMTP_VERB_LHLO:
    case SMTP_VERB_RSET:
    case SMTP_VERB_NOOP:
    case SMTP_VERB_VRFY:
    case SMTP_VERB_EXPN:
    case SMTP_VERB_HELP:
      /* [smtp] max_junk_commands: no endless sessions that move no mail */
      if (smtp_session_junk_command (session))
        return;
      break;
    default:
      break;
    }

  switch (cmd->verb)
    {
    case SMTP_VERB_EHLO:
    case SMTP_VERB_HELO:
    case SMTP_VERB_LHLO:
      smtp_cmd_ehlo (session, cmd);
      break;
    case SMTP_VERB_MAIL:
      smtp_cmd_mail (session, cmd);
      break;
    case SMTP_VERB_RCPT:
      smtp_cmd_rcpt (session, cmd);
      break;
    case SMTP_VERB_DATA:
      smtp_cmd_data (session, cmd);
      break;
    case SMTP_VERB_BDAT:
      smtp_cmd_bdat (session, cmd);
      break;
    case SMTP_VERB_RSET:
      smtp_session_reset_transaction (session);
      smtp_session_reply (session, 250, "2.0.0", "Ok");
      break;
    case SMTP_VERB_NOOP:
      smtp_session_reply (session, 250, "2.0.0", "Ok");
      break;
    case SMTP_VERB_VRFY:
      /* RFC 5321 §3.5.3: no disclosure of who exists */
      smtp_session_reply (session, 252, "2.5.0",
                          "Cannot VRFY user, but will accept message and attempt delivery");
      break;
    case SMTP_VERB_EXPN:
      smtp_session_reply (session, 502, "5.5.1", "EXPN not available");
      break;
    case SMTP_VERB_HELP:
      smtp_session_reply (session, 214, "2.0.0",
                          "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT STARTTLS AUTH");
      break;
    case SMTP_VERB_QUIT:
      smtp_session_reply (session, 221, "2.0.0", "%s Bye", session->settings->hostname);
      if (session->conn != NULL)
        posthorn_connection_close (session->conn);
      break;
    case SMTP_VERB_STARTTLS:
      smtp_cmd_starttls (session);
      break;
    case SMTP_VERB_AUTH:
      smtp_cmd_auth (session, cmd);
      break;
    }
}

/* ---- connection callbacks ---- */

static void
smtp_on_line (PosthornConnection *conn, const char *line, gsize length,
              PosthornLineEnd end, gpointer user_data)
{
  SmtpSession *session = user_data;

  if (session->in_data)
    {
      smtp_cmd_data_line (session, line, length, end);
      return;
    }
  if (session->sasl_waiting)
    {
      smtp_cmd_auth_line (session, line, length);
      return;
    }
  smtp_session_command (session, line, length);
}

static void
smtp_on_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  SmtpSession *session = user_data;
  g_autoptr(GError) error = NULL;

  smtp_command_check_length (G_MAXSIZE, SMTP_COMMAND_LINE_MAX, &error);
  if (session->sasl_waiting)
    {
      /* the response was too long: the exchange is over */
      session->sasl_waiting = FALSE;
      posthorn_sasl_session_free (&session->sasl);
      smtp_session_command_mode (session);
    }
  smtp_session_reply_error (session, error);
  smtp_session_bad_command (session);
}

static void
smtp_on_bytes (PosthornConnection *conn, const guint8 *data, gsize length,
               gboolean last, gpointer user_data)
{
  smtp_cmd_bdat_bytes (user_data, data, length, last);
}

static void
smtp_on_idle_timeout (PosthornConnection *conn, gpointer user_data)
{
  SmtpSession *session = user_data;

  smtp_session_reply (session, 421, "4.4.2", "%s Timeout, closing connection",
                      session->settings->hostname);
  posthorn_connection_close (conn);
}

static void
smtp_on_shutdown (PosthornConnection *conn, gpointer user_data)
{
  SmtpSession *session = user_data;

  smtp_session_reply (session, 421, "4.3.2", "%s Service shutting down",
                      session->settings->hostname);
  posthorn_connection_close (conn);
}

static void
smtp_on_closed (PosthornConnection *conn, gpointer user_data)
{
  SmtpSession *session = user_data;

  session->conn = NULL;
  g_cancellable_cancel (session->cancellable);
}

static const PosthornConnectionHandler smtp_connection_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = smtp_on_line,
  .line_too_long = smtp_on_line_too_long,
  .bytes = smtp_on_bytes,
  .idle_timeout = smtp_on_idle_timeout,
  .shutdown = smtp_on_shutdown,
  .closed = smtp_on_closed,
};

void
smtp_session_new (PosthornConnection *conn, const SmtpServiceInfo *info)
{
  SmtpSession *session = g_new0 (SmtpSession, 1);

  session->ref = 1;
  session->conn = conn;
  session->info = info;
  session->settings = info->settings;
  session->cancellable = g_cancellable_new ();
  session->rcpts = g_ptr_array_new_with_free_func ((GDestroyNotify) smtp_recipient_free);
  posthorn_connection_set_handler (conn, &smtp_connection_handler, session,
                                   (GDestroyNotify) smtp_session_unref);
  posthorn_connection_set_line_mode (conn, SMTP_COMMAND_LINE_MAX, POSTHORN_LINE_DEFAULT);
  posthorn_connection_set_state (conn, "greeting");
  if (info->role == SMTP_ROLE_LMTP)
    smtp_session_reply (session, 220, NULL, "%s LMTP Posthorn ready", session->settings->hostname);
  else
    smtp_session_reply (session, 220, NULL, "%s ESMTP Posthorn ready", session->settings->hostname);
}
