/* POP3 against the real daemon: every command and response code, the
 * UPDATE state (DELE with RSET, QUIT, a drop, a shutdown), UIDL stability
 * across restarts, the maildrop lock, STLS and SASL, bad input and a 50 MB
 * RETR with bounded memory. Mail is put in with the test-inject plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-test-util.h"

#include <gsasl.h>
#include <signal.h>
#include <string.h>

#define ALICE "alice@example.org"
#define ALICE_PW "alice-pw"

typedef struct {
  PhTestServer *server;
  GBytes *messages[3];
  guint32 uids[3];
} Fixture;

static const char *
fixture_config (gconstpointer data)
{
  return data;
}

/* The daemon with three messages for alice. */
static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  static const char *const texts[] = {
    "Subject: one\r\n\r\nfirst body\r\n",
    "Subject: two\r\nX-Dots: yes\r\n\r\n.leading dot\r\n.\r\n..two dots\r\nend\r\n",
    "Subject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\nline 4\r\n",
  };

  fixture->server = pop3_test_server_new (fixture_config (data));
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      fixture->messages[i] = g_bytes_new_static (texts[i], strlen (texts[i]));
      fixture->uids[i] = pop3_test_inject (fixture->server, ALICE, texts[i], strlen (texts[i]));
    }
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (fixture->messages); i++)
    g_bytes_unref (fixture->messages[i]);
  ph_test_server_free (fixture->server);
}

static gsize
msg_size (Fixture *fixture, guint i)
{
  return g_bytes_get_size (fixture->messages[i]);
}

static void
assert_reply (PhTestClient *client, const char *command, const char *expected)
{
  g_autofree char *reply = pop3_test_command (client, "%s", command);

  g_assert_cmpstr (reply, ==, expected);
}

static void
assert_reply_prefix (PhTestClient *client, const char *command, const char *prefix)
{
  g_autofree char *reply = pop3_test_command (client, "%s", command);

  if (!g_str_has_prefix (reply, prefix))
    g_error ("%s: expected '%s...', got '%s'", command, prefix, reply);
}

static GPtrArray *
capa (PhTestClient *client)
{
  assert_reply (client, "CAPA", "+OK Capability list follows");
  return pop3_test_read_lines (client);
}

static gboolean
has_line (GPtrArray *lines, const char *line)
{
  for (guint i = 0; i < lines->len; i++)
    if (strcmp (g_ptr_array_index (lines, i), line) == 0)
      return TRUE;
  return FALSE;
}

/* ---- CAPA and authorization ---- */

static void
test_capa (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autoptr(GPtrArray) before = capa (client);
  g_autoptr(GPtrArray) after = NULL;
  g_autofree char *implementation = g_strdup_printf ("IMPLEMENTATION Posthorn %s", "");

  for (guint i = 0; i < before->len; i++)
    g_test_message ("CAPA: %s", (char *) g_ptr_array_index (before, i));
  g_assert_true (has_line (before, "TOP"));
  g_assert_true (has_line (before, "UIDL"));
  g_assert_true (has_line (before, "USER"));  /* loopback: plaintext allowed */
  g_assert_true (has_line (before, "SASL PLAIN LOGIN"));
  g_assert_true (has_line (before, "RESP-CODES"));
  g_assert_true (has_line (before, "AUTH-RESP-CODE"));
  g_assert_true (has_line (before, "PIPELINING"));
  g_assert_true (has_line (before, "EXPIRE NEVER"));
  g_assert_true (has_line (before, "STLS"));
  g_assert_false (has_line (before, "APOP"));
  g_assert_true (g_str_has_prefix (g_ptr_array_index (before, before->len - 1),
                                   "IMPLEMENTATION Posthorn "));

  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply_prefix (client, "PASS " ALICE_PW, "+OK Logged in, 3 messages");
  after = capa (client);
  g_assert_true (has_line (after, "TOP"));
  g_assert_true (has_line (after, "PIPELINING"));
  g_assert_false (has_line (after, "USER"));
  g_assert_false (has_line (after, "STLS"));
  g_assert_false (has_line (after, "SASL PLAIN LOGIN"));
  assert_reply (client, "QUIT", "+OK Logging out");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

static void
test_user_pass (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);

  assert_reply (client, "PASS " ALICE_PW, "-ERR No USER given");
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply (client, "PASS wrong", "-ERR [AUTH] Authentication failed");
  /* PASS needs a fresh USER after a failure */
  assert_reply (client, "PASS " ALICE_PW, "-ERR No USER given");
  assert_reply (client, "USER nobody@example.org", "+OK");
  assert_reply (client, "PASS " ALICE_PW, "-ERR [AUTH] Authentication failed");
  assert_reply (client, "USER Alice@Example.ORG", "+OK");
  assert_reply (client, "PASS " ALICE_PW, "+OK Logged in, 3 messages (141 octets)");
  assert_reply (client, "USER " ALICE, "-ERR USER is not allowed after logging in");
}

static void
test_apop (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);

  assert_reply (client, "APOP " ALICE " c4c9334bac560ecc979e58001b3e22fb",
                "-ERR APOP is not supported; use AUTH or USER/PASS");
}

