/* example-status.so: a small line-based status service, written against
 * the installed Posthorn SDK only (dependency('posthorn-1')). It is the
 * example of plugins/README.md and posthorn-plugin(7): copy this folder,
 * rename it, and you have a plugin of your own.
 *
 * [example-status]
 *   listen=127.0.0.1:7790     where the service listens (';' list; "" = none)
 *   greeting=...              the text after "+OK " in the greeting line
 *
 * The protocol, one command a line, one reply line each:
 *   PING        +OK PONG
 *   VERSION     +OK posthorn CORE_VERSION abi MAJOR.MINOR plugin VERSION
 *   UPTIME      +OK SECONDS (since the plugin was initialised)
 *   SESSIONS    +OK N (open sessions of this service, this one included)
 *   HELP        +OK PING VERSION UPTIME SESSIONS HELP QUIT
 *   QUIT        +OK bye, then the server closes the connection
 * Anything else gets "-ERR unknown command"; commands are case-insensitive.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "example-status"

#include <posthorn/posthorn.h>

#include <string.h>

#define EXAMPLE_STATUS_VERSION "1.0"
#define EXAMPLE_STATUS_MAX_LINE 512
#define EXAMPLE_STATUS_IDLE_TIMEOUT 60

/* The plugin's state, attached with posthorn_plugin_set_data(). */
typedef struct {
  char *greeting;
  gint64 started;      /* monotonic, microseconds */
  guint open_sessions;
} ExampleStatus;

/* One connection's state: here only the plugin it belongs to. */
typedef struct {
  ExampleStatus *status;
} ExampleStatusSession;

static void
example_status_free (gpointer data)
{
  ExampleStatus *status = data;

  g_free (status->greeting);
  g_free (status);
}

static void
example_status_session_free (gpointer data)
{
  g_free (data);
}

static void
example_status_on_line (PosthornConnection *conn, const char *line, gsize length,
                        PosthornLineEnd end, gpointer user_data)
{
  ExampleStatusSession *session = user_data;
  ExampleStatus *status = session->status;

  /* A NUL inside the line makes it no command we know. */
  if (strlen (line) != length)
    {
      posthorn_connection_write_string (conn, "-ERR unknown command\r\n");
      return;
    }

  if (g_ascii_strcasecmp (line, "PING") == 0)
    posthorn_connection_write_string (conn, "+OK PONG\r\n");
  else if (g_ascii_strcasecmp (line, "VERSION") == 0)
    posthorn_connection_printf (conn, "+OK posthorn %s abi %d.%d plugin %s\r\n",
                                posthorn_core_get_version (),
                                POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR,
                                EXAMPLE_STATUS_VERSION);
  else if (g_ascii_strcasecmp (line, "UPTIME") == 0)
    posthorn_connection_printf (conn, "+OK %" G_GINT64_FORMAT "\r\n",
                                (g_get_monotonic_time () - status->started) / G_USEC_PER_SEC);
  else if (g_ascii_strcasecmp (line, "SESSIONS") == 0)
    posthorn_connection_printf (conn, "+OK %u\r\n", status->open_sessions);
  else if (g_ascii_strcasecmp (line, "HELP") == 0)
    posthorn_connection_write_string (conn, "+OK PING VERSION UPTIME SESSIONS HELP QUIT\r\n");
  else if (g_ascii_strcasecmp (line, "QUIT") == 0)
    {
      posthorn_connection_write_string (conn, "+OK bye\r\n");
      posthorn_connection_close (conn);
    }
  else
    posthorn_connection_write_string (conn, "-ERR unknown command\r\n");
}

static void
example_status_on_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "-ERR line too long\r\n");
}

static void
example_status_on_shutdown (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "-ERR server shutting down\r\n");
  posthorn_connection_close (conn);
}

static void
example_status_on_closed (PosthornConnection *conn, gpointer user_data)
{
  ExampleStatusSession *session = user_data;

  session->status->open_sessions--;
  posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG, "closed");
}

static const PosthornConnectionHandler example_status_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = example_status_on_line,
  .line_too_long = example_status_on_line_too_long,
  .shutdown = example_status_on_shutdown,
  .closed = example_status_on_closed,
  /* idle_timeout left NULL: the core closes idle connections itself. */
};

static void
example_status_accept (PosthornService *service, PosthornConnection *conn,
                       gpointer user_data)
{
  ExampleStatus *status = user_data;
  ExampleStatusSession *session = g_new0 (ExampleStatusSession, 1);

  session->status = status;
  status->open_sessions++;
  posthorn_connection_set_handler (conn, &example_status_handler, session,
                                   example_status_session_free);
  posthorn_connection_set_state (conn, "ready");
  posthorn_connection_printf (conn, "+OK %s\r\n", status->greeting);
}

static const PosthornServiceVTable example_status_service_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = example_status_accept,
};

static gboolean
example_status_init (PosthornPlugin *plugin, GError **error)
{
  g_autofree char *greeting = NULL;
  g_autofree char *default_greeting = NULL;
  PosthornService *service;
  ExampleStatus *status;

  /* Reading a key declares it; an unknown key in [example-status] stops
   * start-up with a one-line error, so typos never go unnoticed. */
  default_greeting = g_strdup_printf ("%s example-status ready", posthorn_core_get_hostname ());
  if (!posthorn_config_get_string (plugin, "greeting", default_greeting, &greeting, error))
    return FALSE;
  if (strpbrk (greeting, "\r\n") != NULL)
    {
      posthorn_config_set_error (plugin, "greeting", error, "must be one line");
      return FALSE;
    }

  status = g_new0 (ExampleStatus, 1);
  status->greeting = g_steal_pointer (&greeting);
  status->started = g_get_monotonic_time ();
  posthorn_plugin_set_data (plugin, status, example_status_free);

  service = posthorn_service_new (plugin, "example-status",
                                  &example_status_service_vtable, status);
  posthorn_service_set_defaults (service, EXAMPLE_STATUS_MAX_LINE,
                                 EXAMPLE_STATUS_IDLE_TIMEOUT);
  posthorn_service_set_refusal_line (service, "-ERR too many connections\r\n");
  g_message ("example-status %s initialised", EXAMPLE_STATUS_VERSION);
  return posthorn_service_listen_config (service, "listen", "127.0.0.1:7790",
                                         POSTHORN_LISTEN_PLAIN, error);
}

POSTHORN_PLUGIN_DEFINE (example_status, "example-status", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        EXAMPLE_STATUS_VERSION, "LGPL-2.1-or-later",
                        "Example: a line-based status service (PING, VERSION, UPTIME)",
                        NULL, example_status_init, NULL)
