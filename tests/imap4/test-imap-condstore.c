/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CONDSTORE (RFC 7162 section 3) against the real daemon, with the exact
 * lines expected: HIGHESTMODSEQ in SELECT and STATUS, FETCH MODSEQ and
 * CHANGEDSINCE, STORE UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ,
 * MODSEQ in the untagged FETCH of another session's change, and the
 * CONDSTORE enabling commands. */
#include "imap-test-client.h"

#include <stdio.h>

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
  PhTestClient *other;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (data);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->other, ph_test_client_free);
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
append_sample (PhTestClient *client, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n",
                                          subject);
  g_autofree char *tagged = imap_test_append (client, "INBOX", NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

/* Runs @command and compares every line (tagged one without its tag)
 * with the NULL-terminated @expected. */
static guint tag_counter;

static void
expect_response (PhTestClient *client, const char *command, ...)
{
  g_autofree char *tag = g_strdup_printf ("C%u", ++tag_counter);
  g_autoptr(GPtrArray) lines = imap_test_command (client, tag, command);
  g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func (g_free);
  va_list args;
  const char *line;

  va_start (args, command);
  while ((line = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (want, g_strdup (line));
  va_end (args);
  for (guint k = 0; k < lines->len; k++)
    g_test_message ("%s: %s", command, (const char *) g_ptr_array_index (lines, k));
  g_assert_cmpuint (lines->len, ==, want->len);
  for (guint k = 0; k < lines->len; k++)
    {
      const char *got = g_ptr_array_index (lines, k);
      if (k == lines->len - 1)
        got += strlen (tag) + 1;
      g_assert_cmpstr (got, ==, g_ptr_array_index (want, k));
    }
}

static guint64
highestmodseq (GPtrArray *lines)
{
  const char *line = imap_test_find (lines, "[HIGHESTMODSEQ ");

  g_assert_nonnull (line);
  return g_ascii_strtoull (strstr (line, "[HIGHESTMODSEQ ") + 15, NULL, 10);
}

#define M(fmt, ...) g_strdup_printf (fmt, __VA_ARGS__)

static void
test_condstore (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GPtrArray) s = g_ptr_array_new_with_free_func (g_free);
  guint64 h, m1 = 0, m3 = 0;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CAPABILITY");
  g_assert_nonnull (imap_test_find (lines, " CONDSTORE"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  for (guint k = 0; k < 3; k++)
    append_sample (f->client, "m");
  lines = imap_test_ok (f->client, "ENABLE IMAP4rev2");
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* SELECT (CONDSTORE): HIGHESTMODSEQ; STATUS agrees */
  lines = imap_test_ok (f->client, "SELECT INBOX (CONDSTORE)");
  h = highestmodseq (lines);
  g_assert_cmpuint (h, >, 0);
  g_ptr_array_add (s, M ("* STATUS INBOX (MESSAGES 3 HIGHESTMODSEQ %" G_GUINT64_FORMAT ")", h));
  expect_response (f->client, "STATUS INBOX (MESSAGES HIGHESTMODSEQ)",
                   s->pdata[0], "OK Status completed.", NULL);

  /* each APPEND got its own MODSEQ, the last one the highest */
  g_ptr_array_add (s, M ("* 3 FETCH (UID 3 MODSEQ (%" G_GUINT64_FORMAT "))", h));
  expect_response (f->client, "UID FETCH 3 (MODSEQ)", s->pdata[1], "OK Fetch completed.", NULL);

  /* STORE reports the new MODSEQ */
  g_ptr_array_add (s, M ("* 2 FETCH (FLAGS (\\Flagged) MODSEQ (%" G_GUINT64_FORMAT "))", h + 1));
  expect_response (f->client, "STORE 2 +FLAGS (\\Flagged)", s->pdata[2], "OK Store completed.", NULL);

  /* CHANGEDSINCE: only message 2, with MODSEQ added */
  g_ptr_array_add (s, M ("* 2 FETCH (FLAGS (\\Flagged) MODSEQ (%" G_GUINT64_FORMAT "))", h + 1));
  {
    g_autofree char *cmd = M ("FETCH 1:* (FLAGS) (CHANGEDSINCE %" G_GUINT64_FORMAT ")", h);
    expect_response (f->client, cmd, s->pdata[3], "OK Fetch completed.", NULL);
  }

  /* UNCHANGEDSINCE h: 2 was changed since and is refused; .SILENT still
   * reports the MODSEQs of the others */
  {
    g_autofree char *cmd = M ("UID STORE 1:3 (UNCHANGEDSINCE %" G_GUINT64_FORMAT ") +FLAGS.SILENT (\\Seen)", h);
    g_autoptr(GPtrArray) got = imap_test_command (f->client, "u1", cmd);

    g_assert_cmpuint (got->len, ==, 3);
    g_assert_true (sscanf (g_ptr_array_index (got, 0), "* 1 FETCH (UID 1 MODSEQ (%" G_GUINT64_FORMAT "))", &m1) == 1);
    g_assert_true (sscanf (g_ptr_array_index (got, 1), "* 3 FETCH (UID 3 MODSEQ (%" G_GUINT64_FORMAT "))", &m3) == 1);
    g_assert_cmpuint (m1, >, h + 1);
    g_assert_cmpuint (m3, >, h + 1);
    g_assert_cmpstr (g_ptr_array_index (got, 2), ==, "u1 OK [MODIFIED 2] Conditional STORE failed");
    g_assert_cmpuint (m1, <, m3);
    h = m3;
  }
  /* UNCHANGEDSINCE 0 fails for every message, by sequence number */
  expect_response (f->client, "STORE 1,3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)",
                   "OK [MODIFIED 1,3] Conditional STORE failed", NULL);
  g_ptr_array_add (s, M ("* 1 FETCH (FLAGS (\\Seen) MODSEQ (%" G_GUINT64_FORMAT "))", m1));
  expect_response (f->client, "FETCH 1 (FLAGS MODSEQ)", s->pdata[4], "OK Fetch completed.", NULL);

  /* SEARCH MODSEQ: the highest MODSEQ of the matches */
  g_ptr_array_add (s, M ("MODSEQ %" G_GUINT64_FORMAT, h));
  {
    g_autofree char *cmd = M ("SEARCH RETURN (ALL) MODSEQ %" G_GUINT64_FORMAT, m1);
    g_autofree char *want = M ("* ESEARCH (TAG \"C%u\") ALL 1,3 %s", tag_counter + 1,
                               (char *) s->pdata[5]);
    expect_response (f->client, cmd, want, "OK Search completed.", NULL);
  }
  {
    g_autofree char *cmd = M ("SEARCH RETURN (COUNT) MODSEQ %" G_GUINT64_FORMAT, h + 1);
    g_autofree char *want = M ("* ESEARCH (TAG \"C%u\") COUNT 0", tag_counter + 1);
    expect_response (f->client, cmd, want, "OK Search completed.", NULL);
  }

  /* another session's change arrives with its MODSEQ */
  f->other = imap_test_login (f->server, IMAP_TEST_USER);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "STORE 3 FLAGS.SILENT (\\Answered)");
  g_ptr_array_add (s, M ("* 3 FETCH (FLAGS (\\Answered) MODSEQ (%" G_GUINT64_FORMAT "))", h + 1));
  expect_response (f->client, "NOOP", s->pdata[6], "OK NOOP completed.", NULL);
}

/* The CONDSTORE enabling commands: ENABLE, and FETCH MODSEQ with a
 * mailbox selected, each announce HIGHESTMODSEQ once. */
static void
test_condstore_enabling (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *ok = NULL;
  g_autofree char *fetch = NULL;
  g_autofree char *status = NULL;
  guint64 h;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_sample (f->client, "one");
  /* STATUS (HIGHESTMODSEQ) without a mailbox selected: nothing more */
  lines = imap_test_ok (f->client, "STATUS INBOX (HIGHESTMODSEQ)");
  g_assert_cmpuint (lines->len, ==, 2);
  h = g_ascii_strtoull (strstr (imap_test_find (lines, "* STATUS"), "HIGHESTMODSEQ ") + 14, NULL, 10);
  ok = M ("* OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest", h);
  fetch = M ("* 1 FETCH (MODSEQ (%" G_GUINT64_FORMAT "))", h);
  status = M ("* STATUS INBOX (HIGHESTMODSEQ %" G_GUINT64_FORMAT ")", h);
  /* ... but it enabled CONDSTORE: SELECT says HIGHESTMODSEQ */
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, ok));
  expect_response (f->client, "ENABLE CONDSTORE", "* ENABLED", "OK Enabled.", NULL);

  /* each enabling command, with a mailbox selected, announces once */
  for (guint k = 0; k < 4; k++)
    {
      static const char *const enabling[] = {
        "FETCH 1 (MODSEQ)", "STATUS INBOX (HIGHESTMODSEQ)", "ENABLE CONDSTORE",
        "SEARCH MODSEQ 1",
      };
      g_autoptr(PhTestClient) client = imap_test_login (f->server, IMAP_TEST_USER);
      const char *second;

      g_clear_pointer (&lines, g_ptr_array_unref);
      lines = imap_test_ok (client, "EXAMINE INBOX");
      g_assert_null (imap_test_find (lines, "HIGHESTMODSEQ"));
      second = k == 0 ? fetch : k == 1 ? status : k == 2 ? "* ENABLED CONDSTORE"
                                                         : "* SEARCH 1 (MODSEQ 2)";
      if (k == 3)
        g_assert_cmpuint (h, ==, 2);
      expect_response (client, enabling[k], ok, second, k == 0 ? "OK Fetch completed."
                                                       : k == 1 ? "OK Status completed."
                                                       : k == 2 ? "OK Enabled."
                                                                : "OK Search completed.", NULL);
      expect_response (client, "NOOP", "OK NOOP completed.", NULL);
    }

  g_clear_pointer (&lines, g_ptr_array_unref);
  f->other = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->other, "EXAMINE INBOX (CONDSTORE)");
  g_assert_nonnull (imap_test_find (lines, ok));
  /* MODSEQ in SORT is not offered */
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_free (imap_test_fail (f->other, "SORT (DATE) UTF-8 MODSEQ 1"));
}

