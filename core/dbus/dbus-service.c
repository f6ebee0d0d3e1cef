/* org.posthorn.Posthorn1 on the bus: the daemon's status object, the
 * plugins' objects, the privileged methods and coalesced
 * PropertiesChanged. D-Bus is status, never a dependency: nothing here
 * can stop the daemon from serving mail.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dbus-private.h"
#include "posthorn-dbus-info.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* Members of this group may call the privileged methods (as the policy
 * file data/org.posthorn.Posthorn1.conf says for the system bus). */
#define DBUS_ADMIN_GROUP "posthorn"
#define DBUS_ERROR_FAILED "org.posthorn.Posthorn1.Error.Failed"

typedef struct {
  char *bus_name;                  /* "system" or "session", for messages */
  GCancellable *cancellable;
  GDBusConnection *connection;
  gulong closed_handler;
  guint owner_id;
  guint main_registration;
  GHashTable *plugin_registrations; /* plugin name -> GUINT_TO_POINTER (id) */
  GHashTable *plugins_changed;      /* plugin names with unsent changes */
  guint tick_source;
  GVariant *sent_sessions;
  GVariant *sent_counters;
  gboolean warned;
} DbusService;

static DbusService *dbus_service;

static void dbus_service_register_plugin (DbusService *service, const char *plugin_name);

static void
dbus_service_warn_once (DbusService *service, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
dbus_service_warn_once (DbusService *service, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (service->warned)
    return;
  service->warned = TRUE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_warning ("D-Bus: %s; posthornd serves mail without its status interface", message);
}

/* ---- privileged methods ---- */

typedef struct {
  GDBusMethodInvocation *invocation;
  guint32 uid;
} DbusCall;

static void
dbus_call_free (DbusCall *call)
{
  g_clear_object (&call->invocation);
  g_free (call);
}

static void
dbus_method_run (GDBusMethodInvocation *invocation)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  GVariant *parameters = g_dbus_method_invocation_get_parameters (invocation);

  if (strcmp (method, "Reload") == 0)
    {
      g_autoptr (GError) error = NULL;

      if (ph_daemon_reload (&error))
        g_dbus_method_invocation_return_value (invocation, NULL);
      else
        g_dbus_method_invocation_return_dbus_error (invocation, DBUS_ERROR_FAILED, error->message);
    }
  else if (strcmp (method, "ListSessions") == 0)
    {
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new_tuple ((GVariant *[]) { dbus_status_list_sessions () }, 1));
    }
  else if (strcmp (method, "KickUser") == 0)
    {
      const char *user = NULL;
      guint kicked;

      g_variant_get (parameters, "(&s)", &user);
      kicked = dbus_status_kick_user (user);
      g_message ("D-Bus KickUser %s: %u session(s) asked to close", user, kicked);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", kicked));
    }
  else
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "no method %s", method);
}

static void
dbus_method_deny (GDBusMethodInvocation *invocation, guint32 uid)
{
  g_message ("D-Bus: refused %s() to uid %u (neither root nor in group %s)",
             g_dbus_method_invocation_get_method_name (invocation), uid, DBUS_ADMIN_GROUP);
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                         "%s() is for root and members of group %s",
                                         g_dbus_method_invocation_get_method_name (invocation),
                                         DBUS_ADMIN_GROUP);
}

/* Runs on a worker: user databases may be remote (NSS), so slow. */
static gpointer
dbus_uid_in_admin_group (gpointer data, GCancellable *cancellable, GError **error)
{
  DbusCall *call = data;
  struct passwd pw, *pw_result = NULL;
  struct group gr, *gr_result = NULL;
  char buffer[16384];
  char group_buffer[16384];
  gid_t groups[256];
  int n_groups = G_N_ELEMENTS (groups);

  if (getgrnam_r (DBUS_ADMIN_GROUP, &gr, group_buffer, sizeof group_buffer, &gr_result) != 0 ||
      gr_result == NULL ||
      getpwuid_r ((uid_t) call->uid, &pw, buffer, sizeof buffer, &pw_result) != 0 ||
      pw_result == NULL)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "no such user or group");
      return NULL;
    }
  if (pw.pw_gid == gr.gr_gid)
    return GUINT_TO_POINTER (1);
  if (getgrouplist (pw.pw_name, pw.pw_gid, groups, &n_groups) < 0)
    n_groups = G_N_ELEMENTS (groups);
  for (int i = 0; i < n_groups; i++)
    if (groups[i] == gr.gr_gid)
      return GUINT_TO_POINTER (1);
  g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "not a member");
  return NULL;
}

