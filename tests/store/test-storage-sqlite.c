/* What is particular to storage-sqlite: where its database lives, its
 * journal mode, and refusing a database from a newer release.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store-test-util.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static char *
make_state_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("posthorn-sqlite-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_state_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

static char *
query_text (const char *db_path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *result = NULL;

  g_assert_cmpint (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    result = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return result;
}

/* [storage-sqlite] path puts the database there, in WAL mode, with the
 * schema at the newest version. */
static void
test_sqlite_path_and_wal (void)
{
  g_autofree char *dir = make_state_dir ();
  g_autofree char *db_path = g_build_filename (dir, "elsewhere.db", NULL);
  g_autofree char *setting = g_strdup_printf ("storage-sqlite.path=%s", db_path);
  g_autofree char *mode = NULL;
  g_autofree char *version = NULL;

  store_test_add_setting (setting);
  store_test_load (dir);
  {
    g_autoptr(PosthornStoreUser) user = store_test_open_user ("carol@example.org");

    store_test_append_simple (user, "INBOX", "Subject: x\r\n\r\ny\r\n");
  }
  store_test_unload ();
  g_assert_true (g_file_test (db_path, G_FILE_TEST_IS_REGULAR));
  {
    g_autofree char *default_path = g_build_filename (dir, "mail.db", NULL);

    g_assert_false (g_file_test (default_path, G_FILE_TEST_EXISTS));
  }
  mode = query_text (db_path, "PRAGMA journal_mode");
  g_assert_cmpstr (mode, ==, "wal");
  version = query_text (db_path, "PRAGMA user_version");
  g_assert_cmpint (atoi (version), >=, 2);
  remove_state_dir (dir);
  store_test_clear_settings ();
}

/* Reads of a message of several 256 KiB chunks, in pieces that straddle
 * the chunk ends, give its bytes; with a chunk gone from the database a
 * read that needs it fails as damaged, one that does not still works. */
static void
test_sqlite_read_chunks (void)
{
  g_autofree char *dir = make_state_dir ();
  g_autofree char *db_path = g_build_filename (dir, "mail.db", NULL);
  g_autoptr(GString) text = g_string_new ("Subject: chunks\r\n\r\n");
  g_autoptr(GBytes) expected = NULL;
  const gsize pieces[] = { 1000, 65536, 262143, 262144, 300000, 1 << 20 };
  guint32 uid;
  sqlite3 *db = NULL;
  g_autofree char *sql = NULL;
  g_autofree char *body_id = NULL;

  for (guint i = 0; text->len < 700 * 1024; i++)
    g_string_append_printf (text, "line %u of a message that spans three chunks\r\n", i);
  expected = g_bytes_new (text->str, text->len);
  store_test_load (dir);
  {
    g_autoptr(PosthornStoreUser) user = store_test_open_user ("carol@example.org");

    uid = store_test_append_simple (user, "INBOX", text->str);
    for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) got = store_test_read_all (user, "INBOX", 0, uid, pieces[i], &error);

        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (got, expected));
      }
  }
  store_test_unload ();

  body_id = query_text (db_path, "SELECT body_id FROM messages WHERE uid = (SELECT MAX(uid) FROM messages)");
  g_assert_nonnull (body_id);
  sql = g_strdup_printf ("DELETE FROM chunks WHERE id = (%s << 24) | 1", body_id);
  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);

  store_test_load (dir);
  {
    g_autoptr(PosthornStoreUser) user = store_test_open_user ("carol@example.org");
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) all = NULL;
    g_autoptr(GBytes) first = NULL;
    g_autoptr(GAsyncResult) res = NULL;

    all = store_test_read_all (user, "INBOX", 0, uid, 1 << 20, &error);
    g_assert_null (all);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED);
    g_assert_nonnull (strstr (error->message, "damaged"));
    posthorn_store_read_async (user, "INBOX", 0, uid, 1000, 5000, NULL, store_test_result_cb, &res);
    first = posthorn_store_read_finish (store_test_wait (&res), NULL);
    g_assert_nonnull (first);
    g_assert_cmpmem (g_bytes_get_data (first, NULL), g_bytes_get_size (first), text->str + 1000, 5000);
  }
  store_test_unload ();
  remove_state_dir (dir);
}

