/* Helpers for the smtp integration tests: a daemon with the smtp plugin,
 * users and SQLite storage; an SMTP line client; reading what landed in a
 * mailbox (in-process, through the store API, after the daemon stopped).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-test.h"

G_BEGIN_DECLS

/* Users (all {PLAIN}): alice@example.org "alice-pw", bob@example.org
 * "bob-pw", carol@example.net "carol-pw", jörg@example.org "joerg-pw",
 * u0..u99@example.org "pw". */
#define SMTP_TEST_DOMAINS "example.org;example.net"

/* g_test_init (isolated dirs) and the store loader's defaults. */
void smtp_test_init (int *argc, char ***argv);

/* A daemon with "auth-passwd-file;storage-sqlite;smtp", [smtp]
 * hostname=mx.example.org, domains, listen=127.0.0.1:0 and
 * submission=127.0.0.1:0, plus @extra (keyfile text, may be NULL). */
PhTestServer *smtp_test_server_new (const char *extra);
/* The same without starting it. */
PhTestServer *smtp_test_server_create (const char *extra);

/* Connects to @service ("smtp", "submission", "lmtp") and reads the 220. */
PhTestClient *smtp_test_connect (PhTestServer *server, const char *service);

/* Reads one whole reply (all its lines); returns its code and, if @text
 * is not NULL, its lines joined with '\n' (g_free). 0 on timeout/close. */
guint smtp_test_read_reply (PhTestClient *client, char **text);
/* Sends @line + CRLF and reads the reply. */
guint smtp_test_command (PhTestClient *client, const char *line, char **text);
/* Asserts the command gets @code; returns the reply text (g_free). */
char *smtp_test_expect (PhTestClient *client, const char *line, guint code);
/* EHLO client.example; returns the EHLO reply text. */
char *smtp_test_ehlo (PhTestClient *client);

/* The messages in @user's @mailbox (ascending UID), read from the state
 * directory of a STOPPED daemon. */
GPtrArray *smtp_test_read_mailbox (PhTestServer *server, const char *user,
                                   const char *mailbox);

/* Stops the server and returns @user's INBOX messages (GBytes). */
GPtrArray *smtp_test_stop_and_read_inbox (PhTestServer *server, const char *user);

/* TRUE if @haystack (GBytes) contains @needle. */
gboolean smtp_test_bytes_contain (GBytes *haystack, const char *needle);

G_END_DECLS
