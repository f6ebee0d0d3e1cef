/* Internal interfaces of the auth area (core/auth/), shared by its modules,
 * posthornctl and the auth tests. Never installed; ph_* symbols are in the
 * POSTHORN_PRIVATE version node.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"
#include <gsasl.h>

G_BEGIN_DECLS

/* The [auth] policy in effect. */
typedef struct {
  gboolean allow_plaintext_always;  /* [auth] allow_plaintext=always */
  guint failure_delay_ms;
  guint failure_delay_max_ms;
  guint max_failures;               /* 0 = no limit */
} PhAuthPolicy;

/* The policy: the one set for testing, else the daemon's settings, else
 * the documented defaults (tls, 500 ms, 15 s, 5). */
PhAuthPolicy ph_auth_get_policy (void);

/* Tests: use @policy instead of the daemon's settings (NULL: stop). Also
 * forgets every peer's and connection's failure count. */
void ph_auth_set_policy_for_testing (const PhAuthPolicy *policy);

/* Tests: a NULL connection then counts as TLS with this channel binding
 * data (either may be NULL), so SCRAM-SHA-256-PLUS can be exercised
 * without a socket. Both NULL: back to "TLS without channel binding". */
void ph_auth_set_channel_binding_for_testing (GBytes *tls_exporter, GBytes *tls_unique);

/* The process-wide GNU SASL context (created on first use). */
Gsasl *ph_auth_gsasl (void);

/* ---- backends (auth.c) ---- */

typedef struct _PhAuthBackend PhAuthBackend;

/* A snapshot of the registered backends (each referenced), to be used on
 * worker threads while registrations change on the loop. */
GPtrArray *ph_auth_backends_snapshot (void);
/* TRUE if any backend says it has SCRAM-SHA-256 secrets (loop thread). */
gboolean ph_auth_backends_have_scram (void);

/* Blocking, for worker threads; @user already normalised. */
char *ph_auth_backends_verify_password (GPtrArray *backends,
                                        const char *user,
                                        const char *password,
                                        GError **error);
char *ph_auth_backends_lookup_scram (GPtrArray *backends,
                                     const char *user,
                                     guint *out_iterations,
                                     GBytes **out_salt,
                                     guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                                     guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                                     GError **error);

/* ---- throttle (auth.c), loop thread ---- */

/* TRUE if @conn already reached max_failures. */
gboolean ph_auth_connection_limited (PosthornConnection *conn);

typedef void (*PhAuthFailureFunc) (GError *error, gpointer user_data);

/* Records a failure of @conn's peer (and, with @count_for_limit, of @conn)
 * and calls @func on the loop after the peer's delay with @error (owned by
 * the callee), which becomes POSTHORN_ERROR_LIMIT when the connection
 * reached max_failures. @destroy frees @user_data after @func ran. */
void ph_auth_report_failure (PosthornConnection *conn,
                             gboolean count_for_limit,
                             GError *error,
                             PhAuthFailureFunc func,
                             gpointer user_data,
                             GDestroyNotify destroy);

/* Forgets the failures of @conn's peer. */
void ph_auth_report_success (PosthornConnection *conn);
/* After the credentials of @user were accepted on @conn: FALSE with
 * POSTHORN_ERROR_IN_USE ("Too many sessions for this user", "... for this
 * user from this address": what protocols send on) when the user's session
 * limits ([core] max_sessions_per_user, max_sessions_per_user_ip) are
 * reached; else TRUE, and @conn counts as @user's session from now on
 * (posthorn_connection_set_user()), before the protocol opens the mail. */
gboolean ph_auth_admit_user (PosthornConnection *conn, const char *user, GError **error);

/* The error every unknown-user/wrong-password failure carries. */
GError *ph_auth_failed_error (void);

/* ---- secrets for posthornctl ---- */

/* Dovecot's {SCRAM-SHA-256} stored form, without the scheme prefix:
 * "ITER,SALT_B64,STOREDKEY_B64,SERVERKEY_B64" with a fresh 16-byte salt. */
char *ph_auth_scram_sha256_secret_new (const char *password,
                                       guint iterations,
                                       GError **error);

/* Strict base64 check (RFC 4648 alphabet, correct padding); "" is valid. */
gboolean ph_auth_base64_valid (const char *text, gsize length);

G_END_DECLS
