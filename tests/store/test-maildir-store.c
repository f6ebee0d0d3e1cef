/* storage-maildir specific tests: a Maildir Dovecot 2.3 wrote, files other
 * programs drop or rename, crashes between write and rename, two
 * processes delivering at once.
 *
 *   test-maildir-store --store storage-maildir
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

#define USER "alice@example.org"

typedef struct {
  char *dir;
  char *root;     /* alice's Maildir */
  PosthornStoreUser *user;
} Fixture;

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("posthorn-maildir-XXXXXX", &error);
  g_assert_no_error (error);
  f->root = g_build_filename (f->dir, "maildir", "example.org", "alice", NULL);
  store_test_load (f->dir);
  if (data == NULL)
    f->user = store_test_open_user (USER);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_clear_settings ();
  rm_rf (f->dir);
  g_free (f->root);
  g_free (f->dir);
}

static char *
file_in (Fixture *f, const char *folder_dir, const char *sub)
{
  g_autofree char *path = g_build_filename (f->root, folder_dir, sub, NULL);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name = dir != NULL ? g_dir_read_name (dir) : NULL;

  return name != NULL ? g_build_filename (path, name, NULL) : NULL;
}

/* Delivers like procmail: tmp/, then rename into new/. */
static void
drop_into_new (Fixture *f, const char *name, const char *text)
{
  g_autofree char *tmp = g_build_filename (f->root, "tmp", name, NULL);
  g_autofree char *dst = g_build_filename (f->root, "new", name, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (tmp, text, -1, &error));
  g_assert_cmpint (g_rename (tmp, dst), ==, 0);
}

static PosthornMailboxView *
open_view (Fixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;
  PosthornMailboxView *view = store_test_open_view (f->user, name, POSTHORN_VIEW_READ_WRITE, &error);

  g_assert_no_error (error);
  return view;
}

static PosthornViewChanges *
sync_view (PosthornMailboxView *view)
{
  g_autoptr(GError) error = NULL;
  PosthornViewChanges *changes = store_test_sync_view (view, 0, &error);

  g_assert_no_error (error);
  return changes;
}

static GBytes *
read_message (Fixture *f, const char *mailbox, guint32 uid)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes = store_test_read_all (f->user, mailbox, 0, uid, 7, &error);

  g_assert_no_error (error);
  return bytes;
}

static char *
crlf (const char *lf)
{
  g_auto(GStrv) lines = g_strsplit (lf, "\n", -1);

  return g_strjoinv ("\r\n", lines);
}

/* ---- external writers ---- */

static void
test_external_new_file_once (Fixture *f, gconstpointer data)
{
  const char *text = "From: procmail@example.org\nSubject: dropped\n\nbody line\n";
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  g_autoptr(PosthornViewChanges) c1 = NULL;
  g_autoptr(PosthornViewChanges) c2 = NULL;
  g_autoptr(GBytes) got = NULL;
  g_autofree char *expected = crlf (text);
  guint32 uid;

  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 0);
  drop_into_new (f, "1700000000.P1Q1.otherhost", text);
  c1 = sync_view (view);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (c1), ==, 1);
  uid = posthorn_mailbox_view_get_uid (view, 1);
  g_assert_cmpuint (uid, >, 0);
  /* Once: the next sync finds nothing new. */
  c2 = sync_view (view);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (c2), ==, 0);
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 1);
  /* Moved to cur/ as Dovecot does, and read back in canonical form. */
  g_assert_null (file_in (f, "", "new"));
  got = read_message (f, "INBOX", uid);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), expected, strlen (expected));

  /* After a restart it is still the same UID. */
  g_clear_pointer (&view, posthorn_mailbox_view_unref);
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, uid);
}

static void
test_external_flags_renamed (Fixture *f, gconstpointer data)
{
  guint32 uid = store_test_append_simple (f->user, "INBOX", "From: a@example.org\r\nSubject: f\r\n\r\nx\r\n");
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  g_autoptr(PosthornViewChanges) changes = NULL;
  g_autofree char *path = file_in (f, "", "cur");
  g_autofree char *renamed = NULL;
  const guint32 *changed;
  guint n;

  g_assert_nonnull (path);
  g_assert_true (g_str_has_suffix (path, ":2,"));
  /* A mail reader marks it seen and flagged the Maildir way. */
  renamed = g_strconcat (path, "FS", NULL);
  g_assert_cmpint (g_rename (path, renamed), ==, 0);
  changes = sync_view (view);
  changed = posthorn_view_changes_get_changed_uids (changes, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (changed[0], ==, uid);
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_STORED_FLAGS, ==,
                    POSTHORN_MESSAGE_SEEN | POSTHORN_MESSAGE_FLAGGED);
  /* Reading follows the new name. */
  {
    g_autoptr(GBytes) got = read_message (f, "INBOX", uid);

    g_assert_cmpuint (g_bytes_get_size (got), ==, strlen ("From: a@example.org\r\nSubject: f\r\n\r\nx\r\n"));
  }
  /* A file removed by another program is expunged. */
  g_assert_cmpint (g_unlink (renamed), ==, 0);
  g_clear_pointer (&changes, posthorn_view_changes_free);
  changes = sync_view (view);
  {
    const guint32 *gone = posthorn_view_changes_get_expunged_uids (changes, &n);

    g_assert_cmpuint (n, ==, 1);
    g_assert_cmpuint (gone[0], ==, uid);
  }
}

static void
on_event (const PosthornEvent *event, gpointer user_data)
{
  GPtrArray *events = user_data;

  g_ptr_array_add (events, posthorn_event_ref ((PosthornEvent *) event));
}

static void
test_external_idle_event (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_event_unref);
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  guint id = posthorn_event_subscribe (USER, "INBOX", on_event, events, NULL);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  /* No command runs: the watch on new/ must notice by itself. */
  drop_into_new (f, "1700000001.P2Q1.otherhost", "Subject: idle\n\nwake up\n");
  while (events->len == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  posthorn_event_unsubscribe (id);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpint (posthorn_event_get_kind (events->pdata[0]), ==, POSTHORN_EVENT_MESSAGE_NEW);
  g_assert_cmpuint (posthorn_event_get_uid (events->pdata[0]), ==, posthorn_mailbox_view_get_uidnext (view));
  {
    g_autoptr(PosthornViewChanges) changes = sync_view (view);

    g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 1);
  }
}

/* ---- crashes ---- */

