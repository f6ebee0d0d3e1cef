/* The configuration keyfile: [core], [tls], [auth], [dbus] into PhSettings,
 * and the posthorn_config_*() getters plugins read their group with.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char *file;            /* absolute */
  char *dir;             /* the file's folder, for relative paths */
  GKeyFile *keyfile;
  GHashTable *declared;  /* group → set of keys a getter read */
} PhConfig;

static PhConfig *config;
static PhSettings settings;

static void settings_free_current (void);

static const char *const core_groups[] = { "core", "tls", "auth", "dbus", NULL };

const PhSettings *
ph_settings (void)
{
  return &settings;
}

static void
config_free (PhConfig *cfg)
{
  g_free (cfg->file);
  g_free (cfg->dir);
  g_clear_pointer (&cfg->keyfile, g_key_file_unref);
  g_clear_pointer (&cfg->declared, g_hash_table_unref);
  g_free (cfg);
}

static void
config_set_error_valist (GError **error, const char *group, const char *key,
                         const char *format, va_list args)
{
  g_autofree char *problem = g_strdup_vprintf (format, args);
  const char *file = config != NULL ? config->file : "(no configuration)";

  if (key != NULL)
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                 "%s: [%s] %s: %s", file, group, key, problem);
  else
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                 "%s: [%s]: %s", file, group, problem);
}

void
ph_config_set_error (GError **error, const char *group, const char *key,
                     const char *format, ...)
{
  va_list args;

  va_start (args, format);
  config_set_error_valist (error, group, key, format, args);
  va_end (args);
}

/* ---- pure value parsers ---- */

gboolean
ph_config_parse_uint64 (const char *text, gboolean allow_size_suffix, guint64 *out_value)
{
  guint64 value = 0;
  const char *p = text;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      guint digit = *p - '0';
      if (value > (G_MAXUINT64 - digit) / 10)
        return FALSE;
      value = value * 10 + digit;
    }

  if (*p != '\0')
    {
      guint shift;

      if (!allow_size_suffix || p[1] != '\0')
        return FALSE;
      switch (*p)
        {
        case 'k': case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        default: return FALSE;
        }
      if (value > (G_MAXUINT64 >> shift))
        return FALSE;
      value <<= shift;
    }

  *out_value = value;
  return TRUE;
}