/* A database written by a newer plugin is refused at start-up, untouched. */
static void
test_sqlite_newer_schema_refused (void)
{
  g_autofree char *dir = make_state_dir ();
  g_autofree char *db_path = g_build_filename (dir, "mail.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *version = NULL;
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "PRAGMA user_version = 999", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  g_assert_false (store_test_try_load (dir, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "999"));
  g_assert_nonnull (strstr (error->message, db_path));
  version = query_text (db_path, "PRAGMA user_version");
  g_assert_cmpstr (version, ==, "999");
  remove_state_dir (dir);
}

/* Two storage plugins in one daemon: start-up fails, naming both. */
static void
test_two_stores_refused (void)
{
  const char *plugin_dir = g_getenv ("POSTHORN_PLUGIN_DIR");
  g_autofree char *maildir = g_build_filename (plugin_dir != NULL ? plugin_dir : ".",
                                               "storage-maildir.so", NULL);
  g_autofree char *dir = NULL;
  g_autofree char *config = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_test (maildir, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("storage-maildir is not built");
      return;
    }
  dir = make_state_dir ();
  config = g_build_filename (dir, "posthorn.conf", NULL);
  text = g_strdup_printf ("[core]\nplugins=storage-sqlite;storage-maildir\nplugin_dir=%s\n"
                          "state_dir=%s\nlog_level=error\n[dbus]\nbus=none\n", plugin_dir, dir);
  g_assert_true (g_file_set_contents (config, text, -1, NULL));
  g_assert_false (ph_daemon_load (config, NULL, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "storage-sqlite"));
  g_assert_nonnull (strstr (error->message, "storage-maildir"));
  g_assert_false (posthorn_store_available ());
  g_unlink (config);
  {
    /* Whatever the plugins created before the refusal goes too. */
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);

    g_assert_cmpint (system (cmd), ==, 0);
  }
}

/* ---- the group commit of flag changes, expunges and appends ----
 *
 * Several sessions of one user change flags (with and without
 * UNCHANGEDSINCE), expunge, and send STOREs to a mailbox that does not
 * exist, each waiting for its reply before the next command as a client
 * does, while appends run to the same mailbox and to another user's: the
 * writes share group commits. Every reply must be right (the failing
 * STOREs fail alone), every MODSEQ handed out in the mailbox unique and
 * increasing along each session, and after a restart the mailbox must
 * hold exactly what the replies said. */
#define GC_SEED 48
#define GC_SESSIONS 4
#define GC_APPENDERS 3
#define GC_APPENDS 12

typedef struct GcTest GcTest;

typedef struct {
  GcTest *t;
  PosthornStoreUser *user;
  guint index;
  guint msg;             /* seed message it works on */
  guint step;
  guint64 last_modseq;   /* its last change: the next must be greater */
  guint appended;        /* appender: messages appended so far */
  gboolean other_user;   /* appender: to bob's INBOX */
} GcSession;

struct GcTest {
  guint running;
  guint32 uids[GC_SEED];
  guint64 modseq[GC_SEED];         /* each seed message's last MODSEQ */
  GHashTable *modseqs;             /* every MODSEQ handed out in alice's INBOX */
  GHashTable *appended;            /* UID -> MODSEQ of the concurrent appends */
  guint64 highest;
  guint failed_as_expected;
};

static const char *const gc_missing_mailbox = "Missing";

static void gc_session_next (GcSession *s);

static char *
gc_keyword (guint session)
{
  return g_strdup_printf ("$Session%u", session);
}

/* Records a MODSEQ of alice's INBOX: unique, and greater than the
 * session's last one. */
static void
gc_modseq_seen (GcSession *s, guint64 modseq)
{
  GcTest *t = s->t;

  g_assert_cmpuint (modseq, >, s->last_modseq);
  s->last_modseq = modseq;
  g_assert_false (g_hash_table_contains (t->modseqs, GSIZE_TO_POINTER ((gsize) modseq)));
  g_hash_table_add (t->modseqs, GSIZE_TO_POINTER ((gsize) modseq));
  t->highest = MAX (t->highest, modseq);
}

