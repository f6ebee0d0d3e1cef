/* The networking layer against the real posthornd, driven through the
 * test-echo protocol plugin (tests/net/plugins/test-echo.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
  PhTestServer *server;
} Fixture;

static PhTestServer *
echo_server_create (const char *extra)
{
  PhTestServer *server = ph_test_server_create ("test-echo");

  ph_test_server_add_plugin_dir (server, TEST_ECHO_PLUGIN_DIR);
  ph_test_server_append_config (server, extra);
  return server;
}

static PhTestServer *
echo_server_new (const char *extra)
{
  PhTestServer *server = echo_server_create (extra);

  ph_test_server_start_or_die (server);
  return server;
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->server, ph_test_server_free);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->server = echo_server_new (data);
}

static void
expect_line (PhTestClient *client, const char *expected)
{
  g_autofree char *line = ph_test_client_read_line (client);
  g_assert_cmpstr (line, ==, expected);
}

static PhTestClient *
echo_connect (PhTestServer *server, gboolean tls)
{
  PhTestClient *client = ph_test_client_connect (server, "echo", tls);
  expect_line (client, "+OK echo ready");
  return client;
}

static char *
hex_of (const guint8 *data, gsize size)
{
  GString *hex = g_string_new (NULL);

  for (gsize i = 0; i < size; i++)
    g_string_append_printf (hex, "%02x", data[i]);
  return g_string_free (hex, FALSE);
}

/* ---- TLS ---- */

static void
check_implicit_tls (Fixture *fixture, const char *priority, gnutls_protocol_t version,
                    gnutls_channel_binding_t cb_type, const char *cb_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhTestClient) client = NULL;
  gnutls_datum_t cb = { NULL, 0 };
  g_autofree char *cb_hex = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *cn = NULL;

  client = ph_test_client_new ("127.0.0.1", ph_test_server_get_port (fixture->server, "echo", TRUE),
                               TRUE, priority, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gnutls_protocol_get_version (ph_test_client_get_tls_session (client)), ==, version);
  cn = ph_test_client_get_peer_common_name (client);
  g_assert_cmpstr (cn, ==, "localhost");

  expect_line (client, "+OK echo ready");
  ph_test_client_send (client, "TLS?\r\nECHO over tls\r\n", -1);
  expect_line (client, "+OK tls");
  expect_line (client, "+OK over tls");

  /* The channel binding the server reports is the client's. */
  g_assert_cmpint (gnutls_session_channel_binding (ph_test_client_get_tls_session (client),
                                                   cb_type, &cb), ==, 0);
  cb_hex = hex_of (cb.data, cb.size);
  gnutls_free (cb.data);
  ph_test_client_sendf (client, "CBIND %s\r\n", cb_name);
  expected = g_strdup_printf ("+OK %s", cb_hex);
  expect_line (client, expected);
}

static void
test_tls_implicit_12 (Fixture *fixture, gconstpointer data)
{
  check_implicit_tls (fixture, "NORMAL:-VERS-ALL:+VERS-TLS1.2", GNUTLS_TLS1_2,
                      GNUTLS_CB_TLS_UNIQUE, "unique");
}

