/* posthornd --check-config against configs and test plugins: every start-up
 * failure is exactly one line on stderr.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <glib/gstdio.h>
#include <dlfcn.h>
#include <string.h>
#include <stddef.h>

typedef struct {
  char *dir;     /* temp folder: the config and the state dir live here */
  char *config;  /* dir/posthorn.conf */
  int status;    /* posthornd's exit status */
  char *out;
  char *err;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("posthorn-loader-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = g_build_filename (f->dir, "posthorn.conf", NULL);
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->config);
  g_free (f->out);
  g_free (f->err);
}

/* Writes the config: a [core] group with @plugins, the test plugin folder
 * and a state dir in the temp folder, then @extra as is. */
static void
write_config (Fixture *f, const char *plugins, const char *extra)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("[core]\n"
                                           "plugins=%s\n"
                                           "plugin_dir=%s\n"
                                           "state_dir=%s/state\n"
                                           "%s",
                                           plugins, TEST_PLUGIN_DIR, f->dir,
                                           extra != NULL ? extra : "");

  g_file_set_contents (f->config, text, -1, &error);
  g_assert_no_error (error);
}

static void
write_file (Fixture *f, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
run_posthornd (Fixture *f, const char *first_arg, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *posthornd = g_getenv ("POSTHORND");
  int wait_status;
  va_list args;

  g_assert_nonnull (posthornd);
  g_ptr_array_add (argv, (char *) posthornd);
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_clear_pointer (&f->out, g_free);
  g_clear_pointer (&f->err, g_free);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                &f->out, &f->err, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  f->status = WEXITSTATUS (wait_status);
}

static void
check_config (Fixture *f)
{
  run_posthornd (f, "--check-config", "-c", f->config, NULL);
}

/* Exit status 1 and exactly "posthornd: @line\n" on stderr. */
static void
assert_fails_with (Fixture *f, const char *line)
{
  g_autofree char *expected = g_strdup_printf ("posthornd: %s\n", line);

  check_config (f);
  g_assert_cmpstr (f->err, ==, expected);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->out, ==, "");
}

static void
test_good_plugin (Fixture *f, gconstpointer unused)
{
  write_config (f, "good", "[good]\ngreeting=hi\n");
  check_config (f);
  g_assert_cmpstr (f->err, ==, "");
  g_assert_cmpstr (f->out, ==, "plugin good 1.2.3 filter\n");
  g_assert_cmpint (f->status, ==, 0);
}

static void
test_dependency_order (Fixture *f, gconstpointer unused)
{
  write_config (f, "needs-good;good", NULL);
  check_config (f);
  g_assert_cmpstr (f->err, ==, "");
  g_assert_cmpstr (f->out, ==, "plugin good 1.2.3 filter\nplugin needs-good 0.1 protocol\n");
  g_assert_cmpint (f->status, ==, 0);
}

static void
test_not_found (Fixture *f, gconstpointer unused)
{
  g_autofree char *text = g_strdup_printf ("[core]\nplugins=absent\nplugin_dir=%s;%s/nowhere\n"
                                           "state_dir=%s/state\n", TEST_PLUGIN_DIR, f->dir, f->dir);
  g_autofree char *line = NULL;

  g_file_set_contents (f->config, text, -1, NULL);
  line = g_strdup_printf ("plugin 'absent': not found (looked in %s, %s/nowhere)",
                          TEST_PLUGIN_DIR, f->dir);
  assert_fails_with (f, line);
}

static void
test_cannot_load (Fixture *f, gconstpointer unused)
{
  g_autofree char *path = g_build_filename (TEST_PLUGIN_DIR, "broken.so", NULL);
  g_autofree char *line = NULL;
  const char *why;

  /* What the dynamic linker says about this file, without the path. */
  g_assert_null (dlopen (path, RTLD_LAZY | RTLD_LOCAL));
  why = dlerror ();
  g_assert_true (g_str_has_prefix (why, path));
  why += strlen (path) + 2;
  g_assert_cmpstr (why, ==, "invalid ELF header");
  line = g_strdup_printf ("plugin 'broken': cannot load %s: %s", path, why);

  write_config (f, "broken", NULL);
  assert_fails_with (f, line);
}

static void
test_no_descriptor (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = g_strdup_printf ("plugin 'no-descriptor': %s/no-descriptor.so is not a "
                                           "Posthorn plugin (no symbol posthorn_plugin_no_descriptor)",
                                           TEST_PLUGIN_DIR);

  write_config (f, "no-descriptor", NULL);
  assert_fails_with (f, line);
}

