/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any-state and login commands: CAPABILITY NOOP LOGOUT STARTTLS LOGIN
 * AUTHENTICATE (SASL-IR), and ENABLE ID NAMESPACE. */
#include "imap-session.h"

#include <string.h>

void
imap_cmd_capability (ImapSession *session)
{
  g_autofree char *caps = imap_session_capabilities (session);

  imap_session_printf (session, "* CAPABILITY %s\r\n", caps);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Capability completed.");
}

void
imap_cmd_noop (ImapSession *session)
{
  imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "NOOP completed.");
}

void
imap_cmd_logout (ImapSession *session)
{
  imap_session_write_literal (session, "* BYE Logging out\r\n");
  imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Logout completed.");
  session->state = IMAP_STATE_LOGOUT;
  if (session->conn != NULL)
    posthorn_connection_close (session->conn);
}

static void
starttls_done (PosthornConnection *conn, gboolean success, gpointer user_data)
{
}

void
imap_cmd_starttls (ImapSession *session)
{
  if (posthorn_connection_is_tls (session->conn))
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "TLS is already active.");
      return;
    }
  if (!posthorn_connection_tls_available (session->conn))
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", NULL, "TLS is not available.");
      return;
    }
  /* The parser may hold a half command; after TLS nothing carries over. */
  imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Begin TLS negotiation now.");
  posthorn_connection_start_tls (session->conn, starttls_done, NULL);
}

/* ---- after a successful login ---- */

static void
login_user_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  PosthornStoreUser *user = posthorn_store_user_open_finish (result, &error);

  if (imap_session_is_closed (session))
    {
      g_clear_pointer (&user, posthorn_store_user_unref);
      imap_session_unref (session);
      return;
    }
  if (user == NULL)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                               "cannot open mail of %s: %s", session->username, error->message);
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "UNAVAILABLE",
                           "Mail storage is not available.");
      imap_session_unref (session);
      return;
    }
  {
    g_autofree char *caps = NULL;

    session->user = user;
    session->state = IMAP_STATE_AUTH;
    posthorn_connection_set_user (session->conn, session->username);
    posthorn_connection_set_state (session->conn, "auth");
    posthorn_connection_set_idle_timeout (session->conn, session->settings->idle_timeout);
    caps = imap_session_capabilities (session);
    imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "[CAPABILITY %s] Logged in", caps);
  }
  imap_session_unref (session);
}

static void
login_succeeded (ImapSession *session, const char *user)
{
  g_free (session->username);
  session->username = g_strdup (user);
  posthorn_store_user_open_async (user, session, session->cancellable, login_user_opened,
                                  imap_session_ref (session));
}

static void
login_failed (ImapSession *session, const GError *error)
{
  if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION))
    imap_session_finish (session, IMAP_SYNC_NONE, "NO", "PRIVACYREQUIRED",
                         "Plaintext authentication disallowed on non-secure connections.");
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT))
    {
      imap_session_write_literal (session, "* BYE Too many authentication failures.\r\n");
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "AUTHENTICATIONFAILED",
                           "Authentication failed.");
      session->state = IMAP_STATE_LOGOUT;
      posthorn_connection_close (session->conn);
    }
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED))
    imap_session_finish (session, IMAP_SYNC_NONE, "NO", "AUTHENTICATIONFAILED",
                         "Authentication failed.");
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID))
    imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "%s", error->message);
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED))
    imap_session_finish (session, IMAP_SYNC_NONE, "NO", "CANNOT",
                         "Unsupported authentication mechanism.");
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_IN_USE))
    /* [core] max_sessions_per_user(_ip): the core's text */
    imap_session_finish (session, IMAP_SYNC_NONE, "NO", "LIMIT", "%s.", error->message);
  else
    imap_session_finish (session, IMAP_SYNC_NONE, "NO", "UNAVAILABLE",
                         "Temporary authentication failure.");
}

static void
login_verified (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = posthorn_auth_verify_password_finish (result, &error);

  if (!imap_session_is_closed (session))
    {
      if (user != NULL)
        login_succeeded (session, user);
      else
        login_failed (session, error);
    }
  imap_session_unref (session);
}

void
imap_cmd_login (ImapSession *session)
{
  if (!posthorn_auth_plaintext_allowed (session->conn))
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "PRIVACYREQUIRED",
                           "Plaintext authentication disallowed on non-secure connections.");
      return;
    }
  posthorn_auth_verify_password_async (session->conn, session->cmd->u.login.username,
                                       session->cmd->u.login.password, session->cancellable,
                                       login_verified, imap_session_ref (session));
}

/* ---- AUTHENTICATE ---- */

