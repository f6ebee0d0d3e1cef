/* test-auth-proto: a tiny line protocol over the core's auth API, for the
 * auth integration tests (and as a small example for protocol plugins).
 * Service "authtest"; keys of [test-auth-proto]: listen (default
 * 127.0.0.1:0).
 *
 * Commands (replies end in CRLF):
 *   MECHS               +OK <mechanisms, space-separated>
 *   PLAINTEXT?          +OK yes | +OK no
 *   STARTTLS            +OK begin TLS, then the handshake
 *   AUTH MECH [IR]      SASL; IR "=" is an empty initial response. The
 *                       server sends "+ <b64>" challenges, the client
 *                       answers with a base64 line or "*".
 *                       +OK <user> [<final b64>] | -ERR <CODE> <text>
 *   LOGIN USER PASS     +OK <user> | -ERR <CODE> <text>
 *   EXISTS USER         +OK yes <user> | +OK no
 * After -ERR LIMIT the connection is closed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

#include <string.h>

typedef struct {
  PosthornConnection *conn;
  PosthornSaslSession *sasl;  /* while an AUTH exchange runs */
  gboolean sasl_waiting;      /* a challenge is out: the next line answers it */
} AuthSession;

static const char *
proto_code (const GError *error)
{
  if (error->domain != POSTHORN_ERROR)
    return "FAILED";
  switch (error->code)
    {
    case POSTHORN_ERROR_AUTH_FAILED: return "AUTH_FAILED";
    case POSTHORN_ERROR_INVALID: return "INVALID";
    case POSTHORN_ERROR_LIMIT: return "LIMIT";
    case POSTHORN_ERROR_PERMISSION: return "PERMISSION";
    case POSTHORN_ERROR_UNSUPPORTED: return "UNSUPPORTED";
    case POSTHORN_ERROR_TEMPORARY: return "TEMPORARY";
    default: return "FAILED";
    }
}

static void
proto_error (PosthornConnection *conn, const GError *error)
{
  posthorn_connection_printf (conn, "-ERR %s %s\r\n", proto_code (error), error->message);
  if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT))
    posthorn_connection_close (conn);
}

static void
auth_session_free (gpointer data)
{
  AuthSession *session = data;

  posthorn_sasl_session_free (&session->sasl);
  g_free (session);
}

static void
proto_sasl_step_done (PosthornSaslSession *sasl, PosthornSaslStatus status,
                      const char *server_b64, const GError *error, gpointer user_data)
{
  AuthSession *session = user_data;
  PosthornConnection *conn = session->conn;

  posthorn_connection_resume_input (conn);
  switch (status)
    {
    case POSTHORN_SASL_CONTINUE:
      session->sasl_waiting = TRUE;
      posthorn_connection_printf (conn, "+ %s\r\n", server_b64);
      return;
    case POSTHORN_SASL_SUCCESS:
      posthorn_connection_set_user (conn, posthorn_sasl_session_get_user (sasl));
      posthorn_connection_printf (conn, "+OK %s%s%s\r\n", posthorn_sasl_session_get_user (sasl),
                                  server_b64 != NULL ? " " : "",
                                  server_b64 != NULL ? server_b64 : "");
      break;
    case POSTHORN_SASL_FAILURE:
    default:
      proto_error (conn, error);
      break;
    }
  posthorn_sasl_session_free (&session->sasl);
}

static void
proto_sasl_step (AuthSession *session, const char *client_b64)
{
  session->sasl_waiting = FALSE;
  posthorn_connection_pause_input (session->conn);
  posthorn_sasl_session_step (session->sasl, client_b64, proto_sasl_step_done, session);
}

static void
proto_auth (AuthSession *session, const char *args)
{
  g_auto(GStrv) words = g_strsplit (args, " ", 2);
  g_autoptr(GError) error = NULL;

  session->sasl = posthorn_sasl_session_new (session->conn, "imap", words[0], &error);
  if (session->sasl == NULL)
    {
      proto_error (session->conn, error);
      return;
    }
  proto_sasl_step (session, words[1]);
}

/* The connection is referenced for the async calls: they complete even
 * if it closed meanwhile (writes to a closed connection are dropped). */