static void
test_crash_between_write_and_rename (Fixture *f, gconstpointer data)
{
  const char *whole = "From: a@example.org\r\nSubject: whole\r\n\r\nall of it\r\n";
  g_autofree char *torn = g_build_filename (f->root, "tmp", "1700000002.M1P3Q1.host,S=999,W=999", NULL);
  g_autofree char *placed = g_build_filename (f->root, "cur", "1700000003.M1P3Q2.host,S=50,W=50:2,S", NULL);
  g_autoptr(PosthornMailboxView) view = NULL;

  /* Died while writing: the half file is in tmp/ only. */
  g_assert_true (g_file_set_contents (torn, "From: a@example.org\r\nSubject: to", -1, NULL));
  /* Died after the rename, before the index knew: the file is whole. */
  g_assert_true (g_file_set_contents (placed, whole, -1, NULL));
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_SEEN, !=, 0);
  {
    g_autoptr(GBytes) got = read_message (f, "INBOX", posthorn_mailbox_view_get_uid (view, 1));

    g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), whole, strlen (whole));
  }
}

static void
test_cur_non_maildir_file (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      g_autofree char *readme = g_build_filename (f->root, "cur", "README", NULL);
      g_autoptr(PosthornMailboxView) view = NULL;

      store_test_append_simple (f->user, "INBOX", "Subject: real\r\n\r\nx\r\n");
      g_autoptr(GError) error = NULL;

      g_file_set_contents (readme, "not mail", -1, &error);
      g_assert_no_error (error);
      /* Maildir names, but a symbolic link and a directory. */
      {
        g_autofree char *link = g_build_filename (f->root, "cur", "1700000005.P5Q1.host:2,", NULL);
        g_autofree char *sub = g_build_filename (f->root, "cur", "1700000006.P6Q1.host:2,", NULL);

        g_assert_cmpint (symlink (readme, link), ==, 0);
        g_assert_cmpint (g_mkdir (sub, 0700), ==, 0);
      }
      view = open_view (f, "INBOX");
      g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 1);
      /* Warned about once, not at every scan. */
      g_usleep (G_USEC_PER_SEC / 50);
      g_assert_true (g_file_set_contents (readme, "still not mail", -1, NULL));
      drop_into_new (f, "1700000004.P4Q1.host", "Subject: other\n\ny\n");
      {
        g_autoptr(PosthornViewChanges) changes = sync_view (view);

        g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 2);
      }
      g_assert_true (g_file_test (readme, G_FILE_TEST_EXISTS));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*WARNING storage-maildir: ignoring */cur/README: not a Maildir message file*");
  g_test_trap_assert_stderr_unmatched ("*cur/README*cur/README*");
  g_test_trap_assert_stderr ("*ignoring */cur/1700000005.P5Q1.host:2,: not a Maildir message file*");
  g_test_trap_assert_stderr ("*ignoring */cur/1700000006.P6Q1.host:2,: not a Maildir message file*");
}

/* ---- two processes ---- */

static int
deliver_child (const char *dir, const char *tag)
{
  store_test_load (dir);
  for (guint i = 0; i < 25; i++)
    {
      g_autofree char *text = g_strdup_printf ("From: %s@example.org\r\nSubject: %s %u\r\n\r\n%s %u\r\n",
                                               tag, tag, i, tag, i);
      g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (text, strlen (text));
      const char *users[] = { USER, NULL };
      GAsyncResult *res = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornStoreChanges) changes = NULL;

      posthorn_store_deliver_async (users, NULL, msg, 0, NULL, NULL, store_test_result_cb, &res);
      changes = store_test_changes_wait (&res, &error);
      g_assert_no_error (error);
    }
  store_test_unload ();
  return 0;
}

static void
test_concurrent_processes (Fixture *f, gconstpointer data)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  GPid pids[2];
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
      g_auto(GStrv) argv = NULL;
      g_autoptr(GError) error = NULL;

      g_strv_builder_add_many (b, exe, "--deliver-child", f->dir, i == 0 ? "left" : "right",
                               "--store", store_test_plugin_name (), NULL);
      argv = g_strv_builder_end (b);
      g_assert_true (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                    &pids[i], &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 2; i++)
    {
      int status;

      g_assert_cmpint (waitpid (pids[i], &status, 0), ==, pids[i]);
      g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
      g_spawn_close_pid (pids[i]);
    }
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 50);
  for (guint seq = 1; seq <= 50; seq++)
    {
      g_autoptr(GBytes) got = read_message (f, "INBOX", posthorn_mailbox_view_get_uid (view, seq));
      g_autofree char *text = g_strndup (g_bytes_get_data (got, NULL), g_bytes_get_size (got));
      char *subject = strstr (text, "Subject: ");

      g_assert_nonnull (subject);
      *strchr (subject, '\r') = '\0';
      g_assert_true (g_hash_table_add (seen, g_strdup (subject)));   /* each once */
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 50);
}

/* ---- the folder snapshot ---- */

/* Restarts the store (as after a crash or a restart: nothing in memory). */
static void
reload (Fixture *f)
{
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
}

/* Snapshots for folders of 4 messages and more, rewritten after 2 changes. */
static void
use_small_snapshots (Fixture *f)
{
  store_test_add_setting ("storage-maildir.snapshot_min_messages=4");
  store_test_add_setting ("storage-maildir.snapshot_max_delta=2");
  reload (f);
}

