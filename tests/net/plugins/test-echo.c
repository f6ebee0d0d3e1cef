/* test-echo: a tiny line protocol that exercises the connection API, for
 * the networking tests. Service "echo"; keys of [test-echo]:
 *   listen, listen_tls   listener lists (default 127.0.0.1:0 for both)
 *   max_line             line length limit (default 1024)
 *   idle_timeout         seconds (default 300)
 *   split_long           deliver long lines in pieces (default false)
 *
 * Commands (one per line; replies end in CRLF):
 *   ECHO text      +OK text (+OK[LF] text if the line ended in a bare LF)
 *   STARTTLS       +OK begin TLS, then the handshake
 *   TLS?           +OK tls | +OK plain
 *   CBIND unique|exporter   +OK <hex channel binding> | -ERR reason
 *   LITERAL n      reads n bytes, then +OK got n bytes <fnv1a-32 hex>
 *   BIG n          +OK big n, n bytes ('a' + i % 26), then +OK done
 *   PAUSE ms       pauses input for ms, then +OK paused ms
 *   ABORT          aborts the connection (nothing more is sent)
 *   USER name      sets the session's user, logs "user set": +OK
 *   ID             +OK <session id>
 *   DRAINED        asks for a drained callback, which answers +OK drained
 *   LATER n        starts LITERAL n from a timer, outside any callback
 *   IDLE s         sets this connection's idle timeout: +OK
 *   SWITCH         installs a fresh handler state: +OK switched
 *   ROT13          +OK rot13, then input (also what is already buffered)
 *                  goes through a ROT13 input filter; a NUL byte is
 *                  corrupt input and closes the connection
 *   STATS          one "* ID PEER USER STATE" line per open session (from
 *                  ph_net_sessions()), then +OK connections=N refused=N
 *                  (ph_net_counters(); the test plugin may use the core's
 *                  private interface, a real plugin may not)
 *   QUIT           +OK bye, close
 * An over-long line gets -ERR line too long; with split_long a long line
 * is answered +OK long line N bytes. Idle timeout: -ERR idle timeout and
 * close; daemon shutdown: -ERR shutting down and close.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>
#include "ph-private.h"

#include <stdlib.h>
#include <string.h>

#define BIG_PERIOD 26
#define BIG_CHUNK (BIG_PERIOD * 2521)

typedef struct {
  PosthornConnection *conn;
  guint64 literal_size;
  guint32 literal_hash;
  guint64 big_left;
  guint64 long_line;
  guint pause_source;
  guint pause_ms;
  gboolean drained_asked;
} EchoSession;

static GBytes *echo_big_chunk;
static const PosthornConnectionHandler echo_handler;

static void
echo_session_free (gpointer data)
{
  EchoSession *session = data;

  if (session->pause_source != 0)
    g_source_remove (session->pause_source);
  g_free (session);
}

static void
echo_big_continue (EchoSession *session)
{
  while (session->big_left > 0 && !posthorn_connection_output_is_full (session->conn))
    {
      gsize n = (gsize) MIN (session->big_left, (guint64) BIG_CHUNK);

      if (n == BIG_CHUNK)
        posthorn_connection_write_bytes (session->conn, echo_big_chunk);
      else
        posthorn_connection_write (session->conn, g_bytes_get_data (echo_big_chunk, NULL), n);
      session->big_left -= n;
    }
  if (session->big_left > 0)
    {
      posthorn_connection_notify_drained (session->conn);
      return;
    }
  posthorn_connection_write_string (session->conn, "+OK done\r\n");
  posthorn_connection_resume_input (session->conn);
}

static void
echo_drained (PosthornConnection *conn, gpointer user_data)
{
  EchoSession *session = user_data;

  if (session->big_left > 0)
    echo_big_continue (session);
  else if (session->drained_asked)
    {
      session->drained_asked = FALSE;
      posthorn_connection_write_string (conn, "+OK drained\r\n");
    }
}

static gboolean
echo_pause_done (gpointer user_data)
{
  EchoSession *session = user_data;

  session->pause_source = 0;
  posthorn_connection_printf (session->conn, "+OK paused %u\r\n", session->pause_ms);
  posthorn_connection_resume_input (session->conn);
  return G_SOURCE_REMOVE;
}

static void
echo_tls_done (PosthornConnection *conn, gboolean success, gpointer user_data)
{
  posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "TLS established");
}

static gboolean
echo_later_cb (gpointer user_data)
{
  EchoSession *session = user_data;

  session->pause_source = 0;
  posthorn_connection_read_bytes (session->conn, session->literal_size);
  posthorn_connection_resume_input (session->conn);
  return G_SOURCE_REMOVE;
}

static void
echo_stats (PosthornConnection *conn)
{
  g_autoptr (GPtrArray) sessions = ph_net_sessions ();
  GHashTable *counters = ph_net_counters ();
  guint64 *connections = g_hash_table_lookup (counters, "echo.connections");
  guint64 *refused = g_hash_table_lookup (counters, "echo.connections_refused");

  for (guint i = 0; i < sessions->len; i++)
    {
      PosthornConnection *other = g_ptr_array_index (sessions, i);
      const char *user = posthorn_connection_get_user (other);
      posthorn_connection_printf (conn, "* %s %s %s %s %" G_GINT64_FORMAT "\r\n",
                                  posthorn_connection_get_id (other),
                                  posthorn_connection_get_peer_address (other),
                                  user != NULL ? user : "-",
                                  ph_net_connection_get_state (other),
                                  ph_net_connection_get_start_time (other));
    }
  posthorn_connection_printf (conn, "+OK connections=%" G_GUINT64_FORMAT
                              " refused=%" G_GUINT64_FORMAT "\r\n",
                              connections != NULL ? *connections : 0,
                              refused != NULL ? *refused : 0);
}

static gboolean
echo_parse_number (const char *text, guint64 *out)
{
  char *end = NULL;

  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  *out = g_ascii_strtoull (text, &end, 10);
  return *end == '\0';
}

static void
echo_channel_binding (EchoSession *session, const char *arg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) cb = NULL;
  PosthornChannelBinding type = strcmp (arg, "unique") == 0
                                ? POSTHORN_CHANNEL_BINDING_TLS_UNIQUE
                                : POSTHORN_CHANNEL_BINDING_TLS_EXPORTER;
  g_autoptr (GString) hex = g_string_new (NULL);
  const guint8 *data;
  gsize size;

  cb = posthorn_connection_get_channel_binding (session->conn, type, &error);
  if (cb == NULL)
    {
      posthorn_connection_printf (session->conn, "-ERR %s\r\n", error->message);
      return;
    }
  data = g_bytes_get_data (cb, &size);
  for (gsize i = 0; i < size; i++)
    g_string_append_printf (hex, "%02x", data[i]);
  posthorn_connection_printf (session->conn, "+OK %s\r\n", hex->str);
}

static gboolean
echo_rot13_input (gpointer filter_data, const guint8 *data, gsize length,
                  GByteArray *out, GError **error)
{
  for (gsize k = 0; k < length; k++)
    {
      guint8 c = data[k];

      if (c == 0)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID, "NUL in ROT13 input");
          return FALSE;
        }
      if (g_ascii_isalpha (c))
        {
          guint8 base = g_ascii_isupper (c) ? 'A' : 'a';
          c = (guint8) (base + (c - base + 13) % 26);
        }
      g_byte_array_append (out, &c, 1);
    }
  return TRUE;
}

static const PosthornInputFilter echo_rot13_filter = {
  .struct_size = sizeof (PosthornInputFilter),
  .input = echo_rot13_input,
};

static void
echo_line (PosthornConnection *conn, const char *line, gsize length,
           PosthornLineEnd end, gpointer user_data)
{
  EchoSession *session = user_data;
  guint64 n;

  if (end == POSTHORN_LINE_END_NONE)
    {
      session->long_line += length;
      return;
    }
  if (session->long_line > 0)
    {
      posthorn_connection_printf (conn, "+OK long line %" G_GUINT64_FORMAT " bytes\r\n",
                                  session->long_line + length);
      session->long_line = 0;
      return;
    }

  if (g_str_has_prefix (line, "ECHO "))
    posthorn_connection_printf (conn, "+OK%s %s\r\n",
                                end == POSTHORN_LINE_END_LF ? "[LF]" : "", line + 5);
  else if (strcmp (line, "STARTTLS") == 0)
    {
      posthorn_connection_write_string (conn, "+OK begin TLS\r\n");
      posthorn_connection_start_tls (conn, echo_tls_done, session);
    }
  else if (strcmp (line, "TLS?") == 0)
    posthorn_connection_write_string (conn, posthorn_connection_is_tls (conn)
                                            ? "+OK tls\r\n" : "+OK plain\r\n");
  else if (g_str_has_prefix (line, "CBIND "))
    echo_channel_binding (session, line + 6);
  else if (g_str_has_prefix (line, "LITERAL ") && echo_parse_number (line + 8, &n))
    {
      session->literal_size = n;
      session->literal_hash = 2166136261u;
      posthorn_connection_read_bytes (conn, n);
    }
  else if (g_str_has_prefix (line, "BIG ") && echo_parse_number (line + 4, &n))
    {
      posthorn_connection_printf (conn, "+OK big %" G_GUINT64_FORMAT "\r\n", n);
      session->big_left = n;
      posthorn_connection_pause_input (conn);
      echo_big_continue (session);
    }
  else if (g_str_has_prefix (line, "PAUSE ") && echo_parse_number (line + 6, &n) && n < 60000)
    {
      session->pause_ms = (guint) n;
      posthorn_connection_pause_input (conn);
      session->pause_source = g_timeout_add ((guint) n, echo_pause_done, session);
    }
  else if (g_str_has_prefix (line, "USER "))
    {
      posthorn_connection_set_user (conn, line + 5);
      posthorn_connection_set_state (conn, "auth");
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "user set");
      posthorn_connection_write_string (conn, "+OK\r\n");
    }
  else if (strcmp (line, "ID") == 0)
    posthorn_connection_printf (conn, "+OK %s\r\n", posthorn_connection_get_id (conn));
  else if (strcmp (line, "DRAINED") == 0)
    {
      session->drained_asked = TRUE;
      posthorn_connection_notify_drained (conn);
    }
  else if (g_str_has_prefix (line, "LATER ") && echo_parse_number (line + 6, &n))
    {
      session->literal_size = n;
      session->literal_hash = 2166136261u;
      posthorn_connection_pause_input (conn);
      session->pause_source = g_timeout_add (50, echo_later_cb, session);
    }
  else if (g_str_has_prefix (line, "IDLE ") && echo_parse_number (line + 5, &n) && n < 3600)
    {
      posthorn_connection_set_idle_timeout (conn, (guint) n);
      posthorn_connection_write_string (conn, "+OK\r\n");
    }
  else if (strcmp (line, "SWITCH") == 0)
    {
      /* A new handler state; this one stays usable until we return. */
      EchoSession *next = g_new0 (EchoSession, 1);
      next->conn = conn;
      posthorn_connection_set_handler (conn, &echo_handler, next, echo_session_free);
      posthorn_connection_write_string (session->conn, "+OK switched\r\n");
    }
  else if (strcmp (line, "STATS") == 0)
    echo_stats (conn);
  else if (strcmp (line, "ROT13") == 0)
    {
      posthorn_connection_write_string (conn, "+OK rot13\r\n");
      posthorn_connection_set_input_filter (conn, &echo_rot13_filter, NULL);
    }
  else if (strcmp (line, "ABORT") == 0)
    {
      /* Aborting drops queued output; later writes are dropped too. */
      posthorn_connection_write_string (conn, "+OK aborting\r\n");
      posthorn_connection_abort (conn);
      posthorn_connection_write_string (conn, "+OK after abort\r\n");
    }
  else if (strcmp (line, "QUIT") == 0)
    {
      posthorn_connection_write_string (conn, "+OK bye\r\n");
      posthorn_connection_close (conn);
    }
  else
    posthorn_connection_write_string (conn, "-ERR unknown command\r\n");
}

