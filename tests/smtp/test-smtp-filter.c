/* The filter ABI (posthorn-filter.h) through the real daemon: the chain
 * at MAIL, RCPT and end of data with tests/smtp/plugins/test-filter.c in
 * front of the real filter-policy plugin; verdicts, replies, timeouts,
 * header fields added to the stored message, the policy rules.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <string.h>

#define FILTER_PLUGINS "auth-passwd-file;storage-sqlite;smtp;test-filter;filter-policy"

static PhTestServer *shared_server;

static PhTestServer *
filter_server_new (const char *action)
{
  PhTestServer *server = ph_test_server_create (FILTER_PLUGINS);
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (users, "alice@example.org:{PLAIN}alice-pw\n"
                                             "bob@example.org:{PLAIN}bob-pw\n"
                                             "u13@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org;example.net\n"
                            "listen=127.0.0.1:0\nsubmission=127.0.0.1:0\nfilter_timeout=1s\n"
                            "[filter-policy]\nlocal_domains=example.org;example.net\n"
                            "local_sender_action=%s\n"
                            "sender_size_limits=small.example:2k;*:1M\n",
                            users, action);
  ph_test_server_add_plugin_dir (server, TEST_FILTER_PLUGIN_DIR);
  ph_test_server_append_config (server, config);
  ph_test_server_start_or_die (server);
  return server;
}

/* One daemon for every case that only looks at replies. */
static PhTestClient *
shared_connect (const char *service)
{
  if (shared_server == NULL)
    shared_server = filter_server_new ("reject");
  return smtp_test_connect (shared_server, service);
}

static void
expect_prefix (PhTestClient *client, const char *line, guint code, const char *prefix)
{
  g_autofree char *reply = smtp_test_expect (client, line, code);

  if (!g_str_has_prefix (reply, prefix))
    g_error ("'%s': expected '%s...', got '%s'", line, prefix, reply);
}

static void
send_data (PhTestClient *client, const char *message, guint code, const char *prefix)
{
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, message, -1));
  expect_prefix (client, ".", code, prefix);
}

#define GOOD_HEADERS "From: Remote <someone@remote.example>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"

static void
test_verdicts_at_mail (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");
  gint64 start;

  g_free (smtp_test_ehlo (client));
  expect_prefix (client, "MAIL FROM:<tempfail@remote.example>", 451, "451 4.7.9 Come back later");
  /* a reply that does not fit the verdict: the default one */
  expect_prefix (client, "MAIL FROM:<badreply@remote.example>", 550,
                 "550 5.7.1 Sender rejected by policy");
  /* no enhanced code from the filter: the session adds one of its class */
  expect_prefix (client, "MAIL FROM:<noenh@remote.example>", 554, "554 5.7.1 No enhanced code here");
  /* an answer after a round trip through the main loop */
  expect_prefix (client, "MAIL FROM:<slow@remote.example>", 250, "250 2.1.0");
  g_free (smtp_test_expect (client, "RSET", 250));
  /* a filter that never answers: tempfail after [smtp] filter_timeout */
  start = g_get_monotonic_time ();
  expect_prefix (client, "MAIL FROM:<hang@remote.example>", 451, "451 4.7.1 Sender check timed out");
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);
  /* the session goes on */
  expect_prefix (client, "MAIL FROM:<someone@remote.example>", 250, "250 2.1.0");
}

/* The client goes away while a filter has not answered: the chain ends
 * at once (the filter's cancellable fires), and the daemon serves on. */
static void
test_client_gone_while_filtering (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");
  g_autoptr(PhTestClient) next = NULL;
  g_autofree char *log = NULL;

  g_free (smtp_test_ehlo (client));
  g_assert_true (ph_test_client_send (client, "MAIL FROM:<hang@remote.example>\r\n", -1));
  g_usleep (100 * 1000);
  g_clear_pointer (&client, ph_test_client_free);
  next = shared_connect ("smtp");
  g_free (smtp_test_ehlo (next));
  expect_prefix (next, "MAIL FROM:<someone@remote.example>", 250, "250 2.1.0");
  g_free (smtp_test_expect (next, "QUIT", 221));
  g_assert_true (ph_test_server_is_running (shared_server));
  log = ph_test_server_get_log (shared_server);
  g_assert_null (strstr (log, "CRITICAL"));
}

static void
test_verdict_at_rcpt (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<someone@remote.example>", 250));
  expect_prefix (client, "RCPT TO:<u13@example.org>", 550, "550 5.7.1 u13 is refused by test-filter");
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  /* unknown users are still refused before the filters are asked */
  expect_prefix (client, "RCPT TO:<nobody@example.org>", 550, "550 5.1.1 ");
  send_data (client, "Subject: hi\r\n" GOOD_HEADERS "\r\nbody\r\n", 250, "250 2.0.0");
}

/* The first verdict other than ACCEPT wins: test-filter comes before
 * filter-policy in [core] plugins, so its refusal is the one sent even
 * though the message also lacks a Date field. */
