/* Submission and LMTP in the real daemon: AUTH before MAIL, the sender
 * check, SASL mechanisms, LMTP per-recipient replies.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <string.h>

/* "\0alice@example.org\0alice-pw" */
static char *
plain_b64 (const char *user, const char *password)
{
  gsize ulen = strlen (user), plen = strlen (password);
  g_autofree char *raw = g_malloc (ulen + plen + 2);

  raw[0] = '\0';
  memcpy (raw + 1, user, ulen);
  raw[1 + ulen] = '\0';
  memcpy (raw + 2 + ulen, password, plen);
  return g_base64_encode ((const guchar *) raw, ulen + plen + 2);
}

static void
auth_plain (PhTestClient *client, const char *user, const char *password, guint code)
{
  g_autofree char *b64 = plain_b64 (user, password);
  g_autofree char *line = g_strdup_printf ("AUTH PLAIN %s", b64);

  g_free (smtp_test_expect (client, line, code));
}

static void
test_auth_required (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  g_autofree char *ehlo = smtp_test_ehlo (client);
  g_autofree char *refused = smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 530);

  g_assert_nonnull (strstr (ehlo, "\n250 AUTH "));
  g_assert_nonnull (strstr (ehlo, "PLAIN"));
  g_assert_true (g_str_has_prefix (refused, "530 5.7.0 "));
  auth_plain (client, "alice@example.org", "wrong", 535);
  g_free (smtp_test_expect (client, "AUTH FOO", 504));
  auth_plain (client, "alice@example.org", "alice-pw", 235);
  g_free (smtp_test_expect (client, "AUTH PLAIN", 503));
  g_free (smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 250));
}

static void
test_auth_login_and_cancel (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  g_autofree char *user = g_base64_encode ((const guchar *) "bob@example.org", 15);
  g_autofree char *pass = g_base64_encode ((const guchar *) "bob-pw", 6);
  g_autofree char *ehlo = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "AUTH LOGIN", 334));
  g_free (smtp_test_expect (client, "*", 501));
  g_free (smtp_test_expect (client, "AUTH LOGIN", 334));
  g_free (smtp_test_expect (client, user, 334));
  g_free (smtp_test_expect (client, pass, 235));
  /* no AUTH advertised once authenticated */
  ehlo = smtp_test_ehlo (client);
  g_assert_null (strstr (ehlo, "AUTH"));
}

static void
test_sender_mismatch (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  g_autofree char *reply = NULL;

  g_free (smtp_test_ehlo (client));
  auth_plain (client, "alice@example.org", "alice-pw", 235);
  reply = smtp_test_expect (client, "MAIL FROM:<bob@example.org>", 553);
  g_assert_true (g_str_has_prefix (reply, "553 5.7.1 "));
  g_free (smtp_test_expect (client, "MAIL FROM:<>", 553));
  g_free (smtp_test_expect (client, "MAIL FROM:<ALICE@Example.ORG>", 250));
}

static void
test_sender_mismatch_allowed (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[smtp]\nallow_sender_mismatch=true\n");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  const char *rcpt = "RCPT TO:<bob@example.org>";
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_ehlo (client));
  auth_plain (client, "alice@example.org", "alice-pw", 235);
  g_free (smtp_test_expect (client, "MAIL FROM:<newsletter@example.org>", 250));
  g_free (smtp_test_expect (client, rcpt, 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: from alice\r\n\r\nhi bob\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "Return-Path: <newsletter@example.org>"));
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with ESMTPA"));
}

static void
test_submission_starttls (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  g_autoptr(GError) error = NULL;
  g_autofree char *ehlo = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "STARTTLS", 220));
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  ehlo = smtp_test_ehlo (client);
  g_assert_nonnull (strstr (ehlo, "250 AUTH PLAIN LOGIN"));
  auth_plain (client, "alice@example.org", "alice-pw", 235);
  g_free (smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<bob@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: tls\r\n\r\nx\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  {
    /* our side closes first: the daemon need not wait for it */
    g_clear_pointer (&client, ph_test_client_free);
    g_autoptr(GPtrArray) inbox = smtp_test_stop_and_read_inbox (server, "bob@example.org");
    g_assert_cmpuint (inbox->len, ==, 1);
    g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with ESMTPSA"));
  }
}

static void
test_submission_implicit_tls (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[smtp]\nsubmission_tls=127.0.0.1:0\n");
  g_autoptr(PhTestClient) client = ph_test_client_connect (server, "submission", TRUE);
  g_autofree char *greeting = NULL;
  g_autofree char *ehlo = NULL;

  g_assert_cmpuint (smtp_test_read_reply (client, &greeting), ==, 220);
  ehlo = smtp_test_ehlo (client);
  g_assert_null (strstr (ehlo, "STARTTLS"));
  auth_plain (client, "carol@example.net", "carol-pw", 235);
}

static void
test_lmtp (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[smtp]\nlmtp=127.0.0.1:0\n");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "lmtp");
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_expect (client, "EHLO client.example", 500));
  g_free (smtp_test_expect (client, "LHLO client.example", 250));
  g_free (smtp_test_expect (client, "MAIL FROM:<x@other.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<ghost@example.org>", 550));
  g_free (smtp_test_expect (client, "RCPT TO:<carol@example.net>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: lmtp\r\n\r\nhi\r\n", -1));
  /* one reply per accepted recipient */
  g_assert_cmpuint (smtp_test_command (client, ".", &first), ==, 250);
  g_assert_cmpuint (smtp_test_read_reply (client, &second), ==, 250);
  g_assert_nonnull (strstr (first, "<alice@example.org>"));
  g_assert_nonnull (strstr (second, "<carol@example.net>"));
  /* our side closes first: the daemon need not wait for it */
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "carol@example.net");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with LMTP"));
}

int
main (int argc, char **argv)
{
  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/submission/auth-required", test_auth_required);
  g_test_add_func ("/smtp/submission/auth-login-and-cancel", test_auth_login_and_cancel);
  g_test_add_func ("/smtp/submission/sender-mismatch", test_sender_mismatch);
  g_test_add_func ("/smtp/submission/sender-mismatch-allowed", test_sender_mismatch_allowed);
  g_test_add_func ("/smtp/submission/starttls", test_submission_starttls);
  g_test_add_func ("/smtp/submission/implicit-tls", test_submission_implicit_tls);
  g_test_add_func ("/smtp/lmtp/per-recipient-replies", test_lmtp);
  return g_test_run ();
}