gboolean
ph_config_parse_duration_ms (const char *text, guint64 *out_ms)
{
  static const struct { const char *unit; guint64 ms; } units[] = {
    { "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60 * 1000 },
    { "h", 3600 * 1000 }, { "d", 86400 * 1000 },
  };
  guint64 whole = 0, fraction = 0, fraction_scale = 1;
  const char *p = text;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (whole > (G_MAXUINT64 / 10) - 10)
        return FALSE;
      whole = whole * 10 + (guint64) (*p - '0');
    }
  if (*p == '.')
    {
      p++;
      if (!g_ascii_isdigit (*p))
        return FALSE;
      for (; g_ascii_isdigit (*p); p++)
        {
          if (fraction_scale >= 1000000000)
            return FALSE;
          fraction = fraction * 10 + (guint64) (*p - '0');
          fraction_scale *= 10;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    {
      guint64 unit = units[i].ms;

      if (strcmp (p, units[i].unit) != 0)
        continue;
      if (whole > G_MAXUINT64 / unit)
        return FALSE;
      if ((fraction * unit) % fraction_scale != 0)
        return FALSE;  /* finer than a millisecond */
      *out_ms = whole * unit + (fraction * unit) / fraction_scale;
      return TRUE;
    }
  return FALSE;
}

gboolean
ph_config_parse_boolean (const char *text, gboolean *out_value)
{
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };

  for (gsize i = 0; yes[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      {
        *out_value = TRUE;
        return TRUE;
      }
  for (gsize i = 0; no[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      {
        *out_value = FALSE;
        return TRUE;
      }
  return FALSE;
}

/* ---- reading keys (each read declares the key) ---- */

static void
config_declare (const char *group, const char *key)
{
  GHashTable *keys;

  if (config == NULL)
    return;
  keys = g_hash_table_lookup (config->declared, group);
  if (keys == NULL)
    {
      keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (config->declared, g_strdup (group), keys);
    }
  if (!g_hash_table_contains (keys, key))
    g_hash_table_add (keys, g_strdup (key));
}

/* The raw value with a trailing " # comment" removed, or NULL if the key is
 * not set. GKeyFile only knows whole-line comments; we also accept them
 * after a value (a '#' preceded by a space or tab). */
static char *
config_raw (const char *group, const char *key)
{
  char *raw;

  config_declare (group, key);
  if (config == NULL)
    return NULL;
  raw = g_key_file_get_value (config->keyfile, group, key, NULL);
  if (raw == NULL)
    return NULL;

  for (char *p = raw; *p != '\0'; p++)
    if (*p == '#' && p > raw && (p[-1] == ' ' || p[-1] == '\t'))
      {
        *p = '\0';
        break;
      }
  return g_strstrip (raw);
}

#define ESCAPE_PROBLEM "has a bad escape sequence (known: \\s \\n \\t \\r \\\\ and \\; in lists)"

/* The key's value unescaped like GKeyFile does (\s \n \t \r \\), or NULL
 * in *out_value if it is not set. */
static gboolean
config_lookup_string (const char *group, const char *key, char **out_value, GError **error)
{
  g_autofree char *raw = config_raw (group, key);
  g_autoptr(GKeyFile) scratch = NULL;
  g_autoptr(GError) local_error = NULL;

  *out_value = NULL;
  if (raw == NULL)
    return TRUE;
  scratch = g_key_file_new ();
  g_key_file_set_value (scratch, "v", "v", raw);
  *out_value = g_key_file_get_string (scratch, "v", "v", &local_error);
  if (local_error != NULL)
    {
      g_clear_pointer (out_value, g_free);
      ph_config_set_error (error, group, key, "'%s' %s", raw, ESCAPE_PROBLEM);
      return FALSE;
    }
  return TRUE;
}

static gboolean
config_lookup_list (const char *group, const char *key, GStrv *out_value, GError **error)
{
  g_autofree char *raw = config_raw (group, key);
  g_autoptr(GKeyFile) scratch = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) pieces = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;

  *out_value = NULL;
  if (raw == NULL)
    return TRUE;
  scratch = g_key_file_new ();
  g_key_file_set_value (scratch, "v", "v", raw);
  pieces = g_key_file_get_string_list (scratch, "v", "v", NULL, &local_error);
  if (local_error != NULL)
    {
      ph_config_set_error (error, group, key, "'%s' %s", raw, ESCAPE_PROBLEM);
      return FALSE;
    }

  builder = g_strv_builder_new ();
  for (gsize i = 0; pieces != NULL && pieces[i] != NULL; i++)
    {
      g_strstrip (pieces[i]);
      if (pieces[i][0] != '\0')
        g_strv_builder_add (builder, pieces[i]);
    }
  *out_value = g_strv_builder_end (builder);
  return TRUE;
}

static gboolean
config_get_uint64 (const char *group, const char *key, guint64 default_value,
                   guint64 min, guint64 max, gboolean allow_size_suffix,
                   guint64 *out_value, GError **error)
{
  g_autofree char *text = NULL;
  guint64 value;

  if (!config_lookup_string (group, key, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_value = default_value;
      return TRUE;
    }
  if (!ph_config_parse_uint64 (text, allow_size_suffix, &value))
    {
      ph_config_set_error (error, group, key, "'%s' is not a number%s", text,
                           allow_size_suffix ? " (a size suffix may be k, M or G)" : "");
      return FALSE;
    }
  if (value < min || value > max)
    {
      ph_config_set_error (error, group, key,
                           "%s is out of range (%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
                           text, min, max);
      return FALSE;
    }
  *out_value = value;
  return TRUE;
}

static gboolean
config_get_uint (const char *group, const char *key, guint default_value,
                 guint min, guint max, guint *out_value, GError **error)
{
  guint64 value;

  if (!config_get_uint64 (group, key, default_value, min, max, FALSE, &value, error))
    return FALSE;
  *out_value = (guint) value;
  return TRUE;
}

static gboolean
config_get_duration_ms (const char *group, const char *key, guint64 default_ms,
                        guint64 max_ms, guint64 *out_ms, GError **error)
{
  g_autofree char *text = NULL;
  guint64 ms;

  if (!config_lookup_string (group, key, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_ms = default_ms;
      return TRUE;
    }
  if (!ph_config_parse_duration_ms (text, &ms))
    {
      ph_config_set_error (error, group, key,
                           "'%s' is not a duration (e.g. 90, 500ms, 0.5s, 15m, 2h, 5d)", text);
      return FALSE;
    }
  if (ms > max_ms)
    {
      ph_config_set_error (error, group, key, "%s is longer than the maximum (%" G_GUINT64_FORMAT "s)",
                           text, max_ms / 1000);
      return FALSE;
    }
  *out_ms = ms;
  return TRUE;
}

static gboolean
config_get_choice (const char *group, const char *key, const char *default_value,
                   const char *const *choices, char **out_value, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;

  if (!config_lookup_string (group, key, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_value = g_strdup (default_value);
      return TRUE;
    }
  if (g_strv_contains (choices, text))
    {
      *out_value = g_steal_pointer (&text);
      return TRUE;
    }
  expected = g_strjoinv (", ", (char **) choices);
  ph_config_set_error (error, group, key, "'%s' is not one of %s", text, expected);
  return FALSE;
}

static char *
config_resolve_path (const char *value)
{
  if (g_path_is_absolute (value) || config == NULL)
    return g_canonicalize_filename (value, NULL);
  return g_canonicalize_filename (value, config->dir);
}

static gboolean
config_check_path (const char *group, const char *key, const char *path,
                   PosthornPathCheck check, GError **error)
{
  struct stat st;

  if (check & POSTHORN_PATH_FILE_EXISTS)
    {
      if (stat (path, &st) != 0)
        {
          ph_config_set_error (error, group, key, "'%s': %s", path, g_strerror (errno));
          return FALSE;
        }
      if (!S_ISREG (st.st_mode))
        {
          ph_config_set_error (error, group, key, "'%s' is not a regular file", path);
          return FALSE;
        }
      if (access (path, R_OK) != 0)
        {
          ph_config_set_error (error, group, key, "'%s': %s", path, g_strerror (errno));
          return FALSE;
        }
    }
  if (check & POSTHORN_PATH_DIR_EXISTS)
    {
      if (stat (path, &st) != 0)
        {
          ph_config_set_error (error, group, key, "'%s': %s", path, g_strerror (errno));
          return FALSE;
        }
      if (!S_ISDIR (st.st_mode))
        {
          ph_config_set_error (error, group, key, "'%s' is not a directory", path);
          return FALSE;
        }
    }
  if (check & POSTHORN_PATH_PARENT_EXISTS)
    {
      g_autofree char *parent = g_path_get_dirname (path);

      if (stat (parent, &st) != 0)
        {
          ph_config_set_error (error, group, key, "folder '%s': %s", parent, g_strerror (errno));
          return FALSE;
        }
      if (!S_ISDIR (st.st_mode))
        {
          ph_config_set_error (error, group, key, "'%s' is not a directory", parent);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
config_get_path (const char *group, const char *key, const char *default_value,
                 PosthornPathCheck check, char **out_value, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;

  *out_value = NULL;
  if (!config_lookup_string (group, key, &text, error))
    return FALSE;
  if (text == NULL)
    text = g_strdup (default_value);
  if (text == NULL || text[0] == '\0')
    return TRUE;

  path = config_resolve_path (text);
  if (!config_check_path (group, key, path, check, error))
    return FALSE;
  *out_value = g_steal_pointer (&path);
  return TRUE;
}

gboolean
ph_config_check_declared (const char *group, GError **error)
{
  g_auto(GStrv) keys = NULL;
  GHashTable *declared;

  if (config == NULL)
    return TRUE;
  keys = g_key_file_get_keys (config->keyfile, group, NULL, NULL);
  declared = g_hash_table_lookup (config->declared, group);
  for (gsize i = 0; keys != NULL && keys[i] != NULL; i++)
    if (declared == NULL || !g_hash_table_contains (declared, keys[i]))
      {
        ph_config_set_error (error, group, keys[i], "unknown key");
        return FALSE;
      }
  return TRUE;
}

/* ---- the public getters: the plugin's own group ---- */

gboolean
posthorn_config_get_string (PosthornPlugin *plugin, const char *key,
                            const char *default_value, char **out_value, GError **error)
{
  g_return_val_if_fail (plugin != NULL && key != NULL && out_value != NULL, FALSE);

  if (!config_lookup_string (posthorn_plugin_get_name (plugin), key, out_value, error))
    return FALSE;
  if (*out_value == NULL)
    *out_value = g_strdup (default_value);
  return TRUE;
}

gboolean
posthorn_config_get_string_list (PosthornPlugin *plugin, const char *key,
                                 const char *const *default_value, GStrv *out_value,
                                 GError **error)
{
  g_return_val_if_fail (plugin != NULL && key != NULL && out_value != NULL, FALSE);

  if (!config_lookup_list (posthorn_plugin_get_name (plugin), key, out_value, error))
    return FALSE;
  if (*out_value == NULL)
    *out_value = default_value != NULL ? g_strdupv ((char **) default_value) : g_new0 (char *, 1);
  return TRUE;
}

gboolean
posthorn_config_get_boolean (PosthornPlugin *plugin, const char *key,
                             gboolean default_value, gboolean *out_value, GError **error)
{
  const char *group;
  g_autofree char *text = NULL;

  g_return_val_if_fail (plugin != NULL && key != NULL && out_value != NULL, FALSE);

  group = posthorn_plugin_get_name (plugin);
  if (!config_lookup_string (group, key, &text, error))
    return FALSE;
  if (text == NULL)
    {
      *out_value = default_value;
      return TRUE;
    }
  if (!ph_config_parse_boolean (text, out_value))
    {
      ph_config_set_error (error, group, key, "'%s' is not a boolean (true or false)", text);
      return FALSE;
    }
  return TRUE;
}

gboolean
posthorn_config_get_uint64 (PosthornPlugin *plugin, const char *key,
                            guint64 default_value, guint64 min, guint64 max,
                            gboolean allow_size_suffix, guint64 *out_value, GError **error)
{
  g_return_val_if_fail (plugin != NULL && key != NULL && out_value != NULL, FALSE);

  return config_get_uint64 (posthorn_plugin_get_name (plugin), key, default_value,
                            min, max, allow_size_suffix, out_value, error);
}

gboolean
posthorn_config_get_duration (PosthornPlugin *plugin, const char *key,
                              guint64 default_seconds, guint64 *out_seconds, GError **error)
{
  const char *group;
  guint64 ms;

  g_return_val_if_fail (plugin != NULL && key != NULL && out_seconds != NULL, FALSE);

  group = posthorn_plugin_get_name (plugin);
  if (!config_get_duration_ms (group, key, default_seconds * 1000, G_MAXUINT64, &ms, error))
    return FALSE;
  if (ms % 1000 != 0)
    {
      g_autofree char *text = NULL;

      config_lookup_string (group, key, &text, NULL);
      ph_config_set_error (error, group, key, "'%s' is not a whole number of seconds", text);
      return FALSE;
    }
  *out_seconds = ms / 1000;
  return TRUE;
}

gboolean
posthorn_config_get_path (PosthornPlugin *plugin, const char *key,
                          const char *default_value, PosthornPathCheck check,
                          char **out_value, GError **error)
{
  g_return_val_if_fail (plugin != NULL && key != NULL && out_value != NULL, FALSE);

  return config_get_path (posthorn_plugin_get_name (plugin), key, default_value,
                          check, out_value, error);
}

void
posthorn_config_declare_key (PosthornPlugin *plugin, const char *key)
{
  g_return_if_fail (plugin != NULL && key != NULL);

  config_declare (posthorn_plugin_get_name (plugin), key);
}

gboolean
posthorn_config_has_key (PosthornPlugin *plugin, const char *key)
{
  g_return_val_if_fail (plugin != NULL && key != NULL, FALSE);

  return config != NULL
         && g_key_file_has_key (config->keyfile, posthorn_plugin_get_name (plugin), key, NULL);
}

void
posthorn_config_set_error (PosthornPlugin *plugin, const char *key, GError **error,
                           const char *format, ...)
{
  va_list args;

  g_return_if_fail (plugin != NULL && format != NULL);

  va_start (args, format);
  config_set_error_valist (error, posthorn_plugin_get_name (plugin), key, format, args);
  va_end (args);
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
  g_auto(GStrv) groups = g_key_file_get_groups (config->keyfile, NULL);

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
  if (!config_get_uint ("core", "max_connections_per_ip", 100, 1, G_MAXINT,
                        &settings.max_connections_per_ip, error))
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
  gboolean has_certificate = g_key_file_has_key (config->keyfile, "tls", "certificate", NULL);
  gboolean has_key = g_key_file_has_key (config->keyfile, "tls", "key", NULL);
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

  config = g_new0 (PhConfig, 1);
  config->file = g_strdup (file);
  config->dir = g_path_get_dirname (config->file);
  config->keyfile = g_key_file_new ();
  config->declared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_hash_table_unref);
  data = g_bytes_get_data (contents, &length);
  if (!g_key_file_load_from_data (config->keyfile, data != NULL ? data : "", length,
                                  G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG, "%s: %s",
                   config->file, local_error->message);
      settings_free_current ();
      return FALSE;
    }

  settings.config_file = g_strdup (config->file);
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
  PhConfig *old_config = config;
  PhSettings old = settings;

  g_return_val_if_fail (config != NULL, FALSE);

  config = NULL;
  memset (&settings, 0, sizeof settings);
  if (!settings_read (old.config_file, old.ports_file, error))
    {
      config = old_config;
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
          config = old_config;
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
  g_clear_pointer (&config, config_free);
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
