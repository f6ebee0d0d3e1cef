/* Input: reading the socket (or TLS records) into the connection's
 * buffer, the input filter, and delivering lines and exact byte runs to
 * the protocol; line and byte modes, pause and resume.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

#include <errno.h>
#include <string.h>

gboolean
conn_input_flowing (PosthornConnection *conn)
{
  return conn->life == LIFE_OPEN && conn->has_handler && conn->pause_count == 0 &&
         !conn->above_high_water && (conn->tls_state == TLS_NONE || conn->tls_state == TLS_ON);
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

gboolean
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

void
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

/* ---- input modes ---- */

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