static void
sasl_step_done (PosthornSaslSession *sasl, PosthornSaslStatus status,
                const char *server_b64, const GError *error, gpointer user_data)
{
  ImapSession *session = user_data;

  switch (status)
    {
    case POSTHORN_SASL_CONTINUE:
      session->sasl_waiting = TRUE;
      imap_session_printf (session, "+ %s\r\n", server_b64 != NULL ? server_b64 : "");
      /* the continuation line must come in while the command runs */
      posthorn_connection_resume_input (session->conn);
      return;
    case POSTHORN_SASL_SUCCESS:
      if (server_b64 != NULL && *server_b64 != '\0')
        {
          /* final server data as a last challenge, answered by an empty line */
          session->sasl_waiting = TRUE;
          session->sasl_final = TRUE;
          imap_session_printf (session, "+ %s\r\n", server_b64);
          posthorn_connection_resume_input (session->conn);
          return;
        }
      {
        g_autofree char *user = g_strdup (posthorn_sasl_session_get_user (sasl));
        posthorn_sasl_session_free (&session->sasl);
        login_succeeded (session, user);
      }
      return;
    case POSTHORN_SASL_FAILURE:
    default:
      posthorn_sasl_session_free (&session->sasl);
      login_failed (session, error);
      return;
    }
}

void
imap_cmd_authenticate_line (ImapSession *session, const char *line)
{
  session->sasl_waiting = FALSE;
  posthorn_connection_pause_input (session->conn);
  if (strcmp (line, "*") == 0)
    {
      posthorn_sasl_session_cancel (session->sasl);
      posthorn_sasl_session_free (&session->sasl);
      session->sasl_final = FALSE;
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "Authentication aborted by client.");
      return;
    }
  if (session->sasl_final)
    {
      g_autofree char *user = g_strdup (posthorn_sasl_session_get_user (session->sasl));

      session->sasl_final = FALSE;
      posthorn_sasl_session_free (&session->sasl);
      if (*line != '\0')
        {
          imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL,
                               "Expected an empty response.");
          return;
        }
      login_succeeded (session, user);
      return;
    }
  posthorn_sasl_session_step (session->sasl, line, sasl_step_done, session);
}

void
imap_cmd_authenticate (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  const char *ir = session->cmd->u.authenticate.initial_response;

  session->sasl = posthorn_sasl_session_new (session->conn, "imap",
                                             session->cmd->u.authenticate.mechanism, &error);
  if (session->sasl == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION))
        imap_session_finish (session, IMAP_SYNC_NONE, "NO", "PRIVACYREQUIRED",
                             "Plaintext authentication disallowed on non-secure connections.");
      else
        imap_session_finish (session, IMAP_SYNC_NONE, "NO", "CANNOT",
                             "Unsupported authentication mechanism.");
      return;
    }
  /* SASL lines may be long while the exchange runs */
  posthorn_connection_set_line_mode (session->conn,
                                     MAX (session->settings->max_line_length,
                                          POSTHORN_SASL_MAX_RESPONSE + 2),
                                     POSTHORN_LINE_DEFAULT);
  posthorn_sasl_session_step (session->sasl, ir, sasl_step_done, session);
}

/* ---- ENABLE, ID, NAMESPACE ---- */

void
imap_cmd_enable (ImapSession *session)
{
  g_autoptr(GString) enabled = g_string_new ("* ENABLED");
  char **caps = session->cmd->u.enable.capabilities;

  for (guint k = 0; caps != NULL && caps[k] != NULL; k++)
    {
      if (g_ascii_strcasecmp (caps[k], "IMAP4rev2") == 0 && !session->rev2)
        {
          session->rev2 = TRUE;
          g_string_append (enabled, " IMAP4rev2");
        }
      else if (g_ascii_strcasecmp (caps[k], "QRESYNC") == 0 && !session->qresync)
        {
          /* QRESYNC implies CONDSTORE (RFC 7162 3.2.3) */
          imap_session_enable_condstore (session, FALSE);
          session->qresync = TRUE;
          g_string_append (enabled, " QRESYNC");
        }
      else if (g_ascii_strcasecmp (caps[k], "CONDSTORE") == 0 && !session->condstore)
        {
          imap_session_enable_condstore (session, FALSE);
          g_string_append (enabled, " CONDSTORE");
        }
      else if (g_ascii_strcasecmp (caps[k], "UTF8=ACCEPT") == 0 && !session->utf8_accept)
        {
          session->utf8_accept = TRUE;
          imap_parser_set_flags (session->parser, IMAP_PARSER_UTF8_ACCEPT);
          g_string_append (enabled, " UTF8=ACCEPT");
        }
    }
  g_string_append (enabled, "\r\n");
  imap_session_write_string (session, enabled);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Enabled.");
}

void
imap_cmd_id (ImapSession *session)
{
  GPtrArray *params = session->cmd->u.id.params;
  g_autoptr(GString) log = g_string_new (NULL);

  for (guint k = 0; params != NULL && k + 1 < params->len; k += 2)
    g_string_append_printf (log, "%s%s=%s", log->len > 0 ? " " : "",
                            (const char *) g_ptr_array_index (params, k),
                            g_ptr_array_index (params, k + 1) != NULL
                              ? (const char *) g_ptr_array_index (params, k + 1) : "NIL");
  if (log->len > 0 && session->conn != NULL)
    posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO, "ID %s", log->str);
  imap_session_printf (session, "* ID (\"name\" \"Posthorn\" \"version\" \"%s\")\r\n",
                       posthorn_core_get_version ());
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "ID completed.");
}

void
imap_cmd_namespace (ImapSession *session)
{
  imap_session_write_literal (session, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Namespace completed.");
}
