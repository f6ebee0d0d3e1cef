/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interop with real clients against the real daemon: Python's imaplib
 * (STARTTLS, a 5 MB APPEND, BODYSTRUCTURE of a multipart message with
 * attachments), curl's imap:// (LIST and FETCH) and mbsync (isync:
 * syncing a mailbox both ways, flag changes checked over IMAP). A client
 * that is not installed skips its test with the reason. */
#include "imap-test-client.h"

#include <glib/gstdio.h>

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

/* Runs @argv; returns its stdout (NULL if it could not run) and sets
 * @status to the exit status. */
static char *
run (char **argv, const char *cwd, int *status)
{
  g_autoptr(GError) error = NULL;
  char *out = NULL;
  g_autofree char *err = NULL;
  int wait_status = 0;

  if (!g_spawn_sync (cwd, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                     &wait_status, &error))
    {
      g_test_message ("cannot run %s: %s", argv[0], error->message);
      return NULL;
    }
  *status = g_spawn_check_wait_status (wait_status, NULL) ? 0 : 1;
  if (*status != 0)
    g_test_message ("%s failed:\n%s\n%s", argv[0], out, err);
  return out;
}

static void
append_text (PhTestClient *client, const char *mailbox, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: Alice <alice@example.org>\r\n"
                                          "To: Bob <bob@example.org>\r\n"
                                          "Subject: %s\r\n"
                                          "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
                                          "Message-ID: <%s@example.org>\r\n"
                                          "\r\n"
                                          "Body of %s\r\n", subject, subject, subject);
  g_autofree char *tagged = imap_test_append (client, mailbox, NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK"));
}

static void
test_imaplib (Fixture *f, gconstpointer data)
{
  g_autofree char *python = g_find_program_in_path ("python3");
  g_autofree char *script = g_build_filename (g_getenv ("POSTHORN_SOURCE_ROOT"), "tests",
                                              "imap4", "interop-imaplib.py", NULL);
  g_autofree char *port = NULL;
  g_autofree char *out = NULL;
  int status = 1;

  if (python == NULL)
    {
      g_test_skip ("python3 is not installed (Debian package python3)");
      return;
    }
  port = g_strdup_printf ("%u", ph_test_server_get_port (f->server, "imap4", FALSE));
  {
    char *argv[] = { python, script, "127.0.0.1", port, IMAP_TEST_USER, IMAP_TEST_PASS, NULL };
    out = run (argv, NULL, &status);
  }
  g_assert_nonnull (out);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_str_has_suffix (out, "OK\n"));
}

static void
test_curl (Fixture *f, gconstpointer data)
{
  g_autofree char *curl = g_find_program_in_path ("curl");
  g_autofree char *url = NULL;
  g_autofree char *out = NULL;
  int status = 1;

  if (curl == NULL)
    {
      g_test_skip ("curl is not installed (Debian package curl)");
      return;
    }
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_text (f->client, "INBOX", "curl-one");
  append_text (f->client, "INBOX", "curl-two");
  /* listing */
  url = g_strdup_printf ("imap://127.0.0.1:%u/", ph_test_server_get_port (f->server, "imap4", FALSE));
  {
    char *argv[] = { curl, "-sS", "--max-time", "10", "-u", IMAP_TEST_USER ":" IMAP_TEST_PASS,
                     url, NULL };
    out = run (argv, NULL, &status);
  }
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "* LIST"));
  g_assert_nonnull (strstr (out, "INBOX"));
  g_assert_nonnull (strstr (out, "\\Sent"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&url, g_free);
  /* fetching by UID */
  url = g_strdup_printf ("imap://127.0.0.1:%u/INBOX;UID=2",
                         ph_test_server_get_port (f->server, "imap4", FALSE));
  {
    char *argv[] = { curl, "-sS", "--max-time", "10", "-u", IMAP_TEST_USER ":" IMAP_TEST_PASS,
                     url, NULL };
    out = run (argv, NULL, &status);
  }
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "Subject: curl-two"));
  g_assert_nonnull (strstr (out, "Body of curl-two"));
}

static guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* The name of the one file in @dir whose name contains @needle. */
static char *
find_file (const char *dir, const char *needle)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL) && strstr (text, needle) != NULL)
        return g_strdup (name);
    }
  return NULL;
}