/* Every message of the view: UID, stored flags, MODSEQ, keyword names. */
static char *
view_dump (PosthornMailboxView *view)
{
  GString *out = g_string_new (NULL);
  const char *const *names = posthorn_mailbox_view_get_keywords (view);

  for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
    {
      guint n;
      const guint32 *kw = posthorn_mailbox_view_get_message_keywords (view, seq, &n);

      g_string_append_printf (out, "%u:%u:%" G_GUINT64_FORMAT ":", posthorn_mailbox_view_get_uid (view, seq),
                              posthorn_mailbox_view_get_flags (view, seq) & POSTHORN_MESSAGE_STORED_FLAGS,
                              posthorn_mailbox_view_get_modseq (view, seq));
      for (guint i = 0; i < n; i++)
        g_string_append_printf (out, "%s,", names[kw[i]]);
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

static char *
dump_of (Fixture *f, const char *mailbox)
{
  g_autoptr(PosthornMailboxView) view = open_view (f, mailbox);

  return view_dump (view);
}

/* Runs @sql on alice's index (another connection, as another process
 * would); returns the first column of the first row, or -1. */
static gint64
index_sql (Fixture *f, const char *sql)
{
  g_autofree char *path = g_build_filename (f->root, "posthorn-index.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 v = -1;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    v = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return v;
}

/* The file of @uid in cur/ (by the base dovecot-uidlist names). */
static char *
file_of_uid (Fixture *f, guint32 uid)
{
  g_autofree char *uidlist_path = g_build_filename (f->root, "dovecot-uidlist", NULL);
  g_autofree char *uidlist = NULL;
  g_autofree char *needle = g_strdup_printf ("\n%u :", uid);
  g_autofree char *base = NULL;
  g_autofree char *cur = g_build_filename (f->root, "cur", NULL);
  g_autoptr(GDir) dir = NULL;
  const char *line, *name;

  g_assert_true (g_file_get_contents (uidlist_path, &uidlist, NULL, NULL));
  line = strstr (uidlist, needle);
  g_assert_nonnull (line);
  line += strlen (needle);
  base = g_strndup (line, strcspn (line, "\n"));
  dir = g_dir_open (cur, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, base) && name[strlen (base)] == ':')
      return g_build_filename (cur, name, NULL);
  g_assert_not_reached ();
}

static guint32
append_numbered (Fixture *f, guint i)
{
  g_autofree char *text = g_strdup_printf ("From: a@example.org\r\nSubject: number %u\r\n\r\nbody %u\r\n", i, i);

  return store_test_append_simple (f->user, "INBOX", text);
}

static void
test_snapshot_after_external_change (Fixture *f, gconstpointer data)
{
  guint32 uids[12];
  g_autofree char *first = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *again = NULL;
  g_autofree char *seen_path = NULL;
  g_autofree char *seen_renamed = NULL;
  g_autofree char *gone_path = NULL;
  g_autoptr(PosthornMailboxView) view = NULL;

  use_small_snapshots (f);
  for (guint i = 0; i < G_N_ELEMENTS (uids); i++)
    uids[i] = append_numbered (f, i);
  first = dump_of (f, "INBOX");
  /* That open wrote the snapshot, as of the folder's HIGHESTMODSEQ. */
  g_assert_cmpint (index_sql (f, "SELECT count(*) FROM snapshots"), ==, 1);
  g_assert_cmpint (index_sql (f, "SELECT s.modseq = f.highestmodseq FROM snapshots s JOIN folders f "
                                 "ON f.id = s.folder_id WHERE f.name = 'INBOX'"), ==, 1);

  /* Other programs: a mail reader sets \Seen \Flagged, another removes a
   * message, an MDA drops one into new/. */
  seen_path = file_of_uid (f, uids[2]);
  seen_renamed = g_strconcat (seen_path, "FS", NULL);
  g_assert_cmpint (g_rename (seen_path, seen_renamed), ==, 0);
  gone_path = file_of_uid (f, uids[5]);
  g_assert_cmpint (g_unlink (gone_path), ==, 0);
  drop_into_new (f, "1700000010.P10Q1.otherhost", "Subject: dropped\n\nnew\n");

  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 12);
  g_assert_cmpuint (posthorn_mailbox_view_lookup_uid (view, uids[5]), ==, 0);
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, posthorn_mailbox_view_lookup_uid (view, uids[2])) &
                    POSTHORN_MESSAGE_STORED_FLAGS, ==, POSTHORN_MESSAGE_SEEN | POSTHORN_MESSAGE_FLAGGED);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 12), >, uids[11]);
  expected = view_dump (view);
  g_assert_cmpstr (expected, !=, first);
  g_clear_pointer (&view, posthorn_mailbox_view_unref);

  /* The same list without any snapshot (every row read). */
  g_assert_cmpint (index_sql (f, "DELETE FROM snapshots RETURNING 1"), ==, 1);
  again = dump_of (f, "INBOX");
  g_assert_cmpstr (again, ==, expected);
}

/* The child of /maildir/snapshot/stale-after-crash: changes the folder
 * and dies without closing anything. */
static int
crash_child (const char *dir)
{
  g_autoptr(PosthornStoreUser) user = NULL;
  const char *kws[] = { "$Important", NULL };
  guint32 set[2];
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) c1 = NULL;
  g_autoptr(PosthornStoreChanges) c2 = NULL;
  g_autoptr(PosthornStoreChanges) c3 = NULL;
  g_autoptr(PosthornMailboxView) view = NULL;

  store_test_load (dir);
  user = store_test_open_user (USER);
  view = store_test_open_view (user, "INBOX", POSTHORN_VIEW_READ_ONLY, &error);
  g_assert_no_error (error);
  set[0] = posthorn_mailbox_view_get_uid (view, 2);
  set[1] = posthorn_mailbox_view_get_uid (view, 4);
  posthorn_store_store_flags_async (user, "INBOX", 0, set, 2, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN,
                                    kws, 0, NULL, store_test_result_cb, &res);
  c1 = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  set[0] = posthorn_mailbox_view_get_uid (view, 3);
  posthorn_store_store_flags_async (user, "INBOX", 0, set, 1, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED,
                                    NULL, 0, NULL, store_test_result_cb, &res);
  c3 = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  posthorn_store_expunge_async (user, "INBOX", 0, set, 1, NULL, store_test_result_cb, &res);
  c2 = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_store_changes_get_count (c2), ==, 1);
  for (guint i = 0; i < 3; i++)
    store_test_append_simple (user, "INBOX", "Subject: after the snapshot\r\n\r\nx\r\n");
  _exit (0);
}

