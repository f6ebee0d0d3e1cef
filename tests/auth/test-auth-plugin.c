/* The auth-passwd-file plugin through the real loader (ph_daemon_load):
 * verification, SIGHUP reload, reload on change, malformed lines reported
 * by posthornd, and a hash written by posthornctl.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "auth/auth-private.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
  char *config;
  char *users;
  gboolean loaded;
} Fixture;

static void
write_file (const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* Replaces @path the way posthornctl does: a new file renamed over it. */
static void
replace_file (const char *path, const char *text)
{
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);

  write_file (tmp, text);
  g_assert_cmpint (g_rename (tmp, path), ==, 0);
}

static char *
fixture_text (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "auth", "data", name, NULL);
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const char *users_fixture = data != NULL ? data : "users";
  g_autoptr(GError) error = NULL;
  g_autofree char *users_text = fixture_text (users_fixture);
  g_autofree char *config_text = NULL;
  const char *plugin_dir = AUTH_PASSWD_FILE_PLUGIN_DIR;

  f->dir = g_dir_make_tmp ("posthorn-auth-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = g_build_filename (f->dir, "posthorn.conf", NULL);
  f->users = g_build_filename (f->dir, "users", NULL);
  write_file (f->users, users_text);
  config_text = g_strdup_printf ("[core]\n"
                                 "plugins=auth-passwd-file\n"
                                 "plugin_dir=%s\n"
                                 "state_dir=%s/state\n"
                                 "log_level=warning\n"
                                 "[auth]\n"
                                 "failure_delay=0\n"
                                 "failure_delay_max=0\n"
                                 "max_failures=1000\n"
                                 "[dbus]\n"
                                 "bus=none\n"
                                 "[auth-passwd-file]\n"
                                 "path=users\n",
                                 plugin_dir, f->dir);
  write_file (f->config, config_text);
  /* forget the failures earlier tests left on the NULL connection */
  ph_auth_set_policy_for_testing (NULL);
}

static void
fixture_load (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (ph_daemon_load (f->config, NULL, &error));
  g_assert_no_error (error);
  f->loaded = TRUE;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  if (f->loaded)
    ph_daemon_unload ();
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->config);
  g_free (f->users);
}

typedef struct {
  gboolean done;
  char *user;
  GError *error;
} Verify;

static void
on_verify (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Verify *v = user_data;

  v->user = posthorn_auth_verify_password_finish (result, &v->error);
  v->done = TRUE;
}

/* TRUE if @user logs in with @password. */
static gboolean
login (const char *user, const char *password)
{
  Verify v = { 0 };
  gboolean ok;

  posthorn_auth_verify_password_async (NULL, user, password, NULL, on_verify, &v);
  while (!v.done)
    g_main_context_iteration (NULL, TRUE);
  ok = v.user != NULL;
  if (!ok)
    g_assert_error (v.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_free (v.user);
  g_clear_error (&v.error);
  return ok;
}

static void
test_load_and_verify (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) mechanisms = NULL;

  fixture_load (f);
  g_assert_true (login ("sha512@example.org", "pw-sha512"));
  g_assert_true (login ("Yescrypt@Example.org", "pw-yescrypt"));
  g_assert_true (login ("scram@example.org", "pw-scram"));
  g_assert_false (login ("sha512@example.org", "pw-sha256"));
  g_assert_false (login ("ghost@example.org", "pw-sha512"));
  mechanisms = posthorn_auth_list_mechanisms (NULL);
  g_assert_true (g_strv_contains ((const char *const *) mechanisms, "SCRAM-SHA-256"));
}

static void
test_reload_sighup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fixture_load (f);
  g_assert_true (login ("plain@example.org", "pw-plain"));
  /* written in place, no rename; the monitor may see it too, but the
   * explicit reload must not depend on it */
  write_file (f->users, "# replaced\nnew@example.org:{PLAIN}pw-new\n");
  g_assert_true (ph_daemon_reload (&error));
  g_assert_no_error (error);
  g_assert_false (login ("plain@example.org", "pw-plain"));
  g_assert_true (login ("new@example.org", "pw-new"));
}

static gboolean
timeout_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits (up to 5 s) until @user can log in with @password. */
static gboolean
wait_for_login (const char *user, const char *password)
{
  for (int i = 0; i < 50; i++)
    {
      gboolean tick = FALSE;

      if (login (user, password))
        return TRUE;
      g_timeout_add (100, timeout_flag, &tick);
      while (!tick)
        g_main_context_iteration (NULL, TRUE);
    }
  return FALSE;
}

static void
test_reload_on_change (Fixture *f, gconstpointer data)
{
  fixture_load (f);
  g_assert_true (login ("plain@example.org", "pw-plain"));
  replace_file (f->users, "renamed@example.org:{PLAIN}pw-renamed\n");
  g_assert_true (wait_for_login ("renamed@example.org", "pw-renamed"));
  g_assert_false (login ("plain@example.org", "pw-plain"));

  /* and again, in place */
  write_file (f->users, "inplace@example.org:{PLAIN}pw-inplace\n");
  g_assert_true (wait_for_login ("inplace@example.org", "pw-inplace"));
  g_assert_false (login ("renamed@example.org", "pw-renamed"));
}