static void
test_first_refusal_wins (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<someone@remote.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  send_data (client, "Subject: reject me\r\nFrom: <someone@remote.example>\r\n\r\nx\r\n", 554,
             "554 5.7.0 Content refused");
  /* and when test-filter accepts, filter-policy's refusal comes through */
  g_free (smtp_test_expect (client, "MAIL FROM:<someone@remote.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  send_data (client, "Subject: hi\r\nFrom: <someone@remote.example>\r\n\r\nx\r\n", 550,
             "550 5.6.0 Message lacks a Date header field");
}

static void
test_pipelined_with_filters (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");
  const char *batch = "EHLO client.example\r\nMAIL FROM:<slow@remote.example>\r\n"
                      "RCPT TO:<u13@example.org>\r\nRCPT TO:<alice@example.org>\r\n"
                      "RCPT TO:<bob@example.org>\r\nDATA\r\n";

  g_assert_true (ph_test_client_send (client, batch, -1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 550);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 354);
  g_assert_true (ph_test_client_send (client, "Subject: p\r\n" GOOD_HEADERS "\r\nx\r\n.\r\nQUIT\r\n", -1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 221);
}

/* filter-policy: a local domain in MAIL FROM or From: needs AUTH on the
 * MX; submission with AUTH may use it. */
static void
test_policy_spoofing (void)
{
  g_autoptr(PhTestClient) mx = shared_connect ("smtp");
  g_autoptr(PhTestClient) sub = shared_connect ("submission");

  g_free (smtp_test_ehlo (mx));
  expect_prefix (mx, "MAIL FROM:<alice@example.org>", 550,
                 "550 5.7.1 Sender address in local domain example.org needs authentication");
  expect_prefix (mx, "MAIL FROM:<alice@EXAMPLE.NET>", 550, "550 5.7.1 ");
  /* the null sender (bounces) is fine */
  g_free (smtp_test_expect (mx, "MAIL FROM:<>", 250));
  g_free (smtp_test_expect (mx, "RCPT TO:<alice@example.org>", 250));
  send_data (mx, "From: Alice <alice@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n",
             550, "550 5.7.1 From: address in local domain example.org needs authentication");

  g_free (smtp_test_ehlo (sub));
  g_free (smtp_test_expect (sub, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3", 235));
  g_free (smtp_test_expect (sub, "MAIL FROM:<alice@example.org>", 250));
  g_free (smtp_test_expect (sub, "RCPT TO:<bob@example.org>", 250));
  send_data (sub, "From: Alice <alice@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n",
             250, "250 2.0.0");
}

static void
test_policy_sizes (void)
{
  g_autoptr(PhTestClient) client = shared_connect ("smtp");
  g_autoptr(GString) big = g_string_new ("Subject: big\r\n" GOOD_HEADERS "\r\n");

  for (int i = 0; i < 60; i++)
    g_string_append (big, "0123456789012345678901234567890123456789\r\n");
  g_free (smtp_test_ehlo (client));
  expect_prefix (client, "MAIL FROM:<a@small.example> SIZE=4000", 552,
                 "552 5.3.4 Message too big for sender domain small.example (max 2048)");
  expect_prefix (client, "MAIL FROM:<a@other.example> SIZE=2000000", 552,
                 "552 5.3.4 Message too big for sender domain other.example (max 1048576)");
  /* without SIZE= the limit applies at the end of data */
  g_free (smtp_test_expect (client, "MAIL FROM:<a@Small.Example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  send_data (client, big->str, 552, "552 5.3.4 Message too big for sender domain Small.Example");
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  send_data (client, big->str, 250, "250 2.0.0");
}

/* With local_sender_action=tag nothing is refused; the stored message
 * carries every filter's fields, in chain order, between Return-Path:
 * and Received:. */
static void
test_headers_added (void)
{
  g_autoptr(PhTestServer) server = filter_server_new ("tag");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  static const char body[] = "From: Alice <alice@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                             "Subject: tagged\r\n\r\nhello\r\n";
  g_autoptr(GPtrArray) inbox = NULL;
  g_autoptr(GPtrArray) bob = NULL;
  g_autofree char *data = NULL;
  gsize size;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<bob@example.org>", 250));
  send_data (client, body, 250, "250 2.0.0");
  g_free (smtp_test_expect (client, "QUIT", 221));

  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  bob = smtp_test_read_mailbox (server, "bob@example.org", "INBOX");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_cmpuint (bob->len, ==, 1);
  g_assert_true (g_bytes_equal (inbox->pdata[0], bob->pdata[0]));
  g_bytes_get_data (inbox->pdata[0], &size);
  data = g_strndup (g_bytes_get_data (inbox->pdata[0], NULL), size);
  g_assert_cmpuint (size, ==, strlen (data));
  g_assert_true (g_str_has_prefix (data,
    "Return-Path: <alice@example.org>\r\n"
    "X-Test-Filter-Invalid: refused\r\n"
    "X-Test-Filter: rcpts=2 helo=client.example subject=tagged\r\n"
    "X-Posthorn-Spoofed: envelope sender in local domain example.org without authentication\r\n"
    "X-Posthorn-Policy: pass (service=smtp; authenticated=no; tls=no)\r\n"
    "Received: from client.example"));
  g_assert_false (smtp_test_bytes_contain (inbox->pdata[0], "Injected"));
  g_assert_true (g_str_has_suffix (data, body));
}

int
main (int argc, char **argv)
{
  int status;

  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/filter/verdicts-at-mail", test_verdicts_at_mail);
  g_test_add_func ("/smtp/filter/client-gone-while-filtering", test_client_gone_while_filtering);
  g_test_add_func ("/smtp/filter/verdict-at-rcpt", test_verdict_at_rcpt);
  g_test_add_func ("/smtp/filter/first-refusal-wins", test_first_refusal_wins);
  g_test_add_func ("/smtp/filter/pipelined", test_pipelined_with_filters);
  g_test_add_func ("/smtp/filter/policy/spoofing", test_policy_spoofing);
  g_test_add_func ("/smtp/filter/policy/sizes", test_policy_sizes);
  g_test_add_func ("/smtp/filter/headers-added", test_headers_added);
  status = g_test_run ();
  g_clear_pointer (&shared_server, ph_test_server_free);
  return status;
}
