/* The core's settings: [core], [tls], [auth] and [dbus] read
 * into PhSettings at start-up, and re-read on SIGHUP/Reload() keeping what
 * cannot change while running.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static PhSettings settings;

static void settings_free_current (void);

static const char *const core_groups[] = { "core", "tls", "auth", "dbus", NULL };

const PhSettings *
ph_settings (void)
{
  return &settings;
}

/* ---- loading the file and the core's groups ---- */

static gboolean
config_read_file (const char *file, GBytes **out_contents, GError **error)
{
  g_autoptr(GByteArray) buffer = g_byte_array_new ();
  int fd;

  fd = open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: cannot read: %s", file, g_strerror (saved));
      return FALSE;
    }
  for (;;)
    {
      guint8 chunk[16384];
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                       "%s: cannot read: %s", file, g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        break;
      g_byte_array_append (buffer, chunk, (guint) n);
    }
  close (fd);
  *out_contents = g_byte_array_free_to_bytes (g_steal_pointer (&buffer));
  return TRUE;
}

static gboolean
plugin_name_is_valid (const char *name)
{
  if (name[0] == '\0' || name[0] == '.' || name[0] == '-')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

static gboolean
settings_load_plugins (GError **error)
{
  g_auto(GStrv) plugins = NULL;
  g_auto(GStrv) dirs = NULL;

  if (!config_lookup_list ("core", "plugins", &plugins, error))
    return FALSE;
  if (plugins == NULL)
    plugins = g_new0 (char *, 1);
  for (gsize i = 0; plugins[i] != NULL; i++)
    {
      if (!plugin_name_is_valid (plugins[i]) || g_strv_contains (core_groups, plugins[i]))
        {
          ph_config_set_error (error, "core", "plugins", "'%s' is not a plugin name", plugins[i]);
          return FALSE;
        }
      for (gsize j = 0; j < i; j++)
        if (strcmp (plugins[i], plugins[j]) == 0)
          {
            ph_config_set_error (error, "core", "plugins", "'%s' is listed twice", plugins[i]);
            return FALSE;
          }
    }

  if (!config_lookup_list ("core", "plugin_dir", &dirs, error))
    return FALSE;
  if (dirs == NULL || dirs[0] == NULL)
    {
      g_clear_pointer (&dirs, g_strfreev);
      dirs = g_new0 (char *, 2);
      dirs[0] = g_strdup (POSTHORN_PLUGINDIR);
    }
  for (gsize i = 0; dirs[i] != NULL; i++)
    {
      char *resolved = config_resolve_path (dirs[i]);
      g_free (dirs[i]);
      dirs[i] = resolved;
    }

  settings.plugins = g_steal_pointer (&plugins);
  settings.plugin_dirs = g_steal_pointer (&dirs);
  return TRUE;
}

static gboolean
settings_check_groups (GError **error)
{
  g_auto(GStrv) groups = g_key_file_get_groups (config_current->keyfile, NULL);

  for (gsize i = 0; groups[i] != NULL; i++)
    if (!g_strv_contains (core_groups, groups[i])
        && !g_strv_contains ((const char *const *) settings.plugins, groups[i]))
      {
        ph_config_set_error (error, groups[i], NULL, "unknown group");
        return FALSE;
      }
  return TRUE;
}

static gboolean
settings_make_state_dir (GError **error)
{
  g_autofree char *path = NULL;
  gboolean created = FALSE;
  struct stat st;

  if (!config_get_path ("core", "state_dir", POSTHORN_LOCALSTATEDIR "/lib/posthorn",
                        POSTHORN_PATH_ANY, &path, error))
    return FALSE;
  if (path == NULL)
    {
      ph_config_set_error (error, "core", "state_dir", "must not be empty");
      return FALSE;
    }

  if (stat (path, &st) != 0)
    {
      if (errno != ENOENT || g_mkdir_with_parents (path, 0700) != 0)
        {
          int saved = errno;
          ph_config_set_error (error, "core", "state_dir", "cannot create '%s': %s",
                               path, g_strerror (saved));
          return FALSE;
        }
      created = TRUE;
    }
  if (!config_check_path ("core", "state_dir", path, POSTHORN_PATH_DIR_EXISTS, error))
    return FALSE;

  /* Started as root with a user to become: the folder we just made must
   * belong to that user, or the daemon cannot write it after dropping. */
  if (created && geteuid () == 0 && settings.user != NULL && strcmp (settings.user, "root") != 0)
    {
      struct passwd *pw = getpwnam (settings.user);

      if (pw != NULL && chown (path, pw->pw_uid, pw->pw_gid) != 0)
        {
          int saved = errno;
          ph_config_set_error (error, "core", "state_dir", "cannot give '%s' to user %s: %s",
                               path, settings.user, g_strerror (saved));
          return FALSE;
        }
    }
  else if (access (path, W_OK) != 0)
    {
      int saved = errno;
      ph_config_set_error (error, "core", "state_dir", "'%s' is not writable: %s",
                           path, g_strerror (saved));
      return FALSE;
    }

  settings.state_dir = g_steal_pointer (&path);
  return TRUE;
}

static gboolean
settings_load_user (GError **error)
{
  g_autofree char *user = NULL;

  if (!config_lookup_string ("core", "user", &user, error))
    return FALSE;
  if (user != NULL && user[0] == '\0')
    g_clear_pointer (&user, g_free);

  /* Not root: nothing to drop, the key is ignored (the daemon logs it).
   * Root without a user is refused by ph_daemon_start(), not here, so that
   * --check-config can be run as root on any config. */
  if (geteuid () == 0 && user != NULL && getpwnam (user) == NULL)
    {
      ph_config_set_error (error, "core", "user", "no such user '%s'", user);
      return FALSE;
    }
  settings.user = g_steal_pointer (&user);
  return TRUE;
}

static gboolean
settings_load_core (GError **error)
{
  static const char *const levels[] = { "error", "warning", "info", "debug", NULL };
  guint64 grace_ms;

  if (!settings_load_plugins (error))
    return FALSE;
  if (!settings_check_groups (error))
    return FALSE;
  if (!settings_load_user (error))
    return FALSE;
  if (!settings_make_state_dir (error))
    return FALSE;
  if (!config_get_choice ("core", "log_level", "info", levels, &settings.log_level, error))
    return FALSE;
  if (!config_get_uint ("core", "max_connections", 20000, 1, G_MAXINT,
                        &settings.max_connections, error))
    return FALSE;
  settings.max_connections_set = g_key_file_has_key (config_current->keyfile, "core",
                                                     "max_connections", NULL);
  if (!config_get_uint ("core", "max_connections_per_ip", 100, 1, G_MAXINT,
                        &settings.max_connections_per_ip, error))
    return FALSE;
  if (!config_get_uint ("core", "max_sessions_per_user", 100, 0, G_MAXINT,
                        &settings.max_sessions_per_user, error))
    return FALSE;
  if (!config_get_uint ("core", "max_sessions_per_user_ip", 50, 0, G_MAXINT,
                        &settings.max_sessions_per_user_ip, error))
    return FALSE;
  if (!config_get_duration_ms ("core", "shutdown_grace", 10 * 1000, 3600 * 1000, &grace_ms, error))
    return FALSE;
  if (grace_ms % 1000 != 0)
    {
      ph_config_set_error (error, "core", "shutdown_grace", "must be a whole number of seconds");
      return FALSE;
    }
  settings.shutdown_grace = (guint) (grace_ms / 1000);
  if (!config_get_uint ("core", "worker_threads", 0, 0, 1024, &settings.worker_threads, error))
    return FALSE;
  return ph_config_check_declared ("core", error);
}

static gboolean
settings_load_tls (GError **error)
{
  gboolean has_certificate = g_key_file_has_key (config_current->keyfile, "tls", "certificate", NULL);
  gboolean has_key = g_key_file_has_key (config_current->keyfile, "tls", "key", NULL);
  const char *error_pos = NULL;
  gnutls_priority_t priority;
  int rc;

  if (!config_get_path ("tls", "certificate", NULL, POSTHORN_PATH_FILE_EXISTS,
                        &settings.tls_certificate, error))
    return FALSE;
  if (!config_get_path ("tls", "key", NULL, POSTHORN_PATH_FILE_EXISTS, &settings.tls_key, error))
    return FALSE;
  if (settings.tls_certificate != NULL && settings.tls_key == NULL)
    {
      ph_config_set_error (error, "tls", "key", "%s (a certificate is set, its key is needed too)",
                           has_key ? "is empty" : "missing");
      return FALSE;
    }
  if (settings.tls_key != NULL && settings.tls_certificate == NULL)
    {
      ph_config_set_error (error, "tls", "certificate", "%s (a key is set, its certificate is needed too)",
                           has_certificate ? "is empty" : "missing");
      return FALSE;
    }

  /* Unset: NULL, and the TLS layer uses its default. */
  if (!config_lookup_string ("tls", "priority", &settings.tls_priority, error))
    return FALSE;
  if (settings.tls_priority != NULL && settings.tls_priority[0] == '\0')
    g_clear_pointer (&settings.tls_priority, g_free);
  if (settings.tls_priority == NULL)
    return ph_config_check_declared ("tls", error);
  rc = gnutls_priority_init (&priority, settings.tls_priority, &error_pos);
  if (rc != GNUTLS_E_SUCCESS)
    {
      ph_config_set_error (error, "tls", "priority", "GnuTLS rejects '%s' at '%s'",
                           settings.tls_priority, error_pos != NULL ? error_pos : "");
      return FALSE;
    }
  gnutls_priority_deinit (priority);
  return ph_config_check_declared ("tls", error);
}

static gboolean
settings_load_auth_dbus (GError **error)
{
  static const char *const plaintext[] = { "tls", "always", NULL };
  static const char *const buses[] = { "system", "session", "none", NULL };
  guint64 delay_ms, delay_max_ms;

  if (!config_get_choice ("auth", "allow_plaintext", "tls", plaintext,
                          &settings.auth_allow_plaintext, error))
    return FALSE;
  if (!config_get_duration_ms ("auth", "failure_delay", 500, 3600 * 1000, &delay_ms, error))
    return FALSE;
  if (!config_get_duration_ms ("auth", "failure_delay_max", 15 * 1000, 3600 * 1000,
                               &delay_max_ms, error))
    return FALSE;
  if (delay_max_ms < delay_ms)
    {
      ph_config_set_error (error, "auth", "failure_delay_max",
                           "is shorter than failure_delay (%" G_GUINT64_FORMAT "ms)", delay_ms);
      return FALSE;
    }
  settings.auth_failure_delay_ms = (guint) delay_ms;
  settings.auth_failure_delay_max_ms = (guint) delay_max_ms;
  if (!config_get_uint ("auth", "max_failures", 5, 1, 1000, &settings.auth_max_failures, error))
    return FALSE;
  if (!ph_config_check_declared ("auth", error))
    return FALSE;

  if (!config_get_choice ("dbus", "bus", "system", buses, &settings.dbus_bus, error))
    return FALSE;
  return ph_config_check_declared ("dbus", error);
}

/* Reads @file into the (empty) current config and settings; on failure
 * they are empty again. */
static gboolean
settings_read (const char *file, const char *ports_file, GError **error)
{
  g_autoptr(GBytes) contents = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize length;
  const char *data;

  if (!config_read_file (file, &contents, error))
    return FALSE;

  config_current = g_new0 (PhConfig, 1);
  config_current->file = g_strdup (file);
  config_current->dir = g_path_get_dirname (config_current->file);
  config_current->keyfile = g_key_file_new ();
  config_current->declared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                    (GDestroyNotify) g_hash_table_unref);
  data = g_bytes_get_data (contents, &length);
  if (!g_key_file_load_from_data (config_current->keyfile, data != NULL ? data : "", length,
                                  G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG, "%s: %s",
                   config_current->file, local_error->message);
      settings_free_current ();
      return FALSE;
    }

  settings.config_file = g_strdup (config_current->file);
  settings.ports_file = g_strdup (ports_file);
  if (!settings_load_core (error) || !settings_load_tls (error) || !settings_load_auth_dbus (error))
    {
      settings_free_current ();
      return FALSE;
    }
  return TRUE;
}

