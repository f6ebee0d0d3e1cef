/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NOTIFY (RFC 5465), shared by its three files: imap-notify.c (the
 * command, the event groups and matching, the event-bus callback),
 * imap-notify-queue.c (the notification queue, held output, overflow,
 * STATUS and LIST notifications) and imap-notify-selected.c (pushes for
 * the selected mailbox, MessageNew fetch-att). */
#pragma once

#include "imap-session.h"

G_BEGIN_DECLS

#define NOTIFY_SUPPORTED_EVENTS \
  (IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE \
   | IMAP_NOTIFY_MAILBOX_NAME | IMAP_NOTIFY_SUBSCRIPTION_CHANGE)
#define NOTIFY_MESSAGE_EVENTS \
  (IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE)

typedef enum {
  IMAP_NOTIFY_JOB_STATUS,         /* STATUS of @mailbox */
  IMAP_NOTIFY_JOB_LIST,           /* MailboxName: LIST of @mailbox (OLDNAME @old) */
  IMAP_NOTIFY_JOB_SUBSCRIPTION,   /* LIST of @mailbox with its subscription state */
} ImapNotifyJobKind;

/* What a MailboxName LIST says about the existence of its mailbox. */
typedef enum {
  IMAP_NOTIFY_LIST_AS_IS,         /* as the store says when it runs (a parent) */
  IMAP_NOTIFY_LIST_EXISTS,        /* created or renamed */
  IMAP_NOTIFY_LIST_GONE,          /* deleted */
} ImapNotifyListHint;

typedef struct {
  ImapNotifyJobKind kind;
  char *mailbox;
  char *old;          /* IMAP_NOTIFY_JOB_LIST of a rename: the old name */
  ImapNotifyListHint hint; /* IMAP_NOTIFY_JOB_LIST */
  gboolean silent;    /* IMAP_NOTIFY_JOB_SUBSCRIPTION: only refresh the subscribed set */
  gboolean own;       /* IMAP_NOTIFY_JOB_SUBSCRIPTION: this session's change */
  gboolean running;   /* its store call is in flight */
} ImapNotifyJob;

struct _ImapNotify {
  gint ref;
  ImapSession *session;          /* NULL once the notify is off */
  GPtrArray *groups;             /* of ImapNotifyGroup, from the command */
  const ImapNotifyGroup *selected; /* the SELECTED(-DELAYED) group, or NULL */
  gboolean uses_subscribed;
  GHashTable *subscribed;        /* store names, when uses_subscribed */
  guint event_sub;
  /* the last rename that was not a child's (RFC 5465 5.4: the children
   * renamed with it get no events of their own), until another event */
  char *rename_old;
  char *rename_new;

  GQueue jobs;                   /* of ImapNotifyJob */
  gboolean job_running;
  guint jobs_source;             /* idle source that runs the queue */
  GString *held;                 /* written before the next tagged reply */
  guint held_lines;

  /* the selected mailbox */
  PosthornMailboxView *view;     /* whose UIDs reported_uid refers to */
  guint32 reported_uid;          /* highest UID whose MessageNew was sent */
  GArray *own_new;               /* UIDs this session added to it itself */
  gboolean push_wanted;          /* an event for it waits for a push */
  gboolean pushing;              /* a push runs (input paused) */
  ImapCommand *internal;         /* the internal FETCH running, or NULL */
  ImapCommand *saved_cmd;        /* the command it replaced (IDLE) */
  gboolean saved_read_only;

  gboolean overflowed;           /* NOTIFICATIONOVERFLOW sent or held */
};

ImapNotify *imap_notify_ref (ImapNotify *n);
void imap_notify_unref (ImapNotify *n);
/* Turns @n off: no more events; callbacks in flight see n->session NULL. */
void imap_notify_stop (ImapNotify *n);
void imap_notify_job_free (ImapNotifyJob *job);
/* The events wanted for a mailbox other than the selected one. */
guint imap_notify_events_for (ImapNotify *n, const char *name);

/* imap-notify-queue.c */
void imap_notify_jobs_run (ImapNotify *n);
/* A MailboxName LIST of @mailbox (with OLDNAME @old when not NULL) as it
 * is when the job runs (one store list for the LIST jobs waiting); FALSE
 * when that overflowed (@n may be gone then). */
gboolean imap_notify_queue_list (ImapNotify *n, const char *mailbox, const char *old,
                                 ImapNotifyListHint hint);
void imap_notify_queue_mailbox_job (ImapNotify *n, ImapNotifyJobKind kind, const char *mailbox,
                                    gboolean silent, gboolean own);
void imap_notify_append_status (ImapSession *s, GString *out, const char *name,
                                const PosthornMailboxStatus *st);

/* imap-notify-selected.c */
guint32 imap_notify_view_max_uid (PosthornMailboxView *view);
/* Forgets what was reported when another mailbox (view) is selected. */
void imap_notify_track_view (ImapNotify *n);
/* Starts a push if one is due and nothing else runs. */
void imap_notify_push_maybe (ImapNotify *n);
/* A message event of another session in the selected mailbox. */
void imap_notify_selected_event (ImapNotify *n, PosthornEventKind kind);

G_END_DECLS
