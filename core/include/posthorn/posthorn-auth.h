/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>
#include <posthorn/posthorn-plugin.h>
#include <posthorn/posthorn-connection.h>

G_BEGIN_DECLS

/* Authentication: the core's SASL engine (GNU SASL) between protocol plugins
 * (POP3, IMAP, SMTP), which ask, and auth plugins (user databases), which
 * answer.
 *
 * User names. Users log in with their full address. Like Dovecot's default
 * auth_username_format=%Lu, the core lowercases the whole name (ASCII
 * letters only) before it reaches a backend: "Alice@Example.ORG" and
 * "alice@example.org" are the same user. Backends store and compare the
 * lowercased form; the name the core reports back (the "canonical" user) is
 * the one the backend returns.
 *
 * Policy ([auth] in the daemon's config):
 *  - allow_plaintext=tls (default): mechanisms that send the password in
 *    the clear (PLAIN, LOGIN, POP3 USER/PASS, IMAP LOGIN) are offered and
 *    accepted only over TLS or from a loopback peer; =always lifts that.
 *  - failure_delay, failure_delay_max: every failed attempt is answered
 *    after a delay that starts at failure_delay for the peer's first failure
 *    and doubles with each further one up to failure_delay_max. The delay is
 *    a main-loop timeout: nothing else waits. A success from the peer, or an
 *    hour without failures, forgets its count.
 *  - max_failures: after that many failures on one connection, the failure
 *    is reported as POSTHORN_ERROR_LIMIT (and every later attempt on the
 *    connection fails with it at once): the protocol says so and closes.
 *
 * Failures carry one text for an unknown user and a wrong password
 * (POSTHORN_ERROR_AUTH_FAILED, "Authentication failed"). Nothing the client
 * sent as a secret is logged. */

/* ======================================================================
 * Backend side: what an auth plugin implements.
 * ====================================================================== */

/* The size of SHA-256 SCRAM keys (StoredKey, ServerKey). */
#define POSTHORN_SCRAM_SHA256_KEY_SIZE 32

/* A user database. Fill it statically; the core reads only the first
 * struct_size bytes, so later minors can grow it. Every function except
 * has_scram_sha256 is BLOCKING and called on worker-pool threads, several
 * at a time: it must be thread-safe. @user is always lowercased (see
 * above). Functions may be NULL when the database cannot answer them. */
typedef struct {
  gsize struct_size;  /* sizeof (PosthornAuthBackendVTable) */

  /* Checks @password for @user. Returns the canonical user name (newly
   * allocated) or NULL with POSTHORN_ERROR_AUTH_FAILED for an unknown user
   * and a wrong password alike (same message), or another code
   * (POSTHORN_ERROR_TEMPORARY, POSTHORN_ERROR_FAILED) when the database
   * cannot answer. */
  char *(*verify_password) (gpointer backend_data,
                            const char *user,
                            const char *password,
                            GError **error);

  /* Looks up @user's SCRAM-SHA-256 secrets (RFC 5802/7677): the PBKDF2
   * iteration count, the salt (raw bytes), StoredKey and ServerKey. Returns
   * the canonical user name, or NULL with POSTHORN_ERROR_NOT_FOUND when the
   * user is unknown or has no SCRAM-SHA-256 secret, or another code on a
   * database failure. */
  char *(*lookup_scram_sha256) (gpointer backend_data,
                                const char *user,
                                guint *out_iterations,
                                GBytes **out_salt,
                                guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                                guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                                GError **error);

  /* TRUE if @user exists (SMTP RCPT, LMTP). FALSE without @error for "no
   * such user"; FALSE with @error when the database cannot answer. */
  gboolean (*user_exists) (gpointer backend_data,
                           const char *user,
                           GError **error);

  /* NON-blocking, called on the main loop thread: TRUE if at least one
   * user has a SCRAM-SHA-256 secret, so that SCRAM is worth advertising. */
  gboolean (*has_scram_sha256) (gpointer backend_data);
} PosthornAuthBackendVTable;