static char *
plain_b64 (const char *user, const char *password)
{
  g_autofree char *raw = g_strdup_printf ("%c%s%c%s", 0, user, 0, password);

  return g_base64_encode ((const guchar *) raw, strlen (user) + strlen (password) + 2);
}

static void
test_auth_plain_initial (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autofree char *good = plain_b64 (ALICE, ALICE_PW);
  g_autofree char *bad = plain_b64 (ALICE, "nope");
  g_autofree char *failed = pop3_test_command (client, "AUTH PLAIN %s", bad);
  g_autofree char *ok = pop3_test_command (client, "AUTH PLAIN %s", good);

  g_assert_cmpstr (failed, ==, "-ERR [AUTH] Authentication failed");
  g_assert_cmpstr (ok, ==, "+OK Logged in, 3 messages (141 octets)");
  assert_reply (client, "STAT", "+OK 3 141");
}

static void
test_auth_plain_continuation (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autofree char *good = plain_b64 (ALICE, ALICE_PW);
  g_autofree char *ok = NULL;

  assert_reply (client, "AUTH PLAIN", "+ ");
  assert_reply (client, "*", "-ERR Authentication aborted");
  assert_reply (client, "AUTH PLAIN", "+ ");
  assert_reply_prefix (client, "not base64!", "-ERR Invalid authentication data");
  assert_reply (client, "AUTH PLAIN", "+ ");
  ok = pop3_test_command (client, "%s", good);
  g_assert_cmpstr (ok, ==, "+OK Logged in, 3 messages (141 octets)");
}

static void
test_auth_login_and_list (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autofree char *user = g_base64_encode ((const guchar *) ALICE, strlen (ALICE));
  g_autofree char *password = g_base64_encode ((const guchar *) ALICE_PW, strlen (ALICE_PW));
  g_autoptr(GPtrArray) mechanisms = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *ok = NULL;

  assert_reply (client, "AUTH", "+OK");
  mechanisms = pop3_test_read_lines (client);
  g_assert_cmpuint (mechanisms->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (mechanisms, 0), ==, "PLAIN");
  g_assert_cmpstr (g_ptr_array_index (mechanisms, 1), ==, "LOGIN");
  assert_reply (client, "AUTH CRAM-MD5", "-ERR Unsupported authentication mechanism");
  assert_reply_prefix (client, "AUTH LOGIN", "+ ");
  prompt = pop3_test_command (client, "%s", user);
  g_assert_true (g_str_has_prefix (prompt, "+ "));
  ok = pop3_test_command (client, "%s", password);
  g_assert_cmpstr (ok, ==, "+OK Logged in, 3 messages (141 octets)");
}

/* SCRAM's final server message goes out as a last "+" challenge (RFC
 * 5034), answered by an empty line. Users from the auth tests' fixture. */
static void
test_auth_scram (void)
{
  g_autofree char *users = g_test_build_filename (G_TEST_DIST, "auth", "data", "users", NULL);
  g_autofree char *config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n", users);
  g_autoptr(PhTestServer) server = pop3_test_server_new (config);
  g_autoptr(PhTestClient) client = pop3_test_connect (server);
  g_autoptr(GPtrArray) caps = capa (client);
  Gsasl *ctx = NULL;
  Gsasl_session *sasl = NULL;
  char *out = NULL;
  g_autofree char *first = NULL;
  g_autofree char *final = NULL;
  g_autofree char *ok = NULL;

  g_assert_true (has_line (caps, "SASL SCRAM-SHA-256 PLAIN LOGIN"));
  g_assert_cmpint (gsasl_init (&ctx), ==, GSASL_OK);
  g_assert_cmpint (gsasl_client_start (ctx, "SCRAM-SHA-256", &sasl), ==, GSASL_OK);
  gsasl_property_set (sasl, GSASL_AUTHID, "scram@example.org");
  gsasl_property_set (sasl, GSASL_PASSWORD, "pw-scram");
  g_assert_cmpint (gsasl_step64 (sasl, "", &out), ==, GSASL_NEEDS_MORE);
  first = pop3_test_command (client, "AUTH SCRAM-SHA-256 %s", out);
  gsasl_free (out);
  g_assert_true (g_str_has_prefix (first, "+ "));
  g_assert_cmpint (gsasl_step64 (sasl, first + 2, &out), ==, GSASL_NEEDS_MORE);
  final = pop3_test_command (client, "%s", out);
  gsasl_free (out);
  g_assert_true (g_str_has_prefix (final, "+ "));
  /* the server proves it knows the password */
  g_assert_cmpint (gsasl_step64 (sasl, final + 2, &out), ==, GSASL_OK);
  gsasl_free (out);
  ok = pop3_test_command (client, "%s", "");
  g_assert_cmpstr (ok, ==, "+OK Logged in, 0 messages (0 octets)");
  gsasl_finish (sasl);
  gsasl_done (ctx);
}