static void
echo_bytes (PosthornConnection *conn, const guint8 *data, gsize length,
            gboolean last, gpointer user_data)
{
  EchoSession *session = user_data;

  for (gsize i = 0; i < length; i++)
    {
      session->literal_hash ^= data[i];
      session->literal_hash *= 16777619u;
    }
  if (last)
    posthorn_connection_printf (conn, "+OK got %" G_GUINT64_FORMAT " bytes %08x\r\n",
                                session->literal_size, session->literal_hash);
}

static void
echo_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "-ERR line too long\r\n");
}

static void
echo_idle_timeout (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "-ERR idle timeout\r\n");
  posthorn_connection_close (conn);
}

static void
echo_shutdown (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "-ERR shutting down\r\n");
  posthorn_connection_close (conn);
}

static void
echo_closed (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG, "session closed");
}

static const PosthornConnectionHandler echo_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = echo_line,
  .line_too_long = echo_line_too_long,
  .bytes = echo_bytes,
  .drained = echo_drained,
  .idle_timeout = echo_idle_timeout,
  .shutdown = echo_shutdown,
  .closed = echo_closed,
};

typedef struct {
  gsize max_line;
  gboolean split_long;
} EchoConfig;

static void
echo_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  EchoConfig *config = user_data;
  EchoSession *session = g_new0 (EchoSession, 1);

  session->conn = conn;
  posthorn_connection_set_handler (conn, &echo_handler, session, echo_session_free);
  posthorn_connection_set_line_mode (conn, config->max_line,
                                     config->split_long ? POSTHORN_LINE_SPLIT_LONG
                                                        : POSTHORN_LINE_DEFAULT);
  posthorn_connection_write_string (conn, "+OK echo ready\r\n");
}

