/* Real POP3 clients against posthornd: Python's poplib (with STLS), curl
 * (pop3:// with STLS and pop3s://) and fetchmail (keep and delete mode,
 * 100 messages compared byte for byte). A test whose client is not
 * installed is skipped (Debian packages: python3, curl, fetchmail).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-test-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#define ALICE "alice@example.org"
#define ALICE_PW "alice-pw"

typedef struct {
  PhTestServer *server;
  GPtrArray *messages;  /* GBytes, in maildrop order */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  guint count = GPOINTER_TO_UINT (data);

  fixture->server = pop3_test_server_new (NULL);
  fixture->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < count; i++)
    {
      GBytes *message = pop3_test_make_message (i + 1, 500 + (i * 7919) % 30000, NULL);

      pop3_test_inject (fixture->server, ALICE, g_bytes_get_data (message, NULL),
                        g_bytes_get_size (message));
      g_ptr_array_add (fixture->messages, message);
    }
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_ptr_array_unref (fixture->messages);
  ph_test_server_free (fixture->server);
}

static gboolean
need_program (const char *name)
{
  g_autofree char *path = g_find_program_in_path (name);

  if (path == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("%s is not installed", name);
      g_test_skip (reason);
      return FALSE;
    }
  return TRUE;
}

/* Runs @argv (under timeout(1)) with @envp added; returns stdout and
 * fails the test unless it exits with 0 or @also_ok. */
