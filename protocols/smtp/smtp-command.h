/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "smtp-address.h"
#include "smtp-reply.h"

G_BEGIN_DECLS

typedef enum {
  SMTP_VERB_EHLO,
  SMTP_VERB_HELO,
  SMTP_VERB_LHLO,      /* LMTP, RFC 2033 */
  SMTP_VERB_MAIL,
  SMTP_VERB_RCPT,
  SMTP_VERB_DATA,
  SMTP_VERB_BDAT,      /* RFC 3030 */
  SMTP_VERB_RSET,
  SMTP_VERB_NOOP,
  SMTP_VERB_QUIT,
  SMTP_VERB_VRFY,
  SMTP_VERB_EXPN,
  SMTP_VERB_HELP,
  SMTP_VERB_STARTTLS,  /* RFC 3207 */
  SMTP_VERB_AUTH,      /* RFC 4954 */
} SmtpVerb;

/* The verb's name in upper case ("MAIL"). */
const char *smtp_verb_name (SmtpVerb verb);

typedef enum {
  SMTP_BODY_NONE = 0,     /* no BODY= given */
  SMTP_BODY_7BIT,
  SMTP_BODY_8BITMIME,     /* RFC 6152 */
  SMTP_BODY_BINARYMIME,   /* RFC 3030: only with BDAT */
} SmtpBody;

typedef enum {
  SMTP_RET_NONE = 0,
  SMTP_RET_FULL,
  SMTP_RET_HDRS,
} SmtpRet;

typedef enum {
  SMTP_NOTIFY_NONE = 0,         /* no NOTIFY= given */
  SMTP_NOTIFY_NEVER = 1 << 0,
  SMTP_NOTIFY_SUCCESS = 1 << 1,
  SMTP_NOTIFY_FAILURE = 1 << 2,
  SMTP_NOTIFY_DELAY = 1 << 3,
} SmtpNotify;

/* One ESMTP parameter as sent, keyword in upper case, value NULL when the
 * parameter has none ("SMTPUTF8"). */
typedef struct {
  char *keyword;
  char *value;
} SmtpParam;

/* A parsed command line. Only the fields of its verb are set. */
typedef struct {
  SmtpVerb verb;

  /* EHLO/HELO/LHLO: the domain or address literal; VRFY/EXPN: the string
   * (required); HELP/NOOP: the optional string (NULL if none); AUTH: the
   * mechanism in upper case. */
  char *argument;
  gboolean argument_literal;     /* EHLO/HELO/LHLO sent an address literal */

  /* AUTH: the initial response as sent (base64 or "="), NULL if none. */
  char *auth_initial_response;

  /* BDAT */
  guint64 bdat_size;
  gboolean bdat_last;

  /* MAIL (reverse-path) and RCPT (forward-path) */
  SmtpPath *path;
  GPtrArray *params;             /* of SmtpParam, in order; never NULL for MAIL/RCPT */

  /* MAIL parameters */
  gboolean has_size;
  guint64 size;                  /* SIZE= (RFC 1870) */
  SmtpBody body;                 /* BODY= */
  gboolean smtputf8;             /* SMTPUTF8 (RFC 6531) */
  gboolean has_auth;
  SmtpPath *auth;                /* AUTH=<mailbox> decoded (RFC 4954 §5);
                                  * has_auth with auth NULL means AUTH=<> */
  SmtpRet ret;                   /* RET= (RFC 3461) */
  char *envid;                   /* ENVID= decoded from xtext */

  /* RCPT parameters (RFC 3461) */
  SmtpNotify notify;
  char *orcpt_type;              /* ORCPT= address type ("rfc822"), as sent */
  char *orcpt;                   /* ORCPT= address, decoded from xtext */

  /* MAIL: the path holds UTF-8 (then SMTPUTF8 was given, else the parse
   * failed). RCPT: the path holds UTF-8 (the parse failed unless
   * SMTP_PARSE_UTF8 was given). */
  gboolean needs_utf8;
} SmtpCommand;

typedef enum {
  SMTP_PARSE_DEFAULT = 0,
  /* RCPT of a transaction whose MAIL had SMTPUTF8: UTF-8 paths allowed. */
  SMTP_PARSE_UTF8 = 1 << 0,
} SmtpParseFlags;

/* The longest command line we accept by default, terminator excluded:
 * RFC 5321's 512 octets plus room for the ESMTP parameters it allows
 * extensions to add (RFC 1870, RFC 3461, RFC 4954). */
#define SMTP_COMMAND_LINE_MAX 2048

/* Parses one command line (terminator excluded; @line may hold NUL bytes).
 * Returns the command, or NULL with @error in SMTP_REPLY_ERROR set to
 * the exact reply to send, e.g. "501 5.5.4 Syntax: MAIL FROM:<address>",
 * "501 5.1.3 Bad recipient address syntax", "555 5.5.4 Unsupported
 * parameter: FOO", "502 5.5.1 Unrecognized command".
 *
 * Decisions (see README): one space after "FROM:"/"TO:" is tolerated
 * (`MAIL FROM: <a@b>`), as Postfix does; paths without angle brackets are
 * refused; trailing spaces after the last parameter are ignored; several
 * spaces between parameters count as one. */
SmtpCommand *smtp_command_parse (const char *line, gsize length,
                                 SmtpParseFlags flags, GError **error);

void smtp_command_free (SmtpCommand *command);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpCommand, smtp_command_free)

/* The value of the parameter @keyword (case-insensitive), NULL if absent
 * or valueless; *@present tells which (may be NULL). */
const char *smtp_command_get_param (const SmtpCommand *command,
                                    const char *keyword, gboolean *present);

/* For a line the connection reported as too long (line_too_long
 * callback), or a line longer than @max_length: sets @error to
 * "500 5.5.2 Line too long" and returns FALSE. */
gboolean smtp_command_check_length (gsize length, gsize max_length, GError **error);

/* RFC 3461 §4 xtext. Decoding accepts "+XX" with upper- or lower-case hex
 * digits and refuses '+' without two hex digits, '=' and bytes outside
 * 33..126; returns NULL on error. The result may hold any byte but NUL
 * (a "+00" is refused). */
char *smtp_xtext_decode (const char *text, gsize length);
/* Encodes every byte outside 33..126, '+' and '=' as "+XX". */
char *smtp_xtext_encode (const char *text, gsize length);

G_END_DECLS
