/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound queue's insides, shared by the files it is split into:
 * smtp-queue.c (the queue object, its life cycle, posthornctl flush and
 * delete), smtp-queue-spool.c (writing the spool on workers, the
 * limits), smtp-queue-run.c (the runner: attempts, back-off, expiry) and
 * smtp-queue-dsn.c (delay and failure reports). */
#pragma once

#include "smtp-queue.h"
#include "smtp-client.h"
#include "dsn.h"

G_BEGIN_DECLS

typedef struct _SmtpQueueItem SmtpQueueItem;

struct _SmtpQueue {
  SmtpSettings *settings;
  SmtpQueueConfig config;
  GHashTable *items;            /* id -> SmtpQueueItem */
  GHashTable *domain_busy;      /* domain -> GUINT_TO_POINTER (attempts) */
  guint busy;
  GThreadPool *pool;
  GMainContext *context;
  guint timer;
  GFileMonitor *monitor;
  gboolean stopping;
  guint64 bytes;                /* the messages in @items */
  GHashTable *reserved;         /* id -> size (guint64 *): being spooled */
  guint64 reserved_bytes;
};

struct _SmtpQueueItem {
  gint ref;
  SmtpQueue *queue;
  SmtpEnvelope *env;
  guint jobs;                   /* attempts in flight */
  gboolean deleted;             /* removed from the queue meanwhile */
  guint64 size;                 /* of ID.msg, counted in queue->bytes */
};

/* One delivery attempt: a message to one destination domain. */
typedef struct {
  SmtpQueueItem *item;
  char *domain;
  char *route_host;
  char *message_path;
  SmtpClientJob job;
} SmtpAttempt;

/* smtp-queue.c */
SmtpQueueItem *smtp_queue_item_ref (SmtpQueueItem *item);
void smtp_queue_item_unref (SmtpQueueItem *item);
/* Lists @env (taken) as a message of @size bytes, replacing an item of
 * the same id. */
void smtp_queue_add_item (SmtpQueue *queue, SmtpEnvelope *env, guint64 size);
/* Marks @item deleted and takes it out of the queue (may free it). */
void smtp_queue_item_remove (SmtpQueue *queue, SmtpQueueItem *item);

/* smtp-queue-spool.c: on a worker, logging failures */
void smtp_queue_spool_save (SmtpQueue *queue, const SmtpEnvelope *env);
void smtp_queue_spool_remove (SmtpQueue *queue, const char *id);

/* smtp-queue-dsn.c: builds (on a worker) and sends a report of @kind on
 * @rcpts (SmtpSpoolRcpt, copied) of @item. */
void smtp_queue_dsn_send (SmtpQueue *queue, SmtpQueueItem *item, SmtpDsnKind kind, GPtrArray *rcpts);

/* smtp-queue-run.c */
/* The thread pool's function: one delivery attempt (SmtpAttempt). */
void smtp_queue_attempt_run (gpointer data, gpointer user_data);
/* Every second: starts what is due, publishes the status. */
gboolean smtp_queue_tick (gpointer user_data);
/* Starts what is due soon, from an idle callback. */
void smtp_queue_tick_now (SmtpQueue *queue);
/* Sets the queue_length and queue_oldest_age status properties. */
void smtp_queue_publish_status (SmtpQueue *queue);

G_END_DECLS
