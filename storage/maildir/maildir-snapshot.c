/* storage-maildir: the packed snapshot of a folder's message list, so that
 * opening (SELECT) a big folder reads one blob plus what changed since,
 * not one index row per message.
 *
 * A snapshot is the list (UID, flags, MODSEQ, keywords) of one folder as
 * of one MODSEQ, kept in the `snapshots` table of posthorn-index.db. It is
 * only a cache of the `messages` rows: a row with a greater MODSEQ replaces
 * the snapshot's entry, a tombstone with a greater MODSEQ removes it, and a
 * snapshot that does not match the folder (UIDVALIDITY, a MODSEQ beyond the
 * folder's, a bad size or order) is ignored. Every change to a message row
 * gives it a new MODSEQ (appends, flag changes, renames by other programs
 * found by a scan) and every removal leaves a tombstone, so snapshot plus
 * changes is always the current list. Whether the rows match the files is
 * the scan's business (maildir-sync.c: it runs first when the stamps of
 * cur/, new/ or the control files changed), so a snapshot written before
 * other programs changed the folder, or before a crash, stays usable.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <string.h>

/* Layout (native byte order): magic, uidvalidity, n, n_pool (guint32
 * each), then uids[n], flags[n] (guint32), modseqs[n] (guint64),
 * kw_offsets[n] (guint32) and kw_pool[n_pool] (guint32): 20 bytes a
 * message plus 4 a keyword. */
#define SNAPSHOT_MAGIC 0x314d4850u   /* "PHM1" */

void
maildir_message_list_init (MaildirMessageList *l, guint reserve)
{
  l->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->flags = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->modseqs = g_array_sized_new (FALSE, FALSE, sizeof (guint64), reserve);
  l->kw_offsets = g_array_sized_new (FALSE, FALSE, sizeof (guint32), reserve);
  l->kw_pool = g_array_new (FALSE, FALSE, sizeof (guint32));
}

void
maildir_message_list_clear (MaildirMessageList *l)
{
  g_clear_pointer (&l->uids, g_array_unref);
  g_clear_pointer (&l->flags, g_array_unref);
  g_clear_pointer (&l->modseqs, g_array_unref);
  g_clear_pointer (&l->kw_offsets, g_array_unref);
  g_clear_pointer (&l->kw_pool, g_array_unref);
}

static void
list_add (MaildirMessageList *l, guint32 uid, guint32 flags, guint64 modseq, const guint32 *kw, guint n_kw)
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
maildir_message_list_keywords (const MaildirMessageList *l, guint i, guint *n)
{
  guint32 start = g_array_index (l->kw_offsets, guint32, i);
  guint32 end = i + 1 < l->kw_offsets->len ? g_array_index (l->kw_offsets, guint32, i + 1) : l->kw_pool->len;

  *n = end - start;
  return end == start ? NULL : &g_array_index (l->kw_pool, guint32, start);
}

gboolean
maildir_message_list_read_changed (MaildirUser *u, const MaildirFolder *f, guint64 since, MaildirMessageList *l,
                   GError **error)
{
  g_autoptr(GArray) kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  sqlite3_stmt *stmt;
  int rc;

  /* Few changed rows: find them by MODSEQ and sort them; else walk the
   * UID order (no sort of the whole folder). */
  stmt = maildir_db_stmt (u, since > 0 ? "SELECT uid, flags, modseq, keywords FROM messages "
                                         "INDEXED BY messages_modseq "
                                         "WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid"
                                       : "SELECT uid, flags, modseq, keywords FROM messages "
                                         "WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid",
                          error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) since);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      maildir_keywords_from_blob (sqlite3_column_blob (stmt, 3), sqlite3_column_bytes (stmt, 3), kw);
      list_add (l, (guint32) sqlite3_column_int64 (stmt, 0), (guint32) sqlite3_column_int64 (stmt, 1),
                (guint64) sqlite3_column_int64 (stmt, 2), (const guint32 *) (gpointer) kw->data, kw->len);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  return TRUE;
}

gboolean
maildir_snapshot_decode (const guint8 *data, gsize size, guint32 uidvalidity, MaildirMessageList *l)
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
  if (header[0] != SNAPSHOT_MAGIC || header[1] != uidvalidity || size != need)
    return FALSE;
  maildir_message_list_init (l, (guint) n);
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
        maildir_message_list_clear (l);
        return FALSE;
      }
  return TRUE;
}

