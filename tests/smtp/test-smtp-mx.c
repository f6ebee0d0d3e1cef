/* The MX role in the real daemon: local delivery into INBOX, relay
 * refusal in every classic form, ESMTP limits, pipelining, BDAT, SMTP
 * smuggling and STARTTLS injection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <string.h>

/* One daemon for the cases that only look at replies (they leave no
 * state behind that another case could see); cases that read a mailbox
 * or need other settings start their own. */
static PhTestServer *shared_server;

static PhTestClient *
shared_connect (void)
{
  if (shared_server == NULL)
    shared_server = smtp_test_server_new ("[smtp]\nmax_message_size=1M\nmax_recipients=2\n");
  return smtp_test_connect (shared_server, "smtp");
}

static void
send_simple_message (PhTestClient *client, const char *from, const char *const *rcpts,
                     const char *body)
{
  g_autofree char *mail = g_strdup_printf ("MAIL FROM:<%s>", from);
  g_free (smtp_test_expect (client, mail, 250));
  for (guint i = 0; rcpts[i] != NULL; i++)
    {
      g_autofree char *rcpt = g_strdup_printf ("RCPT TO:<%s>", rcpts[i]);
      g_free (smtp_test_expect (client, rcpt, 250));
    }
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, body, -1));
  g_free (smtp_test_expect (client, ".", 250));
}

static void
test_ehlo (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  g_autofree char *ehlo = smtp_test_ehlo (client);
  g_autofree char *helo = smtp_test_expect (client, "HELO client.example", 250);
  g_autofree char *noop = smtp_test_expect (client, "NOOP", 250);
  g_autofree char *vrfy = smtp_test_expect (client, "VRFY alice", 252);
  g_autofree char *rset = smtp_test_expect (client, "RSET", 250);
  g_autofree char *quit = smtp_test_expect (client, "QUIT", 221);

  g_assert_true (g_str_has_prefix (ehlo, "250-mx.example.org"));
  g_assert_nonnull (strstr (ehlo, "250-SIZE 1048576\n"));
  g_assert_nonnull (strstr (ehlo, "250-PIPELINING\n"));
  g_assert_nonnull (strstr (ehlo, "250-8BITMIME\n"));
  g_assert_nonnull (strstr (ehlo, "250-CHUNKING\n"));
  g_assert_nonnull (strstr (ehlo, "250-BINARYMIME\n"));
  g_assert_nonnull (strstr (ehlo, "250-SMTPUTF8\n"));
  g_assert_nonnull (strstr (ehlo, "ENHANCEDSTATUSCODES"));
  g_assert_nonnull (strstr (ehlo, "STARTTLS"));
  g_assert_null (strstr (ehlo, "AUTH"));
  g_assert_cmpstr (helo, ==, "250 mx.example.org");
  g_assert_cmpstr (noop, ==, "250 2.0.0 Ok");
  g_assert_true (g_str_has_prefix (vrfy, "252 2.5.0 "));
  g_assert_cmpstr (rset, ==, "250 2.0.0 Ok");
  g_assert_true (g_str_has_prefix (quit, "221 2.0.0 "));
  g_assert_true (ph_test_client_wait_closed (client, 2000));
}

static void
test_deliver_local (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  const char *rcpts[] = { "Alice@EXAMPLE.org", "bob@example.org", NULL };
  g_autoptr(GPtrArray) alice = NULL;
  g_autoptr(GPtrArray) bob = NULL;
  GBytes *msg;

  g_free (smtp_test_ehlo (client));
  send_simple_message (client, "sender@remote.example", rcpts,
                       "Subject: hello\r\n\r\nline one\r\n..dot-stuffed\r\n");
  g_free (smtp_test_expect (client, "QUIT", 221));

  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  alice = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  bob = smtp_test_read_mailbox (server, "bob@example.org", "INBOX");
  g_assert_cmpuint (alice->len, ==, 1);
  g_assert_cmpuint (bob->len, ==, 1);
  msg = alice->pdata[0];
  g_assert_true (smtp_test_bytes_contain (msg, "Return-Path: <sender@remote.example>\r\n"));
  g_assert_true (smtp_test_bytes_contain (msg, "Received: from client.example"));
  g_assert_true (smtp_test_bytes_contain (msg, "by mx.example.org"));
  g_assert_true (smtp_test_bytes_contain (msg, "\r\nSubject: hello\r\n\r\nline one\r\n.dot-stuffed\r\n"));
  g_assert_false (smtp_test_bytes_contain (msg, "..dot"));
  g_assert_true (g_bytes_equal (alice->pdata[0], bob->pdata[0]));
}