static void
test_mbsync (Fixture *f, gconstpointer data)
{
  g_autofree char *mbsync = g_find_program_in_path ("mbsync");
  const char *dir = ph_test_server_get_dir (f->server);
  g_autofree char *maildir = g_build_filename (dir, "maildir", NULL);
  g_autofree char *rc = g_build_filename (dir, "mbsyncrc", NULL);
  g_autofree char *config = NULL;
  g_autofree char *out = NULL;
  g_autofree char *cur = NULL;
  g_autofree char *newdir = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  int status = 1;
  char *argv[] = { NULL, "-c", NULL, "-a", NULL };

  if (mbsync == NULL)
    {
      g_test_skip ("mbsync is not installed (Debian package isync)");
      return;
    }
  argv[0] = mbsync;
  argv[2] = rc;
  g_assert_cmpint (g_mkdir_with_parents (maildir, 0700), ==, 0);
  config = g_strdup_printf (
    "IMAPAccount test\nHost 127.0.0.1\nPort %u\nUser " IMAP_TEST_USER "\nPass " IMAP_TEST_PASS "\n"
    "SSLType IMAPS\nCertificateFile %s\nSystemCertificates no\nAuthMechs LOGIN\n\n"
    "IMAPStore remote\nAccount test\n\n"
    "MaildirStore local\nPath %s/\nInbox %s/inbox\n\n"
    "Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\n"
    "Sync All\nExpunge Both\nSyncState *\n",
    ph_test_server_get_port (f->server, "imap4", TRUE), ph_test_server_get_cert_path (f->server),
    maildir, maildir);
  g_assert_true (g_file_set_contents (rc, config, -1, NULL));

  f->client = imap_test_login (f->server, IMAP_TEST_USER);
  append_text (f->client, "INBOX", "mbsync-one");
  append_text (f->client, "INBOX", "mbsync-two");

  /* server -> local */
  out = run (argv, dir, &status);
  g_assert_cmpint (status, ==, 0);
  cur = g_build_filename (maildir, "inbox", "cur", NULL);
  newdir = g_build_filename (maildir, "inbox", "new", NULL);
  g_assert_cmpuint (count_files (cur) + count_files (newdir), ==, 2);

  /* local -> server: mark one seen, add one message */
  name = find_file (newdir, "mbsync-one");
  if (name == NULL)
    name = find_file (cur, "mbsync-one");
  g_assert_nonnull (name);
  {
    g_autofree char *in_new = g_build_filename (newdir, name, NULL);
    g_autofree char *from = g_file_test (in_new, G_FILE_TEST_EXISTS)
                              ? g_strdup (in_new) : g_build_filename (cur, name, NULL);
    g_autofree char *base = g_strdup (name);
    char *colon = strchr (base, ':');
    g_autofree char *to = NULL;
    if (colon != NULL)
      *colon = '\0';
    to = g_strdup_printf ("%s/%s:2,S", cur, base);
    g_assert_cmpint (g_rename (from, to), ==, 0);
  }
  {
    g_autofree char *path = g_build_filename (newdir, "1700000000.local-three.host", NULL);
    g_assert_true (g_file_set_contents (path,
                                        "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\n"
                                        "Subject: mbsync-three\r\nMessage-ID: <three@example.org>\r\n\r\n"
                                        "Written locally.\r\n", -1, NULL));
  }
  g_clear_pointer (&out, g_free);
  out = run (argv, dir, &status);
  g_assert_cmpint (status, ==, 0);

  lines = imap_test_ok (f->client, "SELECT INBOX");
  g_assert_nonnull (imap_test_find (lines, "* 3 EXISTS"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "UID SEARCH SEEN");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 1"));
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->client, "SEARCH SUBJECT mbsync-three");
  g_assert_nonnull (imap_test_find (lines, "* SEARCH 3"));
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* server flag change -> local */
  lines = imap_test_ok (f->client, "UID STORE 2 +FLAGS (\\Flagged)");
  g_clear_pointer (&lines, g_ptr_array_unref);
  g_clear_pointer (&out, g_free);
  out = run (argv, dir, &status);
  g_assert_cmpint (status, ==, 0);
  {
    g_autofree char *two = find_file (cur, "mbsync-two");
    g_assert_nonnull (two);
    g_assert_nonnull (strstr (two, ":2,F"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imap4/interop/imaplib", Fixture, NULL, fixture_set_up, test_imaplib,
              fixture_tear_down);
  g_test_add ("/imap4/interop/curl", Fixture, NULL, fixture_set_up, test_curl,
              fixture_tear_down);
  g_test_add ("/imap4/interop/mbsync", Fixture, NULL, fixture_set_up, test_mbsync,
              fixture_tear_down);
  return g_test_run ();
}
