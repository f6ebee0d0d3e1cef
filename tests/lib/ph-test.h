/* The integration-test harness: start the real posthornd, talk to it.
 *
 * Link with `ph_test_dep` (tests/lib/meson.build). Tests run with the
 * environment tests/meson.build sets (POSTHORND, POSTHORN_PLUGIN_DIR, ...).
 *
 * A typical test:
 *
 *   g_autoptr (PhTestServer) server = ph_test_server_new ("test-echo", NULL);
 *   g_autoptr (PhTestClient) client = ph_test_client_connect (server, "echo", FALSE);
 *   g_free (ph_test_client_expect_line_prefix (client, "+OK"));
 *   ph_test_client_send (client, "QUIT\r\n", -1);
 *
 * When a test needs files before the daemon starts (a users file), split
 * ph_test_server_new() into ph_test_server_create(), ph_test_server_append_config()
 * and ph_test_server_start():
 *
 *   g_autoptr (PhTestServer) server = ph_test_server_create ("auth-passwd-file;storage-sqlite;pop3");
 *   g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
 *   g_file_set_contents (users, "alice@example.org:{PLAIN}secret\n", -1, NULL);
 *   g_autofree char *extra = g_strdup_printf ("[auth-passwd-file]\npath=%s\n", users);
 *   ph_test_server_append_config (server, extra);
 *   ph_test_server_start_or_die (server);
 *
 * Everything asserts (g_assert) on harness failures except the functions
 * taking a GError, which report what the daemon said.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <gnutls/gnutls.h>

G_BEGIN_DECLS

/* ---- certificates ---- */

/* A self-signed ECDSA P-256 certificate for @common_name (also its DNS
 * subjectAltName), valid from an hour ago for ten years, made with the
 * GnuTLS API. PEM texts, free with g_free. */
void ph_test_make_certificate (const char *common_name, char **cert_pem, char **key_pem);

/* Writes a certificate for @common_name to @cert_path and @key_path. The
 * one for "localhost" is made once per test process and reused. */
void ph_test_write_certificate (const char *common_name,
                                const char *cert_path,
                                const char *key_path);

/* ---- the server ---- */

typedef struct _PhTestServer PhTestServer;

/* A temporary directory with a state dir ("state/") and a certificate
 * ("cert.pem", "key.pem" for CN=localhost); nothing runs yet. @plugins is
 * the [core] plugins value ("test-echo", "auth-passwd-file;storage-sqlite;pop3").
 * The config written at start is:
 *
 *   [core]  plugins=@plugins  plugin_dir=$POSTHORN_PLUGIN_DIR;<added dirs>
 *           state_dir=DIR/state  log_level=debug  user=root (only when run as root)
 *   [tls]   certificate=DIR/cert.pem  key=DIR/key.pem   (unless disabled)
 *   [dbus]  bus=none
 *
 * merged with whatever ph_test_server_append_config() added (its keys win). */
PhTestServer *ph_test_server_create (const char *plugins);

/* Keyfile text merged into the config (groups may repeat the defaults). */
void ph_test_server_append_config (PhTestServer *server, const char *keyfile_text);
/* One more [core] plugin_dir entry (e.g. a test's own plugins). */
void ph_test_server_add_plugin_dir (PhTestServer *server, const char *dir);
/* Whether the config gets a [tls] group (default TRUE). */
void ph_test_server_set_tls (PhTestServer *server, gboolean enabled);

/* systemd socket activation: the next start hands @fds (listening sockets
 * the caller keeps and may close after the start) to the daemon as fds 3,
 * 4, ... with LISTEN_FDS, LISTEN_FDNAMES=@names (':'-separated, may be
 * NULL) and LISTEN_PID set as systemd does, through
 * `sh -c 'LISTEN_PID=$$ ... exec posthornd ...'`; @listen_pid > 0 sets
 * another LISTEN_PID (one that is not the daemon's). */
void ph_test_server_pass_sockets (PhTestServer *server, const int *fds, guint n_fds,
                                  const char *names, gint64 listen_pid);

/* Writes the config, runs `$POSTHORND -c CONFIG --ports-file DIR/ports
 * --foreground` (its stdout and stderr go to DIR/posthornd.log) and waits
 * up to 10 s for the ports file. The daemon gets SIGTERM if the test
 * process dies first (PR_SET_PDEATHSIG). On failure (the daemon exited, e.g. on a
 * config error, or timed out) returns FALSE and @error holds the exit
 * status and the daemon's output. */
gboolean ph_test_server_start (PhTestServer *server, GError **error);
/* The same; a failure fails the test with the daemon's output. */
void ph_test_server_start_or_die (PhTestServer *server);

/* create + append_config (@extra_config may be NULL) + start_or_die. */
PhTestServer *ph_test_server_new (const char *plugins, const char *extra_config);

/* The port of @service's first listener of that kind from the ports file
 * (@tls: an implicit-TLS listener); fails the test if there is none. */
guint16 ph_test_server_get_port (PhTestServer *server, const char *service, gboolean tls);
/* The same for a listener on @address ("127.0.0.1", "::1"); 0 if none. */
guint16 ph_test_server_find_port (PhTestServer *server, const char *service,
                                  const char *address, gboolean tls);
