/* Helpers for the status tests: a posthornd with the status plugins, a
 * private dbus-daemon with a chosen policy, posthornctl runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-test.h"

#include <posthorn/posthorn.h>

G_BEGIN_DECLS

/* A posthornd with auth-passwd-file (alice@example.org and
 * bob@example.org, password "secret"), storage-sqlite, imap4, metrics and
 * test-status, every listener on 127.0.0.1:0, and [dbus] bus=@bus. */
PhTestServer *dbus_test_server_new (const char *bus);

/* Logs in over IMAP; the client stays open (free it to log out). */
PhTestClient *dbus_test_imap_login (PhTestServer *server, const char *user);

/* Sends @line to a test-status client and expects "+OK". */
void dbus_test_status_command (PhTestClient *client, const char *line);

/* A dbus-daemon of our own, listening on a socket every uid may reach,
 * with @policy (the <policy> elements and <include>s of a busconfig). */
typedef struct _DbusTestDaemon DbusTestDaemon;
DbusTestDaemon *dbus_test_daemon_new (const char *policy);
const char *dbus_test_daemon_get_address (DbusTestDaemon *daemon);
void dbus_test_daemon_free (DbusTestDaemon *daemon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DbusTestDaemon, dbus_test_daemon_free)

/* A connection to the bus at @address (g_object_unref). */
GDBusConnection *dbus_test_connect (const char *address);
/* Waits up to 10 s for org.posthorn.Posthorn1 to have an owner. */
void dbus_test_wait_for_daemon (GDBusConnection *bus);

/* Runs $POSTHORNCTL with @argv (NULL-terminated) and the current
 * environment; with @as_nobody (needs root) as uid/gid 65534. Returns the
 * exit status. */
int dbus_test_run_ctl (const char *const *argv, gboolean as_nobody,
                       char **out_stdout, char **out_stderr);

/* Calls a method of org.posthorn.Posthorn1; NULL and @error on failure. */
GVariant *dbus_test_call (GDBusConnection *bus, const char *method, GVariant *parameters,
                          const GVariantType *reply_type, GError **error);
/* Properties.Get of org.posthorn.Posthorn1 (the unboxed value). */
GVariant *dbus_test_get (GDBusConnection *bus, const char *property);

G_END_DECLS