static void
gc_session_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GcSession *s = user_data;
  GcTest *t = s->t;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  guint32 uid = s->appended == 0 && s->index < GC_SESSIONS ? t->uids[s->msg] : 0;
  const PosthornStoreChange *c;
  const guint32 *modified;
  guint n_modified;

  if (s->index >= GC_SESSIONS)
    {
      /* an appender */
      g_assert_no_error (error);
      g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
      c = posthorn_store_changes_get (changes, 0);
      g_assert_cmpint (c->kind, ==, POSTHORN_EVENT_MESSAGE_NEW);
      if (!s->other_user)
        {
          gc_modseq_seen (s, c->modseq);
          g_hash_table_insert (t->appended, GUINT_TO_POINTER (c->uid), GSIZE_TO_POINTER ((gsize) c->modseq));
        }
      s->appended++;
      gc_session_next (s);
      return;
    }

  switch (s->step)
    {
    case 0: /* STORE on a mailbox that does not exist */
      g_assert_nonnull (error);
      g_assert_null (changes);
      t->failed_as_expected++;
      break;
    case 1: /* +FLAGS (\Flagged $SessionN) */
    case 2: /* +FLAGS (\Seen) UNCHANGEDSINCE its MODSEQ: applies */
    case 4: /* +FLAGS (\Deleted) */
      g_assert_no_error (error);
      g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
      c = posthorn_store_changes_get (changes, 0);
      g_assert_cmpint (c->kind, ==, POSTHORN_EVENT_FLAGS_CHANGED);
      g_assert_cmpuint (c->uid, ==, uid);
      gc_modseq_seen (s, c->modseq);
      t->modseq[s->msg] = c->modseq;
      modified = posthorn_store_changes_get_modified (changes, &n_modified);
      g_assert_cmpuint (n_modified, ==, 0);
      (void) modified;
      break;
    case 3: /* +FLAGS (\Answered) UNCHANGEDSINCE its MODSEQ - 1: refused */
      g_assert_no_error (error);
      g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 0);
      modified = posthorn_store_changes_get_modified (changes, &n_modified);
      g_assert_cmpuint (n_modified, ==, 1);
      g_assert_cmpuint (modified[0], ==, uid);
      break;
    case 5: /* UID EXPUNGE of it */
      g_assert_no_error (error);
      g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
      c = posthorn_store_changes_get (changes, 0);
      g_assert_cmpint (c->kind, ==, POSTHORN_EVENT_MESSAGE_EXPUNGED);
      g_assert_cmpuint (c->uid, ==, uid);
      gc_modseq_seen (s, c->modseq);
      t->modseq[s->msg] = 0;
      break;
    default:
      g_assert_not_reached ();
    }
  s->step++;
  gc_session_next (s);
}

