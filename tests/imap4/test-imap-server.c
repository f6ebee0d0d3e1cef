/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the imap4 plugin against the real daemon: every
 * command family and extension, over real connections. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (data);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
append_sample (PhTestClient *client, const char *mailbox, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: Alice <alice@example.org>\r\n"
                                          "To: Bob <bob@example.org>\r\n"
                                          "Subject: %s\r\n"
                                          "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
                                          "\r\n"
                                          "Body of %s\r\n", subject, subject);
  g_autofree char *tagged = imap_test_append (client, mailbox, NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

/* ---- (a) session, auth and misc ---- */

static void
test_greeting_capability (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  const char *caps;

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK [CAPABILITY IMAP4rev1 ");
  g_assert_nonnull (strstr (greeting, " IMAP4rev2"));
  g_assert_nonnull (strstr (greeting, " STARTTLS"));
  g_assert_nonnull (strstr (greeting, " AUTH=PLAIN"));
  g_assert_nonnull (strstr (greeting, " SASL-IR"));
  lines = imap_test_ok (f->client, "CAPABILITY");
  caps = imap_test_find (lines, "* CAPABILITY ");
  g_assert_nonnull (caps);
  /* loopback: plaintext allowed, so no LOGINDISABLED */
  g_assert_null (strstr (caps, "LOGINDISABLED"));
  g_assert_null (strstr (caps, "IDLE"));
  g_assert_null (strstr (caps, "CONDSTORE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "NOOP");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LOGOUT");
  g_assert_nonnull (imap_test_find (lines, "* BYE"));
  g_assert_true (ph_test_client_wait_closed (f->client, 2000));
}

static void
test_login (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autofree char *fail = NULL;
  g_autoptr(GPtrArray) lines = NULL;

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK");
  fail = imap_test_fail (f->client, "SELECT INBOX");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "LOGIN alice@example.org wrong");
  g_assert_true (g_str_has_prefix (fail, "NO [AUTHENTICATIONFAILED]"));
  lines = imap_test_ok (f->client, "LOGIN \"Alice@Example.org\" secret");
  g_assert_true (strstr (imap_test_tagged (lines), "[CAPABILITY IMAP4rev1") != NULL);
  g_assert_nonnull (strstr (imap_test_tagged (lines), "UIDPLUS"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "LOGIN alice@example.org secret");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
}

static void
test_authenticate_sasl_ir (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autofree char *fail = NULL;
  g_autofree char *ir = NULL;
  g_autofree char *cmd = NULL;
  g_autofree char *plus = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  static const char creds[] = "\0alice@example.org\0secret";

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK");
  /* without initial response: an empty challenge, then the answer */
  ir = g_base64_encode ((const guchar *) creds, sizeof creds - 1);
  g_assert_true (ph_test_client_send (f->client, "a1 AUTHENTICATE PLAIN\r\n", -1));
  plus = ph_test_client_expect_line_prefix (f->client, "+");
  g_assert_true (ph_test_client_send (f->client, "*\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "a1 BAD"));
  /* wrong password */
  {
    static const char bad_creds[] = "\0alice@example.org\0nope";
    g_autofree char *bad_ir = g_base64_encode ((const guchar *) bad_creds, sizeof bad_creds - 1);
    g_autofree char *bad_cmd = g_strdup_printf ("AUTHENTICATE PLAIN %s", bad_ir);
    fail = imap_test_fail (f->client, bad_cmd);
    g_assert_true (g_str_has_prefix (fail, "NO [AUTHENTICATIONFAILED]"));
  }
  cmd = g_strdup_printf ("AUTHENTICATE PLAIN %s", ir);
  lines = imap_test_ok (f->client, cmd);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SELECT INBOX");
}

static void
test_enable_id_namespace (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "ID (\"name\" \"test\")");
  g_assert_nonnull (imap_test_find (lines, "* ID (\"name\" \"Posthorn\""));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "NAMESPACE");
  g_assert_nonnull (imap_test_find (lines, "* NAMESPACE ((\"\" \"/\")) NIL NIL"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "ENABLE IMAP4rev2 UTF8=ACCEPT X-UNKNOWN");
  g_assert_nonnull (imap_test_find (lines, "* ENABLED IMAP4rev2 UTF8=ACCEPT"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* IMAP4rev2: SELECT sends LIST, no RECENT */
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* LIST () \"/\" INBOX"));
  g_assert_null (imap_test_find (lines, "RECENT"));
}

static void
test_select_fetch_basic (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  const char *line;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_sample (f->client, "INBOX", "First");
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* 1 EXISTS"));
  g_assert_nonnull (imap_test_find (lines, "* 1 RECENT"));
  g_assert_nonnull (imap_test_find (lines, "* OK [UIDVALIDITY "));
  g_assert_nonnull (imap_test_find (lines, "* OK [UIDNEXT 2]"));
  g_assert_nonnull (imap_test_find (lines, "[READ-WRITE]"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (FLAGS UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  line = imap_test_find (lines, "* 1 FETCH (");
  g_assert_nonnull (line);
  g_assert_nonnull (strstr (line, "UID 1"));
  g_assert_nonnull (strstr (line, "FLAGS (\\Recent)"));
  g_assert_nonnull (strstr (line, "BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: First\r\n\r\n"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 BODY[TEXT]");
  line = imap_test_find (lines, "* 1 FETCH (");
  g_assert_nonnull (strstr (line, "BODY[TEXT] {15}\r\nBody of First\r\n"));
  g_assert_nonnull (strstr (line, "\\Seen"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LOGOUT");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/session/greeting-capability", test_greeting_capability, NULL);
  ADD ("/imap4/auth/login", test_login, NULL);
  ADD ("/imap4/auth/authenticate-sasl-ir", test_authenticate_sasl_ir, NULL);
  ADD ("/imap4/misc/enable-id-namespace", test_enable_id_namespace, NULL);
  ADD ("/imap4/fetch/basic", test_select_fetch_basic, NULL);
  return g_test_run ();
}
