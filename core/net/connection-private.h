/* The connection object, shared between the connection*.c files of
 * core/net/ only. Its code is split by job:
 *
 *   connection.c           creation, references, entering and leaving protocol
 *                          callbacks, the end (conn_finish(), the closed
 *                          notification), the handler, identity and logging
 *   connection-registry.c  the open connections, the connection and per-user
 *                          session limits, the status lists, daemon shutdown
 *   connection-reactor.c   the epoll reactor, dispatch scheduling, idle timeouts
 *   connection-input.c     reading, the input filter, delivering lines and bytes
 *   connection-output.c    the output queue, writing, back-pressure, closing
 *   connection-tls.c       handshakes, STARTTLS, channel bindings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "net-private.h"

G_BEGIN_DECLS


#define CONN_READ_SIZE (16 * 1024)
#define CONN_HIGH_WATER (256 * 1024)
#define CONN_LOW_WATER (64 * 1024)
#define CONN_COALESCE_MAX 4096
#define CONN_TLS_RECORD_MAX 16384
#define CONN_CLOSE_TIMEOUT_S 5
#define CONN_LINGER_TIMEOUT_S 2

typedef enum {
  LIFE_OPEN,
  LIFE_CLOSING,    /* flushing queued output, then lingering */
  LIFE_LINGERING,  /* write side shut down, reading until EOF */
  LIFE_CLOSED,     /* socket gone; the closed notification may be pending */
} ConnLife;

typedef enum {
  TLS_NONE,
  TLS_WAIT_FLUSH,  /* STARTTLS: sending the plaintext reply first */
  TLS_HANDSHAKE,
  TLS_ON,
} ConnTls;

struct _PosthornConnection {
  gint ref_count;
  PosthornService *service;
  int fd;
  char id[20];
  char *peer_address;
  char *local_address;
  guint16 peer_port;
  guint16 local_port;
  gboolean loopback;
  gboolean implicit_tls;
  char *user;
  gboolean user_counted;  /* in conn_per_user (registered, user set) */
  char *state;
  gint64 start_time;

  PosthornConnectionHandler handler;
  gboolean has_handler;
  gboolean accepted;
  gpointer user_data;
  GDestroyNotify destroy;
  gpointer old_user_data;        /* a replaced handler's data, freed on leave */
  GDestroyNotify old_destroy;

  /* input */
  guint8 *in_buf;
  gsize in_start;
  gsize in_end;
  gsize in_size;
  gsize max_line;
  PosthornLineFlags line_flags;
  gboolean discarding;
  gboolean bytes_mode;
  guint64 bytes_left;
  guint pause_count;
  gboolean eof;
  PosthornInputFilter in_filter;  /* struct_size 0: none */
  gpointer in_filter_data;

  /* output */
  GQueue out_queue;     /* GBytes */
  GByteArray *out_tail; /* small writes not yet in out_queue */
  gsize out_offset;     /* bytes of the queue head already sent */
  gsize out_pending;
  gsize tls_plain_left; /* TLS_WAIT_FLUSH: plaintext still to send */
  gboolean above_high_water;
  gboolean drained_wanted;

  /* sources */
  guint32 epoll_events;         /* what the reactor watches for (0: not registered) */
  GSequenceIter *idle_iter;     /* position in the idle queue, NULL if not armed */
  gint64 idle_deadline;         /* the key it is queued under (monotonic µs) */
  GSource *dispatch_source;
  GSource *close_timer;
  guint depth;

  /* TLS */
  ConnTls tls_state;
  gnutls_session_t tls;
  NetTlsCredentials *tls_credentials;
  gboolean tls_read_wants_write;
  PosthornTlsDoneFunc tls_done;
  gpointer tls_done_data;

  /* lifetime */
  ConnLife life;
  guint idle_timeout;
  gint64 last_activity;
  gboolean closed_notified;
};

/* connection.c */

/* Hold a reference and defer buffer releases, flushing and the closed
 * notification until the outermost leave. Every protocol callback runs
 * between the two. */
void conn_enter (PosthornConnection *conn);
void conn_leave (PosthornConnection *conn);
/* Destroys and clears *@source, if any. */
void conn_source_clear (GSource **source);
/* Closes the socket now and drops queued output. The closed notification
 * follows from the main loop (net_connections_abort_all() sends it at once). */
void conn_finish (PosthornConnection *conn, const char *reason);
/* Calls the handler's closed (once) and unregisters @conn. */
void conn_notify_closed (PosthornConnection *conn);

/* connection-registry.c */

/* Adds @conn to the open connections (taking over its initial reference)
 * and counts it for its peer address; unregistering undoes both, stops
 * counting it as its user's session and drops that reference. */
void conn_register (PosthornConnection *conn);
void conn_unregister (PosthornConnection *conn);

/* connection-reactor.c */

/* What the reactor watches @conn for (EPOLLIN/EPOLLOUT, 0: nothing). */
void conn_set_events (PosthornConnection *conn, guint32 wanted);
/* Watches for what @conn's state needs now. */
void conn_update_io (PosthornConnection *conn);
/* conn_dispatch() from the main loop, once, soon. */
void conn_schedule_dispatch (PosthornConnection *conn);
/* (Re)starts the idle timeout from last_activity; disarm stops it. */
void conn_idle_arm (PosthornConnection *conn);
void conn_idle_disarm (PosthornConnection *conn);
/* Frees the reactor and the idle queue once nothing is in them. */
void conn_reactor_teardown (void);

/* connection-input.c */

/* Whether input may be delivered to the protocol now. */
gboolean conn_input_flowing (PosthornConnection *conn);
/* The reactor's callbacks: the socket is readable (input) or writable (output). */
gboolean conn_readable_cb (gint fd, GIOCondition condition, gpointer user_data);
/* Runs the drained callback and delivers buffered input, or the closed
 * notification once the connection is closed; deferred while a callback runs. */
void conn_dispatch (PosthornConnection *conn);

/* connection-output.c */

gboolean conn_writable_cb (gint fd, GIOCondition condition, gpointer user_data);
/* Writes as much queued output as the socket takes. */
void conn_flush (PosthornConnection *conn);

/* connection-tls.c */

/* One step of the TLS handshake; when it is done, the service's accept()
 * (implicit TLS) or the STARTTLS done callback runs. */
void conn_handshake_step (PosthornConnection *conn);
/* STARTTLS once the plaintext reply is sent: starts the handshake. */
void conn_starttls_handshake (PosthornConnection *conn);

G_END_DECLS
