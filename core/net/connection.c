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
 * The connection's code is split by job (connection-private.h says which
 * file does what); this file holds its life: creation when a listener
 * accepts, references, entering and leaving protocol callbacks, the end
 * (conn_finish() and the closed notification), the handler and identity.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

static guint64 conn_serial;

/* ---- addresses ---- */

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

void
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

void
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

void
conn_source_clear (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
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

void
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
void
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

/* ---- handler and idle timeout ---- */

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
posthorn_connection_set_idle_timeout (PosthornConnection *conn, guint seconds)
{
  g_return_if_fail (conn != NULL);
  conn->idle_timeout = seconds;
  conn->last_activity = g_get_monotonic_time ();
  if (conn->life == LIFE_OPEN)
    conn_idle_arm (conn);
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