static const PosthornServiceVTable echo_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = echo_accept,
};

static gboolean
echo_init (PosthornPlugin *plugin, GError **error)
{
  EchoConfig *config = g_new0 (EchoConfig, 1);
  PosthornService *service;
  guint64 max_line;
  guint64 idle;

  posthorn_plugin_set_data (plugin, config, g_free);
  if (!posthorn_config_get_uint64 (plugin, "max_line", 1024, 1, 1024 * 1024, TRUE, &max_line, error) ||
      !posthorn_config_get_duration (plugin, "idle_timeout", 300, &idle, error) ||
      !posthorn_config_get_boolean (plugin, "split_long", FALSE, &config->split_long, error))
    return FALSE;
  config->max_line = (gsize) max_line;

  if (echo_big_chunk == NULL)
    {
      guint8 *pattern = g_malloc (BIG_CHUNK);
      for (gsize i = 0; i < BIG_CHUNK; i++)
        pattern[i] = (guint8) ('a' + i % BIG_PERIOD);
      echo_big_chunk = g_bytes_new_take (pattern, BIG_CHUNK);
    }

  service = posthorn_service_new (plugin, "echo", &echo_vtable, config);
  posthorn_service_set_defaults (service, config->max_line, (guint) idle);
  posthorn_service_set_refusal_line (service, "-ERR too many connections\r\n");
  return posthorn_service_listen_config (service, "listen", "127.0.0.1:0",
                                         POSTHORN_LISTEN_PLAIN, error) &&
         posthorn_service_listen_config (service, "listen_tls", "127.0.0.1:0",
                                         POSTHORN_LISTEN_IMPLICIT_TLS, error);
}

static void
echo_shutdown_plugin (PosthornPlugin *plugin)
{
  g_clear_pointer (&echo_big_chunk, g_bytes_unref);
}

POSTHORN_PLUGIN_DEFINE (test_echo, "test-echo", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "1.0", "LGPL-2.1-or-later",
                        "line echo protocol for the networking tests",
                        NULL, echo_init, echo_shutdown_plugin)