static void
test_tls_implicit_13 (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = NULL;

  check_implicit_tls (fixture, "NORMAL:-VERS-ALL:+VERS-TLS1.3", GNUTLS_TLS1_3,
                      GNUTLS_CB_TLS_EXPORTER, "exporter");

  /* tls-unique does not exist for TLS 1.3. */
  client = ph_test_client_new ("127.0.0.1", ph_test_server_get_port (fixture->server, "echo", TRUE),
                               TRUE, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
  g_assert_nonnull (client);
  expect_line (client, "+OK echo ready");
  ph_test_client_send (client, "CBIND unique\r\n", -1);
  g_free (ph_test_client_expect_line_prefix (client, "-ERR"));
}

static void
check_resumption (Fixture *fixture, const char *priority)
{
  guint16 port = ph_test_server_get_port (fixture->server, "echo", TRUE);
  g_autoptr (PhTestClient) first = NULL;
  g_autoptr (PhTestClient) second = NULL;
  g_autoptr (GBytes) ticket = NULL;
  g_autoptr (GError) error = NULL;

  first = ph_test_client_new ("127.0.0.1", port, TRUE, priority, &error);
  g_assert_no_error (error);
  expect_line (first, "+OK echo ready");
  g_assert_false (ph_test_client_is_resumed (first));
  ticket = ph_test_client_get_session_data (first);
  g_assert_nonnull (ticket);

  second = ph_test_client_new_full ("127.0.0.1", port, TRUE, priority, ticket, &error);
  g_assert_no_error (error);
  g_assert_true (ph_test_client_is_resumed (second));
  expect_line (second, "+OK echo ready");
  ph_test_client_send (second, "TLS?\r\n", -1);
  expect_line (second, "+OK tls");
}

static void
test_tls_resumption_12 (Fixture *fixture, gconstpointer data)
{
  check_resumption (fixture, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
}

static void
test_tls_resumption_13 (Fixture *fixture, gconstpointer data)
{
  check_resumption (fixture, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
}

static void
test_tls_implicit_garbage (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhTestClient) bad = NULL;
  g_autoptr (PhTestClient) good = NULL;

  /* Plaintext on the TLS port: the handshake fails, the server goes on. */
  bad = ph_test_client_new ("127.0.0.1", ph_test_server_get_port (fixture->server, "echo", TRUE),
                            FALSE, NULL, &error);
  g_assert_no_error (error);
  ph_test_client_send (bad, "ECHO hello\r\n", -1);
  g_assert_true (ph_test_client_wait_closed (bad, 5000));

  good = echo_connect (fixture->server, TRUE);
  ph_test_client_send (good, "ECHO still here\r\n", -1);
  expect_line (good, "+OK still here");
}

static void
test_tls_starttls (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autoptr (GError) error = NULL;

  ph_test_client_send (client, "TLS?\r\n", -1);
  expect_line (client, "+OK plain");
  ph_test_client_send (client, "STARTTLS\r\n", -1);
  expect_line (client, "+OK begin TLS");
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  ph_test_client_send (client, "TLS?\r\nECHO secret\r\n", -1);
  expect_line (client, "+OK tls");
  expect_line (client, "+OK secret");

  /* A second STARTTLS inside TLS is refused by closing. */
  ph_test_client_send (client, "STARTTLS\r\n", -1);
  expect_line (client, "+OK begin TLS");
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

static void
test_tls_starttls_injection (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autoptr (GError) error = NULL;
  g_autofree char *extra = NULL;

  /* CVE-2011-0411: plaintext pipelined after STARTTLS must not run. */
  ph_test_client_send (client, "STARTTLS\r\nECHO injected\r\n", -1);
  expect_line (client, "+OK begin TLS");
  g_assert_true (ph_test_client_start_tls (client, NULL, &error));
  g_assert_no_error (error);
  ph_test_client_send (client, "ECHO after\r\n", -1);
  expect_line (client, "+OK after");
  extra = ph_test_client_read_line_timeout (client, 300);
  g_assert_null (extra);
}

static void
write_file (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static char *
tls_peer_cn (PhTestServer *server)
{
  g_autoptr (PhTestClient) client = NULL;

  client = ph_test_client_new ("127.0.0.1", ph_test_server_get_port (server, "echo", TRUE),
                               TRUE, NULL, NULL);
  if (client == NULL)
    return NULL;
  return ph_test_client_get_peer_common_name (client);
}

static void
test_tls_reload (Fixture *fixture, gconstpointer data)
{
  PhTestServer *server = fixture->server;
  g_autoptr (PhTestClient) old = echo_connect (server, TRUE);
  g_autofree char *cn = NULL;
  gint64 deadline;

  ph_test_write_certificate ("reloaded.test", ph_test_server_get_cert_path (server),
                             ph_test_server_get_key_path (server));
  ph_test_server_signal (server, SIGHUP);

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  do
    {
      g_clear_pointer (&cn, g_free);
      g_usleep (50 * 1000);
      cn = tls_peer_cn (server);
    }
  while (g_strcmp0 (cn, "reloaded.test") != 0 && g_get_monotonic_time () < deadline);
  g_assert_cmpstr (cn, ==, "reloaded.test");

  /* The session from before the reload goes on with its old certificate. */
  ph_test_client_send (old, "ECHO old session\r\n", -1);
  expect_line (old, "+OK old session");
  g_clear_pointer (&cn, g_free);
  cn = ph_test_client_get_peer_common_name (old);
  g_assert_cmpstr (cn, ==, "localhost");
}

static void
test_tls_reload_broken (Fixture *fixture, gconstpointer data)
{
  PhTestServer *server = fixture->server;
  g_autoptr (PhTestClient) old = echo_connect (server, TRUE);
  g_autofree char *cn = NULL;

  write_file (ph_test_server_get_cert_path (server), "-----BEGIN CERTIFICATE-----\nnot base64\n");
  ph_test_server_signal (server, SIGHUP);
  g_usleep (300 * 1000);
  g_assert_true (ph_test_server_is_running (server));

  cn = tls_peer_cn (server);
  g_assert_cmpstr (cn, ==, "localhost");
  ph_test_client_send (old, "ECHO alive\r\n", -1);
  expect_line (old, "+OK alive");
}

/* ---- lines ---- */

static void
test_lines_too_long (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autofree char *fill = g_strnfill (95, 'x');
  g_autofree char *expected = g_strconcat ("+OK ", fill, NULL);
  g_autofree char *big = g_strnfill (3000, 'y');

  /* Exactly the limit (100) passes. */
  ph_test_client_sendf (client, "ECHO %s\r\n", fill);
  expect_line (client, expected);

  /* One over in one packet, then a long one in several packets. */
  ph_test_client_sendf (client, "ECHO %sz\r\n", fill);
  expect_line (client, "-ERR line too long");
  ph_test_client_send (client, "ECHO ", -1);
  for (int i = 0; i < 3; i++)
    {
      ph_test_client_send (client, big, -1);
      g_usleep (20 * 1000);
    }
  ph_test_client_send (client, "\r\nECHO next\r\n", -1);
  expect_line (client, "-ERR line too long");
  expect_line (client, "+OK next");

  /* A bare LF ends a line too, and is reported. */
  ph_test_client_send (client, "ECHO bare\n", -1);
  expect_line (client, "+OK[LF] bare");
}

/* An input filter (ROT13) sees what follows the command that installs
 * it, also bytes already buffered; corrupt input closes the connection. */
static void
test_input_filter (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);

  ph_test_client_send (client, "ROT13\r\nRPUB cvcryvarq\r\n", -1);
  expect_line (client, "+OK rot13");
  expect_line (client, "+OK pipelined");
  ph_test_client_send (client, "RPUB ", -1);
  g_usleep (20 * 1000);
  ph_test_client_send (client, "nsgre\r\n", -1);
  expect_line (client, "+OK after");
  ph_test_client_send (client, "RPUB \0\r\n", 8);
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

static void
test_lines_split_long (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autofree char *big = g_strnfill (250, 'x');

  ph_test_client_sendf (client, "ECHO %s\r\n", big);
  expect_line (client, "+OK long line 255 bytes");

  /* Across packets, with a CR at a piece boundary. */
  ph_test_client_send (client, big, 99);
  g_usleep (20 * 1000);
  ph_test_client_send (client, "\r", 1);
  g_usleep (20 * 1000);
  ph_test_client_send (client, big, 150);
  ph_test_client_send (client, "\r\nECHO short\r\n", -1);
  expect_line (client, "+OK long line 250 bytes");
  expect_line (client, "+OK short");
}

/* ---- exact-length reads ---- */

static guint32
fnv1a (const guint8 *data, gsize size)
{
  guint32 hash = 2166136261u;

  for (gsize i = 0; i < size; i++)
    {
      hash ^= data[i];
      hash *= 16777619u;
    }
  return hash;
}

static void
check_bytes_across_packets (Fixture *fixture, gboolean tls)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, tls);
  const gsize size = 100000;
  g_autofree guint8 *literal = g_malloc (size);
  g_autofree char *expected = NULL;
  const gsize cuts[] = { 1, 7, 4096, 30000, 65536 };
  gsize sent = 0;

  for (gsize i = 0; i < size; i++)
    literal[i] = (guint8) g_random_int_range (0, 256);
  literal[10] = '\r';
  literal[11] = '\n';
  literal[12] = '\0';

  /* The command and the first byte in one packet, then uneven pieces; the
   * next command follows the last byte in the same packet. */
  {
    g_autofree char *first = g_strdup_printf ("LITERAL %" G_GSIZE_FORMAT "\r\nX", size);
    literal[0] = 'X';
    ph_test_client_send (client, first, -1);
    sent = 1;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cuts) && sent < size; i++)
    {
      gsize n = MIN (cuts[i], size - sent - 1);
      ph_test_client_send (client, literal + sent, (gssize) n);
      sent += n;
      g_usleep (10 * 1000);
    }
  {
    g_autoptr (GByteArray) last = g_byte_array_new ();
    g_byte_array_append (last, literal + sent, (guint) (size - sent));
    g_byte_array_append (last, (const guint8 *) "ECHO after\r\n", 12);
    ph_test_client_send (client, last->data, last->len);
  }
  expected = g_strdup_printf ("+OK got %" G_GSIZE_FORMAT " bytes %08x", size, fnv1a (literal, size));
  expect_line (client, expected);
  expect_line (client, "+OK after");

  ph_test_client_send (client, "LITERAL 0\r\nECHO zero\r\n", -1);
  expect_line (client, "+OK got 0 bytes 811c9dc5");
  expect_line (client, "+OK zero");
}

static void
test_bytes_across_packets (Fixture *fixture, gconstpointer data)
{
  check_bytes_across_packets (fixture, FALSE);
}

static void
test_bytes_across_packets_tls (Fixture *fixture, gconstpointer data)
{
  check_bytes_across_packets (fixture, TRUE);
}

/* ---- pipelining ---- */

static void
test_input_pipelining_pause (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, TRUE);
  gint64 start = g_get_monotonic_time ();

  ph_test_client_send (client, "PAUSE 300\r\nECHO one\r\nPAUSE 10\r\nECHO two\r\n", -1);
  expect_line (client, "+OK paused 300");
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 250 * 1000);
  expect_line (client, "+OK one");
  expect_line (client, "+OK paused 10");
  expect_line (client, "+OK two");
}