/* The VANISHED and FETCH lines of @lines, joined by '|', then the tagged
 * line without its tag. */
static char *
qresync_lines (GPtrArray *lines)
{
  GString *out = g_string_new (NULL);
  const char *tagged = imap_test_tagged (lines);

  for (guint k = 0; k + 1 < lines->len; k++)
    {
      const char *line = g_ptr_array_index (lines, k);
      if (g_str_has_prefix (line, "* VANISHED") || strstr (line, " FETCH (") != NULL
          || strstr (line, " EXPUNGE") != NULL || strstr (line, "[CLOSED]") != NULL)
        g_string_append_printf (out, "%s|", line);
    }
  g_string_append (out, strchr (tagged, ' ') + 1);
  return g_string_free (out, FALSE);
}

static void
expect_qresync (PhTestClient *client, const char *command, const char *expected)
{
  static guint counter;
  g_autofree char *tag = g_strdup_printf ("Q%u", ++counter);
  g_autoptr(GPtrArray) lines = imap_test_command (client, tag, command);
  g_autofree char *got = qresync_lines (lines);

  g_assert_cmpstr (got, ==, expected);
}

static void
test_qresync (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *cmd = NULL;
  g_autofree char *want = NULL;
  guint32 uidvalidity;
  guint64 h;

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->client, "CAPABILITY");
  g_assert_nonnull (imap_test_find (lines, " QRESYNC"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  for (guint k = 0; k < 5; k++)
    append_sample (f->client, "m");
  /* not enabled yet: SELECT (QRESYNC ...) and VANISHED are BAD */
  g_free (imap_test_fail (f->client, "SELECT INBOX (QRESYNC (1 1))"));
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_free (imap_test_fail (f->client, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"));
  expect_response (f->client, "ENABLE QRESYNC", "* OK [HIGHESTMODSEQ 6] Highest",
                   "* ENABLED QRESYNC", "OK Enabled.", NULL);
  /* reselecting says [CLOSED] */
  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* OK [CLOSED]"));
  h = highestmodseq (lines);
  g_assert_cmpuint (h, ==, 6);
  uidvalidity = (guint32) g_ascii_strtoull (strstr (imap_test_find (lines, "[UIDVALIDITY "), "[UIDVALIDITY ") + 13, NULL, 10);
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* VANISHED instead of EXPUNGE */
  expect_qresync (f->client, "STORE 1 +FLAGS (\\Seen)",
                  "* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))|OK Store completed.");
  expect_qresync (f->client, "STORE 2,4 +FLAGS.SILENT (\\Deleted)",
                  "* 2 FETCH (UID 2 MODSEQ (8))|* 4 FETCH (UID 4 MODSEQ (9))|OK Store completed.");
  expect_qresync (f->client, "UID EXPUNGE 2", "* VANISHED 2|OK Expunge completed.");
  expect_qresync (f->client, "EXPUNGE", "* VANISHED 4|OK Expunge completed.");

  /* another client resynchronises from MODSEQ 6 */
  f->other = imap_test_login (f->server, IMAP_TEST_USER);
  lines = imap_test_ok (f->other, "ENABLE QRESYNC");
  g_clear_pointer (&lines, g_ptr_array_unref);
  cmd = g_strdup_printf ("SELECT INBOX (QRESYNC (%u %" G_GUINT64_FORMAT "))", uidvalidity, h);
  expect_qresync (f->other, cmd,
                  "* VANISHED (EARLIER) 2,4|* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))"
                  "|OK [READ-WRITE] SELECT completed.");
  /* with known UIDs: only those vanish */
  g_clear_pointer (&cmd, g_free);
  cmd = g_strdup_printf ("EXAMINE INBOX (QRESYNC (%u %" G_GUINT64_FORMAT " 1:3))", uidvalidity, h);
  expect_qresync (f->other, cmd,
                  "* OK [CLOSED] Previous mailbox closed.|* VANISHED (EARLIER) 2"
                  "|* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))|OK [READ-ONLY] EXAMINE completed.");
  /* the expunges took MODSEQs 10 and 11: since 10 only UID 4 vanished,
   * since 11 nothing changed */
  g_clear_pointer (&cmd, g_free);
  cmd = g_strdup_printf ("EXAMINE INBOX (QRESYNC (%u 10))", uidvalidity);
  expect_qresync (f->other, cmd,
                  "* OK [CLOSED] Previous mailbox closed.|* VANISHED (EARLIER) 4"
                  "|OK [READ-ONLY] EXAMINE completed.");
  g_clear_pointer (&cmd, g_free);
  cmd = g_strdup_printf ("EXAMINE INBOX (QRESYNC (%u 11))", uidvalidity);
  expect_qresync (f->other, cmd,
                  "* OK [CLOSED] Previous mailbox closed.|OK [READ-ONLY] EXAMINE completed.");
  /* another UIDVALIDITY: a plain SELECT */
  g_clear_pointer (&cmd, g_free);
  cmd = g_strdup_printf ("EXAMINE INBOX (QRESYNC (%u 1))", uidvalidity + 1);
  expect_qresync (f->other, cmd,
                  "* OK [CLOSED] Previous mailbox closed.|OK [READ-ONLY] EXAMINE completed.");

  /* UID FETCH CHANGEDSINCE VANISHED, limited to the set */
  expect_qresync (f->other, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)",
                  "* VANISHED (EARLIER) 2,4|* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))"
                  "|OK Fetch completed.");
  expect_qresync (f->other, "UID FETCH 3:5 (FLAGS) (CHANGEDSINCE 6 VANISHED)",
                  "* VANISHED (EARLIER) 4|OK Fetch completed.");

  /* another session's changes: FETCH with UID and MODSEQ, VANISHED (a
   * message flagged and expunged between two syncs only vanishes) */
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID STORE 3 +FLAGS.SILENT (\\Flagged)");
  expect_qresync (f->other, "NOOP",
                  "* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (12))|OK NOOP completed.");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID STORE 5 +FLAGS.SILENT (\\Deleted)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID EXPUNGE 5");
  expect_qresync (f->other, "NOOP",
                  "* VANISHED 5|OK NOOP completed.");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/condstore/select-fetch-store-search", test_condstore, NULL);
  ADD ("/imap4/condstore/enabling-commands", test_condstore_enabling, NULL);
  ADD ("/imap4/qresync/select-vanished-fetch", test_qresync, NULL);
  return g_test_run ();
}
