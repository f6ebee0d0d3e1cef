/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 5321 §4.5.3.1 size limits, in octets. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256   /* the whole "<...>", punctuation included */

/* A parsed Reverse-path or Forward-path (RFC 5321 §4.1.2). */
typedef struct {
  gboolean null;           /* "<>" (reverse-path only); no other field set */
  gboolean postmaster;     /* "<Postmaster>" without domain (forward-path
                            * only): local_part "Postmaster" as sent, domain NULL */
  char *local_part;        /* decoded: quotes and quoted-pair escapes removed */
  gboolean quoted;         /* the local part was a Quoted-string */
  char *domain;            /* as sent: "example.org" or "[192.0.2.1]",
                            * "[IPv6:2001:db8::1]" */
  gboolean domain_literal; /* the domain is an address literal */
  char *route;             /* the source route "@a,@b" as sent (RFC 5321
                            * §4.1.1.3 / Appendix C): accepted and discarded,
                            * kept for logs only; NULL if none */
  gboolean utf8;           /* non-ASCII in the local part or the domain */
} SmtpPath;

typedef enum {
  SMTP_PATH_REVERSE = 1 << 0,     /* MAIL FROM: "<>" allowed */
  SMTP_PATH_FORWARD = 1 << 1,     /* RCPT TO: "<Postmaster>" allowed */
  SMTP_PATH_ALLOW_UTF8 = 1 << 2,  /* SMTPUTF8 (RFC 6531): UTF-8 in atoms,
                                   * quoted strings and domain labels */
} SmtpPathFlags;

typedef enum {
  SMTP_PATH_OK = 0,
  SMTP_PATH_SYNTAX,          /* not Path / "<>" grammar */
  SMTP_PATH_TOO_LONG,        /* path > 256 */
  SMTP_PATH_LOCAL_TOO_LONG,  /* local part > 64 */
  SMTP_PATH_DOMAIN_TOO_LONG, /* domain > 255 or a label > 63 */
  SMTP_PATH_NEEDS_UTF8,      /* valid UTF-8 but SMTP_PATH_ALLOW_UTF8 not given */
} SmtpPathStatus;

/* Parses a path starting at @text[0] == '<' and ending at the matching
 * '>'; *@consumed gets the number of bytes up to and including '>'.
 * On success *@path is a new path. Pure, no allocation on failure. */
SmtpPathStatus smtp_path_parse (const char *text, gsize length,
                                SmtpPathFlags flags, SmtpPath **path,
                                gsize *consumed);

/* Parses a bare Mailbox (local@domain, no brackets), as in AUTH=. */
SmtpPathStatus smtp_mailbox_parse (const char *text, gsize length,
                                   SmtpPathFlags flags, SmtpPath **path);

SmtpPath *smtp_path_copy (const SmtpPath *path);
void smtp_path_free (SmtpPath *path);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpPath, smtp_path_free)

/* "local@domain" with the local part re-quoted when it is not a dot-string;
 * "" for the null path, "Postmaster" for the bare postmaster. The source
 * route is never included. */
char *smtp_path_to_mailbox (const SmtpPath *path);
/* "<" mailbox ">" — suitable for Return-Path, logs and onward MAIL/RCPT. */
char *smtp_path_to_string (const SmtpPath *path);

/* ---- relay classification ---- */

typedef enum {
  SMTP_ADDRESS_INVALID = 0,  /* refuse: never deliver, never relay */
  SMTP_ADDRESS_LOCAL,        /* for one of our domains: deliver locally
                              * by (local part, domain); never routes on */
  SMTP_ADDRESS_REMOTE,       /* elsewhere: relaying needs authorisation */
} SmtpAddressClass;

/* Classifies a forward-path against the local domains (case-insensitive,
 * a trailing dot in the list is ignored; an address literal such as
 * "[127.0.0.1]" is local only when listed literally):
 * - "<Postmaster>" is LOCAL; the null path is INVALID;
 * - a source route was already discarded: "@a:b@c" classifies as b@c;
 * - no routing inside the local part, ever: "user%other@local" and
 *   "user!other@local" are LOCAL with that whole local part (which then
 *   simply does not exist);
 * - a local part that holds '@' (only possible quoted: "a@b"@local) is
 *   INVALID for a local domain;
 * - a domain whose last label is all digits (an unbracketed IP address
 *   such as user@127.0.0.1) is INVALID. */
SmtpAddressClass smtp_address_classify (const SmtpPath *path,
                                        const char *const *local_domains);

/* Parses @text ("<...>", forward-path rules, UTF-8 allowed) and classifies
 * it; a syntax error is INVALID. */
SmtpAddressClass smtp_address_classify_string (const char *text,
                                               const char *const *local_domains);

/* TRUE if @a and @b name the same domain: ASCII case-insensitive (UTF-8
 * case folded) and ignoring one trailing dot on either; address literals
 * are compared as parsed IP addresses. */
gboolean smtp_domain_equal (const char *a, const char *b);

G_END_DECLS

G_BEGIN_DECLS
/* TRUE if @text is a Domain (RFC 5321: letters, digits, hyphens; labels of
 * at most 63, 255 in all; U-labels only with @allow_utf8) or, with
 * @allow_literal, an address literal ("[192.0.2.1]", "[IPv6:...]"). */
gboolean smtp_domain_is_valid (const char *text, gsize length,
                               gboolean allow_literal, gboolean allow_utf8,
                               gboolean *is_literal);
G_END_DECLS
