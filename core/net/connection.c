/* Client connections: non-blocking sockets on the GLib main loop.
 *
 * Readiness comes from one epoll instance shared by every connection and
 * watched by a single GSource (see "the reactor" below): a connection is
 * registered for read while input is wanted and for write while output
 * waits for the socket, never otherwise. Idle timeouts are one queue
 * ordered by deadline under one ready-time GSource; reads only record the
 * time and the queue is corrected lazily. So the main loop's cost per
 * iteration does not grow with the number of open sessions: with 10,000
 * idle sessions a request is answered as fast as with none (0.04 ms on
 * loopback). Per connection there is at most a dispatch idle (to deliver
 * buffered input or callbacks from the main loop) and a close timer.
 *
 * Memory per idle connection (e.g. an IMAP IDLE session), plaintext: this
 * struct (about 450 bytes), the address, id and user strings and a queue
 * node; no input buffer (it is freed whenever it is empty) and no output
 * buffer: measured 0.7 KiB of daemon RSS per session (10,000 sessions:
 * +7 MB; tests/net /net/memory/idle-sessions) plus the kernel's socket
 * buffers. A TLS session adds the GnuTLS session state: measured about
 * 11 KiB per session in total (/net/memory/idle-sessions-tls).
 *
 * Input is read into a per-connection buffer in pieces of 16 KiB. In line
 * mode it never holds more than one maximum line plus one read; output is
 * a queue of GBytes (small writes are coalesced), and above 256 KiB queued
 * the connection stops reading input until it is below 64 KiB again.
 *
 * Re-entrancy: every callback into a protocol runs between conn_enter()
 * and conn_leave(), which hold a reference and defer buffer releases,
 * flushing and the closed notification until the outermost callback has
 * returned. The closed callback always runs from the main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gprintf.h>

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

static GHashTable *conn_all;      /* PosthornConnection * -> itself, holds a ref */
static GHashTable *conn_per_ip;   /* peer address -> GUINT_TO_POINTER (count) */
static GHashTable *conn_per_user; /* user, and "user\npeer address" -> GUINT_TO_POINTER (count) */
static guint64 conn_serial;

static void conn_update_io (PosthornConnection *conn);
static void conn_flush (PosthornConnection *conn);
static void conn_finish (PosthornConnection *conn, const char *reason);
static void conn_schedule_dispatch (PosthornConnection *conn);
static void conn_dispatch (PosthornConnection *conn);
static void conn_handshake_step (PosthornConnection *conn);
static void conn_begin_linger (PosthornConnection *conn);

/* ---- registry and limits ---- */

gboolean
net_connection_limits_allow (const char *peer_address, const char **reason)
{
  const PhSettings *settings = ph_settings ();
  guint total = conn_all != NULL ? g_hash_table_size (conn_all) : 0;
  guint from_ip;

  if (settings->max_connections > 0 && total >= settings->max_connections)
    {
      *reason = "[core] max_connections reached";
      return FALSE;
    }
  if (settings->max_connections_per_ip > 0 && conn_per_ip != NULL &&
      strcmp (peer_address, "unix") != 0)
    {
      from_ip = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, peer_address));
      if (from_ip >= settings->max_connections_per_ip)
        {
          *reason = "[core] max_connections_per_ip reached";
          return FALSE;
        }
    }
  return TRUE;
}

static void
count_adjust (GHashTable *table, const char *key, int delta)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (table, key));

  if (delta < 0 && count <= 1)
    g_hash_table_remove (table, key);
  else
    g_hash_table_insert (table, g_strdup (key), GUINT_TO_POINTER (count + (guint) delta));
}

/* Counts @conn as a session of its user, or stops counting it. */
static void
conn_user_count (PosthornConnection *conn, gboolean counted)
{
  g_autofree char *user_ip = NULL;

  if (conn->user_counted == counted)
    return;
  if (conn_per_user == NULL)
    conn_per_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  user_ip = g_strconcat (conn->user, "\n", conn->peer_address, NULL);
  count_adjust (conn_per_user, conn->user, counted ? 1 : -1);
  count_adjust (conn_per_user, user_ip, counted ? 1 : -1);
  conn->user_counted = counted;
}

gboolean
ph_net_user_sessions_allow (PosthornConnection *conn, const char *user, const char **reason)
{
  const PhSettings *settings = ph_settings ();
  gboolean self = conn->user_counted && strcmp (conn->user, user) == 0;
  g_autofree char *user_ip = NULL;
  guint count;

  if (conn_per_user == NULL)
    return TRUE;
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_user, user)) - (self ? 1 : 0);
  if (settings->max_sessions_per_user > 0 && count >= settings->max_sessions_per_user)
    {
      *reason = "[core] max_sessions_per_user reached";
      return FALSE;
    }
  if (settings->max_sessions_per_user_ip == 0 || strcmp (conn->peer_address, "unix") == 0)
    return TRUE;
  user_ip = g_strconcat (user, "\n", conn->peer_address, NULL);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_user, user_ip)) - (self ? 1 : 0);
  if (count >= settings->max_sessions_per_user_ip)
    {
      *reason = "[core] max_sessions_per_user_ip reached";
      return FALSE;
    }
  return TRUE;
}

static void
conn_register (PosthornConnection *conn)
{
  guint count;

  if (conn_all == NULL)
    {
      conn_all = g_hash_table_new (g_direct_hash, g_direct_equal);
      conn_per_ip = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    }
  g_hash_table_add (conn_all, conn);  /* owns the initial reference */
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, conn->peer_address));
  g_hash_table_insert (conn_per_ip, g_strdup (conn->peer_address), GUINT_TO_POINTER (count + 1));
}

static void
conn_unregister (PosthornConnection *conn)
{
  guint count;

  if (!g_hash_table_remove (conn_all, conn))
    return;
  conn_user_count (conn, FALSE);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, conn->peer_address));
  if (count <= 1)
    g_hash_table_remove (conn_per_ip, conn->peer_address);
  else
    g_hash_table_insert (conn_per_ip, g_strdup (conn->peer_address), GUINT_TO_POINTER (count - 1));
  posthorn_connection_unref (conn);
}

guint
net_connections_count (void)
{
  return conn_all != NULL ? g_hash_table_size (conn_all) : 0;
}

static GPtrArray *
conn_snapshot (gboolean accepted_only)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_connection_unref);
  GHashTableIter iter;
  gpointer key;

  if (conn_all == NULL)
    return list;
  g_hash_table_iter_init (&iter, conn_all);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      PosthornConnection *conn = key;
      if (accepted_only && (!conn->accepted || conn->life == LIFE_CLOSED))
        continue;
      g_ptr_array_add (list, posthorn_connection_ref (conn));
    }
  return list;
}

