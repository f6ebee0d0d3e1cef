/* Limits, through the real protocols: each test sets one limit low, hits
 * it, checks the protocol's proper answer, and checks that a client that
 * was already logged in (and a new one, where the limit allows) is still
 * served. doc/limits.md maps every limit to its key, default and test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "ph-test.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *bystander;   /* IMAP, logged in, INBOX selected */
} Fixture;

static char *
read_line_or_die (PhTestClient *client)
{
  char *line = ph_test_client_read_line (client);

  g_assert_nonnull (line);
  return line;
}

/* ---- IMAP ---- */

static char *
imap_command (PhTestClient *client, const char *tag, const char *command)
{
  g_assert_true (ph_test_client_sendf (client, "%s %s\r\n", tag, command));
  for (;;)
    {
      char *line = read_line_or_die (client);

      if (g_str_has_prefix (line, tag) && line[strlen (tag)] == ' ')
        return line;
      g_free (line);
    }
}

static void
imap_expect (PhTestClient *client, const char *tag, const char *command, const char *status)
{
  g_autofree char *reply = imap_command (client, tag, command);
  g_autofree char *want = g_strdup_printf ("%s %s", tag, status);

  if (!g_str_has_prefix (reply, want))
    g_error ("%s %s: expected %s, got: %s", tag, command, status, reply);
}

static PhTestClient *
imap_connect (Fixture *f)
{
  PhTestClient *client = ph_test_client_connect (f->server, "imap4", FALSE);
  g_autofree char *greeting = read_line_or_die (client);

  g_assert_true (g_str_has_prefix (greeting, "* OK"));
  return client;
}

static PhTestClient *
imap_login (Fixture *f)
{
  PhTestClient *client = imap_connect (f);

  imap_expect (client, "l", "LOGIN alice@example.org pw", "OK");
  return client;
}

/* The bystander is unaffected: NOOP, and a new session logs in. */
static void
assert_others_served (Fixture *f, gboolean new_session_too)
{
  imap_expect (f->bystander, "n", "NOOP", "OK");
  imap_expect (f->bystander, "s", "STATUS INBOX (MESSAGES)", "OK");
  if (new_session_too)
    {
      g_autoptr(PhTestClient) other = imap_login (f);

      imap_expect (other, "o", "SELECT INBOX", "OK");
    }
}

/* ---- SMTP / POP3 ---- */

static guint
smtp_reply (PhTestClient *client, char **last)
{
  for (;;)
    {
      char *line = ph_test_client_read_line (client);
      guint code;

      if (line == NULL)
        return 0;
      code = (guint) g_ascii_strtoull (line, NULL, 10);
      if (strlen (line) < 4 || line[3] != '-')
        {
          if (last != NULL)
            *last = line;
          else
            g_free (line);
          return code;
        }
      g_free (line);
    }
}

static void
smtp_expect (PhTestClient *client, const char *line, guint code)
{
  g_autofree char *reply = NULL;
  guint got;

  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  got = smtp_reply (client, &reply);
  if (got != code)
    g_error ("'%.60s': expected %u, got %u %s", line, code, got, reply);
}

static PhTestClient *
smtp_connect (Fixture *f)
{
  PhTestClient *client = ph_test_client_connect (f->server, "smtp", FALSE);

  g_assert_cmpuint (smtp_reply (client, NULL), ==, 220);
  smtp_expect (client, "EHLO limits.example", 250);
  return client;
}

static PhTestClient *
pop3_connect (Fixture *f)
{
  PhTestClient *client = ph_test_client_connect (f->server, "pop3", FALSE);
  g_autofree char *greeting = read_line_or_die (client);

  g_assert_true (g_str_has_prefix (greeting, "+OK"));
  return client;
}

