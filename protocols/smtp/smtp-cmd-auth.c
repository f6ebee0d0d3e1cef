/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AUTH (RFC 4954) over the core's SASL engine; submission only. */
#include "smtp-session.h"

#include <string.h>

static void smtp_auth_step_done (PosthornSaslSession *sasl, PosthornSaslStatus status,
                                 const char *server_b64, const GError *error,
                                 gpointer user_data);

static void
smtp_auth_succeeded (SmtpSession *session)
{
  g_autofree char *user = g_strdup (posthorn_sasl_session_get_user (session->sasl));

  posthorn_sasl_session_free (&session->sasl);
  g_free (session->user);
  session->user = g_steal_pointer (&user);
  if (session->conn != NULL)
    {
      posthorn_connection_set_user (session->conn, session->user);
      posthorn_connection_set_state (session->conn, "authenticated");
    }
  smtp_session_reply (session, 235, "2.7.0", "Authentication successful");
}

static void
smtp_auth_failed (SmtpSession *session, const GError *error)
{
  posthorn_sasl_session_free (&session->sasl);
  if (error->domain != POSTHORN_ERROR)
    {
      smtp_session_reply (session, 454, "4.7.0", "Temporary authentication failure");
      return;
    }
  switch (error->code)
    {
    case POSTHORN_ERROR_AUTH_FAILED:
      smtp_session_reply (session, 535, "5.7.8", "Authentication credentials invalid");
      break;
    case POSTHORN_ERROR_INVALID:
      smtp_session_reply (session, 501, "5.5.2", "Invalid authentication data");
      break;
    case POSTHORN_ERROR_IN_USE:
      /* [core] max_sessions_per_user(_ip): RFC 4954's temporary failure, the core's text */
      smtp_session_reply (session, 454, "4.7.0", "%s", error->message);
      break;
    case POSTHORN_ERROR_LIMIT:
      smtp_session_reply (session, 421, "4.7.0", "%s Too many authentication failures",
                          session->settings->hostname);
      if (session->conn != NULL)
        posthorn_connection_close (session->conn);
      break;
    default:
      smtp_session_reply (session, 454, "4.7.0", "Temporary authentication failure");
      break;
    }
}

static void
smtp_auth_step_done (PosthornSaslSession *sasl, PosthornSaslStatus status,
                     const char *server_b64, const GError *error, gpointer user_data)
{
  SmtpSession *session = user_data;

  smtp_session_resume (session);
  switch (status)
    {
    case POSTHORN_SASL_CONTINUE:
      session->sasl_waiting = TRUE;
      smtp_session_write (session, "334 ");
      smtp_session_write (session, server_b64 != NULL ? server_b64 : "");
      smtp_session_write (session, "\r\n");
      return;
    case POSTHORN_SASL_SUCCESS:
      if (server_b64 != NULL && *server_b64 != '\0')
        {
          /* SCRAM's server signature: a last challenge, answered empty */
          session->sasl_waiting = TRUE;
          session->sasl_final = TRUE;
          smtp_session_write (session, "334 ");
          smtp_session_write (session, server_b64);
          smtp_session_write (session, "\r\n");
          return;
        }
      smtp_session_command_mode (session);
      smtp_auth_succeeded (session);
      return;
    case POSTHORN_SASL_FAILURE:
      smtp_session_command_mode (session);
      smtp_auth_failed (session, error);
      return;
    }
}

void
smtp_cmd_auth_line (SmtpSession *session, const char *line, gsize length)
{
  session->sasl_waiting = FALSE;
  if (length == 1 && line[0] == '*')
    {
      posthorn_sasl_session_cancel (session->sasl);
      posthorn_sasl_session_free (&session->sasl);
      session->sasl_final = FALSE;
      smtp_session_command_mode (session);
      smtp_session_reply (session, 501, "5.0.0", "Authentication cancelled");
      return;
    }
  if (session->sasl_final)
    {
      session->sasl_final = FALSE;
      smtp_session_command_mode (session);
      if (length != 0 && !(length == 1 && line[0] == '='))
        {
          posthorn_sasl_session_free (&session->sasl);
          smtp_session_reply (session, 501, "5.5.2", "Expected an empty response");
          return;
        }
      smtp_auth_succeeded (session);
      return;
    }
  if (memchr (line, '\0', length) != NULL)
    {
      posthorn_sasl_session_free (&session->sasl);
      smtp_session_command_mode (session);
      smtp_session_reply (session, 501, "5.5.2", "Invalid authentication data");
      return;
    }
  smtp_session_pause (session);
  posthorn_sasl_session_step (session->sasl, line, smtp_auth_step_done, session);
}

void
smtp_cmd_auth (SmtpSession *session, const SmtpCommand *cmd)
{
  g_autoptr(GError) error = NULL;

  if (session->info->role != SMTP_ROLE_SUBMISSION)
    {
      smtp_session_reply (session, 503, "5.5.1", "Authentication not enabled");
      smtp_session_bad_command (session);
      return;
    }
  if (session->user != NULL)
    {
      smtp_session_reply (session, 503, "5.5.1", "Already authenticated");
      return;
    }
  if (session->in_transaction)
    {
      smtp_session_reply (session, 503, "5.5.1", "AUTH not allowed in a mail transaction");
      return;
    }
  session->sasl = posthorn_sasl_session_new (session->conn, "smtp", cmd->argument, &error);
  if (session->sasl == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION))
        smtp_session_reply (session, 538, "5.7.11",
                            "Encryption required for requested authentication mechanism");
      else
        smtp_session_reply (session, 504, "5.5.4", "Unrecognized authentication type");
      smtp_session_bad_command (session);
      return;
    }
  if (session->conn != NULL)
    posthorn_connection_set_line_mode (session->conn, POSTHORN_SASL_MAX_RESPONSE + 2,
                                       POSTHORN_LINE_DEFAULT);
  smtp_session_pause (session);
  posthorn_sasl_session_step (session->sasl, cmd->auth_initial_response,
                              smtp_auth_step_done, session);
}
