/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>
#include <posthorn/posthorn-plugin.h>
#include <posthorn/posthorn-connection.h>
#include <posthorn/posthorn-message.h>

G_BEGIN_DECLS

/* Filters: policy checks (anti-spoofing, size rules, DNS blocklists,
 * content scanners) that accept, reject or defer a mail transaction while
 * the client waits, at three stages: MAIL (the sender), RCPT (each
 * recipient) and the end of the message (after DATA or BDAT LAST, before
 * the message is stored or queued). A filter plugin (kind
 * POSTHORN_PLUGIN_KIND_FILTER) registers a vtable from its init; protocol
 * plugins (SMTP, submission, LMTP) run the chain.
 *
 * The chain. Filters run one after the other in registration order, which
 * is the plugins' init order: [core] plugins order, a plugin's
 * dependencies first. The first verdict other than ACCEPT wins and ends the
 * chain; later filters are not asked. A filter that has not answered
 * within the protocol's timeout ([smtp] filter_timeout) counts as
 * TEMPFAIL ("451 4.7.1 ... try again later") and its context's
 * cancellable is cancelled.
 *
 * Asynchronous answers. A stage callback gets a PosthornFilterContext and
 * must call posthorn_filter_context_complete() on it exactly once, either
 * before returning or later from the main loop (after a DNS lookup with
 * GResolver, a worker-pool job, a socket exchange with a scanner). The
 * context stays valid until then, even after a timeout. Everything here
 * runs on the main loop thread; nothing may block it. */

typedef enum {
  POSTHORN_FILTER_STAGE_MAIL = 1,  /* MAIL FROM: sender, declared SIZE */
  POSTHORN_FILTER_STAGE_RCPT = 2,  /* RCPT TO: one recipient */
  POSTHORN_FILTER_STAGE_DATA = 3,  /* end of data: the whole message */
} PosthornFilterStage;

typedef enum {
  POSTHORN_FILTER_ACCEPT = 0,    /* go on (the next filter decides) */
  POSTHORN_FILTER_REJECT = 1,    /* permanent refusal: a 5xx reply */
  POSTHORN_FILTER_TEMPFAIL = 2,  /* try again later: a 4xx reply */
} PosthornFilterVerdict;

/* One question to the chain: a stage of one transaction. Opaque,
 * reference counted, main loop only. */
typedef struct _PosthornFilterContext PosthornFilterContext;

/* ======================================================================
 * Filter side: what a filter plugin implements and calls.
 * ====================================================================== */

/* A stage callback: look at @ctx, then (now or later) call
 * posthorn_filter_context_complete (@ctx, ...). @data is what was given
 * to posthorn_filter_register(). */
typedef void (*PosthornFilterFunc) (PosthornFilterContext *ctx, gpointer data);

/* Fill it statically; the core reads only the first struct_size bytes, so
 * later minors can grow it. A NULL stage callback means "accept". */
typedef struct {
  gsize struct_size;        /* sizeof (PosthornFilterVTable) */
  PosthornFilterFunc mail;  /* POSTHORN_FILTER_STAGE_MAIL */
  PosthornFilterFunc rcpt;  /* POSTHORN_FILTER_STAGE_RCPT */
  PosthornFilterFunc data;  /* POSTHORN_FILTER_STAGE_DATA */
} PosthornFilterVTable;

/* Adds @plugin's filter to the end of the chain (call it from init).
 * @vtable must stay valid until posthorn_filter_unregister(). Fails with
 * POSTHORN_ERROR_PLUGIN if @plugin is not a filter plugin, already
 * registered, or @vtable is too small. */
gboolean posthorn_filter_register (PosthornPlugin *plugin,
                                   const PosthornFilterVTable *vtable,
                                   gpointer data,
                                   GError **error);

/* Removes @plugin's filter (from its shutdown). A context still waiting
 * for this filter's answer keeps waiting until it answers or times out. */
void posthorn_filter_unregister (PosthornPlugin *plugin);

/* Answers the question. @reply is optional: NULL for the default reply of
 * the verdict, or an SMTP reply "550 5.7.1 Sender rejected: spoofed" (code,
 * optional enhanced status code, text), whose code must match the verdict
 * (5xx for REJECT, 4xx for TEMPFAIL, and an enhanced code of the same
 * class); a reply that does not is logged and replaced by the default.
 * Ignored for ACCEPT. An answer after the timeout only releases the
 * context. Drops the reference the stage callback was lent. */
void posthorn_filter_context_complete (PosthornFilterContext *ctx,
                                       PosthornFilterVerdict verdict,
                                       const char *reply);

/* Adds "NAME: VALUE" to the message's header section (DATA stage only,
 * before complete()). The fields of every filter whose verdict was ACCEPT
 * are prepended to the stored message in the order they were added: above
 * this server's Received: field, below Return-Path:. @name must be 1 to 76
 * printable US-ASCII characters without ':'; @value valid UTF-8 without
 * CR, LF or NUL (long values are kept on one line). FALSE (and nothing
 * added) otherwise or outside the DATA stage. */
gboolean posthorn_filter_context_add_header (PosthornFilterContext *ctx,
                                             const char *name,
                                             const char *value);

PosthornFilterContext *posthorn_filter_context_ref (PosthornFilterContext *ctx);
void posthorn_filter_context_unref (PosthornFilterContext *ctx);

/* ---- what a filter may look at (strings belong to @ctx) ---- */

