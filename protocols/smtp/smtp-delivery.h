/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hand-off at the end of DATA/BDAT: every local recipient's mailbox
 * in one all-or-nothing store transaction, remote recipients into the
 * durable queue; the callback runs once all of it is durable (or failed
 * with nothing kept). */
#pragma once

#include "smtp-session.h"

G_BEGIN_DECLS

typedef struct {
  GError *error;        /* NULL: accepted; else the SMTP reply to send */
  const char *sender;   /* the envelope sender, for logs */
  guint64 size;
} SmtpDeliveryResult;

typedef void (*SmtpDeliveryFunc) (SmtpDeliveryResult *result, gpointer user_data);

/* Delivers @message for @session's current transaction. */
void smtp_delivery_run (SmtpSession *session, PosthornMessage *message,
                        SmtpDeliveryFunc callback, gpointer user_data);

/* Maps a store error to the SMTP reply error for it. */
GError *smtp_delivery_store_error (const GError *error);

G_END_DECLS
