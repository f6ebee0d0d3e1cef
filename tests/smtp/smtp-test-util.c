/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-test-util.h"
#include "store-test-util.h"

#include <string.h>

void
smtp_test_init (int *argc, char ***argv)
{
  store_test_parse_args (argc, argv);
  g_test_init (argc, argv, NULL);
}

static char *
smtp_test_users (void)
{
  GString *users = g_string_new ("alice@example.org:{PLAIN}alice-pw\n"
                                 "bob@example.org:{PLAIN}bob-pw\n"
                                 "carol@example.net:{PLAIN}carol-pw\n"
                                 "jörg@example.org:{PLAIN}joerg-pw\n");

  for (int i = 0; i < 100; i++)
    g_string_append_printf (users, "u%d@example.org:{PLAIN}pw\n", i);
  return g_string_free (users, FALSE);
}

PhTestServer *
smtp_test_server_create (const char *extra)
{
  PhTestServer *server = ph_test_server_create ("auth-passwd-file;storage-sqlite;smtp");
  g_autofree char *path = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *users = smtp_test_users ();
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (path, users, -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[auth]\nfailure_delay=10ms\nfailure_delay_max=20ms\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=" SMTP_TEST_DOMAINS "\n"
                            "listen=127.0.0.1:0\nsubmission=127.0.0.1:0\n",
                            path);
  ph_test_server_append_config (server, config);
  if (extra != NULL)
    ph_test_server_append_config (server, extra);
  return server;
}

PhTestServer *
smtp_test_server_new (const char *extra)
{
  PhTestServer *server = smtp_test_server_create (extra);

  ph_test_server_start_or_die (server);
  return server;
}

PhTestClient *
smtp_test_connect (PhTestServer *server, const char *service)
{
  PhTestClient *client = ph_test_client_connect (server, service, FALSE);
  g_autofree char *greeting = NULL;

  g_assert_cmpuint (smtp_test_read_reply (client, &greeting), ==, 220);
  return client;
}

guint
smtp_test_read_reply (PhTestClient *client, char **text)
{
  g_autoptr(GString) all = g_string_new (NULL);
  guint code = 0;

  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);

      if (line == NULL)
        {
          code = 0;
          break;
        }
      g_assert_cmpuint (strlen (line), >=, 3);
      if (all->len > 0)
        g_string_append_c (all, '\n');
      g_string_append (all, line);
      code = (guint) g_ascii_strtoull (line, NULL, 10);
      if (line[3] != '-')
        break;
    }
  if (text != NULL)
    *text = g_strdup (all->str);
  return code;
}

guint
smtp_test_command (PhTestClient *client, const char *line, char **text)
{
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  return smtp_test_read_reply (client, text);
}

char *
smtp_test_expect (PhTestClient *client, const char *line, guint code)
{
  char *text = NULL;
  guint got = smtp_test_command (client, line, &text);

  if (got != code)
    g_error ("'%s': expected %u, got '%s'", line, code, text);
  return text;
}

char *
smtp_test_ehlo (PhTestClient *client)
{
  return smtp_test_expect (client, "EHLO client.example", 250);
}

GPtrArray *
smtp_test_read_mailbox (PhTestServer *server, const char *user, const char *mailbox)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GError) error = NULL;

  store_test_load (ph_test_server_get_state_dir (server));
  {
    g_autoptr(PosthornStoreUser) u = store_test_open_user (user);
    g_autoptr(PosthornMailboxView) view = store_test_open_view (u, mailbox,
                                                                POSTHORN_VIEW_READ_ONLY,
                                                                &error);
    g_assert_no_error (error);
    for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
      {
        GBytes *bytes = store_test_read_all (u, mailbox,
                                             posthorn_mailbox_view_get_uidvalidity (view),
                                             posthorn_mailbox_view_get_uid (view, seq),
                                             65536, &error);
        g_assert_no_error (error);
        g_ptr_array_add (messages, bytes);
      }
  }
  store_test_unload ();
  return messages;
}

GPtrArray *
smtp_test_stop_and_read_inbox (PhTestServer *server, const char *user)
{
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  return smtp_test_read_mailbox (server, user, "INBOX");
}

gboolean
smtp_test_bytes_contain (GBytes *haystack, const char *needle)
{
  gsize size;
  const char *data = g_bytes_get_data (haystack, &size);

  return memmem (data, size, needle, strlen (needle)) != NULL;
}
