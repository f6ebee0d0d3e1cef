/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "smtp-received.h"
#include "smtp-reply.h"

static void
test_single (void)
{
  g_autofree char *a = smtp_reply_format (250, "2.1.0", "Ok");
  g_autofree char *b = smtp_reply_format (220, NULL, "mail.example.org ESMTP Posthorn");
  g_autofree char *c = smtp_reply_format (354, NULL, "End data with <CR><LF>.<CR><LF>");
  g_autofree char *d = smtp_reply_format (250, "2.0.0", "");

  g_assert_cmpstr (a, ==, "250 2.1.0 Ok\r\n");
  g_assert_cmpstr (b, ==, "220 mail.example.org ESMTP Posthorn\r\n");
  g_assert_cmpstr (c, ==, "354 End data with <CR><LF>.<CR><LF>\r\n");
  g_assert_cmpstr (d, ==, "250 2.0.0\r\n");
}

static void
test_multiline (void)
{
  g_autofree char *r = smtp_reply_format (214, "2.0.0", "Commands:\nEHLO MAIL RCPT\nSee RFC 5321");

  g_assert_cmpstr (r, ==,
                   "214-2.0.0 Commands:\r\n"
                   "214-2.0.0 EHLO MAIL RCPT\r\n"
                   "214 2.0.0 See RFC 5321\r\n");
}

static void
test_wrap (void)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *r = NULL;
  g_auto(GStrv) lines = NULL;
  guint n;

  for (int i = 0; i < 40; i++)
    g_string_append_printf (text, "word%02d ", i);
  g_string_append (text, "ThisIsAVeryLongTokenWithoutAnySpacesThatMustBeHardBrokenBecauseItIsLongerThanALine");
  r = smtp_reply_format (550, "5.7.1", text->str);
  lines = g_strsplit (r, "\r\n", -1);
  n = g_strv_length (lines);
  g_assert_cmpuint (n, >, 4);
  g_assert_cmpstr (lines[n - 1], ==, "");  /* ends in CRLF */
  for (guint i = 0; i + 1 < n; i++)
    {
      g_assert_cmpuint (strlen (lines[i]), <=, SMTP_REPLY_LINE_MAX);
      g_assert_true (g_str_has_prefix (lines[i], i + 2 == n ? "550 5.7.1 " : "550-5.7.1 "));
    }
  /* no text is lost: joining the pieces gives the words back */
  {
    g_autoptr(GString) joined = g_string_new (NULL);

    for (guint i = 0; i + 1 < n; i++)
      g_string_append (joined, lines[i] + 10);
    g_assert_nonnull (strstr (joined->str, "word39"));
    g_assert_nonnull (strstr (joined->str, "ThisIsAVeryLongToken"));
  }
}

static void
test_injection (void)
{
  g_autofree char *r = smtp_reply_format (550, "5.1.1", "<evil\r250 ok>\x7f");

  g_assert_cmpstr (r, ==, "550 5.1.1 <evil?250 ok>?\r\n");
}

static void
test_format_error (void)
{
  g_autoptr(GError) e1 = NULL;
  g_autoptr(GError) e2 = g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_NOSPC, "disk full");
  g_autofree char *r1 = NULL;
  g_autofree char *r2 = NULL;

  smtp_reply_set_error (&e1, 452, "4.3.1", "Insufficient system storage (%d)", 7);
  r1 = smtp_reply_format_error (e1);
  r2 = smtp_reply_format_error (e2);
  g_assert_cmpstr (r1, ==, "452 4.3.1 Insufficient system storage (7)\r\n");
  g_assert_cmpstr (r2, ==, "451 4.3.0 disk full\r\n");
  smtp_reply_set_error (NULL, 500, "5.0.0", "ignored");
}

static void
test_ehlo (void)
{
  static const char *const mechs[] = { "PLAIN", "LOGIN", "SCRAM-SHA-256", NULL };
  SmtpCapabilities caps = {
    .hostname = "mail.example.org",
    .greeting = "Hello client.example [192.0.2.7]",
    .flags = SMTP_CAP_SIZE | SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME | SMTP_CAP_SMTPUTF8
             | SMTP_CAP_ENHANCEDSTATUSCODES | SMTP_CAP_STARTTLS | SMTP_CAP_CHUNKING
             | SMTP_CAP_BINARYMIME | SMTP_CAP_DSN,
    .max_size = 52428800,
    .auth_mechanisms = mechs,
  };
  g_autofree char *full = smtp_reply_format_ehlo (&caps);
  SmtpCapabilities min = { .hostname = "lmtp.example.org" };
  g_autofree char *bare = smtp_reply_format_ehlo (&min);
  SmtpCapabilities unlimited = { .hostname = "h", .flags = SMTP_CAP_SIZE };
  g_autofree char *nosize = smtp_reply_format_ehlo (&unlimited);

  g_assert_cmpstr (full, ==,
                   "250-mail.example.org Hello client.example [192.0.2.7]\r\n"
                   "250-SIZE 52428800\r\n"
                   "250-PIPELINING\r\n"
                   "250-8BITMIME\r\n"
                   "250-BINARYMIME\r\n"
                   "250-CHUNKING\r\n"
                   "250-SMTPUTF8\r\n"
                   "250-DSN\r\n"
                   "250-ENHANCEDSTATUSCODES\r\n"
                   "250-STARTTLS\r\n"
                   "250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n");
  g_assert_cmpstr (bare, ==, "250 lmtp.example.org\r\n");
  g_assert_cmpstr (nosize, ==, "250-h\r\n250 SIZE\r\n");
}

