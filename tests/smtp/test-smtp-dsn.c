/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gmime/gmime.h>
#include <string.h>

#include "dsn.h"

/* GMime 3.2 declares no g_autoptr cleanups */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeMessage, g_object_unref)

static const char original[] =
  "From: Alice <alice@example.org>\r\n"
  "To: bob@remote.example, carol@remote.example\r\n"
  "Subject: Quarterly numbers\r\n"
  "Message-ID: <orig-1@example.org>\r\n"
  "\r\n"
  "The numbers are in. Body line with UTF-8: h\xc3\xa9llo\r\n";

static GMimeMessage *
parse_message (const char *text, gsize length)
{
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer (text, length);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream (stream);

  return g_mime_parser_construct_message (parser, NULL);
}

static char *
part_content (GMimeObject *object)
{
  g_autoptr(GMimeStream) out = g_mime_stream_mem_new ();
  GByteArray *bytes;

  if (GMIME_IS_PART (object))
    g_mime_data_wrapper_write_to_stream (g_mime_part_get_content (GMIME_PART (object)), out);
  else
    g_mime_object_write_content_to_stream (object, NULL, out);
  bytes = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (out));
  return g_strndup ((const char *) bytes->data, bytes->len);
}

/* The delivery-status body is a series of header blocks separated by empty
 * lines (RFC 3464 §2.1); GMime's header parser reads each block. */
static GPtrArray *
status_blocks (const char *body)
{
  GPtrArray *blocks = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GStrv) parts = g_strsplit (body, "\r\n\r\n", -1);

  for (gsize i = 0; parts[i] != NULL; i++)
    {
      g_autofree char *text = NULL;
      g_autoptr(GMimeStream) stream = NULL;
      g_autoptr(GMimeParser) parser = NULL;
      GMimeObject *object;

      if (*g_strstrip (parts[i]) == '\0')
        continue;
      text = g_strdup_printf ("%s\r\n\r\n", parts[i]);
      stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
      parser = g_mime_parser_new_with_stream (stream);
      object = g_mime_parser_construct_part (parser, NULL);
      g_assert_nonnull (object);
      g_ptr_array_add (blocks, object);
    }
  return blocks;
}

static void
test_failure_full (void)
{
  g_autoptr(GDateTime) date = g_date_time_new_utc (2024, 1, 2, 10, 0, 0);
  g_autoptr(GBytes) orig = g_bytes_new_static (original, sizeof original - 1);
  const SmtpDsnRecipient rcpts[] = {
    { .final_recipient = "bob@remote.example", .orcpt_type = "rfc822",
      .orcpt = "Bob@Remote.Example", .action = SMTP_DSN_ACTION_FAILED, .status = "5.1.1",
      .remote_mta = "mx.remote.example", .diagnostic = "550 5.1.1 <bob@remote.example>: no such user",
      .last_attempt = date },
    { .final_recipient = "carol@remote.example", .action = SMTP_DSN_ACTION_FAILED,
      .status = "5.2.2", .diagnostic = "552 5.2.2 mailbox full" },
  };
  SmtpDsnInfo info = {
    .kind = SMTP_DSN_FAILURE, .reporting_mta = "mail.example.org", .to = "alice@example.org",
    .envid = "QQ314159", .arrival_date = date, .date = date,
    .recipients = rcpts, .n_recipients = G_N_ELEMENTS (rcpts),
    .original = orig, .ret = SMTP_RET_FULL,
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *dsn = smtp_dsn_build (&info, &error);
  g_autoptr(GMimeMessage) message = NULL;
  GMimeObject *body;
  GMimeMultipart *multipart;
  GMimeContentType *type;
  g_autofree char *status = NULL;
  g_autoptr(GPtrArray) blocks = NULL;
  GMimeObject *third;
  GMimeMessage *returned;

  g_assert_no_error (error);
  g_assert_nonnull (dsn);
  /* every line ends in CRLF */
  for (const char *p = dsn; (p = strchr (p, '\n')) != NULL; p++)
    g_assert_true (p > dsn && p[-1] == '\r');

  message = parse_message (dsn, strlen (dsn));
  g_assert_nonnull (message);
  g_assert_cmpstr (g_mime_message_get_subject (message), ==, "Undelivered Mail Returned to Sender");
  g_assert_cmpstr (g_mime_object_get_header (GMIME_OBJECT (message), "Auto-Submitted"), ==, "auto-replied");
  body = g_mime_message_get_mime_part (message);
  g_assert_true (GMIME_IS_MULTIPART (body));
  type = g_mime_object_get_content_type (body);
  g_assert_true (g_mime_content_type_is_type (type, "multipart", "report"));
  g_assert_cmpstr (g_mime_content_type_get_parameter (type, "report-type"), ==, "delivery-status");
  multipart = GMIME_MULTIPART (body);
  g_assert_cmpint (g_mime_multipart_get_count (multipart), ==, 3);

  g_assert_true (g_mime_content_type_is_type (
    g_mime_object_get_content_type (g_mime_multipart_get_part (multipart, 0)), "text", "plain"));
  g_assert_true (g_mime_content_type_is_type (
    g_mime_object_get_content_type (g_mime_multipart_get_part (multipart, 1)), "message", "delivery-status"));

  status = part_content (g_mime_multipart_get_part (multipart, 1));
  blocks = status_blocks (status);
  g_assert_cmpuint (blocks->len, ==, 3);
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[0], "Reporting-MTA"), ==, "dns; mail.example.org");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[0], "Original-Envelope-Id"), ==, "QQ314159");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[0], "Arrival-Date"), ==, "Tue, 2 Jan 2024 10:00:00 +0000");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Final-Recipient"), ==, "rfc822; bob@remote.example");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Original-Recipient"), ==, "rfc822; Bob@Remote.Example");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Action"), ==, "failed");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Status"), ==, "5.1.1");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Remote-MTA"), ==, "dns; mx.remote.example");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Diagnostic-Code"), ==,
                   "smtp; 550 5.1.1 <bob@remote.example>: no such user");
  g_assert_nonnull (g_mime_object_get_header (blocks->pdata[1], "Last-Attempt-Date"));
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[2], "Final-Recipient"), ==, "rfc822; carol@remote.example");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[2], "Status"), ==, "5.2.2");
  g_assert_null (g_mime_object_get_header (blocks->pdata[2], "Original-Recipient"));

  third = g_mime_multipart_get_part (multipart, 2);
  g_assert_true (GMIME_IS_MESSAGE_PART (third));
  returned = g_mime_message_part_get_message (GMIME_MESSAGE_PART (third));
  g_assert_nonnull (returned);
  g_assert_cmpstr (g_mime_message_get_subject (returned), ==, "Quarterly numbers");
  g_assert_cmpstr (g_mime_object_get_header (third, "Content-Transfer-Encoding"), ==, "8bit");
  g_assert_nonnull (strstr (dsn, "The numbers are in."));
}