/* ---- fixture: @data is extra config ---- */

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autofree char *users = NULL;
  g_autofree char *config = NULL;

  f->server = ph_test_server_create ("auth-passwd-file;storage-sqlite;pop3;imap4;smtp");
  users = g_build_filename (ph_test_server_get_dir (f->server), "users", NULL);
  g_assert_true (g_file_set_contents (users, "alice@example.org:{PLAIN}pw\nbob@example.org:{PLAIN}pw\n"
                                      "carol@example.org:{PLAIN}pw\ndave@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[auth]\nfailure_delay=10ms\nfailure_delay_max=50ms\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org\nlisten=127.0.0.1:0\n"
                            "[imap4]\nlisten=127.0.0.1:0\n"
                            "[pop3]\nlisten=127.0.0.1:0\n", users);
  ph_test_server_append_config (f->server, config);
  if (data != NULL)
    ph_test_server_append_config (f->server, data);
  ph_test_server_set_tls (f->server, FALSE);
  ph_test_server_start_or_die (f->server);
  f->bystander = imap_login (f);
  imap_expect (f->bystander, "b", "SELECT INBOX", "OK");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->bystander, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

/* ---- connections ---- */

/* The next connection to @service is refused with @line; TRUE if so. */
static void
assert_refused (Fixture *f, const char *service, const char *line)
{
  g_autoptr(PhTestClient) client = ph_test_client_connect (f->server, service, FALSE);
  g_autofree char *got = ph_test_client_read_line (client);

  g_assert_cmpstr (got, ==, line);
  g_assert_true (ph_test_client_wait_closed (client, 2000));
}

/* Connects to @service until it answers with a greeting (the count of a
 * connection that just closed drops soon after). */
static PhTestClient *
connect_when_free (Fixture *f, const char *service, const char *greeting_prefix)
{
  for (guint attempt = 0; attempt < 100; attempt++)
    {
      PhTestClient *client = ph_test_client_connect (f->server, service, FALSE);
      g_autofree char *line = ph_test_client_read_line (client);

      if (line != NULL && g_str_has_prefix (line, greeting_prefix))
        return client;
      ph_test_client_free (client);
      g_usleep (20 * 1000);
    }
  g_error ("%s never accepted a connection again", service);
  return NULL;
}

static void
test_connections_per_ip (Fixture *f, gconstpointer data)
{
  /* bystander + IMAP + POP3 + SMTP = 4 = max_connections_per_ip */
  g_autoptr(PhTestClient) imap = imap_connect (f);
  g_autoptr(PhTestClient) pop3 = pop3_connect (f);
  g_autoptr(PhTestClient) smtp = smtp_connect (f);

  assert_refused (f, "imap4", "* BYE Too many connections");
  assert_refused (f, "pop3", "-ERR [SYS/TEMP] Too many connections");
  assert_refused (f, "smtp", "421 4.7.0 Too many connections");
  assert_others_served (f, FALSE);
  smtp_expect (smtp, "NOOP", 250);
  /* one leaves: room for one more */
  g_clear_pointer (&pop3, ph_test_client_free);
  {
    g_autoptr(PhTestClient) again = connect_when_free (f, "pop3", "+OK");
  }
}

static void
test_connections_total (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) smtp = smtp_connect (f);

  assert_refused (f, "smtp", "421 4.7.0 Too many connections");
  assert_refused (f, "imap4", "* BYE Too many connections");
  assert_others_served (f, FALSE);
  g_clear_pointer (&smtp, ph_test_client_free);
  {
    g_autoptr(PhTestClient) again = connect_when_free (f, "imap4", "* OK");

    imap_expect (again, "l", "LOGIN bob@example.org pw", "OK");
  }
}

/* ---- line, literal and message sizes ---- */

static void
test_imap_line_length (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = imap_login (f);
  g_autofree char *line = g_strnfill (3000, 'x');
  g_autofree char *reply = NULL;

  ph_test_client_sendf (client, "t NOOP %s\r\n", line);
  reply = read_line_or_die (client);
  g_assert_true (g_str_has_prefix (reply, "* BYE [TOOBIG]"));
  g_assert_true (ph_test_client_wait_closed (client, 2000));
  assert_others_served (f, TRUE);
}

static void
test_imap_literal_size (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = imap_connect (f);
  g_autofree char *reply = NULL;

  /* a synchronising literal over the limit is refused before its data */
  ph_test_client_send (client, "t LOGIN {5000}\r\n", -1);
  reply = read_line_or_die (client);
  g_assert_true (g_str_has_prefix (reply, "t BAD") || g_str_has_prefix (reply, "t NO"));
  imap_expect (client, "n", "NOOP", "OK");
  imap_expect (client, "l", "LOGIN alice@example.org pw", "OK");
  assert_others_served (f, FALSE);
}