static void
test_unknown_user (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  g_autofree char *unknown = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<>", 250));
  unknown = smtp_test_expect (client, "RCPT TO:<nobody@example.org>", 550);
  g_assert_true (g_str_has_prefix (unknown, "550 5.1.1 "));
  /* no valid recipient: DATA is refused */
  g_free (smtp_test_expect (client, "DATA", 554));
}

static void
test_relay_denied (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  static const struct { const char *rcpt; guint code; const char *enhanced; } cases[] = {
    { "<victim@other.example>", 554, "5.7.1" },
    { "<alice%victim.example@example.org>", 550, "5.1.1" },
    { "<alice!victim.example@example.org>", 550, "5.1.1" },
    { "<@example.org:victim@other.example>", 554, "5.7.1" },
    { "<@relay.example,@example.org:victim@other.example>", 554, "5.7.1" },
    { "<\"victim@other.example\"@example.org>", 554, "5.7.1" },
    { "<victim@other.example@example.org>", 501, "5.1.3" },
    { "<alice@127.0.0.1>", 554, "5.7.1" },
    { "<alice@[127.0.0.1]>", 554, "5.7.1" },
    { "<victim@example.org.other.example>", 554, "5.7.1" },
  };

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<spammer@other.example>", 250));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *line = g_strdup_printf ("RCPT TO:%s", cases[i].rcpt);
      g_autofree char *reply = NULL;
      g_autofree char *prefix = g_strdup_printf ("%u %s ", cases[i].code, cases[i].enhanced);

      g_assert_cmpuint (smtp_test_command (client, line, &reply), ==, cases[i].code);
      if (!g_str_has_prefix (reply, prefix))
        g_error ("%s: %s", line, reply);
    }
  /* a source route to a local user is local delivery, not relaying */
  g_free (smtp_test_expect (client, "RCPT TO:<@other.example:alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RSET", 250));
}

static void
test_auth_refused (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  g_autofree char *reply = NULL;

  g_free (smtp_test_ehlo (client));
  reply = smtp_test_expect (client, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXB3", 503);
  g_assert_true (g_str_has_prefix (reply, "503 5.5.1 "));
  /* and still no relaying */
  g_free (smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<victim@other.example>", 554));
}

static void
test_size (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[smtp]\nmax_message_size=1000\n");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  g_autofree char *at_mail = NULL;
  g_autofree char *in_data = NULL;
  g_autoptr(GString) big = g_string_new ("Subject: big\r\n\r\n");
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_ehlo (client));
  at_mail = smtp_test_expect (client, "MAIL FROM:<a@other.example> SIZE=1001", 552);
  g_assert_true (g_str_has_prefix (at_mail, "552 5.3.4 "));
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example> SIZE=1000", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  for (int i = 0; i < 40; i++)
    g_string_append (big, "0123456789012345678901234567890123456789\r\n");
  g_assert_true (ph_test_client_send (client, big->str, big->len));
  in_data = smtp_test_expect (client, ".", 552);
  g_assert_true (g_str_has_prefix (in_data, "552 5.3.4 "));
  /* the session goes on */
  g_free (smtp_test_expect (client, "NOOP", 250));
  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  g_assert_cmpuint (inbox->len, ==, 0);
}

/* "\n.\n" and "\r.\r" never end DATA; a message holding them is refused,
 * and what follows them is data, never a command. */
static void
test_smuggling (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  static const char *const separators[] = { "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n" };
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_ehlo (client));
  for (gsize i = 0; i < G_N_ELEMENTS (separators); i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: x\r\n\r\ntext%s"
                                               "MAIL FROM:<evil@other.example>\r\n"
                                               "RCPT TO:<bob@example.org>\r\n"
                                               "DATA\r\n", separators[i]);
      g_autofree char *reply = NULL;

      g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 250));
      g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
      g_free (smtp_test_expect (client, "DATA", 354));
      g_assert_true (ph_test_client_send (client, body, -1));
      /* nothing is answered until the real end of data */
      g_assert_null (ph_test_client_read_line_timeout (client, 200));
      reply = smtp_test_expect (client, ".", 554);
      g_assert_true (g_str_has_prefix (reply, "554 5.5.2 "));
    }
  /* a bare LF line end alone is normalised and accepted */
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: lf\n\nbare lf line\nend\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "Subject: lf\r\n\r\nbare lf line\r\nend\r\n"));
  g_assert_cmpuint (smtp_test_read_mailbox (server, "bob@example.org", "INBOX")->len, ==, 0);
}

