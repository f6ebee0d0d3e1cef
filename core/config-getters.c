/* The posthorn_config_*() getters plugins read their own group
 * with.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config-private.h"

#include <string.h>

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

  return config_current != NULL
         && g_key_file_has_key (config_current->keyfile, posthorn_plugin_get_name (plugin), key, NULL);
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