/* ---- idle timeout ---- */

static void
test_idle_timeout (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) idle = echo_connect (fixture->server, FALSE);
  g_autoptr (PhTestClient) busy = echo_connect (fixture->server, FALSE);
  gint64 start = g_get_monotonic_time ();
  g_autofree char *line = NULL;

  /* The busy one talks every 400 ms for 2.4 s and stays. */
  for (int i = 0; i < 6; i++)
    {
      g_usleep (400 * 1000);
      ph_test_client_send (busy, "ECHO ping\r\n", -1);
      expect_line (busy, "+OK ping");
    }
  line = ph_test_client_read_line_timeout (idle, 3000);
  g_assert_cmpstr (line, ==, "-ERR idle timeout");
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);
  g_assert_true (ph_test_client_wait_closed (idle, 3000));
}

/* ---- limits ---- */

static void
check_limit (PhTestServer *server, guint limit)
{
  g_autoptr (GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) ph_test_client_free);
  g_autoptr (PhTestClient) refused = NULL;
  g_autoptr (PhTestClient) again = NULL;
  g_autofree char *line = NULL;
  g_autofree char *log = NULL;
  gint64 deadline;

  for (guint i = 0; i < limit; i++)
    g_ptr_array_add (clients, echo_connect (server, FALSE));
  refused = ph_test_client_connect (server, "echo", FALSE);
  expect_line (refused, "-ERR too many connections");
  g_assert_true (ph_test_client_wait_closed (refused, 3000));
  log = ph_test_server_get_log (server);
  g_assert_nonnull (strstr (log, "echo: refused a connection from 127.0.0.1: [core] max_connections"));

  /* A slot frees up when a session ends. */
  ph_test_client_send (g_ptr_array_index (clients, 0), "QUIT\r\n", -1);
  expect_line (g_ptr_array_index (clients, 0), "+OK bye");
  g_assert_true (ph_test_client_wait_closed (g_ptr_array_index (clients, 0), 3000));
  deadline = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  do
    {
      g_clear_pointer (&again, ph_test_client_free);
      g_clear_pointer (&line, g_free);
      again = ph_test_client_connect (server, "echo", FALSE);
      line = ph_test_client_read_line (again);
    }
  while (g_strcmp0 (line, "+OK echo ready") != 0 && g_get_monotonic_time () < deadline);
  g_assert_cmpstr (line, ==, "+OK echo ready");
}

