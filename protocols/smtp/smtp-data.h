/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "smtp-reply.h"

G_BEGIN_DECLS

/* How a line arrived; the values equal PosthornLineEnd's
 * (posthorn-connection.h), so the session passes them through with a cast
 * (and can G_STATIC_ASSERT that they still match). */
typedef enum {
  SMTP_LINE_END_CRLF = 0,
  SMTP_LINE_END_LF = 1,    /* a bare LF */
  SMTP_LINE_END_NONE = 2,  /* a piece of a longer line; more follows */
} SmtpLineEnd;

typedef enum {
  /* Bare LF line ends become CRLF and bare CR bytes are kept, as Postfix
   * 3.9 "smtpd_forbid_bare_newline = normal" does; but a message holding
   * the SMTP smuggling pattern — a '.' with a CR or LF on both sides other
   * than the real CRLF "." CRLF — is refused (554 5.5.2). */
  SMTP_BARE_NEWLINE_NORMAL = 0,
  /* Any bare LF line end or bare CR byte refuses the message (554 5.5.2),
   * like Postfix "strict" and Sendmail 8.18's default. */
  SMTP_BARE_NEWLINE_STRICT,
} SmtpBareNewline;

/* The canonical message bytes: dot-unstuffed, every line ending in CRLF.
 * Called in order; the data is only valid during the call. Not called any
 * more once the message is known to be refused. */
typedef void (*SmtpDataSink) (const char *data, gsize length, gpointer user_data);

typedef struct {
  guint64 max_size;          /* canonical bytes; 0 = unlimited */
  guint max_received;        /* Received: header fields allowed; 0 = 30 */
  SmtpBareNewline bare_newline;
  gboolean binary;           /* BDAT with BODY=BINARYMIME: chunk bytes pass
                              * untouched, no newline checks */
} SmtpDataOptions;

typedef enum {
  SMTP_DATA_MORE,   /* keep feeding */
  SMTP_DATA_END,    /* that line was the CRLF "." CRLF end of data */
} SmtpDataStatus;

/* One DATA (or BDAT) transaction's body. Pure: no I/O. */
typedef struct _SmtpData SmtpData;

/* A DATA phase starting right after the DATA command line (that line's
 * CRLF counts as the CRLF before a "." on the first line). @options may
 * be NULL for the defaults. */
SmtpData *smtp_data_new (const SmtpDataOptions *options, SmtpDataSink sink,
                         gpointer user_data);
void smtp_data_free (SmtpData **data);

/* Feeds one line (without terminator, NUL bytes allowed) as the connection
 * delivered it. Returns SMTP_DATA_END exactly when the line is "." ended
 * by CRLF and the line before ended by CRLF; nothing else ends DATA (not
 * "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n"). Feeding after END is a
 * programming error. A CR that ends a piece (SMTP_LINE_END_NONE) and is
 * followed by an empty LF-ended piece is taken as the CRLF it was. */
SmtpDataStatus smtp_data_feed_line (SmtpData *data, const char *line,
                                    gsize length, SmtpLineEnd end);

/* BDAT (RFC 3030): feeds chunk bytes (any split), no unstuffing and no end
 * marker; size and Received: accounting as for DATA. Unless the options say
 * binary, the bare newline policy applies as for DATA — a bare LF becomes
 * CRLF (normal) and the smuggling pattern (a "." with CR or LF on both
 * sides other than CRLF "." CRLF, which in BDAT is plain data) refuses the
 * message — because the content may later be relayed with DATA. Do not
 * mix with smtp_data_feed_line() on one SmtpData. */
void smtp_data_feed_bytes (SmtpData *data, const char *bytes, gsize length);

/* After SMTP_DATA_END (or the LAST BDAT chunk): TRUE if the message may be
 * accepted; otherwise FALSE with @error set to the reply to send, checked
 * in this order: "554 5.5.2" smuggling pattern / bare CR or LF (strict),
 * "554 5.4.6 Too many hops" (more than max_received Received: fields in
 * the header), "552 5.3.4 Message size exceeds fixed maximum message size". */
gboolean smtp_data_finish (SmtpData *data, GError **error);

/* Canonical bytes counted so far (also past the maximum). */
guint64 smtp_data_get_size (const SmtpData *data);
/* Received: header fields seen in the header section. */
guint smtp_data_get_received_count (const SmtpData *data);
/* The message held a bare LF line end / a bare CR byte. */
gboolean smtp_data_had_bare_lf (const SmtpData *data);
gboolean smtp_data_had_bare_cr (const SmtpData *data);

G_END_DECLS