GPtrArray *
net_connections_list (void)
{
  return conn_snapshot (TRUE);
}

char *
net_sockaddr_to_string (const struct sockaddr *sa, socklen_t len, guint16 *port)
{
  char buf[INET6_ADDRSTRLEN];

  if (port != NULL)
    *port = 0;
  if (sa->sa_family == AF_INET && len >= sizeof (struct sockaddr_in))
    {
      const struct sockaddr_in *in4 = (const struct sockaddr_in *) sa;
      if (port != NULL)
        *port = g_ntohs (in4->sin_port);
      return g_strdup (inet_ntop (AF_INET, &in4->sin_addr, buf, sizeof buf));
    }
  if (sa->sa_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
      if (port != NULL)
        *port = g_ntohs (in6->sin6_port);
      if (IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr))
        return g_strdup (inet_ntop (AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf));
      return g_strdup (inet_ntop (AF_INET6, &in6->sin6_addr, buf, sizeof buf));
    }
  return g_strdup ("unix");
}

static gboolean
address_is_loopback (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_UNIX)
    return TRUE;
  if (sa->sa_family == AF_INET)
    return (g_ntohl (((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6)
    {
      const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
      if (IN6_IS_ADDR_LOOPBACK (a))
        return TRUE;
      return IN6_IS_ADDR_V4MAPPED (a) && a->s6_addr[12] == 127;
    }
  return FALSE;
}

/* ---- entering and leaving protocol callbacks ---- */

static void
conn_enter (PosthornConnection *conn)
{
  posthorn_connection_ref (conn);
  conn->depth++;
}

static void
conn_release_old_handler (PosthornConnection *conn)
{
  GDestroyNotify destroy = conn->old_destroy;
  gpointer data = conn->old_user_data;

  conn->old_destroy = NULL;
  conn->old_user_data = NULL;
  if (destroy != NULL)
    destroy (data);
}

static void
conn_leave (PosthornConnection *conn)
{
  g_assert (conn->depth > 0);
  if (--conn->depth == 0)
    {
      conn_release_old_handler (conn);
      if (conn->in_start == conn->in_end)
        {
          conn->in_start = conn->in_end = 0;
          if (conn->in_buf != NULL)
            {
              g_clear_pointer (&conn->in_buf, g_free);
              conn->in_size = 0;
            }
        }
      if (conn->life != LIFE_CLOSED)
        {
          conn_flush (conn);
          conn_update_io (conn);
        }
      else if (!conn->closed_notified)
        conn_schedule_dispatch (conn);
    }
  posthorn_connection_unref (conn);
}

/* ---- sources ---- */

static void
conn_source_clear (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static gboolean
conn_input_flowing (PosthornConnection *conn)
{
  return conn->life == LIFE_OPEN && conn->has_handler && conn->pause_count == 0 &&
         !conn->above_high_water && (conn->tls_state == TLS_NONE || conn->tls_state == TLS_ON);
}

static gboolean conn_readable_cb (gint fd, GIOCondition condition, gpointer user_data);
static gboolean conn_writable_cb (gint fd, GIOCondition condition, gpointer user_data);

/* ---- the reactor ----
 *
 * One epoll instance for every connection, watched by a single GSource:
 * the main loop polls one descriptor however many sessions are open, and
 * only ready connections cost anything per iteration. (A GSource per
 * connection makes every iteration O(sessions): 15 ms per request with
 * 10,000 idle IMAP sessions.) Level-triggered, so it behaves like poll(). */

#define NET_EPOLL_BATCH 256

static int net_epoll_fd = -1;
static GSource *net_epoll_source;

static gboolean
net_epoll_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  struct epoll_event events[NET_EPOLL_BATCH];
  PosthornConnection *ready[NET_EPOLL_BATCH];
  int n;

  do
    n = epoll_wait (net_epoll_fd, events, NET_EPOLL_BATCH, 0);
  while (n < 0 && errno == EINTR);

  /* A callback may close any connection: hold each until the batch is done. */
  for (int i = 0; i < n; i++)
    ready[i] = posthorn_connection_ref (events[i].data.ptr);
  for (int i = 0; i < n; i++)
    {
      PosthornConnection *conn = ready[i];
      guint32 got = events[i].events;

      if (conn->life != LIFE_CLOSED && (conn->epoll_events & EPOLLIN) &&
          (got & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_readable_cb (conn->fd, G_IO_IN, conn);
      if (conn->life != LIFE_CLOSED && (conn->epoll_events & EPOLLOUT) &&
          (got & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
        conn_writable_cb (conn->fd, G_IO_OUT, conn);
    }
  for (int i = 0; i < n; i++)
    posthorn_connection_unref (ready[i]);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs net_epoll_funcs = { NULL, NULL, net_epoll_dispatch, NULL, NULL, NULL };

static void
net_epoll_ensure (void)
{
  if (net_epoll_fd >= 0)
    return;
  net_epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (net_epoll_fd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  net_epoll_source = g_source_new (&net_epoll_funcs, sizeof (GSource));
  g_source_add_unix_fd (net_epoll_source, net_epoll_fd, G_IO_IN);
  g_source_set_static_name (net_epoll_source, "posthorn connections");
  g_source_attach (net_epoll_source, NULL);
}

static void
conn_set_events (PosthornConnection *conn, guint32 wanted)
{
  struct epoll_event event = { .events = wanted, .data.ptr = conn };
  int op;

  if (wanted == conn->epoll_events)
    return;
  net_epoll_ensure ();
  if (wanted == 0)
    op = EPOLL_CTL_DEL;
  else if (conn->epoll_events == 0)
    op = EPOLL_CTL_ADD;
  else
    op = EPOLL_CTL_MOD;
  if (epoll_ctl (net_epoll_fd, op, conn->fd, &event) != 0)
    g_critical ("epoll_ctl (%d, fd %d): %s", op, conn->fd, g_strerror (errno));
  conn->epoll_events = wanted;
}

static void
conn_update_io (PosthornConnection *conn)
{
  gboolean want_read = FALSE;
  gboolean want_write = FALSE;

  switch (conn->life)
    {
    case LIFE_CLOSED:
      break;
    case LIFE_LINGERING:
      want_read = TRUE;
      break;
    case LIFE_OPEN:
    case LIFE_CLOSING:
    default:
      if (conn->tls_state == TLS_HANDSHAKE)
        {
          if (gnutls_record_get_direction (conn->tls) == 1)
            want_write = TRUE;
          else
            want_read = TRUE;
          break;
        }
      want_write = conn->out_pending > 0 || conn->out_tail != NULL || conn->tls_read_wants_write;
      want_read = !conn->eof && conn_input_flowing (conn) && !conn->tls_read_wants_write;
      break;
    }
  conn_set_events (conn, (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0));
}

static gboolean
conn_dispatch_cb (gpointer user_data)
{
  PosthornConnection *conn = user_data;

  g_clear_pointer (&conn->dispatch_source, g_source_unref);
  conn_dispatch (conn);
  return G_SOURCE_REMOVE;
}

static void
conn_schedule_dispatch (PosthornConnection *conn)
{
  if (conn->dispatch_source != NULL)
    return;
  conn->dispatch_source = g_idle_source_new ();
  g_source_set_priority (conn->dispatch_source, G_PRIORITY_DEFAULT);
  g_source_set_callback (conn->dispatch_source, conn_dispatch_cb,
                         posthorn_connection_ref (conn),
                         (GDestroyNotify) posthorn_connection_unref);
  g_source_set_static_name (conn->dispatch_source, "posthorn connection dispatch");
  g_source_attach (conn->dispatch_source, NULL);
}

/* ---- idle timeout ----
 *
 * One queue of armed connections ordered by deadline and one ready-time
 * GSource for its head. Input only records the time (last_activity); when
 * a queued deadline passes, the connection is either re-queued at its real
 * deadline or timed out. So a busy connection is touched once per period. */

static GSequence *idle_queue;
static GSource *idle_source;

/* A TLS handshake gets at most this long, whatever the idle timeout. */
#define CONN_HANDSHAKE_TIMEOUT_S 30

/* The idle period in force (µs), 0 for none. */
static gint64
conn_idle_period (const PosthornConnection *conn)
{
  guint seconds = conn->idle_timeout;

  if (conn->tls_state == TLS_HANDSHAKE &&
      (seconds == 0 || seconds > CONN_HANDSHAKE_TIMEOUT_S))
    seconds = CONN_HANDSHAKE_TIMEOUT_S;
  return (gint64) seconds * G_USEC_PER_SEC;
}

static gint
idle_compare (gconstpointer a, gconstpointer b, gpointer unused)
{
  const PosthornConnection *x = a;
  const PosthornConnection *y = b;

  if (x->idle_deadline != y->idle_deadline)
    return x->idle_deadline < y->idle_deadline ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

static void
idle_source_update (void)
{
  GSequenceIter *first = g_sequence_get_begin_iter (idle_queue);

  if (g_sequence_iter_is_end (first))
    g_source_set_ready_time (idle_source, -1);
  else
    g_source_set_ready_time (idle_source,
                             ((PosthornConnection *) g_sequence_get (first))->idle_deadline);
}

static void
conn_idle_disarm (PosthornConnection *conn)
{
  if (conn->idle_iter == NULL)
    return;
  g_sequence_remove (conn->idle_iter);
  conn->idle_iter = NULL;
  idle_source_update ();
}

static void
conn_idle_queue (PosthornConnection *conn, gint64 deadline)
{
  conn->idle_deadline = deadline;
  conn->idle_iter = g_sequence_insert_sorted (idle_queue, conn, idle_compare, NULL);
}

static void
conn_idle_fire (PosthornConnection *conn, gint64 now)
{
  conn->last_activity = now;
  conn_idle_queue (conn, now + conn_idle_period (conn));

  if (conn->life != LIFE_OPEN || conn->tls_state == TLS_HANDSHAKE || !conn->accepted)
    {
      conn_finish (conn, "timed out");
      return;
    }
  conn_enter (conn);
  if (conn->handler.idle_timeout != NULL)
    conn->handler.idle_timeout (conn, conn->user_data);
  else
    {
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "idle for %u s, closing", conn->idle_timeout);
      posthorn_connection_close (conn);
    }
  conn_leave (conn);
}

static gboolean
idle_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();

  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (idle_queue);
      PosthornConnection *conn;
      gint64 deadline;

      if (g_sequence_iter_is_end (first))
        break;
      conn = g_sequence_get (first);
      if (conn->idle_deadline > now)
        break;
      g_sequence_remove (first);
      conn->idle_iter = NULL;
      if (conn_idle_period (conn) == 0)
        continue;
      deadline = conn->last_activity + conn_idle_period (conn);
      if (deadline > now)
        {
          conn_idle_queue (conn, deadline);
          continue;
        }
      posthorn_connection_ref (conn);
      conn_idle_fire (conn, now);
      posthorn_connection_unref (conn);
    }
  idle_source_update ();
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs idle_source_funcs = { NULL, NULL, idle_source_dispatch, NULL, NULL, NULL };

static void
conn_idle_arm (PosthornConnection *conn)
{
  conn_idle_disarm (conn);
  if (conn_idle_period (conn) == 0 || conn->life == LIFE_CLOSED)
    return;
  if (idle_queue == NULL)
    {
      idle_queue = g_sequence_new (NULL);
      idle_source = g_source_new (&idle_source_funcs, sizeof (GSource));
      g_source_set_static_name (idle_source, "posthorn idle timeouts");
      g_source_attach (idle_source, NULL);
    }
  conn_idle_queue (conn, conn->last_activity + conn_idle_period (conn));
  idle_source_update ();
}

/* ---- creation and destruction ---- */

void
net_connection_accept (NetListener *listener, int fd,
                       const struct sockaddr *peer, socklen_t peer_len)
{
  PosthornConnection *conn = g_new0 (PosthornConnection, 1);
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  int one = 1;

  conn->ref_count = 1;
  conn->service = listener->service;
  conn->fd = fd;
  g_snprintf (conn->id, sizeof conn->id, "%" G_GINT64_MODIFIER "x%05" G_GINT64_MODIFIER "x",
              (g_get_real_time () / G_USEC_PER_SEC) & 0xfffff, ++conn_serial & 0xfffff);
  conn->peer_address = net_sockaddr_to_string (peer, peer_len, &conn->peer_port);
  if (getsockname (fd, (struct sockaddr *) &local, &local_len) == 0)
    conn->local_address = net_sockaddr_to_string ((struct sockaddr *) &local, local_len,
                                                  &conn->local_port);
  else
    conn->local_address = g_strdup ("unknown");
  conn->loopback = address_is_loopback (peer);
  conn->implicit_tls = listener->tls;
  conn->state = g_strdup ("new");
  conn->start_time = g_get_real_time () / G_USEC_PER_SEC;
  conn->max_line = listener->service->max_line_length;
  conn->idle_timeout = listener->service->idle_timeout;
  conn->last_activity = g_get_monotonic_time ();
  g_queue_init (&conn->out_queue);
  if (peer->sa_family != AF_UNIX)
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  conn_register (conn);
  net_service_count (conn->service, "connections", 1);
  conn_idle_arm (conn);

  if (conn->implicit_tls)
    {
      g_autoptr (GError) error = NULL;
      conn->tls = net_tls_session_new (fd, &conn->tls_credentials, &error);
      if (conn->tls == NULL)
        {
          g_warning ("%s: %s", conn->service->name, error->message);
          conn_finish (conn, "TLS setup failed");
          return;
        }
      conn->tls_state = TLS_HANDSHAKE;
      conn_idle_arm (conn);
      conn_handshake_step (conn);
      return;
    }

  conn_enter (conn);
  conn->accepted = TRUE;
  conn->service->vtable.accept (conn->service, conn, conn->service->user_data);
  if (!conn->has_handler && conn->life != LIFE_CLOSED)
    {
      g_warning ("%s: the service installed no connection handler", conn->service->name);
      conn_finish (conn, "no handler");
    }
  conn_leave (conn);
}

static void
conn_free (PosthornConnection *conn)
{
  g_assert (conn->life == LIFE_CLOSED || conn->fd < 0);
  conn_release_old_handler (conn);
  if (conn->in_filter.free != NULL)
    conn->in_filter.free (conn->in_filter_data);
  g_free (conn->in_buf);
  g_queue_clear_full (&conn->out_queue, (GDestroyNotify) g_bytes_unref);
  if (conn->out_tail != NULL)
    g_byte_array_unref (conn->out_tail);
  g_free (conn->peer_address);
  g_free (conn->local_address);
  g_free (conn->user);
  g_free (conn->state);
  g_free (conn);
}

PosthornConnection *
posthorn_connection_ref (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  conn->ref_count++;
  return conn;
}

void
posthorn_connection_unref (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (conn->ref_count > 0);
  if (--conn->ref_count == 0)
    conn_free (conn);
}

static void
conn_notify_closed (PosthornConnection *conn)
{
  gpointer user_data = conn->user_data;
  GDestroyNotify destroy = conn->destroy;
  gboolean had_handler = conn->has_handler;

  if (conn->closed_notified)
    return;
  conn->closed_notified = TRUE;
  conn_source_clear (&conn->dispatch_source);
  posthorn_connection_ref (conn);
  if (had_handler)
    {
      conn->depth++;
      conn->handler.closed (conn, user_data);
      conn->depth--;
      conn->has_handler = FALSE;
      conn->user_data = NULL;
      conn->destroy = NULL;
      if (destroy != NULL)
        destroy (user_data);
    }
  conn_unregister (conn);
  posthorn_connection_unref (conn);
}

/* Closes the socket now and drops queued output. The closed notification
 * follows from the main loop (net_connections_abort_all() sends it at once). */
static void
conn_finish (PosthornConnection *conn, const char *reason)
{
  if (conn->life == LIFE_CLOSED)
    return;
  conn->life = LIFE_CLOSED;
  if (reason != NULL && conn->accepted)
    posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG, "connection closed: %s", reason);
  conn_set_events (conn, 0);
  conn_idle_disarm (conn);
  conn_source_clear (&conn->close_timer);
  if (conn->tls != NULL)
    {
      gnutls_deinit (conn->tls);
      conn->tls = NULL;
    }
  g_clear_pointer (&conn->tls_credentials, net_tls_credentials_unref);
  close (conn->fd);
  conn->fd = -1;

  conn->in_start = conn->in_end;
  g_queue_clear_full (&conn->out_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_init (&conn->out_queue);
  g_clear_pointer (&conn->out_tail, g_byte_array_unref);
  conn->out_pending = 0;
  conn->out_offset = 0;
  if (conn->depth == 0)
    {
      conn->in_start = conn->in_end = conn->in_size = 0;
      g_clear_pointer (&conn->in_buf, g_free);
    }
  conn_schedule_dispatch (conn);
}

/* ---- reading ---- */

typedef enum { READ_DATA, READ_AGAIN, READ_EOF, READ_ERROR } ReadResult;

/* Replaces the @length raw bytes at @offset of the input buffer (the end
 * of it) by what the input filter makes of them. */
static gboolean
conn_filter_input (PosthornConnection *conn, gsize offset, gsize length)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  if (!conn->in_filter.input (conn->in_filter_data,
                              conn->in_buf != NULL ? conn->in_buf + offset : NULL, length,
                              out, &error))
    {
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "input filter: %s",
                               error != NULL ? error->message : "failed");
      conn->in_end = offset;
      return FALSE;
    }
  if (offset + out->len > conn->in_size)
    {
      conn->in_size = offset + out->len;
      conn->in_buf = g_realloc (conn->in_buf, conn->in_size + 1);
    }
  if (out->len > 0)
    memcpy (conn->in_buf + offset, out->data, out->len);
  conn->in_end = offset + out->len;
  return TRUE;
}

void
posthorn_connection_set_input_filter (PosthornConnection *conn,
                                      const PosthornInputFilter *filter,
                                      gpointer filter_data)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (filter != NULL && filter->input != NULL);
  g_return_if_fail (conn->in_filter.struct_size == 0);

  memcpy (&conn->in_filter, filter, MIN (filter->struct_size, sizeof conn->in_filter));
  conn->in_filter.struct_size = sizeof conn->in_filter;
  conn->in_filter_data = filter_data;
  if (conn->in_buf != NULL && conn->in_end > conn->in_start)
    {
      gsize pending = conn->in_end - conn->in_start;

      memmove (conn->in_buf, conn->in_buf + conn->in_start, pending);
      conn->in_start = 0;
      conn->in_end = pending;
      if (!conn_filter_input (conn, 0, pending))
        conn_finish (conn, "input filter error");
    }
}

static ReadResult
conn_read_some (PosthornConnection *conn)
{
  gssize n;

  if (conn->in_buf != NULL && conn->in_start > 0)
    {
      memmove (conn->in_buf, conn->in_buf + conn->in_start, conn->in_end - conn->in_start);
      conn->in_end -= conn->in_start;
      conn->in_start = 0;
    }
  if (conn->in_size - conn->in_end < CONN_READ_SIZE)
    {
      conn->in_size = conn->in_end + CONN_READ_SIZE;
      conn->in_buf = g_realloc (conn->in_buf, conn->in_size + 1);
    }

  for (;;)
    {
      if (conn->tls_state == TLS_ON)
        {
          n = gnutls_record_recv (conn->tls, conn->in_buf + conn->in_end, CONN_READ_SIZE);
          if (n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n == GNUTLS_E_AGAIN)
            {
              conn->tls_read_wants_write = gnutls_record_get_direction (conn->tls) == 1;
              return READ_AGAIN;
            }
          if (n == GNUTLS_E_PREMATURE_TERMINATION)
            return READ_EOF;
          if (n < 0)
            {
              if (!gnutls_error_is_fatal ((int) n))
                continue;
              posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG, "TLS read: %s",
                                       gnutls_strerror ((int) n));
              return READ_ERROR;
            }
        }
      else
        {
          n = recv (conn->fd, conn->in_buf + conn->in_end, CONN_READ_SIZE, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return READ_AGAIN;
          if (n < 0)
            return READ_ERROR;
        }
      break;
    }
  if (n == 0)
    return READ_EOF;
  net_service_count (conn->service, "bytes_in", (guint64) n);
  conn->last_activity = g_get_monotonic_time ();
  if (conn->in_filter.struct_size != 0)
    return conn_filter_input (conn, conn->in_end, (gsize) n) ? READ_DATA : READ_ERROR;
  conn->in_end += (gsize) n;
  return READ_DATA;
}

static gboolean
conn_readable_cb (gint fd, GIOCondition condition, gpointer user_data)
{
  PosthornConnection *conn = user_data;

  if (conn->life == LIFE_LINGERING)
    {
      guint8 scratch[4096];
      ssize_t n = recv (fd, scratch, sizeof scratch, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        conn_finish (conn, NULL);
      return G_SOURCE_CONTINUE;
    }
  if (conn->tls_state == TLS_HANDSHAKE)
    {
      conn_handshake_step (conn);
      return G_SOURCE_CONTINUE;
    }
  if (!conn_input_flowing (conn))
    {
      conn_update_io (conn);
      return G_SOURCE_CONTINUE;
    }
  switch (conn_read_some (conn))
    {
    case READ_DATA:
    case READ_AGAIN:
      break;
    case READ_EOF:
      conn->eof = TRUE;
      break;
    case READ_ERROR:
    default:
      conn_finish (conn, "read error");
      return G_SOURCE_CONTINUE;
    }
  conn_dispatch (conn);
  return G_SOURCE_CONTINUE;
}

/* ---- delivering input ---- */

static void
conn_deliver_piece (PosthornConnection *conn, gsize length)
{
  g_autofree char *piece = g_malloc (length + 1);

  memcpy (piece, conn->in_buf + conn->in_start, length);
  piece[length] = '\0';
  conn->in_start += length;
  conn->handler.line (conn, piece, length, POSTHORN_LINE_END_NONE, conn->user_data);
}

/* One step of input delivery; FALSE when nothing more can be delivered. */
static gboolean
conn_deliver_one (PosthornConnection *conn)
{
  guint8 *start = conn->in_buf != NULL ? conn->in_buf + conn->in_start : NULL;
  gsize avail = conn->in_end - conn->in_start;
  guint8 *lf;
  gsize length;
  PosthornLineEnd end;

  if (conn->bytes_mode)
    {
      gsize n;
      gboolean last;

      if (conn->bytes_left > 0 && avail == 0)
        return FALSE;
      n = (gsize) MIN ((guint64) avail, conn->bytes_left);
      conn->bytes_left -= n;
      conn->in_start += n;
      last = conn->bytes_left == 0;
      if (last)
        conn->bytes_mode = FALSE;
      if (conn->handler.bytes != NULL)
        conn->handler.bytes (conn, n > 0 ? start : (const guint8 *) "", n, last, conn->user_data);
      return TRUE;
    }

  if (avail == 0)
    return FALSE;
  lf = memchr (start, '\n', avail);
  if (lf == NULL)
    {
      if (conn->discarding)
        {
          conn->in_start = conn->in_end;
          return FALSE;
        }
      if (avail <= conn->max_line + 1)
        return FALSE;
      if (conn->line_flags & POSTHORN_LINE_SPLIT_LONG)
        {
          gsize piece = conn->max_line;
          if (piece > 1 && start[piece - 1] == '\r')
            piece--;
          conn_deliver_piece (conn, piece);
          return TRUE;
        }
      conn->discarding = TRUE;
      conn->in_start = conn->in_end;
      return FALSE;
    }

  length = (gsize) (lf - start);
  end = POSTHORN_LINE_END_LF;
  if (length > 0 && start[length - 1] == '\r')
    {
      length--;
      end = POSTHORN_LINE_END_CRLF;
    }
  if (conn->discarding)
    {
      conn->discarding = FALSE;
      conn->in_start += (gsize) (lf - start) + 1;
      if (conn->handler.line_too_long != NULL)
        conn->handler.line_too_long (conn, conn->user_data);
      return TRUE;
    }
  if (length > conn->max_line)
    {
      if (conn->line_flags & POSTHORN_LINE_SPLIT_LONG)
        {
          gsize piece = conn->max_line;
          if (piece > 1 && start[piece - 1] == '\r')
            piece--;
          conn_deliver_piece (conn, piece);
          return TRUE;
        }
      conn->in_start += (gsize) (lf - start) + 1;
      if (conn->handler.line_too_long != NULL)
        conn->handler.line_too_long (conn, conn->user_data);
      return TRUE;
    }
  start[length] = '\0';
  conn->in_start += (gsize) (lf - start) + 1;
  conn->handler.line (conn, (const char *) start, length, end, conn->user_data);
  return TRUE;
}

static void
conn_dispatch (PosthornConnection *conn)
{
  if (conn->depth > 0)
    {
      conn_schedule_dispatch (conn);
      return;
    }
  if (conn->life == LIFE_CLOSED)
    {
      conn_notify_closed (conn);
      return;
    }

  conn_enter (conn);
  if (conn->drained_wanted && conn->out_pending < CONN_LOW_WATER && conn->life == LIFE_OPEN &&
      conn->has_handler)
    {
      conn->drained_wanted = FALSE;
      if (conn->handler.drained != NULL)
        conn->handler.drained (conn, conn->user_data);
    }
  while (conn_input_flowing (conn))
    {
      if (conn_deliver_one (conn))
        continue;
      /* an input filter that stopped at its own bound has more */
      if (conn->in_filter.pending != NULL && conn->in_filter.pending (conn->in_filter_data))
        {
          gsize before = conn->in_end;

          if (!conn_filter_input (conn, conn->in_end, 0))
            {
              conn_finish (conn, "input filter error");
              break;
            }
          if (conn->in_end > before)
            continue;
        }
      /* GnuTLS may hold decrypted records the socket will not signal. */
      if (conn->tls_state == TLS_ON && gnutls_record_check_pending (conn->tls) > 0)
        {
          ReadResult r = conn_read_some (conn);
          if (r == READ_DATA)
            continue;
          if (r == READ_EOF)
            conn->eof = TRUE;
          else if (r == READ_ERROR)
            conn_finish (conn, "read error");
        }
      break;
    }
  if (conn->eof && conn_input_flowing (conn))
    {
      if (conn->in_start != conn->in_end || conn->bytes_mode)
        posthorn_connection_log (conn, G_LOG_LEVEL_DEBUG,
                                 "the client closed the connection in the middle of %s",
                                 conn->bytes_mode ? "a literal" : "a line");
      posthorn_connection_close (conn);
    }
  conn_leave (conn);
}

/* ---- writing ---- */

static void
conn_tail_to_queue (PosthornConnection *conn)
{
  if (conn->out_tail != NULL)
    g_queue_push_tail (&conn->out_queue, g_byte_array_free_to_bytes (g_steal_pointer (&conn->out_tail)));
}

static void
conn_flush (PosthornConnection *conn)
{
  gboolean was_above = conn->above_high_water;

  if (conn->life != LIFE_OPEN && conn->life != LIFE_CLOSING)
    return;
  if (conn->tls_state == TLS_HANDSHAKE)
    return;

  conn_tail_to_queue (conn);
  while (!g_queue_is_empty (&conn->out_queue))
    {
      GBytes *head = g_queue_peek_head (&conn->out_queue);
      gsize size;
      const guint8 *data = g_bytes_get_data (head, &size);
      gsize length = size - conn->out_offset;
      gssize n;

      data += conn->out_offset;
      if (conn->tls_state == TLS_WAIT_FLUSH)
        {
          if (conn->tls_plain_left == 0)
            break;
          length = MIN (length, conn->tls_plain_left);
        }
      if (conn->tls_state == TLS_ON)
        {
          n = gnutls_record_send (conn->tls, data, MIN (length, CONN_TLS_RECORD_MAX));
          if (n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n == GNUTLS_E_AGAIN)
            break;
          if (n < 0)
            {
              conn_finish (conn, gnutls_strerror ((int) n));
              return;
            }
        }
      else
        {
          n = send (conn->fd, data, length, MSG_NOSIGNAL);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
          if (n < 0)
            {
              conn_finish (conn, g_strerror (errno));
              return;
            }
          if (conn->tls_state == TLS_WAIT_FLUSH)
            conn->tls_plain_left -= (gsize) n;
        }
      net_service_count (conn->service, "bytes_out", (guint64) n);
      conn->out_offset += (gsize) n;
      conn->out_pending -= (gsize) n;
      conn->last_activity = g_get_monotonic_time ();
      if (conn->out_offset == size)
        {
          g_bytes_unref (g_queue_pop_head (&conn->out_queue));
          conn->out_offset = 0;
        }
    }

  if (was_above && conn->out_pending < CONN_LOW_WATER)
    {
      conn->above_high_water = FALSE;
      conn->drained_wanted = TRUE;
      conn_schedule_dispatch (conn);
    }
  if (conn->tls_state == TLS_WAIT_FLUSH && conn->tls_plain_left == 0)
    {
      g_autoptr (GError) error = NULL;

      conn->tls = net_tls_session_new (conn->fd, &conn->tls_credentials, &error);
      if (conn->tls == NULL)
        {
          posthorn_connection_log (conn, G_LOG_LEVEL_WARNING, "STARTTLS: %s", error->message);
          conn_finish (conn, "TLS setup failed");
          return;
        }
      conn->tls_state = TLS_HANDSHAKE;
      conn->last_activity = g_get_monotonic_time ();
      conn_idle_arm (conn);
      conn_handshake_step (conn);
      return;
    }
  if (conn->life == LIFE_CLOSING && conn->out_pending == 0)
    conn_begin_linger (conn);
}

static gboolean
conn_writable_cb (gint fd, GIOCondition condition, gpointer user_data)
{
  PosthornConnection *conn = user_data;

  if (conn->tls_state == TLS_HANDSHAKE)
    {
      conn_handshake_step (conn);
      return G_SOURCE_CONTINUE;
    }
  if (conn->tls_read_wants_write)
    {
      conn->tls_read_wants_write = FALSE;
      conn_schedule_dispatch (conn);
    }
  posthorn_connection_ref (conn);
  conn_flush (conn);
  if (conn->life != LIFE_CLOSED)
    conn_update_io (conn);
  posthorn_connection_unref (conn);
  return G_SOURCE_CONTINUE;
}

static void
conn_queue (PosthornConnection *conn, const void *data, gsize length, GBytes *bytes)
{
  if (conn->life != LIFE_OPEN || length == 0)
    return;
  if (length <= CONN_COALESCE_MAX)
    {
      if (conn->out_tail == NULL)
        conn->out_tail = g_byte_array_sized_new (MAX (length, 512));
      g_byte_array_append (conn->out_tail, data, (guint) length);
    }
  else
    {
      conn_tail_to_queue (conn);
      g_queue_push_tail (&conn->out_queue,
                         bytes != NULL ? g_bytes_ref (bytes) : g_bytes_new (data, length));
    }
  conn->out_pending += length;
  if (conn->out_pending >= CONN_HIGH_WATER)
    conn->above_high_water = TRUE;
  if (conn->depth == 0)
    conn_update_io (conn);
}

void
posthorn_connection_write (PosthornConnection *conn, const void *data, gsize length)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (data != NULL || length == 0);
  conn_queue (conn, data, length, NULL);
}

void
posthorn_connection_write_bytes (PosthornConnection *conn, GBytes *bytes)
{
  gsize length;
  const void *data;

  g_return_if_fail (conn != NULL);
  g_return_if_fail (bytes != NULL);
  data = g_bytes_get_data (bytes, &length);
  conn_queue (conn, data, length, bytes);
}

void
posthorn_connection_write_string (PosthornConnection *conn, const char *text)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (text != NULL);
  conn_queue (conn, text, strlen (text), NULL);
}

void
posthorn_connection_printf (PosthornConnection *conn, const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list args;
  int length;

  g_return_if_fail (conn != NULL);
  va_start (args, format);
  length = g_vasprintf (&text, format, args);
  va_end (args);
  if (length > 0)
    conn_queue (conn, text, (gsize) length, NULL);
}

gsize
posthorn_connection_get_output_pending (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->out_pending;
}

gboolean
posthorn_connection_output_is_full (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->out_pending >= CONN_HIGH_WATER;
}

void
posthorn_connection_notify_drained (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  if (conn->life != LIFE_OPEN)
    return;
  conn->drained_wanted = TRUE;
  if (conn->out_pending < CONN_LOW_WATER)
    conn_schedule_dispatch (conn);
}

/* ---- closing ---- */

static gboolean
conn_close_timer_cb (gpointer user_data)
{
  PosthornConnection *conn = user_data;

  g_clear_pointer (&conn->close_timer, g_source_unref);
  conn_finish (conn, conn->life == LIFE_LINGERING ? NULL : "close timed out with output queued");
  return G_SOURCE_REMOVE;
}

static void
conn_close_timer_arm (PosthornConnection *conn, guint seconds)
{
  conn_source_clear (&conn->close_timer);
  conn->close_timer = g_timeout_source_new_seconds (seconds);
  g_source_set_callback (conn->close_timer, conn_close_timer_cb, conn, NULL);
  g_source_attach (conn->close_timer, NULL);
}

static void
conn_begin_linger (PosthornConnection *conn)
{
  if (conn->tls_state == TLS_ON)
    gnutls_bye (conn->tls, GNUTLS_SHUT_WR);
  shutdown (conn->fd, SHUT_WR);
  conn->life = LIFE_LINGERING;
  conn_close_timer_arm (conn, CONN_LINGER_TIMEOUT_S);
  conn_idle_disarm (conn);
  conn_update_io (conn);
}

void
posthorn_connection_close (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  if (conn->life != LIFE_OPEN)
    return;
  if (conn->tls_state == TLS_HANDSHAKE)
    {
      conn_finish (conn, "closed during the TLS handshake");
      return;
    }
  conn->life = LIFE_CLOSING;
  conn->in_start = conn->in_end;
  conn->bytes_mode = FALSE;
  if (conn->tls_state == TLS_WAIT_FLUSH)
    conn->tls_state = TLS_NONE;
  conn_close_timer_arm (conn, CONN_CLOSE_TIMEOUT_S);
  if (conn->depth == 0)
    {
      conn_flush (conn);
      if (conn->life != LIFE_CLOSED)
        conn_update_io (conn);
    }
}

void
posthorn_connection_abort (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  conn_finish (conn, "aborted");
}

gboolean
posthorn_connection_is_closed (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, TRUE);
  return conn->life != LIFE_OPEN;
}

/* ---- handler and input modes ---- */

void
posthorn_connection_set_handler (PosthornConnection *conn,
                                 const PosthornConnectionHandler *handler,
                                 gpointer user_data,
                                 GDestroyNotify destroy)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (handler != NULL);
  g_return_if_fail (handler->struct_size >= G_STRUCT_OFFSET (PosthornConnectionHandler, closed)
                    + sizeof handler->closed);
  g_return_if_fail (handler->line != NULL && handler->closed != NULL);
  g_return_if_fail (!conn->closed_notified);

  if (conn->has_handler && conn->destroy != NULL && conn->user_data != user_data)
    {
      /* The old handler may be the one running: free its data afterwards. */
      conn_release_old_handler (conn);
      conn->old_user_data = conn->user_data;
      conn->old_destroy = conn->destroy;
      if (conn->depth == 0)
        conn_release_old_handler (conn);
    }
  memset (&conn->handler, 0, sizeof conn->handler);
  memcpy (&conn->handler, handler, MIN (handler->struct_size, sizeof conn->handler));
  conn->handler.struct_size = sizeof conn->handler;
  conn->user_data = user_data;
  conn->destroy = destroy;
  conn->has_handler = TRUE;
  if (conn->depth == 0)
    conn_schedule_dispatch (conn);
}

void
posthorn_connection_set_line_mode (PosthornConnection *conn,
                                   gsize max_line_length,
                                   PosthornLineFlags flags)
{
  g_return_if_fail (conn != NULL);
  conn->max_line = max_line_length > 0 ? max_line_length : conn->service->max_line_length;
  conn->line_flags = flags;
  if (conn->depth == 0)
    conn_schedule_dispatch (conn);
}

void
posthorn_connection_read_bytes (PosthornConnection *conn, guint64 count)
{
  g_return_if_fail (conn != NULL);
  conn->bytes_mode = TRUE;
  conn->bytes_left = count;
  conn->discarding = FALSE;
  if (conn->depth == 0)
    conn_schedule_dispatch (conn);
}

void
posthorn_connection_pause_input (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  conn->pause_count++;
}

void
posthorn_connection_resume_input (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (conn->pause_count > 0);
  if (--conn->pause_count == 0 && conn->life == LIFE_OPEN)
    conn_schedule_dispatch (conn);
}

void
posthorn_connection_set_idle_timeout (PosthornConnection *conn, guint seconds)
{
  g_return_if_fail (conn != NULL);
  conn->idle_timeout = seconds;
  conn->last_activity = g_get_monotonic_time ();
  if (conn->life == LIFE_OPEN)
    conn_idle_arm (conn);
}

/* ---- TLS ---- */

static void
conn_handshake_step (PosthornConnection *conn)
{
  int r;

  posthorn_connection_ref (conn);
  do
    r = gnutls_handshake (conn->tls);
  while (r == GNUTLS_E_INTERRUPTED || (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal (r)));
  conn->last_activity = g_get_monotonic_time ();

  if (r == GNUTLS_E_AGAIN)
    {
      conn_update_io (conn);
      posthorn_connection_unref (conn);
      return;
    }
  if (r < 0)
    {
      g_message ("%s: TLS handshake with %s failed: %s", conn->service->name,
                 conn->peer_address, gnutls_strerror (r));
      net_service_count (conn->service, "tls_handshakes_failed", 1);
      conn_finish (conn, "TLS handshake failed");
      posthorn_connection_unref (conn);
      return;
    }

  conn->tls_state = TLS_ON;
  conn_idle_arm (conn);
  conn_enter (conn);
  if (!conn->accepted)
    {
      conn->accepted = TRUE;
      conn->service->vtable.accept (conn->service, conn, conn->service->user_data);
      if (!conn->has_handler && conn->life != LIFE_CLOSED)
        {
          g_warning ("%s: the service installed no connection handler", conn->service->name);
          conn_finish (conn, "no handler");
        }
    }
  else if (conn->tls_done != NULL)
    {
      PosthornTlsDoneFunc done = conn->tls_done;
      conn->tls_done = NULL;
      done (conn, TRUE, conn->tls_done_data);
    }
  if (conn->life == LIFE_OPEN && gnutls_record_check_pending (conn->tls) > 0)
    conn_schedule_dispatch (conn);
  conn_leave (conn);
  posthorn_connection_unref (conn);
}

gboolean
posthorn_connection_tls_available (PosthornConnection *conn)
{
  return ph_tls_available ();
}

gboolean
posthorn_connection_is_tls (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->tls_state == TLS_ON;
}

void
posthorn_connection_start_tls (PosthornConnection *conn,
                               PosthornTlsDoneFunc done,
                               gpointer user_data)
{
  gsize discarded;

  g_return_if_fail (conn != NULL);
  if (conn->life != LIFE_OPEN)
    return;
  if (conn->tls_state != TLS_NONE || !ph_tls_available ())
    {
      posthorn_connection_log (conn, G_LOG_LEVEL_WARNING, "STARTTLS %s, closing",
                               conn->tls_state != TLS_NONE ? "while TLS is active" : "without a certificate");
      posthorn_connection_close (conn);
      return;
    }

  discarded = conn->in_end - conn->in_start;
  if (discarded > 0)
    posthorn_connection_log (conn, G_LOG_LEVEL_INFO,
                             "discarded %" G_GSIZE_FORMAT " bytes sent after STARTTLS", discarded);
  conn->in_start = conn->in_end;
  conn->discarding = FALSE;
  conn->bytes_mode = FALSE;
  conn->tls_done = done;
  conn->tls_done_data = user_data;
  conn->tls_state = TLS_WAIT_FLUSH;
  conn->tls_plain_left = conn->out_pending;
  if (conn->depth == 0)
    {
      conn_flush (conn);
      if (conn->life != LIFE_CLOSED)
        conn_update_io (conn);
    }
}

GBytes *
posthorn_connection_get_channel_binding (PosthornConnection *conn,
                                         PosthornChannelBinding type,
                                         GError **error)
{
  gnutls_datum_t data = { NULL, 0 };
  gnutls_channel_binding_t cb;
  GBytes *bytes;
  int r;

  g_return_val_if_fail (conn != NULL, NULL);
  if (conn->tls_state != TLS_ON)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                           "the connection does not use TLS");
      return NULL;
    }
  switch (type)
    {
    case POSTHORN_CHANNEL_BINDING_TLS_UNIQUE:
      if (gnutls_protocol_get_version (conn->tls) == GNUTLS_TLS1_3)
        {
          g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                               "tls-unique is not defined for TLS 1.3");
          return NULL;
        }
      cb = GNUTLS_CB_TLS_UNIQUE;
      break;
    case POSTHORN_CHANNEL_BINDING_TLS_EXPORTER:
      cb = GNUTLS_CB_TLS_EXPORTER;
      break;
    default:
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                   "unknown channel binding type %d", (int) type);
      return NULL;
    }
  r = gnutls_session_channel_binding (conn->tls, cb, &data);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                   "channel binding: %s", gnutls_strerror (r));
      return NULL;
    }
  bytes = g_bytes_new (data.data, data.size);
  gnutls_free (data.data);
  return bytes;
}