static void
test_limits_per_ip (Fixture *fixture, gconstpointer data)
{
  check_limit (fixture->server, 2);
}

static void
test_limits_total (Fixture *fixture, gconstpointer data)
{
  check_limit (fixture->server, 3);
}

/* ---- back-pressure ---- */

static void
check_slow_reader (Fixture *fixture, gboolean tls, guint64 total)
{
  PhTestServer *server = fixture->server;
  g_autoptr (PhTestClient) client = echo_connect (server, tls);
  g_autofree char *header = g_strdup_printf ("+OK big %" G_GUINT64_FORMAT, total);
  guint64 rss_before = ph_test_server_get_rss_kb (server);
  guint64 rss_during = 0;
  guint64 rss_after;
  guint64 received = 0;

  g_assert_cmpuint (rss_before, >, 0);
  ph_test_client_sendf (client, "BIG %" G_GUINT64_FORMAT "\r\nECHO after big\r\n", total);
  for (int i = 0; i < 6; i++)
    {
      g_usleep (250 * 1000);
      rss_during = MAX (rss_during, ph_test_server_get_rss_kb (server));
    }
  g_test_message ("VmRSS before %" G_GUINT64_FORMAT " KiB, while stalled %" G_GUINT64_FORMAT " KiB",
                  rss_before, rss_during);
  g_assert_cmpuint (rss_during, <, rss_before + 20 * 1024);

  expect_line (client, header);
  ph_test_client_set_timeout (client, 20000);
  while (received < total)
    {
      gsize n = (gsize) MIN (total - received, (guint64) 1048576);
      g_autoptr (GBytes) chunk = ph_test_client_read_exact (client, n);
      const guint8 *bytes;

      g_assert_nonnull (chunk);
      bytes = g_bytes_get_data (chunk, NULL);
      for (gsize i = 0; i < n; i += 4093)
        g_assert_cmpint (bytes[i], ==, 'a' + (int) ((received + i) % 26));
      g_assert_cmpint (bytes[n - 1], ==, 'a' + (int) ((received + n - 1) % 26));
      received += n;
    }
  expect_line (client, "+OK done");
  expect_line (client, "+OK after big");
  rss_after = ph_test_server_get_rss_kb (server);
  g_test_message ("VmRSS after %" G_GUINT64_FORMAT " KiB", rss_after);
#if !defined(__SANITIZE_ADDRESS__)
  /* (AddressSanitizer's quarantine keeps freed memory resident.) */
  g_assert_cmpuint (rss_after, <, rss_before + 20 * 1024);
#endif
}