static void
test_imap_append_size (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = imap_login (f);
  g_autofree char *reply = NULL;

  ph_test_client_send (client, "a APPEND INBOX {5000}\r\n", -1);
  reply = read_line_or_die (client);
  g_assert_true (g_str_has_prefix (reply, "a NO [TOOBIG]"));
  imap_expect (client, "b", "APPEND INBOX {20+}\r\nSubject: x\r\n\r\nbody\r\n", "OK");
  assert_others_served (f, FALSE);
}

static void
test_pop3_line_length (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = pop3_connect (f);
  g_autofree char *line = g_strnfill (9000, 'x');
  g_autofree char *reply = NULL;
  g_autofree char *after = NULL;

  ph_test_client_sendf (client, "USER %s\r\n", line);
  reply = read_line_or_die (client);
  g_assert_true (g_str_has_prefix (reply, "-ERR"));
  g_assert_nonnull (strstr (reply, "too long"));
  /* the session goes on or ends cleanly; either way others are served */
  if (ph_test_client_send (client, "NOOP\r\n", -1))
    after = ph_test_client_read_line (client);
  g_test_message ("after the long line: %s", after != NULL ? after : "(closed)");
  assert_others_served (f, TRUE);
}

static void
test_smtp_line_length (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = smtp_connect (f);
  g_autofree char *line = g_strnfill (5000, 'x');
  g_autofree char *reply = NULL;
  guint code;

  ph_test_client_sendf (client, "MAIL FROM:<%s@example.org>\r\n", line);
  code = smtp_reply (client, &reply);
  g_assert_cmpuint (code, >=, 500);
  g_assert_cmpuint (code, <, 600);
  smtp_expect (client, "NOOP", 250);
  assert_others_served (f, FALSE);
}

static void
test_smtp_message_size (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = smtp_connect (f);
  g_autoptr(GString) big = g_string_new ("Subject: big\r\n\r\n");

  while (big->len < 8000)
    g_string_append (big, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
  /* announced too big: refused at MAIL */
  smtp_expect (client, "MAIL FROM:<x@remote.example> SIZE=100000", 552);
  /* not announced: refused at the end of data, the session goes on */
  smtp_expect (client, "MAIL FROM:<x@remote.example>", 250);
  smtp_expect (client, "RCPT TO:<alice@example.org>", 250);
  smtp_expect (client, "DATA", 354);
  ph_test_client_send (client, big->str, (gssize) big->len);
  smtp_expect (client, ".", 552);
  smtp_expect (client, "MAIL FROM:<x@remote.example>", 250);
  smtp_expect (client, "RCPT TO:<alice@example.org>", 250);
  smtp_expect (client, "DATA", 354);
  ph_test_client_send (client, "Subject: small\r\n\r\nsmall\r\n", -1);
  smtp_expect (client, ".", 250);
  assert_others_served (f, FALSE);
  imap_expect (f->bystander, "c", "NOOP", "OK");
}

static void
test_smtp_recipients (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = smtp_connect (f);

  smtp_expect (client, "MAIL FROM:<x@remote.example>", 250);
  smtp_expect (client, "RCPT TO:<alice@example.org>", 250);
  smtp_expect (client, "RCPT TO:<bob@example.org>", 250);
  smtp_expect (client, "RCPT TO:<carol@example.org>", 452);
  smtp_expect (client, "DATA", 354);
  ph_test_client_send (client, "Subject: two\r\n\r\ntwo recipients\r\n", -1);
  smtp_expect (client, ".", 250);
  assert_others_served (f, FALSE);
}

static void
test_smtp_bad_commands (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = smtp_connect (f);
  g_autofree char *last = NULL;
  guint code = 0;

  for (guint i = 0; i < 10 && code != 421; i++)
    {
      g_clear_pointer (&last, g_free);
      ph_test_client_send (client, "BOGUS\r\n", -1);
      code = smtp_reply (client, &last);
    }
  g_assert_cmpuint (code, ==, 421);
  g_assert_true (ph_test_client_wait_closed (client, 2000));
  assert_others_served (f, FALSE);
  {
    g_autoptr(PhTestClient) fresh = smtp_connect (f);

    smtp_expect (fresh, "NOOP", 250);
  }
}

/* [smtp] max_junk_commands=5: EHLO and four NOOPs fit, the sixth command
 * that moves no mail gets 421 and the close; an accepted message starts
 * the count over. */
static void
test_smtp_junk_commands (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = smtp_connect (f);   /* EHLO: 1 */
  g_autoptr(PhTestClient) sender = smtp_connect (f);

  for (guint i = 0; i < 4; i++)
    smtp_expect (client, "NOOP", 250);
  smtp_expect (client, "NOOP", 421);
  g_assert_true (ph_test_client_wait_closed (client, 2000));

  smtp_expect (sender, "NOOP", 250);
  smtp_expect (sender, "RSET", 250);
  smtp_expect (sender, "VRFY bob@example.org", 252);
  smtp_expect (sender, "MAIL FROM:<x@remote.example>", 250);
  smtp_expect (sender, "RCPT TO:<bob@example.org>", 250);
  smtp_expect (sender, "DATA", 354);
  ph_test_client_send (sender, "Subject: moves\r\n\r\nmail\r\n", -1);
  smtp_expect (sender, ".", 250);
  for (guint i = 0; i < 5; i++)
    smtp_expect (sender, "NOOP", 250);
  smtp_expect (sender, "HELP", 421);
  assert_others_served (f, TRUE);
  {
    g_autoptr(PhTestClient) fresh = smtp_connect (f);

    smtp_expect (fresh, "NOOP", 250);
  }
}

static void
test_auth_failures (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = imap_connect (f);
  g_autofree char *bye = NULL;

  imap_expect (client, "a", "LOGIN alice@example.org wrong", "NO");
  /* the second failure is the last: NO, then BYE and close */
  ph_test_client_send (client, "b LOGIN alice@example.org wrong\r\n", -1);
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);

      if (line == NULL)
        break;
      if (g_str_has_prefix (line, "* BYE"))
        bye = g_strdup (line);
    }
  g_assert_nonnull (bye);
  assert_others_served (f, TRUE);
}

