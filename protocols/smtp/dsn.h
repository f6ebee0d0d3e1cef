/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "smtp-command.h"

G_BEGIN_DECLS

/* RFC 3464 delivery status notifications, built as text. */

typedef enum {
  SMTP_DSN_FAILURE,   /* permanent failure: "Undelivered Mail Returned to Sender" */
  SMTP_DSN_DELAY,     /* still trying: "Delayed Mail (still being retried)" */
} SmtpDsnKind;

typedef enum {
  SMTP_DSN_ACTION_FAILED,
  SMTP_DSN_ACTION_DELAYED,
  SMTP_DSN_ACTION_DELIVERED,
  SMTP_DSN_ACTION_RELAYED,
  SMTP_DSN_ACTION_EXPANDED,
} SmtpDsnAction;

typedef struct {
  const char *final_recipient;    /* the mailbox, "user@example.org" */
  const char *orcpt_type;         /* ORCPT= address type ("rfc822"); NULL: none */
  const char *orcpt;              /* ORCPT= address, xtext-decoded */
  SmtpDsnAction action;
  const char *status;             /* "5.1.1" */
  const char *remote_mta;         /* "mx.example.net"; NULL: none */
  const char *diagnostic;         /* the remote reply, "550 5.1.1 No such user"; NULL: none */
  GDateTime *last_attempt;        /* NULL: none */
  GDateTime *will_retry_until;    /* delay reports; NULL: none */
} SmtpDsnRecipient;

typedef struct {
  SmtpDsnKind kind;
  const char *reporting_mta;      /* our hostname */
  const char *from;               /* "MAILER-DAEMON@host"; NULL: built from reporting_mta */
  const char *to;                 /* the original envelope sender (mailbox) */
  const char *envid;              /* ENVID=, decoded; NULL: none */
  GDateTime *arrival_date;        /* NULL: none */
  GDateTime *date;                /* the report's Date:; NULL: now */
  const char *message_id;         /* "<id@host>"; NULL: generated */
  const char *boundary;           /* NULL: generated */
  const SmtpDsnRecipient *recipients;
  gsize n_recipients;
  /* The original message (canonical CRLF bytes) and what to return of it:
   * SMTP_RET_FULL → message/rfc822 with all of it; SMTP_RET_HDRS or
   * SMTP_RET_NONE → text/rfc822-headers with its header section only
   * (RFC 3461 §4.3 leaves the default to us: we return headers). NULL:
   * nothing is attached. */
  GBytes *original;
  SmtpRet ret;
} SmtpDsnInfo;

/* Builds the whole report message (RFC 3464 multipart/report;
 * report-type=delivery-status, RFC 6522), CRLF line ends, with
 * "Auto-Submitted: auto-replied" (RFC 3834). The report is sent with a
 * null reverse-path. Returns NULL with @error (451 4.3.0) only when
 * reporting_mta or to is missing or there is no recipient. */
char *smtp_dsn_build (const SmtpDsnInfo *info, GError **error);

/* The header section of @message (up to and including the empty line, or
 * all of it when there is no body). */
GBytes *smtp_dsn_extract_headers (GBytes *message);

G_END_DECLS