static void
test_bytes_started_later (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autofree char *expected = g_strdup_printf ("+OK got 5 bytes %08x",
                                               fnv1a ((const guint8 *) "ab\ncd", 5));

  /* The literal is already buffered when the read starts from a timer. */
  ph_test_client_send (client, "LATER 5\r\nab\ncdECHO next\r\n", -1);
  expect_line (client, expected);
  expect_line (client, "+OK next");
}

static void
test_output_notify_drained (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);

  /* Below the low-water mark already: the callback comes from the loop. */
  ph_test_client_send (client, "DRAINED\r\nECHO x\r\n", -1);
  expect_line (client, "+OK x");
  expect_line (client, "+OK drained");
}

static void
test_output_slow_reader (Fixture *fixture, gconstpointer data)
{
  check_slow_reader (fixture, FALSE, 200000000);
}

static void
test_output_slow_reader_tls (Fixture *fixture, gconstpointer data)
{
  check_slow_reader (fixture, TRUE, 30000000);
}

/* ---- sessions ---- */

static void
test_session_list_and_counters (Fixture *fixture, gconstpointer data)
{
  PhTestServer *server = fixture->server;
  g_autoptr (PhTestClient) alice = echo_connect (server, FALSE);
  g_autoptr (PhTestClient) bob = echo_connect (server, TRUE);
  g_autoptr (PhTestClient) refused = NULL;
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *alice_id = NULL;
  g_autofree char *line = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gboolean seen_alice = FALSE;

  ph_test_client_send (alice, "ID\r\nUSER alice@example.org\r\n", -1);
  alice_id = ph_test_client_expect_line_prefix (alice, "+OK ");
  expect_line (alice, "+OK");
  refused = ph_test_client_connect (server, "echo", FALSE);
  expect_line (refused, "-ERR too many connections");

  ph_test_client_send (bob, "STATS\r\n", -1);
  while ((line = ph_test_client_read_line (bob)) != NULL && line[0] == '*')
    {
      g_auto (GStrv) fields = g_strsplit (line, " ", -1);
      g_assert_cmpuint (g_strv_length (fields), ==, 6);
      g_assert_cmpstr (fields[2], ==, "127.0.0.1");
      g_assert_cmpint (ABS (g_ascii_strtoll (fields[5], NULL, 10) - now), <, 30);
      if (strcmp (fields[1], alice_id + 4) == 0)
        {
          g_assert_cmpstr (fields[3], ==, "alice@example.org");
          g_assert_cmpstr (fields[4], ==, "auth");
          seen_alice = TRUE;
        }
      else
        {
          g_assert_cmpstr (fields[3], ==, "-");
          g_assert_cmpstr (fields[4], ==, "new");
        }
      g_ptr_array_add (lines, g_steal_pointer (&line));
    }
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_true (seen_alice);
  g_assert_cmpstr (line, ==, "+OK connections=2 refused=1");
}

static void
test_session_switch_handler (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);

  ph_test_client_send (client, "SWITCH\r\nECHO after switch\r\nSWITCH\r\nQUIT\r\n", -1);
  expect_line (client, "+OK switched");
  expect_line (client, "+OK after switch");
  expect_line (client, "+OK switched");
  expect_line (client, "+OK bye");
  g_assert_true (ph_test_client_wait_closed (client, 3000));
}

static void
test_session_log_prefix (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autofree char *id_line = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *log = NULL;

  ph_test_client_send (client, "ID\r\n", -1);
  id_line = ph_test_client_expect_line_prefix (client, "+OK ");
  ph_test_client_send (client, "USER alice@example.org\r\n", -1);
  expect_line (client, "+OK");
  expected = g_strdup_printf ("echo[%s] 127.0.0.1 alice@example.org: user set", id_line + 4);
  log = ph_test_server_get_log (fixture->server);
  g_assert_nonnull (strstr (log, expected));
}

static void
test_idle_per_connection (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autofree char *line = NULL;

  /* The service default is 300 s; this connection asks for 1 s. */
  ph_test_client_send (client, "IDLE 1\r\n", -1);
  expect_line (client, "+OK");
  line = ph_test_client_read_line_timeout (client, 3000);
  g_assert_cmpstr (line, ==, "-ERR idle timeout");
}

static void
test_tls_handshake_timeout (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PhTestClient) silent = NULL;

  /* A client that never says ClientHello is dropped by the idle timeout. */
  silent = ph_test_client_new ("127.0.0.1", ph_test_server_get_port (fixture->server, "echo", TRUE),
                               FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ph_test_client_wait_closed (silent, 4000));
}

/* ---- closing ---- */