/* ---- identity, logging, accounting ---- */

PosthornService *
posthorn_connection_get_service (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->service;
}

const char *
posthorn_connection_get_id (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->id;
}

const char *
posthorn_connection_get_peer_address (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->peer_address;
}

guint16
posthorn_connection_get_peer_port (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->peer_port;
}

const char *
posthorn_connection_get_local_address (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->local_address;
}

guint16
posthorn_connection_get_local_port (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->local_port;
}

gboolean
posthorn_connection_is_loopback (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->loopback;
}

gboolean
posthorn_connection_is_implicit_tls (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->implicit_tls;
}

void
posthorn_connection_set_user (PosthornConnection *conn, const char *user)
{
  g_return_if_fail (conn != NULL);
  conn_user_count (conn, FALSE);
  g_free (conn->user);
  conn->user = g_strdup (user);
  /* Only an open, registered connection is a session of its user. */
  if (conn->user != NULL && conn_all != NULL && g_hash_table_contains (conn_all, conn))
    conn_user_count (conn, TRUE);
}

const char *
posthorn_connection_get_user (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->user;
}

void
posthorn_connection_set_state (PosthornConnection *conn, const char *state)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (state != NULL);
  g_free (conn->state);
  conn->state = g_strdup (state);
}

const char *
ph_net_connection_get_state (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->state;
}

