/* The auth API inside the real daemon, over real connections: the
 * test-auth-proto plugin (tests/auth/plugins) speaks a line protocol over
 * it, auth-passwd-file serves the fixture users. SCRAM-SHA-256-PLUS binds
 * to the actual TLS session (tls-exporter on TLS 1.3, tls-unique on 1.2);
 * failures on one connection end with LIMIT and a close.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <gsasl.h>
#include <string.h>

static PhTestServer *
start_server (void)
{
  g_autofree char *users = g_test_build_filename (G_TEST_DIST, "auth", "data", "users", NULL);
  g_autofree char *config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                                             "[auth]\nfailure_delay=20ms\n"
                                             "failure_delay_max=50ms\nmax_failures=3\n",
                                             users);
  PhTestServer *server = ph_test_server_create ("auth-passwd-file;test-auth-proto");

  ph_test_server_add_plugin_dir (server, TEST_AUTH_PROTO_PLUGIN_DIR);
  ph_test_server_append_config (server, config);
  ph_test_server_start_or_die (server);
  return server;
}

static PhTestClient *
connect_client (PhTestServer *server)
{
  PhTestClient *client = ph_test_client_connect (server, "authtest", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "+OK authtest");

  return client;
}

static void
starttls (PhTestClient *client, const char *priority)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;

  g_assert_true (ph_test_client_sendf (client, "STARTTLS\r\n"));
  reply = ph_test_client_expect_line_prefix (client, "+OK begin TLS");
  g_assert_true (ph_test_client_start_tls (client, priority, &error));
  g_assert_no_error (error);
}

static char *
command (PhTestClient *client, const char *line)
{
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", line));
  return ph_test_client_read_line (client);
}

static void
test_mechanisms (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autofree char *plain = command (client, "MECHS");
  g_autofree char *policy = command (client, "PLAINTEXT?");
  g_autofree char *tls = NULL;

  g_assert_cmpstr (plain, ==, "+OK SCRAM-SHA-256 PLAIN LOGIN");
  g_assert_cmpstr (policy, ==, "+OK yes");  /* loopback */
  starttls (client, NULL);
  tls = command (client, "MECHS");
  g_assert_cmpstr (tls, ==, "+OK SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN");
}

/* Runs a SASL exchange over the connection with a gsasl client; returns
 * the server's last line. */
static char *
sasl_exchange (PhTestClient *client, const char *mechanism, const char *user,
               const char *password, const char *cb_exporter_b64, const char *cb_unique_b64)
{
  Gsasl *ctx = NULL;
  Gsasl_session *sasl = NULL;
  char *out = NULL;
  char *line = NULL;

  g_assert_cmpint (gsasl_init (&ctx), ==, GSASL_OK);
  g_assert_cmpint (gsasl_client_start (ctx, mechanism, &sasl), ==, GSASL_OK);
  gsasl_property_set (sasl, GSASL_AUTHID, user);
  gsasl_property_set (sasl, GSASL_PASSWORD, password);
  if (cb_exporter_b64 != NULL)
    gsasl_property_set (sasl, GSASL_CB_TLS_EXPORTER, cb_exporter_b64);
  if (cb_unique_b64 != NULL)
    gsasl_property_set (sasl, GSASL_CB_TLS_UNIQUE, cb_unique_b64);

  g_assert_true (gsasl_step64 (sasl, "", &out) >= GSASL_OK);  /* OK or NEEDS_MORE */
  g_assert_true (ph_test_client_sendf (client, "AUTH %s %s\r\n", mechanism, out));
  gsasl_free (out);
  for (;;)
    {
      int rc;

      line = ph_test_client_read_line (client);
      g_assert_nonnull (line);
      if (!g_str_has_prefix (line, "+ "))
        break;
      rc = gsasl_step64 (sasl, line + 2, &out);
      g_assert_true (rc == GSASL_OK || rc == GSASL_NEEDS_MORE);
      g_assert_true (ph_test_client_sendf (client, "%s\r\n", out));
      gsasl_free (out);
      g_free (line);
    }
  if (g_str_has_prefix (line, "+OK ") && g_str_has_prefix (mechanism, "SCRAM-"))
    {
      /* SCRAM: check the server's signature */
      const char *final = strchr (line + 4, ' ');
      g_assert_nonnull (final);
      g_assert_cmpint (gsasl_step64 (sasl, final + 1, &out), ==, GSASL_OK);
      gsasl_free (out);
    }
  gsasl_finish (sasl);
  gsasl_done (ctx);
  return line;
}

static char *
client_channel_binding_b64 (PhTestClient *client, gnutls_channel_binding_t type)
{
  gnutls_datum_t cb = { NULL, 0 };
  char *b64;

  g_assert_cmpint (gnutls_session_channel_binding (ph_test_client_get_tls_session (client),
                                                   type, &cb), ==, 0);
  b64 = g_base64_encode (cb.data, cb.size);
  gnutls_free (cb.data);
  return b64;
}

