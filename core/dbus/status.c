/* The status model behind D-Bus and metrics: counters, gauges, session
 * lists and what plugins publish (posthorn-status.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dbus-private.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  char *name;
  GHashTable *properties;  /* name -> GVariant */
} StatusPlugin;

static GMutex core_counters_lock;
static GHashTable *core_counters;     /* name -> guint64 *, under the lock */
static GPtrArray *status_plugins;     /* StatusPlugin *, in order of first use */
static DbusStatusPluginChangedFunc plugin_changed_func;
static gint64 status_start_time;

static void
status_plugin_free (StatusPlugin *plugin)
{
  g_free (plugin->name);
  g_hash_table_unref (plugin->properties);
  g_free (plugin);
}

static gboolean
status_word_is_valid (const char *word, gsize length)
{
  if (length == 0)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_islower (word[i]) && !g_ascii_isdigit (word[i]) && word[i] != '_')
      return FALSE;
  return TRUE;
}

/* "area.name": one dot, a valid word on either side. */
static gboolean
status_counter_name_is_valid (const char *name)
{
  const char *dot = strchr (name, '.');

  if (dot == NULL)
    return FALSE;
  return status_word_is_valid (name, (gsize) (dot - name)) &&
         status_word_is_valid (dot + 1, strlen (dot + 1));
}

void
posthorn_core_count (const char *name, guint64 delta)
{
  guint64 *value;

  g_return_if_fail (name != NULL);
  if (!status_counter_name_is_valid (name))
    {
      g_critical ("posthorn_core_count: '%s' is not a counter name (AREA.NAME, "
                  "lower-case letters, digits and '_')", name);
      return;
    }

  g_mutex_lock (&core_counters_lock);
  if (core_counters == NULL)
    core_counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  value = g_hash_table_lookup (core_counters, name);
  if (value == NULL)
    {
      value = g_new0 (guint64, 1);
      g_hash_table_insert (core_counters, g_strdup (name), value);
    }
  *value += delta;
  g_mutex_unlock (&core_counters_lock);
}

static StatusPlugin *
status_plugin_lookup (const char *name)
{
  for (guint i = 0; status_plugins != NULL && i < status_plugins->len; i++)
    {
      StatusPlugin *plugin = g_ptr_array_index (status_plugins, i);
      if (strcmp (plugin->name, name) == 0)
        return plugin;
    }
  return NULL;
}

void
posthorn_status_set_property (PosthornPlugin *plugin, const char *name, GVariant *value)
{
  g_autoptr (GVariant) sunk = value != NULL ? g_variant_ref_sink (value) : NULL;
  const char *plugin_name;
  StatusPlugin *status;

  g_return_if_fail (plugin != NULL);
  g_return_if_fail (name != NULL);
  if (!status_word_is_valid (name, strlen (name)))
    {
      g_critical ("posthorn_status_set_property: '%s' is not a property name "
                  "(lower-case letters, digits and '_')", name);
      return;
    }

  plugin_name = posthorn_plugin_get_name (plugin);
  status = status_plugin_lookup (plugin_name);
  if (status == NULL)
    {
      if (sunk == NULL)
        return;
      if (status_plugins == NULL)
        status_plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) status_plugin_free);
      status = g_new0 (StatusPlugin, 1);
      status->name = g_strdup (plugin_name);
      status->properties = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify) g_variant_unref);
      g_ptr_array_add (status_plugins, status);
    }

  if (sunk == NULL)
    {
      if (!g_hash_table_remove (status->properties, name))
        return;
    }
  else
    {
      GVariant *old = g_hash_table_lookup (status->properties, name);
      if (old != NULL && g_variant_equal (old, sunk))
        return;
      g_hash_table_insert (status->properties, g_strdup (name), g_variant_ref (sunk));
    }
  if (plugin_changed_func != NULL)
    plugin_changed_func (status->name);
}

/* ---- counters and gauges ---- */

typedef struct {
  char *name;
  guint64 value;
} StatusCounter;

