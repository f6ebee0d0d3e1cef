/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* THREAD=REFS (Dovecot's, draft-ietf-morg-inthread) on a small fixture,
 * next to THREAD=REFERENCES on the same messages: REFS links by
 * References/In-Reply-To only (no subject grouping) and orders the
 * threads by the latest date in each, a former dummy root first on a tie.
 * The golden corpus (test-imap-corpus) checks a Dovecot capture too. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
} Fixture;

static const struct {
  const char *headers;
} fixture_messages[] = {
  /* 1 */ { "Message-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: topic\r\n" },
  /* 2 */ { "Message-ID: <b@x>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nSubject: other\r\n" },
  /* 3 */ { "Message-ID: <c@x>\r\nReferences: <a@x>\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n"
            "Subject: Re: topic\r\n" },
  /* 4: the same subject as 1, no references */
  /* 4 */ { "Message-ID: <d@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\nSubject: topic\r\n" },
  /* 5, 6: replies to a message that is not there (a dummy root) */
  /* 5 */ { "Message-ID: <e@x>\r\nIn-Reply-To: <missing@x>\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n"
            "Subject: lost\r\n" },
  /* 6 */ { "Message-ID: <f@x>\r\nReferences: <missing@x>\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\n"
            "Subject: Re: lost\r\n" },
  /* 7 */ { "Message-ID: <g@x>\r\nReferences: <missing2@x>\r\nDate: Fri, 5 Jan 2024 10:00:00 +0000\r\n"
            "Subject: g\r\n" },
  /* 8, 9: the same date; 9 took the place of a dummy root */
  /* 8 */ { "Message-ID: <h@x>\r\nDate: Sat, 6 Jan 2024 10:00:00 +0000\r\nSubject: h\r\n" },
  /* 9 */ { "Message-ID: <j@x>\r\nReferences: <missing3@x>\r\nDate: Sat, 6 Jan 2024 10:00:00 +0000\r\n"
            "Subject: j\r\n" },
  /* 10: a late reply deep in 1's thread moves that thread last */
  /* 10 */ { "Message-ID: <k@x>\r\nReferences: <a@x> <c@x>\r\nDate: Sun, 7 Jan 2024 10:00:00 +0000\r\n"
             "Subject: Re: topic\r\n" },
};

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (NULL);
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  for (guint i = 0; i < G_N_ELEMENTS (fixture_messages); i++)
    {
      g_autofree char *msg = g_strdup_printf ("%sFrom: t@example.org\r\n\r\nbody %u\r\n",
                                              fixture_messages[i].headers, i + 1);
      g_autofree char *tagged = imap_test_append (f->client, "INBOX",
                                                  "\"08-Jan-2024 00:00:00 +0000\" ", msg,
                                                  strlen (msg));

      g_assert_true (g_str_has_prefix (tagged, "OK"));
    }
  g_ptr_array_unref (imap_test_ok (f->client, "SELECT INBOX"));
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
assert_thread (Fixture *f, const char *command, const char *expected)
{
  g_autoptr(GPtrArray) lines = imap_test_ok (f->client, command);

  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, expected);
}

static void
test_refs (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) caps = imap_test_ok (f->client, "CAPABILITY");

  g_assert_nonnull (strstr (imap_test_find (caps, "* CAPABILITY"), " THREAD=REFS "));
  /* Latest dates: 5+6 1 Jan 11:00, 4 1 Jan 12:00, 2 2 Jan, 7 5 Jan,
   * 9 and 8 6 Jan (9's root was a dummy), 1+3+10 7 Jan. */
  assert_thread (f, "THREAD REFS UTF-8 ALL", "* THREAD ((5)(6))(4)(2)(7)(9)(8)(1 3 10)");
  assert_thread (f, "UID THREAD REFS UTF-8 ALL", "* THREAD ((5)(6))(4)(2)(7)(9)(8)(1 3 10)");
  /* Only the messages found take part: without 10, 1's thread ends 3 Jan. */
  assert_thread (f, "UID THREAD REFS UTF-8 NOT UID 10", "* THREAD ((5)(6))(4)(2)(1 3)(7)(9)(8)");
  assert_thread (f, "THREAD REFS UTF-8 SUBJECT lost", "* THREAD ((5)(6))");
}

/* The same messages under REFERENCES: 1 and 4 grouped by subject under a
 * dummy, threads by their first date. */
static void
test_references_unchanged (Fixture *f, gconstpointer data)
{
  assert_thread (f, "UID THREAD REFERENCES UTF-8 ALL",
                 "* THREAD ((5)(6))((1 3 10)(4))(2)(7)(8)(9)");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imap4/thread/refs", Fixture, NULL, fixture_set_up, test_refs, fixture_tear_down);
  g_test_add ("/imap4/thread/references-beside-refs", Fixture, NULL, fixture_set_up,
              test_references_unchanged, fixture_tear_down);
  return g_test_run ();
}
