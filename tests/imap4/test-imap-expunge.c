/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exact untagged responses of an expunge, for the session that
 * expunges and for a second session idling on the same mailbox: EXPUNGE
 * lines and no EXISTS (RFC 3501 7.4.1: each EXPUNGE already lowers the
 * count); EXISTS only when messages were added as well. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *expunger;
  PhTestClient *idler;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->idler, ph_test_client_free);
  g_clear_pointer (&f->expunger, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
expect_line (PhTestClient *client, const char *expected)
{
  g_autofree char *line = ph_test_client_read_line (client);

  g_assert_nonnull (line);
  g_assert_cmpstr (line, ==, expected);
}

/* Runs @command and asserts every line of the response, the tagged one
 * last; @expected is NULL-terminated. */
static void
expect_response (PhTestClient *client, const char *tag, const char *command,
                 const char *const *expected)
{
  g_autoptr(GPtrArray) lines = imap_test_command (client, tag, command);
  guint n = g_strv_length ((char **) expected);

  for (guint k = 0; k < MIN (lines->len, n); k++)
    g_assert_cmpstr (g_ptr_array_index (lines, k), ==, expected[k]);
  g_assert_cmpuint (lines->len, ==, n);
}

static void
append_sample (PhTestClient *client, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n",
                                          subject);
  g_autofree char *tagged = imap_test_append (client, "INBOX", NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

/* alice, IMAP4rev2 (no \Recent or RECENT noise), INBOX selected */
static PhTestClient *
login_select (PhTestServer *server)
{
  PhTestClient *client = imap_test_login (server, IMAP_TEST_USER);
  g_autoptr(GPtrArray) lines = imap_test_ok (client, "ENABLE IMAP4rev2");

  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (client, "SELECT INBOX");
  return client;
}

static void
test_expunge_untagged (Fixture *f, gconstpointer data)
{
  static const char *const store[] = { "s1 OK Store completed.", NULL };
  static const char *const expunge[] = {
    "* 4 EXPUNGE", "* 2 EXPUNGE", "e1 OK Expunge completed.", NULL,
  };
  static const char *const uid_expunge[] = {
    "* 2 EXPUNGE", "e2 OK Expunge completed.", NULL,
  };
  static const char *const noop_expunger[] = { "n1 OK NOOP completed.", NULL };
  static const char *const noop_idler[] = { "n2 OK NOOP completed.", NULL };
  static const char *const uids_left[] = { "* 1 FETCH (UID 1)", "f1 OK Fetch completed.", NULL };
  g_autoptr(GPtrArray) lines = NULL;

  f->expunger = login_select (f->server);
  for (guint k = 0; k < 4; k++)
    append_sample (f->expunger, "m");
  f->idler = login_select (f->server);

  expect_response (f->expunger, "s1", "STORE 2,4 +FLAGS.SILENT (\\Deleted)", store);
  /* the idler learns the flags first, so IDLE below shows the expunge only */
  lines = imap_test_ok (f->idler, "NOOP");
  g_assert_nonnull (imap_test_find (lines, "* 4 FETCH (FLAGS (\\Deleted))"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_assert_true (ph_test_client_send (f->idler, "i1 IDLE\r\n", -1));
  expect_line (f->idler, "+ idling");

  /* EXPUNGE: one line per message, highest first, and no EXISTS */
  expect_response (f->expunger, "e1", "EXPUNGE", expunge);
  expect_line (f->idler, "* 4 EXPUNGE");
  expect_line (f->idler, "* 2 EXPUNGE");

  /* UID EXPUNGE of a message without \Deleted on it... */
  lines = imap_test_ok (f->expunger, "UID STORE 3 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  expect_line (f->idler, "* 2 FETCH (FLAGS (\\Deleted))");
  /* ...is the same: its EXPUNGE alone (UID 3 is now number 2) */
  expect_response (f->expunger, "e2", "UID EXPUNGE 3", uid_expunge);
  expect_line (f->idler, "* 2 EXPUNGE");

  /* nothing else was pushed: the next line is the reply to DONE */
  g_assert_true (ph_test_client_send (f->idler, "DONE\r\n", -1));
  expect_line (f->idler, "i1 OK Idle completed.");
  /* and nothing was held back for the next command */
  expect_response (f->expunger, "n1", "NOOP", noop_expunger);
  expect_response (f->idler, "n2", "NOOP", noop_idler);
  expect_response (f->idler, "f1", "FETCH 1:* (UID)", uids_left);
}

/* Messages expunged and others added before one sync: the count after the
 * EXPUNGE lines is higher than what they leave, so EXISTS follows. */
static void
test_expunge_and_arrival (Fixture *f, gconstpointer data)
{
  static const char *const noop[] = {
    "* 1 EXPUNGE", "* 3 EXISTS", "n1 OK NOOP completed.", NULL,
  };
  g_autoptr(GPtrArray) lines = NULL;

  f->expunger = login_select (f->server);
  append_sample (f->expunger, "one");
  append_sample (f->expunger, "two");
  f->idler = login_select (f->server);

  lines = imap_test_ok (f->expunger, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->expunger, "EXPUNGE");
  g_clear_pointer (&lines, g_ptr_array_unref);
  append_sample (f->expunger, "three");
  append_sample (f->expunger, "four");

  /* the idler had 2 messages: 1 expunged + 2 new = 3 */
  expect_response (f->idler, "n1", "NOOP", noop);

  /* pushed during IDLE: an arrival gives EXISTS, an expunge alone does not */
  g_assert_true (ph_test_client_send (f->idler, "i1 IDLE\r\n", -1));
  expect_line (f->idler, "+ idling");
  append_sample (f->expunger, "five");
  expect_line (f->idler, "* 4 EXISTS");
  lines = imap_test_ok (f->expunger, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  expect_line (f->idler, "* 1 FETCH (FLAGS (\\Deleted))");
  lines = imap_test_ok (f->expunger, "EXPUNGE");
  g_clear_pointer (&lines, g_ptr_array_unref);
  expect_line (f->idler, "* 1 EXPUNGE");
  g_assert_true (ph_test_client_send (f->idler, "DONE\r\n", -1));
  expect_line (f->idler, "i1 OK Idle completed.");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imap4/expunge/untagged-no-exists", Fixture, NULL, fixture_set_up,
              test_expunge_untagged, fixture_tear_down);
  g_test_add ("/imap4/expunge/exists-after-arrival", Fixture, NULL, fixture_set_up,
              test_expunge_and_arrival, fixture_tear_down);
  return g_test_run ();
}
