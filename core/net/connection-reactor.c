/* When connections run: the reactor (one epoll instance for every
 * connection under one GSource), the per-connection dispatch idle that
 * delivers buffered input and callbacks from the main loop, and idle
 * timeouts (one deadline queue under one GSource).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

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

void
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

void
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

void
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

void
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

void
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

void
conn_reactor_teardown (void)
{
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
