/* storage-maildir: message rows of the index: reading them by UID set,
 * inserting, removing (with a tombstone) and updating.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* ------------------------------------------------------------------ */
/* message rows                                                        */
/* ------------------------------------------------------------------ */

void
maildir_message_row_free (gpointer p)
{
  MaildirMessageRow *row = p;

  g_array_unref (row->keywords);
  g_free (row->base);
  g_free (row->filename);
  g_free (row);
}

MaildirMessageRow *
maildir_message_row_read (sqlite3_stmt *stmt)
{
  MaildirMessageRow *row = g_new0 (MaildirMessageRow, 1);

  row->id = sqlite3_column_int64 (stmt, 0);
  row->uid = (guint32) sqlite3_column_int64 (stmt, 1);
  row->base = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  row->filename = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
  row->flags = (guint32) sqlite3_column_int64 (stmt, 4);
  row->keywords = g_array_new (FALSE, FALSE, sizeof (guint32));
  storage_keywords_from_column (stmt, 5, row->keywords);
  row->modseq = (guint64) sqlite3_column_int64 (stmt, 6);
  row->internal_date = sqlite3_column_int64 (stmt, 7);
  row->size = (guint64) sqlite3_column_int64 (stmt, 8);
  row->file_size = (guint64) sqlite3_column_int64 (stmt, 9);
  return row;
}

static gboolean
uid_in_set (const guint32 *uids, guint n, guint32 uid)
{
  guint lo = 0, hi = n;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (uids[mid] < uid)
        lo = mid + 1;
      else if (uids[mid] > uid)
        hi = mid;
      else
        return TRUE;
    }
  return FALSE;
}

/* The rows of @uids (ascending), or every row with @all. */
GPtrArray *
maildir_messages_collect (MaildirUser *u, const MaildirFolder *f, const guint32 *uids, guint n_uids,
                          gboolean all, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (maildir_message_row_free);
  sqlite3_stmt *stmt;
  guint32 lo, hi;
  int rc;

  if (!all && n_uids == 0)
    return g_steal_pointer (&rows);
  lo = all ? 1 : uids[0];
  hi = all ? G_MAXUINT32 : uids[n_uids - 1];
  if (!all && (guint64) n_uids * 16 < (guint64) (hi - lo))
    {
      stmt = maildir_db_stmt (u, "SELECT " MAILDIR_MESSAGE_COLUMNS " FROM messages WHERE folder_id = ?1 AND uid = ?2",
                              error);
      if (stmt == NULL)
        return NULL;
      for (guint i = 0; i < n_uids; i++)
        {
          sqlite3_reset (stmt);
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_int64 (stmt, 2, uids[i]);
          rc = sqlite3_step (stmt);
          if (rc == SQLITE_ROW)
            g_ptr_array_add (rows, maildir_message_row_read (stmt));
          else if (rc != SQLITE_DONE)
            {
              sqlite3_reset (stmt);
              maildir_db_error (u, rc, error);
              return NULL;
            }
        }
      sqlite3_reset (stmt);
      return g_steal_pointer (&rows);
    }
  stmt = maildir_db_stmt (u, "SELECT " MAILDIR_MESSAGE_COLUMNS " FROM messages WHERE folder_id = ?1 AND "
                     "uid BETWEEN ?2 AND ?3 ORDER BY uid", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, lo);
  sqlite3_bind_int64 (stmt, 3, hi);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (all || uid_in_set (uids, n_uids, (guint32) sqlite3_column_int64 (stmt, 1)))
      g_ptr_array_add (rows, maildir_message_row_read (stmt));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      maildir_db_error (u, rc, error);
      return NULL;
    }
  return g_steal_pointer (&rows);
}

gboolean
maildir_message_insert (MaildirUser *u, const MaildirFolder *f, const MaildirNewRow *r, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "INSERT INTO messages (folder_id, uid, base, filename, flags, "
                                   "keywords, modseq, internal_date, size, file_size, lfmap, info) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                        error);
  gint64 id;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, r->uid);
  sqlite3_bind_text (stmt, 3, r->base, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, r->filename, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, r->flags & POSTHORN_MESSAGE_STORED_FLAGS);
  storage_keywords_bind (stmt, 6, r->keywords);
  sqlite3_bind_int64 (stmt, 7, (gint64) r->modseq);
  sqlite3_bind_int64 (stmt, 8, r->internal_date);
  sqlite3_bind_int64 (stmt, 9, (gint64) r->size);
  sqlite3_bind_int64 (stmt, 10, (gint64) r->file_size);
  if (r->lfmap != NULL)
    sqlite3_bind_blob (stmt, 11, g_bytes_get_data (r->lfmap, NULL), (int) g_bytes_get_size (r->lfmap),
                       SQLITE_STATIC);
  if (r->info != NULL)
    sqlite3_bind_blob (stmt, 12, g_bytes_get_data (r->info, NULL), (int) g_bytes_get_size (r->info),
                       SQLITE_STATIC);
  if (!maildir_db_done (u, stmt, error))
    return FALSE;
  id = sqlite3_last_insert_rowid (u->db);
  if (r->copy_search_from > 0)
    {
      stmt = maildir_db_stmt (u, "INSERT INTO search (rowid, header_text, body_text) SELECT ?1, "
                         "header_text, body_text FROM search WHERE rowid = ?2", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, id);
      sqlite3_bind_int64 (stmt, 2, r->copy_search_from);
      return maildir_db_done (u, stmt, error);
    }
  stmt = maildir_db_stmt (u, "INSERT INTO search (rowid, header_text, body_text) VALUES (?1, ?2, ?3)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, r->header_text != NULL ? r->header_text : "", -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, r->body_text != NULL ? r->body_text : "", -1, SQLITE_STATIC);
  return maildir_db_done (u, stmt, error);
}

/* Removes a message's row and leaves its tombstone. */
gboolean
maildir_message_remove (MaildirUser *u, MaildirFolder *f, const MaildirMessageRow *row, guint64 *modseq,
                        GError **error)
{
  static const char *const sql[] = {
    "DELETE FROM search WHERE rowid = ?1",
    "DELETE FROM messages WHERE id = ?1",
  };
  sqlite3_stmt *stmt;

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      stmt = maildir_db_stmt (u, sql[i], error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, row->id);
      if (!maildir_db_done (u, stmt, error))
        return FALSE;
    }
  *modseq = ++f->highestmodseq;
  stmt = maildir_db_stmt (u, "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?1, ?2, ?3)",
                          error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  sqlite3_bind_int64 (stmt, 2, row->uid);
  sqlite3_bind_int64 (stmt, 3, (gint64) *modseq);
  return maildir_db_done (u, stmt, error);
}

gboolean
maildir_message_update (MaildirUser *u, const MaildirMessageRow *row, const char *filename, guint32 flags,
                        GArray *keywords, guint64 modseq, GError **error)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "UPDATE messages SET filename = ?2, flags = ?3, keywords = ?4, "
                                   "modseq = ?5 WHERE id = ?1", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, row->id);
  sqlite3_bind_text (stmt, 2, filename, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, flags);
  storage_keywords_bind (stmt, 4, keywords);
  sqlite3_bind_int64 (stmt, 5, (gint64) modseq);
  return maildir_db_done (u, stmt, error);
}