static char *
run_full (const char *const *argv, const char *const *envp, int also_ok)
{
  g_autoptr(GStrvBuilder) args = g_strv_builder_new ();
  g_auto(GStrv) full_argv = NULL;
  g_auto(GStrv) env = g_get_environ ();
  g_autoptr(GError) error = NULL;
  char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_strv_builder_add_many (args, "timeout", "120", NULL);
  g_strv_builder_addv (args, (const char **) argv);
  full_argv = g_strv_builder_end (args);
  for (guint i = 0; envp != NULL && envp[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (envp[i], "=", 2);
      env = g_environ_setenv (env, kv[0], kv[1], TRUE);
    }
  g_assert_true (g_spawn_sync (NULL, full_argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!WIFEXITED (status) || (WEXITSTATUS (status) != 0 && WEXITSTATUS (status) != also_ok))
    g_error ("%s failed (status %d):\n%s\n%s", argv[0], status, out, err);
  return out;
}

static char *
run (const char *const *argv, const char *const *envp)
{
  return run_full (argv, envp, 0);
}

static char *
maildrop_stat (PhTestServer *server)
{
  g_autoptr(PhTestClient) client = pop3_test_login (server, ALICE, ALICE_PW);
  char *stat = pop3_test_command (client, "STAT");
  g_autofree char *bye = pop3_test_command (client, "QUIT");

  return stat;
}

static void
assert_file_bytes (const char *path, GBytes *expected)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &data, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (data, length, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
}

static void
test_poplib (Fixture *fixture, gconstpointer data)
{
  g_autofree char *script = NULL;
  g_autofree char *port = NULL;
  g_autofree char *outdir = NULL;
  g_autofree char *out = NULL;
  g_autofree char *stat = NULL;
  g_autofree char *expected_stat = NULL;
  gsize total = 0;

  if (!need_program ("python3"))
    return;
  script = g_test_build_filename (G_TEST_DIST, "pop3", "poplib-client.py", NULL);
  port = g_strdup_printf ("%u", ph_test_server_get_port (fixture->server, "pop3", FALSE));
  outdir = g_build_filename (ph_test_server_get_dir (fixture->server), "poplib", NULL);
  g_assert_cmpint (g_mkdir (outdir, 0700), ==, 0);
  out = run ((const char *const[]) { "python3", script, "127.0.0.1", port, ALICE, ALICE_PW,
                                     outdir, NULL }, NULL);
  g_test_message ("%s", out);
  for (guint i = 0; i < fixture->messages->len; i++)
    {
      g_autofree char *name = g_strdup_printf ("%u.eml", i + 1);
      g_autofree char *path = g_build_filename (outdir, name, NULL);

      assert_file_bytes (path, g_ptr_array_index (fixture->messages, i));
      total += g_bytes_get_size (g_ptr_array_index (fixture->messages, i));
    }
  expected_stat = g_strdup_printf ("stat %u %" G_GSIZE_FORMAT "\n", fixture->messages->len, total);
  g_assert_true (g_str_has_prefix (out, expected_stat));
  g_assert_nonnull (strstr (out, "\ntop 1 7\n"));  /* the 6 header lines and the blank one */
  g_assert_nonnull (strstr (out, "\nquit +OK Logging out, 1 messages deleted\n"));
  stat = maildrop_stat (fixture->server);
  g_clear_pointer (&expected_stat, g_free);
  expected_stat = g_strdup_printf ("+OK %u %" G_GSIZE_FORMAT, fixture->messages->len - 1,
                                   total - g_bytes_get_size (g_ptr_array_index (fixture->messages, 0)));
  g_assert_cmpstr (stat, ==, expected_stat);
}

static void
test_curl (Fixture *fixture, gconstpointer data)
{
  guint16 port = ph_test_server_get_port (fixture->server, "pop3", FALSE);
  guint16 tls_port = ph_test_server_get_port (fixture->server, "pop3", TRUE);
  g_autofree char *list_url = NULL;
  g_autofree char *listing = NULL;
  g_autoptr(GString) expected = g_string_new (NULL);

  if (!need_program ("curl"))
    return;
  /* LIST over STLS */
  list_url = g_strdup_printf ("pop3://127.0.0.1:%u/", port);
  listing = run ((const char *const[]) { "curl", "-sS", "--ssl-reqd", "-k", "-u",
                                         ALICE ":" ALICE_PW, list_url, NULL }, NULL);
  for (guint i = 0; i < fixture->messages->len; i++)
    g_string_append_printf (expected, "%u %" G_GSIZE_FORMAT "\r\n", i + 1,
                            g_bytes_get_size (g_ptr_array_index (fixture->messages, i)));
  g_assert_cmpstr (listing, ==, expected->str);
  /* RETR, with STLS and with implicit TLS */
  for (guint i = 0; i < fixture->messages->len; i++)
    {
      g_autofree char *url = g_strdup_printf (i % 2 == 0 ? "pop3://127.0.0.1:%u/%u"
                                                         : "pop3s://127.0.0.1:%u/%u",
                                              i % 2 == 0 ? port : tls_port, i + 1);
      g_autofree char *name = g_strdup_printf ("curl-%u.eml", i + 1);
      g_autofree char *path = g_build_filename (ph_test_server_get_dir (fixture->server), name,
                                                NULL);
      g_autofree char *out = run ((const char *const[]) { "curl", "-sS", "--ssl-reqd", "-k",
                                                          "-u", ALICE ":" ALICE_PW, "-o", path,
                                                          url, NULL }, NULL);

      assert_file_bytes (path, g_ptr_array_index (fixture->messages, i));
    }
}

/* Runs fetchmail once; returns the downloaded messages. */
static GPtrArray *
fetchmail (Fixture *fixture, const char *name, gboolean keep)
{
  const char *dir = ph_test_server_get_dir (fixture->server);
  g_autofree char *home = g_build_filename (dir, name, NULL);
  g_autofree char *outdir = g_build_filename (home, "out", NULL);
  g_autofree char *rc_path = g_build_filename (home, "fetchmailrc", NULL);
  g_autofree char *ids = g_build_filename (dir, "fetchids", NULL);
  g_autofree char *rc = NULL;
  g_autofree char *fetchmail_home = g_strdup_printf ("FETCHMAILHOME=%s", home);
  g_autofree char *out = NULL;
  g_autoptr(GDir) entries = NULL;
  GPtrArray *got = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  const char *entry;

  g_assert_cmpint (g_mkdir_with_parents (outdir, 0700), ==, 0);
  /* invisible: no Received line; no stripcr: keep CRLF; no rewrite,
   * dropdelivered: leave the header alone. fetchmail uses STLS on its own. */
  rc = g_strdup_printf ("set no syslog\n"
                        "set invisible\n"
                        "poll 127.0.0.1 port %u protocol pop3 uidl\n"
                        "  user \"" ALICE "\" password \"" ALICE_PW "\"\n"
                        "  mda \"/bin/sh -c 'cat > %s/msg.$$'\"\n"
                        "  %s no stripcr no rewrite dropdelivered no sslcertck\n",
                        ph_test_server_get_port (fixture->server, "pop3", FALSE), outdir,
                        keep ? "keep" : "nokeep fetchall");
  g_assert_true (g_file_set_contents_full (rc_path, rc, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                           NULL));
  /* fetchmail exits with 1 when there was no new mail */
  out = run_full ((const char *const[]) { "fetchmail", "-f", rc_path, "--idfile", ids, "-v", NULL },
                  (const char *const[]) { fetchmail_home, NULL }, 1);
  g_test_message ("fetchmail: %s", out);
  entries = g_dir_open (outdir, 0, NULL);
  while ((entry = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *path = g_build_filename (outdir, entry, NULL);
      g_autofree char *data = NULL;
      gsize length;

      g_assert_true (g_file_get_contents (path, &data, &length, NULL));
      g_ptr_array_add (got, g_bytes_new_take (g_steal_pointer (&data), length));
    }
  return got;
}

static void
assert_same_messages (GPtrArray *expected, GPtrArray *got)
{
  g_autoptr(GHashTable) wanted = g_hash_table_new (g_bytes_hash, g_bytes_equal);

  for (guint i = 0; i < expected->len; i++)
    g_hash_table_add (wanted, g_ptr_array_index (expected, i));
  g_assert_cmpuint (got->len, ==, expected->len);
  for (guint i = 0; i < got->len; i++)
    g_assert_true (g_hash_table_remove (wanted, g_ptr_array_index (got, i)));
  g_assert_cmpuint (g_hash_table_size (wanted), ==, 0);
}

static void
test_fetchmail_keep (Fixture *fixture, gconstpointer data)
{
  g_autoptr(GPtrArray) first = NULL;
  g_autoptr(GPtrArray) second = NULL;
  g_autofree char *stat = NULL;

  if (!need_program ("fetchmail"))
    return;
  first = fetchmail (fixture, "first", TRUE);
  assert_same_messages (fixture->messages, first);
  stat = maildrop_stat (fixture->server);
  g_assert_true (g_str_has_prefix (stat, "+OK 100 "));
  /* With keep, fetchmail remembers UIDLs: a second run fetches nothing. */
  second = fetchmail (fixture, "second", TRUE);
  g_assert_cmpuint (second->len, ==, 0);
}

static void
test_fetchmail_delete (Fixture *fixture, gconstpointer data)
{
  g_autoptr(GPtrArray) got = NULL;
  g_autofree char *stat = NULL;

  if (!need_program ("fetchmail"))
    return;
  got = fetchmail (fixture, "delete", FALSE);
  assert_same_messages (fixture->messages, got);
  stat = maildrop_stat (fixture->server);
  g_assert_cmpstr (stat, ==, "+OK 0 0");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/pop3/interop/poplib", Fixture, GUINT_TO_POINTER (5), fixture_set_up,
              test_poplib, fixture_tear_down);
  g_test_add ("/pop3/interop/curl", Fixture, GUINT_TO_POINTER (4), fixture_set_up,
              test_curl, fixture_tear_down);
  g_test_add ("/pop3/interop/fetchmail-keep", Fixture, GUINT_TO_POINTER (100), fixture_set_up,
              test_fetchmail_keep, fixture_tear_down);
  g_test_add ("/pop3/interop/fetchmail-delete", Fixture, GUINT_TO_POINTER (100), fixture_set_up,
              test_fetchmail_delete, fixture_tear_down);
  return g_test_run ();
}