/* ---- sessions per user ---- */

static PhTestClient *
imap_login_as (Fixture *f, const char *user)
{
  PhTestClient *client = imap_connect (f);
  g_autofree char *command = g_strdup_printf ("LOGIN %s pw", user);

  imap_expect (client, "l", command, "OK");
  return client;
}

static char *
sasl_plain (const char *user)
{
  g_autofree char *raw = g_strdup_printf ("%c%s%cpw", 0, user, 0);

  return g_base64_encode ((const guchar *) raw, strlen (user) + 4);
}

/* A POP3 login as @user; returns the reply to PASS. */
static char *
pop3_login (PhTestClient *client, const char *user)
{
  g_autofree char *ok = NULL;

  ph_test_client_sendf (client, "USER %s\r\n", user);
  ok = read_line_or_die (client);
  g_assert_true (g_str_has_prefix (ok, "+OK"));
  ph_test_client_send (client, "PASS pw\r\n", -1);
  return read_line_or_die (client);
}

/* [core] max_sessions_per_user=3, counted over IMAP, POP3 and SMTP
 * submission after authentication: the 4th login gets IMAP NO [LIMIT]
 * (RFC 5530), POP3 -ERR [IN-USE] (RFC 3206), SMTP 454 4.7.0 (RFC 4954,
 * RFC 3463), each saying why; the refused connections stay usable
 * (another user logs in on them), other users are not affected, and a
 * session that ends makes room. */
