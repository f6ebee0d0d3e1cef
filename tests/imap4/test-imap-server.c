/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the imap4 plugin against the real daemon, over
 * real connections: the session (greeting, STARTTLS and implicit TLS,
 * LOGIN, AUTHENTICATE, ENABLE/ID/NAMESPACE, IMAP4rev2), the mailbox
 * commands, robustness and configuration. The message commands are in
 * test-imap-messages.c. */
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

/* ---- session, auth, mailboxes and misc ---- */

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
  ADD ("/imap4/session/starttls-implicit-tls", test_starttls_implicit_tls, NULL);
  ADD ("/imap4/mailbox/create-delete-rename-subscribe-list", test_mailbox_commands, NULL);
  ADD ("/imap4/mailbox/special-use-status", test_special_use_status, NULL);
  ADD ("/imap4/robustness/bad-commands-literals-pipelining", test_robustness, NULL);
  ADD ("/imap4/robustness/login-timeout", test_login_timeout, "login_timeout=1s\n");
  ADD ("/imap4/mailbox/rename-selected", test_rename_selected, NULL);
  ADD ("/imap4/misc/imap4rev2-search-flags", test_rev2_search, NULL);
  return g_test_run ();
}
