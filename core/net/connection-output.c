/* Output: the queue (small writes coalesced), writing when the socket
 * allows, back-pressure and the drained notification; closing gracefully
 * (flush, shut the write side down, linger until the client closes).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

#include <errno.h>
#include <string.h>
#include <glib/gprintf.h>

static void conn_begin_linger (PosthornConnection *conn);

/* ---- writing ---- */

static void
conn_tail_to_queue (PosthornConnection *conn)
{
  if (conn->out_tail != NULL)
    g_queue_push_tail (&conn->out_queue, g_byte_array_free_to_bytes (g_steal_pointer (&conn->out_tail)));
}

void
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
      conn_starttls_handshake (conn);
      return;
    }
  if (conn->life == LIFE_CLOSING && conn->out_pending == 0)
    conn_begin_linger (conn);
}

gboolean
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
