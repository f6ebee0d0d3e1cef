/* A blocking line client for tests: plain sockets + poll, GnuTLS.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <gnutls/x509.h>

#define DEFAULT_TIMEOUT_MS 5000

struct _PhTestClient {
  int fd;
  guint timeout_ms;
  gnutls_session_t tls;
  gnutls_certificate_credentials_t credentials;
  GByteArray *in;
  gboolean eof;
};

static gint64
deadline_after (guint timeout_ms)
{
  return g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
}

/* Waits until @fd is ready for @events; FALSE on timeout. */
static gboolean
wait_fd (int fd, short events, gint64 deadline)
{
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = events };
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      int r;

      if (left < 0)
        return FALSE;
      r = poll (&pfd, 1, (int) left);
      if (r > 0)
        return TRUE;
      if (r == 0)
        return FALSE;
      if (errno != EINTR)
        return FALSE;
    }
}

static gboolean
client_handshake (PhTestClient *client, const char *priority, GBytes *resume_data,
                  GError **error)
{
  gint64 deadline = deadline_after (client->timeout_ms);
  int r;

  g_assert_null (client->tls);
  gnutls_certificate_allocate_credentials (&client->credentials);
  gnutls_init (&client->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
  r = gnutls_priority_set_direct (client->tls, priority != NULL ? priority : "NORMAL", NULL);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "priority: %s", gnutls_strerror (r));
      return FALSE;
    }
  gnutls_credentials_set (client->tls, GNUTLS_CRD_CERTIFICATE, client->credentials);
  gnutls_server_name_set (client->tls, GNUTLS_NAME_DNS, "localhost", strlen ("localhost"));
  gnutls_transport_set_int (client->tls, client->fd);
  if (resume_data != NULL)
    {
      gsize size;
      const void *data = g_bytes_get_data (resume_data, &size);
      gnutls_session_set_data (client->tls, data, size);
    }

  for (;;)
    {
      r = gnutls_handshake (client->tls);
      if (r == 0)
        return TRUE;
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        {
          short events = gnutls_record_get_direction (client->tls) ? POLLOUT : POLLIN;
          if (!wait_fd (client->fd, events, deadline))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "TLS handshake timed out");
              return FALSE;
            }
          continue;
        }
      if (!gnutls_error_is_fatal (r))
        continue;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "TLS handshake: %s", gnutls_strerror (r));
      return FALSE;
    }
}

PhTestClient *
ph_test_client_new (const char *host, guint16 port, gboolean tls,
                    const char *priority, GError **error)
{
  return ph_test_client_new_full (host, port, tls, priority, NULL, error);
}

/* Connects @fd (non-blocking) to @addr within the default timeout. */
static PhTestClient *
client_connect (int fd, const struct sockaddr *addr, socklen_t addr_len,
                const char *what, GError **error)
{
  PhTestClient *client = g_new0 (PhTestClient, 1);
  gint64 deadline;
  int r;

  client->fd = fd;
  client->timeout_ms = DEFAULT_TIMEOUT_MS;
  client->in = g_byte_array_new ();

  deadline = deadline_after (client->timeout_ms);
  r = connect (fd, addr, addr_len);
  if (r != 0 && errno == EINPROGRESS)
    {
      int so_error = 0;
      socklen_t len = sizeof so_error;

      if (!wait_fd (fd, POLLOUT, deadline))
        errno = ETIMEDOUT;
      else if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 && so_error == 0)
        r = 0;
      else
        errno = so_error;
    }
  if (r != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "connect to %s: %s",
                   what, g_strerror (saved));
      ph_test_client_free (client);
      return NULL;
    }
  return client;
}

