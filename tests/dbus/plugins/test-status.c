/* test-status: a protocol plugin that publishes status through the public
 * ABI (posthorn-status.h) on command, for the D-Bus and metrics tests.
 *
 *   SET NAME N     posthorn_status_set_property (NAME = uint64 N)
 *   TEXT NAME S    posthorn_status_set_property (NAME = string S)
 *   DEL NAME       posthorn_status_set_property (NAME = NULL)
 *   COUNT NAME N   posthorn_core_count ("test_status.NAME", N)
 *   USER NAME      posthorn_connection_set_user (the session looks logged in)
 *
 * Each answers "+OK" or "-ERR". At init it sets queue_length=0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

#include <string.h>

static PosthornPlugin *status_plugin;

static void
status_line (PosthornConnection *conn, const char *line, gsize length,
             PosthornLineEnd end, gpointer user_data)
{
  g_auto (GStrv) words = g_strsplit (line, " ", 3);
  guint n = g_strv_length (words);
  guint64 number = 0;

  if (n == 3 && strcmp (words[0], "SET") == 0 &&
      g_ascii_string_to_unsigned (words[2], 10, 0, G_MAXUINT64, &number, NULL))
    posthorn_status_set_property (status_plugin, words[1], g_variant_new_uint64 (number));
  else if (n == 3 && strcmp (words[0], "TEXT") == 0)
    posthorn_status_set_property (status_plugin, words[1], g_variant_new_string (words[2]));
  else if (n == 2 && strcmp (words[0], "DEL") == 0)
    posthorn_status_set_property (status_plugin, words[1], NULL);
  else if (n == 3 && strcmp (words[0], "COUNT") == 0 &&
           g_ascii_string_to_unsigned (words[2], 10, 0, G_MAXUINT64, &number, NULL))
    {
      g_autofree char *name = g_strconcat ("test_status.", words[1], NULL);
      posthorn_core_count (name, number);
    }
  else if (n == 2 && strcmp (words[0], "USER") == 0)
    {
      posthorn_connection_set_user (conn, words[1]);
      posthorn_connection_set_state (conn, "authenticated");
    }
  else
    {
      posthorn_connection_write_string (conn, "-ERR\r\n");
      return;
    }
  posthorn_connection_write_string (conn, "+OK\r\n");
}

static void
status_shutdown (PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_write_string (conn, "* BYE\r\n");
  posthorn_connection_close (conn);
}

static void
status_closed (PosthornConnection *conn, gpointer user_data)
{
}

static const PosthornConnectionHandler status_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = status_line,
  .shutdown = status_shutdown,
  .closed = status_closed,
};

static void
status_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  posthorn_connection_set_handler (conn, &status_handler, NULL, NULL);
  posthorn_connection_write_string (conn, "+OK test-status\r\n");
}

static const PosthornServiceVTable status_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = status_accept,
};

static gboolean
status_init (PosthornPlugin *plugin, GError **error)
{
  PosthornService *service = posthorn_service_new (plugin, "test-status", &status_vtable, NULL);

  status_plugin = plugin;
  posthorn_status_set_property (plugin, "queue_length", g_variant_new_uint32 (0));
  return posthorn_service_listen_config (service, "listen", "127.0.0.1:0",
                                         POSTHORN_LISTEN_PLAIN, error);
}

POSTHORN_PLUGIN_DEFINE (test_status, "test-status", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "0.1.0", "LGPL-2.1-or-later", "status API test plugin",
                        NULL, status_init, NULL)