static void
test_auth_throttle (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  gint64 start, first, second;

  /* [auth] failure_delay=200ms, doubling, max_failures=3 */
  assert_reply (client, "USER " ALICE, "+OK");
  start = g_get_monotonic_time ();
  assert_reply (client, "PASS bad1", "-ERR [AUTH] Authentication failed");
  first = g_get_monotonic_time () - start;
  assert_reply (client, "USER " ALICE, "+OK");
  start = g_get_monotonic_time ();
  assert_reply (client, "PASS bad2", "-ERR [AUTH] Authentication failed");
  second = g_get_monotonic_time () - start;
  g_assert_cmpint (first, >=, 190 * 1000);
  g_assert_cmpint (second, >=, 390 * 1000);
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply (client, "PASS bad3",
                "-ERR [AUTH] Authentication failed; too many failures, closing");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  g_assert_true (ph_test_server_is_running (fixture->server));
}

static void
test_wrong_state (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);

  assert_reply (client, "STAT", "-ERR STAT is not allowed before logging in");
  assert_reply (client, "RETR 1", "-ERR RETR is not allowed before logging in");
  assert_reply (client, "NOOP", "-ERR NOOP is not allowed before logging in");
  assert_reply (client, "FOO", "-ERR Unknown command");
  assert_reply (client, "QUIT", "+OK Bye");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

/* Logins are counted once, by the core's auth layer ("logins",
 * "logins_failed" per service), whatever the mechanism. */
static void
test_login_counters (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autoptr(PhTestClient) sasl = pop3_test_connect (fixture->server);
  g_autoptr(PhTestClient) bad = pop3_test_connect (fixture->server);
  static const char credentials[] = "\0bob@example.org\0bob-pw";
  g_autofree char *plain = g_base64_encode ((const guchar *) credentials, sizeof credentials - 1);
  g_autofree char *metrics = NULL;

  assert_reply (client, "QUIT", "+OK Logging out");
  assert_reply_prefix (sasl, "AUTH PLAIN !!!!", "-ERR Invalid authentication data");
  {
    g_autofree char *command = g_strdup_printf ("AUTH PLAIN %s", plain);

    assert_reply_prefix (sasl, command, "+OK Logged in, 0 messages");
  }
  assert_reply (bad, "USER " ALICE, "+OK");
  assert_reply (bad, "PASS wrong", "-ERR [AUTH] Authentication failed");
  /* not an authentication: the maildrop is taken */
  assert_reply (bad, "USER bob@example.org", "+OK");
  assert_reply (bad, "PASS bob-pw", "-ERR [IN-USE] Mailbox is locked by another POP3 session");

  metrics = pop3_test_fetch_metrics (fixture->server);
  g_test_message ("%s", metrics);
  /* alice, bob by SASL, bob again (the core counts the authentication;
   * the lock refuses the maildrop afterwards) */
  g_assert_nonnull (strstr (metrics, "posthorn_logins_total{service=\"pop3\"} 3\n"));
  /* the bad SASL response and the wrong password */
  g_assert_nonnull (strstr (metrics, "posthorn_logins_failed_total{service=\"pop3\"} 2\n"));
  g_assert_nonnull (strstr (metrics, "posthorn_logins_in_use_total{service=\"pop3\"} 1\n"));
}

/* ---- limits ---- */

/* [pop3] max_bad_commands=3: the third invalid command in a row gets
 * "-ERR Too many invalid commands" and the connection closes; a valid
 * command starts the count again. Other sessions go on and the maildrop
 * is free again. */
static void
test_limit_bad_commands (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) bystander = pop3_test_login (fixture->server, "bob@example.org", "bob-pw");
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autoptr(PhTestClient) again = NULL;
  g_autofree char *long_line = g_strnfill (9000, 'x');
  g_autofree char *reply = NULL;

  assert_reply (client, "XYZZY", "-ERR Unknown command");
  assert_reply (client, "USER x", "-ERR USER is not allowed after logging in");
  /* not a bad command: it parses; the maildrop has no message 9 */
  assert_reply (client, "RETR 9", "-ERR There is no message 9 (the maildrop has 3)");
  assert_reply (client, "RETR", "-ERR Syntax: RETR msg");
  reply = pop3_test_command (client, "%s", long_line);
  g_assert_cmpstr (reply, ==, "-ERR Line too long (the limit is 8192 octets)");
  assert_reply (client, "DELE 0", "-ERR Too many invalid commands");
  g_assert_true (ph_test_client_wait_closed (client, 5000));

  assert_reply (bystander, "NOOP", "+OK");
  assert_reply (bystander, "STAT", "+OK 0 0");
  /* the closed session deleted nothing and let go of the maildrop */
  again = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  assert_reply (again, "STAT", "+OK 3 141");
}

/* [pop3] max_preauth_commands=4: the fifth command before a login closes
 * the connection; after a login the count no longer matters. */
static void
test_limit_preauth_commands (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) bystander = pop3_test_login (fixture->server, "bob@example.org", "bob-pw");
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autoptr(PhTestClient) user = NULL;
  g_autoptr(GPtrArray) caps = capa (client);

  assert_reply (client, "NOOP", "-ERR NOOP is not allowed before logging in");
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply (client, "PASS " ALICE_PW, "-ERR Too many commands before login");
  g_assert_true (ph_test_client_wait_closed (client, 5000));

  /* two commands to log in, then as many as the session wants */
  user = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  for (guint i = 0; i < 6; i++)
    assert_reply (user, "NOOP", "+OK");
  assert_reply (bystander, "NOOP", "+OK");
}