static void
test_date (void)
{
  g_autoptr(GTimeZone) tz = g_time_zone_new_offset (-(5 * 3600 + 30 * 60));
  g_autoptr(GDateTime) d = g_date_time_new (tz, 2024, 1, 2, 3, 4, 5);
  g_autoptr(GDateTime) u = g_date_time_new_utc (2023, 12, 24, 23, 59, 59);
  g_autofree char *a = smtp_format_date (d);
  g_autofree char *b = smtp_format_date (u);

  g_assert_cmpstr (a, ==, "Tue, 2 Jan 2024 03:04:05 -0530");
  g_assert_cmpstr (b, ==, "Sun, 24 Dec 2023 23:59:59 +0000");
}

static void
test_received (void)
{
  g_autoptr(GDateTime) date = g_date_time_new_utc (2024, 1, 2, 10, 0, 0);
  g_autoptr(SmtpPath) rcpt = NULL;
  gsize consumed;
  g_autofree char *one = NULL;
  g_autofree char *hostile = NULL;
  g_autofree char *v6 = NULL;
  SmtpReceivedInfo info = {
    .helo = "client.example", .rdns = "host.client.example", .address = "192.0.2.7",
    .by = "mail.example.org",
    .with = smtp_with_for (FALSE, TRUE, TRUE, TRUE, FALSE),
    .tls_info = "TLS1.3 TLS_AES_256_GCM_SHA384", .id = "4XyZ12", .date = date,
  };

  g_assert_cmpint (smtp_path_parse ("<bob@example.org>", 17, SMTP_PATH_FORWARD, &rcpt, &consumed),
                   ==, SMTP_PATH_OK);
  info.recipient = rcpt;
  one = smtp_received_build (&info);
  g_assert_cmpstr (one, ==,
                   "Received: from client.example (host.client.example [192.0.2.7])\r\n"
                   "\tby mail.example.org (Posthorn) with ESMTPSA (TLS1.3 TLS_AES_256_GCM_SHA384) id 4XyZ12\r\n"
                   "\tfor <bob@example.org>;\r\n"
                   "\tTue, 2 Jan 2024 10:00:00 +0000\r\n");

  info.helo = "evil)\r\nX-Injected: (yes";
  info.rdns = NULL;
  info.address = "2001:db8::7";
  info.recipient = NULL;
  info.tls_info = NULL;
  info.with = smtp_with_for (FALSE, TRUE, FALSE, FALSE, FALSE);
  hostile = smtp_received_build (&info);
  g_assert_cmpstr (hostile, ==,
                   "Received: from evil???X-Injected:??yes (unknown [IPv6:2001:db8::7])\r\n"
                   "\tby mail.example.org (Posthorn) with ESMTP id 4XyZ12;\r\n"
                   "\tTue, 2 Jan 2024 10:00:00 +0000\r\n");

  info.with = smtp_with_for (TRUE, TRUE, FALSE, FALSE, FALSE);
  v6 = smtp_received_build (&info);
  g_assert_nonnull (strstr (v6, " with LMTP id "));
}

static void
test_with_names (void)
{
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, FALSE, FALSE, FALSE, FALSE)), ==, "SMTP");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, FALSE, FALSE, FALSE)), ==, "ESMTP");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, FALSE, TRUE, FALSE)), ==, "ESMTPA");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, TRUE, FALSE, FALSE)), ==, "ESMTPS");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, TRUE, TRUE, FALSE)), ==, "ESMTPSA");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (TRUE, TRUE, TRUE, TRUE, FALSE)), ==, "LMTPSA");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (TRUE, TRUE, FALSE, TRUE, FALSE)), ==, "LMTPA");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, TRUE, FALSE, TRUE)), ==, "UTF8SMTPS");
  g_assert_cmpstr (smtp_with_name (smtp_with_for (FALSE, TRUE, FALSE, FALSE, TRUE)), ==, "UTF8SMTP");
}

static void
test_return_path (void)
{
  g_autoptr(SmtpPath) null = NULL;
  g_autoptr(SmtpPath) quoted = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  gsize consumed;

  g_assert_cmpint (smtp_path_parse ("<>", 2, SMTP_PATH_REVERSE, &null, &consumed), ==, SMTP_PATH_OK);
  g_assert_cmpint (smtp_path_parse ("<@r.example:\"a b\"@example.org>", 30, SMTP_PATH_REVERSE,
                                    &quoted, &consumed), ==, SMTP_PATH_OK);
  a = smtp_return_path_build (null);
  b = smtp_return_path_build (quoted);
  g_assert_cmpstr (a, ==, "Return-Path: <>\r\n");
  g_assert_cmpstr (b, ==, "Return-Path: <\"a b\"@example.org>\r\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/smtp/reply/single", test_single);
  g_test_add_func ("/smtp/reply/multiline", test_multiline);
  g_test_add_func ("/smtp/reply/wrap", test_wrap);
  g_test_add_func ("/smtp/reply/no-injection", test_injection);
  g_test_add_func ("/smtp/reply/format-error", test_format_error);
  g_test_add_func ("/smtp/reply/ehlo", test_ehlo);
  g_test_add_func ("/smtp/received/date", test_date);
  g_test_add_func ("/smtp/received/header", test_received);
  g_test_add_func ("/smtp/received/with-names", test_with_names);
  g_test_add_func ("/smtp/received/return-path", test_return_path);
  return g_test_run ();
}
