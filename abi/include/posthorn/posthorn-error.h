/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

#define POSTHORN_ERROR (posthorn_error_quark ())

/* Error codes of the POSTHORN_ERROR domain. Protocols map them to their
 * reply codes (IMAP response codes, SMTP enhanced status codes, POP3
 * RESP-CODES). New codes may only be appended. */
typedef enum {
  POSTHORN_ERROR_FAILED,        /* anything else; a server-side problem */
  POSTHORN_ERROR_CONFIG,        /* bad configuration (start-up or reload) */
  POSTHORN_ERROR_PLUGIN,        /* a plugin could not be loaded */
  POSTHORN_ERROR_NOT_FOUND,     /* no such mailbox, message, user */
  POSTHORN_ERROR_EXISTS,        /* it already exists */
  POSTHORN_ERROR_INVALID,       /* bad input from a client (name, syntax) */
  POSTHORN_ERROR_AUTH_FAILED,   /* wrong user or password: one error for both */
  POSTHORN_ERROR_TEMPORARY,     /* try again later */
  POSTHORN_ERROR_TOO_BIG,       /* over a size limit */
  POSTHORN_ERROR_OVER_QUOTA,    /* over the user's quota */
  POSTHORN_ERROR_PERMISSION,    /* not allowed */
  POSTHORN_ERROR_IN_USE,        /* locked by another session */
  POSTHORN_ERROR_MODIFIED,      /* UNCHANGEDSINCE failed */
  POSTHORN_ERROR_UNSUPPORTED,   /* not offered by this plugin or build */
  POSTHORN_ERROR_LIMIT,         /* a configured limit was hit (not size) */
} PosthornError;

GQuark posthorn_error_quark (void);

G_END_DECLS