/* ---- TRANSACTION ---- */

static void
test_stat_list_uidl (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GPtrArray) uidl = NULL;
  g_autofree char *stat = g_strdup_printf ("+OK 3 %" G_GSIZE_FORMAT,
                                           msg_size (fixture, 0) + msg_size (fixture, 1) +
                                           msg_size (fixture, 2));
  g_autofree char *list2 = g_strdup_printf ("+OK 2 %" G_GSIZE_FORMAT, msg_size (fixture, 1));
  g_autofree char *uidl2 = NULL;

  assert_reply (client, "STAT", stat);
  assert_reply_prefix (client, "LIST", "+OK 3 messages (");
  list = pop3_test_read_lines (client);
  g_assert_cmpuint (list->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *line = g_strdup_printf ("%u %" G_GSIZE_FORMAT, i + 1, msg_size (fixture, i));
      g_assert_cmpstr (g_ptr_array_index (list, i), ==, line);
    }
  assert_reply (client, "LIST 2", list2);
  assert_reply (client, "UIDL", "+OK Unique-ID listing follows");
  uidl = pop3_test_read_lines (client);
  g_assert_cmpuint (uidl->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      const char *line = g_ptr_array_index (uidl, i);
      g_autofree char *prefix = g_strdup_printf ("%u %08X", i + 1, fixture->uids[i]);

      /* UID then UIDVALIDITY, 8 hex digits each (Dovecot's default) */
      g_autofree char *head = g_strndup (line, strlen (prefix));

      g_assert_cmpstr (head, ==, prefix);
      g_assert_cmpuint (strlen (line), ==, strlen (prefix) + 8);
    }
  uidl2 = g_strdup_printf ("+OK 2 %s", strchr (g_ptr_array_index (uidl, 1), ' ') + 1);
  assert_reply (client, "UIDL 2", uidl2);
  assert_reply (client, "NOOP", "+OK");
}

static void
test_retr_dot_stuffing (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GBytes) body = pop3_test_retr (client, i + 1);
      g_assert_true (g_bytes_equal (body, fixture->messages[i]));
    }
}

static void
test_retr_raw (Fixture *fixture, gconstpointer data)
{
  /* The exact bytes on the wire, including the octet count. */
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  static const char expected[] =
    "Subject: two\r\nX-Dots: yes\r\n\r\n..leading dot\r\n..\r\n...two dots\r\nend\r\n.\r\n";
  g_autofree char *ok = g_strdup_printf ("+OK %" G_GSIZE_FORMAT " octets", msg_size (fixture, 1));
  g_autoptr(GBytes) raw = NULL;

  assert_reply (client, "RETR 2", ok);
  raw = ph_test_client_read_exact (client, strlen (expected));
  g_assert_cmpmem (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw),
                   expected, strlen (expected));
  assert_reply (client, "NOOP", "+OK");
}

static void
test_no_final_crlf (Fixture *fixture, gconstpointer data)
{
  static const char text[] = "Subject: x\r\n\r\nno line end at the end.";
  guint32 uid = pop3_test_inject (fixture->server, ALICE, text, strlen (text));
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *ok = g_strdup_printf ("+OK %" G_GSIZE_FORMAT " octets", strlen (text));
  g_autoptr(GBytes) raw = NULL;
  static const char expected[] = "Subject: x\r\n\r\nno line end at the end.\r\n.\r\n";

  g_assert_cmpuint (uid, >, fixture->uids[2]);
  assert_reply (client, "RETR 4", ok);
  raw = ph_test_client_read_exact (client, strlen (expected));
  g_assert_cmpmem (g_bytes_get_data (raw, NULL), g_bytes_get_size (raw),
                   expected, strlen (expected));
}

static void
test_top (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autoptr(GBytes) top0 = NULL;
  g_autoptr(GBytes) top2 = NULL;
  g_autoptr(GBytes) top_all = NULL;
  g_autoptr(GBytes) top_dots = NULL;

  assert_reply (client, "TOP 3 0", "+OK Top of message 3 follows");
  top0 = pop3_test_read_body (client);
  g_assert_cmpmem (g_bytes_get_data (top0, NULL), g_bytes_get_size (top0),
                   "Subject: three\r\n\r\n", 18);
  assert_reply (client, "TOP 3 2", "+OK Top of message 3 follows");
  top2 = pop3_test_read_body (client);
  g_assert_cmpmem (g_bytes_get_data (top2, NULL), g_bytes_get_size (top2),
                   "Subject: three\r\n\r\nline 1\r\nline 2\r\n", 34);
  assert_reply (client, "TOP 3 100", "+OK Top of message 3 follows");
  top_all = pop3_test_read_body (client);
  g_assert_true (g_bytes_equal (top_all, fixture->messages[2]));
  assert_reply (client, "TOP 2 2", "+OK Top of message 2 follows");
  top_dots = pop3_test_read_body (client);
  g_assert_cmpmem (g_bytes_get_data (top_dots, NULL), g_bytes_get_size (top_dots),
                   "Subject: two\r\nX-Dots: yes\r\n\r\n.leading dot\r\n.\r\n", 46);
}