static void
test_close_abort_in_callback (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);
  g_autoptr (PhTestClient) other = echo_connect (fixture->server, FALSE);
  g_autofree char *line = NULL;

  /* Lines pipelined after ABORT are never answered. */
  ph_test_client_send (client, "ABORT\r\nECHO after\r\n", -1);
  line = ph_test_client_read_line (client);
  g_assert_null (line);
  g_assert_true (ph_test_client_wait_closed (client, 3000));

  ph_test_client_send (other, "ECHO unaffected\r\n", -1);
  expect_line (other, "+OK unaffected");
}

static void
test_close_client_half_close (Fixture *fixture, gconstpointer data)
{
  g_autoptr (PhTestClient) client = echo_connect (fixture->server, FALSE);

  /* Lines before the client's FIN are answered, even while input is
   * paused when it arrives; then the server closes. */
  ph_test_client_send (client, "PAUSE 200\r\nECHO one\r\nECHO two\r\n", -1);
  g_assert_cmpint (shutdown (ph_test_client_get_fd (client), SHUT_WR), ==, 0);
  expect_line (client, "+OK paused 200");
  expect_line (client, "+OK one");
  expect_line (client, "+OK two");
  g_assert_true (ph_test_client_wait_closed (client, 3000));
}

/* ---- memory ---- */

static void
check_memory_idle_sessions (Fixture *fixture, gboolean tls, guint count, guint64 max_kib_each)
{
  PhTestServer *server = fixture->server;
  g_autoptr (GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) ph_test_client_free);
  guint64 before;
  guint64 after;

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("memory use is not meaningful under AddressSanitizer");
  return;
#endif

  /* Warm up allocator pools with a few sessions first. */
  for (guint i = 0; i < 10; i++)
    g_ptr_array_add (clients, echo_connect (server, tls));
  before = ph_test_server_get_rss_kb (server);
  for (guint i = 0; i < count; i++)
    g_ptr_array_add (clients, echo_connect (server, tls));
  after = ph_test_server_get_rss_kb (server);
  g_test_message ("%u idle %s sessions: VmRSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                  " KiB (%.1f KiB each)", count, tls ? "TLS" : "plaintext", before, after,
                  (double) (after - before) / count);
  g_assert_cmpuint (after - before, <, count * max_kib_each);

  /* They all still work. */
  for (guint i = 0; i < clients->len; i += 50)
    {
      ph_test_client_send (g_ptr_array_index (clients, i), "ECHO alive\r\n", -1);
      expect_line (g_ptr_array_index (clients, i), "+OK alive");
    }
}

static void
test_memory_idle_sessions (Fixture *fixture, gconstpointer data)
{
  check_memory_idle_sessions (fixture, FALSE, 400, 4);
}

static void
test_memory_idle_sessions_tls (Fixture *fixture, gconstpointer data)
{
  check_memory_idle_sessions (fixture, TRUE, 100, 48);
}

/* ---- daemon signals ---- */