static void
test_snapshot_stale_after_crash (Fixture *f, gconstpointer data)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *before = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *without = NULL;
  g_autofree char *corrupt = NULL;
  g_autofree char *orphan = g_build_filename (f->root, "cur", "1700000020.M1P20Q1.host,S=40,W=40:2,F", NULL);
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  g_auto(GStrv) extra = store_test_args ();
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;
  int status;
  GPid pid;

  use_small_snapshots (f);
  for (guint i = 0; i < 10; i++)
    append_numbered (f, i);
  before = dump_of (f, "INBOX");
  g_assert_cmpint (index_sql (f, "SELECT count(*) FROM snapshots"), ==, 1);

  /* Another process changes flags, expunges, appends, and dies. */
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  g_strv_builder_add_many (b, exe, "--crash-child", f->dir, NULL);
  g_strv_builder_addv (b, (const char **) extra);
  argv = g_strv_builder_end (b);
  g_assert_true (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_spawn_close_pid (pid);
  /* ... and one more died between placing its file and indexing it. */
  g_assert_true (g_file_set_contents (orphan, "Subject: orphan\r\n\r\nplaced, not indexed\r\n", -1, NULL));
  g_assert_cmpint (index_sql (f, "SELECT s.modseq < f.highestmodseq FROM snapshots s JOIN folders f "
                                 "ON f.id = s.folder_id WHERE f.name = 'INBOX'"), ==, 1);

  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 10 - 1 + 3 + 1);
  {
    guint n;
    const guint32 *kw = posthorn_mailbox_view_get_message_keywords (view, 2, &n);

    g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 2) & POSTHORN_MESSAGE_SEEN, !=, 0);
    g_assert_cmpuint (n, ==, 1);
    g_assert_cmpstr (posthorn_mailbox_view_get_keywords (view)[kw[0]], ==, "$Important");
    g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 13) & POSTHORN_MESSAGE_STORED_FLAGS, ==,
                      POSTHORN_MESSAGE_FLAGGED);
  }
  expected = view_dump (view);
  g_assert_cmpstr (expected, !=, before);
  g_clear_pointer (&view, posthorn_mailbox_view_unref);

  /* Differential: no snapshot, then a damaged one, give the same list. */
  index_sql (f, "DELETE FROM snapshots");
  without = dump_of (f, "INBOX");
  g_assert_cmpstr (without, ==, expected);
  g_assert_cmpint (index_sql (f, "SELECT count(*) FROM snapshots"), ==, 1);
  index_sql (f, "UPDATE snapshots SET data = zeroblob (44)");
  corrupt = dump_of (f, "INBOX");
  g_assert_cmpstr (corrupt, ==, expected);
}

/* ---- group commit ---- */

typedef struct {
  Fixture *f;
  guint done;
  GArray *uids;
} ParallelAppends;

static void
parallel_append_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ParallelAppends *p = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  const PosthornStoreChange *c;
  g_autofree char *sql = NULL;
  g_autofree char *path = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
  c = posthorn_store_changes_get (changes, 0);
  /* Acknowledged only once durable: committed (another connection sees
   * its row) and its file in cur/. */
  sql = g_strdup_printf ("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id "
                         "WHERE f.name = 'INBOX' AND m.uid = %u", c->uid);
  g_assert_cmpint (index_sql (p->f, sql), ==, 1);
  path = file_of_uid (p->f, c->uid);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_array_append_val (p->uids, c->uid);
  p->done++;
}

static void
test_group_commit_parallel (Fixture *f, gconstpointer data)
{
  enum { N = 40 };
  ParallelAppends p = { f, 0, g_array_new (FALSE, FALSE, sizeof (guint32)) };
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(GHashTable) subjects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < N; i++)
    {
      g_autofree char *text = g_strdup_printf ("From: a@example.org\r\nSubject: parallel %u\r\n\r\n%u\r\n", i, i);
      g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (text, strlen (text));

      posthorn_store_append_async (f->user, "INBOX", msg, 0, NULL, 0, NULL, parallel_append_done, &p);
    }
  while (p.done < N)
    g_main_context_iteration (NULL, TRUE);

  /* All there, once each, after a restart too, byte-exact. */
  reload (f);
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, N);
  for (guint seq = 1; seq <= N; seq++)
    {
      guint32 uid = posthorn_mailbox_view_get_uid (view, seq);
      g_autoptr(GBytes) got = read_message (f, "INBOX", uid);
      g_autofree char *text = g_strndup (g_bytes_get_data (got, NULL), g_bytes_get_size (got));
      guint i;

      g_assert_cmpint (sscanf (text, "From: a@example.org\r\nSubject: parallel %u\r\n", &i), ==, 1);
      {
        g_autofree char *want = g_strdup_printf ("From: a@example.org\r\nSubject: parallel %u\r\n\r\n%u\r\n", i, i);

        g_assert_cmpstr (text, ==, want);
      }
      g_assert_true (g_hash_table_add (subjects, g_strdup_printf ("%u", i)));
    }
  g_assert_cmpuint (g_hash_table_size (subjects), ==, N);
  /* Every acknowledged UID is one of them, each acknowledged once. */
  g_assert_cmpuint (p.uids->len, ==, N);
  for (guint i = 0; i < p.uids->len; i++)
    g_assert_cmpuint (posthorn_mailbox_view_lookup_uid (view, g_array_index (p.uids, guint32, i)), !=, 0);
  g_array_unref (p.uids);
}

/* ---- delivery to several users ---- */

static guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* Files in cur/, new/ and tmp/ of @user's INBOX (0 if it has no root). */
static guint
files_of (Fixture *f, const char *local)
{
  static const char *const subs[] = { "cur", "new", "tmp" };
  guint n = 0;

  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *dir = g_build_filename (f->dir, "maildir", "example.org", local, subs[i], NULL);

      n += count_files (dir);
    }
  return n;
}