static void
test_bad_input (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *long_line = g_strnfill (20000, 'x');
  g_autofree char *reply = NULL;

  assert_reply (client, "XYZZY", "-ERR Unknown command");
  assert_reply (client, "RETR", "-ERR Syntax: RETR msg");
  assert_reply (client, "RETR 1 2", "-ERR Syntax: RETR msg");
  assert_reply (client, "STAT 1", "-ERR Syntax: STAT (no arguments)");
  assert_reply (client, "TOP 1", "-ERR Syntax: TOP msg lines");
  assert_reply (client, "RETR 0", "-ERR Message number must be at least 1");
  assert_reply (client, "DELE 0", "-ERR Message number must be at least 1");
  assert_reply (client, "RETR abc", "-ERR Invalid message number");
  assert_reply (client, "RETR 4", "-ERR There is no message 4 (the maildrop has 3)");
  assert_reply (client, "LIST 99", "-ERR There is no message 99 (the maildrop has 3)");
  assert_reply (client, "UIDL 4", "-ERR There is no message 4 (the maildrop has 3)");
  assert_reply (client, "TOP 4 0", "-ERR There is no message 4 (the maildrop has 3)");
  assert_reply (client, "DELE 2", "+OK Message 2 deleted");
  assert_reply (client, "DELE 2", "-ERR Message 2 is already deleted");
  assert_reply (client, "RETR 2", "-ERR Message 2 is already deleted");
  assert_reply (client, "TOP 2 1", "-ERR Message 2 is already deleted");
  assert_reply (client, "LIST 2", "-ERR Message 2 is already deleted");
  assert_reply (client, "UIDL 2", "-ERR Message 2 is already deleted");
  reply = pop3_test_command (client, "%s", long_line);
  g_assert_cmpstr (reply, ==, "-ERR Line too long (the limit is 8192 octets)");
  /* the session goes on, DELE still marked */
  assert_reply (client, "STAT", "+OK 2 78");
  g_assert_true (ph_test_client_send (client, "NOOP\0\r\n", 7));
  g_clear_pointer (&reply, g_free);
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "-ERR Command contains a NUL byte");
  assert_reply (client, "NOOP", "+OK");
  g_assert_true (ph_test_server_is_running (fixture->server));
}

static void
test_pipelining (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GBytes) one = NULL;
  g_autoptr(GBytes) three = NULL;
  g_autofree char *reply = NULL;

  /* everything in one write, AUTH and RETR included */
  g_assert_true (ph_test_client_send (client,
                                      "USER " ALICE "\r\nPASS " ALICE_PW "\r\nSTAT\r\nLIST\r\n"
                                      "RETR 1\r\nDELE 2\r\nRETR 3\r\nSTAT\r\nQUIT\r\n", -1));
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK");
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_true (g_str_has_prefix (reply, "+OK Logged in"));
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK 3 141");
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_true (g_str_has_prefix (reply, "+OK 3 messages"));
  list = pop3_test_read_lines (client);
  g_assert_cmpuint (list->len, ==, 3);
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_true (g_str_has_prefix (reply, "+OK "));
  one = pop3_test_read_body (client);
  g_assert_true (g_bytes_equal (one, fixture->messages[0]));
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK Message 2 deleted");
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_true (g_str_has_prefix (reply, "+OK "));
  three = pop3_test_read_body (client);
  g_assert_true (g_bytes_equal (three, fixture->messages[2]));
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK 2 78");
  g_free (reply);
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK Logging out, 1 messages deleted");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

/* ---- UPDATE ---- */

static void
assert_maildrop (PhTestServer *server, const char *stat)
{
  g_autoptr(PhTestClient) client = pop3_test_login (server, ALICE, ALICE_PW);

  assert_reply (client, "STAT", stat);
  assert_reply (client, "QUIT", "+OK Logging out");
}

static void
test_dele_rset (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);

  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  assert_reply (client, "DELE 3", "+OK Message 3 deleted");
  assert_reply (client, "STAT", "+OK 1 63");
  assert_reply (client, "RSET", "+OK Maildrop has 3 messages (141 octets)");
  assert_reply (client, "STAT", "+OK 3 141");
  assert_reply (client, "QUIT", "+OK Logging out");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  assert_maildrop (fixture->server, "+OK 3 141");
}

static void
test_dele_quit (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = NULL;
  g_autoptr(PhTestClient) again = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *flags = NULL;
  g_autofree char *expected_flags = NULL;
  g_autofree char *set = NULL;

  /* Another client (IMAP) flagged message 2 \Deleted: POP3's QUIT must
   * not expunge it. */
  set = pop3_test_inject_command (fixture->server, "SETDELETED " ALICE " %u", fixture->uids[1]);
  g_assert_cmpstr (set, ==, "+OK");
  client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  assert_reply (client, "DELE 3", "+OK Message 3 deleted");
  assert_reply (client, "QUIT", "+OK Logging out, 2 messages deleted");
  g_assert_true (ph_test_client_wait_closed (client, 5000));

  flags = pop3_test_inject_command (fixture->server, "FLAGS " ALICE);
  expected_flags = g_strdup_printf ("+OK %u:D", fixture->uids[1]);
  g_assert_cmpstr (flags, ==, expected_flags);
  again = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  assert_reply (again, "STAT", "+OK 1 63");
  body = pop3_test_retr (again, 1);
  g_assert_true (g_bytes_equal (body, fixture->messages[1]));
}

