/* storage-common: keyword sets, as both store plugins keep them.
 *
 * A message's keywords are a set of indexes into its mailbox's keyword
 * list: a GArray of guint32, ascending, without repeats ("normalized").
 * In the index databases a set is a blob of little-endian guint32s in
 * that order (NULL for the empty set), so the bytes mean the same on
 * every machine.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Replaces @out with the indexes packed in @blob (@size bytes; a NULL
 * @blob is the empty set). A trailing partial index is ignored. Pure. */
void storage_keywords_decode (const void *blob, gsize size, GArray *out);

/* The blob of @kw (little-endian guint32s, g_free() it); NULL with
 * *@size 0 for a NULL or empty set. Pure. */
guint8 *storage_keywords_encode (const GArray *kw, gsize *size);

/* storage_keywords_decode() of column @column of the current row. */
void storage_keywords_from_column (sqlite3_stmt *stmt, int column, GArray *out);

/* Binds the blob of @kw to parameter @column (NULL for the empty set). */
void storage_keywords_bind (sqlite3_stmt *stmt, int column, const GArray *kw);

/* Steps @stmt, whose rows are (index, name) ascending by index, to its
 * end and resets it: appends each name to @names at its index
 * ("$unused" in the holes) and, when every row was read, a NULL. Returns
 * the last step's result: SQLITE_DONE when every row was read. */
int storage_keyword_names_read (sqlite3_stmt *stmt, GPtrArray *names);

/* Sorts @set and drops repeats, in place. */
void storage_keyword_set_normalize (GArray *set);

/* Whether @set holds @v (any order). */
gboolean storage_keyword_set_contains (const GArray *set, guint32 v);

/* Whether two normalized sets are equal. */
gboolean storage_keyword_sets_equal (const GArray *a, const GArray *b);

/* What a STORE of @mode with @flags and the normalized keyword set @kw
 * does to a message that has @old_flags and @old_kw: returns its new
 * flags and puts its new keywords in @next_kw (emptied first; normalized
 * when @kw and @old_kw are). REPLACE takes @flags and @kw, ADD adds them,
 * REMOVE takes them away. Flags are not masked. Pure. */
guint32 storage_flags_apply (PosthornFlagsMode mode, guint32 flags, const GArray *kw, guint32 old_flags,
                             const GArray *old_kw, GArray *next_kw);

G_END_DECLS