PhTestClient *
ph_test_client_new_full (const char *host, guint16 port, gboolean tls,
                         const char *priority, GBytes *resume_data, GError **error)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
  struct addrinfo *result = NULL;
  g_autofree char *service = g_strdup_printf ("%u", port);
  g_autofree char *what = NULL;
  PhTestClient *client;
  int fd;
  int r;

  r = getaddrinfo (host, service, &hints, &result);
  if (r != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", host, gai_strerror (r));
      return NULL;
    }
  fd = socket (result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  what = g_strdup_printf ("%s:%u", host, port);
  client = client_connect (fd, result->ai_addr, result->ai_addrlen, what, error);
  freeaddrinfo (result);
  if (client == NULL)
    return NULL;
  if (tls && !client_handshake (client, priority, resume_data, error))
    {
      ph_test_client_free (client);
      return NULL;
    }
  return client;
}

PhTestClient *
ph_test_client_new_unix (const char *path, GError **error)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd;

  g_assert_cmpuint (strlen (path), <, sizeof sun.sun_path);
  g_strlcpy (sun.sun_path, path, sizeof sun.sun_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  return client_connect (fd, (struct sockaddr *) &sun, sizeof sun, path, error);
}

PhTestClient *
ph_test_client_connect (PhTestServer *server, const char *service, gboolean tls)
{
  g_autoptr (GError) error = NULL;
  PhTestClient *client = ph_test_client_new ("127.0.0.1",
                                             ph_test_server_get_port (server, service, tls),
                                             tls, NULL, &error);
  g_assert_no_error (error);
  return client;
}

void
ph_test_client_set_timeout (PhTestClient *client, guint timeout_ms)
{
  client->timeout_ms = timeout_ms;
}

gboolean
ph_test_client_start_tls (PhTestClient *client, const char *priority, GError **error)
{
  return client_handshake (client, priority, NULL, error);
}

gboolean
ph_test_client_is_tls (PhTestClient *client)
{
  return client->tls != NULL;
}

gnutls_session_t
ph_test_client_get_tls_session (PhTestClient *client)
{
  return client->tls;
}

GBytes *
ph_test_client_get_session_data (PhTestClient *client)
{
  gnutls_datum_t data = { NULL, 0 };
  GBytes *bytes;

  if (client->tls == NULL || gnutls_session_get_data2 (client->tls, &data) < 0)
    return NULL;
  bytes = g_bytes_new (data.data, data.size);
  gnutls_free (data.data);
  return bytes;
}

gboolean
ph_test_client_is_resumed (PhTestClient *client)
{
  return client->tls != NULL && gnutls_session_is_resumed (client->tls);
}

char *
ph_test_client_get_peer_common_name (PhTestClient *client)
{
  const gnutls_datum_t *peers;
  unsigned int n_peers = 0;
  gnutls_x509_crt_t crt;
  char cn[256];
  size_t size = sizeof cn;
  char *result = NULL;

  if (client->tls == NULL)
    return NULL;
  peers = gnutls_certificate_get_peers (client->tls, &n_peers);
  if (peers == NULL || n_peers == 0)
    return NULL;
  gnutls_x509_crt_init (&crt);
  if (gnutls_x509_crt_import (crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
      gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) >= 0)
    result = g_strndup (cn, size);
  gnutls_x509_crt_deinit (crt);
  return result;
}

gboolean
ph_test_client_send (PhTestClient *client, const void *data, gssize length)
{
  const guint8 *p = data;
  gsize left = length < 0 ? strlen (data) : (gsize) length;
  gint64 deadline = deadline_after (client->timeout_ms);

  while (left > 0)
    {
      gssize n;

      if (client->tls != NULL)
        {
          n = gnutls_record_send (client->tls, p, left);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            {
              if (!wait_fd (client->fd, POLLOUT, deadline))
                return FALSE;
              continue;
            }
          if (n < 0)
            return FALSE;
        }
      else
        {
          n = send (client->fd, p, left, MSG_NOSIGNAL);
          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            {
              if (!wait_fd (client->fd, POLLOUT, deadline))
                return FALSE;
              continue;
            }
          if (n < 0)
            return FALSE;
        }
      p += n;
      left -= (gsize) n;
    }
  return TRUE;
}