static void
dbus_group_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DbusCall *call = user_data;
  g_autoptr (GError) error = NULL;

  if (posthorn_worker_finish (result, &error) != NULL)
    dbus_method_run (call->invocation);
  else
    dbus_method_deny (call->invocation, call->uid);
  dbus_call_free (call);
}

static void
dbus_caller_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DbusCall *call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      g_dbus_method_invocation_return_error (call->invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_ACCESS_DENIED,
                                             "cannot tell the caller's uid: %s", error->message);
      dbus_call_free (call);
      return;
    }
  g_variant_get (reply, "(u)", &call->uid);
  if (call->uid == 0 || call->uid == (guint32) geteuid ())
    {
      dbus_method_run (call->invocation);
      dbus_call_free (call);
      return;
    }
  posthorn_worker_run (dbus_uid_in_admin_group, call, NULL, NULL, NULL,
                       dbus_group_checked, call);
}

/* Every method of org.posthorn.Posthorn1 is privileged: the caller's uid
 * comes from the bus, whatever the bus policy allowed through. */
static void
dbus_main_method_call (GDBusConnection *connection, const char *sender,
                       const char *object_path, const char *interface_name,
                       const char *method_name, GVariant *parameters,
                       GDBusMethodInvocation *invocation, gpointer user_data)
{
  DbusCall *call = g_new0 (DbusCall, 1);

  call->invocation = g_object_ref (invocation);
  if (sender == NULL)
    {
      /* A peer-to-peer connection: no bus to ask; not ours to serve. */
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                             "no sender");
      dbus_call_free (call);
      return;
    }
  g_dbus_connection_call (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, dbus_caller_uid_cb, call);
}

static GVariant *
dbus_main_get_property (GDBusConnection *connection, const char *sender,
                        const char *object_path, const char *interface_name,
                        const char *property_name, GError **error, gpointer user_data)
{
  if (strcmp (property_name, "Version") == 0)
    return g_variant_new_string (posthorn_core_get_version ());
  if (strcmp (property_name, "StartTime") == 0)
    return g_variant_new_uint64 ((guint64) MAX (posthorn_core_get_start_time (), 0));
  if (strcmp (property_name, "Plugins") == 0)
    return dbus_status_plugins ();
  if (strcmp (property_name, "Listeners") == 0)
    return dbus_status_listeners ();
  if (strcmp (property_name, "Sessions") == 0)
    return dbus_status_sessions ();
  if (strcmp (property_name, "Counters") == 0)
    return dbus_status_counters ();
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", property_name);
  return NULL;
}

static const GDBusInterfaceVTable dbus_main_vtable = {
  .method_call = dbus_main_method_call,
  .get_property = dbus_main_get_property,
};

static GVariant *
dbus_plugin_get_property (GDBusConnection *connection, const char *sender,
                          const char *object_path, const char *interface_name,
                          const char *property_name, GError **error, gpointer user_data)
{
  const char *plugin_name = user_data;

  if (strcmp (property_name, "Name") == 0)
    return g_variant_new_string (plugin_name);
  if (strcmp (property_name, "Properties") == 0)
    return dbus_status_plugin_properties (plugin_name);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", property_name);
  return NULL;
}

static const GDBusInterfaceVTable dbus_plugin_vtable = {
  .get_property = dbus_plugin_get_property,
};

/* ---- PropertiesChanged, at most once a second ---- */

static void
dbus_emit_changed (DbusService *service, const char *path, const char *interface_name,
                   GVariantBuilder *changed)
{
  g_autoptr (GError) error = NULL;

  if (!g_dbus_connection_emit_signal (service->connection, NULL, path,
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                      g_variant_new ("(sa{sv}as)", interface_name, changed, NULL),
                                      &error))
    g_debug ("D-Bus: PropertiesChanged on %s: %s", path, error->message);
}

