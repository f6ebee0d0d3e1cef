/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IDLE (RFC 2177) against the real daemon: updates pushed to an idling
 * session while another session (or an SMTP delivery) changes the
 * mailbox, the shared keepalive, DONE, re-IDLE, a bad line. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
  PhTestClient *other;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (data);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->other, ph_test_client_free);
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
expect_line (PhTestClient *client, const char *expected)
{
  g_autofree char *line = ph_test_client_read_line (client);

  g_assert_nonnull (line);
  g_assert_cmpstr (line, ==, expected);
}

static void
append_sample (PhTestClient *client, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n",
                                          subject);
  g_autofree char *tagged = imap_test_append (client, "INBOX", NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

/* alice in @client, rev2 (no \Recent noise), INBOX selected */
static PhTestClient *
login_select (PhTestServer *server)
{
  PhTestClient *client = imap_test_login (server, IMAP_TEST_USER);
  g_autoptr(GPtrArray) lines = imap_test_ok (client, "ENABLE IMAP4rev2");

  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (client, "SELECT INBOX");
  return client;
}

static void
test_idle_push (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->client = login_select (f->server);
  f->other = login_select (f->server);
  lines = imap_test_ok (f->client, "CAPABILITY");
  g_assert_nonnull (imap_test_find (lines, " IDLE"));
  g_clear_pointer (&lines, g_ptr_array_unref);

  g_assert_true (ph_test_client_send (f->client, "i1 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  append_sample (f->other, "one");
  expect_line (f->client, "* 1 EXISTS");
  lines = imap_test_ok (f->other, "STORE 1 +FLAGS (\\Flagged)");
  expect_line (f->client, "* 1 FETCH (FLAGS (\\Flagged))");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  expect_line (f->client, "* 1 FETCH (FLAGS (\\Flagged \\Deleted))");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "EXPUNGE");
  expect_line (f->client, "* 1 EXPUNGE");
  g_assert_true (ph_test_client_send (f->client, "DONE\r\n", -1));
  expect_line (f->client, "i1 OK Idle completed.");

  /* re-IDLE; DONE and a command pipelined behind it */
  g_assert_true (ph_test_client_send (f->client, "i2 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  append_sample (f->other, "two");
  expect_line (f->client, "* 1 EXISTS");
  g_assert_true (ph_test_client_send (f->client, "done\r\nn1 NOOP\r\n", -1));
  expect_line (f->client, "i2 OK Idle completed.");
  expect_line (f->client, "n1 OK NOOP completed.");

  /* changes made before IDLE come at once */
  append_sample (f->other, "three");
  g_assert_true (ph_test_client_send (f->client, "i3 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  expect_line (f->client, "* 2 EXISTS");
  /* anything but DONE ends IDLE with BAD */
  g_assert_true (ph_test_client_send (f->client, "x1 NOOP\r\n", -1));
  expect_line (f->client, "i3 BAD Expected DONE");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "NOOP");
  g_assert_cmpuint (lines->len, ==, 1);
}

static void
test_idle_keepalive (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *line = NULL;

  /* also without a selected mailbox; two idlers share the timer */
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  f->other = login_select (f->server);
  g_assert_true (ph_test_client_send (f->client, "k1 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  g_assert_true (ph_test_client_send (f->other, "k2 IDLE\r\n", -1));
  expect_line (f->other, "+ idling");
  for (guint k = 0; k < 2; k++)
    {
      g_clear_pointer (&line, g_free);
      line = ph_test_client_read_line_timeout (f->client, 3000);
      g_assert_cmpstr (line, ==, "* OK Still here");
      g_clear_pointer (&line, g_free);
      line = ph_test_client_read_line_timeout (f->other, 3000);
      g_assert_cmpstr (line, ==, "* OK Still here");
    }
  g_assert_true (ph_test_client_send (f->client, "DONE\r\n", -1));
  /* a keepalive may cross DONE */
  for (;;)
    {
      g_clear_pointer (&line, g_free);
      line = ph_test_client_read_line (f->client);
      g_assert_nonnull (line);
      if (strcmp (line, "* OK Still here") != 0)
        break;
    }
  g_assert_cmpstr (line, ==, "k1 OK Idle completed.");
  /* after IDLE: no more keepalives for this session */
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line_timeout (f->client, 1500);
  g_assert_null (line);
  /* the other one is still idling and kept alive */
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line_timeout (f->other, 3000);
  g_assert_cmpstr (line, ==, "* OK Still here");
}

/* Under QRESYNC the idling session sees VANISHED and MODSEQ. */
static void
test_idle_qresync (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  f->other = login_select (f->server);
  append_sample (f->other, "one");
  append_sample (f->other, "two");
  lines = imap_test_ok (f->client, "ENABLE IMAP4rev2 QRESYNC");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* OK [HIGHESTMODSEQ 3]"));
  g_assert_true (ph_test_client_send (f->client, "q1 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  expect_line (f->client, "* 1 FETCH (UID 1 FLAGS (\\Deleted) MODSEQ (4))");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "EXPUNGE");
  expect_line (f->client, "* VANISHED 1");
  expect_line (f->client, "* 1 EXISTS");
  g_assert_true (ph_test_client_send (f->client, "DONE\r\n", -1));
  expect_line (f->client, "q1 OK Idle completed.");
}

/* IDLE outlives a short idle_timeout (raised to 31 min while idling);
 * after DONE the configured one applies again. */
static void
test_idle_timeout_raised (Fixture *f, gconstpointer data)
{
  g_autofree char *line = NULL;

  f->client = login_select (f->server);
  g_assert_true (ph_test_client_send (f->client, "t1 IDLE\r\n", -1));
  expect_line (f->client, "+ idling");
  line = ph_test_client_read_line_timeout (f->client, 2500);
  g_assert_null (line);
  g_assert_true (ph_test_client_send (f->client, "DONE\r\n", -1));
  expect_line (f->client, "t1 OK Idle completed.");
  line = ph_test_client_read_line_timeout (f->client, 4000);
  g_assert_cmpstr (line, ==, "* BYE Disconnected for inactivity.");
}

/* a missing or bad idle_keepalive stops start-up naming the key */
static void
test_idle_config (void)
{
  static const char *const bad[] = {
    "[imap4]\nlisten=127.0.0.1:0\nidle_keepalive=0\n",
    "[imap4]\nlisten=127.0.0.1:0\nidle_keepalive=often\n",
  };

  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autoptr(PhTestServer) server = ph_test_server_create ("storage-sqlite;imap4");
      g_autoptr(GError) error = NULL;

      ph_test_server_append_config (server, bad[k]);
      g_assert_false (ph_test_server_start (server, &error));
      g_assert_nonnull (strstr (error->message, "idle_keepalive"));
    }
}

static char *
smtp_reply (PhTestClient *client)
{
  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (strlen (line) < 4 || line[3] != '-')
        return line;
      g_free (line);
    }
}

static void
smtp_step (PhTestClient *client, const char *command, const char *code)
{
  g_autofree char *reply = NULL;

  if (command != NULL)
    g_assert_true (ph_test_client_sendf (client, "%s\r\n", command));
  reply = smtp_reply (client);
  if (!g_str_has_prefix (reply, code))
    g_error ("%s -> %s", command != NULL ? command : "(greeting)", reply);
}

/* An SMTP delivery to the idling user's INBOX arrives as EXISTS. */
static void
test_idle_smtp_delivery (void)
{
  g_autoptr(PhTestServer) server =
    imap_test_server_new_with ("auth-passwd-file;storage-sqlite;smtp;imap4",
                               "[smtp]\nhostname=mx.example.org\ndomains=example.org\n"
                               "listen=127.0.0.1:0\n");
  g_autoptr(PhTestClient) imap = login_select (server);
  g_autoptr(PhTestClient) smtp = ph_test_client_connect (server, "smtp", FALSE);

  g_assert_true (ph_test_client_send (imap, "i1 IDLE\r\n", -1));
  expect_line (imap, "+ idling");
  smtp_step (smtp, NULL, "220");
  smtp_step (smtp, "EHLO client.example.net", "250");
  smtp_step (smtp, "MAIL FROM:<carol@example.net>", "250");
  smtp_step (smtp, "RCPT TO:<alice@example.org>", "250");
  smtp_step (smtp, "DATA", "354");
  smtp_step (smtp, "From: carol@example.net\r\nSubject: pushed\r\n\r\nhello\r\n.", "250");
  expect_line (imap, "* 1 EXISTS");
  g_assert_true (ph_test_client_send (imap, "DONE\r\n", -1));
  expect_line (imap, "i1 OK Idle completed.");
  smtp_step (smtp, "QUIT", "221");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/idle/push-exists-fetch-expunge", test_idle_push, NULL);
  ADD ("/imap4/idle/keepalive", test_idle_keepalive, "idle_keepalive=1s\n");
  ADD ("/imap4/idle/qresync-vanished-modseq", test_idle_qresync, NULL);
  ADD ("/imap4/idle/timeout-raised", test_idle_timeout_raised, "idle_timeout=1s\n");
  g_test_add_func ("/imap4/idle/config-errors", test_idle_config);
  g_test_add_func ("/imap4/idle/smtp-delivery", test_idle_smtp_delivery);
  return g_test_run ();
}