static GError *
deliver (const char *const *users, const char *const *mailboxes, const char *text)
{
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (text, strlen (text));
  GAsyncResult *res = NULL;
  GError *error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;

  posthorn_store_deliver_async (users, mailboxes, msg, 0, NULL, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_true ((changes == NULL) == (error != NULL));
  return error;
}

static void
test_deliver_failure_leaves_nothing (Fixture *f, gconstpointer data)
{
  const char *users[] = { USER, "bob@example.org", "carol@example.org", NULL };
  const char *missing[] = { "INBOX", "INBOX", "No such folder", NULL };
  g_autofree char *carol = g_build_filename (f->dir, "maildir", "example.org", "carol", NULL);
  g_autofree char *carol_cur = g_build_filename (carol, "cur", NULL);
  g_autofree char *elsewhere = NULL;
  struct stat here, shm;
  GError *error;

  /* Fails before any rename: carol has no such folder. */
  error = deliver (users, missing, "Subject: to three\r\n\r\nx\r\n");
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (files_of (f, "alice"), ==, 0);
  g_assert_cmpuint (files_of (f, "bob"), ==, 0);
  g_assert_cmpuint (files_of (f, "carol"), ==, 0);

  /* Fails at carol's rename, after alice's and bob's: theirs are taken
   * back. carol's cur/ is on another file system (rename: EXDEV). */
  error = deliver (users, NULL, "Subject: make carol\r\n\r\nx\r\n");
  g_assert_no_error (error);
  if (stat (f->dir, &here) < 0 || stat ("/dev/shm", &shm) < 0 || here.st_dev == shm.st_dev)
    {
      g_test_skip ("no second file system (/dev/shm) to fail a rename with");
      return;
    }
  g_assert_cmpuint (files_of (f, "alice"), ==, 1);
  elsewhere = g_strdup ("/dev/shm/posthorn-maildir-cur-XXXXXX");
  if (g_mkdtemp (elsewhere) == NULL)
    {
      g_test_skip ("cannot make a directory in /dev/shm to fail a rename with");
      return;
    }
  {
    g_autoptr(GDir) d = g_dir_open (carol_cur, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *from = g_build_filename (carol_cur, name, NULL);

        g_unlink (from);
      }
    g_assert_cmpint (g_rmdir (carol_cur), ==, 0);
    g_assert_cmpint (symlink (elsewhere, carol_cur), ==, 0);
  }
  error = deliver (users, NULL, "Subject: all or nothing\r\n\r\ny\r\n");
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpuint (files_of (f, "alice"), ==, 1);
  g_assert_cmpuint (files_of (f, "bob"), ==, 1);
  g_assert_cmpuint (count_files (elsewhere), ==, 0);
  {
    g_autofree char *tmp = g_build_filename (carol, "tmp", NULL);

    g_assert_cmpuint (count_files (tmp), ==, 0);
  }
  g_unlink (carol_cur);
  g_rmdir (elsewhere);
  g_assert_cmpint (g_mkdir (carol_cur, 0700), ==, 0);

  /* The index agrees: one message each, and the next delivery works. */
  error = deliver (users, NULL, "Subject: again\r\n\r\nz\r\n");
  g_assert_no_error (error);
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");

    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 2);
  }
  g_assert_cmpuint (files_of (f, "bob"), ==, 2);
  g_assert_cmpuint (files_of (f, "carol"), ==, 1);
}

/* ---- Dovecot ---- */

static void
copy_tree (const char *src, const char *dst)
{
  g_autoptr(GDir) dir = g_dir_open (src, 0, NULL);
  const char *name;

  g_assert_cmpint (g_mkdir_with_parents (dst, 0700), ==, 0);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *from = g_build_filename (src, name, NULL);
      g_autofree char *to = g_build_filename (dst, name, NULL);

      if (g_file_test (from, G_FILE_TEST_IS_DIR))
        copy_tree (from, to);
      else
        {
          g_autofree char *content = NULL;
          gsize len;

          g_assert_true (g_file_get_contents (from, &content, &len, NULL));
          g_assert_true (g_file_set_contents (to, content, (gssize) len, NULL));
        }
    }
  /* git keeps no empty directories. */
  if (!g_str_has_suffix (dst, "/new") && !g_str_has_suffix (dst, "/cur") && !g_str_has_suffix (dst, "/tmp"))
    {
      static const char *const subs[] = { "cur", "new", "tmp" };

      for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
        {
          g_autofree char *sub = g_build_filename (dst, subs[i], NULL);

          g_mkdir (sub, 0700);
        }
    }
}

static void
test_dovecot_fixture (Fixture *f, gconstpointer data)
{
  g_autofree char *fixture = g_build_filename (g_getenv ("POSTHORN_SOURCE_ROOT"), "tests", "store",
                                               "data", "dovecot-maildir", "Maildir", NULL);
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(PosthornMailboxView) work = NULL;
  const char *const *names;
  const guint32 *kw;
  guint n;

  copy_tree (fixture, f->root);
  f->user = store_test_open_user (USER);
  view = open_view (f, "INBOX");

  /* What Dovecot showed: UIDVALIDITY, UIDs, flags, keywords. */
  g_assert_cmpuint (posthorn_mailbox_view_get_uidvalidity (view), ==, 1795682275);
  g_assert_cmpuint (posthorn_mailbox_view_get_uidnext (view), ==, 5);
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 3);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 2), ==, 2);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 3), ==, 4);
  names = posthorn_mailbox_view_get_keywords (view);
  g_assert_cmpstr (names[0], ==, "$Label1");
  g_assert_cmpstr (names[1], ==, "Project-X");
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_STORED_FLAGS, ==,
                    POSTHORN_MESSAGE_SEEN);
  kw = posthorn_mailbox_view_get_message_keywords (view, 1, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpstr (names[kw[0]], ==, "$Label1");
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 2) & POSTHORN_MESSAGE_STORED_FLAGS, ==,
                    POSTHORN_MESSAGE_ANSWERED | POSTHORN_MESSAGE_FLAGGED);
  kw = posthorn_mailbox_view_get_message_keywords (view, 2, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpstr (names[kw[0]], ==, "Project-X");
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 3) & POSTHORN_MESSAGE_STORED_FLAGS, ==, 0);
  {
    g_autoptr(GBytes) got = read_message (f, "INBOX", 2);
    const char *expected = "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\n"
                           "Subject: second\r\nMessage-ID: <second@example.org>\r\n\r\n"
                           "Second message,\r\nwith two lines.\r\n";

    g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), expected, strlen (expected));
  }
  work = open_view (f, "Work");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (work), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (work, 1), ==, 1);
  {
    g_autoptr(GAsyncResult) res = NULL;
    g_autoptr(PosthornMailboxList) list = NULL;

    posthorn_store_list_async (f->user, NULL, store_test_result_cb, &res);
    list = posthorn_store_list_finish (store_test_wait (&res), NULL);
    g_assert_nonnull (posthorn_mailbox_list_lookup (list, "Work/Q1 2024"));
    g_assert_true (posthorn_mailbox_list_lookup (list, "Work")->subscribed);
    g_assert_true (posthorn_mailbox_list_lookup (list, "INBOX")->subscribed);
  }

  /* Our changes stay readable for Dovecot: the next UID in its uidlist,
   * a keyword letter in the file name. */
  {
    const char *kws[] = { "Project-X", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(PosthornStoreChanges) changes =
      store_test_append (f->user, "INBOX", "Subject: back\r\n\r\nz\r\n", 20, POSTHORN_MESSAGE_SEEN, kws, 0, &error);
    g_autofree char *uidlist_path = g_build_filename (f->root, "dovecot-uidlist", NULL);
    g_autofree char *uidlist = NULL;
    g_autofree char *cur = g_build_filename (f->root, "cur", NULL);
    g_autoptr(GDir) dir = g_dir_open (cur, 0, NULL);
    const char *name;
    gboolean found = FALSE;

    g_assert_no_error (error);
    g_assert_cmpuint (posthorn_store_changes_get (changes, 0)->uid, ==, 5);
    g_assert_true (g_file_get_contents (uidlist_path, &uidlist, NULL, NULL));
    g_assert_true (g_str_has_prefix (uidlist, "3 V1795682275 "));
    g_assert_nonnull (strstr (uidlist, "\n1 :1795682275.M623346P28972.vm,S=155,W=162\n"));
    g_assert_nonnull (strstr (uidlist, "\n5 :"));
    while ((name = g_dir_read_name (dir)) != NULL)
      if (g_str_has_suffix (name, ":2,Sb"))
        found = TRUE;
    g_assert_true (found);
  }
}

