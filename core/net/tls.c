/* TLS credentials ([tls] certificate, key, priority) with GnuTLS.
 *
 * The credentials in force are reference counted: every session holds the
 * set it started with, so a reload (SIGHUP) serves the new certificate to
 * new sessions and leaves the established ones untouched.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define TLS_DEFAULT_PRIORITY \
  "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

struct _NetTlsCredentials {
  gint ref_count;
  gnutls_certificate_credentials_t certificate;
  gnutls_priority_t priority;
};

static NetTlsCredentials *tls_current;
static gnutls_datum_t tls_ticket_key;

static NetTlsCredentials *
tls_credentials_ref (NetTlsCredentials *credentials)
{
  g_atomic_int_inc (&credentials->ref_count);
  return credentials;
}

void
net_tls_credentials_unref (NetTlsCredentials *credentials)
{
  if (credentials == NULL || !g_atomic_int_dec_and_test (&credentials->ref_count))
    return;
  if (credentials->certificate != NULL)
    gnutls_certificate_free_credentials (credentials->certificate);
  if (credentials->priority != NULL)
    gnutls_priority_deinit (credentials->priority);
  g_free (credentials);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NetTlsCredentials, net_tls_credentials_unref)

static gboolean
tls_check_readable (const char *key, const char *path, GError **error)
{
  if (access (path, R_OK) != 0)
    {
      int saved = errno;
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: [tls] %s: %s: %s", ph_settings ()->config_file,
                   key, path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static NetTlsCredentials *
tls_credentials_load (const PhSettings *settings, GError **error)
{
  g_autoptr (NetTlsCredentials) credentials = g_new0 (NetTlsCredentials, 1);
  const char *certificate = settings->tls_certificate;
  const char *key = settings->tls_key != NULL ? settings->tls_key : certificate;
  const char *priority = settings->tls_priority != NULL && settings->tls_priority[0] != '\0'
                         ? settings->tls_priority : TLS_DEFAULT_PRIORITY;
  const char *error_position = NULL;
  int r;

  credentials->ref_count = 1;

  if (!tls_check_readable ("certificate", certificate, error) ||
      !tls_check_readable ("key", key, error))
    return NULL;

  r = gnutls_certificate_allocate_credentials (&credentials->certificate);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "TLS: %s", gnutls_strerror (r));
      return NULL;
    }
  r = gnutls_certificate_set_x509_key_file2 (credentials->certificate, certificate, key,
                                             GNUTLS_X509_FMT_PEM, NULL, 0);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: [tls] certificate %s, key %s: %s", settings->config_file,
                   certificate, key, gnutls_strerror (r));
      return NULL;
    }
  gnutls_certificate_set_known_dh_params (credentials->certificate, GNUTLS_SEC_PARAM_MEDIUM);

  r = gnutls_priority_init (&credentials->priority, priority, &error_position);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: [tls] priority: '%s' is not a valid GnuTLS priority string (at '%s')",
                   settings->config_file, priority,
                   error_position != NULL ? error_position : "");
      return NULL;
    }
  return g_steal_pointer (&credentials);
}

gboolean
ph_tls_setup (GError **error)
{
  const PhSettings *settings = ph_settings ();
  NetTlsCredentials *credentials;
  int r;

  if (settings->tls_certificate == NULL || settings->tls_certificate[0] == '\0')
    return TRUE;

  credentials = tls_credentials_load (settings, error);
  if (credentials == NULL)
    return FALSE;

  if (tls_ticket_key.data == NULL)
    {
      r = gnutls_session_ticket_key_generate (&tls_ticket_key);
      if (r < 0)
        {
          net_tls_credentials_unref (credentials);
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                       "TLS: cannot generate a session ticket key: %s", gnutls_strerror (r));
          return FALSE;
        }
    }
  g_clear_pointer (&tls_current, net_tls_credentials_unref);
  tls_current = credentials;
  return TRUE;
}

gboolean
ph_tls_reload (GError **error)
{
  const PhSettings *settings = ph_settings ();
  NetTlsCredentials *credentials;

  if (settings->tls_certificate == NULL || settings->tls_certificate[0] == '\0')
    {
      if (tls_current != NULL)
        g_message ("TLS: no [tls] certificate any more; new sessions get no TLS");
      g_clear_pointer (&tls_current, net_tls_credentials_unref);
      return TRUE;
    }
  if (tls_ticket_key.data == NULL)
    return ph_tls_setup (error);

  credentials = tls_credentials_load (settings, error);
  if (credentials == NULL)
    return FALSE;
  g_clear_pointer (&tls_current, net_tls_credentials_unref);
  tls_current = credentials;
  g_message ("TLS: credentials reloaded from %s", settings->tls_certificate);
  return TRUE;
}

gboolean
ph_tls_available (void)
{
  return tls_current != NULL;
}

void
ph_tls_teardown (void)
{
  g_clear_pointer (&tls_current, net_tls_credentials_unref);
  if (tls_ticket_key.data != NULL)
    {
      gnutls_memset (tls_ticket_key.data, 0, tls_ticket_key.size);
      gnutls_free (tls_ticket_key.data);
      tls_ticket_key.data = NULL;
      tls_ticket_key.size = 0;
    }
}

gnutls_session_t
net_tls_session_new (int fd, NetTlsCredentials **out_credentials, GError **error)
{
  gnutls_session_t session = NULL;
  int r;

  if (tls_current == NULL)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                           "no TLS certificate is configured");
      return NULL;
    }
  r = gnutls_init (&session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
  if (r >= 0)
    r = gnutls_priority_set (session, tls_current->priority);
  if (r >= 0)
    r = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, tls_current->certificate);
  if (r >= 0)
    r = gnutls_session_ticket_enable_server (session, &tls_ticket_key);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "TLS session: %s", gnutls_strerror (r));
      if (session != NULL)
        gnutls_deinit (session);
      return NULL;
    }
  gnutls_certificate_server_set_request (session, GNUTLS_CERT_IGNORE);
  gnutls_handshake_set_timeout (session, 0);
  gnutls_transport_set_int (session, fd);
  *out_credentials = tls_credentials_ref (tls_current);
  return session;
}