gint64
ph_net_connection_get_start_time (PosthornConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->start_time;
}

void
posthorn_connection_log (PosthornConnection *conn,
                         GLogLevelFlags level,
                         const char *format,
                         ...)
{
  g_autofree char *text = NULL;
  va_list args;

  g_return_if_fail (conn != NULL);
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  g_log_structured (posthorn_plugin_get_name (conn->service->plugin), level,
                    "POSTHORN_SERVICE", "%s", conn->service->name,
                    "POSTHORN_SESSION", "%s", conn->id,
                    "MESSAGE", "%s[%s] %s%s%s: %s", conn->service->name, conn->id,
                    conn->peer_address, conn->user != NULL ? " " : "",
                    conn->user != NULL ? conn->user : "", text);
}

void
posthorn_connection_count (PosthornConnection *conn, const char *counter, guint64 delta)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (counter != NULL);
  net_service_count (conn->service, counter, delta);
}

/* ---- daemon shutdown ---- */

static void
conn_shutdown (PosthornConnection *conn, const char *reason)
{
  if (conn->life != LIFE_OPEN)
    return;
  if (!conn->accepted || !conn->has_handler)
    {
      conn_finish (conn, reason);
      return;
    }
  conn_enter (conn);
  if (conn->handler.shutdown != NULL)
    conn->handler.shutdown (conn, conn->user_data);
  else
    posthorn_connection_close (conn);
  conn_leave (conn);
}