static void
proto_login_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PosthornConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = posthorn_auth_verify_password_finish (result, &error);

  if (user != NULL)
    posthorn_connection_printf (conn, "+OK %s\r\n", user);
  else
    proto_error (conn, error);
  posthorn_connection_resume_input (conn);
  posthorn_connection_unref (conn);
}

static void
proto_exists_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PosthornConnection *conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = NULL;

  if (posthorn_auth_user_exists_finish (result, &user, &error))
    posthorn_connection_printf (conn, "+OK yes %s\r\n", user);
  else if (error == NULL)
    posthorn_connection_write_string (conn, "+OK no\r\n");
  else
    proto_error (conn, error);
  posthorn_connection_resume_input (conn);
  posthorn_connection_unref (conn);
}

static void
proto_tls_done (PosthornConnection *conn, gboolean success, gpointer user_data)
{
}

static void
proto_line (PosthornConnection *conn, const char *line, gsize length,
            PosthornLineEnd end, gpointer user_data)
{
  AuthSession *session = user_data;

  if (session->sasl_waiting)
    {
      if (strcmp (line, "*") == 0)
        {
          posthorn_sasl_session_cancel (session->sasl);
          posthorn_sasl_session_free (&session->sasl);
          session->sasl_waiting = FALSE;
          posthorn_connection_write_string (conn, "-ERR CANCELLED authentication aborted\r\n");
        }
      else
        proto_sasl_step (session, line);
      return;
    }

  if (strcmp (line, "MECHS") == 0)
    {
      g_auto(GStrv) mechanisms = posthorn_auth_list_mechanisms (conn);
      g_autofree char *joined = g_strjoinv (" ", mechanisms);
      posthorn_connection_printf (conn, "+OK %s\r\n", joined);
    }
  else if (strcmp (line, "PLAINTEXT?") == 0)
    posthorn_connection_write_string (conn, posthorn_auth_plaintext_allowed (conn)
                                            ? "+OK yes\r\n" : "+OK no\r\n");
  else if (strcmp (line, "STARTTLS") == 0)
    {
      posthorn_connection_write_string (conn, "+OK begin TLS\r\n");
      posthorn_connection_start_tls (conn, proto_tls_done, session);
    }
  else if (g_str_has_prefix (line, "AUTH "))
    proto_auth (session, line + 5);
  else if (g_str_has_prefix (line, "LOGIN "))
    {
      g_auto(GStrv) words = g_strsplit (line + 6, " ", 2);
      if (g_strv_length (words) != 2)
        {
          posthorn_connection_write_string (conn, "-ERR INVALID LOGIN user password\r\n");
          return;
        }
      posthorn_connection_pause_input (conn);
      posthorn_auth_verify_password_async (conn, words[0], words[1], NULL, proto_login_done,
                                           posthorn_connection_ref (conn));
    }
  else if (g_str_has_prefix (line, "EXISTS "))
    {
      posthorn_connection_pause_input (conn);
      posthorn_auth_user_exists_async (conn, line + 7, NULL, proto_exists_done,
                                       posthorn_connection_ref (conn));
    }
  else
    posthorn_connection_write_string (conn, "-ERR INVALID unknown command\r\n");
}

static void
proto_closed (PosthornConnection *conn, gpointer user_data)
{
}

static const PosthornConnectionHandler proto_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = proto_line,
  .closed = proto_closed,
};

static void
proto_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  AuthSession *session = g_new0 (AuthSession, 1);

  session->conn = conn;
  posthorn_connection_set_handler (conn, &proto_handler, session, auth_session_free);
  posthorn_connection_write_string (conn, "+OK authtest ready\r\n");
}

static const PosthornServiceVTable proto_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = proto_accept,
};

static gboolean
proto_init (PosthornPlugin *plugin, GError **error)
{
  PosthornService *service = posthorn_service_new (plugin, "authtest", &proto_vtable, NULL);

  return posthorn_service_listen_config (service, "listen", "127.0.0.1:0",
                                         POSTHORN_LISTEN_PLAIN, error);
}

POSTHORN_PLUGIN_DEFINE (test_auth_proto, "test-auth-proto", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "1.0", "LGPL-2.1-or-later",
                        "line protocol over the auth API, for the auth tests",
                        NULL, proto_init, NULL)
