/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* One accepted client connection. The core owns the socket, TLS, buffering,
 * limits and accounting; the protocol plugin sees lines and byte runs in,
 * and queues bytes out. Everything here runs on the main loop thread and
 * never blocks.
 *
 * An idle connection costs the core about 0.7 KiB (11 KiB with TLS) and
 * nothing per main-loop iteration: no buffers are kept while nothing is in
 * flight, so 10,000 TLS IMAP IDLE sessions fit in ~110 MB. Keep the
 * protocol's per-session state small too. */
typedef struct _PosthornConnection PosthornConnection;
typedef struct _PosthornService PosthornService;

typedef enum {
  POSTHORN_LINE_END_CRLF = 0,  /* the line ended in CR LF */
  POSTHORN_LINE_END_LF = 1,    /* the line ended in a bare LF */
  POSTHORN_LINE_END_NONE = 2,  /* a piece of a line longer than the limit,
                                * only with POSTHORN_LINE_SPLIT_LONG */
} PosthornLineEnd;

/* What the protocol implements for a connection. Fill it statically; the
 * core reads only the first struct_size bytes, so later minors can grow it.
 * Every callback may be NULL except line and closed. */
typedef struct {
  gsize struct_size;  /* sizeof (PosthornConnectionHandler) */

  /* A complete line without its terminator; @line[@length] is '\0' but the
   * line may hold NUL bytes. Bare CR bytes stay in the line. */
  void (*line) (PosthornConnection *conn, const char *line, gsize length,
                PosthornLineEnd end, gpointer user_data);

  /* A line exceeded the maximum length. Its bytes up to and including the
   * next LF were discarded; reading goes on with the next line. */
  void (*line_too_long) (PosthornConnection *conn, gpointer user_data);

  /* A piece of an exact-length read (posthorn_connection_read_bytes()). The
   * data is only valid during the call. After @last the connection is back
   * in line mode. */
  void (*bytes) (PosthornConnection *conn, const guint8 *data, gsize length,
                 gboolean last, gpointer user_data);

  /* The output queue fell below the low-water mark after having been above
   * it (or posthorn_connection_notify_drained() was asked for): produce more. */
  void (*drained) (PosthornConnection *conn, gpointer user_data);

  /* No input for the idle timeout. If NULL the core closes the connection. */
  void (*idle_timeout) (PosthornConnection *conn, gpointer user_data);

  /* The daemon is stopping: say goodbye (BYE, 421, -ERR) and close. The core
   * aborts connections still open after [core] shutdown_grace. */
  void (*shutdown) (PosthornConnection *conn, gpointer user_data);

  /* The connection is gone (either side closed it, an I/O or TLS error, or
   * posthorn_connection_close()/abort()). No callback follows; the handler's
   * destroy notify runs right after. */
  void (*closed) (PosthornConnection *conn, gpointer user_data);
} PosthornConnectionHandler;

/* Installs the protocol's handler; call it from the service's accept
 * callback. @destroy frees @user_data after closed. Calling it again
 * switches handlers (e.g. for a data phase); the previous @destroy runs
 * once the callback that switched has returned. */
void posthorn_connection_set_handler (PosthornConnection *conn,
                                      const PosthornConnectionHandler *handler,
                                      gpointer user_data,
                                      GDestroyNotify destroy);

PosthornConnection *posthorn_connection_ref (PosthornConnection *conn);
void posthorn_connection_unref (PosthornConnection *conn);

/* ---- input ---- */

typedef enum {
  POSTHORN_LINE_DEFAULT = 0,
  /* Deliver over-long lines in pieces (end = POSTHORN_LINE_END_NONE) instead
   * of discarding them; for message data such as SMTP DATA. */
  POSTHORN_LINE_SPLIT_LONG = 1 << 0,
} PosthornLineFlags;

/* The maximum line length in bytes, terminator excluded (default: the
 * service's, 8192 unless the protocol changes it). */
void posthorn_connection_set_line_mode (PosthornConnection *conn,
                                        gsize max_line_length,
                                        PosthornLineFlags flags);

/* Switches to an exact-length read of @count bytes, delivered through the
 * bytes callback in pieces as they arrive (buffered input first), then back
 * to line mode. Used for IMAP literals and BDAT chunks. @count may be 0
 * (one call with last = TRUE). */
void posthorn_connection_read_bytes (PosthornConnection *conn, guint64 count);

/* Stops delivering input (lines stay buffered, the socket is not read past
 * a small buffer) until resumed. Use it while a command waits for the store
 * so that pipelined commands run in order. Calls nest: input flows again
 * when every pause has been resumed. Resuming delivers buffered lines from
 * the main loop, not from inside this call. */
void posthorn_connection_pause_input (PosthornConnection *conn);
void posthorn_connection_resume_input (PosthornConnection *conn);

/* A transformation of everything the client sends, applied after TLS and
 * before line splitting: IMAP COMPRESS=DEFLATE inflates here. Fill it
 * statically; the core reads only the first struct_size bytes. */
typedef struct {
  gsize struct_size;  /* sizeof (PosthornInputFilter) */

  /* Appends what @length raw bytes turn into to @out (possibly nothing,
   * possibly much more). FALSE with @error on corrupt input: the core
   * logs it and closes the connection. */
  gboolean (*input) (gpointer filter_data, const guint8 *data, gsize length,
                     GByteArray *out, GError **error);

  /* Frees @filter_data when the connection is freed (may be NULL). */
  void (*free) (gpointer filter_data);

  /* Optional (may be NULL; added in ABI 1.1): TRUE while the filter holds
   * input it has not turned into output yet because @input stopped at a
   * bound of its own (a decompression bomb must not fill the buffer). The
   * core then calls @input again with @length 0 once the input already
   * delivered has been consumed, and only while input flows, before it
   * reads the socket again. */
  gboolean (*pending) (gpointer filter_data);
} PosthornInputFilter;