static void
test_delay_headers_only (void)
{
  g_autoptr(GDateTime) date = g_date_time_new_utc (2024, 1, 2, 10, 0, 0);
  g_autoptr(GDateTime) until = g_date_time_add_days (date, 5);
  g_autoptr(GBytes) orig = g_bytes_new_static (original, sizeof original - 1);
  const SmtpDsnRecipient rcpt = {
    .final_recipient = "bob@remote.example", .action = SMTP_DSN_ACTION_DELAYED,
    .status = "4.4.1", .diagnostic = "connection refused", .will_retry_until = until,
  };
  SmtpDsnInfo info = {
    .kind = SMTP_DSN_DELAY, .reporting_mta = "mail.example.org", .to = "alice@example.org",
    .envid = "id with space", .boundary = "BOUNDARY-1", .message_id = "<dsn-1@mail.example.org>",
    .recipients = &rcpt, .n_recipients = 1, .original = orig, .ret = SMTP_RET_HDRS,
  };
  g_autofree char *dsn = smtp_dsn_build (&info, NULL);
  g_autoptr(GMimeMessage) message = parse_message (dsn, strlen (dsn));
  GMimeMultipart *multipart = GMIME_MULTIPART (g_mime_message_get_mime_part (message));
  GMimeObject *third = g_mime_multipart_get_part (multipart, 2);
  g_autofree char *headers = part_content (third);
  g_autofree char *status = part_content (g_mime_multipart_get_part (multipart, 1));
  g_autoptr(GPtrArray) blocks = status_blocks (status);

  g_assert_cmpstr (g_mime_message_get_subject (message), ==, "Delayed Mail (still being retried)");
  g_assert_cmpstr (g_mime_message_get_message_id (message), ==, "dsn-1@mail.example.org");
  g_assert_cmpstr (g_mime_multipart_get_boundary (multipart), ==, "BOUNDARY-1");
  g_assert_true (g_mime_content_type_is_type (g_mime_object_get_content_type (third), "text", "rfc822-headers"));
  g_assert_nonnull (strstr (headers, "Subject: Quarterly numbers"));
  g_assert_null (strstr (headers, "The numbers are in."));
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[0], "Original-Envelope-Id"), ==, "id+20with+20space");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Action"), ==, "delayed");
  g_assert_cmpstr (g_mime_object_get_header (blocks->pdata[1], "Will-Retry-Until"), ==,
                   "Sun, 7 Jan 2024 10:00:00 +0000");
}

static void
test_no_original_and_errors (void)
{
  const SmtpDsnRecipient rcpt = {
    .final_recipient = "bob@remote.example", .action = SMTP_DSN_ACTION_FAILED, .status = "5.0.0",
  };
  SmtpDsnInfo info = {
    .kind = SMTP_DSN_FAILURE, .reporting_mta = "mail.example.org", .to = "alice@example.org",
    .recipients = &rcpt, .n_recipients = 1,
  };
  g_autofree char *dsn = smtp_dsn_build (&info, NULL);
  g_autoptr(GMimeMessage) message = parse_message (dsn, strlen (dsn));
  g_autoptr(GError) error = NULL;
  g_autofree char *none = NULL;
  g_autoptr(GBytes) nobody = g_bytes_new_static ("Subject: x\r\n", 12);
  g_autoptr(GBytes) hdrs = smtp_dsn_extract_headers (nobody);

  g_assert_cmpint (g_mime_multipart_get_count (GMIME_MULTIPART (g_mime_message_get_mime_part (message))), ==, 2);
  g_assert_nonnull (strstr (dsn, "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>\r\n"));
  info.n_recipients = 0;
  none = smtp_dsn_build (&info, &error);
  g_assert_null (none);
  g_assert_error (error, SMTP_REPLY_ERROR, 451);
  g_assert_cmpuint (g_bytes_get_size (hdrs), ==, 12);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_mime_init ();
  g_test_add_func ("/smtp/dsn/failure-full", test_failure_full);
  g_test_add_func ("/smtp/dsn/delay-headers-only", test_delay_headers_only);
  g_test_add_func ("/smtp/dsn/no-original", test_no_original_and_errors);
  ret = g_test_run ();
  g_mime_shutdown ();
  return ret;
}
