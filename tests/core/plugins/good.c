/* A well-formed filter plugin that reads one key of every type. */
#include <posthorn/posthorn.h>

#include "good.h"

static void
good_config_free (GoodConfig *cfg)
{
  g_free (cfg->greeting);
  g_free (cfg->file);
  g_strfreev (cfg->tags);
  g_free (cfg);
}

static gboolean
good_reload (PosthornPlugin *plugin, GError **error)
{
  GoodConfig *cfg = posthorn_plugin_get_data (plugin);
  g_autofree char *greeting = NULL;

  cfg->reloads++;
  if (!posthorn_config_get_string (plugin, "greeting", "hello", &greeting, error))
    return FALSE;
  g_free (cfg->greeting);
  cfg->greeting = g_steal_pointer (&greeting);
  if (g_strcmp0 (cfg->greeting, "fail-reload") == 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "greeting says so");
      return FALSE;
    }
  return TRUE;
}

static gboolean
good_init (PosthornPlugin *plugin, GError **error)
{
  static const char *const default_tags[] = { "a", "b", NULL };
  GoodConfig *cfg = g_new0 (GoodConfig, 1);

  posthorn_plugin_set_data (plugin, cfg, (GDestroyNotify) good_config_free);
  if (!posthorn_config_get_string (plugin, "greeting", "hello", &cfg->greeting, error)
      || !posthorn_config_get_uint64 (plugin, "count", 7, 0, 1024 * 1024 * 1024, TRUE,
                                      &cfg->count, error)
      || !posthorn_config_get_boolean (plugin, "enabled", TRUE, &cfg->enabled, error)
      || !posthorn_config_get_duration (plugin, "interval", 90, &cfg->interval, error)
      || !posthorn_config_get_path (plugin, "file", NULL, POSTHORN_PATH_PARENT_EXISTS,
                                    &cfg->file, error)
      || !posthorn_config_get_string_list (plugin, "tags", default_tags, &cfg->tags, error))
    return FALSE;
  if (cfg->greeting[0] == '\0')
    {
      posthorn_config_set_error (plugin, "greeting", error, "must not be empty");
      return FALSE;
    }
  posthorn_config_declare_key (plugin, "legacy");
  posthorn_plugin_set_reload_func (plugin, good_reload);
  g_debug ("greeting %s", cfg->greeting);
  return TRUE;
}

POSTHORN_PLUGIN_DEFINE (good, "good", POSTHORN_PLUGIN_KIND_FILTER, "1.2.3",
                        "LGPL-2.1-or-later", "test plugin that works",
                        NULL, good_init, NULL)