static void
test_abi_major (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = g_strdup_printf ("plugin 'abi-major': built for plugin ABI %d.0, "
                                           "this posthornd has ABI %d.%d",
                                           POSTHORN_ABI_MAJOR + 1,
                                           POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);

  write_config (f, "abi-major", NULL);
  assert_fails_with (f, line);
}

static void
test_newer_minor (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = g_strdup_printf ("plugin 'newer-minor': built for plugin ABI %d.%d, "
                                           "this posthornd has ABI %d.%d",
                                           POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR + 1,
                                           POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);

  write_config (f, "newer-minor", NULL);
  assert_fails_with (f, line);
}

static void
test_tiny_descriptor (Fixture *f, gconstpointer unused)
{
  gsize abi_1_0 = offsetof (PosthornPluginDescriptor, shutdown) + sizeof (gpointer);
  g_autofree char *line = g_strdup_printf ("plugin 'tiny-descriptor': descriptor size 12 is smaller "
                                           "than ABI %d.%d requires (%zu)",
                                           POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR, abi_1_0);

  write_config (f, "tiny-descriptor", NULL);
  assert_fails_with (f, line);
}

static void
test_wrong_name (Fixture *f, gconstpointer unused)
{
  write_config (f, "wrong-name", NULL);
  assert_fails_with (f, "plugin 'wrong-name': descriptor names itself 'right-name'");
}

static void
test_missing_dependency (Fixture *f, gconstpointer unused)
{
  write_config (f, "good;needs-missing", NULL);
  assert_fails_with (f, "plugin 'needs-missing': depends on 'absent', which is not enabled "
                        "in [core] plugins");
}

static void
test_dependency_cycle (Fixture *f, gconstpointer unused)
{
  write_config (f, "cycle-a;cycle-b", NULL);
  assert_fails_with (f, "plugin 'cycle-a': dependency cycle: cycle-a -> cycle-b -> cycle-a");
}

static void
test_init_fails (Fixture *f, gconstpointer unused)
{
  write_config (f, "good;init-fails", NULL);
  assert_fails_with (f, "plugin 'init-fails': init failed: database is on fire");
}

static void
test_listed_twice (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "good;needs-good;good", NULL);
  line = g_strdup_printf ("%s: [core] plugins: 'good' is listed twice", f->config);
  assert_fails_with (f, line);
}

static void
test_plugin_unknown_key (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "good", "[good]\ngreeting=hi\nlegacy=ignored\ncolour=blue\n");
  line = g_strdup_printf ("%s: [good] colour: unknown key", f->config);
  assert_fails_with (f, line);
}

static void
test_plugin_bad_number (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "good", "[good]\ncount=ten\n");
  line = g_strdup_printf ("%s: [good] count: 'ten' is not a number "
                          "(a size suffix may be k, M or G)", f->config);
  assert_fails_with (f, line);
}

static void
test_plugin_own_check (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "good", "[good]\ngreeting=\n");
  line = g_strdup_printf ("%s: [good] greeting: must not be empty", f->config);
  assert_fails_with (f, line);
}

static void
test_unknown_group (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  /* A group named like a plugin that is not enabled is unknown too. */
  write_config (f, "good", "[needs-good]\n");
  line = g_strdup_printf ("%s: [needs-good]: unknown group", f->config);
  assert_fails_with (f, line);
}

static void
test_core_unknown_key (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "", "max_conections=5\n");
  line = g_strdup_printf ("%s: [core] max_conections: unknown key", f->config);
  assert_fails_with (f, line);
}

static void
test_core_bad_number (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "", "max_connections=lots\n");
  line = g_strdup_printf ("%s: [core] max_connections: 'lots' is not a number", f->config);
  assert_fails_with (f, line);
}

static void
test_missing_file (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = g_strdup_printf ("%s: cannot read: %s", f->config, g_strerror (ENOENT));

  assert_fails_with (f, line);
}

static void
test_syntax_error (Fixture *f, gconstpointer unused)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *line = NULL;

  write_config (f, "", "this line is not a key\n");
  g_file_get_contents (f->config, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_key_file_load_from_data (keyfile, contents, -1, G_KEY_FILE_NONE, &error));
  line = g_strdup_printf ("%s: %s", f->config, error->message);
  assert_fails_with (f, line);
}