static void
test_dele_drop (Fixture *fixture, gconstpointer data)
{
  PhTestClient *client = pop3_test_login (fixture->server, ALICE, ALICE_PW);

  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  assert_reply (client, "DELE 2", "+OK Message 2 deleted");
  ph_test_client_free (client);  /* dropped without QUIT */
  /* the lock goes with the connection; nothing was deleted */
  for (guint i = 0; i < 50; i++)
    {
      g_autoptr(PhTestClient) probe = pop3_test_connect (fixture->server);
      g_autofree char *user = pop3_test_command (probe, "USER " ALICE);
      g_autofree char *pass = pop3_test_command (probe, "PASS " ALICE_PW);

      if (g_str_has_prefix (pass, "+OK"))
        {
          assert_reply (probe, "STAT", "+OK 3 141");
          return;
        }
      g_assert_cmpstr (pass, ==, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
      g_usleep (20000);
    }
  g_assert_not_reached ();
}

static void
test_dele_shutdown (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *bye = NULL;

  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  ph_test_server_signal (fixture->server, SIGTERM);
  bye = ph_test_client_read_line (client);
  g_assert_cmpstr (bye, ==, "-ERR [SYS/TEMP] Server shutting down");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  g_assert_cmpint (ph_test_server_stop (fixture->server), ==, 0);
  ph_test_server_start_or_die (fixture->server);
  assert_maildrop (fixture->server, "+OK 3 141");
}

static void
test_idle_timeout (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *bye = NULL;

  /* [pop3] idle_timeout=1s */
  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  bye = ph_test_client_read_line_timeout (client, 5000);
  g_assert_cmpstr (bye, ==, "-ERR Disconnected for inactivity");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  assert_maildrop (fixture->server, "+OK 3 141");
}

static GPtrArray *
uidl_list (PhTestServer *server)
{
  g_autoptr(PhTestClient) client = pop3_test_login (server, ALICE, ALICE_PW);
  GPtrArray *lines;

  assert_reply (client, "UIDL", "+OK Unique-ID listing follows");
  lines = pop3_test_read_lines (client);
  for (guint i = 0; i < lines->len; i++)
    {
      /* keep the UIDL only */
      char *line = g_ptr_array_index (lines, i);
      memmove (line, strchr (line, ' ') + 1, strlen (strchr (line, ' ') + 1) + 1);
    }
  assert_reply (client, "QUIT", "+OK Logging out");
  return lines;
}

static void
test_uidl_restart (Fixture *fixture, gconstpointer data)
{
  g_autoptr(GPtrArray) before = uidl_list (fixture->server);
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GPtrArray) later = NULL;
  g_autoptr(PhTestClient) client = NULL;
  static const char text[] = "Subject: new\r\n\r\nnew\r\n";

  g_assert_cmpuint (before->len, ==, 3);
  g_assert_cmpint (ph_test_server_stop (fixture->server), ==, 0);
  ph_test_server_start_or_die (fixture->server);
  after = uidl_list (fixture->server);
  g_assert_cmpuint (after->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (g_ptr_array_index (before, i), ==, g_ptr_array_index (after, i));

  /* Delete the newest, restart, add one: its UIDL is new. */
  client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  assert_reply (client, "DELE 3", "+OK Message 3 deleted");
  assert_reply (client, "QUIT", "+OK Logging out, 1 messages deleted");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  g_assert_cmpint (ph_test_server_stop (fixture->server), ==, 0);
  ph_test_server_start_or_die (fixture->server);
  pop3_test_inject (fixture->server, ALICE, text, strlen (text));
  later = uidl_list (fixture->server);
  g_assert_cmpuint (later->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (later, 0), ==, g_ptr_array_index (before, 0));
  g_assert_cmpstr (g_ptr_array_index (later, 1), ==, g_ptr_array_index (before, 1));
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (g_ptr_array_index (later, 2), !=, g_ptr_array_index (before, i));
}

static void
test_in_use (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) first = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autoptr(PhTestClient) second = pop3_test_connect (fixture->server);
  g_autoptr(PhTestClient) bob = pop3_test_login (fixture->server, "bob@example.org", "bob-pw");
  g_autofree char *plain = plain_b64 (ALICE, ALICE_PW);
  g_autofree char *sasl = NULL;

  assert_reply (second, "USER " ALICE, "+OK");
  assert_reply (second, "PASS " ALICE_PW, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
  sasl = pop3_test_command (second, "AUTH PLAIN %s", plain);
  g_assert_cmpstr (sasl, ==, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
  /* another store client is not locked out meanwhile */
  g_free (pop3_test_inject_command (fixture->server, "FLAGS " ALICE));
  assert_reply (bob, "STAT", "+OK 0 0");
  assert_reply (first, "QUIT", "+OK Logging out");
  g_assert_true (ph_test_client_wait_closed (first, 5000));
  /* still in AUTHORIZATION: the second client may log in now */
  assert_reply (second, "USER " ALICE, "+OK");
  assert_reply (second, "PASS " ALICE_PW, "+OK Logged in, 3 messages (141 octets)");
}

static void
test_keep (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *flags = NULL;
  g_autofree char *status = NULL;
  g_autofree char *expected = g_strdup_printf ("+OK %u:- %u:- %u:-", fixture->uids[0],
                                               fixture->uids[1], fixture->uids[2]);

  for (guint i = 1; i <= 3; i++)
    g_bytes_unref (pop3_test_retr (client, i));
  assert_reply (client, "TOP 1 1", "+OK Top of message 1 follows");
  g_ptr_array_unref (pop3_test_read_lines (client));
  assert_reply (client, "QUIT", "+OK Logging out");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  flags = pop3_test_inject_command (fixture->server, "FLAGS " ALICE);
  g_assert_cmpstr (flags, ==, expected);
  /* not \Seen, and still \Recent for the first IMAP session */
  status = pop3_test_inject_command (fixture->server, "STATUS " ALICE);
  g_assert_cmpstr (status, ==, "+OK 3 3 3");
}

static void
test_expunged_meanwhile (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  g_autofree char *expunged = pop3_test_inject_command (fixture->server, "EXPUNGE " ALICE " %u",
                                                        fixture->uids[0]);

  g_assert_cmpstr (expunged, ==, "+OK");
  /* numbers stay fixed; the vanished message cannot be read */
  assert_reply (client, "STAT", "+OK 3 141");
  assert_reply (client, "RETR 1", "-ERR Message 1 was removed by another session");
  assert_reply (client, "TOP 1 0", "-ERR Message 1 was removed by another session");
  assert_reply (client, "DELE 1", "+OK Message 1 deleted");
  assert_reply (client, "DELE 2", "+OK Message 2 deleted");
  assert_reply (client, "QUIT", "+OK Logging out, 2 messages deleted");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
  assert_maildrop (fixture->server, "+OK 1 50");
}

/* ---- TLS ---- */

static void
test_stls (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) caps = NULL;

  assert_reply (client, "STLS", "+OK Begin TLS negotiation");
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  caps = capa (client);
  g_assert_false (has_line (caps, "STLS"));
  g_assert_true (has_line (caps, "USER"));
  assert_reply (client, "STLS", "-ERR TLS is already active");
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply_prefix (client, "PASS " ALICE_PW, "+OK Logged in");
  assert_reply (client, "STLS", "-ERR STLS is not allowed after logging in");
}

static void
test_stls_injection (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_test_connect (fixture->server);
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  g_autoptr(GPtrArray) caps = NULL;

  /* A man in the middle appends USER to the plaintext STLS: it must be
   * discarded, not run after the handshake. */
  g_assert_true (ph_test_client_send (client, "STLS\r\nUSER " ALICE "\r\n", -1));
  reply = ph_test_client_read_line (client);
  g_assert_cmpstr (reply, ==, "+OK Begin TLS negotiation");
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  caps = capa (client);  /* the first reply over TLS is CAPA's */
  g_assert_true (has_line (caps, "USER"));
  assert_reply (client, "PASS " ALICE_PW, "-ERR No USER given");
}

static void
test_implicit_tls (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PhTestClient) client = ph_test_client_connect (fixture->server, "pop3", TRUE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "+OK ");
  g_autoptr(GPtrArray) caps = capa (client);
  g_autoptr(GBytes) body = NULL;

  g_assert_false (has_line (caps, "STLS"));
  assert_reply (client, "USER " ALICE, "+OK");
  assert_reply_prefix (client, "PASS " ALICE_PW, "+OK Logged in");
  body = pop3_test_retr (client, 2);
  g_assert_true (g_bytes_equal (body, fixture->messages[1]));
}

