/* Self-signed certificates for tests, with the GnuTLS API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

#define CHECK(expr)                                                          \
  G_STMT_START {                                                             \
    int check_r_ = (expr);                                                   \
    if (check_r_ < 0)                                                        \
      g_error ("%s: %s", #expr, gnutls_strerror (check_r_));                 \
  } G_STMT_END

void
ph_test_make_certificate (const char *common_name, char **cert_pem, char **key_pem)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_datum_t out;
  guint8 serial[16];
  time_t now = time (NULL);

  CHECK (gnutls_x509_privkey_init (&key));
  CHECK (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                       GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0));
  CHECK (gnutls_x509_crt_init (&crt));
  CHECK (gnutls_x509_crt_set_version (crt, 3));
  for (gsize i = 0; i < sizeof serial; i++)
    serial[i] = (guint8) g_random_int_range (0, 256);
  serial[0] &= 0x7f;
  CHECK (gnutls_x509_crt_set_serial (crt, serial, sizeof serial));
  CHECK (gnutls_x509_crt_set_activation_time (crt, now - 3600));
  CHECK (gnutls_x509_crt_set_expiration_time (crt, now + 10 * 365 * 24 * 3600));
  CHECK (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                        common_name, (unsigned) strlen (common_name)));
  CHECK (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, common_name,
                                               (unsigned) strlen (common_name),
                                               GNUTLS_FSAN_SET));
  CHECK (gnutls_x509_crt_set_basic_constraints (crt, 0, -1));
  CHECK (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
  CHECK (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
  CHECK (gnutls_x509_crt_set_key (crt, key));
  CHECK (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0));

  CHECK (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out));
  *cert_pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);
  CHECK (gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &out));
  *key_pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);

  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
}

void
ph_test_write_certificate (const char *common_name,
                           const char *cert_path,
                           const char *key_path)
{
  static char *localhost_cert;
  static char *localhost_key;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr (GError) error = NULL;

  if (strcmp (common_name, "localhost") == 0)
    {
      if (localhost_cert == NULL)
        ph_test_make_certificate (common_name, &localhost_cert, &localhost_key);
      cert = g_strdup (localhost_cert);
      key = g_strdup (localhost_key);
    }
  else
    ph_test_make_certificate (common_name, &cert, &key);

  g_file_set_contents (cert_path, cert, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (key_path, key, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  g_assert_no_error (error);
}
