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

/* The snapshot blob's tag (storage_snapshot_encode()): "PHM1". */
#define SNAPSHOT_MAGIC 0x314d4850u

gboolean
maildir_message_list_read_changed (MaildirUser *u, const MaildirFolder *f, guint64 since, StorageMessageList *l,
                                   GError **error)
{
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
  rc = storage_message_list_read (stmt, l);
  if (rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  return TRUE;
}

/* Reads the snapshot of @f if it matches; *@modseq is its MODSEQ. */
static gboolean
snapshot_read (MaildirUser *u, const MaildirFolder *f, StorageMessageList *snap, guint64 *modseq,
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
              storage_snapshot_decode (sqlite3_column_blob (stmt, 1), (gsize) sqlite3_column_bytes (stmt, 1),
                                       SNAPSHOT_MAGIC, f->uidvalidity, snap);
      if (!*have)
        g_debug ("%s: snapshot does not match the folder; reading every row", f->dir);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  return TRUE;
}

gboolean
maildir_message_list_load (MaildirUser *u, const MaildirFolder *f, StorageMessageList *out, guint *delta,
                           GError **error)
{
  StorageMessageList snap = { 0 }, changed = { 0 };
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint64 snap_modseq = 0;
  gboolean have = FALSE;
  sqlite3_stmt *stmt;
  int rc;

  if (!snapshot_read (u, f, &snap, &snap_modseq, &have, error))
    return FALSE;
  if (!have)
    {
      storage_message_list_init (out, 0);
      if (!maildir_message_list_read_changed (u, f, 0, out, error))
        {
          storage_message_list_clear (out);
          return FALSE;
        }
      *delta = out->uids->len;
      return TRUE;
    }

  storage_message_list_init (&changed, 0);
  if (!maildir_message_list_read_changed (u, f, snap_modseq, &changed, error))
    goto fail;
  stmt = maildir_db_stmt (u, "SELECT uid FROM expunged WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid", error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) snap_modseq);
  rc = storage_uids_read (stmt, gone);
  if (rc != SQLITE_DONE)
    {
      maildir_db_error (u, rc, error);
      goto fail;
    }

  *delta = storage_message_list_merge (&snap, &changed, gone, out);
  return TRUE;

fail:
  storage_message_list_clear (&snap);
  storage_message_list_clear (&changed);
  return FALSE;
}

gboolean
maildir_snapshot_save (MaildirUser *u, const MaildirFolder *f, const StorageMessageList *list, GError **error)
{
  g_autoptr(GBytes) blob = storage_snapshot_encode (list, SNAPSHOT_MAGIC, f->uidvalidity);
  sqlite3_stmt *stmt = maildir_db_stmt (u, "INSERT OR REPLACE INTO snapshots (folder_id, modseq, data) "
                                           "VALUES (?1, ?2, ?3)", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, (gint64) f->highestmodseq);
  sqlite3_bind_blob (stmt, 3, g_bytes_get_data (blob, NULL), (int) g_bytes_get_size (blob), SQLITE_STATIC);
  return maildir_db_done (u, stmt, error);
}