/* Registers @plugin's user database, usually from its init function.
 * Backends are asked in registration order; the first that accepts a
 * password (or has a SCRAM secret, or knows the user) answers. @destroy
 * frees @backend_data once the backend is unregistered and no worker
 * thread uses it any more (may be NULL). */
void posthorn_auth_register_backend (PosthornPlugin *plugin,
                                     const PosthornAuthBackendVTable *vtable,
                                     gpointer backend_data,
                                     GDestroyNotify destroy);

/* Removes @plugin's backend (from its shutdown function). Calls already
 * running on worker threads finish first; @destroy runs after them. */
void posthorn_auth_unregister_backend (PosthornPlugin *plugin);

/* ======================================================================
 * Protocol side: what POP3, IMAP and SMTP call. All on the main loop.
 * ====================================================================== */

/* Returns the lowercased form of @user that backends see (newly
 * allocated). */
char *posthorn_auth_normalize_user (const char *user);

/* TRUE if mechanisms and commands that carry a clear-text password (PLAIN,
 * LOGIN, POP3 USER/PASS, IMAP LOGIN) may be offered and used on @conn:
 * it is TLS, or its peer is on loopback, or [auth] allow_plaintext=always.
 * Otherwise IMAP advertises LOGINDISABLED, POP3 omits USER and SMTP omits
 * AUTH before STARTTLS. A NULL @conn counts as TLS (unit tests). */
gboolean posthorn_auth_plaintext_allowed (PosthornConnection *conn);

/* The SASL mechanisms to advertise on @conn right now, best first
 * (NULL-terminated; free with g_strfreev). SCRAM-SHA-256 appears only when
 * a backend has SCRAM secrets, its -PLUS variant only on TLS with channel
 * binding data; PLAIN and LOGIN only when plaintext is allowed (above).
 * The list may be empty. */
GStrv posthorn_auth_list_mechanisms (PosthornConnection *conn);

/* One SASL exchange (RFC 4422) on a connection. */
typedef struct _PosthornSaslSession PosthornSaslSession;

typedef enum {
  /* Send @server_b64 as the next challenge and pass the client's answer to
   * posthorn_sasl_session_step(). */
  POSTHORN_SASL_CONTINUE = 0,
  /* Authenticated: posthorn_sasl_session_get_user() says who. If
   * @server_b64 is not NULL it is the mechanism's final server message
   * (SCRAM's "v=..."), which the protocol sends as its RFC says: as a last
   * challenge answered by an empty client response (SMTP AUTH, POP3 AUTH,
   * IMAP without SASL-IR final data) or inside the success reply where the
   * protocol allows additional data. */
  POSTHORN_SASL_SUCCESS = 1,
  /* Failed; @error says how:
   *  POSTHORN_ERROR_AUTH_FAILED  wrong credentials or unknown user
   *  POSTHORN_ERROR_INVALID      malformed base64 or mechanism message, or
   *                              a response over 64 KiB of base64
   *  POSTHORN_ERROR_LIMIT        too many failures: reply, then close
   *  POSTHORN_ERROR_IN_USE       right credentials, but the user has too
   *                              many sessions ([core] max_sessions_per_user,
   *                              max_sessions_per_user_ip): refuse this login
   *                              (IMAP NO [LIMIT], POP3 -ERR [IN-USE], SMTP
   *                              454); the connection may go on
   *  POSTHORN_ERROR_TEMPORARY, POSTHORN_ERROR_FAILED  server-side trouble
   * The session is finished; free it. */
  POSTHORN_SASL_FAILURE = 2,
} PosthornSaslStatus;

/* The outcome of one step; runs on the main loop, never from inside
 * posthorn_sasl_session_step(). @server_b64 (may be "" for an empty
 * challenge, or NULL) and @error are valid during the call only. */
typedef void (*PosthornSaslStepFunc) (PosthornSaslSession *session,
                                      PosthornSaslStatus status,
                                      const char *server_b64,
                                      const GError *error,
                                      gpointer user_data);

