/* libFuzzer target: IMAP sequence sets and UID sets. The first byte picks
 * whether "$" is allowed and the value '*' resolves to; the rest is the
 * set as a client writes it. What parses prints back to a set that parses
 * to the same text, and resolving it gives a normalised range list.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "imap-sequence.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImapSeqSet) set = NULL;
  g_autoptr(ImapRangeList) list = NULL;
  g_autofree char *text = NULL;
  const char *input;
  gboolean allow_saved;
  guint32 max;

  if (size < 1)
    return 0;
  allow_saved = (data[0] & 1) != 0;
  max = (data[0] & 2) != 0 ? G_MAXUINT32 : (guint32) (data[0] >> 2);
  input = (const char *) data + 1;
  size--;

  set = imap_seqset_parse (input, (gssize) size, allow_saved, &error);
  g_assert_true (imap_seqset_is_valid (input, (gssize) size, allow_saved) == (set != NULL));
  if (set == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  g_assert_no_error (error);
  text = imap_seqset_to_string (set);
  {
    g_autoptr(ImapSeqSet) again = imap_seqset_parse (text, -1, allow_saved, NULL);
    g_autofree char *text2 = NULL;

    g_assert_nonnull (again);
    text2 = imap_seqset_to_string (again);
    g_assert_cmpstr (text, ==, text2);
  }
  if (set->saved)
    return 0;

  list = imap_seqset_resolve (set, max);
  if (list == NULL)
    return 0;
  {
    ImapRangeIter iter;
    guint32 value, prev = 0, steps = 0;
    g_autofree char *compact = imap_range_list_to_string (list);
    g_autoptr(ImapRangeList) copy = imap_range_list_copy (list);

    /* ranges sorted, disjoint, non-adjacent, no zero */
    for (guint i = 0; i < list->ranges->len; i++)
      {
        const ImapRange *r = &g_array_index (list->ranges, ImapRange, i);

        g_assert_cmpuint (r->lo, >=, 1);
        g_assert_cmpuint (r->lo, <=, r->hi);
        if (i > 0)
          g_assert_cmpuint ((guint64) g_array_index (list->ranges, ImapRange, i - 1).hi + 1, <, r->lo);
      }
    imap_range_iter_init (&iter, list);
    while (steps < 1000 && imap_range_iter_next (&iter, &value))
      {
        g_assert_true (value > prev);
        g_assert_true (imap_range_list_contains (list, value));
        prev = value;
        steps++;
      }
    imap_range_list_union (copy, list);
    g_assert_cmpuint (imap_range_list_count (copy), ==, imap_range_list_count (list));
    g_assert_cmpuint (imap_range_list_min (copy), ==, imap_range_list_min (list));
    g_assert_cmpuint (imap_range_list_max (copy), ==, imap_range_list_max (list));
    if (!imap_range_list_is_empty (list))
      {
        g_autoptr(ImapSeqSet) reparsed = imap_seqset_parse (compact, -1, FALSE, NULL);

        g_assert_nonnull (reparsed);
      }
  }
  return 0;
}