static void
test_reload_keeps_old_on_error (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fixture_load (f);
  g_assert_cmpint (g_unlink (f->users), ==, 0);
  g_assert_false (ph_daemon_reload (&error));
  g_assert_nonnull (error);
  g_assert_true (login ("plain@example.org", "pw-plain"));
}

/* posthornd --check-config reports each malformed line with its number
 * and starts anyway; the good users stay. */
static void
test_malformed_reported (Fixture *f, gconstpointer data)
{
  static const char *const expected[] = {
    "users:3: no ':' after the user name; line skipped",
    "users:5: unsupported password scheme {ROT13}; line skipped",
    "users:10: duplicate user (first on line 2); line skipped",
    "users:12: {CRYPT} hash is not a crypt string libxcrypt supports; line skipped",
    "3 users (0 with SCRAM-SHA-256 secrets)",
  };
  const char *posthornd = g_getenv ("POSTHORND");
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = -1;
  const char *argv[] = { posthornd, "-c", f->config, "--check-config", "--log-level", "info", NULL };

  g_assert_nonnull (posthornd);
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  g_test_message ("stderr: %s", err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_nonnull (strstr (err, expected[i]));
  g_assert_null (strstr (err, "cj-onq"));  /* a secret of a skipped line */
}

/* A users file with names that could escape a store's folder: posthornd
 * names each line (FILE:LINE: reason; line skipped), the good users load,
 * and a login as any such name fails like an unknown user. */
static void
test_bad_user_names (Fixture *f, gconstpointer data)
{
  static const char *const expected[] = {
    "users:2: user name starts with '.'; line skipped",
    "users:3: user name contains '/'; line skipped",
    "users:4: user name starts with '.'; line skipped",
    "users:5: user name contains '\\'; line skipped",
    "users:6: user name contains a control character; line skipped",
    "1 users (0 with SCRAM-SHA-256 secrets)",
  };
  static const char *const bad[] = {
    "../evil@example.org", "a/b@example.org", "..", "back\\slash@example.org",
    "ctl\x01@example.org", ".", "/", "",
  };
  const char *posthornd = g_getenv ("POSTHORND");
  const char *argv[] = { posthornd, "-c", f->config, "--check-config", "--log-level", "info", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  write_file (f->users, "alice@example.org:{PLAIN}pw\n"
                        "../evil@example.org:{PLAIN}pw\n"
                        "a/b@example.org:{PLAIN}pw\n"
                        "..:{PLAIN}pw\n"
                        "back\\slash@example.org:{PLAIN}pw\n"
                        "ctl\x01@example.org:{PLAIN}pw\n");
  g_assert_nonnull (posthornd);
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  g_test_message ("stderr: %s", err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_nonnull (strstr (err, expected[i]));

  fixture_load (f);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (login (bad[i], "pw"));
  g_assert_true (login ("alice@example.org", "pw"));
}

static void
run_ctl (const char *const *args, const char *input)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;

  g_ptr_array_add (argv, (gpointer) g_getenv ("POSTHORNCTL"));
  for (gsize i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                               &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, input, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_successful (process))
    g_error ("posthornctl failed: %s", err);
}

/* posthornctl writes a line the running plugin picks up and verifies, with
 * SCRAM too. */
static void
test_ctl_written_hash (Fixture *f, gconstpointer data)
{
  const char *add[] = { "user", "add", "carol@example.org", "-c", f->config, "--stdin", "--scram", NULL };
  const char *passwd[] = { "user", "passwd", "carol@example.org", "--file", f->users,
                           "--stdin", "--scheme", "SHA512-CRYPT", NULL };
  g_auto(GStrv) mechanisms = NULL;

  fixture_load (f);
  run_ctl (add, "correct horse\n");
  g_assert_true (wait_for_login ("carol@example.org", "correct horse"));
  g_assert_false (login ("carol@example.org", "correct horsE"));
  g_assert_true (login ("plain@example.org", "pw-plain"));

  run_ctl (passwd, "battery staple\n");
  g_assert_true (wait_for_login ("carol@example.org", "battery staple"));
  g_assert_false (login ("carol@example.org", "correct horse"));
  mechanisms = posthorn_auth_list_mechanisms (NULL);
  g_assert_true (g_strv_contains ((const char *const *) mechanisms, "SCRAM-SHA-256"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the plugin warns about what it skips; that is what some tests check */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);

#define ADD(path, func, data) \
  g_test_add (path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  ADD ("/auth/plugin/load-and-verify", test_load_and_verify, NULL);
  ADD ("/auth/plugin/reload/sighup", test_reload_sighup, NULL);
  ADD ("/auth/plugin/reload/file-changed", test_reload_on_change, NULL);
  ADD ("/auth/plugin/reload/missing-file-keeps-users", test_reload_keeps_old_on_error, NULL);
  ADD ("/auth/plugin/malformed-lines-reported", test_malformed_reported, "users-malformed");
  ADD ("/auth/plugin/posthornctl-hash-verifies", test_ctl_written_hash, NULL);
  ADD ("/auth/plugin/bad-user-names-refused", test_bad_user_names, NULL);
  return g_test_run ();
}
