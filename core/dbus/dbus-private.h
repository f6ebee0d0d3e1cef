/* Shared between the files of core/dbus/ only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

G_BEGIN_DECLS

#define DBUS_STATUS_NAME "org.posthorn.Posthorn1"
#define DBUS_STATUS_PATH "/org/posthorn/Posthorn1"
#define DBUS_STATUS_INTERFACE "org.posthorn.Posthorn1"
#define DBUS_STATUS_PLUGIN_INTERFACE "org.posthorn.Posthorn1.Plugin"
#define DBUS_STATUS_PLUGIN_PATH_PREFIX "/org/posthorn/Posthorn1/plugins/"

/* status.c: the values behind the properties and methods, built now. */

/* a{st}, sorted by name: net's per-service counters plus core counters. */
GVariant *dbus_status_counters (void);
/* a{su}: every listening service (0 included) → open sessions. */
GVariant *dbus_status_sessions (void);
/* a(ssss): name, kind, version, state. */
GVariant *dbus_status_plugins (void);
/* a(sssb): service, address, port as text ("" for unix), implicit TLS. */
GVariant *dbus_status_listeners (void);
/* a(ssssx): service, user ("" before login), peer, state, start. */
GVariant *dbus_status_list_sessions (void);
/* Asks every session of @user to close; returns how many. */
guint dbus_status_kick_user (const char *user);

void dbus_status_set_start_time (gint64 unix_seconds);

/* Plugin status objects: the plugin names that have properties, in the
 * order they first set one (free with g_strfreev). */
char **dbus_status_plugin_names (void);
/* "/org/posthorn/Posthorn1/plugins/NAME" with '-' as '_' (g_free). */
char *dbus_status_plugin_path (const char *plugin_name);
/* a{sv} of @plugin_name's properties (empty if it has none). */
GVariant *dbus_status_plugin_properties (const char *plugin_name);
/* Called (on the main loop thread) when a plugin sets a property. */
typedef void (*DbusStatusPluginChangedFunc) (const char *plugin_name);
void dbus_status_set_plugin_changed_func (DbusStatusPluginChangedFunc func);

/* Forgets plugin properties, core counters and the start time. */
void dbus_status_clear (void);

G_END_DECLS
