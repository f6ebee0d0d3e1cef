/* The multi-line body of RETR and TOP (RFC 1939 section 3): a pure
 * encoder fed with the message in pieces of any size. Lines that begin
 * with '.' get one more '.', the message ends with CRLF "." CRLF (a CRLF
 * is added first if the message does not end with a line end). For TOP it
 * passes the header and then only the first N body lines.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gboolean at_line_start;    /* the next byte starts a line */
  gboolean limited;          /* TOP */
  gboolean done;             /* TOP: nothing more is wanted */
  guint64 position;          /* message bytes consumed */
  guint64 header_size;       /* TOP: bytes of the header, blank line included */
  guint64 body_lines_left;   /* TOP: body lines still to pass */
} Pop3Stuffer;

/* For RETR: the whole message. */
void pop3_stuffer_init (Pop3Stuffer *stuffer);

/* For TOP: @header_size bytes of header (as
 * posthorn_message_info_get_header_size() gives it), then @body_lines
 * lines of the body. */
void pop3_stuffer_init_top (Pop3Stuffer *stuffer, guint64 header_size, guint64 body_lines);

/* Appends the stuffed form of the next @length message bytes to @out.
 * Returns TRUE once the stuffer wants no more input (TOP reached its
 * limit); the bytes beyond the limit are ignored. */
gboolean pop3_stuffer_feed (Pop3Stuffer *stuffer, const guint8 *data, gsize length,
                            GByteArray *out);

/* If the next @length message bytes go out unchanged (RETR, and no line
 * among them begins with '.'), advances the stuffer over them and returns
 * TRUE: the caller sends @data as it is, without a copy. Otherwise
 * returns FALSE and changes nothing; use pop3_stuffer_feed(). */
gboolean pop3_stuffer_pass_through (Pop3Stuffer *stuffer, const guint8 *data, gsize length);

/* Appends the end of the multi-line response: CRLF if the last line was
 * not ended, then ".\r\n". */
void pop3_stuffer_finish (Pop3Stuffer *stuffer, GByteArray *out);

G_END_DECLS
