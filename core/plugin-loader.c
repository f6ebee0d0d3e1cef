/* Finds, checks, orders and initialises the plugins named in [core] plugins.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <dlfcn.h>
#include <ltdl.h>
#include <stddef.h>
#include <string.h>

struct _PosthornPlugin {
  char *name;
  char *path;
  lt_dlhandle module;
  const PosthornPluginDescriptor *descriptor;
  gpointer data;
  GDestroyNotify data_destroy;
  PosthornPluginReloadFunc reload;
  const char *state;  /* "loaded", "running", "failed" */
  gboolean initialised;
};

/* The size of the descriptor fields ABI 1.0 defines: a plugin built for
 * 1.x has at least these. */
#define PLUGIN_DESCRIPTOR_SIZE_1_0 \
  (offsetof (PosthornPluginDescriptor, shutdown) + sizeof (PosthornPluginShutdownFunc))

static GPtrArray *plugins;  /* of PosthornPlugin *, in init order */
static gboolean ltdl_ready;
static char *hostname_override;

const char *
posthorn_plugin_get_name (PosthornPlugin *plugin)
{
  g_return_val_if_fail (plugin != NULL, NULL);
  return plugin->name;
}

void
posthorn_plugin_set_data (PosthornPlugin *plugin, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (plugin != NULL);

  if (plugin->data_destroy != NULL && plugin->data != NULL)
    plugin->data_destroy (plugin->data);
  plugin->data = data;
  plugin->data_destroy = destroy;
}

gpointer
posthorn_plugin_get_data (PosthornPlugin *plugin)
{
  g_return_val_if_fail (plugin != NULL, NULL);
  return plugin->data;
}

void
posthorn_plugin_set_reload_func (PosthornPlugin *plugin, PosthornPluginReloadFunc reload)
{
  g_return_if_fail (plugin != NULL);
  plugin->reload = reload;
}

const char *
posthorn_core_get_state_dir (void)
{
  return ph_settings ()->state_dir;
}

void
ph_core_set_hostname (const char *hostname)
{
  g_free (hostname_override);
  hostname_override = g_strdup (hostname);
}

const char *
posthorn_core_get_hostname (void)
{
  return hostname_override != NULL ? hostname_override : g_get_host_name ();
}

const char *
posthorn_core_get_version (void)
{
  return POSTHORN_VERSION;
}

static const char *
plugin_kind_name (PosthornPluginKind kind)
{
  switch (kind)
    {
    case POSTHORN_PLUGIN_KIND_PROTOCOL: return "protocol";
    case POSTHORN_PLUGIN_KIND_STORAGE: return "storage";
    case POSTHORN_PLUGIN_KIND_AUTH: return "auth";
    case POSTHORN_PLUGIN_KIND_FILTER: return "filter";
    default: return NULL;
    }
}

static void
plugin_free (PosthornPlugin *plugin)
{
  if (plugin->data_destroy != NULL && plugin->data != NULL)
    plugin->data_destroy (plugin->data);
  if (plugin->module != NULL)
    lt_dlclose (plugin->module);
  g_free (plugin->name);
  g_free (plugin->path);
  g_free (plugin);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornPlugin, plugin_free)

static gboolean G_GNUC_PRINTF (3, 4)
plugin_fail (GError **error, const char *name, const char *format, ...)
{
  g_autofree char *problem = NULL;
  va_list args;

  va_start (args, format);
  problem = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN, "plugin '%s': %s", name, problem);
  return FALSE;
}

static char *
plugin_symbol_name (const char *name)
{
  char *symbol = g_strconcat ("posthorn_plugin_", name, NULL);

  g_strdelimit (symbol + strlen ("posthorn_plugin_"), "-", '_');
  return symbol;
}

/* Why lt_dlopen() failed. libltdl tries its other loaders after dlopen
 * and so reports "file not found" for a file that exists but is no
 * loadable library; the dynamic linker's own reason is what helps, so ask
 * it, without the path it repeats. */
static char *
plugin_dlopen_reason (const char *path)
{
  const char *lt_reason = lt_dlerror ();
  g_autofree char *prefix = g_strconcat (path, ": ", NULL);
  const char *reason;
  void *module;

  module = dlopen (path, RTLD_LAZY | RTLD_LOCAL);
  if (module != NULL)
    {
      dlclose (module);
      return g_strdup (lt_reason != NULL ? lt_reason : "unknown error");
    }
  reason = dlerror ();
  if (reason == NULL)
    return g_strdup (lt_reason != NULL ? lt_reason : "unknown error");
  if (g_str_has_prefix (reason, prefix))
    reason += strlen (prefix);
  return g_strdup (reason);
}

/* Opens NAME.so from the first plugin_dir that has it and checks its
 * descriptor: ABI first, then size, then the rest. */
