/* storage-common: keyword sets (see storage-keywords.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "storage-keywords.h"

#include <string.h>

void
storage_keywords_decode (const void *blob, gsize size, GArray *out)
{
  const guint8 *data = blob;

  g_array_set_size (out, 0);
  for (gsize i = 0; data != NULL && i + 4 <= size; i += 4)
    {
      guint32 v = (guint32) data[i] | (guint32) data[i + 1] << 8 |
                  (guint32) data[i + 2] << 16 | (guint32) data[i + 3] << 24;
      g_array_append_val (out, v);
    }
}

guint8 *
storage_keywords_encode (const GArray *kw, gsize *size)
{
  guint8 *data;

  *size = 0;
  if (kw == NULL || kw->len == 0)
    return NULL;
  data = g_malloc (kw->len * 4);
  for (guint i = 0; i < kw->len; i++)
    {
      guint32 v = g_array_index (kw, guint32, i);

      data[4 * i] = v & 0xff;
      data[4 * i + 1] = (v >> 8) & 0xff;
      data[4 * i + 2] = (v >> 16) & 0xff;
      data[4 * i + 3] = v >> 24;
    }
  *size = (gsize) kw->len * 4;
  return data;
}

void
storage_keywords_from_column (sqlite3_stmt *stmt, int column, GArray *out)
{
  storage_keywords_decode (sqlite3_column_blob (stmt, column), (gsize) sqlite3_column_bytes (stmt, column), out);
}

void
storage_keywords_bind (sqlite3_stmt *stmt, int column, const GArray *kw)
{
  gsize size;
  guint8 *data = storage_keywords_encode (kw, &size);

  if (data == NULL)
    sqlite3_bind_null (stmt, column);
  else
    sqlite3_bind_blob (stmt, column, data, (int) size, g_free);
}

int
storage_keyword_names_read (sqlite3_stmt *stmt, GPtrArray *names)
{
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint idx = (guint) sqlite3_column_int64 (stmt, 0);

      while (names->len < idx)
        g_ptr_array_add (names, g_strdup ("$unused"));
      g_ptr_array_add (names, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
    }
  sqlite3_reset (stmt);
  if (rc == SQLITE_DONE)
    g_ptr_array_add (names, NULL);
  return rc;
}

static int
guint32_compare (gconstpointer a, gconstpointer b)
{
  guint32 ua = *(const guint32 *) a, ub = *(const guint32 *) b;

  return ua < ub ? -1 : ua > ub;
}

void
storage_keyword_set_normalize (GArray *set)
{
  guint out = 0;

  g_array_sort (set, guint32_compare);
  for (guint i = 0; i < set->len; i++)
    if (out == 0 || g_array_index (set, guint32, out - 1) != g_array_index (set, guint32, i))
      g_array_index (set, guint32, out++) = g_array_index (set, guint32, i);
  g_array_set_size (set, out);
}

gboolean
storage_keyword_set_contains (const GArray *set, guint32 v)
{
  for (guint i = 0; i < set->len; i++)
    if (g_array_index (set, guint32, i) == v)
      return TRUE;
  return FALSE;
}

gboolean
storage_keyword_sets_equal (const GArray *a, const GArray *b)
{
  /* an empty GArray's data may be NULL, which memcmp must not see */
  return a->len == b->len &&
         (a->len == 0 || memcmp (a->data, b->data, a->len * sizeof (guint32)) == 0);
}

guint32
storage_flags_apply (PosthornFlagsMode mode, guint32 flags, const GArray *kw, guint32 old_flags,
                     const GArray *old_kw, GArray *next_kw)
{
  guint32 next = old_flags;

  g_array_set_size (next_kw, 0);
  switch (mode)
    {
    case POSTHORN_FLAGS_REPLACE:
      next = flags;
      g_array_append_vals (next_kw, kw->data, kw->len);
      break;
    case POSTHORN_FLAGS_ADD:
      next |= flags;
      g_array_append_vals (next_kw, old_kw->data, old_kw->len);
      g_array_append_vals (next_kw, kw->data, kw->len);
      storage_keyword_set_normalize (next_kw);
      break;
    case POSTHORN_FLAGS_REMOVE:
      next &= ~flags;
      for (guint k = 0; k < old_kw->len; k++)
        if (!storage_keyword_set_contains (kw, g_array_index (old_kw, guint32, k)))
          g_array_append_val (next_kw, g_array_index (old_kw, guint32, k));
      break;
    }
  return next;
}