/* ---- big messages ---- */

static void
test_retr_large (Fixture *fixture, gconstpointer data)
{
  const gsize size = 50 * 1024 * 1024;
  g_autoptr(GBytes) message = pop3_test_make_message (50, size, "application/octet-stream");
  gsize length;
  const guint8 *bytes = g_bytes_get_data (message, &length);
  g_autoptr(GByteArray) expected = g_byte_array_sized_new ((guint) (length + length / 8));
  g_autoptr(PhTestClient) client = NULL;
  g_autofree char *ok = NULL;
  g_autofree char *expected_ok = g_strdup_printf ("+OK %" G_GSIZE_FORMAT " octets", length);
  guint64 rss_before, rss_peak = 0;
  gsize at = 0;

  pop3_test_inject (fixture->server, ALICE, bytes, length);
  /* the expected wire form, stuffed the way a client undoes it */
  for (gsize i = 0; i < length; i++)
    {
      if (bytes[i] == '.' && (i == 0 || bytes[i - 1] == '\n'))
        g_byte_array_append (expected, (const guint8 *) ".", 1);
      g_byte_array_append (expected, bytes + i, 1);
    }
  g_byte_array_append (expected, (const guint8 *) ".\r\n", 3);

  client = pop3_test_login (fixture->server, ALICE, ALICE_PW);
  ph_test_client_set_timeout (client, 60000);
  rss_before = ph_test_server_get_rss_kb (fixture->server);
  ok = pop3_test_command (client, "RETR 4");
  g_assert_cmpuint (length, >=, size);
  g_assert_cmpuint (length, <, size + 100);
  g_assert_cmpstr (ok, ==, expected_ok);
  /* A slow reader: the server must not buffer the message. */
  while (at < expected->len)
    {
      gsize n = MIN ((gsize) 4 * 1024 * 1024, expected->len - at);
      g_autoptr(GBytes) piece = ph_test_client_read_exact (client, n);

      g_assert_nonnull (piece);
      g_assert_cmpmem (g_bytes_get_data (piece, NULL), n, expected->data + at, n);
      at += n;
      rss_peak = MAX (rss_peak, ph_test_server_get_rss_kb (fixture->server));
      g_usleep (10000);
    }
  g_test_message ("posthornd RSS before RETR %" G_GUINT64_FORMAT " KiB, peak during %"
                  G_GUINT64_FORMAT " KiB", rss_before, rss_peak);
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer's quarantine keeps freed buffers mapped (256 MiB by
   * default), so RSS says nothing about what the daemon holds there. */
  g_test_message ("RSS bound not checked under AddressSanitizer");