static void
test_tls_certificate_missing (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_file (f, "key.pem", "not really a key\n");
  write_config (f, "", "[tls]\ncertificate=missing.pem\nkey=key.pem\n");
  line = g_strdup_printf ("%s: [tls] certificate: '%s/missing.pem': %s",
                          f->config, f->dir, g_strerror (ENOENT));
  assert_fails_with (f, line);
}

static void
test_tls_key_without_certificate (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_file (f, "key.pem", "not really a key\n");
  write_config (f, "", "[tls]\nkey=key.pem\n");
  line = g_strdup_printf ("%s: [tls] certificate: missing (a key is set, its certificate "
                          "is needed too)", f->config);
  assert_fails_with (f, line);
}

static void
test_bad_choice (Fixture *f, gconstpointer unused)
{
  g_autofree char *line = NULL;

  write_config (f, "", "[dbus]\nbus=user\n");
  line = g_strdup_printf ("%s: [dbus] bus: 'user' is not one of system, session, none", f->config);
  assert_fails_with (f, line);
}

static void
test_version (Fixture *f, gconstpointer unused)
{
  g_autofree char *expected = g_strdup_printf ("posthornd %s (plugin ABI %d.%d)\n", POSTHORN_VERSION,
                                               POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);

  run_posthornd (f, "--version", NULL);
  g_assert_cmpstr (f->out, ==, expected);
  g_assert_cmpint (f->status, ==, 0);
}

static void
test_bad_option (Fixture *f, gconstpointer unused)
{
  write_config (f, "", NULL);
  run_posthornd (f, "--check-config", "-c", f->config, "--log-level", "loud", NULL);
  g_assert_cmpstr (f->err, ==, "posthornd: --log-level: 'loud' is not one of error, warning, "
                               "info, debug\n");
  g_assert_cmpint (f->status, ==, 1);
}

static void
test_log_levels (Fixture *f, gconstpointer unused)
{
  g_autofree char *plugin_line = g_strdup_printf ("DEBUG posthorn: plugin good 1.2.3 from %s/good.so\n",
                                                  TEST_PLUGIN_DIR);

  /* debug: the core's and the plugin's lines, "LEVEL DOMAIN: message". */
  write_config (f, "good", "[good]\ngreeting=hi\n");
  run_posthornd (f, "--check-config", "-c", f->config, "--log-level", "debug", NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_assert_nonnull (strstr (f->err, plugin_line));
  g_assert_nonnull (strstr (f->err, "DEBUG good: greeting hi\n"));

  /* info (from the config; --check-config alone would use warning) hides them. */
  write_config (f, "good", "log_level=info\n[good]\ngreeting=hi\n");
  run_posthornd (f, "--check-config", "-c", f->config, "--log-level", "info", NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_assert_null (strstr (f->err, "DEBUG"));
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *path;
    void (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "/core/loader/good", test_good_plugin },
    { "/core/loader/dependency-order", test_dependency_order },
    { "/core/loader/not-found", test_not_found },
    { "/core/loader/cannot-load", test_cannot_load },
    { "/core/loader/no-descriptor", test_no_descriptor },
    { "/core/loader/abi/major", test_abi_major },
    { "/core/loader/abi/newer-minor", test_newer_minor },
    { "/core/loader/abi/descriptor-size", test_tiny_descriptor },
    { "/core/loader/wrong-name", test_wrong_name },
    { "/core/loader/missing-dependency", test_missing_dependency },
    { "/core/loader/dependency-cycle", test_dependency_cycle },
    { "/core/loader/init-fails", test_init_fails },
    { "/core/loader/listed-twice", test_listed_twice },
    { "/core/config/plugin-unknown-key", test_plugin_unknown_key },
    { "/core/config/plugin-bad-number", test_plugin_bad_number },
    { "/core/config/plugin-own-check", test_plugin_own_check },
    { "/core/config/unknown-group", test_unknown_group },
    { "/core/config/core-unknown-key", test_core_unknown_key },
    { "/core/config/core-bad-number", test_core_bad_number },
    { "/core/config/missing-file", test_missing_file },
    { "/core/config/syntax-error", test_syntax_error },
    { "/core/config/tls/certificate-missing", test_tls_certificate_missing },
    { "/core/config/tls/key-without-certificate", test_tls_key_without_certificate },
    { "/core/config/bad-choice", test_bad_choice },
    { "/core/posthornd/version", test_version },
    { "/core/log/levels", test_log_levels },
    { "/core/posthornd/bad-option", test_bad_option },
  };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add (tests[i].path, Fixture, NULL, fixture_set_up, tests[i].func, fixture_tear_down);
  return g_test_run ();
}