/* The longest client response accepted, in base64 characters; longer
 * ones fail with POSTHORN_ERROR_INVALID. Protocols should let AUTH lines
 * this long through their line limit (posthorn_connection_set_line_mode())
 * while an exchange runs, so that the client gets this answer rather than
 * "line too long". */
#define POSTHORN_SASL_MAX_RESPONSE (64 * 1024)

/* Starts the server side of @mechanism (case-insensitive, e.g.
 * "SCRAM-SHA-256") for @conn. @service is the GSSAPI-style service name
 * ("imap", "pop", "smtp"). Fails with POSTHORN_ERROR_UNSUPPORTED for a
 * mechanism posthorn_auth_list_mechanisms() would not offer on @conn
 * (unknown, no SCRAM secrets, -PLUS without TLS) and with
 * POSTHORN_ERROR_PERMISSION for PLAIN/LOGIN where plaintext is not allowed.
 * @conn may be NULL (unit tests): it then counts as TLS without channel
 * binding and as one shared peer for the throttle. */
PosthornSaslSession *posthorn_sasl_session_new (PosthornConnection *conn,
                                                const char *service,
                                                const char *mechanism,
                                                GError **error);

/* Feeds the client's response, base64-encoded, and calls @callback once
 * with the result. @client_b64 NULL means "no initial response" (only
 * valid for the first step); "" and "=" both mean an empty response (IMAP
 * and SMTP send "=" for an empty initial response). The mechanism itself
 * runs on the worker pool (password hashing, backend lookups), so this
 * returns at once; failures arrive after the throttle delay. Only one step
 * may be in flight; do not step a finished session. */
void posthorn_sasl_session_step (PosthornSaslSession *session,
                                 const char *client_b64,
                                 PosthornSaslStepFunc callback,
                                 gpointer user_data);

/* The client aborted the exchange ("*"). A step in flight will not call
 * its callback. The session is finished (not counted as a failure); free
 * it. */
void posthorn_sasl_session_cancel (PosthornSaslSession *session);

/* The canonical authenticated user after POSTHORN_SASL_SUCCESS, else NULL. */
const char *posthorn_sasl_session_get_user (PosthornSaslSession *session);

/* The mechanism's name as gsasl knows it ("SCRAM-SHA-256"). */
const char *posthorn_sasl_session_get_mechanism (PosthornSaslSession *session);

/* Frees the session and sets *@session to NULL (NULL-safe). A step in
 * flight is abandoned: its callback will not run. */
void posthorn_sasl_session_free (PosthornSaslSession **session);

/* Checks a clear-text password (POP3 USER/PASS, IMAP LOGIN) on the worker
 * pool, with the same policy, throttle and errors as a SASL exchange
 * (POSTHORN_ERROR_PERMISSION if plaintext is not allowed on @conn). @conn
 * may be NULL as above. */
void posthorn_auth_verify_password_async (PosthornConnection *conn,
                                          const char *user,
                                          const char *password,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer user_data);

/* Returns the canonical user name, or NULL with @error set (the codes of
 * POSTHORN_SASL_FAILURE, POSTHORN_ERROR_IN_USE included). */
char *posthorn_auth_verify_password_finish (GAsyncResult *result,
                                            GError **error);

/* Asks the backends whether @user exists (SMTP RCPT, LMTP). An unknown
 * user is answered after the peer's failure delay (against address
 * harvesting) but does not count towards max_failures. */
void posthorn_auth_user_exists_async (PosthornConnection *conn,
                                      const char *user,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);

/* TRUE if the user exists (and *@out_canonical_user, if not NULL, gets its
 * normalised name); FALSE without @error if not; FALSE with @error if no
 * backend could answer. */
gboolean posthorn_auth_user_exists_finish (GAsyncResult *result,
                                           char **out_canonical_user,
                                           GError **error);

G_END_DECLS
