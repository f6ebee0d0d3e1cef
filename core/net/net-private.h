/* Shared between the files of core/net/ only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

#include <gnutls/gnutls.h>
#include <sys/socket.h>

G_BEGIN_DECLS

#define NET_DEFAULT_MAX_LINE 8192
#define NET_DEFAULT_IDLE_TIMEOUT 300

struct _PosthornService {
  PosthornPlugin *plugin;
  char *name;
  PosthornServiceVTable vtable;
  gpointer user_data;
  gsize max_line_length;
  guint idle_timeout;
  char *refusal_line;
  gint64 refusal_logged_at;    /* monotonic; refusals are logged once a second */
  guint refusals_unlogged;
};

/* One bound (or to-be-bound) socket. A "*:PORT" entry becomes two: an IPv4
 * one and an optional IPv6 one that follows the IPv4 one's port. */
typedef struct {
  PosthornService *service;
  char *key;                  /* the config key it came from */
  PhListenAddress address;    /* what to bind; PH_LISTEN_ANY never here */
  char *configured;           /* the entry as written, for messages */
  gboolean tls;
  gboolean optional;          /* a failure to bind is only logged */
  int follow_port_of;         /* index of the listener whose port to reuse, or -1 */
  int fd;
  gboolean passed;            /* fd came from systemd (socket activation): never
                               * unlink its unix socket file */
  gboolean covered;           /* not bound: a dual-stack socket systemd passed for
                               * the IPv6 half of "*:PORT" serves IPv4 too */
  GSource *source;
  GSource *retry_source;      /* accepting paused after EMFILE */
  guint16 bound_port;
} NetListener;

/* connection.c */

/* Takes over @fd (accepted, non-blocking). Starts the implicit-TLS
 * handshake or calls the service's accept(). */
void net_connection_accept (NetListener *listener,
                            int fd,
                            const struct sockaddr *peer,
                            socklen_t peer_len);
/* The address of @sa as text ("unix" for AF_UNIX; v4-mapped IPv6 as IPv4). */
char *net_sockaddr_to_string (const struct sockaddr *sa, socklen_t len, guint16 *port);

/* connection-registry.c */

/* Whether one more connection from @peer_address is within the limits;
 * if not, @reason says which. */
gboolean net_connection_limits_allow (const char *peer_address, const char **reason);
void net_connections_begin_shutdown (void);
guint net_connections_count (void);
void net_connections_abort_all (void);
/* Aborts what is left and frees the registry (if nothing holds a connection). */
void net_connections_teardown (void);
GPtrArray *net_connections_list (void);

/* service.c */
void net_service_count (PosthornService *service, const char *counter, guint64 delta);

/* listener.c (also ph_net_start() and ph_net_describe_listeners()) */

/* Stops accepting: closes every listener (removing unix socket files
 * posthornd made). */
void net_listeners_close_all (void);
/* Closes and frees every listener. */
void net_listeners_free (void);

/* socket-activation.c (also ph_net_take_listen_fds()) */

/* Gives each socket systemd passed to the listener of @listeners
 * (NetListener *) configured at the same address; a dual-stack [::]:PORT
 * also stands for 0.0.0.0:PORT. The rest are closed with a warning each. */
void net_passed_assign (GPtrArray *listeners);
/* Closes and forgets the passed sockets not taken yet. */
void net_passed_clear (void);

/* fd-limit.c */

/* Raises the soft RLIMIT_NOFILE to the hard limit. When it stays below
 * what @max_connections connections, @listeners listeners and a reserve
 * need: with [core] max_connections set, one warning naming the file, the
 * key, the limit and both ways out; unset, the connections the limit
 * leaves room for become net_fd_limit_connections() (INFO when the limit
 * is below the default itself, else DEBUG). */
void net_fd_limit_raise (guint max_connections, guint listeners);
/* How many connections the descriptors allow when [core] max_connections
 * is not set (G_MAXUINT: no bound from them). */
guint net_fd_limit_connections (void);

/* tls.c */
typedef struct _NetTlsCredentials NetTlsCredentials;

/* A server session on @fd with the current credentials (a reference on
 * them is returned in @out_credentials). */
gnutls_session_t net_tls_session_new (int fd,
                                      NetTlsCredentials **out_credentials,
                                      GError **error);
void net_tls_credentials_unref (NetTlsCredentials *credentials);

G_END_DECLS
