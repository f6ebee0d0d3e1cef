/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>
#include <posthorn/posthorn-plugin.h>
#include <posthorn/posthorn-connection.h>

G_BEGIN_DECLS

/* A service is what a protocol plugin offers on listeners ("imap4",
 * "submission"). The core listens, accepts, enforces connection limits,
 * does implicit TLS, and hands each accepted connection to accept(). */

typedef struct {
  gsize struct_size;  /* sizeof (PosthornServiceVTable) */
  /* A new connection (after the implicit-TLS handshake, if any). Install a
   * handler with posthorn_connection_set_handler() and send the greeting. */
  void (*accept) (PosthornService *service, PosthornConnection *conn, gpointer user_data);
} PosthornServiceVTable;

/* Registers a service during the plugin's init. @name is unique in the
 * daemon. */
PosthornService *posthorn_service_new (PosthornPlugin *plugin,
                                       const char *name,
                                       const PosthornServiceVTable *vtable,
                                       gpointer user_data);

const char *posthorn_service_get_name (PosthornService *service);
PosthornPlugin *posthorn_service_get_plugin (PosthornService *service);

typedef enum {
  POSTHORN_LISTEN_PLAIN = 0,
  POSTHORN_LISTEN_IMPLICIT_TLS = 1 << 0,  /* TLS handshake before accept() */
} PosthornListenFlags;

/* Adds listeners from the plugin's config key @key: a ';' list of
 * "ADDRESS:PORT" ("0.0.0.0:143", "[::1]:143", "*:143" for all addresses) or
 * "unix:/path". When the key is absent @default_value is used (may be NULL:
 * none); an empty value means none. Addresses are checked now (bad address,
 * bad port, duplicate across the daemon: a config error naming the key);
 * binding happens after every plugin's init. Port 0 binds an ephemeral port
 * (tests: see posthornd --ports-file). An implicit-TLS listener without a
 * [tls] certificate is a config error. */
gboolean posthorn_service_listen_config (PosthornService *service,
                                         const char *key,
                                         const char *default_value,
                                         PosthornListenFlags flags,
                                         GError **error);

/* Default line length limit and idle timeout (seconds) for this service's
 * new connections (defaults 8192 and 300). */
void posthorn_service_set_defaults (PosthornService *service,
                                    gsize max_line_length,
                                    guint idle_timeout);

/* The line written to a client refused because [core] max_connections or
 * max_connections_per_ip is reached, before the core closes the socket,
 * e.g. "* BYE Too many connections\r\n" or "421 4.7.0 Too many
 * connections\r\n" (copied; the default is "Too many connections\r\n").
 * Implicit-TLS listeners close refused connections without a word. */
void posthorn_service_set_refusal_line (PosthornService *service,
                                        const char *line);

G_END_DECLS
