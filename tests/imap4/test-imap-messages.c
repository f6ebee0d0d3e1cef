/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of the imap4 plugin against the real daemon, over
 * real connections: the message commands (APPEND and its limits, every
 * FETCH item, implicit \Seen, a streamed big body, STORE/COPY/MOVE,
 * SEARCH/ESEARCH/SEARCHRES/SORT/THREAD) and two sessions on one mailbox. */
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/fetch/basic", test_select_fetch_basic, NULL);
  ADD ("/imap4/append/variants", test_append_variants, NULL);
  ADD ("/imap4/append/limits-quota", test_append_limits, "append_limit=2048\nquota_storage=4k\n");
  ADD ("/imap4/fetch/items", test_fetch_items, NULL);
  ADD ("/imap4/fetch/implicit-seen", test_fetch_sets_seen, NULL);
  ADD ("/imap4/fetch/big-streamed", test_fetch_big_streamed, NULL);
  ADD ("/imap4/store-copy-move", test_store_copy_move, NULL);
  ADD ("/imap4/search/esearch-searchres-sort-thread", test_search_esearch, NULL);
  ADD ("/imap4/session/two-sessions-expunge", test_two_sessions_expunge, NULL);
  return g_test_run ();
}