#else
  g_assert_cmpuint (rss_peak, <, rss_before + 16 * 1024);
#endif
  assert_reply (client, "NOOP", "+OK");
}

int
main (int argc, char **argv)
{
  static const char *throttle = "[auth]\nfailure_delay=200ms\nfailure_delay_max=2s\nmax_failures=3\n";
  static const char *idle = "[pop3]\nidle_timeout=1s\n";
  static const char *metrics =
    "[core]\nplugins=auth-passwd-file;storage-sqlite;pop3;test-inject;metrics\n"
    "[metrics]\nlisten=127.0.0.1:0\n[auth]\nfailure_delay=10ms\n";
  static const char *bad_commands = "[pop3]\nmax_bad_commands=3\n";
  static const char *preauth = "[pop3]\nmax_preauth_commands=4\n";

  g_test_init (&argc, &argv, NULL);
#define ADD(path, func, config) \
  g_test_add (path, Fixture, config, fixture_set_up, func, fixture_tear_down)
  ADD ("/pop3/capa", test_capa, NULL);
  ADD ("/pop3/auth/user-pass", test_user_pass, NULL);
  ADD ("/pop3/auth/apop-not-offered", test_apop, NULL);
  ADD ("/pop3/auth/plain-initial-response", test_auth_plain_initial, NULL);
  ADD ("/pop3/auth/plain-continuation", test_auth_plain_continuation, NULL);
  ADD ("/pop3/auth/login-and-mechanism-list", test_auth_login_and_list, NULL);
  g_test_add_func ("/pop3/auth/scram-sha-256", test_auth_scram);
  ADD ("/pop3/auth/throttle", test_auth_throttle, throttle);
  ADD ("/pop3/auth/wrong-state", test_wrong_state, NULL);
  ADD ("/pop3/auth/login-counters", test_login_counters, metrics);
  ADD ("/pop3/limits/bad-commands", test_limit_bad_commands, bad_commands);
  ADD ("/pop3/limits/preauth-commands", test_limit_preauth_commands, preauth);
  ADD ("/pop3/transaction/stat-list-uidl", test_stat_list_uidl, NULL);
  ADD ("/pop3/transaction/retr-dot-stuffing", test_retr_dot_stuffing, NULL);
  ADD ("/pop3/transaction/retr-raw", test_retr_raw, NULL);
  ADD ("/pop3/transaction/retr-no-final-crlf", test_no_final_crlf, NULL);
  ADD ("/pop3/transaction/top", test_top, NULL);
  ADD ("/pop3/transaction/bad-input", test_bad_input, NULL);
  ADD ("/pop3/transaction/pipelining", test_pipelining, NULL);
  ADD ("/pop3/transaction/expunged-meanwhile", test_expunged_meanwhile, NULL);
  ADD ("/pop3/update/dele-rset", test_dele_rset, NULL);
  ADD ("/pop3/update/dele-quit", test_dele_quit, NULL);
  ADD ("/pop3/update/dele-drop", test_dele_drop, NULL);
  ADD ("/pop3/update/dele-shutdown", test_dele_shutdown, NULL);
  ADD ("/pop3/update/dele-idle-timeout", test_idle_timeout, idle);
  ADD ("/pop3/uidl/stable-across-restart", test_uidl_restart, NULL);
  ADD ("/pop3/lock/in-use", test_in_use, NULL);
  ADD ("/pop3/keep/nothing-marked", test_keep, NULL);
  ADD ("/pop3/tls/stls", test_stls, NULL);
  ADD ("/pop3/tls/stls-injection", test_stls_injection, NULL);
  ADD ("/pop3/tls/implicit", test_implicit_tls, NULL);
  ADD ("/pop3/retr/50mb-bounded-memory", test_retr_large, NULL);
#undef ADD
  return g_test_run ();
}