PosthornFilterStage posthorn_filter_context_get_stage (PosthornFilterContext *ctx);
/* The service the client talks to: "smtp" (MX), "submission", "lmtp". */
const char *posthorn_filter_context_get_service (PosthornFilterContext *ctx);
/* The connection's session id (as in logs and ListSessions), or NULL. */
const char *posthorn_filter_context_get_session_id (PosthornFilterContext *ctx);
/* The client's address as text ("192.0.2.7", "2001:db8::1", "unix"). */
const char *posthorn_filter_context_get_peer_address (PosthornFilterContext *ctx);
/* TRUE if the session is encrypted (STARTTLS or implicit TLS). */
gboolean posthorn_filter_context_is_tls (PosthornFilterContext *ctx);
/* The EHLO/HELO/LHLO argument. */
const char *posthorn_filter_context_get_helo (PosthornFilterContext *ctx);
/* The authenticated user, or NULL (MX, LMTP, before AUTH). */
const char *posthorn_filter_context_get_user (PosthornFilterContext *ctx);
/* The envelope sender "local@domain"; "" for the null reverse-path <>. */
const char *posthorn_filter_context_get_sender (PosthornFilterContext *ctx);
/* RCPT stage: the recipient being checked ("local@domain"); else NULL. */
const char *posthorn_filter_context_get_recipient (PosthornFilterContext *ctx);
/* The recipients accepted so far (RCPT: before this one; DATA: all), a
 * NULL-terminated array (empty at MAIL). */
const char *const *posthorn_filter_context_get_recipients (PosthornFilterContext *ctx);
/* MAIL: the SIZE= the client declared (0 if none); DATA: the message's
 * size in bytes as it will be stored (without added header fields). */
guint64 posthorn_filter_context_get_size (PosthornFilterContext *ctx);
/* DATA stage: the message as it will be stored (with this server's
 * Return-Path:/Received: trace fields first, without fields filters add)
 * and its parsed form (headers through posthorn_message_info_lookup_header()
 * and friends, parsed once for the whole chain). NULL at MAIL and RCPT.
 * Reading a large message blocks: use the worker pool. */
PosthornMessage *posthorn_filter_context_get_message (PosthornFilterContext *ctx);
PosthornMessageInfo *posthorn_filter_context_get_message_info (PosthornFilterContext *ctx);
/* Cancelled when the answer is no longer wanted (timeout, the client went
 * away): stop the I/O and complete (the verdict is then ignored). */
GCancellable *posthorn_filter_context_get_cancellable (PosthornFilterContext *ctx);

/* ======================================================================
 * Protocol side: what SMTP, submission and LMTP call.
 * ====================================================================== */

/* TRUE if some registered filter has a callback for @stage, so that a
 * protocol can skip building a context (and the core parsing the message). */
gboolean posthorn_filter_chain_wants (PosthornFilterStage stage);

/* A new context for @stage on @conn (its service, session id, peer and
 * TLS state are copied; @conn may be NULL in unit tests). Fill it with the
 * setters below, then run it. */
PosthornFilterContext *posthorn_filter_context_new (PosthornFilterStage stage,
                                                    PosthornConnection *conn);
/* Setters are for the protocol, before posthorn_filter_context_run(). */
void posthorn_filter_context_set_helo (PosthornFilterContext *ctx, const char *helo);
void posthorn_filter_context_set_user (PosthornFilterContext *ctx, const char *user);
void posthorn_filter_context_set_sender (PosthornFilterContext *ctx, const char *sender);
void posthorn_filter_context_set_recipient (PosthornFilterContext *ctx, const char *recipient);
void posthorn_filter_context_add_recipient (PosthornFilterContext *ctx, const char *recipient);
void posthorn_filter_context_set_size (PosthornFilterContext *ctx, guint64 size);
/* DATA: the message (its size becomes the context's size). */
void posthorn_filter_context_set_message (PosthornFilterContext *ctx, PosthornMessage *message);

/* The chain's answer; runs on the main loop, never from inside
 * posthorn_filter_context_run(). */
typedef void (*PosthornFilterDoneFunc) (PosthornFilterContext *ctx,
                                        PosthornFilterVerdict verdict,
                                        gpointer user_data);

/* Asks every filter in turn (see the top of this file). A filter that
 * does not answer within @timeout_seconds (> 0) makes the verdict
 * TEMPFAIL. Cancelling @cancellable (may be NULL; the client went away)
 * ends the run at once with TEMPFAIL. @done is called exactly once. */
void posthorn_filter_context_run (PosthornFilterContext *ctx,
                                  guint timeout_seconds,
                                  GCancellable *cancellable,
                                  PosthornFilterDoneFunc done,
                                  gpointer user_data);

/* After a REJECT or TEMPFAIL: the reply to send (the filter's, or the
 * default for the stage: "550 5.7.1 ... rejected by policy" /
 * "451 4.7.1 ... try again later"), split into code, enhanced status code
 * ("5.7.1"; NULL when the filter gave none) and text. FALSE after ACCEPT. */
gboolean posthorn_filter_context_get_reply (PosthornFilterContext *ctx,
                                            guint *code,
                                            const char **enhanced,
                                            const char **text);

/* The plugin whose verdict ended the chain (for logs); NULL after ACCEPT. */
const char *posthorn_filter_context_get_decided_by (PosthornFilterContext *ctx);

/* After ACCEPT at the DATA stage: the header fields filters added,
 * "Name: value\r\n" each, in order; NULL when none. */
const char *posthorn_filter_context_get_headers (PosthornFilterContext *ctx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornFilterContext, posthorn_filter_context_unref)

G_END_DECLS
