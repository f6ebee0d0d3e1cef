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

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/storage-sqlite/config/path-and-wal", test_sqlite_path_and_wal);
  g_test_add_func ("/storage-sqlite/schema/newer-version-refused", test_sqlite_newer_schema_refused);
  g_test_add_func ("/storage-sqlite/read/chunks-and-a-missing-one", test_sqlite_read_chunks);
  g_test_add_func ("/store/registry/two-stores-refused", test_two_stores_refused);
  return g_test_run ();
}