static void
test_scram_plus_exporter (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autofree char *exporter = NULL;
  g_autofree char *reply = NULL;

  starttls (client, NULL);
  g_assert_cmpint (gnutls_protocol_get_version (ph_test_client_get_tls_session (client)), ==,
                   GNUTLS_TLS1_3);
  exporter = client_channel_binding_b64 (client, GNUTLS_CB_TLS_EXPORTER);
  reply = sasl_exchange (client, "SCRAM-SHA-256-PLUS", "scram@example.org", "pw-scram",
                         exporter, NULL);
  g_assert_true (g_str_has_prefix (reply, "+OK scram@example.org "));
}

static void
test_scram_plus_unique (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autofree char *unique = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *mitm = g_base64_encode ((const guchar *) "0123456789ab", 12);
  g_autofree char *refused = NULL;

  starttls (client, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
  unique = client_channel_binding_b64 (client, GNUTLS_CB_TLS_UNIQUE);
  /* a binding from another TLS session (a man in the middle) fails */
  refused = sasl_exchange (client, "SCRAM-SHA-256-PLUS", "both@example.org", "pw-both",
                           NULL, mitm);
  g_assert_true (g_str_has_prefix (refused, "-ERR AUTH_FAILED "));
  reply = sasl_exchange (client, "SCRAM-SHA-256-PLUS", "both@example.org", "pw-both",
                         NULL, unique);
  g_assert_true (g_str_has_prefix (reply, "+OK both@example.org "));
}

static void
test_plain_and_login (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autofree char *plain = sasl_exchange (client, "PLAIN", "Yescrypt@Example.org", "pw-yescrypt",
                                          NULL, NULL);
  g_autofree char *login = command (client, "LOGIN sha256@example.org pw-sha256");
  g_autofree char *exists = command (client, "EXISTS BLF@example.org");
  g_autofree char *missing = command (client, "EXISTS ghost@example.org");

  g_assert_cmpstr (plain, ==, "+OK yescrypt@example.org");
  g_assert_cmpstr (login, ==, "+OK sha256@example.org");
  g_assert_cmpstr (exists, ==, "+OK yes blf@example.org");
  g_assert_cmpstr (missing, ==, "+OK no");
}

static void
test_abort (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autofree char *challenge = command (client, "AUTH LOGIN");
  g_autofree char *aborted = NULL;
  g_autofree char *after = NULL;

  g_assert_true (g_str_has_prefix (challenge, "+ "));
  aborted = command (client, "*");
  g_assert_cmpstr (aborted, ==, "-ERR CANCELLED authentication aborted");
  after = command (client, "LOGIN plain@example.org pw-plain");
  g_assert_cmpstr (after, ==, "+OK plain@example.org");
}

/* Three failures on a connection: the last is LIMIT and the connection
 * closes; the delays grew (20 ms, 40 ms, then the 50 ms cap). A new
 * connection from the same peer starts a fresh count but keeps the peer's
 * delay. Unknown user and wrong password read the same. */
static void
test_limit (void)
{
  g_autoptr(PhTestServer) server = start_server ();
  g_autoptr(PhTestClient) client = connect_client (server);
  g_autoptr(PhTestClient) second = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autofree char *first = command (client, "LOGIN plain@example.org wrong");
  gint64 t1 = g_get_monotonic_time ();
  g_autofree char *unknown = command (client, "LOGIN nobody@example.org pw-plain");
  gint64 t2 = g_get_monotonic_time ();
  g_autofree char *bad = command (client, "AUTH PLAIN not*base64");
  g_autofree char *fresh = NULL;

  g_assert_cmpstr (first, ==, "-ERR AUTH_FAILED Authentication failed");
  g_assert_cmpstr (unknown, ==, first);
  g_assert_cmpint ((t1 - start) / 1000, >=, 20);
  g_assert_cmpint ((t2 - t1) / 1000, >=, 40);
  g_assert_true (g_str_has_prefix (bad, "-ERR LIMIT "));
  g_assert_true (ph_test_client_wait_closed (client, 5000));

  second = connect_client (server);
  fresh = command (second, "LOGIN plain@example.org pw-plain");
  g_assert_cmpstr (fresh, ==, "+OK plain@example.org");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("POSTHORND") == NULL)
    {
      g_test_skip ("POSTHORND not set: run through meson test");
      return g_test_run ();
    }
  /* the module as just built, not a copy in build/plugins/ */
  g_setenv ("POSTHORN_PLUGIN_DIR", AUTH_PASSWD_FILE_PLUGIN_DIR, TRUE);
  g_test_add_func ("/auth/net/mechanisms-plain-and-tls", test_mechanisms);
  g_test_add_func ("/auth/net/plain-login-exists", test_plain_and_login);
  g_test_add_func ("/auth/net/abort", test_abort);
  g_test_add_func ("/auth/net/scram-sha-256-plus/tls-exporter", test_scram_plus_exporter);
  g_test_add_func ("/auth/net/scram-sha-256-plus/tls-unique", test_scram_plus_unique);
  g_test_add_func ("/auth/net/failures-limit-and-close", test_limit);
  return g_test_run ();
}