static void
test_daemon_sigterm (Fixture *fixture, gconstpointer data)
{
  PhTestServer *server = fixture->server;
  g_autoptr (PhTestClient) plain = echo_connect (server, FALSE);
  g_autoptr (PhTestClient) tls = echo_connect (server, TRUE);
  g_autoptr (PhTestClient) late = NULL;
  g_autoptr (GError) error = NULL;
  guint16 port = ph_test_server_get_port (server, "echo", FALSE);
  int status = -1;

  ph_test_server_signal (server, SIGTERM);
  expect_line (plain, "-ERR shutting down");
  expect_line (tls, "-ERR shutting down");
  g_assert_true (ph_test_client_wait_closed (plain, 5000));
  g_assert_true (ph_test_client_wait_closed (tls, 5000));
  g_assert_true (ph_test_server_wait (server, 10000, &status));
  g_assert_cmpint (status, ==, 0);

  late = ph_test_client_new ("127.0.0.1", port, FALSE, NULL, &error);
  g_assert_null (late);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

/* ---- listeners ---- */

static gboolean
have_ipv6_loopback (void)
{
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  int fd = socket (AF_INET6, SOCK_STREAM, 0);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = bind (fd, (struct sockaddr *) &sin6, sizeof sin6) == 0;
  close (fd);
  return ok;
}

static void
test_listen_ipv6 (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autoptr (PhTestClient) client = NULL;
  g_autoptr (GError) error = NULL;
  guint16 port;

  if (!have_ipv6_loopback ())
    {
      g_test_skip ("no IPv6 loopback address on this machine");
      return;
    }
  server = echo_server_new ("[test-echo]\nlisten=[::1]:0;127.0.0.1:0\n");
  port = ph_test_server_find_port (server, "echo", "::1", FALSE);
  g_assert_cmpuint (port, !=, 0);
  client = ph_test_client_new ("::1", port, FALSE, NULL, &error);
  g_assert_no_error (error);
  expect_line (client, "+OK echo ready");
  ph_test_client_send (client, "ECHO six\r\n", -1);
  expect_line (client, "+OK six");
}

static void
test_listen_wildcard (void)
{
  g_autoptr (PhTestServer) server = echo_server_new ("[test-echo]\nlisten=*:0\nlisten_tls=\n");
  g_autoptr (PhTestClient) v4 = NULL;
  g_autoptr (GError) error = NULL;
  guint16 port4 = ph_test_server_find_port (server, "echo", "0.0.0.0", FALSE);
  guint16 port6 = ph_test_server_find_port (server, "echo", "::", FALSE);

  g_assert_cmpuint (port4, !=, 0);
  g_assert_cmpuint (ph_test_server_find_port (server, "echo", NULL, TRUE), ==, 0);
  v4 = ph_test_client_new ("127.0.0.1", port4, FALSE, NULL, &error);
  g_assert_no_error (error);
  expect_line (v4, "+OK echo ready");

  if (!have_ipv6_loopback ())
    return;
  /* The IPv6 half takes the same port. */
  g_assert_cmpuint (port6, ==, port4);
  {
    g_autoptr (PhTestClient) v6 = ph_test_client_new ("::1", port6, FALSE, NULL, &error);
    g_assert_no_error (error);
    expect_line (v6, "+OK echo ready");
  }
}

static void
test_listen_unix (void)
{
  g_autoptr (PhTestServer) server = echo_server_create (NULL);
  g_autofree char *path = g_build_filename (ph_test_server_get_dir (server), "echo.sock", NULL);
  g_autofree char *extra = g_strdup_printf ("[test-echo]\nlisten=unix:%s\n", path);
  g_autofree char *expected_line = g_strdup_printf ("echo %s 0 plain\n", path);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  g_autoptr (PhTestClient) client = NULL;
  g_autoptr (GError) error = NULL;
  int fd;

  /* A stale socket file from a crashed run is replaced. */
  g_strlcpy (sun.sun_path, path, sizeof sun.sun_path);
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sun, sizeof sun), ==, 0);
  close (fd);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  ph_test_server_append_config (server, extra);
  ph_test_server_start_or_die (server);
  g_assert_nonnull (strstr (ph_test_server_get_ports_text (server), expected_line));

  client = ph_test_client_new_unix (path, &error);
  g_assert_no_error (error);
  expect_line (client, "+OK echo ready");
  ph_test_client_send (client, "ECHO local\r\n", -1);
  expect_line (client, "+OK local");
  g_clear_pointer (&client, ph_test_client_free);

  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

/* ---- config errors ---- */

static char *
start_expecting_failure (PhTestServer *server)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (ph_test_server_start (server, &error));
  g_assert_nonnull (error);
  return ph_test_server_get_log (server);
}

/* The log holds one line with every one of @needles. */
static void
assert_log_line (const char *log, const char *const *needles)
{
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      gboolean all = TRUE;
      for (guint j = 0; needles[j] != NULL && all; j++)
        all = strstr (lines[i], needles[j]) != NULL;
      if (all)
        return;
    }
  g_error ("no line of the daemon's output holds all of '%s', ...:\n%s", needles[0], log);
}

static void
test_config_duplicate_listener (void)
{
  {
    g_autoptr (PhTestServer) server =
      echo_server_create ("[test-echo]\nlisten=127.0.0.1:24911;127.0.0.1:24911\n");
    g_autofree char *log = start_expecting_failure (server);
    const char *needles[] = { "[test-echo] listen", "127.0.0.1:24911", "already used", NULL };
    assert_log_line (log, needles);
  }
  {
    g_autoptr (PhTestServer) server =
      echo_server_create ("[test-echo]\nlisten=*:24912\nlisten_tls=127.0.0.1:24912\n");
    g_autofree char *log = start_expecting_failure (server);
    const char *needles[] = { "[test-echo] listen_tls", "127.0.0.1:24912", "echo", "listen", NULL };
    assert_log_line (log, needles);
  }
}

static void
test_config_bad_port (void)
{
  g_autoptr (PhTestServer) server = echo_server_create ("[test-echo]\nlisten=127.0.0.1:99999\n");
  g_autofree char *log = start_expecting_failure (server);
  const char *needles[] = { "[test-echo] listen", "99999", "port", NULL };

  assert_log_line (log, needles);
}

static void
test_config_bad_address (void)
{
  g_autoptr (PhTestServer) server = echo_server_create ("[test-echo]\nlisten=localhost:143\n");
  g_autofree char *log = start_expecting_failure (server);
  const char *needles[] = { "[test-echo] listen", "localhost", "numeric", NULL };

  assert_log_line (log, needles);
}

static void
test_config_tls_without_certificate (void)
{
  g_autoptr (PhTestServer) server = echo_server_create (NULL);
  g_autofree char *log = NULL;
  const char *needles[] = { "[test-echo] listen_tls", "certificate", NULL };

  ph_test_server_set_tls (server, FALSE);
  log = start_expecting_failure (server);
  assert_log_line (log, needles);
}