static void
test_sessions_per_user (Fixture *f, gconstpointer data)
{
  /* the bystander is alice's first session */
  g_autoptr(PhTestClient) imap2 = imap_login_as (f, "alice@example.org");
  g_autoptr(PhTestClient) pop3 = pop3_connect (f);
  g_autoptr(PhTestClient) imap4 = imap_connect (f);
  g_autoptr(PhTestClient) pop3b = pop3_connect (f);
  g_autoptr(PhTestClient) submission = ph_test_client_connect (f->server, "submission", FALSE);
  g_autofree char *pass = pop3_login (pop3, "alice@example.org");
  g_autofree char *refused = NULL;
  g_autofree char *auth_alice = sasl_plain ("alice@example.org");
  g_autofree char *auth_carol = sasl_plain ("carol@example.org");
  g_autofree char *auth_line = NULL;
  g_autofree char *auth_reply = NULL;

  g_assert_true (g_str_has_prefix (pass, "+OK"));   /* alice's 3rd */
  imap_expect (imap4, "a", "LOGIN alice@example.org pw",
               "NO [LIMIT] Too many sessions for this user.");
  imap_expect (imap4, "b", "LOGIN bob@example.org pw", "OK");
  imap_expect (imap4, "c", "SELECT INBOX", "OK");

  refused = pop3_login (pop3b, "alice@example.org");
  g_assert_cmpstr (refused, ==, "-ERR [IN-USE] Too many sessions for this user");
  g_free (pop3_login (pop3b, "carol@example.org"));

  g_assert_cmpuint (smtp_reply (submission, NULL), ==, 220);
  smtp_expect (submission, "EHLO limits.example", 250);
  g_assert_true (ph_test_client_sendf (submission, "AUTH PLAIN %s\r\n", auth_alice));
  g_assert_cmpuint (smtp_reply (submission, &auth_reply), ==, 454);
  g_assert_cmpstr (auth_reply, ==, "454 4.7.0 Too many sessions for this user");
  auth_line = g_strdup_printf ("AUTH PLAIN %s", auth_carol);
  smtp_expect (submission, auth_line, 235);

  assert_others_served (f, FALSE);
  {
    g_autoptr(PhTestClient) dave = imap_login_as (f, "dave@example.org");
  }
  /* one of alice's sessions ends: the next login fits */
  imap_expect (imap2, "z", "LOGOUT", "OK");
  g_clear_pointer (&imap2, ph_test_client_free);
  for (guint attempt = 0;; attempt++)
    {
      g_autoptr(PhTestClient) again = imap_connect (f);
      g_autofree char *reply = imap_command (again, "l", "LOGIN alice@example.org pw");

      if (g_str_has_prefix (reply, "l OK"))
        break;
      g_assert_true (g_str_has_prefix (reply, "l NO [LIMIT]"));
      g_assert_cmpuint (attempt, <, 100);
      g_usleep (20 * 1000);
    }
}

/* [core] max_sessions_per_user_ip=2: the same, per user and client
 * address (all of the test's clients come from 127.0.0.1). */
static void
test_sessions_per_user_ip (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) imap2 = imap_login_as (f, "alice@example.org");
  g_autoptr(PhTestClient) imap3 = imap_connect (f);
  g_autoptr(PhTestClient) bob = imap_login_as (f, "bob@example.org");
  g_autoptr(PhTestClient) bob2 = imap_login_as (f, "bob@example.org");
  g_autoptr(PhTestClient) pop3 = pop3_connect (f);
  g_autofree char *refused = pop3_login (pop3, "alice@example.org");

  imap_expect (imap3, "a", "LOGIN alice@example.org pw",
               "NO [LIMIT] Too many sessions for this user from this address.");
  g_assert_cmpstr (refused, ==, "-ERR [IN-USE] Too many sessions for this user from this address");
  imap_expect (imap3, "b", "LOGIN bob@example.org pw", "NO [LIMIT]");
  imap_expect (imap3, "c", "LOGIN carol@example.org pw", "OK");
  imap_expect (bob2, "d", "SELECT INBOX", "OK");
  assert_others_served (f, FALSE);
}

/* ---- outbound queue ---- */

/* Submission as alice, authenticated. */
static PhTestClient *
submission_login (Fixture *f)
{
  PhTestClient *client = ph_test_client_connect (f->server, "submission", FALSE);
  g_autofree char *auth = sasl_plain ("alice@example.org");
  g_autofree char *line = g_strdup_printf ("AUTH PLAIN %s", auth);

  g_assert_cmpuint (smtp_reply (client, NULL), ==, 220);
  smtp_expect (client, "EHLO limits.example", 250);
  smtp_expect (client, line, 235);
  return client;
}

/* One message from alice to @rcpt, @body_size bytes of body; returns the
 * reply code to the end of data (or to RCPT when that is refused). */
