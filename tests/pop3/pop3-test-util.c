/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pop3-test-util.h"

#include <stdio.h>
#include <string.h>

PhTestServer *
pop3_test_server_create (const char *extra_config)
{
  PhTestServer *server = ph_test_server_create ("auth-passwd-file;storage-sqlite;pop3;test-inject");
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (users,
                                      "alice@example.org:{PLAIN}alice-pw\n"
                                      "bob@example.org:{PLAIN}bob-pw\n"
                                      "carol@example.org:{PLAIN}carol-pw\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[pop3]\nlisten=127.0.0.1:0\nlisten_tls=127.0.0.1:0\n",
                            users);
  ph_test_server_add_plugin_dir (server, TEST_INJECT_PLUGIN_DIR);
  ph_test_server_append_config (server, config);
  if (extra_config != NULL)
    ph_test_server_append_config (server, extra_config);
  return server;
}

PhTestServer *
pop3_test_server_new (const char *extra_config)
{
  PhTestServer *server = pop3_test_server_create (extra_config);

  ph_test_server_start_or_die (server);
  return server;
}

static PhTestClient *
inject_connect (PhTestServer *server)
{
  PhTestClient *client = ph_test_client_connect (server, "inject", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "+OK inject");

  ph_test_client_set_timeout (client, 60000);
  return client;
}

guint32
pop3_test_inject (PhTestServer *server, const char *user, const void *data, gsize length)
{
  g_autoptr(PhTestClient) client = inject_connect (server);
  g_autofree char *go = NULL;
  g_autofree char *reply = NULL;
  guint uidvalidity = 0;
  guint uid = 0;

  g_assert_true (ph_test_client_sendf (client, "APPEND %s %" G_GSIZE_FORMAT "\r\n", user, length));
  go = ph_test_client_expect_line_prefix (client, "+GO");
  g_assert_true (ph_test_client_send (client, data, (gssize) length));
  reply = ph_test_client_expect_line_prefix (client, "+OK ");
  g_assert_cmpint (sscanf (reply, "+OK %u %u", &uidvalidity, &uid), ==, 2);
  return uid;
}

char *
pop3_test_inject_command (PhTestServer *server, const char *format, ...)
{
  g_autoptr(PhTestClient) client = inject_connect (server);
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  return ph_test_client_read_line (client);
}

GBytes *
pop3_test_make_message (guint seed, gsize size, const char *content_type)
{
  GString *text = g_string_sized_new (size + 256);
  GRand *rand = g_rand_new_with_seed (seed);
  guint line = 0;

  g_string_append_printf (text,
                          "From: Sender <sender@example.net>\r\n"
                          "To: alice@example.org\r\n"
                          "Subject: message %u\r\n"
                          "Message-ID: <%u@example.net>\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: %s\r\n"
                          "\r\n", seed, seed,
                          content_type != NULL ? content_type : "text/plain; charset=us-ascii");
  while (text->len < size)
    {
      gint len = g_rand_int_range (rand, 0, 78);

      /* Some lines start with a dot, one is a lone dot. */
      if (line % 7 == 3)
        g_string_append_c (text, '.');
      if (line % 31 != 5)
        for (gint i = 0; i < len; i++)
          g_string_append_c (text, (char) g_rand_int_range (rand, 'a', 'z' + 1));
      g_string_append (text, "\r\n");
      line++;
    }
  g_rand_free (rand);
  return g_string_free_to_bytes (text);
}

PhTestClient *
pop3_test_connect (PhTestServer *server)
{
  PhTestClient *client = ph_test_client_connect (server, "pop3", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "+OK ");

  return client;
}

char *
pop3_test_command (PhTestClient *client, const char *format, ...)
{
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  return ph_test_client_read_line (client);
}

PhTestClient *
pop3_test_login (PhTestServer *server, const char *user, const char *password)
{
  PhTestClient *client = pop3_test_connect (server);
  g_autofree char *user_reply = pop3_test_command (client, "USER %s", user);
  g_autofree char *pass_reply = pop3_test_command (client, "PASS %s", password);

  g_assert_cmpstr (user_reply, ==, "+OK");
  if (!g_str_has_prefix (pass_reply, "+OK "))
    g_error ("login as %s: %s", user, pass_reply);
  return client;
}

GPtrArray *
pop3_test_read_lines (PhTestClient *client)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);

  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (strcmp (line, ".") == 0)
        {
          g_free (line);
          return lines;
        }
      if (line[0] == '.')
        {
          char *unstuffed = g_strdup (line + 1);
          g_free (line);
          line = unstuffed;
        }
      g_ptr_array_add (lines, line);
    }
}

GBytes *
pop3_test_read_body (PhTestClient *client)
{
  g_autoptr(GPtrArray) lines = pop3_test_read_lines (client);
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < lines->len; i++)
    {
      g_string_append (text, g_ptr_array_index (lines, i));
      g_string_append (text, "\r\n");
    }
  return g_string_free_to_bytes (text);
}

GBytes *
pop3_test_retr (PhTestClient *client, guint msg)
{
  g_autofree char *reply = pop3_test_command (client, "RETR %u", msg);

  if (!g_str_has_prefix (reply, "+OK "))
    g_error ("RETR %u: %s", msg, reply);
  return pop3_test_read_body (client);
}

char *
pop3_test_fetch_metrics (PhTestServer *server)
{
  guint16 port = ph_test_server_get_port (server, "metrics", FALSE);
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  const char *request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  g_autoptr(GByteArray) response = g_byte_array_new ();
  guint8 buffer[4096];
  gssize n;
  const char *body;

  g_assert_cmpuint (port, !=, 0);
  connection = g_socket_client_connect_to_host (socket_client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                            request, strlen (request), NULL, NULL, &error));
  g_assert_no_error (error);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                   buffer, sizeof buffer, NULL, &error)) > 0)
    g_byte_array_append (response, buffer, (guint) n);
  g_assert_no_error (error);
  g_byte_array_append (response, (const guint8 *) "", 1);
  body = strstr ((const char *) response->data, "\r\n\r\n");
  g_assert_nonnull (body);
  return g_strdup (body + 4);
}