/* ---- STATUS against SELECT ---- */

static PosthornMailboxStatus
mailbox_status (Fixture *f, const char *name)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornMailboxStatus status = { 0 };

  posthorn_store_status_async (f->user, name, NULL, store_test_result_cb, &res);
  g_assert_true (posthorn_store_status_finish (store_test_wait (&res), &status, &error));
  g_assert_no_error (error);
  return status;
}

/* Appends a message and returns the name of its new file in cur/. */
static char *
append_and_find (Fixture *f, const char *subject, guint32 flags, guint32 *uid)
{
  g_autofree char *text = g_strdup_printf ("From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n", subject);
  g_autofree char *cur = g_build_filename (f->root, "cur", NULL);
  g_autoptr(GHashTable) before = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  g_autoptr(GDir) dir = g_dir_open (cur, 0, NULL);
  const char *name;
  char *found = NULL;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_hash_table_add (before, g_strdup (name));
  g_clear_pointer (&dir, g_dir_close);
  changes = store_test_append (f->user, "INBOX", text, strlen (text), flags, NULL, 0, &error);
  g_assert_no_error (error);
  *uid = posthorn_store_changes_get (changes, 0)->uid;
  dir = g_dir_open (cur, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (!g_hash_table_contains (before, name))
      {
        g_assert_null (found);
        found = g_build_filename (cur, name, NULL);
      }
  g_assert_nonnull (found);
  return found;
}

static guint
view_unseen (PosthornMailboxView *view)
{
  guint n = 0;

  for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
    if (!(posthorn_mailbox_view_get_flags (view, seq) & POSTHORN_MESSAGE_SEEN))
      n++;
  return n;
}

static void
assert_status (Fixture *f, guint messages, guint unseen, guint recent)
{
  PosthornMailboxStatus st = mailbox_status (f, "INBOX");

  g_assert_cmpuint (st.messages, ==, messages);
  g_assert_cmpuint (st.unseen, ==, unseen);
  g_assert_cmpuint (st.recent, ==, recent);
}

/* STATUS counts what SELECT shows: after other programs removed files,
 * after EXPUNGE, and after a restart. */
static void
test_status_matches_select (Fixture *f, gconstpointer data)
{
  guint32 uids[4];
  g_autofree char *seen1 = append_and_find (f, "one", POSTHORN_MESSAGE_SEEN, &uids[0]);
  g_autofree char *unseen2 = append_and_find (f, "two", 0, &uids[1]);
  g_autofree char *unseen3 = append_and_find (f, "three", 0, &uids[2]);
  g_autofree char *seen4 = append_and_find (f, "four", POSTHORN_MESSAGE_SEEN, &uids[3]);
  g_autoptr(PosthornMailboxView) examine = NULL;
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(GError) error = NULL;

  assert_status (f, 4, 2, 4);
  /* A mail reader deletes an unseen message's file. */
  g_assert_cmpint (g_unlink (unseen2), ==, 0);
  assert_status (f, 3, 1, 3);
  examine = store_test_open_view (f->user, "INBOX", POSTHORN_VIEW_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_mailbox_view_get_count (examine), ==, 3);
  g_assert_cmpuint (view_unseen (examine), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_lookup_uid (examine, uids[1]), ==, 0);
  /* SELECT claims the three \Recent ones; STATUS counts none after. */
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 3);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (view), ==, 3);
  g_assert_cmpuint (view_unseen (view), ==, 1);
  assert_status (f, 3, 1, 0);

  /* EXPUNGE of the other unseen one, and a seen one deleted outside. */
  {
    GAsyncResult *res = NULL;
    g_autoptr(PosthornStoreChanges) changes = NULL;

    posthorn_store_store_flags_async (f->user, "INBOX", 0, &uids[2], 1, POSTHORN_FLAGS_ADD,
                                      POSTHORN_MESSAGE_DELETED, NULL, 0, NULL, store_test_result_cb, &res);
    changes = store_test_changes_wait (&res, &error);
    g_assert_no_error (error);
    g_clear_pointer (&changes, posthorn_store_changes_unref);
    res = NULL;
    posthorn_store_expunge_async (f->user, "INBOX", 0, NULL, 0, NULL, store_test_result_cb, &res);
    changes = store_test_changes_wait (&res, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
  }
  g_assert_false (g_file_test (unseen3, G_FILE_TEST_EXISTS));
  assert_status (f, 2, 0, 0);
  g_assert_cmpint (g_unlink (seen4), ==, 0);
  assert_status (f, 1, 0, 0);
  {
    g_autoptr(PosthornViewChanges) changes = sync_view (view);

    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 1);
    g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, uids[0]);
    g_assert_cmpuint (view_unseen (view), ==, 0);
  }

  /* The same after a restart. */
  g_clear_pointer (&view, posthorn_mailbox_view_unref);
  g_clear_pointer (&examine, posthorn_mailbox_view_unref);
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  assert_status (f, 1, 0, 0);
  g_assert_true (g_file_test (seen1, G_FILE_TEST_EXISTS));
}

/* ---- changes by others in the same mtime tick as ours ---- */

static struct timespec
mtime_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_mtim;
}

/* What another program's change in the same tick as ours looks like: the
 * directory's mtime is what it was after our change. */
static void
mtime_set (const char *path, struct timespec mtime)
{
  struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, mtime };
  struct timespec now;

  g_assert_cmpint (utimensat (AT_FDCWD, path, times, 0), ==, 0);
  now = mtime_of (path);
  g_assert_cmpint (now.tv_sec, ==, mtime.tv_sec);
  g_assert_cmpint (now.tv_nsec, ==, mtime.tv_nsec);
}

