/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "smtp-address.h"

G_BEGIN_DECLS

/* RFC 5321 §4.4 / RFC 3848 "with" protocol types. */
typedef enum {
  SMTP_WITH_SMTP,
  SMTP_WITH_ESMTP,
  SMTP_WITH_ESMTPA,    /* authenticated */
  SMTP_WITH_ESMTPS,    /* TLS */
  SMTP_WITH_ESMTPSA,   /* TLS and authenticated */
  SMTP_WITH_LMTP,
  SMTP_WITH_LMTPA,
  SMTP_WITH_LMTPS,
  SMTP_WITH_LMTPSA,
  SMTP_WITH_UTF8SMTP,  /* RFC 6531 §3.7.3: SMTPUTF8 transactions */
  SMTP_WITH_UTF8SMTPA,
  SMTP_WITH_UTF8SMTPS,
  SMTP_WITH_UTF8SMTPSA,
} SmtpWith;

/* The "with" keyword for a session: @lmtp, HELO vs EHLO (@esmtp), @tls,
 * @authenticated and @utf8 (the transaction used SMTPUTF8). */
SmtpWith smtp_with_for (gboolean lmtp, gboolean esmtp, gboolean tls,
                        gboolean authenticated, gboolean utf8);
const char *smtp_with_name (SmtpWith with);

typedef struct {
  const char *helo;         /* as the client said it; NULL: not given */
  const char *rdns;         /* verified reverse DNS name; NULL: unknown */
  const char *address;      /* peer IP as text ("192.0.2.7", "2001:db8::1") */
  const char *by;           /* our hostname ([smtp] hostname) */
  SmtpWith with;
  const char *tls_info;     /* e.g. "TLS1.3 TLS_AES_256_GCM_SHA384"; NULL if none */
  const char *id;           /* the queue/transaction id */
  const SmtpPath *recipient;  /* "for <...>" — pass it only when there is
                               * exactly one recipient; NULL otherwise */
  GDateTime *date;          /* NULL: now */
} SmtpReceivedInfo;

/* The Received: header field, folded, CRLF terminated:
 *   Received: from HELO (RDNS [IP])
 *           by HOST (Posthorn) with ESMTPS (TLS...) id ID
 *           for <rcpt>; Tue, 2 Jan 2024 10:00:00 +0000
 * Untrusted parts (HELO, rDNS) are reduced to printable ASCII without
 * parentheses or backslashes, so they cannot break the comment or the field. */
char *smtp_received_build (const SmtpReceivedInfo *info);

/* "Return-Path: <sender>\r\n" (RFC 5321 §4.4); "<>" for the null path. */
char *smtp_return_path_build (const SmtpPath *reverse_path);

/* An RFC 5322 date-time in English whatever the locale:
 * "Tue, 2 Jan 2024 10:00:00 +0100". */
char *smtp_format_date (GDateTime *date);

G_END_DECLS
