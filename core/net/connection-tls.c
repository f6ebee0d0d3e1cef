/* TLS on a connection: the handshake (implicit TLS or after STARTTLS),
 * STARTTLS itself and channel bindings. The credentials are tls.c's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

/* ---- TLS ---- */

void
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

void
conn_starttls_handshake (PosthornConnection *conn)
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
