/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writing IMAP strings and dates (RFC 3501 section 4.3, 9). */

/* Appends @data as a quoted string when that is safe (no CR, LF or NUL,
 * no 8-bit byte unless @utf8 - UTF8=ACCEPT enabled - and at most 1024
 * bytes), else as a literal "{n}\r\n" followed by the bytes. @length -1
 * means NUL-terminated. */
void imap_quote_append_string (GString *out, const char *data, gssize length, gboolean utf8);

/* Like imap_quote_append_string(), but NIL for a NULL @data. */
void imap_quote_append_nstring (GString *out, const char *data, gssize length, gboolean utf8);

/* Appends an astring (mailbox names, LIST/STATUS output): a bare atom when
 * every byte is an ATOM-CHAR and it is not "NIL", else as
 * imap_quote_append_string(). */
void imap_quote_append_astring (GString *out, const char *data, gboolean utf8);

/* TRUE if @c is an ATOM-CHAR: printable ASCII except "(){ %*\"\\]". */
gboolean imap_is_atom_char (guchar c);
/* TRUE if @c is an ASTRING-CHAR: ATOM-CHAR or ']'. */
gboolean imap_is_astring_char (guchar c);

/* Formats a date-time as INTERNALDATE text without quotes, e.g.
 * "17-Jul-1996 02:44:25 -0700": @unix_time seen at UTC offset
 * @tz_offset_minutes. */
char *imap_datetime_format (gint64 unix_time, int tz_offset_minutes);

/* Parses the APPEND/INTERNALDATE date-time text (without the quotes):
 * "dd-Mon-yyyy hh:mm:ss +zzzz", the day may be " d" or "d". Month names are
 * case-insensitive. FALSE for anything else or an impossible date. */
gboolean imap_datetime_parse (const char *text, gint64 *unix_time, int *tz_offset_minutes);

/* Parses a SEARCH date "d-Mon-yyyy" (1 or 2 digit day). */
gboolean imap_date_parse (const char *text, guint *year, guint *month, guint *day);

/* "Jan".."Dec" for 1..12. */
const char *imap_month_name (guint month);

G_END_DECLS