gboolean
ph_settings_load (const char *config_file, const char *ports_file, GError **error)
{
  g_autofree char *file = NULL;
  g_autofree char *ports = NULL;

  g_return_val_if_fail (config_file != NULL, FALSE);

  ph_settings_clear ();
  file = g_canonicalize_filename (config_file, NULL);
  ports = ports_file != NULL ? g_canonicalize_filename (ports_file, NULL) : NULL;
  return settings_read (file, ports, error);
}

/* Strings other modules may still point to: freed only by
 * ph_settings_clear(), never while the daemon runs. */
static GPtrArray *retired;

static void
retire (gpointer memory)
{
  if (memory == NULL)
    return;
  if (retired == NULL)
    retired = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (retired, memory);
}

static void
retire_strv (char **strv)
{
  for (gsize i = 0; strv != NULL && strv[i] != NULL; i++)
    retire (strv[i]);
  retire (strv);
}

static void
settings_keep_string (char **current, char *old, const char *group, const char *key)
{
  if (g_strcmp0 (*current, old) == 0)
    {
      retire (old);
      return;
    }
  g_warning ("%s: [%s] %s changed: that takes a restart; keeping the old value",
             settings.config_file, group, key);
  retire (*current);
  *current = old;
}

static void
settings_keep_strv (char ***current, char **old, const char *group, const char *key)
{
  if (g_strv_equal ((const char *const *) *current, (const char *const *) old))
    {
      retire_strv (old);
      return;
    }
  g_warning ("%s: [%s] %s changed: that takes a restart; keeping the old value",
             settings.config_file, group, key);
  retire_strv (*current);
  *current = old;
}

