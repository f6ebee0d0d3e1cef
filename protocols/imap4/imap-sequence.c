/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-sequence.h"

#include <string.h>

G_DEFINE_QUARK (imap-seqset-error-quark, imap_seqset_error)

static gboolean
parse_number (const char **p, const char *end, guint32 *out, GError **error)
{
  const char *s = *p;
  guint64 v = 0;

  if (s < end && *s == '*')
    {
      *out = 0;
      *p = s + 1;
      return TRUE;
    }
  if (s >= end || *s < '1' || *s > '9')
    {
      g_set_error (error, IMAP_SEQSET_ERROR, 0,
                   s >= end || *s == ',' || *s == ':' ? "Empty part in sequence set"
                   : *s == '0' ? "Sequence numbers start at 1"
                   : "Invalid character in sequence set");
      return FALSE;
    }
  while (s < end && *s >= '0' && *s <= '9')
    {
      v = v * 10 + (guint64) (*s - '0');
      if (v > G_MAXUINT32)
        {
          g_set_error (error, IMAP_SEQSET_ERROR, 0, "Number too large in sequence set");
          return FALSE;
        }
      s++;
    }
  *out = (guint32) v;
  *p = s;
  return TRUE;
}

ImapSeqSet *
imap_seqset_parse (const char *text, gssize length, gboolean allow_saved, GError **error)
{
  const char *p = text, *end;
  g_autoptr(ImapSeqSet) set = g_new0 (ImapSeqSet, 1);

  if (length < 0)
    length = (gssize) strlen (text);
  end = text + length;
  set->ranges = g_array_new (FALSE, FALSE, sizeof (ImapRange));

  if (length == 1 && text[0] == '$')
    {
      if (!allow_saved)
        {
          g_set_error (error, IMAP_SEQSET_ERROR, 0, "Saved search result ($) not allowed here");
          return NULL;
        }
      set->saved = TRUE;
      return g_steal_pointer (&set);
    }

  for (;;)
    {
      ImapRange r;

      if (!parse_number (&p, end, &r.lo, error))
        return NULL;
      r.hi = r.lo;
      if (p < end && *p == ':')
        {
          p++;
          if (!parse_number (&p, end, &r.hi, error))
            return NULL;
        }
      g_array_append_val (set->ranges, r);
      if (p == end)
        break;
      if (*p != ',')
        {
          g_set_error (error, IMAP_SEQSET_ERROR, 0, "Invalid character in sequence set");
          return NULL;
        }
      p++;
    }
  return g_steal_pointer (&set);
}

gboolean
imap_seqset_is_valid (const char *text, gssize length, gboolean allow_saved)
{
  g_autoptr(ImapSeqSet) set = imap_seqset_parse (text, length, allow_saved, NULL);
  return set != NULL;
}

ImapSeqSet *
imap_seqset_copy (const ImapSeqSet *set)
{
  ImapSeqSet *copy = g_new0 (ImapSeqSet, 1);

  copy->saved = set->saved;
  copy->ranges = g_array_copy (set->ranges);
  return copy;
}

void
imap_seqset_free (ImapSeqSet *set)
{
  if (set == NULL)
    return;
  g_array_unref (set->ranges);
  g_free (set);
}

gboolean
imap_seqset_has_star (const ImapSeqSet *set)
{
  for (guint i = 0; i < set->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (set->ranges, ImapRange, i);
      if (r->lo == 0 || r->hi == 0)
        return TRUE;
    }
  return FALSE;
}

static void
append_end (GString *s, guint32 v)
{
  if (v == 0)
    g_string_append_c (s, '*');
  else
    g_string_append_printf (s, "%u", v);
}

char *
imap_seqset_to_string (const ImapSeqSet *set)
{
  GString *s = g_string_new (NULL);

  if (set->saved)
    return g_string_free (g_string_append_c (s, '$'), FALSE);
  for (guint i = 0; i < set->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (set->ranges, ImapRange, i);
      if (i > 0)
        g_string_append_c (s, ',');
      append_end (s, r->lo);
      if (r->hi != r->lo)
        {
          g_string_append_c (s, ':');
          append_end (s, r->hi);
        }
    }
  return g_string_free (s, FALSE);
}

ImapRangeList *
imap_seqset_resolve (const ImapSeqSet *set, guint32 max)
{
  ImapRangeList *list;

  if (set->saved)
    return NULL;
  list = imap_range_list_new ();
  for (guint i = 0; i < set->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (set->ranges, ImapRange, i);
      guint32 lo = r->lo == 0 ? max : r->lo;
      guint32 hi = r->hi == 0 ? max : r->hi;

      if (lo == 0 && hi == 0)
        continue;
      imap_range_list_add (list, lo == 0 ? hi : lo, hi == 0 ? lo : hi);
    }
  return list;
}

