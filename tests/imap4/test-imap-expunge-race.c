/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FETCH racing an EXPUNGE from another session.
 *
 * The rule (protocols/imap4/README.md): a UID FETCH never fails because
 * messages in its set are gone: it returns what still exists, the
 * EXPUNGE comes before the tagged OK (a UID command may send it), as
 * Dovecot does and RFC 9051 6.4.9 allows ("UIDs that do not exist are
 * ignored"). A FETCH by sequence number that names a message the client
 * still sees but whose data is gone answers NO [EXPUNGEISSUED] (RFC 9051
 * 7.1) with the rest of the data, and the EXPUNGE waits for a command that
 * may send it (RFC 3501 7.4.1). */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *reader;
  PhTestClient *expunger;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (NULL);
  f->reader = imap_test_login (f->server, IMAP_TEST_USER);
  f->expunger = imap_test_login (f->server, IMAP_TEST_USER);
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *msg = g_strdup_printf ("Subject: m%u\r\n\r\nbody %u\r\n", i, i);
      g_autofree char *tagged = imap_test_append (f->reader, "INBOX", NULL, msg, strlen (msg));

      g_assert_true (g_str_has_prefix (tagged, "OK"));
    }
  g_ptr_array_unref (imap_test_ok (f->reader, "SELECT INBOX"));
  g_ptr_array_unref (imap_test_ok (f->expunger, "SELECT INBOX"));
  /* The other session expunges UID 2 while the reader is not looking. */
  g_ptr_array_unref (imap_test_ok (f->expunger, "UID STORE 2 +FLAGS.SILENT (\\Deleted)"));
  g_ptr_array_unref (imap_test_ok (f->expunger, "EXPUNGE"));
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->reader, ph_test_client_free);
  g_clear_pointer (&f->expunger, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
test_uid_fetch (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = imap_test_command (f->reader, "U1", "UID FETCH 1:* (UID BODY.PEEK[])");
  static const char *const expected[] = {
    "* 1 FETCH (UID 1 BODY[] {23}\r\nSubject: m1\r\n\r\nbody 1\r\n)",
    "* 3 FETCH (UID 3 BODY[] {23}\r\nSubject: m3\r\n\r\nbody 3\r\n)",
    "* 2 EXPUNGE",
    "U1 OK Fetch completed.",
  };

  g_assert_cmpuint (lines->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < lines->len; i++)
    g_assert_cmpstr (g_ptr_array_index (lines, i), ==, expected[i]);

  /* Afterwards the numbers are right. */
  g_ptr_array_unref (lines);
  lines = imap_test_ok (f->reader, "FETCH 1:* (UID)");
  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 FETCH (UID 1)");
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, "* 2 FETCH (UID 3)");
}

/* Only the gone message asked for: nothing to send, still OK. */
static void
test_uid_fetch_only_gone (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = imap_test_command (f->reader, "U2", "UID FETCH 2 (FLAGS BODY.PEEK[TEXT])");

  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 2 EXPUNGE");
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, "U2 OK Fetch completed.");
}

static void
test_seq_fetch (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = imap_test_command (f->reader, "S1", "FETCH 1:3 (BODY.PEEK[TEXT])");

  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 FETCH (BODY[TEXT] {8}\r\nbody 1\r\n)");
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, "* 3 FETCH (BODY[TEXT] {8}\r\nbody 3\r\n)");
  g_assert_true (g_str_has_prefix (g_ptr_array_index (lines, 2), "S1 NO [EXPUNGEISSUED] "));

  /* NOOP delivers the EXPUNGE. */
  g_ptr_array_unref (lines);
  lines = imap_test_ok (f->reader, "NOOP");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 2 EXPUNGE");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imap4/expunge-race/uid-fetch-ok", Fixture, NULL, fixture_set_up, test_uid_fetch,
              fixture_tear_down);
  g_test_add ("/imap4/expunge-race/uid-fetch-only-gone", Fixture, NULL, fixture_set_up,
              test_uid_fetch_only_gone, fixture_tear_down);
  g_test_add ("/imap4/expunge-race/seq-fetch-expungeissued", Fixture, NULL, fixture_set_up,
              test_seq_fetch, fixture_tear_down);
  return g_test_run ();
}
