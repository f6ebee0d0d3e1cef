/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the imap4 plugin against the real daemon: every
 * command family and extension, over real connections. */
#include "imap-test-client.h"

#include <gsasl.h>

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
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "SELECT INBOX");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  /* APPEND before login: refused before the literal, the session goes on */
  g_assert_true (ph_test_client_send (f->client, "p1 APPEND INBOX {1000}\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "p1 BAD"));
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
    g_clear_pointer (&fail, g_free);
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
  /* UTF8=ACCEPT: mailbox names in UTF-8 on the wire */
  lines = imap_test_ok (f->client, "CREATE \"Gr\xc3\xbc\xc3\x9f" "e\"");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" \"Gr*\"");
  g_assert_nonnull (imap_test_find (lines, "* LIST (\\HasNoChildren) \"/\" \"Gr\xc3\xbc\xc3\x9f" "e\""));
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


static void
test_starttls_implicit_tls (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PhTestClient) tls = NULL;

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK");
  /* pipelined plaintext after STARTTLS must not run */
  g_assert_true (ph_test_client_send (f->client, "s1 STARTTLS\r\ns2 LOGOUT\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "s1 OK"));
  g_assert_true (ph_test_client_start_tls (f->client, NULL, &error));
  g_assert_no_error (error);
  lines = imap_test_ok (f->client, "CAPABILITY");
  g_assert_null (strstr (imap_test_find (lines, "* CAPABILITY"), "STARTTLS"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LOGIN alice@example.org secret");
  g_clear_pointer (&greeting, g_free);

  tls = ph_test_client_connect (f->server, "imap4", TRUE);
  g_assert_true (ph_test_client_is_tls (tls));
  greeting = ph_test_client_expect_line_prefix (tls, "* OK [CAPABILITY IMAP4rev1");
  g_assert_null (strstr (greeting, "STARTTLS"));
}

static void
test_mailbox_commands (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *fail = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CREATE Projects/");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "CREATE Projects");
  g_assert_true (g_str_has_prefix (fail, "NO [ALREADYEXISTS]"));
  lines = imap_test_ok (f->client, "CREATE Projects/&AMQ-rger");   /* "Ärger" */
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" \"*\"");
  g_assert_nonnull (imap_test_find (lines, "* LIST (\\HasChildren) \"/\" Projects"));
  g_assert_nonnull (imap_test_find (lines, "* LIST (\\HasNoChildren) \"/\" Projects/&AMQ-rger"));
  g_assert_nonnull (imap_test_find (lines, "\\Sent) \"/\" Sent"));
  g_assert_nonnull (imap_test_find (lines, "\"/\" INBOX"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" \"%\"");
  g_assert_null (imap_test_find (lines, "&AMQ-rger"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"Projects/\" \"%\"");
  g_assert_nonnull (imap_test_find (lines, "Projects/&AMQ-rger"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" \"\"");
  g_assert_nonnull (imap_test_find (lines, "* LIST (\\Noselect) \"/\" \"\""));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "CREATE &Jjo");   /* broken mUTF-7 */
  g_assert_true (g_str_has_prefix (fail, "NO [CANNOT]"));
  lines = imap_test_ok (f->client, "RENAME Projects Work");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" Work*");
  g_assert_nonnull (imap_test_find (lines, "\"/\" Work/&AMQ-rger"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "RENAME Nothing Else");
  g_assert_true (g_str_has_prefix (fail, "NO [NONEXISTENT]"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "RENAME Work Sent");
  g_assert_true (g_str_has_prefix (fail, "NO [ALREADYEXISTS]"));
  lines = imap_test_ok (f->client, "DELETE Work/&AMQ-rger");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "DELETE Work/&AMQ-rger");
  g_assert_true (g_str_has_prefix (fail, "NO [NONEXISTENT]"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "DELETE INBOX");
  g_assert_true (g_str_has_prefix (fail, "NO"));
  /* subscriptions */
  lines = imap_test_ok (f->client, "CREATE Lonely");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SUBSCRIBE Work");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SUBSCRIBE Gone/Child");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LSUB \"\" \"*\"");
  g_assert_nonnull (imap_test_find (lines, "* LSUB () \"/\" Work"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LSUB \"\" \"%\"");
  g_assert_nonnull (imap_test_find (lines, "* LSUB (\\Noselect) \"/\" Gone"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST (SUBSCRIBED) \"\" \"*\"");
  g_assert_nonnull (imap_test_find (lines, "\\Subscribed) \"/\" Work"));
  g_assert_nonnull (imap_test_find (lines, "(\\NonExistent \\HasNoChildren \\Subscribed) \"/\" Gone/Child"));
  g_assert_null (imap_test_find (lines, "Lonely"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"");
  g_assert_nonnull (imap_test_find (lines, "\"/\" Gone (\"CHILDINFO\" (\"SUBSCRIBED\"))"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UNSUBSCRIBE Work");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LSUB \"\" Work");
  g_assert_null (imap_test_find (lines, "* LSUB"));
}

static void
test_special_use_status (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *fail = NULL;
  const char *status;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CREATE Spam (USE (\\Junk))");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "CREATE Odd (USE (\\Unknown))");
  g_assert_true (g_str_has_prefix (fail, "NO [USEATTR]"));
  lines = imap_test_ok (f->client, "LIST (SPECIAL-USE) \"\" \"*\"");
  g_assert_nonnull (imap_test_find (lines, "\\Junk) \"/\" Spam"));
  g_assert_nonnull (imap_test_find (lines, "\\Drafts) \"/\" Drafts"));
  g_assert_null (imap_test_find (lines, "INBOX"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  append_sample (f->client, "INBOX", "one");
  append_sample (f->client, "INBOX", "two");
  lines = imap_test_ok (f->client, "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE APPENDLIMIT DELETED)");
  status = imap_test_find (lines, "* STATUS INBOX (");
  g_assert_nonnull (status);
  g_assert_nonnull (strstr (status, "MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY "));
  g_assert_nonnull (strstr (status, "UNSEEN 2 SIZE "));
  g_assert_nonnull (strstr (status, "APPENDLIMIT 67108864 DELETED 0)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "LIST \"\" \"INBOX\" RETURN (STATUS (MESSAGES UNSEEN) CHILDREN)");
  g_assert_nonnull (imap_test_find (lines, "* STATUS INBOX (MESSAGES 2 UNSEEN 2)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "STATUS Nowhere (MESSAGES)");
  g_assert_true (g_str_has_prefix (fail, "NO [NONEXISTENT]"));
}

static void
test_append_variants (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *tagged = NULL;
  g_autofree char *plus = NULL;
  g_autofree char *fail = NULL;
  static const char msg[] = "Subject: sync\r\n\r\nsynchronising literal\r\n";
  static const char bin[] = "Subject: bin\r\n\r\nnul\0byte\r\n";
  const char *line;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  /* synchronising literal: "+" before the data */
  g_assert_true (ph_test_client_sendf (f->client, "a1 APPEND INBOX (\\Flagged $Work) "
                                       "\"14-Jul-2023 10:00:00 +0200\" {%zu}\r\n", sizeof msg - 1));
  plus = ph_test_client_expect_line_prefix (f->client, "+ ");
  g_assert_true (ph_test_client_send (f->client, msg, sizeof msg - 1));
  g_assert_true (ph_test_client_send (f->client, "\r\n", 2));
  g_free (ph_test_client_expect_line_prefix (f->client, "a1 OK [APPENDUID "));
  /* TRYCREATE */
  g_clear_pointer (&tagged, g_free);
  tagged = imap_test_append (f->client, "Missing", NULL, msg, sizeof msg - 1);
  g_assert_true (g_str_has_prefix (tagged, "NO [TRYCREATE]"));
  g_clear_pointer (&tagged, g_free);
  /* literal8 with a NUL (BINARY) */
  g_assert_true (ph_test_client_sendf (f->client, "a2 APPEND INBOX ~{%zu+}\r\n", sizeof bin - 1));
  g_assert_true (ph_test_client_send (f->client, bin, sizeof bin - 1));
  g_assert_true (ph_test_client_send (f->client, "\r\n", 2));
  g_free (ph_test_client_expect_line_prefix (f->client, "a2 OK [APPENDUID "));
  /* UTF8 data needs ENABLE UTF8=ACCEPT */
  g_assert_true (ph_test_client_send (f->client, "a3 APPEND INBOX UTF8 (~{9+}\r\nSubject: )\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "a3 BAD"));
  lines = imap_test_ok (f->client, "ENABLE UTF8=ACCEPT");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_assert_true (ph_test_client_send (f->client,
                                      "a4 APPEND INBOX UTF8 (~{24+}\r\nSubject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\nhi\r\n)\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "a4 OK [APPENDUID "));

  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXISTS"));
  g_assert_nonnull (imap_test_find (lines, "$Work"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (FLAGS INTERNALDATE)");
  line = imap_test_find (lines, "* 1 FETCH");
  g_assert_nonnull (strstr (line, "\\Flagged"));
  g_assert_nonnull (strstr (line, "$Work"));
  g_assert_nonnull (strstr (line, "INTERNALDATE \"14-Jul-2023 08:00:00 +0000\""));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 2 (RFC822.SIZE BINARY.PEEK[])");
  line = imap_test_find (lines, "* 2 FETCH");
  g_assert_nonnull (strstr (line, "RFC822.SIZE 26"));
  g_assert_nonnull (strstr (line, "BINARY[] ~{26}"));
  /* an empty message is refused */
  g_assert_true (ph_test_client_send (f->client, "z1 APPEND INBOX {0+}\r\n\r\n", -1));
  fail = ph_test_client_expect_line_prefix (f->client, "z1 NO");
}

static void
test_append_limits (Fixture *f, gconstpointer data)
{
  g_autofree char *caps = NULL;
  g_autofree char *tagged = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *big = g_strnfill (3000, 'x');

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CAPABILITY");
  g_assert_nonnull (strstr (imap_test_find (lines, "* CAPABILITY"), "APPENDLIMIT=2048"));
  g_assert_nonnull (strstr (imap_test_find (lines, "* CAPABILITY"), "QUOTA"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* over append_limit: refused before the literal is read */
  g_assert_true (ph_test_client_send (f->client, "t1 APPEND INBOX {3000}\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "t1 NO [TOOBIG]"));
  lines = imap_test_ok (f->client, "NOOP");
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* quota: 4 KiB, two 1.5 KiB messages fit, the third does not */
  big[1500] = '\0';
  for (guint k = 0; k < 3; k++)
    {
      g_autofree char *msg = g_strdup_printf ("Subject: q%u\r\n\r\n%s\r\n", k, big);
      g_clear_pointer (&tagged, g_free);
      tagged = imap_test_append (f->client, "INBOX", NULL, msg, strlen (msg));
      if (k < 2)
        g_assert_true (g_str_has_prefix (tagged, "OK"));
      else
        g_assert_true (g_str_has_prefix (tagged, "NO [OVERQUOTA]"));
    }
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&tagged, g_free);
  tagged = imap_test_fail (f->client, "COPY 1 Trash");
  g_assert_true (g_str_has_prefix (tagged, "NO [OVERQUOTA]"));
  lines = imap_test_ok (f->client, "GETQUOTAROOT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* QUOTAROOT INBOX \"\""));
  g_assert_nonnull (imap_test_find (lines, "* QUOTA \"\" (STORAGE 3 4)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "GETQUOTA \"\"");
  g_assert_nonnull (imap_test_find (lines, "* QUOTA \"\" (STORAGE 3 4)"));
  g_clear_pointer (&tagged, g_free);
  tagged = imap_test_fail (f->client, "SETQUOTA \"\" (STORAGE 100)");
  g_assert_true (g_str_has_prefix (tagged, "NO [CANNOT]"));
}

static const char multipart_message[] =
  "From: Alice <alice@example.org>\r\n"
  "To: Bob <bob@example.org>\r\n"
  "Subject: Parts\r\n"
  "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
  "MIME-Version: 1.0\r\n"
  "Content-Type: multipart/mixed; boundary=\"xx\"\r\n"
  "\r\n"
  "--xx\r\n"
  "Content-Type: text/plain; charset=utf-8\r\n"
  "Content-Transfer-Encoding: quoted-printable\r\n"
  "\r\n"
  "Gr=C3=BC=C3=9Fe\r\n"
  "--xx\r\n"
  "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
  "Content-Transfer-Encoding: base64\r\n"
  "\r\n"
  "AAECAw==\r\n"
  "--xx--\r\n";

static void
test_fetch_items (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *tagged = NULL;
  g_autofree char *fail = NULL;
  const char *line;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  g_clear_pointer (&tagged, g_free);
  tagged = imap_test_append (f->client, "INBOX", "(\\Seen) \"02-Jan-2024 10:00:00 +0000\" ",
                             multipart_message, sizeof multipart_message - 1);
  lines = imap_test_ok (f->client, "EXAMINE INBOX");
  g_assert_nonnull (imap_test_find (lines, "[READ-ONLY]"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE INTERNALDATE)");
  line = imap_test_find (lines, "* 1 FETCH");
  g_assert_nonnull (strstr (line, "ENVELOPE (\"Tue, 02 Jan 2024 10:00:00 +0100\" \"Parts\" "
                                  "((\"Alice\" NIL \"alice\" \"example.org\"))"));
  g_assert_nonnull (strstr (line, "BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
                                  "\"quoted-printable\" 15 0"));
  g_assert_nonnull (strstr (line, "\"mixed\" (\"boundary\" \"xx\")"));
  g_assert_nonnull (strstr (line, "BODY ((\"text\" \"plain\""));
  g_assert_nonnull (strstr (line, "INTERNALDATE \"02-Jan-2024 10:00:00 +0000\""));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[1] BINARY.SIZE[2] BODY.PEEK[]<0.6> BODY.PEEK[HEADER.FIELDS.NOT (From To Date MIME-Version Content-Type)] BODY.PEEK[9])");
  line = imap_test_find (lines, "* 1 FETCH");
  g_assert_nonnull (strstr (line, "BODY[1] {15}\r\nGr=C3=BC=C3=9Fe "));
  g_assert_nonnull (strstr (line, "BODY[2.MIME] {91}\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"));
  g_assert_nonnull (strstr (line, "BINARY[1] {7}\r\nGr\xc3\xbc\xc3\x9f" "e "));
  g_assert_nonnull (strstr (line, "BINARY.SIZE[2] 4"));
  g_assert_nonnull (strstr (line, "BODY[]<0> {6}\r\nFrom: "));
  g_assert_nonnull (strstr (line, "BODY[HEADER.FIELDS.NOT (From To Date MIME-Version Content-Type)] {18}\r\nSubject: Parts\r\n\r\n"));
  g_assert_nonnull (strstr (line, "BODY[9] NIL"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (RFC822.HEADER RFC822.TEXT)");
  line = imap_test_find (lines, "* 1 FETCH");
  g_assert_nonnull (strstr (line, "RFC822.HEADER {"));
  g_assert_nonnull (strstr (line, "RFC822.TEXT {"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 FAST");
  g_assert_nonnull (imap_test_find (lines, "RFC822.SIZE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "FETCH 2 FLAGS");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "FETCH 1 (BODY[NOPE])");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  lines = imap_test_ok (f->client, "UID FETCH 5:* FLAGS");   /* "*" is UID 1 */
  g_assert_nonnull (imap_test_find (lines, "* 1 FETCH (UID 1 FLAGS (\\Seen))"));
}

static void
test_fetch_sets_seen (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  const char *line;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_sample (f->client, "INBOX", "a");
  append_sample (f->client, "INBOX", "b");
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 BODY.PEEK[]");
  g_assert_null (strstr (imap_test_find (lines, "* 1 FETCH"), "\\Seen"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1:2 RFC822");
  line = imap_test_find (lines, "* 2 FETCH");
  g_assert_nonnull (strstr (line, "FLAGS (\\Seen \\Recent)"));
  g_assert_nonnull (strstr (line, "RFC822 {"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SEARCH UNSEEN");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH"));
  g_assert_null (imap_test_find (lines, "* SEARCH 1"));
}

static void
test_fetch_big_streamed (Fixture *f, gconstpointer data)
{
  gsize size = 3 * 1024 * 1024;
  GString *msg = g_string_sized_new (size + 100);
  g_autofree char *tagged = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *expect = NULL;

  g_string_append (msg, "Subject: big\r\n\r\n");
  while (msg->len < size)
    g_string_append (msg, "The quick brown fox jumps over the lazy dog 0123456789.\r\n");
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  g_clear_pointer (&tagged, g_free);
  tagged = imap_test_append (f->client, "INBOX", NULL, msg->str, msg->len);
  g_assert_true (g_str_has_prefix (tagged, "OK"));
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_true (ph_test_client_send (f->client, "b1 FETCH 1 BODY.PEEK[]\r\n", -1));
  line = ph_test_client_read_line (f->client);
  expect = g_strdup_printf ("* 1 FETCH (BODY[] {%" G_GSIZE_FORMAT "}", msg->len);
  g_assert_cmpstr (line, ==, expect);
  body = ph_test_client_read_exact (f->client, msg->len);
  g_assert_nonnull (body);
  g_assert_true (memcmp (g_bytes_get_data (body, NULL), msg->str, msg->len) == 0);
  g_free (ph_test_client_expect_line_prefix (f->client, ")"));
  g_free (ph_test_client_expect_line_prefix (f->client, "b1 OK"));
  g_string_free (msg, TRUE);
  /* header fields and a partial body of a big message: no whole read */
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<4.15>)");
  g_assert_nonnull (imap_test_find (lines, "BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: big\r\n\r\n "
                                           "BODY[TEXT]<4> {15}\r\nquick brown fox)"));
  /* a client that stops reading and goes away mid-literal */
  {
    PhTestClient *quitter = imap_test_login (f->server, IMAP_TEST_USER);
    g_autoptr(GPtrArray) sel = imap_test_ok (quitter, "SELECT INBOX");
    g_autofree char *first = NULL;

    g_assert_true (ph_test_client_send (quitter, "q1 FETCH 1 BODY.PEEK[]\r\n", -1));
    first = ph_test_client_read_line (quitter);
    g_assert_nonnull (first);
    ph_test_client_free (quitter);
  }
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "NOOP");
}

static void
test_store_copy_move (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *fail = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  for (guint k = 0; k < 4; k++)
    {
      g_autofree char *subject = g_strdup_printf ("msg%u", k + 1);
      append_sample (f->client, "INBOX", subject);
    }
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "STORE 1:2 +FLAGS (\\Flagged $Todo)");
  g_assert_nonnull (imap_test_find (lines, "* 1 FETCH (FLAGS (\\Flagged \\Recent $Todo))"));
  g_assert_nonnull (imap_test_find (lines, "* 2 FETCH (FLAGS (\\Flagged \\Recent $Todo))"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID STORE 2 -FLAGS.SILENT (\\Flagged)");
  g_assert_cmpuint (lines->len, ==, 1);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "STORE 3 FLAGS (\\Answered)");
  g_assert_nonnull (imap_test_find (lines, "* 3 FETCH (FLAGS (\\Answered \\Recent))"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "STORE 1 +FLAGS (\\Bogus)");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  g_clear_pointer (&fail, g_free);
  lines = imap_test_ok (f->client, "COPY 1:2 Trash");
  g_assert_nonnull (strstr (imap_test_tagged (lines), "[COPYUID "));
  g_assert_nonnull (strstr (imap_test_tagged (lines), " 1,2 1,2]"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "COPY 1 Nowhere");
  g_assert_true (g_str_has_prefix (fail, "NO [TRYCREATE]"));
  lines = imap_test_ok (f->client, "MOVE 2 Archive");
  g_assert_nonnull (imap_test_find (lines, "* OK [COPYUID "));
  g_assert_nonnull (imap_test_find (lines, "* 2 EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID MOVE 4 Archive");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* UID EXPUNGE removes only the given \Deleted UIDs */
  lines = imap_test_ok (f->client, "STORE 1:2 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID EXPUNGE 3");
  g_assert_nonnull (imap_test_find (lines, "* 2 EXPUNGE"));
  g_assert_null (imap_test_find (lines, "* 1 EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "STATUS Trash (MESSAGES)");
  g_assert_nonnull (imap_test_find (lines, "(MESSAGES 2)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* CLOSE expunges silently */
  lines = imap_test_ok (f->client, "CLOSE");
  g_assert_cmpuint (lines->len, ==, 1);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "STATUS INBOX (MESSAGES)");
  g_assert_nonnull (imap_test_find (lines, "(MESSAGES 0)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* a copy into the selected mailbox shows up as EXISTS */
  lines = imap_test_ok (f->client, "SELECT Trash");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "COPY 1 Trash");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXISTS"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* EXAMINE is read-only */
  lines = imap_test_ok (f->client, "EXAMINE Trash");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "STORE 1 +FLAGS (\\Seen)");
  g_assert_true (g_str_has_prefix (fail, "NO [READ-ONLY]"));
  lines = imap_test_ok (f->client, "UNSELECT");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "FETCH 1 FLAGS");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
}

static void
test_search_esearch (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *fail = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_sample (f->client, "INBOX", "Kaffee und Kuchen");
  append_sample (f->client, "INBOX", "=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus K\xc3\xb6ln");
  append_sample (f->client, "INBOX", "Tea time");
  lines = imap_test_ok (f->client, "SELECT Drafts");   /* empty: "1:*" is no message */
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1:* (FLAGS)");
  g_assert_cmpuint (lines->len, ==, 1);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "STORE 1,3 +FLAGS (\\Flagged)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SEARCH FLAGGED");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 1 3"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SEARCH CHARSET UTF-8 SUBJECT {7+}\r\ngr\xc3\xbc\xc3\x9f" "e");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 2"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SEARCH BODY \"body of tea\" NOT DELETED");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 3"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SEARCH RETURN (MIN MAX COUNT ALL) OR FLAGGED SUBJECT tea");
  g_assert_nonnull (imap_test_find (lines, "* ESEARCH (TAG \"T"));
  g_assert_nonnull (imap_test_find (lines, "MIN 1 MAX 3 COUNT 2 ALL 1,3"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SEARCH RETURN (COUNT) SUBJECT nothing");
  g_assert_nonnull (imap_test_find (lines, " UID COUNT 0"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* SEARCHRES */
  lines = imap_test_ok (f->client, "SEARCH RETURN (SAVE) UNFLAGGED");
  g_assert_cmpuint (lines->len, ==, 1);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH $ (UID)");
  g_assert_nonnull (imap_test_find (lines, "* 2 FETCH (UID 2)"));
  g_assert_cmpuint (lines->len, ==, 2);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SEARCH UID $");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 2"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "SEARCH CHARSET X-NOPE SUBJECT a");
  g_assert_true (g_str_has_prefix (fail, "NO [BADCHARSET"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "SEARCH FROBNICATE");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  /* IMAP4rev2: SEARCH answers with ESEARCH */
  lines = imap_test_ok (f->client, "SORT (SUBJECT) UTF-8 ALL");
  g_assert_nonnull (imap_test_find (lines, "* SORT 2 1 3"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SORT (REVERSE SUBJECT) UTF-8 ALL");
  g_assert_nonnull (imap_test_find (lines, "* SORT 3 1 2"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "THREAD ORDEREDSUBJECT UTF-8 ALL");
  g_assert_nonnull (imap_test_find (lines, "* THREAD (1)(2)(3)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
}

static void
test_two_sessions_expunge (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(PhTestClient) other = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  for (guint k = 0; k < 3; k++)
    {
      g_autofree char *subject = g_strdup_printf ("m%u", k + 1);
      append_sample (f->client, "INBOX", subject);
    }
  other = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* 3 RECENT"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXISTS"));
  g_assert_nonnull (imap_test_find (lines, "* 0 RECENT"));   /* claimed by the first */
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* the first session expunges message 2 */
  lines = imap_test_ok (f->client, "STORE 2 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "EXPUNGE");
  g_assert_nonnull (imap_test_find (lines, "* 2 EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* the other: no EXPUNGE during FETCH/SEARCH; sequence numbers hold */
  lines = imap_test_ok (other, "FETCH 1:3 (UID)");
  g_assert_null (imap_test_find (lines, "EXPUNGE"));
  g_assert_nonnull (imap_test_find (lines, "* 3 FETCH (UID 3)"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "SEARCH ALL");
  g_assert_null (imap_test_find (lines, "EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* NOOP delivers it; after that message 2 is UID 3 */
  lines = imap_test_ok (other, "NOOP");
  g_assert_nonnull (imap_test_find (lines, "* 2 EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "FETCH 2 (UID)");
  g_assert_nonnull (imap_test_find (lines, "* 2 FETCH (UID 3)"));
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* a new message and a flag change reach the other session */
  append_sample (f->client, "INBOX", "m4");
  lines = imap_test_ok (f->client, "STORE 1 +FLAGS (\\Seen)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "CHECK");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXISTS"));
  g_assert_nonnull (imap_test_find (lines, "* 1 FETCH (FLAGS (\\Seen))"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* UID commands may carry the EXPUNGE */
  lines = imap_test_ok (f->client, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "EXPUNGE");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "UID FETCH 1:* (FLAGS)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (other, "UID SEARCH ALL");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 3 4"));
}

static void
test_robustness (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *fail = NULL;
  g_autofree char *line = NULL;
  g_autofree char *huge = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "FROBNICATE now");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "SELECT");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (f->client, "FETCH 1 FLAGS");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  /* an untagged garbage line */
  g_assert_true (ph_test_client_send (f->client, "\r\n", 2));
  line = ph_test_client_expect_line_prefix (f->client, "* BAD");
  /* a literal argument over max_literal_size: BAD, nothing read */
  g_assert_true (ph_test_client_send (f->client, "l1 CREATE {100000}\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (f->client, "l1 BAD"));
  /* a non-synchronising one is read and dropped */
  huge = g_strnfill (70000, 'a');
  g_assert_true (ph_test_client_send (f->client, "l2 CREATE {70000+}\r\n", -1));
  g_assert_true (ph_test_client_send (f->client, huge, 70000));
  g_assert_true (ph_test_client_send (f->client, "\r\n", 2));
  g_free (ph_test_client_expect_line_prefix (f->client, "l2 BAD"));
  /* pipelining: answers in order */
  g_assert_true (ph_test_client_send (f->client, "p1 SELECT INBOX\r\np2 NOOP\r\np3 LIST \"\" INBOX\r\n", -1));
  for (guint k = 1; k <= 3; k++)
    {
      g_autofree char *prefix = g_strdup_printf ("p%u OK", k);
      for (;;)
        {
          g_autofree char *l = ph_test_client_read_line (f->client);
          g_assert_nonnull (l);
          if (g_str_has_prefix (l, "p"))
            {
              g_assert_true (g_str_has_prefix (l, prefix));
              break;
            }
        }
    }
  lines = imap_test_ok (f->client, "NOOP");
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* a line over max_line_length: BYE and a clean close */
  g_clear_pointer (&huge, g_free);
  huge = g_strnfill (70000, 'b');
  g_assert_true (ph_test_client_sendf (f->client, "x1 NOOP %s\r\n", huge));
  g_clear_pointer (&line, g_free);
  line = ph_test_client_expect_line_prefix (f->client, "* BYE");
  g_assert_true (ph_test_client_wait_closed (f->client, 3000));
}

static void
test_rename_selected (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CREATE Old");
  g_clear_pointer (&lines, g_ptr_array_unref);
  append_sample (f->client, "Old", "kept");
  lines = imap_test_ok (f->client, "SELECT Old");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "RENAME Old New");
  g_assert_null (imap_test_find (lines, "EXPUNGE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* still selected, under the new name */
  lines = imap_test_ok (f->client, "NOOP");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  g_assert_nonnull (imap_test_find (lines, "Subject: kept"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  append_sample (f->client, "New", "added");
  lines = imap_test_ok (f->client, "FETCH 2 (UID)");
  g_assert_nonnull (imap_test_find (lines, "* 2 FETCH (UID 2)"));
}

static void
test_login_timeout (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autofree char *bye = NULL;

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK");
  bye = ph_test_client_read_line_timeout (f->client, 5000);
  g_assert_nonnull (bye);
  g_assert_true (g_str_has_prefix (bye, "* BYE"));
  g_assert_true (ph_test_client_wait_closed (f->client, 3000));
}

static void
test_rev2_search (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_sample (f->client, "INBOX", "one");
  lines = imap_test_ok (f->client, "ENABLE IMAP4rev2");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SEARCH ALL");
  g_assert_nonnull (imap_test_find (lines, " UID ALL 1"));
  g_assert_null (imap_test_find (lines, "* SEARCH"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "FETCH 1 FLAGS");
  g_assert_nonnull (imap_test_find (lines, "* 1 FETCH (FLAGS ())"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "EXAMINE INBOX");
  g_assert_nonnull (imap_test_find (lines, "* OK [CLOSED]"));
}

/* SCRAM-SHA-256 with SASL-IR: the server's final message comes as a last
 * "+" challenge answered by an empty line (RFC 9051 6.2.2). */
static void
test_authenticate_scram (Fixture *f, gconstpointer data)
{
  g_autofree char *greeting = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  Gsasl *ctx = NULL;
  Gsasl_session *sasl = NULL;
  char *out = NULL;

  f->client = ph_test_client_connect (f->server, "imap4", FALSE);
  greeting = ph_test_client_expect_line_prefix (f->client, "* OK");
  g_assert_nonnull (strstr (greeting, "AUTH=SCRAM-SHA-256"));
  g_assert_cmpint (gsasl_init (&ctx), ==, GSASL_OK);
  g_assert_cmpint (gsasl_client_start (ctx, "SCRAM-SHA-256", &sasl), ==, GSASL_OK);
  gsasl_property_set (sasl, GSASL_AUTHID, "scram@example.org");
  gsasl_property_set (sasl, GSASL_PASSWORD, "pw-scram");
  g_assert_true (gsasl_step64 (sasl, "", &out) >= GSASL_OK);
  g_assert_true (ph_test_client_sendf (f->client, "s1 AUTHENTICATE SCRAM-SHA-256 %s\r\n", out));
  gsasl_free (out);
  line = ph_test_client_expect_line_prefix (f->client, "+ ");
  g_assert_cmpint (gsasl_step64 (sasl, line + 2, &out), ==, GSASL_NEEDS_MORE);
  g_assert_true (ph_test_client_sendf (f->client, "%s\r\n", out));
  gsasl_free (out);
  g_clear_pointer (&line, g_free);
  line = ph_test_client_expect_line_prefix (f->client, "+ ");
  g_assert_cmpint (gsasl_step64 (sasl, line + 2, &out), ==, GSASL_OK);  /* server verified */
  gsasl_free (out);
  g_assert_true (ph_test_client_send (f->client, "\r\n", 2));
  g_clear_pointer (&line, g_free);
  line = ph_test_client_expect_line_prefix (f->client, "s1 OK");
  gsasl_finish (sasl);
  gsasl_done (ctx);
  lines = imap_test_ok (f->client, "SELECT INBOX");
}

/* A bad [imap4] value stops start-up with one line naming the key. */
static void
test_config_errors (void)
{
  static const char *const bad[] = {
    "[imap4]\nlisten=127.0.0.1:0\nmax_line_length=lots\n",
    "[imap4]\nlisten=127.0.0.1:0\nappend_limit=-1\n",
    "[imap4]\nlisten=127.0.0.1:0\nidle_timeout=soon\n",
    "[imap4]\nlisten=127.0.0.1:0\nno_such_key=1\n",
    "[imap4]\nlisten=not-an-address\n",
  };

  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autoptr(PhTestServer) server = ph_test_server_create ("storage-sqlite;imap4");
      g_autoptr(GError) error = NULL;

      ph_test_server_append_config (server, bad[k]);
      g_assert_false (ph_test_server_start (server, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "[imap4]"));
    }
}
int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/session/greeting-capability", test_greeting_capability, NULL);
  g_test_add_func ("/imap4/config/errors", test_config_errors);
  ADD ("/imap4/auth/login", test_login, NULL);
  ADD ("/imap4/auth/authenticate-sasl-ir", test_authenticate_sasl_ir, NULL);
  ADD ("/imap4/auth/authenticate-scram", test_authenticate_scram, NULL);
  ADD ("/imap4/misc/enable-id-namespace", test_enable_id_namespace, NULL);
  ADD ("/imap4/fetch/basic", test_select_fetch_basic, NULL);
  ADD ("/imap4/session/starttls-implicit-tls", test_starttls_implicit_tls, NULL);
  ADD ("/imap4/mailbox/create-delete-rename-subscribe-list", test_mailbox_commands, NULL);
  ADD ("/imap4/mailbox/special-use-status", test_special_use_status, NULL);
  ADD ("/imap4/append/variants", test_append_variants, NULL);
  ADD ("/imap4/append/limits-quota", test_append_limits, "append_limit=2048\nquota_storage=4k\n");
  ADD ("/imap4/fetch/items", test_fetch_items, NULL);
  ADD ("/imap4/fetch/implicit-seen", test_fetch_sets_seen, NULL);
  ADD ("/imap4/fetch/big-streamed", test_fetch_big_streamed, NULL);
  ADD ("/imap4/store-copy-move", test_store_copy_move, NULL);
  ADD ("/imap4/search/esearch-searchres-sort-thread", test_search_esearch, NULL);
  ADD ("/imap4/session/two-sessions-expunge", test_two_sessions_expunge, NULL);
  ADD ("/imap4/robustness/bad-commands-literals-pipelining", test_robustness, NULL);
  ADD ("/imap4/robustness/login-timeout", test_login_timeout, "login_timeout=1s\n");
  ADD ("/imap4/mailbox/rename-selected", test_rename_selected, NULL);
  ADD ("/imap4/misc/imap4rev2-search-flags", test_rev2_search, NULL);
  return g_test_run ();
}