GBytes *
maildir_snapshot_encode (const MaildirMessageList *l, guint32 uidvalidity)
{
  guint32 header[4] = { SNAPSHOT_MAGIC, uidvalidity, l->uids->len, l->kw_pool->len };
  GByteArray *out = g_byte_array_sized_new (sizeof header + l->uids->len * 20 + l->kw_pool->len * 4);

  g_byte_array_append (out, (const guint8 *) header, sizeof header);
  g_byte_array_append (out, (const guint8 *) l->uids->data, l->uids->len * 4);
  g_byte_array_append (out, (const guint8 *) l->flags->data, l->flags->len * 4);
  g_byte_array_append (out, (const guint8 *) l->modseqs->data, l->modseqs->len * 8);
  g_byte_array_append (out, (const guint8 *) l->kw_offsets->data, l->kw_offsets->len * 4);
  g_byte_array_append (out, (const guint8 *) l->kw_pool->data, l->kw_pool->len * 4);
  return g_byte_array_free_to_bytes (out);
}

/* Reads the snapshot of @f if it matches; *@modseq is its MODSEQ. */
static gboolean
snapshot_read (MaildirUser *u, const MaildirFolder *f, MaildirMessageList *snap, guint64 *modseq,
               gboolean *have, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT modseq, data FROM snapshots WHERE folder_id = ?1", error);
  int rc;

  *have = FALSE;
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *modseq = (guint64) sqlite3_column_int64 (stmt, 0);
      *have = *modseq <= f->highestmodseq &&
              maildir_snapshot_decode (sqlite3_column_blob (stmt, 1), (gsize) sqlite3_column_bytes (stmt, 1),
                                       f->uidvalidity, snap);
      if (!*have)
        g_debug ("%s: snapshot does not match the folder; reading every row", f->dir);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  return TRUE;
}

gboolean
maildir_message_list_load (MaildirUser *u, const MaildirFolder *f, MaildirMessageList *out, guint *delta,
                           GError **error)
{
  MaildirMessageList snap = { 0 }, changed = { 0 };
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint64 snap_modseq = 0;
  gboolean have = FALSE;
  sqlite3_stmt *stmt;
  guint i = 0, j = 0, g = 0;
  int rc;

  if (!snapshot_read (u, f, &snap, &snap_modseq, &have, error))
    return FALSE;
  if (!have)
    {
      maildir_message_list_init (out, 0);
      if (!maildir_message_list_read_changed (u, f, 0, out, error))
        {
          maildir_message_list_clear (out);
          return FALSE;
        }
      *delta = out->uids->len;
      return TRUE;
    }

  maildir_message_list_init (&changed, 0);
  if (!maildir_message_list_read_changed (u, f, snap_modseq, &changed, error))
    goto fail;
  stmt = maildir_db_stmt (u, "SELECT uid FROM expunged WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid", error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) snap_modseq);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint32 uid = (guint32) sqlite3_column_int64 (stmt, 0);

      g_array_append_val (gone, uid);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      maildir_db_error (u, rc, error);
      goto fail;
    }

  *delta = changed.uids->len + gone->len;
  if (*delta == 0)
    {
      *out = snap;
      maildir_message_list_clear (&changed);
      return TRUE;
    }

  /* Merge: both ascend by UID; a changed row replaces the snapshot's
   * entry, a tombstone removes it. */
  maildir_message_list_init (out, snap.uids->len + changed.uids->len);
  while (i < snap.uids->len || j < changed.uids->len)
    {
      guint32 su = i < snap.uids->len ? g_array_index (snap.uids, guint32, i) : G_MAXUINT32;
      guint32 cu = j < changed.uids->len ? g_array_index (changed.uids, guint32, j) : G_MAXUINT32;
      const MaildirMessageList *from;
      const guint32 *kw;
      guint k, n_kw;

      if (cu <= su)
        {
          from = &changed;
          k = j++;
          if (cu == su)
            i++;
        }
      else
        {
          from = &snap;
          k = i++;
          while (g < gone->len && g_array_index (gone, guint32, g) < su)
            g++;
          if (g < gone->len && g_array_index (gone, guint32, g) == su)
            continue;
        }
      kw = maildir_message_list_keywords (from, k, &n_kw);
      list_add (out, g_array_index (from->uids, guint32, k), g_array_index (from->flags, guint32, k),
                g_array_index (from->modseqs, guint64, k), kw, n_kw);
    }
  maildir_message_list_clear (&snap);
  maildir_message_list_clear (&changed);
  return TRUE;

fail:
  maildir_message_list_clear (&snap);
  maildir_message_list_clear (&changed);
  return FALSE;
}

gboolean
maildir_snapshot_save (MaildirUser *u, const MaildirFolder *f, const MaildirMessageList *list, GError **error)
{
  g_autoptr(GBytes) blob = maildir_snapshot_encode (list, f->uidvalidity);
  sqlite3_stmt *stmt = maildir_db_stmt (u, "INSERT OR REPLACE INTO snapshots (folder_id, modseq, data) "
                                           "VALUES (?1, ?2, ?3)", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) f->highestmodseq);
  sqlite3_bind_blob (stmt, 3, g_bytes_get_data (blob, NULL), (int) g_bytes_get_size (blob), SQLITE_STATIC);
  return maildir_db_done (u, stmt, error);
}