static int
status_counter_compare (gconstpointer a, gconstpointer b)
{
  return strcmp (((const StatusCounter *) a)->name, ((const StatusCounter *) b)->name);
}

static void
status_counter_clear (gpointer data)
{
  g_free (((StatusCounter *) data)->name);
}

static void
status_merge (GHashTable *merged, const char *name, guint64 value)
{
  guint64 *sum = g_hash_table_lookup (merged, name);

  if (sum == NULL)
    {
      sum = g_new0 (guint64, 1);
      g_hash_table_insert (merged, g_strdup (name), sum);
    }
  *sum += value;
}

/* Every counter, sorted by name (array of StatusCounter). */
static GArray *
status_collect_counters (void)
{
  g_autoptr (GHashTable) merged = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GArray *counters = g_array_new (FALSE, FALSE, sizeof (StatusCounter));
  GHashTableIter iter;
  gpointer key, value;

  g_array_set_clear_func (counters, status_counter_clear);
  g_hash_table_iter_init (&iter, ph_net_counters ());
  while (g_hash_table_iter_next (&iter, &key, &value))
    status_merge (merged, key, *(const guint64 *) value);
  g_mutex_lock (&core_counters_lock);
  if (core_counters != NULL)
    {
      g_hash_table_iter_init (&iter, core_counters);
      while (g_hash_table_iter_next (&iter, &key, &value))
        status_merge (merged, key, *(const guint64 *) value);
    }
  g_mutex_unlock (&core_counters_lock);

  g_hash_table_iter_init (&iter, merged);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      StatusCounter counter = { g_strdup (key), *(guint64 *) value };
      g_array_append_val (counters, counter);
    }
  g_array_sort (counters, status_counter_compare);
  return counters;
}

void
posthorn_status_foreach_counter (PosthornStatusCounterFunc func, gpointer user_data)
{
  g_autoptr (GArray) counters = NULL;

  g_return_if_fail (func != NULL);
  counters = status_collect_counters ();
  for (guint i = 0; i < counters->len; i++)
    {
      StatusCounter *counter = &g_array_index (counters, StatusCounter, i);
      func (counter->name, counter->value, user_data);
    }
}

GVariant *
dbus_status_counters (void)
{
  g_autoptr (GArray) counters = status_collect_counters ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{st}"));
  for (guint i = 0; i < counters->len; i++)
    {
      StatusCounter *counter = &g_array_index (counters, StatusCounter, i);
      g_variant_builder_add (&builder, "{st}", counter->name, counter->value);
    }
  return g_variant_builder_end (&builder);
}

/* Services that listen, in listener order, each once (g_strfreev). */
static char **
status_listening_services (void)
{
  g_auto (GStrv) lines = ph_net_describe_listeners ();
  g_autoptr (GPtrArray) services = g_ptr_array_new ();

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *space = strchr (lines[i], ' ');
      gboolean seen = FALSE;

      if (space != NULL)
        *space = '\0';
      for (guint j = 0; j < services->len && !seen; j++)
        seen = strcmp (g_ptr_array_index (services, j), lines[i]) == 0;
      if (!seen)
        g_ptr_array_add (services, g_strdup (lines[i]));
    }
  g_ptr_array_add (services, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&services), FALSE);
}

/* service -> GUINT_TO_POINTER (open sessions), listening services at 0. */
static GHashTable *
status_count_sessions (void)
{
  GHashTable *counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) services = status_listening_services ();
  g_autoptr (GPtrArray) sessions = ph_net_sessions ();

  for (guint i = 0; services[i] != NULL; i++)
    g_hash_table_insert (counts, g_strdup (services[i]), GUINT_TO_POINTER (0));
  for (guint i = 0; i < sessions->len; i++)
    {
      PosthornConnection *conn = g_ptr_array_index (sessions, i);
      const char *service = posthorn_service_get_name (posthorn_connection_get_service (conn));
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, service));

      g_hash_table_insert (counts, g_strdup (service), GUINT_TO_POINTER (count + 1));
    }
  return counts;
}