static PosthornPlugin *
plugin_open (const char *name, GError **error)
{
  const PhSettings *s = ph_settings ();
  g_autoptr(PosthornPlugin) plugin = g_new0 (PosthornPlugin, 1);
  g_autofree char *file = g_strconcat (name, ".so", NULL);
  g_autofree char *symbol = plugin_symbol_name (name);
  const PosthornPluginDescriptor *descriptor;

  plugin->name = g_strdup (name);
  plugin->state = "loaded";
  for (gsize i = 0; s->plugin_dirs != NULL && s->plugin_dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (s->plugin_dirs[i], file, NULL);

      if (g_file_test (path, G_FILE_TEST_EXISTS))
        {
          plugin->path = g_steal_pointer (&path);
          break;
        }
    }
  if (plugin->path == NULL)
    {
      g_autofree char *dirs = g_strjoinv (", ", s->plugin_dirs);
      plugin_fail (error, name, "not found (looked in %s)", dirs);
      return NULL;
    }

  plugin->module = lt_dlopen (plugin->path);
  if (plugin->module == NULL)
    {
      g_autofree char *why = plugin_dlopen_reason (plugin->path);
      plugin_fail (error, name, "cannot load %s: %s", plugin->path, why);
      return NULL;
    }

  descriptor = lt_dlsym (plugin->module, symbol);
  if (descriptor == NULL)
    {
      plugin_fail (error, name, "%s is not a Posthorn plugin (no symbol %s)", plugin->path, symbol);
      return NULL;
    }

  if (descriptor->abi_major != POSTHORN_ABI_MAJOR || descriptor->abi_minor > POSTHORN_ABI_MINOR)
    {
      plugin_fail (error, name, "built for plugin ABI %u.%u, this posthornd has ABI %u.%u",
                   descriptor->abi_major, descriptor->abi_minor,
                   POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);
      return NULL;
    }
  if (descriptor->struct_size < PLUGIN_DESCRIPTOR_SIZE_1_0)
    {
      plugin_fail (error, name, "descriptor size %u is smaller than ABI %u.%u requires (%zu)",
                   descriptor->struct_size, descriptor->abi_major, descriptor->abi_minor,
                   (gsize) PLUGIN_DESCRIPTOR_SIZE_1_0);
      return NULL;
    }

  if (descriptor->name == NULL || strcmp (descriptor->name, name) != 0)
    {
      plugin_fail (error, name, "descriptor names itself '%s'",
                   descriptor->name != NULL ? descriptor->name : "");
      return NULL;
    }
  if (plugin_kind_name (descriptor->kind) == NULL)
    {
      plugin_fail (error, name, "descriptor has an unknown kind %d", (int) descriptor->kind);
      return NULL;
    }
  if (descriptor->init == NULL)
    {
      plugin_fail (error, name, "descriptor has no init function");
      return NULL;
    }

  plugin->descriptor = descriptor;
  return g_steal_pointer (&plugin);
}

static PosthornPlugin *
plugin_find (GPtrArray *list, const char *name)
{
  for (guint i = 0; i < list->len; i++)
    {
      PosthornPlugin *plugin = g_ptr_array_index (list, i);
      if (strcmp (plugin->name, name) == 0)
        return plugin;
    }
  return NULL;
}

/* Depth-first: a plugin's dependencies (in the order it lists them) come
 * before it, otherwise the [core] plugins order stays. @path holds the
 * plugins being visited, for naming a cycle. */
static gboolean
plugin_order_visit (PosthornPlugin *plugin, GPtrArray *loaded, GPtrArray *ordered,
                    GPtrArray *path, GError **error)
{
  const char *const *deps = plugin->descriptor->dependencies;

  if (g_ptr_array_find (ordered, plugin, NULL))
    return TRUE;
  if (g_ptr_array_find (path, plugin, NULL))
    {
      guint start = 0;
      g_autoptr(GString) cycle = g_string_new (NULL);

      g_ptr_array_find (path, plugin, &start);
      for (guint i = start; i < path->len; i++)
        g_string_append_printf (cycle, "%s -> ", ((PosthornPlugin *) path->pdata[i])->name);
      g_string_append (cycle, plugin->name);
      return plugin_fail (error, plugin->name, "dependency cycle: %s", cycle->str);
    }

  g_ptr_array_add (path, plugin);
  for (gsize i = 0; deps != NULL && deps[i] != NULL; i++)
    {
      PosthornPlugin *dep = plugin_find (loaded, deps[i]);

      if (dep == NULL)
        return plugin_fail (error, plugin->name,
                            "depends on '%s', which is not enabled in [core] plugins", deps[i]);
      if (!plugin_order_visit (dep, loaded, ordered, path, error))
        return FALSE;
    }
  g_ptr_array_remove_index (path, path->len - 1);
  g_ptr_array_add (ordered, plugin);
  return TRUE;
}