gboolean
ph_settings_reload (GError **error)
{
  PhConfig *old_config = config_current;
  PhSettings old = settings;

  g_return_val_if_fail (config_current != NULL, FALSE);

  config_current = NULL;
  memset (&settings, 0, sizeof settings);
  if (!settings_read (old.config_file, old.ports_file, error))
    {
      config_current = old_config;
      settings = old;
      return FALSE;
    }

  /* What the plugins' inits read stays declared; a key they never read
   * fails the reload, as it would fail a start. */
  for (gsize i = 0; old.plugins[i] != NULL; i++)
    {
      GHashTable *keys = g_hash_table_lookup (old_config->declared, old.plugins[i]);
      GHashTableIter iter;
      gpointer key;

      if (keys != NULL)
        {
          g_hash_table_iter_init (&iter, keys);
          while (g_hash_table_iter_next (&iter, &key, NULL))
            config_declare (old.plugins[i], key);
        }
      if (!g_strv_contains ((const char *const *) settings.plugins, old.plugins[i]))
        continue;
      if (!ph_config_check_declared (old.plugins[i], error))
        {
          settings_free_current ();
          config_current = old_config;
          settings = old;
          return FALSE;
        }
    }

  /* Live from now on: log level, limits, grace, [tls], [auth]. The rest
   * is fixed for the life of the process. */
  settings_keep_strv (&settings.plugins, old.plugins, "core", "plugins");
  settings_keep_strv (&settings.plugin_dirs, old.plugin_dirs, "core", "plugin_dir");
  settings_keep_string (&settings.state_dir, old.state_dir, "core", "state_dir");
  settings_keep_string (&settings.user, old.user, "core", "user");
  settings_keep_string (&settings.dbus_bus, old.dbus_bus, "dbus", "bus");
  if (settings.worker_threads != old.worker_threads)
    {
      g_warning ("%s: [core] worker_threads changed: that takes a restart; keeping the old value",
                 settings.config_file);
      settings.worker_threads = old.worker_threads;
    }
  retire (old.config_file);
  retire (old.ports_file);
  retire (old.log_level);
  retire (old.tls_certificate);
  retire (old.tls_key);
  retire (old.tls_priority);
  retire (old.auth_allow_plaintext);
  config_free (old_config);
  return TRUE;
}

static void
settings_free_current (void)
{
  g_clear_pointer (&config_current, config_free);
  g_free (settings.config_file);
  g_free (settings.state_dir);
  g_free (settings.user);
  g_strfreev (settings.plugins);
  g_strfreev (settings.plugin_dirs);
  g_free (settings.log_level);
  g_free (settings.tls_certificate);
  g_free (settings.tls_key);
  g_free (settings.tls_priority);
  g_free (settings.auth_allow_plaintext);
  g_free (settings.dbus_bus);
  g_free (settings.ports_file);
  memset (&settings, 0, sizeof settings);
}

void
ph_settings_clear (void)
{
  settings_free_current ();
  g_clear_pointer (&retired, g_ptr_array_unref);
}
