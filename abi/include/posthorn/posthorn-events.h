/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* The mailbox event bus. Stores publish every change they make (whoever
 * asked for it: an IMAP session, SMTP delivery, an external Maildir writer
 * they noticed); IDLE/NOTIFY sessions subscribe. Events are keyed by user
 * and mailbox (UTF-8 store names, '/' separated). */

typedef enum {
  POSTHORN_EVENT_MESSAGE_NEW = 1,      /* uid, modseq */
  POSTHORN_EVENT_FLAGS_CHANGED = 2,    /* uid, modseq */
  POSTHORN_EVENT_MESSAGE_EXPUNGED = 3, /* uid, modseq */
  POSTHORN_EVENT_MAILBOX_CREATED = 4,
  POSTHORN_EVENT_MAILBOX_DELETED = 5,
  POSTHORN_EVENT_MAILBOX_RENAMED = 6,  /* old_mailbox */
  POSTHORN_EVENT_SUBSCRIPTION_CHANGED = 7,
} PosthornEventKind;

/* An immutable, reference-counted event. */
typedef struct _PosthornEvent PosthornEvent;

PosthornEvent *posthorn_event_new (PosthornEventKind kind,
                                   const char *user,
                                   const char *mailbox);
/* Setters are for the publisher, before posthorn_event_publish(). */
void posthorn_event_set_uid (PosthornEvent *event, guint32 uid);
void posthorn_event_set_modseq (PosthornEvent *event, guint64 modseq);
void posthorn_event_set_old_mailbox (PosthornEvent *event, const char *old_mailbox);
/* The publishing session, so that it can skip its own events (may be NULL). */
void posthorn_event_set_origin (PosthornEvent *event, gconstpointer origin);

PosthornEvent *posthorn_event_ref (PosthornEvent *event);
void posthorn_event_unref (PosthornEvent *event);

PosthornEventKind posthorn_event_get_kind (const PosthornEvent *event);
const char *posthorn_event_get_user (const PosthornEvent *event);
const char *posthorn_event_get_mailbox (const PosthornEvent *event);
const char *posthorn_event_get_old_mailbox (const PosthornEvent *event);
guint32 posthorn_event_get_uid (const PosthornEvent *event);
guint64 posthorn_event_get_modseq (const PosthornEvent *event);
gconstpointer posthorn_event_get_origin (const PosthornEvent *event);

/* Publishes @event (takes the reference). Callable from any thread; the
 * subscribers are called on the main loop thread, in publishing order. */
void posthorn_event_publish (PosthornEvent *event);

typedef void (*PosthornEventFunc) (const PosthornEvent *event, gpointer user_data);

/* Subscribes to @user's events, for one @mailbox or all of them (NULL);
 * a rename also reaches the subscribers of the old name. Returns an id
 * (> 0) for posthorn_event_unsubscribe(). Subscribe and unsubscribe on the
 * main loop thread; unsubscribing from inside a callback (any
 * subscription's) is allowed: a removed subscription gets no further
 * events and its @destroy runs once no callback uses it any more. */
guint posthorn_event_subscribe (const char *user,
                                const char *mailbox,
                                PosthornEventFunc func,
                                gpointer user_data,
                                GDestroyNotify destroy);
void posthorn_event_unsubscribe (guint id);

G_END_DECLS
