/* A small IMAP response s-expression parser for the mime tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

typedef enum {
  SEXP_NIL,
  SEXP_STRING,   /* quoted or literal: compared by bytes */
  SEXP_NUMBER,
  SEXP_LIST,
} SexpKind;

typedef struct _Sexp Sexp;
struct _Sexp {
  SexpKind kind;
  GBytes *string;      /* SEXP_STRING */
  guint64 number;      /* SEXP_NUMBER */
  GPtrArray *items;    /* SEXP_LIST: Sexp* */
};

/* Parses one value from @data (NIL, "quoted", {n}\r\n literal, ~{n}\r\n,
 * number, (list)). Sets *@used to the bytes consumed. NULL on bad syntax. */
Sexp *sexp_parse (const char *data, gsize length, gsize *used);
void sexp_free (Sexp *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sexp, sexp_free)

/* Equal trees. Strings at positions that hold MIME type, subtype and
 * parameter names compare case-insensitively when @bodystructure. On a
 * difference, *@where (if not NULL) describes it. */
gboolean sexp_equal (const Sexp *a, const Sexp *b, gboolean bodystructure, char **where);

/* For messages. */
char *sexp_to_string (const Sexp *s);
