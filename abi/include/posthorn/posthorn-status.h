/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>
#include <posthorn/posthorn-plugin.h>

G_BEGIN_DECLS

/* What the daemon tells about itself: counters, gauges and what plugins
 * publish. The D-Bus interface org.posthorn.Posthorn1 (Counters, Sessions
 * and the objects /org/posthorn/Posthorn1/plugins/NAME) and the metrics
 * plugin (OpenMetrics over HTTP) are both built on these functions.
 *
 * Names are "AREA.NAME": lower-case ASCII letters, digits and '_' on both
 * sides of one '.', e.g. "smtp.messages_delivered", "imap4.logins". Names
 * that are not are refused with a critical warning.
 *
 * Everything here runs on the main loop thread, except
 * posthorn_core_count(), which any thread may call. */

/* ---- publishing ---- */

/* Adds @delta to the daemon-wide counter @name, for counts that belong to
 * no connection ("smtp.messages_delivered", "smtp.messages_bounced"). A
 * counter only grows; it starts at 0 with the daemon. Per-connection
 * counts go through posthorn_connection_count() and land in the same
 * table ("SERVICE.COUNTER"); the same name from both is added up. */
void posthorn_core_count (const char *name, guint64 delta);

/* Sets the status property @name (letters, digits and '_', e.g.
 * "queue_length") of @plugin to @value (floating references are sunk;
 * NULL removes it). The core publishes a plugin's properties as the
 * Properties map (a{sv}) of the object /org/posthorn/Posthorn1/plugins/NAME
 * (NAME with '-' as '_'), interface org.posthorn.Posthorn1.Plugin, with
 * PropertiesChanged at most once a second. Numeric values (byte, int16,
 * uint16, int32, uint32, int64, uint64, double, boolean as 0/1) are also
 * gauges named "PLUGIN.NAME" (posthorn_status_foreach_gauge()). The object
 * exists from the first property on until the daemon stops. */
void posthorn_status_set_property (PosthornPlugin *plugin,
                                   const char *name,
                                   GVariant *value);

/* ---- reading ---- */

typedef void (*PosthornStatusCounterFunc) (const char *name,
                                           guint64 value,
                                           gpointer user_data);
typedef void (*PosthornStatusGaugeFunc) (const char *name,
                                         double value,
                                         gpointer user_data);

/* Calls @func for every counter in name order: the per-service ones
 * ("imap4.connections" accepted, "imap4.connections_refused",
 * "imap4.logins", "imap4.logins_failed", "imap4.bytes_in",
 * "imap4.bytes_out", ...) and those counted with posthorn_core_count().
 * A counter appears once it has counted something. */
void posthorn_status_foreach_counter (PosthornStatusCounterFunc func,
                                      gpointer user_data);

/* Calls @func for every gauge in name order: "SERVICE.sessions" (open
 * sessions of each service that listens, 0 included) and the numeric
 * plugin properties as "PLUGIN.NAME" ('-' in PLUGIN as '_'). */
void posthorn_status_foreach_gauge (PosthornStatusGaugeFunc func,
                                    gpointer user_data);

/* When the daemon started serving (unix seconds); 0 before that. */
gint64 posthorn_core_get_start_time (void);

G_END_DECLS