/* Sends the session's next command, or ends it. */
static void
gc_session_next (GcSession *s)
{
  GcTest *t = s->t;
  g_autofree char *kw_name = NULL;
  const char *kw[2] = { NULL, NULL };
  guint32 uid;

  if (s->index >= GC_SESSIONS)
    {
      g_autofree char *text = NULL;
      g_autoptr(PosthornMessage) msg = NULL;

      if (s->appended == GC_APPENDS)
        {
          t->running--;
          return;
        }
      text = g_strdup_printf ("From: a%u@example.org\r\nSubject: append %u/%u\r\n\r\nbody %u\r\n",
                              s->index, s->index, s->appended, s->appended);
      msg = posthorn_message_new_from_data (text, strlen (text));
      posthorn_store_append_async (s->user, "INBOX", msg, 0, NULL, 0, NULL, gc_session_done, s);
      return;
    }

  /* Steps 0-5 on one message; the session's messages are every
   * GC_SESSIONS-th seed message. Odd messages are expunged, even ones
   * keep \Flagged \Seen and the session's keyword. */
  if (s->step == 0 && (s->msg / GC_SESSIONS) % 3 != 0)
    s->step = 1;
  if (s->step == 4 && s->msg % 2 == 0)
    s->step = 6;
  if (s->step == 6)
    {
      s->msg += GC_SESSIONS;
      s->step = 0;
      if (s->msg >= GC_SEED)
        {
          t->running--;
          return;
        }
      gc_session_next (s);
      return;
    }
  uid = t->uids[s->msg];
  switch (s->step)
    {
    case 0:
      /* with a keyword, so that it is not answered from a reader */
      kw[0] = "$Missing";
      posthorn_store_store_flags_async (s->user, gc_missing_mailbox, 0, &uid, 1, POSTHORN_FLAGS_ADD,
                                        POSTHORN_MESSAGE_FLAGGED, kw, 0, NULL, gc_session_done, s);
      break;
    case 1:
      kw_name = gc_keyword (s->index);
      kw[0] = kw_name;
      posthorn_store_store_flags_async (s->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD,
                                        POSTHORN_MESSAGE_FLAGGED, kw, 0, NULL, gc_session_done, s);
      break;
    case 2:
      posthorn_store_store_flags_async (s->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD,
                                        POSTHORN_MESSAGE_SEEN, NULL, t->modseq[s->msg], NULL,
                                        gc_session_done, s);
      break;
    case 3:
      posthorn_store_store_flags_async (s->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD,
                                        POSTHORN_MESSAGE_ANSWERED, NULL, t->modseq[s->msg] - 1, NULL,
                                        gc_session_done, s);
      break;
    case 4:
      posthorn_store_store_flags_async (s->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD,
                                        POSTHORN_MESSAGE_DELETED, NULL, 0, NULL, gc_session_done, s);
      break;
    case 5:
      posthorn_store_expunge_async (s->user, "INBOX", 0, &uid, 1, NULL, gc_session_done, s);
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
test_group_commit_concurrent_writes (void)
{
  g_autofree char *dir = make_state_dir ();
  GcTest t = { 0 };
  GcSession sessions[GC_SESSIONS + GC_APPENDERS + 1];
  guint n_sessions = G_N_ELEMENTS (sessions);
  guint64 last = 0;

  t.modseqs = g_hash_table_new (NULL, NULL);
  t.appended = g_hash_table_new (NULL, NULL);
  store_test_load (dir);
  {
    g_autoptr(PosthornStoreUser) alice = store_test_open_user ("alice@example.org");

    for (guint i = 0; i < GC_SEED; i++)
      {
        g_autofree char *text = g_strdup_printf ("Subject: seed %u\r\n\r\nseed\r\n", i);

        t.uids[i] = store_test_append_simple (alice, "INBOX", text);
      }
  }

  memset (sessions, 0, sizeof sessions);
  for (guint i = 0; i < n_sessions; i++)
    {
      GcSession *s = &sessions[i];

      s->t = &t;
      s->index = i;
      s->other_user = i == n_sessions - 1;
      s->user = store_test_open_user (s->other_user ? "bob@example.org" : "alice@example.org");
      s->msg = i < GC_SESSIONS ? i : 0;
    }
  /* The seed's MODSEQs are the floor of the sessions' first changes. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PosthornMailboxView) view = store_test_open_view (sessions[0].user, "INBOX",
                                                                POSTHORN_VIEW_READ_WRITE, &error);

    g_assert_no_error (error);
    for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
      {
        guint64 m = posthorn_mailbox_view_get_modseq (view, seq);

        t.modseq[seq - 1] = m;
        g_assert_false (g_hash_table_contains (t.modseqs, GSIZE_TO_POINTER ((gsize) m)));
        g_hash_table_add (t.modseqs, GSIZE_TO_POINTER ((gsize) m));
      }
    t.highest = posthorn_mailbox_view_get_highestmodseq (view);
    for (guint i = 0; i < n_sessions; i++)
      sessions[i].last_modseq = sessions[i].other_user ? 0 : t.highest;
  }

  t.running = n_sessions;
  for (guint i = 0; i < n_sessions; i++)
    gc_session_next (&sessions[i]);
  while (t.running > 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (t.failed_as_expected, ==, (GC_SEED / GC_SESSIONS + 2) / 3 * GC_SESSIONS);
  g_assert_cmpuint (g_hash_table_size (t.appended), ==, GC_APPENDERS * GC_APPENDS);
  for (guint i = 0; i < n_sessions; i++)
    posthorn_store_user_unref (sessions[i].user);

  /* After a restart: exactly what the replies said. */
  store_test_unload ();
  store_test_load (dir);
  {
    g_autoptr(PosthornStoreUser) alice = store_test_open_user ("alice@example.org");
    g_autoptr(GError) error = NULL;
    g_autoptr(PosthornMailboxView) view = store_test_open_view (alice, "INBOX", POSTHORN_VIEW_READ_WRITE,
                                                                &error);
    g_autoptr(GHashTable) view_modseqs = g_hash_table_new (NULL, NULL);
    const char *const *names;
    guint n = 0;

    g_assert_no_error (error);
    names = posthorn_mailbox_view_get_keywords (view);
    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, GC_SEED / 2 + GC_APPENDERS * GC_APPENDS);
    g_assert_cmpuint (posthorn_mailbox_view_get_highestmodseq (view), ==, t.highest);
    for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
      {
        guint32 uid = posthorn_mailbox_view_get_uid (view, seq);
        guint32 flags = posthorn_mailbox_view_get_flags (view, seq) & POSTHORN_MESSAGE_STORED_FLAGS;
        guint64 modseq = posthorn_mailbox_view_get_modseq (view, seq);
        const guint32 *kw = posthorn_mailbox_view_get_message_keywords (view, seq, &n);

        g_assert_false (g_hash_table_contains (view_modseqs, GSIZE_TO_POINTER ((gsize) modseq)));
        g_hash_table_add (view_modseqs, GSIZE_TO_POINTER ((gsize) modseq));
        g_assert_cmpuint (modseq, >, last);
        if (uid <= t.uids[GC_SEED - 1])
          {
            guint i = uid - t.uids[0];
            g_autofree char *expected_kw = gc_keyword (i % GC_SESSIONS);

            g_assert_cmpuint (t.uids[i], ==, uid);
            g_assert_cmpuint (i % 2, ==, 0);
            g_assert_cmpuint (flags, ==, POSTHORN_MESSAGE_FLAGGED | POSTHORN_MESSAGE_SEEN);
            g_assert_cmpuint (n, ==, 1);
            g_assert_cmpstr (names[kw[0]], ==, expected_kw);
            g_assert_cmpuint (modseq, ==, t.modseq[i]);
          }
        else
          {
            g_assert_true (g_hash_table_contains (t.appended, GUINT_TO_POINTER (uid)));
            g_assert_cmpuint (flags, ==, 0);
            g_assert_cmpuint (n, ==, 0);
            g_assert_cmpuint (modseq, ==, (guint64) GPOINTER_TO_SIZE (g_hash_table_lookup (t.appended,
                                                                                           GUINT_TO_POINTER (uid))));
          }
      }
  }
  {
    g_autoptr(PosthornStoreUser) bob = store_test_open_user ("bob@example.org");
    g_autoptr(GError) error = NULL;
    g_autoptr(PosthornMailboxView) view = store_test_open_view (bob, "INBOX", POSTHORN_VIEW_READ_WRITE,
                                                                &error);

    g_assert_no_error (error);
    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, GC_APPENDS);
  }
  store_test_unload ();
  g_hash_table_unref (t.modseqs);
  g_hash_table_unref (t.appended);
  remove_state_dir (dir);
}

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/storage-sqlite/config/path-and-wal", test_sqlite_path_and_wal);
  g_test_add_func ("/storage-sqlite/schema/newer-version-refused", test_sqlite_newer_schema_refused);
  g_test_add_func ("/storage-sqlite/read/chunks-and-a-missing-one", test_sqlite_read_chunks);
  g_test_add_func ("/store/registry/two-stores-refused", test_two_stores_refused);
  g_test_add_func ("/storage-sqlite/group-commit/flags-expunges-appends-concurrent",
                   test_group_commit_concurrent_writes);
  return g_test_run ();
}
