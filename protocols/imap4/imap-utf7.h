/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Modified UTF-7 mailbox names (RFC 3501 section 5.1.3). Without
 * UTF8=ACCEPT the session converts every mailbox name it reads with
 * imap_utf7_decode() and every name it writes with imap_utf7_encode(). */

#define IMAP_UTF7_ERROR (imap_utf7_error_quark ())
GQuark imap_utf7_error_quark (void);

/* Encodes UTF-8 @utf8 as modified UTF-7. NULL with @error if @utf8 is not
 * valid UTF-8 or contains NUL. */
char *imap_utf7_encode (const char *utf8, GError **error);

/* Decodes modified UTF-7 to UTF-8, strictly: NULL with @error for bytes
 * outside printable US-ASCII, an unclosed '&', bad or non-zero-padded
 * base64, unpaired surrogates, encoded printable ASCII, and a shifted run
 * followed directly by another (non-canonical "&AOQ-&AOQ-"). */
char *imap_utf7_decode (const char *mutf7, GError **error);

/* TRUE if @mutf7 decodes (strictly). */
gboolean imap_utf7_is_valid (const char *mutf7);

G_END_DECLS
