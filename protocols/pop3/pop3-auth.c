/* The AUTHORIZATION state: CAPA (RFC 2449), USER/PASS (RFC 1939), AUTH
 * (RFC 5034) and STLS (RFC 2595). Credentials go to the core's auth
 * engine, which throttles failures; a success leads to the maildrop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-session.h"

#include <string.h>

#define POP3_PLAINTEXT_DISALLOWED \
  "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections"

void
pop3_auth_capa (Pop3Session *session)
{
  PosthornConnection *conn = session->conn;
  g_autoptr(GString) out = g_string_new ("+OK Capability list follows\r\n");
  gboolean authorization = session->state == POP3_STATE_AUTHORIZATION;

  g_string_append (out, "TOP\r\nUIDL\r\n");
  if (authorization && posthorn_auth_plaintext_allowed (conn))
    g_string_append (out, "USER\r\n");
  if (authorization)
    {
      g_auto(GStrv) mechanisms = posthorn_auth_list_mechanisms (conn);

      if (mechanisms[0] != NULL)
        {
          g_autofree char *joined = g_strjoinv (" ", mechanisms);
          g_string_append_printf (out, "SASL %s\r\n", joined);
        }
    }
  g_string_append (out, "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\n");
  if (authorization && posthorn_connection_tls_available (conn) &&
      !posthorn_connection_is_tls (conn))
    g_string_append (out, "STLS\r\n");
  g_string_append_printf (out, "IMPLEMENTATION Posthorn %s\r\n.\r\n",
                          posthorn_core_get_version ());
  posthorn_connection_write (conn, out->str, out->len);
}

/* Replies to a failed login. Returns FALSE if the connection was closed
 * (too many failures). */
static void
auth_reply_error (Pop3Session *session, const GError *error)
{
  PosthornConnection *conn = session->conn;

  /* The core's auth counts failed logins ("logins_failed"), once. */
  if (error->domain != POSTHORN_ERROR)
    {
      pop3_session_reply (session, "-ERR [SYS/TEMP] Authentication failed: %s", error->message);
      return;
    }
  switch (error->code)
    {
    case POSTHORN_ERROR_AUTH_FAILED:
      pop3_session_reply (session, "-ERR [AUTH] Authentication failed");
      break;
    case POSTHORN_ERROR_LIMIT:
      pop3_session_reply (session, "-ERR [AUTH] Authentication failed; too many failures, closing");
      posthorn_connection_close (conn);
      break;
    case POSTHORN_ERROR_PERMISSION:
      pop3_session_reply (session, POP3_PLAINTEXT_DISALLOWED);
      break;
    case POSTHORN_ERROR_INVALID:
      pop3_session_reply (session, "-ERR Invalid authentication data: %s", error->message);
      break;
    case POSTHORN_ERROR_UNSUPPORTED:
      pop3_session_reply (session, "-ERR Unsupported authentication mechanism");
      break;
    case POSTHORN_ERROR_IN_USE:
      /* [core] max_sessions_per_user(_ip): the core's text */
      pop3_session_reply (session, "-ERR [IN-USE] %s", error->message);
      break;
    default:
      pop3_session_reply (session, "-ERR [SYS/TEMP] Authentication is temporarily unavailable");
      break;
    }
}

void
pop3_auth_user (Pop3Session *session, Pop3Command *cmd)
{
  if (!posthorn_auth_plaintext_allowed (session->conn))
    {
      pop3_session_reply (session, POP3_PLAINTEXT_DISALLOWED);
      return;
    }
  g_free (session->user_name);
  session->user_name = g_steal_pointer (&cmd->arg);
  pop3_session_reply (session, "+OK");
}

static void
auth_pass_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Session *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = posthorn_auth_verify_password_finish (result, &error);

  if (user == NULL)
    {
      if (!session->closed)
        auth_reply_error (session, error);
      pop3_session_end_async (session);
      return;
    }
  pop3_maildrop_open (session, user);
}

void
pop3_auth_pass (Pop3Session *session, Pop3Command *cmd)
{
  g_autofree char *user_name = g_steal_pointer (&session->user_name);

  if (user_name == NULL)
    {
      pop3_session_reply (session, "-ERR No USER given");
      return;
    }
  pop3_session_begin_async (session);
  posthorn_auth_verify_password_async (session->conn, user_name, cmd->arg,
                                       session->cancellable, auth_pass_done, session);
  /* Best effort: the password does not stay in our heap. */
  memset (cmd->arg, 0, strlen (cmd->arg));
}