ImapRangeList *
imap_range_list_new (void)
{
  ImapRangeList *list = g_new0 (ImapRangeList, 1);

  list->ranges = g_array_new (FALSE, FALSE, sizeof (ImapRange));
  return list;
}

ImapRangeList *
imap_range_list_copy (const ImapRangeList *list)
{
  ImapRangeList *copy = g_new0 (ImapRangeList, 1);

  copy->ranges = g_array_copy (list->ranges);
  return copy;
}

void
imap_range_list_free (ImapRangeList *list)
{
  if (list == NULL)
    return;
  g_array_unref (list->ranges);
  g_free (list);
}

void
imap_range_list_add (ImapRangeList *list, guint32 lo, guint32 hi)
{
  GArray *a = list->ranges;
  guint i, j;

  if (lo > hi)
    {
      guint32 t = lo;
      lo = hi;
      hi = t;
    }
  if (lo == 0)
    lo = 1;
  if (hi == 0)
    return;

  /* first range that ends at or after lo - 1 (adjacent ranges merge) */
  for (i = 0; i < a->len; i++)
    if ((guint64) g_array_index (a, ImapRange, i).hi + 1 >= lo)
      break;
  /* ranges i..j-1 overlap or touch lo..hi */
  for (j = i; j < a->len; j++)
    {
      ImapRange *r = &g_array_index (a, ImapRange, j);
      if ((guint64) hi + 1 < r->lo)
        break;
      lo = MIN (lo, r->lo);
      hi = MAX (hi, r->hi);
    }
  if (j > i)
    g_array_remove_range (a, i, j - i);
  g_array_insert_val (a, i, ((ImapRange) { lo, hi }));
}

void
imap_range_list_union (ImapRangeList *list, const ImapRangeList *other)
{
  for (guint i = 0; i < other->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (other->ranges, ImapRange, i);
      imap_range_list_add (list, r->lo, r->hi);
    }
}

gboolean
imap_range_list_contains (const ImapRangeList *list, guint32 value)
{
  guint lo = 0, hi = list->ranges->len;

  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;
      ImapRange *r = &g_array_index (list->ranges, ImapRange, mid);
      if (value < r->lo)
        hi = mid;
      else if (value > r->hi)
        lo = mid + 1;
      else
        return TRUE;
    }
  return FALSE;
}

guint64
imap_range_list_count (const ImapRangeList *list)
{
  guint64 n = 0;

  for (guint i = 0; i < list->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (list->ranges, ImapRange, i);
      n += (guint64) r->hi - r->lo + 1;
    }
  return n;
}

gboolean
imap_range_list_is_empty (const ImapRangeList *list)
{
  return list->ranges->len == 0;
}

guint32
imap_range_list_min (const ImapRangeList *list)
{
  return list->ranges->len == 0 ? 0 : g_array_index (list->ranges, ImapRange, 0).lo;
}

guint32
imap_range_list_max (const ImapRangeList *list)
{
  return list->ranges->len == 0 ? 0
    : g_array_index (list->ranges, ImapRange, list->ranges->len - 1).hi;
}

char *
imap_range_list_to_string (const ImapRangeList *list)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < list->ranges->len; i++)
    {
      ImapRange *r = &g_array_index (list->ranges, ImapRange, i);
      if (i > 0)
        g_string_append_c (s, ',');
      if (r->lo == r->hi)
        g_string_append_printf (s, "%u", r->lo);
      else
        g_string_append_printf (s, "%u:%u", r->lo, r->hi);
    }
  return g_string_free (s, FALSE);
}

void
imap_range_iter_init (ImapRangeIter *iter, const ImapRangeList *list)
{
  iter->list = list;
  iter->index = 0;
  iter->next = list->ranges->len > 0 ? g_array_index (list->ranges, ImapRange, 0).lo : 0;
}

gboolean
imap_range_iter_next (ImapRangeIter *iter, guint32 *value)
{
  GArray *a = iter->list->ranges;

  while (iter->index < a->len)
    {
      ImapRange *r = &g_array_index (a, ImapRange, iter->index);
      if (iter->next <= r->hi)
        {
          *value = (guint32) iter->next++;
          return TRUE;
        }
      iter->index++;
      if (iter->index < a->len)
        iter->next = g_array_index (a, ImapRange, iter->index).lo;
    }
  return FALSE;
}
