/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The imap4 session limits of issue #11 against the real daemon:
 * [imap4] max_bad_commands (BAD replies in a row, then
 * "* BYE Too many invalid commands") and max_preauth_commands (commands
 * before login, then BYE); each closes only the offending session while a
 * bystander keeps being served. */
#include "imap-test-client.h"

/* Sends @line and reads up to the line starting with @tag. */
static char *
send_tagged (PhTestClient *client, const char *tag, const char *line)
{
  g_autofree char *prefix = g_strdup_printf ("%s ", tag);

  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  return ph_test_client_expect_line_prefix (client, prefix);
}

static void
assert_bye_and_closed (PhTestClient *client, const char *bye)
{
  g_autofree char *line = ph_test_client_read_line (client);

  g_assert_cmpstr (line, ==, bye);
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

static void
assert_bystander_served (PhTestClient *bystander)
{
  g_autoptr(GPtrArray) lines = imap_test_ok (bystander, "STATUS INBOX (MESSAGES)");

  g_assert_nonnull (imap_test_find (lines, "* STATUS INBOX (MESSAGES 0)"));
}

static void
test_bad_commands (void)
{
  g_autoptr(PhTestServer) server = imap_test_server_new ("max_bad_commands=3\n");
  g_autoptr(PhTestClient) bystander = imap_test_login (server, IMAP_TEST_USER);
  g_autoptr(PhTestClient) client = imap_test_login (server, IMAP_TEST_USER);
  g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL, *r6 = NULL;

  /* Two BADs, then a good command: the count starts again. */
  r1 = send_tagged (client, "a1", "a1 FROBNICATE");
  g_assert_true (g_str_has_prefix (r1, "a1 BAD "));
  r2 = send_tagged (client, "a2", "a2 FETCH");
  g_assert_true (g_str_has_prefix (r2, "a2 BAD "));
  r3 = send_tagged (client, "a3", "a3 NOOP");
  g_assert_true (g_str_has_prefix (r3, "a3 OK"));
  /* A NO is not a BAD either. */
  r4 = send_tagged (client, "a4", "a4 SELECT Nowhere");
  g_assert_true (g_str_has_prefix (r4, "a4 NO "));

  /* Three in a row, of different kinds: unknown command, wrong state
   * (nothing selected), bad syntax. The third closes the session. */
  r5 = send_tagged (client, "b1", "b1 XYZZY");
  g_assert_true (g_str_has_prefix (r5, "b1 BAD "));
  r6 = send_tagged (client, "b2", "b2 FETCH 1 (FLAGS)");
  g_assert_true (g_str_has_prefix (r6, "b2 BAD "));
  g_clear_pointer (&r6, g_free);
  r6 = send_tagged (client, "b3", "b3 LIST");
  g_assert_true (g_str_has_prefix (r6, "b3 BAD "));
  assert_bye_and_closed (client, "* BYE Too many invalid commands");

  assert_bystander_served (bystander);
}

/* Without the key: 20 by default; an untagged "* BAD" counts too. */
static void
test_bad_commands_default (void)
{
  g_autoptr(PhTestServer) server = imap_test_server_new (NULL);
  g_autoptr(PhTestClient) bystander = imap_test_login (server, IMAP_TEST_USER);
  g_autoptr(PhTestClient) client = ph_test_client_connect (server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");

  for (guint i = 1; i < 20; i++)
    {
      g_autofree char *line = NULL;

      g_assert_true (ph_test_client_send (client, i == 1 ? "\r\n" : "x UNKNOWN\r\n", -1));
      line = ph_test_client_read_line (client);
      g_assert_true (g_str_has_prefix (line, i == 1 ? "* BAD " : "x BAD "));
    }
  {
    g_autofree char *line = send_tagged (client, "x", "x UNKNOWN");
    g_assert_true (g_str_has_prefix (line, "x BAD "));
  }
  assert_bye_and_closed (client, "* BYE Too many invalid commands");
  assert_bystander_served (bystander);
}

static void
test_preauth_commands (void)
{
  g_autoptr(PhTestServer) server = imap_test_server_new ("max_preauth_commands=4\n");
  g_autoptr(PhTestClient) bystander = imap_test_login (server, IMAP_TEST_USER);
  g_autoptr(PhTestClient) client = ph_test_client_connect (server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autoptr(PhTestClient) late = NULL;

  /* Four commands of any kind (a BAD one counts), then the fifth gets BYE
   * instead of an answer. */
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *tag = g_strdup_printf ("p%u", i);
      g_autofree char *cmd = g_strdup_printf ("%s %s", tag, i == 2 ? "SELECT INBOX" : "NOOP");
      g_autofree char *line = send_tagged (client, tag, cmd);

      g_assert_true (g_str_has_prefix (line + strlen (tag) + 1, i == 2 ? "BAD" : "OK"));
    }
  g_assert_true (ph_test_client_send (client, "p4 CAPABILITY\r\n", -1));
  assert_bye_and_closed (client, "* BYE Too many commands before authentication");

  /* A login as the fourth command is in time, and after it there is no
   * such limit. */
  late = ph_test_client_connect (server, "imap4", FALSE);
  g_free (ph_test_client_expect_line_prefix (late, "* OK"));
  for (guint i = 0; i < 3; i++)
    g_ptr_array_unref (imap_test_ok (late, "CAPABILITY"));
  g_ptr_array_unref (imap_test_ok (late, "LOGIN " IMAP_TEST_USER " " IMAP_TEST_PASS));
  for (guint i = 0; i < 8; i++)
    g_ptr_array_unref (imap_test_ok (late, "NOOP"));

  assert_bystander_served (bystander);
}

static void
test_bad_config (void)
{
  static const char *const bad[] = {
    "[imap4]\nlisten=127.0.0.1:0\nmax_bad_commands=many\n",
    "[imap4]\nlisten=127.0.0.1:0\nmax_preauth_commands=-1\n",
  };
  static const char *const key[] = { "max_bad_commands", "max_preauth_commands" };

  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autoptr(PhTestServer) server = ph_test_server_create ("storage-sqlite;imap4");
      g_autoptr(GError) error = NULL;

      ph_test_server_append_config (server, bad[k]);
      g_assert_false (ph_test_server_start (server, &error));
      g_assert_nonnull (strstr (error->message, key[k]));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/imap4/limits/bad-commands", test_bad_commands);
  g_test_add_func ("/imap4/limits/bad-commands-default", test_bad_commands_default);
  g_test_add_func ("/imap4/limits/preauth-commands", test_preauth_commands);
  g_test_add_func ("/imap4/limits/bad-config", test_bad_config);
  return g_test_run ();
}