/* The ports file as written by the daemon. */
const char *ph_test_server_get_ports_text (PhTestServer *server);

const char *ph_test_server_get_dir (PhTestServer *server);
const char *ph_test_server_get_state_dir (PhTestServer *server);
const char *ph_test_server_get_config_path (PhTestServer *server);
const char *ph_test_server_get_cert_path (PhTestServer *server);
const char *ph_test_server_get_key_path (PhTestServer *server);
GPid ph_test_server_get_pid (PhTestServer *server);
gboolean ph_test_server_is_running (PhTestServer *server);
/* What the daemon wrote to stdout/stderr so far. */
char *ph_test_server_get_log (PhTestServer *server);
/* VmRSS of the daemon in KiB (0 if it is not running). */
guint64 ph_test_server_get_rss_kb (PhTestServer *server);

/* Sends @signo (SIGHUP, SIGTERM ...) to the daemon. */
void ph_test_server_signal (PhTestServer *server, int signo);
/* Waits up to @timeout_ms for the daemon to exit; TRUE and @exit_status
 * (WEXITSTATUS, or 128 + signal) if it did. */
gboolean ph_test_server_wait (PhTestServer *server, guint timeout_ms, int *exit_status);
/* SIGTERM, wait up to 20 s, then SIGKILL. Returns the exit status as
 * ph_test_server_wait() does (or the earlier one if it had exited). */
int ph_test_server_stop (PhTestServer *server);
/* Stops the daemon if it runs, prints its log when the test failed and
 * removes the directory. */
void ph_test_server_free (PhTestServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhTestServer, ph_test_server_free)

/* ---- the client ---- */

typedef struct _PhTestClient PhTestClient;

/* Connects to @host (numeric, "127.0.0.1" or "::1") : @port; with @tls an
 * implicit-TLS handshake follows (no certificate verification). NULL and
 * @error on failure. @priority is a GnuTLS priority string for the client
 * (NULL: "NORMAL"), e.g. "NORMAL:-VERS-ALL:+VERS-TLS1.2". */
PhTestClient *ph_test_client_new (const char *host, guint16 port, gboolean tls,
                                  const char *priority, GError **error);
/* The same, resuming the TLS session @resume_data came from (see
 * ph_test_client_get_session_data(); NULL: a full handshake). */
PhTestClient *ph_test_client_new_full (const char *host, guint16 port, gboolean tls,
                                       const char *priority, GBytes *resume_data,
                                       GError **error);
/* A plaintext connection to a unix socket listener ("unix:/path"). */
PhTestClient *ph_test_client_new_unix (const char *path, GError **error);
/* 127.0.0.1 and the port of @service; fails the test on error. */
PhTestClient *ph_test_client_connect (PhTestServer *server, const char *service, gboolean tls);

/* Timeout for every read and write (default 5000 ms). */
void ph_test_client_set_timeout (PhTestClient *client, guint timeout_ms);
/* STARTTLS: the TLS handshake on the open connection. */
gboolean ph_test_client_start_tls (PhTestClient *client, const char *priority, GError **error);
gboolean ph_test_client_is_tls (PhTestClient *client);
/* The GnuTLS session (NULL before TLS), e.g. for gnutls_protocol_get_version(). */
gnutls_session_t ph_test_client_get_tls_session (PhTestClient *client);
/* What resumes this TLS session later (a session ticket), or NULL. With
 * TLS 1.3 the ticket arrives after the handshake: read a reply first. */
GBytes *ph_test_client_get_session_data (PhTestClient *client);
gboolean ph_test_client_is_resumed (PhTestClient *client);
/* The CN of the server's certificate (g_free), NULL without TLS. */
char *ph_test_client_get_peer_common_name (PhTestClient *client);

/* Sends all of @data (@length -1: a string) in one write where the socket
 * allows; FALSE if the peer is gone or the timeout passed. */
gboolean ph_test_client_send (PhTestClient *client, const void *data, gssize length);
gboolean ph_test_client_sendf (PhTestClient *client, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* The next line without CRLF/LF, or NULL on timeout or end of stream. */
char *ph_test_client_read_line (PhTestClient *client);
char *ph_test_client_read_line_timeout (PhTestClient *client, guint timeout_ms);
/* Exactly @length bytes, or NULL on timeout or end of stream. */
GBytes *ph_test_client_read_exact (PhTestClient *client, gsize length);
/* Reads a line and fails the test unless it starts with @prefix. Returns
 * the line (g_free). */
char *ph_test_client_expect_line_prefix (PhTestClient *client, const char *prefix);
/* TRUE if the server closes the connection within @timeout_ms (input
 * until then is discarded). */
gboolean ph_test_client_wait_closed (PhTestClient *client, guint timeout_ms);
int ph_test_client_get_fd (PhTestClient *client);

/* Closes the connection (TLS close_notify first) and frees the client. */
void ph_test_client_free (PhTestClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhTestClient, ph_test_client_free)

G_END_DECLS