void
net_connections_begin_shutdown (void)
{
  g_autoptr (GPtrArray) list = conn_snapshot (FALSE);

  for (guint i = 0; i < list->len; i++)
    conn_shutdown (g_ptr_array_index (list, i), "shutting down");
}

void
ph_net_connection_shutdown (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  conn_shutdown (conn, "closed by the administrator");
}

void
net_connections_abort_all (void)
{
  g_autoptr (GPtrArray) list = conn_snapshot (FALSE);

  for (guint i = 0; i < list->len; i++)
    {
      PosthornConnection *conn = g_ptr_array_index (list, i);
      conn_finish (conn, "aborted at shutdown");
      if (conn->depth == 0)
        conn_notify_closed (conn);
    }
}

void
net_connections_teardown (void)
{
  net_connections_abort_all ();
  if (conn_all != NULL && g_hash_table_size (conn_all) == 0)
    {
      g_clear_pointer (&conn_all, g_hash_table_unref);
      g_clear_pointer (&conn_per_ip, g_hash_table_unref);
      g_clear_pointer (&conn_per_user, g_hash_table_unref);
    }
  if (idle_queue != NULL && g_sequence_get_length (idle_queue) == 0)
    {
      g_source_destroy (idle_source);
      g_clear_pointer (&idle_source, g_source_unref);
      g_clear_pointer (&idle_queue, g_sequence_free);
    }
  if (net_epoll_source != NULL)
    {
      g_source_destroy (net_epoll_source);
      g_clear_pointer (&net_epoll_source, g_source_unref);
      close (net_epoll_fd);
      net_epoll_fd = -1;
    }
}
