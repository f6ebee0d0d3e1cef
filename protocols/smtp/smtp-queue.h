/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue: the durable spool (smtp-spool.h) in
 * <state_dir>/smtp-queue, and a runner on the main loop that hands one
 * attempt per (message, destination domain) to the client thread pool,
 * with concurrency limits (in all and per domain), growing back-off,
 * a delay DSN after [smtp] delay_warning and a failure DSN on permanent
 * failure or after [smtp] queue_lifetime. DSNs go to the sender's INBOX
 * when the sender is local, else into the queue with a null sender.
 * `posthornctl queue flush` (a "flush" file) and `delete` (removing
 * ID.env) reach the runner through a directory monitor. */
#pragma once

#include "smtp-session.h"
#include "smtp-spool.h"

G_BEGIN_DECLS

typedef struct {
  char *dir;                     /* the spool directory */
  GHashTable *transport;         /* domain (lower case) -> "host:port" */
  char *relayhost;               /* "host:port" or NULL */
  char *relayhost_user;          /* AUTH PLAIN for the relayhost, or NULL */
  char *relayhost_password;
  guint64 lifetime;              /* seconds */
  guint64 delay_warning;         /* seconds; 0: never */
  guint64 retry_min;             /* first back-off, doubled per attempt */
  guint64 retry_max;             /* back-off cap */
  guint concurrency;             /* attempts at once, in all */
  guint domain_concurrency;      /* attempts at once per destination domain */
  guint timeout;                 /* seconds per network step */
  guint64 max_messages;          /* [smtp] queue_max_messages; 0: no limit */
  guint64 max_bytes;             /* [smtp] queue_max_size; 0: no limit */
} SmtpQueueConfig;

/* Loads the spool (blocking: call it from init) and takes @config. */
SmtpQueue *smtp_queue_new (SmtpSettings *settings, SmtpQueueConfig *config, GError **error);
/* Starts the runner and the directory monitor (on the main loop). */
void smtp_queue_start (SmtpQueue *queue);
void smtp_queue_free (SmtpQueue *queue);

/* Whether one more message of @size bytes (0: not known yet) fits in the
 * queue's limits ([smtp] queue_max_messages, queue_max_size), counting the
 * messages queued and those being spooled. Submission asks at RCPT (and
 * answers 452 4.3.1 when not). */
gboolean smtp_queue_has_room (SmtpQueue *queue, guint64 size);

/* Writes @message and @env durably into the spool on a worker; the
 * runner does not see it until smtp_queue_activate(). When the message
 * does not fit (smtp_queue_has_room()), nothing is written and the finish
 * fails with POSTHORN_ERROR_LIMIT. The space stays reserved for @env until
 * it is activated or discarded (or the write fails). */
void smtp_queue_spool_async (SmtpQueue *queue, SmtpEnvelope *env, PosthornMessage *message,
                             GAsyncReadyCallback callback, gpointer user_data);
gboolean smtp_queue_spool_finish (GAsyncResult *result, GError **error);
/* Hands a spooled message to the runner (takes @env). */
void smtp_queue_activate (SmtpQueue *queue, SmtpEnvelope *env);
/* Removes a spooled, not activated message (on a worker; takes @env). */
void smtp_queue_discard (SmtpQueue *queue, SmtpEnvelope *env);

/* Spools and activates a message in one go (DSNs to remote senders): a
 * DSN is never refused for the queue's limits. */
void smtp_queue_submit (SmtpQueue *queue, SmtpEnvelope *env, PosthornMessage *message);

G_END_DECLS