static guint
submit (PhTestClient *client, const char *rcpt, gsize body_size)
{
  g_autoptr(GString) text = g_string_new ("Subject: queued\r\n\r\n");
  g_autofree char *rcpt_line = g_strdup_printf ("RCPT TO:<%s>", rcpt);
  guint code;

  while (text->len < body_size)
    g_string_append (text, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
  smtp_expect (client, "MAIL FROM:<alice@example.org>", 250);
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", rcpt_line));
  code = smtp_reply (client, NULL);
  if (code != 250)
    {
      smtp_expect (client, "RSET", 250);
      return code;
    }
  smtp_expect (client, "DATA", 354);
  ph_test_client_send (client, text->str, (gssize) text->len);
  g_assert_true (ph_test_client_send (client, ".\r\n", -1));
  return smtp_reply (client, NULL);
}

/* [smtp] queue_max_messages=2 (the relay host refuses, so what is queued
 * stays): the third message to a remote address gets 452 4.3.1 at RCPT;
 * local delivery and the other protocols go on. */
static void
test_smtp_queue_messages (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = submission_login (f);

  g_assert_cmpuint (submit (client, "x@remote.example", 100), ==, 250);
  g_assert_cmpuint (submit (client, "y@remote.example", 100), ==, 250);
  g_assert_cmpuint (submit (client, "z@remote.example", 100), ==, 452);
  g_assert_cmpuint (submit (client, "bob@example.org", 100), ==, 250);
  smtp_expect (client, "NOOP", 250);
  assert_others_served (f, TRUE);
}

/* [smtp] queue_max_size=3k: a message that would take the queue over it
 * passes RCPT (there is room) and gets 452 4.3.1 after its data; nothing
 * of it stays in the queue, a smaller one still fits. */
static void
test_smtp_queue_size (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = submission_login (f);
  g_autofree char *queue_dir = g_build_filename (ph_test_server_get_state_dir (f->server),
                                                 "smtp-queue", NULL);
  g_autoptr(GDir) dir = NULL;
  const char *name;
  guint files = 0;

  g_assert_cmpuint (submit (client, "x@remote.example", 2000), ==, 250);
  g_assert_cmpuint (submit (client, "y@remote.example", 2000), ==, 452);
  g_assert_cmpuint (submit (client, "z@remote.example", 200), ==, 250);
  g_assert_cmpuint (submit (client, "bob@example.org", 2000), ==, 250);
  smtp_expect (client, "NOOP", 250);
  dir = g_dir_open (queue_dir, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".msg"))
      files++;
  g_assert_cmpuint (files, ==, 2);
  assert_others_served (f, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, config, func) \
  g_test_add (path, Fixture, config, fixture_set_up, func, fixture_tear_down)
  ADD ("/reliability/limits/connections-per-ip", "[core]\nmax_connections_per_ip=4\n",
       test_connections_per_ip);
  ADD ("/reliability/limits/connections-total", "[core]\nmax_connections=2\n", test_connections_total);
  ADD ("/reliability/limits/imap-line-length", "[imap4]\nmax_line_length=1k\n", test_imap_line_length);
  ADD ("/reliability/limits/imap-literal-size", "[imap4]\nmax_literal_size=1k\n", test_imap_literal_size);
  ADD ("/reliability/limits/imap-append-size", "[imap4]\nappend_limit=2k\n", test_imap_append_size);
  ADD ("/reliability/limits/pop3-line-length", NULL, test_pop3_line_length);
  ADD ("/reliability/limits/smtp-line-length", NULL, test_smtp_line_length);
  ADD ("/reliability/limits/smtp-message-size", "[smtp]\nmax_message_size=4k\n", test_smtp_message_size);
  ADD ("/reliability/limits/smtp-recipients", "[smtp]\nmax_recipients=2\n", test_smtp_recipients);
  ADD ("/reliability/limits/smtp-bad-commands", "[smtp]\nmax_bad_commands=3\n", test_smtp_bad_commands);
  ADD ("/reliability/limits/smtp-junk-commands", "[smtp]\nmax_junk_commands=5\n",
       test_smtp_junk_commands);
  ADD ("/reliability/limits/auth-failures", "[auth]\nmax_failures=2\n", test_auth_failures);
  ADD ("/reliability/limits/sessions-per-user",
       "[core]\nmax_sessions_per_user=3\n[smtp]\nsubmission=127.0.0.1:0\n", test_sessions_per_user);
  ADD ("/reliability/limits/smtp-queue-messages",
       "[smtp]\nsubmission=127.0.0.1:0\nrelayhost=127.0.0.1:1\nretry_min=1h\nqueue_max_messages=2\n",
       test_smtp_queue_messages);
  ADD ("/reliability/limits/smtp-queue-size",
       "[smtp]\nsubmission=127.0.0.1:0\nrelayhost=127.0.0.1:1\nretry_min=1h\nqueue_max_size=3k\n",
       test_smtp_queue_size);
  ADD ("/reliability/limits/sessions-per-user-ip", "[core]\nmax_sessions_per_user_ip=2\n",
       test_sessions_per_user_ip);
#undef ADD
  return g_test_run ();
}
