/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "imap-arg.h"
#include "imap-sequence.h"

G_BEGIN_DECLS

/* SEARCH programs (RFC 3501 section 6.4.4, RFC 9051, RFC 7162 MODSEQ,
 * RFC 5182 "$") as a tree. Strings are converted to UTF-8 from the
 * command's CHARSET. */

typedef enum {
  IMAP_SEARCH_AND,        /* children: a parenthesised group, or the program */
  IMAP_SEARCH_OR,         /* two children */
  IMAP_SEARCH_NOT,        /* one child */
  IMAP_SEARCH_ALL,
  IMAP_SEARCH_ANSWERED,
  IMAP_SEARCH_DELETED,
  IMAP_SEARCH_DRAFT,
  IMAP_SEARCH_FLAGGED,
  IMAP_SEARCH_NEW,
  IMAP_SEARCH_OLD,
  IMAP_SEARCH_RECENT,
  IMAP_SEARCH_SEEN,
  IMAP_SEARCH_UNANSWERED,
  IMAP_SEARCH_UNDELETED,
  IMAP_SEARCH_UNDRAFT,
  IMAP_SEARCH_UNFLAGGED,
  IMAP_SEARCH_UNSEEN,
  IMAP_SEARCH_KEYWORD,    /* value: the keyword */
  IMAP_SEARCH_UNKEYWORD,
  IMAP_SEARCH_BCC,        /* value: the substring */
  IMAP_SEARCH_BODY,
  IMAP_SEARCH_CC,
  IMAP_SEARCH_FROM,
  IMAP_SEARCH_SUBJECT,
  IMAP_SEARCH_TEXT,
  IMAP_SEARCH_TO,
  IMAP_SEARCH_HEADER,     /* header: field name, value: substring */
  IMAP_SEARCH_BEFORE,     /* year, month, day */
  IMAP_SEARCH_ON,
  IMAP_SEARCH_SINCE,
  IMAP_SEARCH_SENTBEFORE,
  IMAP_SEARCH_SENTON,
  IMAP_SEARCH_SENTSINCE,
  IMAP_SEARCH_LARGER,     /* number */
  IMAP_SEARCH_SMALLER,
  IMAP_SEARCH_UID,        /* set (may be "$") */
  IMAP_SEARCH_SEQSET,     /* set (may be "$") */
  IMAP_SEARCH_MODSEQ,     /* number; header: entry name or NULL */
} ImapSearchKeyType;

typedef enum {
  IMAP_SEARCH_ENTRY_ALL,
  IMAP_SEARCH_ENTRY_PRIV,
  IMAP_SEARCH_ENTRY_SHARED,
} ImapSearchEntryType;

typedef struct _ImapSearchKey ImapSearchKey;
struct _ImapSearchKey {
  ImapSearchKeyType type;
  GPtrArray *children;   /* AND, OR, NOT: of ImapSearchKey */
  char *header;          /* HEADER field name; MODSEQ entry name */
  char *value;           /* UTF-8 */
  guint year, month, day;
  guint64 number;
  ImapSeqSet *set;
  ImapSearchEntryType entry_type;  /* MODSEQ with an entry name */
};

#define IMAP_SEARCH_ERROR (imap_search_error_quark ())
GQuark imap_search_error_quark (void);

typedef enum {
  IMAP_SEARCH_ERROR_SYNTAX,      /* reply BAD with the message */
  IMAP_SEARCH_ERROR_BADCHARSET,  /* reply NO [BADCHARSET (UTF-8 US-ASCII)] */
} ImapSearchError;

/* The response code for an unsupported charset. */
#define IMAP_SEARCH_BADCHARSET_CODE "BADCHARSET (UTF-8 US-ASCII)"

/* TRUE if @charset (case-insensitive) is one whose strings
 * imap_search_parse() can convert: UTF-8, US-ASCII, ISO-8859-1..16,
 * windows-1250..1258. */
gboolean imap_search_charset_supported (const char *charset);

/* Converts @length bytes of @charset text to UTF-8 (NULL @charset: the
 * bytes must be UTF-8). NULL with IMAP_SEARCH_ERROR_BADCHARSET for an
 * unsupported charset, IMAP_SEARCH_ERROR_SYNTAX for invalid text. */
char *imap_search_convert (const char *charset, const char *data, gsize length, GError **error);

/* Parses search keys args[*index..] until the end of @args, into an AND
 * key. @charset NULL means none was given (strings must be UTF-8). */
ImapSearchKey *imap_search_parse (GPtrArray *args, guint index,
                                  const char *charset, GError **error);

void imap_search_key_free (ImapSearchKey *key);

/* The key written back as IMAP search syntax with canonical names, UTF-8
 * strings quoted, dates as d-Mon-yyyy; a top-level AND in parentheses. */
char *imap_search_key_to_string (const ImapSearchKey *key);

/* TRUE if the key or any key below it is of @type. */
gboolean imap_search_key_has (const ImapSearchKey *key, ImapSearchKeyType type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapSearchKey, imap_search_key_free)

G_END_DECLS
