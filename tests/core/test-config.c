/* The config getters and [core]/[tls]/[auth]/[dbus] settings, in process:
 * ph_daemon_load() with the "good" test plugin, whose init reads one key of
 * every type (tests/core/plugins/good.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "good.h"
#include "ph-test.h"

typedef struct {
  char *dir;
  char *config;
} Fixture;

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
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("posthorn-config-XXXXXX", &error);
  g_assert_no_error (error);
  f->config = g_build_filename (f->dir, "posthorn.conf", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  ph_daemon_unload ();
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->config);
}

/* [core] with @plugins, the test plugins and a state dir, then @extra. */
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

static GoodConfig *
load_good (Fixture *f, const char *good_group)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *extra = g_strdup_printf ("log_level=warning\n[good]\n%s", good_group);
  PosthornPlugin *plugin;

  write_config (f, "good", extra);
  ph_daemon_load (f->config, NULL, &error);
  g_assert_no_error (error);
  plugin = ph_plugin_lookup ("good");
  g_assert_nonnull (plugin);
  return posthorn_plugin_get_data (plugin);
}

/* ph_daemon_load() fails with "CONFIG: @suffix". */
static void
assert_load_fails (Fixture *f, const char *suffix)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = g_strdup_printf ("%s: %s", f->config, suffix);

  g_assert_false (ph_daemon_load (f->config, NULL, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG);
  g_assert_cmpstr (error->message, ==, expected);
  g_assert_null (ph_plugin_lookup ("good"));
}

static void
test_getters_values (Fixture *f, gconstpointer unused)
{
  g_autofree char *sub = g_build_filename (f->dir, "sub", NULL);
  g_autofree char *expected_file = g_build_filename (f->dir, "sub", "x.txt", NULL);
  const char *const expected_tags[] = { "x", "y", "z", NULL };
  GoodConfig *cfg;

  g_assert_cmpint (g_mkdir (sub, 0700), ==, 0);
  cfg = load_good (f, "greeting=hi there  # a comment after the value\n"
                      "count=4k\n"
                      "enabled=no\n"
                      "interval=15m\n"
                      "file=sub/x.txt\n"
                      "tags=x; y ;;z;\n");
  g_assert_cmpstr (cfg->greeting, ==, "hi there");
  g_assert_cmpuint (cfg->count, ==, 4096);
  g_assert_false (cfg->enabled);
  g_assert_cmpuint (cfg->interval, ==, 15 * 60);
  g_assert_cmpstr (cfg->file, ==, expected_file);
  g_assert_cmpstrv (cfg->tags, expected_tags);
}

static void
test_getters_defaults (Fixture *f, gconstpointer unused)
{
  const char *const expected_tags[] = { "a", "b", NULL };
  GoodConfig *cfg = load_good (f, "");

  g_assert_cmpstr (cfg->greeting, ==, "hello");
  g_assert_cmpuint (cfg->count, ==, 7);
  g_assert_true (cfg->enabled);
  g_assert_cmpuint (cfg->interval, ==, 90);
  g_assert_null (cfg->file);
  g_assert_cmpstrv (cfg->tags, expected_tags);
}

static void
test_getters_empty_list (Fixture *f, gconstpointer unused)
{
  GoodConfig *cfg = load_good (f, "tags=\n");

  g_assert_nonnull (cfg->tags);
  g_assert_null (cfg->tags[0]);
}