static void auth_sasl_step (Pop3Session *session, const char *client_b64);

static void
auth_sasl_done (PosthornSaslSession *sasl, PosthornSaslStatus status, const char *server_b64,
                const GError *error, gpointer user_data)
{
  Pop3Session *session = user_data;
  g_autofree char *user = NULL;

  session->sasl_in_flight = FALSE;
  switch (status)
    {
    case POSTHORN_SASL_CONTINUE:
      session->sasl_waiting = TRUE;
      pop3_session_reply (session, "+ %s", server_b64 != NULL ? server_b64 : "");
      break;
    case POSTHORN_SASL_SUCCESS:
      if (server_b64 != NULL)
        {
          /* RFC 5034: additional data with success goes out as a last
           * challenge, answered by an empty response. */
          session->sasl_final_waiting = TRUE;
          pop3_session_reply (session, "+ %s", server_b64);
          break;
        }
      user = g_strdup (posthorn_sasl_session_get_user (sasl));
      posthorn_sasl_session_free (&session->sasl);
      pop3_maildrop_open (session, user);
      return;
    case POSTHORN_SASL_FAILURE:
    default:
      posthorn_sasl_session_free (&session->sasl);
      auth_reply_error (session, error);
      break;
    }
  pop3_session_end_async (session);
}

static void
auth_sasl_step (Pop3Session *session, const char *client_b64)
{
  session->sasl_waiting = FALSE;
  session->sasl_in_flight = TRUE;
  pop3_session_begin_async (session);
  posthorn_sasl_session_step (session->sasl, client_b64, auth_sasl_done, session);
}

void
pop3_auth_auth (Pop3Session *session, Pop3Command *cmd)
{
  g_autoptr(GError) error = NULL;

  if (cmd->arg == NULL)
    {
      /* The pre-RFC 5034 form some clients still send: list mechanisms. */
      g_auto(GStrv) mechanisms = posthorn_auth_list_mechanisms (session->conn);
      g_autoptr(GString) out = g_string_new ("+OK\r\n");

      for (guint i = 0; mechanisms[i] != NULL; i++)
        g_string_append_printf (out, "%s\r\n", mechanisms[i]);
      g_string_append (out, ".\r\n");
      posthorn_connection_write (session->conn, out->str, out->len);
      return;
    }
  g_clear_pointer (&session->user_name, g_free);
  session->sasl = posthorn_sasl_session_new (session->conn, "pop", cmd->arg, &error);
  if (session->sasl == NULL)
    {
      auth_reply_error (session, error);
      return;
    }
  auth_sasl_step (session, cmd->arg2);
}

void
pop3_auth_sasl_line (Pop3Session *session, const char *line)
{
  if (strcmp (line, "*") == 0)
    {
      posthorn_sasl_session_cancel (session->sasl);
      posthorn_sasl_session_free (&session->sasl);
      session->sasl_waiting = session->sasl_final_waiting = FALSE;
      pop3_session_reply (session, "-ERR Authentication aborted");
      return;
    }
  if (session->sasl_final_waiting)
    {
      g_autofree char *user = g_strdup (posthorn_sasl_session_get_user (session->sasl));

      session->sasl_final_waiting = FALSE;
      posthorn_sasl_session_free (&session->sasl);
      pop3_session_begin_async (session);
      pop3_maildrop_open (session, user);
      return;
    }
  auth_sasl_step (session, line);
}

static void
auth_tls_done (PosthornConnection *conn, gboolean success, gpointer user_data)
{
  posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG, "STLS done");
}

void
pop3_auth_stls (Pop3Session *session)
{
  if (posthorn_connection_is_tls (session->conn))
    {
      pop3_session_reply (session, "-ERR TLS is already active");
      return;
    }
  if (!posthorn_connection_tls_available (session->conn))
    {
      pop3_session_reply (session, "-ERR STLS is not available (no certificate)");
      return;
    }
  /* RFC 2595: forget what the client said in plaintext. */
  g_clear_pointer (&session->user_name, g_free);
  pop3_session_reply (session, "+OK Begin TLS negotiation");
  posthorn_connection_start_tls (session->conn, auth_tls_done, NULL);
}