static void
store_flags (Fixture *f, guint32 uid, guint32 flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  GAsyncResult *res = NULL;

  posthorn_store_store_flags_async (f->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD, flags, NULL,
                                    0, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
}

/* The stamp of INBOX's cur/ the index holds. */
static char *
recorded_cur_stamp (Fixture *f)
{
  g_autofree char *db_path = g_build_filename (f->root, "posthorn-index.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *stamp;

  g_assert_cmpint (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT cur_stamp FROM folders WHERE name = 'INBOX'", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  stamp = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return stamp;
}

/* Our STORE renames a file in cur/; a mail reader renames another in the
 * same tick. The next sync reads cur/ again and sees both. */
static void
test_same_tick_after_store (Fixture *f, gconstpointer data)
{
  guint32 uid1, uid2;
  g_autofree char *path1 = append_and_find (f, "one", 0, &uid1);
  g_autofree char *path2 = append_and_find (f, "two", 0, &uid2);
  g_autofree char *renamed = g_strconcat (path2, "F", NULL);
  g_autofree char *cur = g_build_filename (f->root, "cur", NULL);
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  g_autoptr(PosthornViewChanges) changes = NULL;
  struct timespec ours;

  store_flags (f, uid1, POSTHORN_MESSAGE_SEEN);
  ours = mtime_of (cur);
  g_assert_cmpint (g_rename (path2, renamed), ==, 0);
  mtime_set (cur, ours);
  changes = sync_view (view);
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, posthorn_mailbox_view_lookup_uid (view, uid1)) &
                    POSTHORN_MESSAGE_STORED_FLAGS, ==, POSTHORN_MESSAGE_SEEN);
  g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, posthorn_mailbox_view_lookup_uid (view, uid2)) &
                    POSTHORN_MESSAGE_STORED_FLAGS, ==, POSTHORN_MESSAGE_FLAGGED);
}

/* Our APPEND renames into cur/; a mail reader deletes a file in the same
 * tick. STATUS reads cur/ again. */
static void
test_same_tick_after_append (Fixture *f, gconstpointer data)
{
  guint32 uid1, uid2;
  g_autofree char *path1 = append_and_find (f, "one", 0, &uid1);
  g_autofree char *path2 = NULL;
  g_autofree char *cur = g_build_filename (f->root, "cur", NULL);
  struct timespec ours;

  assert_status (f, 1, 1, 1);
  path2 = append_and_find (f, "two", POSTHORN_MESSAGE_SEEN, &uid2);
  ours = mtime_of (cur);
  g_assert_cmpint (g_unlink (path1), ==, 0);
  mtime_set (cur, ours);
  assert_status (f, 1, 0, 1);
}

/* A file dropped into new/ in the same tick as our move of another one
 * out of it. */
static void
test_same_tick_new (Fixture *f, gconstpointer data)
{
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  g_autoptr(PosthornViewChanges) c1 = NULL;
  g_autoptr(PosthornViewChanges) c2 = NULL;
  g_autofree char *new_dir = g_build_filename (f->root, "new", NULL);
  struct timespec ours;

  drop_into_new (f, "1700000010.P1Q1.otherhost", "Subject: a\n\none\n");
  c1 = sync_view (view);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (c1), ==, 1);
  ours = mtime_of (new_dir);
  drop_into_new (f, "1700000010.P1Q2.otherhost", "Subject: b\n\ntwo\n");
  mtime_set (new_dir, ours);
  c2 = sync_view (view);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (c2), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 2);
}

/* Dovecot rewrites dovecot-uidlist (a new file renamed into place) right
 * after our append to it: the inode tells, whatever the mtime. */
