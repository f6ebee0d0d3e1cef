/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The generic argument tree the parser reads a command into before it
 * types it: atoms, quoted strings, literals and parenthesised lists. */

typedef enum {
  IMAP_ARG_ATOM,      /* anything unquoted: NIL, numbers, flags, sets,
                       * fetch items with their [section]<partial> */
  IMAP_ARG_QUOTED,    /* "..." with escapes removed */
  IMAP_ARG_LITERAL,   /* {n}, {n+} or ~{n}: bytes held in data */
  IMAP_ARG_EXTERNAL,  /* a literal the session consumed itself (APPEND) */
  IMAP_ARG_LIST,      /* ( ... ) */
} ImapArgType;

typedef struct _ImapArg ImapArg;
struct _ImapArg {
  ImapArgType type;
  char *data;           /* NUL-terminated; may hold NUL only in literal8 */
  gsize length;
  GPtrArray *list;      /* IMAP_ARG_LIST: of ImapArg */
  guint64 literal_size; /* literals: the announced size */
  gboolean literal8;    /* ~{n} */
};

ImapArg *imap_arg_new (ImapArgType type);
void imap_arg_free (ImapArg *arg);

/* TRUE if @arg is an atom equal to @word, ignoring ASCII case. */
gboolean imap_arg_atom_is (const ImapArg *arg, const char *word);
/* TRUE for a quoted string or a buffered literal. */
gboolean imap_arg_is_string (const ImapArg *arg);
/* The value of an astring (atom of ASTRING-CHARs, quoted, or literal
 * without NUL), else NULL. */
const char *imap_arg_get_astring (const ImapArg *arg);
/* A string (quoted or literal without NUL), else NULL. */
const char *imap_arg_get_string (const ImapArg *arg);
/* Like imap_arg_get_astring() but also allows the list-wildcards % and *
 * in an atom (LIST patterns). */
const char *imap_arg_get_list_mailbox (const ImapArg *arg);
/* Parses an atom of digits into @out (at most @max, no sign). */
gboolean imap_arg_get_number (const ImapArg *arg, guint64 max, guint64 *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapArg, imap_arg_free)

G_END_DECLS