static gboolean
dbus_tick (gpointer user_data)
{
  DbusService *service = user_data;
  g_autoptr (GVariant) sessions = g_variant_ref_sink (dbus_status_sessions ());
  g_autoptr (GVariant) counters = g_variant_ref_sink (dbus_status_counters ());
  GVariantBuilder changed;
  gboolean any = FALSE;
  GHashTableIter iter;
  gpointer key;

  g_variant_builder_init (&changed, G_VARIANT_TYPE ("a{sv}"));
  if (!g_variant_equal (sessions, service->sent_sessions))
    {
      g_variant_builder_add (&changed, "{sv}", "Sessions", sessions);
      g_clear_pointer (&service->sent_sessions, g_variant_unref);
      service->sent_sessions = g_variant_ref (sessions);
      any = TRUE;
    }
  if (!g_variant_equal (counters, service->sent_counters))
    {
      g_variant_builder_add (&changed, "{sv}", "Counters", counters);
      g_clear_pointer (&service->sent_counters, g_variant_unref);
      service->sent_counters = g_variant_ref (counters);
      any = TRUE;
    }
  if (any)
    dbus_emit_changed (service, DBUS_STATUS_PATH, DBUS_STATUS_INTERFACE, &changed);
  else
    g_variant_builder_clear (&changed);

  g_hash_table_iter_init (&iter, service->plugins_changed);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *path = dbus_status_plugin_path (key);
      GVariantBuilder plugin_changed;

      g_variant_builder_init (&plugin_changed, G_VARIANT_TYPE ("a{sv}"));
      g_variant_builder_add (&plugin_changed, "{sv}", "Properties",
                             dbus_status_plugin_properties (key));
      dbus_emit_changed (service, path, DBUS_STATUS_PLUGIN_INTERFACE, &plugin_changed);
      g_hash_table_iter_remove (&iter);
    }
  return G_SOURCE_CONTINUE;
}

static void
dbus_plugin_changed (const char *plugin_name)
{
  DbusService *service = dbus_service;

  if (service == NULL || service->connection == NULL)
    return;
  dbus_service_register_plugin (service, plugin_name);
  g_hash_table_add (service->plugins_changed, g_strdup (plugin_name));
}

/* ---- the connection ---- */

static void
dbus_service_register_plugin (DbusService *service, const char *plugin_name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  guint id;

  if (g_hash_table_contains (service->plugin_registrations, plugin_name))
    return;
  path = dbus_status_plugin_path (plugin_name);
  id = g_dbus_connection_register_object (service->connection, path,
                                          (GDBusInterfaceInfo *) &dbus_gen_posthorn1_plugin_interface,
                                          &dbus_plugin_vtable, g_strdup (plugin_name), g_free,
                                          &error);
  if (id == 0)
    {
      g_warning ("D-Bus: cannot export %s: %s", path, error->message);
      return;
    }
  g_hash_table_insert (service->plugin_registrations, g_strdup (plugin_name), GUINT_TO_POINTER (id));
}

static void
dbus_service_unexport (DbusService *service)
{
  GHashTableIter iter;
  gpointer id;

  g_clear_handle_id (&service->tick_source, g_source_remove);
  g_clear_handle_id (&service->owner_id, g_bus_unown_name);
  if (service->connection == NULL)
    return;
  if (service->main_registration != 0)
    g_dbus_connection_unregister_object (service->connection, service->main_registration);
  service->main_registration = 0;
  g_hash_table_iter_init (&iter, service->plugin_registrations);
  while (g_hash_table_iter_next (&iter, NULL, &id))
    g_dbus_connection_unregister_object (service->connection, GPOINTER_TO_UINT (id));
  g_hash_table_remove_all (service->plugin_registrations);
  g_hash_table_remove_all (service->plugins_changed);
}

static void
dbus_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  DbusService *service = user_data;

  g_message ("D-Bus: %s on the %s bus", name, service->bus_name);
}

static void
dbus_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  DbusService *service = user_data;

  if (strcmp (service->bus_name, "system") == 0)
    dbus_service_warn_once (service, "cannot own the name %s on the system bus (is "
                            "org.posthorn.Posthorn1.conf installed in /usr/share/dbus-1/system.d, "
                            "and does another posthornd own it?)", name);
  else
    dbus_service_warn_once (service, "cannot own the name %s on the %s bus (does another "
                            "posthornd own it?)", name, service->bus_name);
}

