/* Shared by the POP3 integration and interop tests: a posthornd with
 * auth-passwd-file, storage-sqlite, pop3 and the test-inject plugin
 * (tests/pop3/plugins), users alice, bob and carol @example.org with
 * {PLAIN} passwords "alice-pw", "bob-pw", "carol-pw".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-test.h"

G_BEGIN_DECLS

/* Creates and starts the daemon; @extra_config (may be NULL) is merged. */
PhTestServer *pop3_test_server_new (const char *extra_config);
/* Only creates it (start with ph_test_server_start_or_die()). */
PhTestServer *pop3_test_server_create (const char *extra_config);

/* Delivers @data to @user's INBOX through test-inject; returns the UID. */
guint32 pop3_test_inject (PhTestServer *server, const char *user, const void *data,
                          gsize length);
/* One test-inject command (FLAGS, STATUS, SETDELETED, EXPUNGE); returns
 * the reply line. */
char *pop3_test_inject_command (PhTestServer *server, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

/* A message of about @size bytes, CRLF lines, different for each @seed;
 * some lines start with a dot, some are a lone dot. @content_type may be
 * NULL (text/plain); a big application/octet-stream body is quicker to
 * deliver (no search text to index). */
GBytes *pop3_test_make_message (guint seed, gsize size, const char *content_type);

/* Connects to the pop3 service and reads the greeting. */
PhTestClient *pop3_test_connect (PhTestServer *server);
/* Connects and logs in with USER/PASS; fails the test unless +OK. */
PhTestClient *pop3_test_login (PhTestServer *server, const char *user, const char *password);
/* Sends one command line and returns the reply's first line. */
char *pop3_test_command (PhTestClient *client, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Reads the lines of a multi-line reply up to "." (excluded), with the
 * dot-stuffing undone; each line as read (without CRLF). */
GPtrArray *pop3_test_read_lines (PhTestClient *client);
/* The same, joined into the message bytes (each line + CRLF). */
GBytes *pop3_test_read_body (PhTestClient *client);

/* The body of GET /metrics from the metrics plugin's listener (the
 * daemon must load "metrics" with [metrics] listen=127.0.0.1:0). */
char *pop3_test_fetch_metrics (PhTestServer *server);

/* Sends RETR @msg and returns the message (fails the test unless +OK). */
GBytes *pop3_test_retr (PhTestClient *client, guint msg);

G_END_DECLS