gboolean
ph_plugins_load (GError **error)
{
  const PhSettings *s = ph_settings ();
  g_autoptr(GPtrArray) loaded = g_ptr_array_new_with_free_func ((GDestroyNotify) plugin_free);
  g_autoptr(GPtrArray) path = g_ptr_array_new ();
  g_autoptr(GPtrArray) ordered = NULL;

  g_return_val_if_fail (plugins == NULL, FALSE);

  if (!ltdl_ready)
    {
      if (lt_dlinit () != 0)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                       "cannot initialise libltdl: %s", lt_dlerror ());
          return FALSE;
        }
      ltdl_ready = TRUE;
    }

  for (gsize i = 0; s->plugins != NULL && s->plugins[i] != NULL; i++)
    {
      PosthornPlugin *plugin = plugin_open (s->plugins[i], error);

      if (plugin == NULL)
        return FALSE;
      g_ptr_array_add (loaded, plugin);
    }

  ordered = g_ptr_array_new ();
  for (guint i = 0; i < loaded->len; i++)
    if (!plugin_order_visit (loaded->pdata[i], loaded, ordered, path, error))
      return FALSE;

  /* The final order owns the plugins; init happens in it. */
  g_ptr_array_set_free_func (loaded, NULL);
  g_ptr_array_set_free_func (ordered, (GDestroyNotify) plugin_free);
  plugins = g_steal_pointer (&ordered);

  for (guint i = 0; i < plugins->len; i++)
    {
      PosthornPlugin *plugin = plugins->pdata[i];
      g_autoptr(GError) init_error = NULL;

      g_debug ("plugin %s %s from %s", plugin->name, plugin->descriptor->version, plugin->path);
      if (!plugin->descriptor->init (plugin, &init_error))
        {
          plugin->state = "failed";
          if (init_error != NULL && g_error_matches (init_error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG))
            {
              g_propagate_error (error, g_steal_pointer (&init_error));
              return FALSE;
            }
          return plugin_fail (error, plugin->name, "init failed: %s",
                              init_error != NULL ? init_error->message : "(no reason given)");
        }
      plugin->initialised = TRUE;
      plugin->state = "running";
    }
  return TRUE;
}

void
ph_plugins_shutdown (void)
{
  if (plugins == NULL)
    return;
  for (guint i = plugins->len; i > 0; i--)
    {
      PosthornPlugin *plugin = plugins->pdata[i - 1];

      if (plugin->initialised && plugin->descriptor->shutdown != NULL)
        plugin->descriptor->shutdown (plugin);
      plugin->initialised = FALSE;
      plugin->state = "loaded";
    }
  for (guint i = plugins->len; i > 0; i--)
    posthorn_plugin_set_data (plugins->pdata[i - 1], NULL, NULL);
}

void
ph_plugins_unload (void)
{
  ph_plugins_shutdown ();
  g_clear_pointer (&plugins, g_ptr_array_unref);
  if (ltdl_ready)
    {
      lt_dlexit ();
      ltdl_ready = FALSE;
    }
}

gboolean
ph_plugins_reload (GError **error)
{
  g_autoptr(GString) failures = g_string_new (NULL);

  for (guint i = 0; plugins != NULL && i < plugins->len; i++)
    {
      PosthornPlugin *plugin = plugins->pdata[i];
      g_autoptr(GError) reload_error = NULL;

      if (plugin->reload == NULL || plugin->reload (plugin, &reload_error))
        continue;
      if (failures->len > 0)
        g_string_append (failures, "; ");
      g_string_append_printf (failures, "plugin '%s': %s", plugin->name,
                              reload_error != NULL ? reload_error->message : "reload failed");
    }
  if (failures->len > 0)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN, failures->str);
      return FALSE;
    }
  return TRUE;
}

PosthornPlugin *
ph_plugin_lookup (const char *name)
{
  if (plugins == NULL)
    return NULL;
  return plugin_find (plugins, name);
}

GArray *
ph_plugins_list (void)
{
  GArray *list = g_array_new (FALSE, TRUE, sizeof (PhPluginInfo));

  for (guint i = 0; plugins != NULL && i < plugins->len; i++)
    {
      PosthornPlugin *plugin = plugins->pdata[i];
      PhPluginInfo info = {
        .name = plugin->name,
        .kind = plugin_kind_name (plugin->descriptor->kind),
        .version = plugin->descriptor->version != NULL ? plugin->descriptor->version : "",
        .state = plugin->state,
      };
      g_array_append_val (list, info);
    }
  return list;
}