static void
test_config_ports_file (Fixture *fixture, gconstpointer data)
{
  const char *text = ph_test_server_get_ports_text (fixture->server);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  g_assert_cmpuint (g_strv_length (lines), ==, 3);  /* two lines and "" */
  g_assert_true (g_str_has_prefix (lines[0], "echo 127.0.0.1 "));
  g_assert_true (g_str_has_suffix (lines[0], " plain"));
  g_assert_true (g_str_has_prefix (lines[1], "echo 127.0.0.1 "));
  g_assert_true (g_str_has_suffix (lines[1], " tls"));
  g_assert_cmpuint (ph_test_server_get_port (fixture->server, "echo", FALSE), !=, 0);
}

#define ADD(path, extra, func) \
  g_test_add (path, Fixture, extra, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("POSTHORND") == NULL)
    {
      g_printerr ("POSTHORND is not set; run through meson test\n");
      return 77;
    }

  ADD ("/net/tls/implicit-tls12", NULL, test_tls_implicit_12);
  ADD ("/net/tls/implicit-tls13", NULL, test_tls_implicit_13);
  ADD ("/net/tls/resumption-tls12", NULL, test_tls_resumption_12);
  ADD ("/net/tls/resumption-tls13", NULL, test_tls_resumption_13);
  ADD ("/net/tls/implicit-garbage", NULL, test_tls_implicit_garbage);
  ADD ("/net/tls/starttls", NULL, test_tls_starttls);
  ADD ("/net/tls/starttls-injection", NULL, test_tls_starttls_injection);
  ADD ("/net/tls/reload", NULL, test_tls_reload);
  ADD ("/net/tls/reload-broken", NULL, test_tls_reload_broken);
  ADD ("/net/lines/too-long", "[test-echo]\nmax_line=100\n", test_lines_too_long);
  ADD ("/net/lines/split-long", "[test-echo]\nmax_line=100\nsplit_long=true\n", test_lines_split_long);
  ADD ("/net/lines/input-filter", NULL, test_input_filter);
  ADD ("/net/bytes/across-packets", NULL, test_bytes_across_packets);
  ADD ("/net/bytes/across-packets-tls", NULL, test_bytes_across_packets_tls);
  ADD ("/net/input/pipelining-pause", NULL, test_input_pipelining_pause);
  ADD ("/net/idle/timeout", "[test-echo]\nidle_timeout=1\n", test_idle_timeout);
  ADD ("/net/limits/per-ip", "[core]\nmax_connections_per_ip=2\n", test_limits_per_ip);
  ADD ("/net/limits/total", "[core]\nmax_connections=3\nmax_connections_per_ip=100\n", test_limits_total);
  ADD ("/net/output/slow-reader", NULL, test_output_slow_reader);
  ADD ("/net/output/slow-reader-tls", NULL, test_output_slow_reader_tls);
  ADD ("/net/bytes/started-later", NULL, test_bytes_started_later);
  ADD ("/net/output/notify-drained", NULL, test_output_notify_drained);
  ADD ("/net/session/log-prefix", NULL, test_session_log_prefix);
  ADD ("/net/session/switch-handler", NULL, test_session_switch_handler);
  ADD ("/net/session/list-and-counters", "[core]\nmax_connections=2\n", test_session_list_and_counters);
  ADD ("/net/idle/per-connection", NULL, test_idle_per_connection);
  ADD ("/net/tls/handshake-timeout", "[test-echo]\nidle_timeout=1\n", test_tls_handshake_timeout);
  ADD ("/net/close/abort-in-callback", NULL, test_close_abort_in_callback);
  ADD ("/net/close/client-half-close", NULL, test_close_client_half_close);
  ADD ("/net/memory/idle-sessions", "[core]\nmax_connections_per_ip=1000\n", test_memory_idle_sessions);
  ADD ("/net/memory/idle-sessions-tls", "[core]\nmax_connections_per_ip=1000\n", test_memory_idle_sessions_tls);
  ADD ("/net/daemon/sigterm", NULL, test_daemon_sigterm);
  ADD ("/net/config/ports-file", NULL, test_config_ports_file);
  g_test_add_func ("/net/listen/ipv6", test_listen_ipv6);
  g_test_add_func ("/net/listen/wildcard", test_listen_wildcard);
  g_test_add_func ("/net/listen/unix", test_listen_unix);
  g_test_add_func ("/net/config/duplicate-listener", test_config_duplicate_listener);
  g_test_add_func ("/net/config/bad-port", test_config_bad_port);
  g_test_add_func ("/net/config/bad-address", test_config_bad_address);
  g_test_add_func ("/net/config/tls-without-certificate", test_config_tls_without_certificate);
  return g_test_run ();
}
