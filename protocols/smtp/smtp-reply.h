/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parse and policy errors of the SMTP front half are GErrors in this
 * domain: the error code is the reply code (e.g. 501) and the message is
 * "X.Y.Z text" — the enhanced status code (RFC 3463), one space, the text.
 * smtp_reply_format_error() turns one into the bytes to send. */
#define SMTP_REPLY_ERROR (smtp_reply_error_quark ())
GQuark smtp_reply_error_quark (void);

/* Sets @error (if not NULL) to reply @code with @enhanced ("5.5.4") and
 * the printf-formatted text. */
void smtp_reply_set_error (GError **error, guint code, const char *enhanced,
                           const char *format, ...) G_GNUC_PRINTF (4, 5);

/* The reply line(s) for a SMTP_REPLY_ERROR error, CRLF terminated. An
 * error of another domain becomes "451 4.3.0 <message>". */
char *smtp_reply_format_error (const GError *error);

/* The longest reply line we produce, CRLF excluded. Texts are wrapped at
 * spaces (hard-broken when a word is longer) so that every line of a reply
 * stays within it; RFC 5321 §4.5.3.1.5 allows 512 octets with CRLF. */
#define SMTP_REPLY_LINE_MAX 78

/* Formats a reply: @code (200..599), @enhanced ("2.0.0"; NULL for replies
 * that must not carry one: the greeting and HELO/EHLO, RFC 2034 §3) and
 * @text. A '\n' in @text starts a new line; long lines are wrapped. Every
 * line but the last is "CODE-", the last "CODE ", each line repeats the
 * enhanced code, and each ends in CRLF. Control characters in @text are
 * replaced by '?', so untrusted text cannot inject reply lines. */
char *smtp_reply_format (guint code, const char *enhanced, const char *text);

/* Same, appended to @out. */
void smtp_reply_append (GString *out, guint code, const char *enhanced,
                        const char *text);

typedef enum {
  SMTP_CAP_PIPELINING = 1 << 0,          /* RFC 2920 */
  SMTP_CAP_8BITMIME = 1 << 1,            /* RFC 6152 */
  SMTP_CAP_SMTPUTF8 = 1 << 2,            /* RFC 6531 */
  SMTP_CAP_ENHANCEDSTATUSCODES = 1 << 3, /* RFC 2034 */
  SMTP_CAP_STARTTLS = 1 << 4,            /* RFC 3207 */
  SMTP_CAP_CHUNKING = 1 << 5,            /* RFC 3030 */
  SMTP_CAP_BINARYMIME = 1 << 6,          /* RFC 3030 */
  SMTP_CAP_DSN = 1 << 7,                 /* RFC 3461 */
  SMTP_CAP_SIZE = 1 << 8,                /* RFC 1870 */
} SmtpCapabilityFlags;

typedef struct {
  const char *hostname;        /* first line: "250-<hostname> <greeting>" */
  const char *greeting;        /* may be NULL */
  SmtpCapabilityFlags flags;
  guint64 max_size;            /* with SMTP_CAP_SIZE: "SIZE n"; 0 = "SIZE" */
  const char *const *auth_mechanisms;  /* "AUTH PLAIN LOGIN"; NULL/empty: none */
} SmtpCapabilities;

/* The EHLO (or LHLO) reply: the hostname line, then one line per
 * capability in a fixed order (SIZE, PIPELINING, 8BITMIME, BINARYMIME,
 * CHUNKING, SMTPUTF8, DSN, ENHANCEDSTATUSCODES, STARTTLS, AUTH), without
 * enhanced status codes (RFC 2034 §3). */
char *smtp_reply_format_ehlo (const SmtpCapabilities *caps);

G_END_DECLS