static void
test_pipelining (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  g_autoptr(GString) batch = g_string_new ("EHLO client.example\r\nMAIL FROM:<p@other.example>\r\n");
  g_autoptr(GPtrArray) inbox = NULL;
  g_autofree char *ehlo = NULL;

  for (int i = 0; i < 100; i++)
    g_string_append_printf (batch, "RCPT TO:<u%d@example.org>\r\n", i);
  g_string_append (batch, "RCPT TO:<nobody@example.org>\r\nDATA\r\n");
  g_assert_true (ph_test_client_send (client, batch->str, batch->len));
  g_assert_cmpuint (smtp_test_read_reply (client, &ehlo), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  for (int i = 0; i < 100; i++)
    g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 550);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 354);
  g_assert_true (ph_test_client_send (client, "Subject: many\r\n\r\nhi\r\n.\r\nQUIT\r\n", -1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 221);

  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "u99@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_cmpuint (smtp_test_read_mailbox (server, "u0@example.org", "INBOX")->len, ==, 1);
  g_assert_cmpuint (smtp_test_read_mailbox (server, "u42@example.org", "INBOX")->len, ==, 1);
}

static void
test_bdat_binary (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  static const char part1[] = "Subject: bin\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Transfer-Encoding: binary\r\n\r\n\x01\x00\xff\r.\r";
  static const char part2[] = "\n.\n\x00\x00 end\r\n";
  static const char canonical[] = "\r\n\r\n\x01\x00\xff\r.\r\n.\r\n\x00\x00 end\r\n";
  g_autoptr(GPtrArray) inbox = NULL;
  g_autofree char *cmd = NULL;
  gsize size;
  const guint8 *stored;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<b@other.example> BODY=BINARYMIME", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  /* DATA is not allowed for BINARYMIME */
  g_free (smtp_test_expect (client, "DATA", 503));
  cmd = g_strdup_printf ("BDAT %zu\r\n", sizeof part1 - 1);
  g_assert_true (ph_test_client_send (client, cmd, -1));
  g_assert_true (ph_test_client_send (client, part1, sizeof part1 - 1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);
  g_free (cmd);
  cmd = g_strdup_printf ("BDAT %zu LAST\r\n", sizeof part2 - 1);
  g_assert_true (ph_test_client_send (client, cmd, -1));
  g_assert_true (ph_test_client_send (client, part2, sizeof part2 - 1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);

  /* a plain BDAT transaction (pipelined) with an empty LAST chunk */
  g_assert_true (ph_test_client_send (client, "MAIL FROM:<b@other.example>\r\n"
                                      "RCPT TO:<alice@example.org>\r\n"
                                      "BDAT 18\r\nSubject: c\r\n\r\nok\r\n"
                                      "BDAT 0 LAST\r\n", -1));
  for (int i = 0; i < 4; i++)
    g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 250);

  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  g_assert_cmpuint (inbox->len, ==, 2);
  /* stored in canonical form: NUL, 8-bit and bare CR bytes untouched, the
   * one bare LF ended as CRLF (posthorn-message.h) */
  stored = g_bytes_get_data (inbox->pdata[0], &size);
  g_assert_cmpuint (size, >, sizeof canonical - 1);
  g_assert_cmpmem (stored + size - (sizeof canonical - 1), sizeof canonical - 1,
                   canonical, sizeof canonical - 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[1], "Subject: c\r\n\r\nok\r\n"));
}

static void
test_too_many_errors (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[smtp]\nmax_bad_commands=3\n");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  g_autofree char *last = NULL;

  for (int i = 0; i < 3; i++)
    g_assert_cmpuint (smtp_test_command (client, "FOO", NULL), ==, 502);
  /* the fourth error is answered, then the session ends */
  g_assert_cmpuint (smtp_test_command (client, "BAR", NULL), ==, 502);
  g_assert_cmpuint (smtp_test_read_reply (client, &last), ==, 421);
  g_assert_true (g_str_has_prefix (last, "421 4.7.0 "));
  g_assert_true (ph_test_client_wait_closed (client, 2000));
}

static void
test_too_many_recipients (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  g_autofree char *reply = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<u1@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<u2@example.org>", 250));
  reply = smtp_test_expect (client, "RCPT TO:<u3@example.org>", 452);
  g_assert_true (g_str_has_prefix (reply, "452 4.5.3 "));
}

static void
test_sequence (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();

  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 503));
  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 503));
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 250));
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 503));
  g_free (smtp_test_expect (client, "RSET", 250));
  g_free (smtp_test_expect (client, "DATA", 503));
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example> FOO=bar", 555));
  g_free (smtp_test_expect (client, "MAIL FROM:a@other.example", 501));
}