static void
test_same_tick_uidlist (Fixture *f, gconstpointer data)
{
  guint32 uid;
  g_autofree char *path = append_and_find (f, "one", 0, &uid);
  g_autofree char *uidlist = g_build_filename (f->root, "dovecot-uidlist", NULL);
  g_autofree char *tmp = g_build_filename (f->root, "dovecot-uidlist.tmp", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  PosthornMailboxStatus st = mailbox_status (f, "INBOX");
  struct timespec ours;
  char *v;

  g_assert_true (g_file_get_contents (uidlist, &text, NULL, &error));
  ours = mtime_of (uidlist);
  /* Same length, another UIDVALIDITY (the last digit changed). */
  v = strchr (text, ' ');
  g_assert_nonnull (v);
  v = strchr (v + 1, ' ');
  g_assert_nonnull (v);
  v[-1] = v[-1] == '9' ? '8' : v[-1] + 1;
  g_assert_true (g_file_set_contents (tmp, text, -1, &error));
  g_assert_cmpint (g_rename (tmp, uidlist), ==, 0);
  mtime_set (uidlist, ours);
  {
    PosthornMailboxStatus after = mailbox_status (f, "INBOX");

    g_assert_cmpuint (after.uidvalidity, !=, st.uidvalidity);
    g_assert_cmpuint (after.messages, ==, 1);
  }
}

/* After our own change cur/'s stamp is not trusted; a sync once the clock
 * has left the stamp's second trusts it again (the fast path). */
static void
test_stamp_trusted_once_aged (Fixture *f, gconstpointer data)
{
  guint32 uid;
  g_autofree char *path = append_and_find (f, "one", 0, &uid);
  g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
  g_autoptr(PosthornViewChanges) changes = NULL;
  g_autofree char *stamp = NULL;

  store_flags (f, uid, POSTHORN_MESSAGE_SEEN);
  stamp = recorded_cur_stamp (f);
  g_assert_true (stamp[0] == '?');
  g_usleep (1100 * 1000);
  changes = sync_view (view);
  g_clear_pointer (&stamp, g_free);
  stamp = recorded_cur_stamp (f);
  g_assert_true (stamp[0] != '?' && stamp[0] != '\0');
}

/* With [storage-maildir] trust_cur_stamps (posthornd the only program
 * changing cur/), the stamp after our own change is trusted as taken:
 * the next reader does not scan cur/ again. */
static void
test_stamp_trusted_when_configured (Fixture *f, gconstpointer data)
{
  guint32 uid;
  g_autofree char *path = NULL;
  g_autofree char *stamp = NULL;

  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_add_setting ("storage-maildir.trust_cur_stamps=true");
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  path = append_and_find (f, "one", 0, &uid);
  store_flags (f, uid, POSTHORN_MESSAGE_SEEN);
  stamp = recorded_cur_stamp (f);
  g_assert_true (stamp[0] != '?' && stamp[0] != '\0');
}

/* ---- what crashed writers leave behind ---- */

static pid_t
dead_pid (void)
{
  pid_t pid = fork ();
  int status;

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  return pid;
}

static void
put_file (const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
}

/* Files in tmp/ untouched for longer than tmp_max_age (36 hours; one
 * second here) go when the folder is opened, and so do the dotlock's
 * temporary files of dead processes and old temporary control files.
 * A file whose mtime is old but which was written just now (a delivery
 * sets the mtime to the internal date) stays, as do live processes'
 * files and files that are not ours. */
static void
test_leftovers_removed (Fixture *f, gconstpointer data)
{
  pid_t dead = dead_pid ();
  g_autofree char *dead_owner = g_strdup_printf ("%d:%s", (int) dead, g_get_host_name ());
  g_autofree char *live_owner = g_strdup_printf ("%d:%s", (int) getpid (), g_get_host_name ());
  g_autofree char *old_tmp = g_build_filename (f->root, "tmp", "1700000000.M1P9Q1.host,S=99,W=99", NULL);
  g_autofree char *fresh_tmp = g_build_filename (f->root, "tmp", "1700000001.M1P9Q2.host", NULL);
  g_autofree char *backdated_tmp = g_build_filename (f->root, "tmp", "1700000002.M1P9Q3.host", NULL);
  g_autofree char *dead_lock_tmp = g_strdup_printf ("%s/dovecot-uidlist.lock.%d.0.tmp", f->root, (int) dead);
  g_autofree char *live_lock_tmp = g_strdup_printf ("%s/dovecot-uidlist.lock.%d.7.tmp", f->root, (int) getpid ());
  g_autofree char *old_control_tmp = g_strdup_printf ("%s/dovecot-keywords.%d.tmp", f->root, (int) dead);
  g_autofree char *not_ours = g_build_filename (f->root, "notes.tmp", NULL);
  g_autofree char *sub_root = g_build_filename (f->root, ".Lists", NULL);
  g_autofree char *sub_old_tmp = g_build_filename (f->root, ".Lists", "tmp", "1700000003.M1P9Q4.host", NULL);
  struct utimbuf long_ago = { 1000000000, 1000000000 };

  {
    GAsyncResult *res = NULL;
    g_autoptr(GError) error = NULL;

    posthorn_store_create_async (f->user, "Lists", POSTHORN_SPECIAL_USE_NONE, NULL, store_test_result_cb, &res);
    g_assert_true (store_test_mailbox_op_wait (&res, &error));
    g_assert_no_error (error);
  }
  g_assert_true (g_file_test (sub_root, G_FILE_TEST_IS_DIR));
  put_file (old_tmp, "From: a@example.org\r\nSubject: to");
  put_file (sub_old_tmp, "From: a@example.org\r\nSubject: to");
  put_file (dead_lock_tmp, dead_owner);
  put_file (live_lock_tmp, live_owner);
  put_file (old_control_tmp, "0 $Junk\n");
  put_file (not_ours, "mine");
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  g_usleep (1200 * 1000);
  put_file (fresh_tmp, "From: a@example.org\r\n");
  put_file (backdated_tmp, "From: a@example.org\r\n");
  g_assert_cmpint (utime (backdated_tmp, &long_ago), ==, 0);
  store_test_add_setting ("storage-maildir.tmp_max_age=1");
  store_test_load (f->dir);
  f->user = store_test_open_user (USER);
  mailbox_status (f, "INBOX");
  mailbox_status (f, "Lists");

  g_assert_false (g_file_test (old_tmp, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (sub_old_tmp, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (dead_lock_tmp, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (old_control_tmp, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fresh_tmp, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (backdated_tmp, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live_lock_tmp, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (not_ours, G_FILE_TEST_EXISTS));
  /* Nothing of the folder's own was touched. */
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 0);
}

int
main (int argc, char **argv)
{
  /* Only this store; also for the subprocesses GLib starts without our
   * options. */
  g_autofree char **args = g_new0 (char *, argc + 3);

  args[0] = argv[0];
  args[1] = (char *) "--store";
  args[2] = (char *) "storage-maildir";
  memcpy (args + 3, argv + 1, (gsize) (argc - 1) * sizeof (char *));
  argc += 2;
  argv = args;
  store_test_parse_args (&argc, &argv);
  if (argc >= 4 && strcmp (argv[1], "--deliver-child") == 0)
    return deliver_child (argv[2], argv[3]);
  if (argc >= 3 && strcmp (argv[1], "--crash-child") == 0)
    return crash_child (argv[2]);

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/maildir/external/new-file-gets-uid-once", test_external_new_file_once);
  ADD ("/maildir/external/flags-renamed-and-removed", test_external_flags_renamed);
  ADD ("/maildir/external/idle-sees-new-file", test_external_idle_event);
  ADD ("/maildir/crash/between-write-and-rename", test_crash_between_write_and_rename);
  ADD ("/maildir/cur/non-maildir-file-ignored-with-warning", test_cur_non_maildir_file);
  ADD ("/maildir/deliver/two-processes", test_concurrent_processes);
  ADD ("/maildir/deliver/several-users-failure-leaves-nothing", test_deliver_failure_leaves_nothing);
  ADD ("/maildir/append/group-commit-parallel", test_group_commit_parallel);
  ADD ("/maildir/snapshot/open-after-external-change", test_snapshot_after_external_change);
  ADD ("/maildir/snapshot/stale-after-crash", test_snapshot_stale_after_crash);
  ADD ("/maildir/status/matches-select-after-removal-and-expunge", test_status_matches_select);
  ADD ("/maildir/tmp/leftovers-removed-on-open", test_leftovers_removed);
  ADD ("/maildir/same-tick/external-rename-after-store", test_same_tick_after_store);
  ADD ("/maildir/same-tick/external-removal-after-append", test_same_tick_after_append);
  ADD ("/maildir/same-tick/external-file-in-new", test_same_tick_new);
  ADD ("/maildir/same-tick/uidlist-rewritten", test_same_tick_uidlist);
  ADD ("/maildir/same-tick/stamp-trusted-once-aged", test_stamp_trusted_once_aged);
  ADD ("/maildir/same-tick/stamp-trusted-when-configured", test_stamp_trusted_when_configured);
  g_test_add ("/maildir/dovecot/fixture-keeps-uids-flags-keywords", Fixture, "no-user",
              fixture_set_up, test_dovecot_fixture, fixture_tear_down);
#undef ADD

  return g_test_run ();
}