static void
test_getters_errors (Fixture *f, gconstpointer unused)
{
  static const struct {
    const char *group;
    const char *message;  /* after "FILE: " */
  } cases[] = {
    { "count=2G\n", "[good] count: 2G is out of range (0 to 1073741824)" },
    { "count=-1\n", "[good] count: '-1' is not a number (a size suffix may be k, M or G)" },
    { "enabled=maybe\n", "[good] enabled: 'maybe' is not a boolean (true or false)" },
    { "interval=1.5s\n", "[good] interval: '1.5s' is not a whole number of seconds" },
    { "interval=soon\n", "[good] interval: 'soon' is not a duration (e.g. 90, 500ms, 0.5s, 15m, 2h, 5d)" },
    { "greeting=bad\\escape\n",
      "[good] greeting: 'bad\\escape' has a bad escape sequence "
      "(known: \\s \\n \\t \\r \\\\ and \\; in lists)" },
    { "tags=a;b\\\n", "[good] tags: 'a;b\\' has a bad escape sequence "
      "(known: \\s \\n \\t \\r \\\\ and \\; in lists)" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *extra = g_strdup_printf ("[good]\n%s", cases[i].group);

      write_config (f, "good", extra);
      assert_load_fails (f, cases[i].message);
    }
}

static void
test_getters_path_parent (Fixture *f, gconstpointer unused)
{
  g_autofree char *message = NULL;

  write_config (f, "good", "[good]\nfile=/nonexistent-posthorn/dir/x\n");
  message = g_strdup_printf ("[good] file: folder '/nonexistent-posthorn/dir': %s",
                             g_strerror (ENOENT));
  assert_load_fails (f, message);
}

static void
test_settings_defaults (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state = g_build_filename (f->dir, "state", NULL);
  const PhSettings *s;
  struct stat st;

  write_config (f, "", NULL);
  g_assert_true (ph_daemon_load (f->config, NULL, &error));
  g_assert_no_error (error);
  s = ph_settings ();
  g_assert_cmpstr (s->config_file, ==, f->config);
  g_assert_cmpstr (s->state_dir, ==, state);
  g_assert_cmpstr (posthorn_core_get_state_dir (), ==, state);
  g_assert_cmpint (stat (state, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpstr (s->log_level, ==, "info");
  g_assert_cmpuint (s->max_connections, ==, 20000);
  g_assert_cmpuint (s->max_connections_per_ip, ==, 100);
  g_assert_cmpuint (s->shutdown_grace, ==, 10);
  g_assert_cmpuint (s->worker_threads, ==, 0);
  g_assert_null (s->tls_certificate);
  g_assert_null (s->tls_key);
  g_assert_null (s->tls_priority);
  g_assert_cmpstr (s->auth_allow_plaintext, ==, "tls");
  g_assert_cmpuint (s->auth_failure_delay_ms, ==, 500);
  g_assert_cmpuint (s->auth_failure_delay_max_ms, ==, 15000);
  g_assert_cmpuint (s->auth_max_failures, ==, 5);
  g_assert_cmpstr (s->dbus_bus, ==, "system");
  g_assert_null (s->ports_file);
  g_assert_nonnull (s->plugins);
  g_assert_null (s->plugins[0]);
}

static void
test_settings_values (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ports = g_build_filename (f->dir, "ports", NULL);
  g_autofree char *cert = g_build_filename (f->dir, "tls", "cert.pem", NULL);
  g_autofree char *tls_dir = g_build_filename (f->dir, "tls", NULL);
  g_autofree char *key = g_build_filename (f->dir, "tls", "key.pem", NULL);
  const PhSettings *s;

  g_assert_cmpint (g_mkdir (tls_dir, 0700), ==, 0);
  ph_test_write_certificate ("localhost", cert, key);
  write_config (f, "",
                "log_level=error\n"
                "max_connections=500\n"
                "max_connections_per_ip=7\n"
                "shutdown_grace=1m\n"
                "worker_threads=3\n"
                "[tls]\n"
                "certificate=tls/cert.pem\n"
                "key=tls/./key.pem\n"
                "priority=SECURE256\n"
                "[auth]\n"
                "allow_plaintext=always\n"
                "failure_delay=0.25s\n"
                "failure_delay_max=2s\n"
                "max_failures=3\n"
                "[dbus]\n"
                "bus=none\n");
  g_assert_true (ph_daemon_load (f->config, ports, &error));
  g_assert_no_error (error);
  s = ph_settings ();
  g_assert_cmpstr (s->log_level, ==, "error");
  g_assert_cmpuint (s->max_connections, ==, 500);
  g_assert_cmpuint (s->max_connections_per_ip, ==, 7);
  g_assert_cmpuint (s->shutdown_grace, ==, 60);
  g_assert_cmpuint (s->worker_threads, ==, 3);
  g_assert_cmpstr (s->tls_certificate, ==, cert);
  g_assert_cmpstr (s->tls_key, ==, key);
  g_assert_cmpstr (s->tls_priority, ==, "SECURE256");
  g_assert_cmpstr (s->auth_allow_plaintext, ==, "always");
  g_assert_cmpuint (s->auth_failure_delay_ms, ==, 250);
  g_assert_cmpuint (s->auth_failure_delay_max_ms, ==, 2000);
  g_assert_cmpuint (s->auth_max_failures, ==, 3);
  g_assert_cmpstr (s->dbus_bus, ==, "none");
  g_assert_cmpstr (s->ports_file, ==, ports);
}

static void
test_settings_errors (Fixture *f, gconstpointer unused)
{
  static const struct {
    const char *extra;
    const char *message;
  } cases[] = {
    { "worker_threads=2000\n", "[core] worker_threads: 2000 is out of range (0 to 1024)" },
    { "max_connections=0\n", "[core] max_connections: 0 is out of range (1 to 2147483647)" },
    { "shutdown_grace=0.5s\n", "[core] shutdown_grace: must be a whole number of seconds" },
    { "log_level=loud\n", "[core] log_level: 'loud' is not one of error, warning, info, debug" },
    { "[tls]\npriority=NOT-A-THING\n",
      "[tls] priority: GnuTLS rejects 'NOT-A-THING' at 'NOT-A-THING'" },
    { "[auth]\nfailure_delay=3s\nfailure_delay_max=1s\n",
      "[auth] failure_delay_max: is shorter than failure_delay (3000ms)" },
    { "[auth]\nallow_plaintext=never\n", "[auth] allow_plaintext: 'never' is not one of tls, always" },
    { "[auth]\nmax_failures=0\n", "[auth] max_failures: 0 is out of range (1 to 1000)" },
    { "[auth]\ndelay=1\n", "[auth] delay: unknown key" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      write_config (f, "", cases[i].extra);
      assert_load_fails (f, cases[i].message);
    }
}

static void
test_settings_bad_plugin_name (Fixture *f, gconstpointer unused)
{
  write_config (f, "../good", NULL);
  assert_load_fails (f, "[core] plugins: '../good' is not a plugin name");
}

static void
test_settings_state_dir_not_a_dir (Fixture *f, gconstpointer unused)
{
  g_autofree char *file = g_build_filename (f->dir, "state", NULL);
  g_autofree char *message = NULL;

  g_file_set_contents (file, "", -1, NULL);
  write_config (f, "", NULL);
  message = g_strdup_printf ("[core] state_dir: '%s' is not a directory", file);
  assert_load_fails (f, message);
}

static void
test_relative_plugin_dir (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *link = g_build_filename (f->dir, "plugins-link", NULL);
  g_autofree char *text = NULL;

  g_assert_cmpint (symlink (TEST_PLUGIN_DIR, link), ==, 0);
  text = g_strdup_printf ("[core]\nplugins=good\nplugin_dir=plugins-link\nstate_dir=state\n");
  g_file_set_contents (f->config, text, -1, NULL);
  g_assert_true (ph_daemon_load (f->config, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (ph_settings ()->plugin_dirs[0], ==, link);
  g_assert_nonnull (ph_plugin_lookup ("good"));
}

static void
test_plugins_list (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = NULL;
  const PhPluginInfo *info;

  write_config (f, "needs-good;good", NULL);
  g_assert_true (ph_daemon_load (f->config, NULL, &error));
  list = ph_plugins_list ();
  g_assert_cmpuint (list->len, ==, 2);
  info = &g_array_index (list, PhPluginInfo, 0);
  g_assert_cmpstr (info->name, ==, "good");
  g_assert_cmpstr (info->kind, ==, "filter");
  g_assert_cmpstr (info->version, ==, "1.2.3");
  g_assert_cmpstr (info->state, ==, "running");
  info = &g_array_index (list, PhPluginInfo, 1);
  g_assert_cmpstr (info->name, ==, "needs-good");
  g_assert_cmpstr (info->kind, ==, "protocol");
}

static void
test_reload (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  GoodConfig *cfg = load_good (f, "greeting=fine\n");

  g_assert_true (ph_daemon_reload (&error));
  g_assert_no_error (error);
  g_assert_cmpuint (cfg->reloads, ==, 1);
}

static void
test_reload_failure (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  GoodConfig *cfg = load_good (f, "greeting=fail-reload\n");

  /* It also logs a warning (not fatal here, see main()). */
  g_assert_false (ph_daemon_reload (&error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "reload failed: plugin 'good': greeting says so");
  g_assert_cmpuint (cfg->reloads, ==, 1);
}

static void
test_reload_applies_changes (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  GoodConfig *cfg = load_good (f, "greeting=before\n");
  const PhSettings *s = ph_settings ();
  const char *old_level = s->log_level;

  g_assert_cmpuint (s->max_connections, ==, 20000);
  write_config (f, "good", "log_level=error\nmax_connections=77\n"
                           "[auth]\nmax_failures=2\nfailure_delay=1s\n"
                           "[good]\ngreeting=after\n");
  g_assert_true (ph_daemon_reload (&error));
  g_assert_no_error (error);
  g_assert_cmpstr (s->log_level, ==, "error");
  g_assert_cmpuint (s->max_connections, ==, 77);
  g_assert_cmpuint (s->auth_max_failures, ==, 2);
  g_assert_cmpuint (s->auth_failure_delay_ms, ==, 1000);
  /* Strings handed out before stay readable (ASan would catch a free). */
  g_assert_cmpstr (old_level, ==, "warning");
  /* The plugin's reload read its group again. */
  g_assert_cmpstr (cfg->greeting, ==, "after");
  g_assert_cmpuint (cfg->reloads, ==, 1);
}

static void
test_reload_restart_only (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  const PhSettings *s;
  const char *old_state_dir;
  const char *const plugins[] = { "good", NULL };
  g_autofree char *text = NULL;

  load_good (f, "");
  s = ph_settings ();
  old_state_dir = s->state_dir;
  /* Another state_dir and one more plugin: both wait for a restart. */
  text = g_strdup_printf ("[core]\nplugins=good;needs-good\nplugin_dir=%s\nstate_dir=%s/other\n"
                          "max_connections=5\n", TEST_PLUGIN_DIR, f->dir);
  g_file_set_contents (f->config, text, -1, NULL);
  g_assert_true (ph_daemon_reload (&error));
  g_assert_no_error (error);
  g_assert_true (s->state_dir == old_state_dir);
  g_assert_cmpstrv (s->plugins, plugins);
  g_assert_cmpuint (s->max_connections, ==, 5);
  g_assert_null (ph_plugin_lookup ("needs-good"));
}

static void
test_reload_bad_config (Fixture *f, gconstpointer unused)
{
  static const char *const cases[] = {
    "max_connections=lots\n",
    "[good]\ncolour=blue\n",
    "[bogus]\n",
  };
  static const char *const messages[] = {
    "[core] max_connections: 'lots' is not a number",
    "[good] colour: unknown key",
    "[bogus]: unknown group",
  };
  GoodConfig *cfg = load_good (f, "greeting=kept\n");
  const PhSettings *s = ph_settings ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = g_strdup_printf ("reload failed: %s: %s", f->config, messages[i]);

      write_config (f, "good", cases[i]);
      g_assert_false (ph_daemon_reload (&error));
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG);
      g_assert_cmpstr (error->message, ==, expected);
      /* Nothing changed, and the plugins were not asked to reload. */
      g_assert_cmpstr (s->log_level, ==, "warning");
      g_assert_cmpuint (s->max_connections, ==, 20000);
      g_assert_cmpuint (cfg->reloads, ==, 0);
      g_assert_cmpstr (cfg->greeting, ==, "kept");
    }
}

static void
test_hostname (void)
{
  g_assert_cmpstr (posthorn_core_get_hostname (), ==, g_get_host_name ());
  ph_core_set_hostname ("mx.example.org");
  g_assert_cmpstr (posthorn_core_get_hostname (), ==, "mx.example.org");
  ph_core_set_hostname (NULL);
  g_assert_cmpstr (posthorn_core_get_hostname (), ==, g_get_host_name ());
  g_assert_cmpstr (posthorn_core_get_version (), ==, POSTHORN_VERSION);
}

static void
test_parse_uint64 (void)
{
  static const struct {
    const char *text;
    gboolean suffix;
    gboolean ok;
    guint64 value;
  } cases[] = {
    { "0", FALSE, TRUE, 0 },
    { "42", FALSE, TRUE, 42 },
    { "18446744073709551615", FALSE, TRUE, G_MAXUINT64 },
    { "18446744073709551616", FALSE, FALSE, 0 },
    { "4k", TRUE, TRUE, 4096 },
    { "4K", TRUE, TRUE, 4096 },
    { "50M", TRUE, TRUE, 50 * 1024 * 1024 },
    { "2G", TRUE, TRUE, G_GUINT64_CONSTANT (2) << 30 },
    { "4k", FALSE, FALSE, 0 },
    { "4m", TRUE, FALSE, 0 },
    { "4kb", TRUE, FALSE, 0 },
    { "17179869184G", TRUE, FALSE, 0 },
    { "", FALSE, FALSE, 0 },
    { "-1", FALSE, FALSE, 0 },
    { "+1", FALSE, FALSE, 0 },
    { " 1", FALSE, FALSE, 0 },
    { "1 ", FALSE, FALSE, 0 },
    { "0x10", FALSE, FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint64 value = 12345;
      gboolean ok = ph_config_parse_uint64 (cases[i].text, cases[i].suffix, &value);

      g_test_message ("'%s'", cases[i].text);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_cmpuint (value, ==, cases[i].value);
    }
}

static void
test_parse_duration (void)
{
  static const struct {
    const char *text;
    gboolean ok;
    guint64 ms;
  } cases[] = {
    { "90", TRUE, 90000 },
    { "90s", TRUE, 90000 },
    { "500ms", TRUE, 500 },
    { "0.5s", TRUE, 500 },
    { "0.5", TRUE, 500 },
    { "2s", TRUE, 2000 },
    { "15m", TRUE, 15 * 60000 },
    { "2h", TRUE, 2 * 3600000 },
    { "5d", TRUE, 5 * G_GUINT64_CONSTANT (86400000) },
    { "1.25h", TRUE, 4500000 },
    { "0", TRUE, 0 },
    { "0.0001s", FALSE, 0 },
    { "1.5ms", FALSE, 0 },
    { "", FALSE, 0 },
    { "s", FALSE, 0 },
    { ".5s", FALSE, 0 },
    { "5.s", FALSE, 0 },
    { "5 s", FALSE, 0 },
    { "5S", FALSE, 0 },
    { "5w", FALSE, 0 },
    { "-5s", FALSE, 0 },
    { "99999999999999999999d", FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint64 ms = 12345;
      gboolean ok = ph_config_parse_duration_ms (cases[i].text, &ms);

      g_test_message ("'%s'", cases[i].text);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_cmpuint (ms, ==, cases[i].ms);
    }
}

static void
test_parse_boolean (void)
{
  static const struct {
    const char *text;
    gboolean ok;
    gboolean value;
  } cases[] = {
    { "true", TRUE, TRUE }, { "TRUE", TRUE, TRUE }, { "yes", TRUE, TRUE },
    { "on", TRUE, TRUE }, { "1", TRUE, TRUE }, { "false", TRUE, FALSE },
    { "No", TRUE, FALSE }, { "off", TRUE, FALSE }, { "0", TRUE, FALSE },
    { "", FALSE, FALSE }, { "2", FALSE, FALSE }, { "y", FALSE, FALSE },
    { "truee", FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean value = 7;
      gboolean ok = ph_config_parse_boolean (cases[i].text, &value);

      g_test_message ("'%s'", cases[i].text);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_cmpint (value, ==, cases[i].value);
    }
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *path;
    void (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "/core/config/getters/values", test_getters_values },
    { "/core/config/getters/defaults", test_getters_defaults },
    { "/core/config/getters/empty-list", test_getters_empty_list },
    { "/core/config/getters/errors", test_getters_errors },
    { "/core/config/getters/path-parent", test_getters_path_parent },
    { "/core/config/settings/defaults", test_settings_defaults },
    { "/core/config/settings/values", test_settings_values },
    { "/core/config/settings/errors", test_settings_errors },
    { "/core/config/settings/bad-plugin-name", test_settings_bad_plugin_name },
    { "/core/config/settings/state-dir-not-a-dir", test_settings_state_dir_not_a_dir },
    { "/core/config/settings/relative-plugin-dir", test_relative_plugin_dir },
    { "/core/loader/plugins-list", test_plugins_list },
    { "/core/daemon/reload", test_reload },
    { "/core/daemon/reload-failure", test_reload_failure },
    { "/core/daemon/reload/applies-changes", test_reload_applies_changes },
    { "/core/daemon/reload/restart-only", test_reload_restart_only },
    { "/core/daemon/reload/bad-config", test_reload_bad_config },
  };

  g_test_init (&argc, &argv, NULL);
  /* The daemon logs a failed reload as a warning; that is not a test failure. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  for (gsize i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add (tests[i].path, Fixture, NULL, fixture_set_up, tests[i].func, fixture_tear_down);
  g_test_add_func ("/core/config/parse/uint64", test_parse_uint64);
  g_test_add_func ("/core/config/parse/duration", test_parse_duration);
  g_test_add_func ("/core/config/parse/boolean", test_parse_boolean);
  g_test_add_func ("/core/core/hostname", test_hostname);
  return g_test_run ();
}