static int
status_string_compare (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

GVariant *
dbus_status_sessions (void)
{
  g_autoptr (GHashTable) counts = status_count_sessions ();
  g_autofree gpointer *names = g_hash_table_get_keys_as_array (counts, NULL);
  guint n = g_hash_table_size (counts);
  GVariantBuilder builder;

  qsort (names, n, sizeof *names, status_string_compare);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{su}"));
  for (guint i = 0; i < n; i++)
    g_variant_builder_add (&builder, "{su}", (const char *) names[i],
                           GPOINTER_TO_UINT (g_hash_table_lookup (counts, names[i])));
  return g_variant_builder_end (&builder);
}

typedef struct {
  char *name;
  double value;
} StatusGauge;

static int
status_gauge_compare (gconstpointer a, gconstpointer b)
{
  return strcmp (((const StatusGauge *) a)->name, ((const StatusGauge *) b)->name);
}

static void
status_gauge_clear (gpointer data)
{
  g_free (((StatusGauge *) data)->name);
}

static gboolean
status_variant_to_double (GVariant *value, double *out)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTE))
    *out = g_variant_get_byte (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT16))
    *out = g_variant_get_int16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    *out = g_variant_get_uint16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    *out = g_variant_get_int32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    *out = g_variant_get_uint32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    *out = (double) g_variant_get_int64 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    *out = (double) g_variant_get_uint64 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    *out = g_variant_get_double (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    *out = g_variant_get_boolean (value) ? 1 : 0;
  else
    return FALSE;
  return TRUE;
}

void
posthorn_status_foreach_gauge (PosthornStatusGaugeFunc func, gpointer user_data)
{
  g_autoptr (GArray) gauges = g_array_new (FALSE, FALSE, sizeof (StatusGauge));
  g_autoptr (GHashTable) counts = NULL;
  GHashTableIter iter;
  gpointer key, value;

  g_return_if_fail (func != NULL);
  g_array_set_clear_func (gauges, status_gauge_clear);

  counts = status_count_sessions ();
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      StatusGauge gauge = { g_strconcat (key, ".sessions", NULL), GPOINTER_TO_UINT (value) };
      g_array_append_val (gauges, gauge);
    }
  for (guint i = 0; status_plugins != NULL && i < status_plugins->len; i++)
    {
      StatusPlugin *plugin = g_ptr_array_index (status_plugins, i);
      g_autofree char *area = g_strdelimit (g_strdup (plugin->name), "-", '_');

      g_hash_table_iter_init (&iter, plugin->properties);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          StatusGauge gauge = { NULL, 0 };
          if (!status_variant_to_double (value, &gauge.value))
            continue;
          gauge.name = g_strconcat (area, ".", key, NULL);
          g_array_append_val (gauges, gauge);
        }
    }

  g_array_sort (gauges, status_gauge_compare);
  for (guint i = 0; i < gauges->len; i++)
    {
      StatusGauge *gauge = &g_array_index (gauges, StatusGauge, i);
      func (gauge->name, gauge->value, user_data);
    }
}

gint64
posthorn_core_get_start_time (void)
{
  return status_start_time;
}

void
dbus_status_set_start_time (gint64 unix_seconds)
{
  status_start_time = unix_seconds;
}

/* ---- plugins, listeners, sessions ---- */

GVariant *
dbus_status_plugins (void)
{
  g_autoptr (GArray) plugins = ph_plugins_list ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssss)"));
  for (guint i = 0; plugins != NULL && i < plugins->len; i++)
    {
      PhPluginInfo *info = &g_array_index (plugins, PhPluginInfo, i);
      g_variant_builder_add (&builder, "(ssss)", info->name, info->kind,
                             info->version != NULL ? info->version : "",
                             info->state);
    }
  return g_variant_builder_end (&builder);
}