/* Installs the connection's input filter (once; a second call fails).
 * Input already buffered but not yet delivered goes through it at once,
 * so call it right after the command that starts the transformation
 * (input is normally paused then). */
void posthorn_connection_set_input_filter (PosthornConnection *conn,
                                           const PosthornInputFilter *filter,
                                           gpointer filter_data);

/* Seconds without input (or progress sending output) before the
 * idle_timeout callback; 0 disables. After the callback the clock starts
 * again, so a connection left open gets the callback once per period. */
void posthorn_connection_set_idle_timeout (PosthornConnection *conn, guint seconds);

/* ---- output ---- */

/* Queues bytes to send; they leave in order, asynchronously. Queuing never
 * fails: a closed connection drops them. While the queue is above the
 * high-water mark (256 KiB) the core stops delivering input, so a client
 * that never reads cannot make the server buffer without bound; a protocol
 * streaming a large body must check posthorn_connection_output_is_full()
 * and continue from the drained callback. */
void posthorn_connection_write (PosthornConnection *conn, const void *data, gsize length);
void posthorn_connection_write_bytes (PosthornConnection *conn, GBytes *bytes);
void posthorn_connection_write_string (PosthornConnection *conn, const char *text);
void posthorn_connection_printf (PosthornConnection *conn, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

gsize posthorn_connection_get_output_pending (PosthornConnection *conn);
gboolean posthorn_connection_output_is_full (PosthornConnection *conn);

/* Asks for one drained callback as soon as the output queue is below the
 * low-water mark (immediately, from the main loop, if it already is). */
void posthorn_connection_notify_drained (PosthornConnection *conn);

/* Closes after the queued output is sent (bounded by a short timeout). */
void posthorn_connection_close (PosthornConnection *conn);
/* Closes now, dropping queued output. */
void posthorn_connection_abort (PosthornConnection *conn);
gboolean posthorn_connection_is_closed (PosthornConnection *conn);

/* ---- TLS ---- */

/* TRUE if the daemon has a certificate, so STARTTLS may be offered. */
gboolean posthorn_connection_tls_available (PosthornConnection *conn);
gboolean posthorn_connection_is_tls (PosthornConnection *conn);

typedef void (*PosthornTlsDoneFunc) (PosthornConnection *conn,
                                     gboolean success,
                                     gpointer user_data);

/* Starts the server side of a TLS handshake after the protocol queued its
 * "go ahead" reply (which is sent in plaintext first). Input the client sent
 * after the STARTTLS command line and before the handshake is discarded,
 * never executed: call this from the line callback of that command. @done
 * runs on success; on failure the connection is closed (closed follows). */
void posthorn_connection_start_tls (PosthornConnection *conn,
                                    PosthornTlsDoneFunc done,
                                    gpointer user_data);

typedef enum {
  POSTHORN_CHANNEL_BINDING_TLS_UNIQUE = 1,    /* RFC 5929 */
  POSTHORN_CHANNEL_BINDING_TLS_EXPORTER = 2,  /* RFC 9266 */
} PosthornChannelBinding;

/* Channel binding data of the TLS session, for SCRAM-*-PLUS. */
GBytes *posthorn_connection_get_channel_binding (PosthornConnection *conn,
                                                 PosthornChannelBinding type,
                                                 GError **error);

/* ---- identity and accounting ---- */

PosthornService *posthorn_connection_get_service (PosthornConnection *conn);
/* A short unique session id, for logs and ListSessions. */
const char *posthorn_connection_get_id (PosthornConnection *conn);
/* Peer address as text ("192.0.2.7", "2001:db8::1", "unix"). */
const char *posthorn_connection_get_peer_address (PosthornConnection *conn);
guint16 posthorn_connection_get_peer_port (PosthornConnection *conn);
const char *posthorn_connection_get_local_address (PosthornConnection *conn);
guint16 posthorn_connection_get_local_port (PosthornConnection *conn);
/* TRUE if the peer is on a loopback address or a unix socket. */
gboolean posthorn_connection_is_loopback (PosthornConnection *conn);
/* TRUE if it arrived on an implicit-TLS listener. */
gboolean posthorn_connection_is_implicit_tls (PosthornConnection *conn);

/* The authenticated user (NULL to clear), shown in logs, D-Bus and used
 * for per-user limits: while set on an open connection, it counts as one
 * of that user's sessions ([core] max_sessions_per_user and
 * max_sessions_per_user_ip). The core's authentication sets it itself
 * when it accepts a login (posthorn_auth_verify_password_finish(),
 * POSTHORN_SASL_SUCCESS), or fails the login with POSTHORN_ERROR_IN_USE
 * when the user has too many sessions. */
void posthorn_connection_set_user (PosthornConnection *conn, const char *user);
const char *posthorn_connection_get_user (PosthornConnection *conn);
/* A word describing the session's state ("auth", "selected", "idle"). */
void posthorn_connection_set_state (PosthornConnection *conn, const char *state);

/* Logs one line prefixed with service, session id, peer and user. */
void posthorn_connection_log (PosthornConnection *conn,
                              GLogLevelFlags level,
                              const char *format,
                              ...) G_GNUC_PRINTF (3, 4);

/* Adds @delta to the named counter (e.g. "logins_failed"), per service. */
void posthorn_connection_count (PosthornConnection *conn, const char *counter, guint64 delta);

G_END_DECLS