gboolean
ph_test_client_sendf (PhTestClient *client, const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  return ph_test_client_send (client, text, -1);
}

/* Reads more into client->in; FALSE on timeout, end of stream or error. */
static gboolean
client_fill (PhTestClient *client, gint64 deadline)
{
  guint8 buf[16384];
  gssize n;

  if (client->eof)
    return FALSE;
  for (;;)
    {
      if (client->tls != NULL)
        {
          if (gnutls_record_check_pending (client->tls) == 0 &&
              !wait_fd (client->fd, POLLIN, deadline))
            return FALSE;
          n = gnutls_record_recv (client->tls, buf, sizeof buf);
          if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
          if (n < 0 && !gnutls_error_is_fatal ((int) n))
            continue;
        }
      else
        {
          if (!wait_fd (client->fd, POLLIN, deadline))
            return FALSE;
          n = recv (client->fd, buf, sizeof buf, 0);
          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        }
      if (n <= 0)
        {
          client->eof = TRUE;
          return FALSE;
        }
      g_byte_array_append (client->in, buf, (guint) n);
      return TRUE;
    }
}

char *
ph_test_client_read_line_timeout (PhTestClient *client, guint timeout_ms)
{
  gint64 deadline = deadline_after (timeout_ms);
  gsize scanned = 0;

  for (;;)
    {
      guint8 *lf = client->in->len > scanned
                   ? memchr (client->in->data + scanned, '\n', client->in->len - scanned)
                   : NULL;
      if (lf != NULL)
        {
          gsize total = (gsize) (lf - client->in->data) + 1;
          gsize length = total - 1;
          char *line;

          if (length > 0 && client->in->data[length - 1] == '\r')
            length--;
          line = g_strndup ((const char *) client->in->data, length);
          g_byte_array_remove_range (client->in, 0, (guint) total);
          return line;
        }
      scanned = client->in->len;
      if (!client_fill (client, deadline))
        return NULL;
    }
}

char *
ph_test_client_read_line (PhTestClient *client)
{
  return ph_test_client_read_line_timeout (client, client->timeout_ms);
}

GBytes *
ph_test_client_read_exact (PhTestClient *client, gsize length)
{
  gint64 deadline = deadline_after (client->timeout_ms);
  GBytes *bytes;

  while (client->in->len < length)
    if (!client_fill (client, deadline))
      return NULL;
  bytes = g_bytes_new (client->in->data, length);
  g_byte_array_remove_range (client->in, 0, (guint) length);
  return bytes;
}

char *
ph_test_client_expect_line_prefix (PhTestClient *client, const char *prefix)
{
  char *line = ph_test_client_read_line (client);
  g_autofree char *head = NULL;

  if (line == NULL)
    g_error ("expected a line starting with '%s', got %s", prefix,
             client->eof ? "the end of the stream" : "nothing (timeout)");
  head = g_strndup (line, strlen (prefix));
  if (strcmp (head, prefix) != 0)
    g_error ("expected a line starting with '%s', got '%s'", prefix, line);
  return line;
}

gboolean
ph_test_client_wait_closed (PhTestClient *client, guint timeout_ms)
{
  gint64 deadline = deadline_after (timeout_ms);

  while (!client->eof)
    {
      g_byte_array_set_size (client->in, 0);
      if (!client_fill (client, deadline) && !client->eof)
        return FALSE;
    }
  return TRUE;
}

int
ph_test_client_get_fd (PhTestClient *client)
{
  return client->fd;
}

void
ph_test_client_free (PhTestClient *client)
{
  if (client == NULL)
    return;
  if (client->tls != NULL)
    {
      gnutls_bye (client->tls, GNUTLS_SHUT_WR);
      gnutls_deinit (client->tls);
    }
  if (client->credentials != NULL)
    gnutls_certificate_free_credentials (client->credentials);
  if (client->fd >= 0)
    close (client->fd);
  g_byte_array_unref (client->in);
  g_free (client);
}