GVariant *
dbus_status_listeners (void)
{
  g_auto (GStrv) lines = ph_net_describe_listeners ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sssb)"));
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 3);
      PhListenAddress address = { 0 };
      g_autofree char *problem = NULL;
      g_autofree char *port = NULL;

      if (g_strv_length (fields) != 3 ||
          !ph_listen_address_parse (fields[1], &address, &problem))
        continue;
      if (address.family == PH_LISTEN_UNIX)
        {
          g_autofree char *shown = g_strconcat ("unix:", address.address, NULL);
          g_variant_builder_add (&builder, "(sssb)", fields[0], shown, "",
                                 strcmp (fields[2], "tls") == 0);
        }
      else
        {
          port = g_strdup_printf ("%u", address.port);
          g_variant_builder_add (&builder, "(sssb)", fields[0], address.address, port,
                                 strcmp (fields[2], "tls") == 0);
        }
      ph_listen_address_clear (&address);
    }
  return g_variant_builder_end (&builder);
}

GVariant *
dbus_status_list_sessions (void)
{
  g_autoptr (GPtrArray) sessions = ph_net_sessions ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssx)"));
  for (guint i = 0; i < sessions->len; i++)
    {
      PosthornConnection *conn = g_ptr_array_index (sessions, i);
      const char *user = posthorn_connection_get_user (conn);
      const char *state = ph_net_connection_get_state (conn);

      g_variant_builder_add (&builder, "(ssssx)",
                             posthorn_service_get_name (posthorn_connection_get_service (conn)),
                             user != NULL ? user : "",
                             posthorn_connection_get_peer_address (conn),
                             state != NULL ? state : "",
                             ph_net_connection_get_start_time (conn));
    }
  return g_variant_builder_end (&builder);
}

guint
dbus_status_kick_user (const char *user)
{
  g_autoptr (GPtrArray) sessions = ph_net_sessions ();
  guint kicked = 0;

  for (guint i = 0; i < sessions->len; i++)
    {
      PosthornConnection *conn = g_ptr_array_index (sessions, i);
      const char *session_user = posthorn_connection_get_user (conn);

      if (session_user == NULL || strcmp (session_user, user) != 0 ||
          posthorn_connection_is_closed (conn))
        continue;
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "closed by the administrator (KickUser)");
      ph_net_connection_shutdown (conn);
      kicked++;
    }
  return kicked;
}

/* ---- plugin objects ---- */

char **
dbus_status_plugin_names (void)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; status_plugins != NULL && i < status_plugins->len; i++)
    g_strv_builder_add (builder, ((StatusPlugin *) g_ptr_array_index (status_plugins, i))->name);
  return g_strv_builder_end (builder);
}

char *
dbus_status_plugin_path (const char *plugin_name)
{
  char *path = g_strconcat (DBUS_STATUS_PLUGIN_PATH_PREFIX, plugin_name, NULL);

  /* Plugin names are letters, digits, '-' and '_'; paths take no '-'. */
  g_strcanon (path + strlen (DBUS_STATUS_PLUGIN_PATH_PREFIX),
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", '_');
  return path;
}

GVariant *
dbus_status_plugin_properties (const char *plugin_name)
{
  StatusPlugin *plugin = status_plugin_lookup (plugin_name);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  if (plugin != NULL)
    {
      g_autofree gpointer *names = g_hash_table_get_keys_as_array (plugin->properties, NULL);
      guint n = g_hash_table_size (plugin->properties);

      qsort (names, n, sizeof *names, status_string_compare);
      for (guint i = 0; i < n; i++)
        g_variant_builder_add (&builder, "{sv}", (const char *) names[i],
                               g_hash_table_lookup (plugin->properties, names[i]));
    }
  return g_variant_builder_end (&builder);
}

void
dbus_status_set_plugin_changed_func (DbusStatusPluginChangedFunc func)
{
  plugin_changed_func = func;
}

void
dbus_status_clear (void)
{
  g_clear_pointer (&status_plugins, g_ptr_array_unref);
  g_mutex_lock (&core_counters_lock);
  g_clear_pointer (&core_counters, g_hash_table_unref);
  g_mutex_unlock (&core_counters_lock);
  status_start_time = 0;
}