static void
dbus_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished,
                        GError *error, gpointer user_data)
{
  DbusService *service = user_data;

  g_warning ("D-Bus: the %s bus closed the connection%s%s; posthornd goes on serving mail "
             "without its status interface", service->bus_name,
             error != NULL ? ": " : "", error != NULL ? error->message : "");
  dbus_service_unexport (service);
}

static void
dbus_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DbusService *service = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) plugin_names = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_finish (result, &error);
  if (connection == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        dbus_service_warn_once (service, "cannot connect to the %s bus: %s",
                                service->bus_name, error->message);
      return;
    }
  service->connection = connection;
  /* A bus restart must not take the mail server down with it. */
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  service->closed_handler = g_signal_connect (connection, "closed",
                                              G_CALLBACK (dbus_connection_closed), service);

  service->main_registration =
    g_dbus_connection_register_object (connection, DBUS_STATUS_PATH,
                                       (GDBusInterfaceInfo *) &dbus_gen_posthorn1_interface,
                                       &dbus_main_vtable, NULL, NULL, &error);
  if (service->main_registration == 0)
    {
      dbus_service_warn_once (service, "cannot export %s: %s", DBUS_STATUS_PATH, error->message);
      return;
    }
  plugin_names = dbus_status_plugin_names ();
  for (guint i = 0; plugin_names[i] != NULL; i++)
    dbus_service_register_plugin (service, plugin_names[i]);

  service->sent_sessions = g_variant_ref_sink (dbus_status_sessions ());
  service->sent_counters = g_variant_ref_sink (dbus_status_counters ());
  service->tick_source = g_timeout_add_seconds (1, dbus_tick, service);

  service->owner_id = g_bus_own_name_on_connection (connection, DBUS_STATUS_NAME,
                                                    G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                    dbus_name_acquired, dbus_name_lost,
                                                    service, NULL);
}

void
ph_dbus_start (void)
{
  const char *bus = ph_settings ()->dbus_bus;
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  DbusService *service;
  GBusType type;

  dbus_status_set_start_time (g_get_real_time () / G_USEC_PER_SEC);
  dbus_status_set_plugin_changed_func (dbus_plugin_changed);
  if (dbus_service != NULL || bus == NULL || strcmp (bus, "none") == 0)
    return;

  service = g_new0 (DbusService, 1);
  service->bus_name = g_strdup (bus);
  service->cancellable = g_cancellable_new ();
  service->plugin_registrations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  service->plugins_changed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  dbus_service = service;

  type = strcmp (bus, "system") == 0 ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;
  address = g_dbus_address_get_for_bus_sync (type, NULL, &error);
  if (address == NULL)
    {
      dbus_service_warn_once (service, "no %s bus: %s", bus, error->message);
      return;
    }
  /* A private connection (not g_bus_get()'s shared one, which exits the
   * process when the bus goes away). */
  g_dbus_connection_new_for_address (address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, service->cancellable, dbus_connected, service);
}

void
ph_dbus_stop (void)
{
  DbusService *service = g_steal_pointer (&dbus_service);

  dbus_status_set_plugin_changed_func (NULL);
  if (service != NULL)
    {
      g_cancellable_cancel (service->cancellable);
      dbus_service_unexport (service);
      if (service->connection != NULL)
        {
          g_signal_handler_disconnect (service->connection, service->closed_handler);
          g_dbus_connection_flush_sync (service->connection, NULL, NULL);
          g_dbus_connection_close_sync (service->connection, NULL, NULL);
        }
      g_clear_object (&service->connection);
      g_clear_object (&service->cancellable);
      g_clear_pointer (&service->plugin_registrations, g_hash_table_unref);
      g_clear_pointer (&service->plugins_changed, g_hash_table_unref);
      g_clear_pointer (&service->sent_sessions, g_variant_unref);
      g_clear_pointer (&service->sent_counters, g_variant_unref);
      g_free (service->bus_name);
      g_free (service);
    }
  dbus_status_clear ();
}
