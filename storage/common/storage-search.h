/* storage-common: SEARCH TEXT / BODY over a trigram FTS5 table.
 *
 * Both stores keep each message's search text in an FTS5 table `search`
 * (tokenizer trigram) with columns header_text and body_text. A needle of
 * three characters or more is an FTS5 phrase query (case-insensitive
 * substring match); a shorter one cannot use trigrams and is a LIKE scan
 * of the same columns; the empty needle matches every message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  STORAGE_SEARCH_EVERY,  /* the empty needle: every message matches */
  STORAGE_SEARCH_MATCH,  /* `search MATCH ?` with the returned query */
  STORAGE_SEARCH_LIKE,   /* `column LIKE ? ESCAPE '\'` with the returned pattern */
} StorageSearchKind;

/* How to look for @needle (UTF-8) in the body text (@body_only) or in
 * the header and body text: sets *@kind and returns the text to bind as
 * the query's parameter (NULL for STORAGE_SEARCH_EVERY). For MATCH it is
 * a column filter and a phrase, `body_text : "…"` or
 * `{header_text body_text} : "…"`, with inner '"' doubled; for LIKE it is
 * `%…%` with '%', '_' and '\' escaped by '\'. Pure. */
char *storage_search_query (const char *needle, gboolean body_only, StorageSearchKind *kind);

G_END_DECLS
