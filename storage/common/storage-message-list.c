/* storage-common: message lists and snapshots (see
 * storage-message-list.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "storage-message-list.h"
#include "storage-keywords.h"

#include <string.h>

void
storage_message_list_init (StorageMessageList *l, guint reserve)
{
  l->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->flags = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->modseqs = g_array_sized_new (FALSE, FALSE, sizeof (guint64), reserve);
  l->kw_offsets = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->kw_pool = g_array_new (FALSE, FALSE, sizeof (guint32));
}

void
storage_message_list_clear (StorageMessageList *l)
{
  g_clear_pointer (&l->uids, g_array_unref);
  g_clear_pointer (&l->flags, g_array_unref);
  g_clear_pointer (&l->modseqs, g_array_unref);
  g_clear_pointer (&l->kw_offsets, g_array_unref);
  g_clear_pointer (&l->kw_pool, g_array_unref);
}

void
storage_message_list_add (StorageMessageList *l, guint32 uid, guint32 flags, guint64 modseq,
                          const guint32 *kw, guint n_kw)
{
  guint32 offset = l->kw_pool->len;

  g_array_append_val (l->uids, uid);
  g_array_append_val (l->flags, flags);
  g_array_append_val (l->modseqs, modseq);
  g_array_append_val (l->kw_offsets, offset);
  if (n_kw > 0)
    g_array_append_vals (l->kw_pool, kw, n_kw);
}

const guint32 *
storage_message_list_keywords (const StorageMessageList *l, guint i, guint *n)
{
  guint32 start = g_array_index (l->kw_offsets, guint32, i);
  guint32 end = i + 1 < l->kw_offsets->len ? g_array_index (l->kw_offsets, guint32, i + 1) : l->kw_pool->len;

  *n = end - start;
  return end == start ? NULL : &g_array_index (l->kw_pool, guint32, start);
}

int
storage_message_list_read (sqlite3_stmt *stmt, StorageMessageList *l)
{
  g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      storage_keywords_from_column (stmt, 3, kw);
      storage_message_list_add (l, (guint32) sqlite3_column_int64 (stmt, 0), (guint32) sqlite3_column_int64 (stmt, 1),
                                (guint64) sqlite3_column_int64 (stmt, 2), (const guint32 *) (gpointer) kw->data,
                                kw->len);
    }
  sqlite3_reset (stmt);
  return rc;
}

int
storage_uids_read (sqlite3_stmt *stmt, GArray *uids)
{
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

      g_array_append_val (uids, uid);
    }
  sqlite3_reset (stmt);
  return rc;
}

GBytes *
storage_snapshot_encode (const StorageMessageList *l, guint32 magic, guint32 uidvalidity)
{
  guint32 header[4] = { magic, uidvalidity, l->uids->len, l->kw_pool->len };
  GByteArray *out = g_byte_array_sized_new (sizeof header + l->uids->len * 20 + l->kw_pool->len * 4);

  g_byte_array_append (out, (const guint8 *) header, sizeof header);
  g_byte_array_append (out, (const guint8 *) l->uids->data, l->uids->len * 4);
  g_byte_array_append (out, (const guint8 *) l->flags->data, l->flags->len * 4);
  g_byte_array_append (out, (const guint8 *) l->modseqs->data, l->modseqs->len * 8);
  g_byte_array_append (out, (const guint8 *) l->kw_offsets->data, l->kw_offsets->len * 4);
  g_byte_array_append (out, (const guint8 *) l->kw_pool->data, l->kw_pool->len * 4);
  return g_byte_array_free_to_bytes (out);
}

gboolean
storage_snapshot_decode (const guint8 *data, gsize size, guint32 magic, guint32 uidvalidity,
                         StorageMessageList *l)
{
  guint32 header[4];
  gsize n, n_pool, need;
  const guint8 *p;

  if (data == NULL || size < sizeof header)
    return FALSE;
  memcpy (header, data, sizeof header);
  n = header[2];
  n_pool = header[3];
  need = sizeof header + n * (4 + 4 + 8 + 4) + n_pool * 4;
  if (header[0] != magic || header[1] != uidvalidity || size != need)
    return FALSE;
  storage_message_list_init (l, (guint) n);
  p = data + sizeof header;
  g_array_append_vals (l->uids, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->flags, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->modseqs, p, (guint) n);
  p += n * 8;
  g_array_append_vals (l->kw_offsets, p, (guint) n);
  p += n * 4;
  g_array_append_vals (l->kw_pool, p, (guint) n_pool);
  for (gsize i = 0; i < n; i++)
    if (g_array_index (l->kw_offsets, guint32, i) > n_pool ||
        (i > 0 && (g_array_index (l->uids, guint32, i) <= g_array_index (l->uids, guint32, i - 1) ||
                   g_array_index (l->kw_offsets, guint32, i) < g_array_index (l->kw_offsets, guint32, i - 1))))
      {
        storage_message_list_clear (l);
        return FALSE;
      }
  return TRUE;
}

guint
storage_message_list_merge (StorageMessageList *snap, StorageMessageList *changed, const GArray *gone,
                            StorageMessageList *out)
{
  guint delta = changed->uids->len + gone->len;
  guint i = 0, j = 0, g = 0;

  if (delta == 0)
    {
      *out = *snap;
      memset (snap, 0, sizeof *snap);
      storage_message_list_clear (changed);
      return 0;
    }
  storage_message_list_init (out, snap->uids->len + changed->uids->len);
  while (i < snap->uids->len || j < changed->uids->len)
    {
      guint32 su = i < snap->uids->len ? g_array_index (snap->uids, guint32, i) : G_MAXUINT32;
      guint32 cu = j < changed->uids->len ? g_array_index (changed->uids, guint32, j) : G_MAXUINT32;
      const StorageMessageList *from;
      const guint32 *kw;
      guint k, n_kw;

      if (cu <= su)
        {
          from = changed;
          k = j++;
          if (cu == su)
            i++;
        }
      else
        {
          from = snap;
          k = i++;
          while (g < gone->len && g_array_index (gone, guint32, g) < su)
            g++;
          if (g < gone->len && g_array_index (gone, guint32, g) == su)
            continue;
        }
      kw = storage_message_list_keywords (from, k, &n_kw);
      storage_message_list_add (out, g_array_index (from->uids, guint32, k), g_array_index (from->flags, guint32, k),
                                g_array_index (from->modseqs, guint64, k), kw, n_kw);
    }
  storage_message_list_clear (snap);
  storage_message_list_clear (changed);
  return delta;
}
