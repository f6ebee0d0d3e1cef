/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* IMAP sequence sets and UID sets (RFC 3501 sequence-set, RFC 5182 "$").
 * Parsing keeps '*' symbolic: only the session knows the highest sequence
 * number or UID, so a parsed ImapSeqSet is resolved against it into a
 * sorted, merged ImapRangeList. */

typedef struct {
  guint32 lo;
  guint32 hi;  /* lo <= hi once resolved */
} ImapRange;

/* Sorted, non-overlapping, non-adjacent ranges of non-zero numbers. */
typedef struct {
  GArray *ranges;  /* of ImapRange */
} ImapRangeList;

/* A parsed sequence set as written: ranges whose ends may be '*'
 * (stored as 0), or "$" (the saved search result of RFC 5182). */
typedef struct {
  GArray *ranges;  /* of ImapRange, 0 = '*', in the order written */
  gboolean saved;  /* the set is "$" */
} ImapSeqSet;

#define IMAP_SEQSET_ERROR (imap_seqset_error_quark ())
GQuark imap_seqset_error_quark (void);

/* Parses @text (@length bytes, -1 for NUL-terminated): "1:*", "3,1:2,7",
 * "*:4", "$" when @allow_saved. Rejects 0, numbers above 2^32-1, leading
 * zeros, empty parts and any other byte. */
ImapSeqSet *imap_seqset_parse (const char *text, gssize length,
                               gboolean allow_saved, GError **error);
/* TRUE if @text is syntactically a sequence set (or "$"). */
gboolean imap_seqset_is_valid (const char *text, gssize length, gboolean allow_saved);
ImapSeqSet *imap_seqset_copy (const ImapSeqSet *set);
void imap_seqset_free (ImapSeqSet *set);
/* TRUE if some range end is '*'. */
gboolean imap_seqset_has_star (const ImapSeqSet *set);
/* The set as written, normalised to digits, ':' and ',' ("$" for saved). */
char *imap_seqset_to_string (const ImapSeqSet *set);

/* Resolves '*' to @max (the highest sequence number or UID) and returns the
 * normalised list. With @max 0 (an empty mailbox) '*' alone resolves to
 * nothing and "n:*" to "n". Returns NULL for a saved ("$") set: the
 * session holds that list. */
ImapRangeList *imap_seqset_resolve (const ImapSeqSet *set, guint32 max);

ImapRangeList *imap_range_list_new (void);
ImapRangeList *imap_range_list_copy (const ImapRangeList *list);
void imap_range_list_free (ImapRangeList *list);
/* Adds lo..hi (either order; 0 is ignored), keeping the list normalised. */
void imap_range_list_add (ImapRangeList *list, guint32 lo, guint32 hi);
/* Adds every range of @other to @list. */
void imap_range_list_union (ImapRangeList *list, const ImapRangeList *other);
gboolean imap_range_list_contains (const ImapRangeList *list, guint32 value);
/* Number of values in the list. */
guint64 imap_range_list_count (const ImapRangeList *list);
gboolean imap_range_list_is_empty (const ImapRangeList *list);
guint32 imap_range_list_min (const ImapRangeList *list);  /* 0 when empty */
guint32 imap_range_list_max (const ImapRangeList *list);  /* 0 when empty */
/* Compact form "1:3,5,7:9" for COPYUID, APPENDUID, VANISHED and ESEARCH
 * ALL; "" for an empty list. */
char *imap_range_list_to_string (const ImapRangeList *list);

/* Walks a list in ascending order:
 *   ImapRangeIter it; guint32 v;
 *   imap_range_iter_init (&it, list);
 *   while (imap_range_iter_next (&it, &v)) ... */
typedef struct {
  const ImapRangeList *list;
  guint index;
  guint64 next;
} ImapRangeIter;

void imap_range_iter_init (ImapRangeIter *iter, const ImapRangeList *list);
gboolean imap_range_iter_next (ImapRangeIter *iter, guint32 *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapSeqSet, imap_seqset_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapRangeList, imap_range_list_free)

G_END_DECLS