static void
test_smtputf8 (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<grüße@other.example>", 553));
  g_free (smtp_test_expect (client, "MAIL FROM:<grüße@other.example> SMTPUTF8", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<jörg@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: Grüße\r\n\r\nHallo Jörg\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "jörg@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with UTF8SMTP"));
}

/* Commands sent after STARTTLS in the same packet are discarded. */
static void
test_starttls_injection (void)
{
  g_autoptr(PhTestClient) client = shared_connect ();
  g_autoptr(GError) error = NULL;
  g_autofree char *ehlo = NULL;

  g_free (smtp_test_ehlo (client));
  g_assert_true (ph_test_client_send (client, "STARTTLS\r\nMAIL FROM:<evil@other.example>\r\n", -1));
  g_assert_cmpuint (smtp_test_read_reply (client, NULL), ==, 220);
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  /* the injected MAIL was not executed: the session starts afresh */
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 503));
  ehlo = smtp_test_ehlo (client);
  g_assert_null (strstr (ehlo, "STARTTLS"));
  g_free (smtp_test_expect (client, "MAIL FROM:<a@other.example>", 250));
  g_free (smtp_test_expect (client, "STARTTLS", 503));
}

/* GET /metrics from the metrics plugin on @port; returns the body. */
static char *
fetch_metrics (guint16 port)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  const char *request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  g_autoptr(GByteArray) response = g_byte_array_new ();
  guint8 buffer[4096];
  gssize n;
  const char *body;

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

/* What the smtp plugin reports: messages received and delivered as
 * counters, the outbound queue as plugin properties (D-Bus object
 * /org/posthorn/Posthorn1/plugins/smtp, metrics gauges). */
static void
test_status_counters (void)
{
  g_autoptr(PhTestServer) server =
    smtp_test_server_new ("[core]\nplugins=auth-passwd-file;storage-sqlite;smtp;metrics\n"
                          "[metrics]\nlisten=127.0.0.1:0\n");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  guint16 port = ph_test_server_get_port (server, "metrics", FALSE);
  const char *rcpts[] = { "alice@example.org", "bob@example.org", NULL };
  g_autofree char *metrics = NULL;

  g_assert_cmpuint (port, !=, 0);
  g_free (smtp_test_ehlo (client));
  send_simple_message (client, "sender@remote.example", rcpts, "Subject: count me\r\n\r\nhi\r\n");
  g_free (smtp_test_expect (client, "QUIT", 221));
  g_clear_pointer (&client, ph_test_client_free);

  metrics = fetch_metrics (port);
  g_assert_nonnull (strstr (metrics, "posthorn_messages_received_total{service=\"smtp\"} 1\n"));
  g_assert_nonnull (strstr (metrics, "posthorn_messages_delivered_total{service=\"smtp\"} 2\n"));
  g_assert_nonnull (strstr (metrics, "posthorn_queue_length{service=\"smtp\"} 0\n"));
  g_assert_nonnull (strstr (metrics, "posthorn_queue_oldest_age{service=\"smtp\"} 0\n"));
}

int
main (int argc, char **argv)
{
  int status;

  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/mx/ehlo-and-simple-commands", test_ehlo);
  g_test_add_func ("/smtp/mx/deliver-local", test_deliver_local);
  g_test_add_func ("/smtp/mx/unknown-user", test_unknown_user);
  g_test_add_func ("/smtp/mx/relay-denied", test_relay_denied);
  g_test_add_func ("/smtp/mx/auth-refused", test_auth_refused);
  g_test_add_func ("/smtp/mx/size", test_size);
  g_test_add_func ("/smtp/mx/smuggling", test_smuggling);
  g_test_add_func ("/smtp/mx/pipelining-100-recipients", test_pipelining);
  g_test_add_func ("/smtp/mx/bdat-binary", test_bdat_binary);
  g_test_add_func ("/smtp/mx/too-many-errors", test_too_many_errors);
  g_test_add_func ("/smtp/mx/too-many-recipients", test_too_many_recipients);
  g_test_add_func ("/smtp/mx/command-sequence", test_sequence);
  g_test_add_func ("/smtp/mx/smtputf8", test_smtputf8);
  g_test_add_func ("/smtp/mx/starttls-injection", test_starttls_injection);
  g_test_add_func ("/smtp/mx/status-counters", test_status_counters);
  status = g_test_run ();
  g_clear_pointer (&shared_server, ph_test_server_free);
  return status;
}
