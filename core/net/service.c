/* Services (what a protocol plugin registers), the per-service counters,
 * and the net layer's shutdown and teardown. Listeners are listener.c's,
 * connections connection*.c's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <string.h>

static GPtrArray *net_services;   /* PosthornService * */
static GHashTable *net_counters;  /* "service.counter" -> guint64 * */

static void
service_free (PosthornService *service)
{
  g_free (service->name);
  g_free (service->refusal_line);
  g_free (service);
}

static void
net_ensure_init (void)
{
  if (net_services != NULL)
    return;
  net_services = g_ptr_array_new_with_free_func ((GDestroyNotify) service_free);
  net_counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static PosthornService *
service_lookup (const char *name)
{
  if (net_services == NULL)
    return NULL;
  for (guint i = 0; i < net_services->len; i++)
    {
      PosthornService *service = g_ptr_array_index (net_services, i);
      if (strcmp (service->name, name) == 0)
        return service;
    }
  return NULL;
}

PosthornService *
posthorn_service_new (PosthornPlugin *plugin,
                      const char *name,
                      const PosthornServiceVTable *vtable,
                      gpointer user_data)
{
  PosthornService *service;

  g_return_val_if_fail (plugin != NULL, NULL);
  g_return_val_if_fail (name != NULL && name[0] != '\0', NULL);
  g_return_val_if_fail (vtable != NULL && vtable->accept != NULL, NULL);
  g_return_val_if_fail (vtable->struct_size >= G_STRUCT_OFFSET (PosthornServiceVTable, accept)
                        + sizeof vtable->accept, NULL);

  net_ensure_init ();
  if (service_lookup (name) != NULL)
    {
      g_critical ("plugin %s: a service named '%s' is already registered",
                  posthorn_plugin_get_name (plugin), name);
      return NULL;
    }

  service = g_new0 (PosthornService, 1);
  service->plugin = plugin;
  service->name = g_strdup (name);
  memcpy (&service->vtable, vtable, MIN (vtable->struct_size, sizeof service->vtable));
  service->vtable.struct_size = sizeof service->vtable;
  service->user_data = user_data;
  service->max_line_length = NET_DEFAULT_MAX_LINE;
  service->idle_timeout = NET_DEFAULT_IDLE_TIMEOUT;
  service->refusal_line = g_strdup ("Too many connections\r\n");
  g_ptr_array_add (net_services, service);
  return service;
}

const char *
posthorn_service_get_name (PosthornService *service)
{
  g_return_val_if_fail (service != NULL, NULL);
  return service->name;
}

PosthornPlugin *
posthorn_service_get_plugin (PosthornService *service)
{
  g_return_val_if_fail (service != NULL, NULL);
  return service->plugin;
}

void
posthorn_service_set_defaults (PosthornService *service,
                               gsize max_line_length,
                               guint idle_timeout)
{
  g_return_if_fail (service != NULL);
  g_return_if_fail (max_line_length > 0);
  service->max_line_length = max_line_length;
  service->idle_timeout = idle_timeout;
}

void
posthorn_service_set_refusal_line (PosthornService *service, const char *line)
{
  g_return_if_fail (service != NULL);
  g_return_if_fail (line != NULL);
  g_free (service->refusal_line);
  service->refusal_line = g_strdup (line);
}

/* ---- shutdown ---- */

void
ph_net_begin_shutdown (void)
{
  net_listeners_close_all ();
  net_connections_begin_shutdown ();
}

guint
ph_net_connection_count (void)
{
  return net_connections_count ();
}

void
ph_net_abort_all (void)
{
  net_connections_abort_all ();
}

void
ph_net_teardown (void)
{
  net_connections_teardown ();
  net_passed_clear ();
  net_listeners_free ();
  g_clear_pointer (&net_services, g_ptr_array_unref);
  g_clear_pointer (&net_counters, g_hash_table_unref);
}

/* ---- counters ---- */

void
net_service_count (PosthornService *service, const char *counter, guint64 delta)
{
  g_autofree char *key = NULL;
  guint64 *value;

  net_ensure_init ();
  key = g_strconcat (service->name, ".", counter, NULL);
  value = g_hash_table_lookup (net_counters, key);
  if (value == NULL)
    {
      value = g_new0 (guint64, 1);
      g_hash_table_insert (net_counters, g_steal_pointer (&key), value);
    }
  *value += delta;
}

GHashTable *
ph_net_counters (void)
{
  net_ensure_init ();
  return net_counters;
}

GPtrArray *
ph_net_sessions (void)
{
  return net_connections_list ();
}
