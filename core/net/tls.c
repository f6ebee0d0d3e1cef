/* TLS credentials ([tls] certificate, key, priority) with GnuTLS.
 *
 * The credentials in force are reference counted: every session holds the
 * set it started with, so a reload (SIGHUP) serves the new certificate to
 * new sessions and leaves the established ones untouched.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <gnutls/x509.h>
#include <string.h>

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
tls_read_file (const char *key, const char *path, gnutls_datum_t *out, char **out_text,
               GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, out_text, &length, &local_error))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG, "%s: [tls] %s: %s",
                   ph_settings ()->config_file, key, local_error->message);
      return FALSE;
    }
  out->data = (unsigned char *) *out_text;
  out->size = (unsigned int) length;
  return TRUE;
}

/* Parses the PEM texts first so that a bad file gets a precise message
 * (and GnuTLS's loader only ever sees input it accepts). */
static gboolean
tls_check_pem (const char *certificate, const gnutls_datum_t *cert_data,
               const char *key, const gnutls_datum_t *key_data, GError **error)
{
  const char *config_file = ph_settings ()->config_file;
  gnutls_x509_crt_t *chain = NULL;
  unsigned int chain_length = 0;
  gnutls_x509_privkey_t private_key = NULL;
  int r;

  r = gnutls_x509_crt_list_import2 (&chain, &chain_length, cert_data, GNUTLS_X509_FMT_PEM, 0);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: [tls] certificate: %s: %s", config_file, certificate,
                   r == GNUTLS_E_NO_CERTIFICATE_FOUND ? "no PEM certificate in the file"
                                                      : gnutls_strerror (r));
      return FALSE;
    }
  for (unsigned int i = 0; i < chain_length; i++)
    gnutls_x509_crt_deinit (chain[i]);
  gnutls_free (chain);

  r = gnutls_x509_privkey_init (&private_key);
  if (r >= 0)
    r = gnutls_x509_privkey_import2 (private_key, key_data, GNUTLS_X509_FMT_PEM, NULL, 0);
  if (private_key != NULL)
    gnutls_x509_privkey_deinit (private_key);
  if (r < 0)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "%s: [tls] key: %s: %s", config_file, key, gnutls_strerror (r));
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
  g_autofree char *cert_text = NULL;
  g_autofree char *key_text = NULL;
  gnutls_datum_t cert_data;
  gnutls_datum_t key_data;
  int r;

  credentials->ref_count = 1;

  if (!tls_read_file ("certificate", certificate, &cert_data, &cert_text, error) ||
      !tls_read_file ("key", key, &key_data, &key_text, error) ||
      !tls_check_pem (certificate, &cert_data, key, &key_data, error))
    {
      if (key_text != NULL)
        gnutls_memset (key_text, 0, key_data.size);
      return NULL;
    }

  r = gnutls_certificate_allocate_credentials (&credentials->certificate);
  if (r >= 0)
    r = gnutls_certificate_set_x509_key_mem2 (credentials->certificate, &cert_data, &key_data,
                                              GNUTLS_X509_FMT_PEM, NULL, 0);
  gnutls_memset (key_text, 0, key_data.size);
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
