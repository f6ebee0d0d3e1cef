/* The configuration keyfile: the one loaded file and reading its keys
 * (each read declares the key, so unknown keys can be reported), with
 * one error format for every problem.
 *
 * The core's groups ([core], [tls], [auth], [dbus]) are read into
 * PhSettings in config-settings.c, the posthorn_config_*() getters of
 * plugins are in config-getters.c and the pure value parsers in
 * config-parse.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config-private.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

PhConfig *config_current;
void
config_free (PhConfig *cfg)
{
  g_free (cfg->file);
  g_free (cfg->dir);
  g_clear_pointer (&cfg->keyfile, g_key_file_unref);
  g_clear_pointer (&cfg->declared, g_hash_table_unref);
  g_free (cfg);
}

void
config_set_error_valist (GError **error, const char *group, const char *key,
                         const char *format, va_list args)
{
  g_autofree char *text = g_strdup_vprintf (format, args);
  g_autoptr(GString) problem = g_string_sized_new (strlen (text));
  const char *file = config_current != NULL ? config_current->file : "(no configuration)";

  /* One line, whatever a value held: a keyfile "\n" escape in a value
   * must not split the message (found by fuzzing). */
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      g_string_append_printf (problem, "\\x%02x", (guchar) *p);
    else
      g_string_append_c (problem, *p);

  if (key != NULL)
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                 "%s: [%s] %s: %s", file, group, key, problem->str);
  else
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                 "%s: [%s]: %s", file, group, problem->str);
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

/* ---- reading keys (each read declares the key) ---- */

void
config_declare (const char *group, const char *key)
{
  GHashTable *keys;

  if (config_current == NULL)
    return;
  keys = g_hash_table_lookup (config_current->declared, group);
  if (keys == NULL)
    {
      keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (config_current->declared, g_strdup (group), keys);
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
  if (config_current == NULL)
    return NULL;
  raw = g_key_file_get_value (config_current->keyfile, group, key, NULL);
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
gboolean
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

gboolean
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

gboolean
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

gboolean
config_get_uint (const char *group, const char *key, guint default_value,
                 guint min, guint max, guint *out_value, GError **error)
{
  guint64 value;

  if (!config_get_uint64 (group, key, default_value, min, max, FALSE, &value, error))
    return FALSE;
  *out_value = (guint) value;
  return TRUE;
}

gboolean
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

gboolean
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

char *
config_resolve_path (const char *value)
{
  if (g_path_is_absolute (value) || config_current == NULL)
    return g_canonicalize_filename (value, NULL);
  return g_canonicalize_filename (value, config_current->dir);
}

gboolean
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

gboolean
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

  if (config_current == NULL)
    return TRUE;
  keys = g_key_file_get_keys (config_current->keyfile, group, NULL, NULL);
  declared = g_hash_table_lookup (config_current->declared, group);
  for (gsize i = 0; keys != NULL && keys[i] != NULL; i++)
    if (declared == NULL || !g_hash_table_contains (declared, keys[i]))
      {
        ph_config_set_error (error, group, keys[i], "unknown key");
        return FALSE;
      }
  return TRUE;
}

