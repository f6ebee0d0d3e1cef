/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* Plugins log with GLib's structured logging (define G_LOG_DOMAIN as the
 * plugin name and use g_message()/g_warning()/g_debug()); the core sends it
 * to the journal under systemd and to stderr otherwise, filtered by
 * [core] log_level. Per-session lines go through
 * posthorn_connection_log(), which prefixes service, session id, peer and
 * user. Never log a password or a SASL response. */

G_END_DECLS
