/* storage-sqlite: per-user mailbox tree operations: open_user (special-use
 * mailboxes), LIST, CREATE, DELETE, RENAME, SUBSCRIBE and STATUS.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

static const char *const special_use_names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };

gboolean
sqlite_open_user (gpointer data, const char *user, PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn;
  gint64 user_id;
  gboolean ok = FALSE;

  /* Cheap check first: most logins find everything in place. */
  conn = sqlite_store_reader (store, error);
  if (conn == NULL)
    return FALSE;
  {
    sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT initialized FROM users WHERE name = ?1", error);

    if (stmt != NULL)
      {
        sqlite3_bind_text (stmt, 1, user, -1, SQLITE_STATIC);
        ok = sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
        sqlite3_reset (stmt);
      }
  }
  sqlite_store_reader_release (store, conn);
  if (ok)
    return TRUE;

  conn = sqlite_store_writer (store, error);
  if (conn == NULL)
    return FALSE;
  ok = sqlite_user_ensure (conn, user, &user_id, error);
  if (ok)
    {
      gboolean exists;

      ok = sqlite_mailbox_exists (conn, user_id, "INBOX", &exists, error) &&
           (exists || sqlite_mailbox_insert (conn, user, user_id, "INBOX", 0, changes, error)) &&
           sqlite_subscription_set (conn, user_id, "INBOX", TRUE, error);
      for (guint i = 0; ok && i < G_N_ELEMENTS (special_use_names); i++)
        {
          ok = sqlite_mailbox_exists (conn, user_id, special_use_names[i], &exists, error);
          if (ok && !exists)
            ok = sqlite_mailbox_insert (conn, user, user_id, special_use_names[i], 1u << i, changes, error) &&
                 sqlite_subscription_set (conn, user_id, special_use_names[i], TRUE, error);
        }
    }
  if (ok)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, "UPDATE users SET initialized = 1 WHERE id = ?1", error);

      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, user_id);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
    }
  return sqlite_store_writer_done (store, ok, error);
}

gboolean
sqlite_list (gpointer data, const char *user, PosthornStoreMailboxes *out, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  sqlite3_stmt *stmt;
  gint64 user_id;
  gboolean ok = FALSE;
  int rc = SQLITE_DONE;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) || !sqlite_user_lookup (conn, user, &user_id, error))
    goto out;
  stmt = sqlite_store_stmt (conn, "SELECT name, special_use FROM mailboxes WHERE user_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, user_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add (out, (const char *) sqlite3_column_text (stmt, 0),
                                  sqlite3_column_int (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      sqlite_store_set_error (conn, rc, error);
      goto out;
    }
  stmt = sqlite_store_stmt (conn, "SELECT name FROM subscriptions WHERE user_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, user_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    posthorn_store_mailboxes_add_subscription (out, (const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);
  ok = rc == SQLITE_DONE || sqlite_store_set_error (conn, rc, error);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

gboolean
sqlite_create (gpointer data, const char *user, const char *name, PosthornSpecialUse special_use,
               PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  gint64 user_id;
  gboolean exists = FALSE;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_user_ensure (conn, user, &user_id, error) &&
       sqlite_mailbox_exists (conn, user_id, name, &exists, error);
  if (ok && exists)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists", name);
      ok = FALSE;
    }
  if (ok)
    ok = sqlite_mailbox_create_path (conn, user, user_id, name, special_use, changes, error);
  return sqlite_store_writer_done (store, ok, error);
}

gboolean
sqlite_delete (gpointer data, const char *user, const char *name, PosthornStoreChanges *changes,
               GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  SqliteMailbox mb;
  g_autoptr(GPtrArray) rows = NULL;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_mailbox_lookup (conn, user, name, 0, &mb, error);
  if (ok)
    ok = (rows = sqlite_messages_collect (conn, &mb, NULL, 0, TRUE, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    ok = sqlite_body_release (conn, ((SqliteMessageRow *) rows->pdata[i])->body_id, error);
  if (ok)
    {
      static const char *const cleanup[] = {
        "DELETE FROM messages WHERE mailbox_id = ?1",
        "DELETE FROM expunged WHERE mailbox_id = ?1",
        "DELETE FROM keywords WHERE mailbox_id = ?1",
        "DELETE FROM snapshots WHERE mailbox_id = ?1",
        "DELETE FROM mailboxes WHERE id = ?1",
      };

      for (guint i = 0; ok && i < G_N_ELEMENTS (cleanup); i++)
        {
          sqlite3_stmt *stmt = sqlite_store_stmt (conn, cleanup[i], error);

          ok = stmt != NULL;
          if (ok)
            {
              sqlite3_bind_int64 (stmt, 1, mb.id);
              ok = sqlite_store_step_done (conn, stmt, error);
            }
        }
    }
  if (ok)
    posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_DELETED, user, name, NULL);
  return sqlite_store_writer_done (store, ok, error);
}

static gboolean
rename_one (SqliteConn *conn, gint64 user_id, const char *from, const char *to, GError **error)
{
  static const char *const sql[] = {
    "UPDATE mailboxes SET name = ?3 WHERE user_id = ?1 AND name = ?2",
    "UPDATE subscriptions SET name = ?3 WHERE user_id = ?1 AND name = ?2",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, sql[i], error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_text (stmt, 2, from, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, to, -1, SQLITE_STATIC);
      if (!sqlite_store_step_done (conn, stmt, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
sqlite_rename (gpointer data, const char *user, const char *old_name, const char *new_name,
               PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func (g_free);
  gboolean is_inbox = strcmp (old_name, "INBOX") == 0;
  SqliteMailbox mb;
  gboolean ok;
  int rc;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_mailbox_lookup (conn, user, old_name, 0, &mb, error);
  if (ok)
    {
      sqlite3_stmt *stmt = sqlite_store_stmt (conn, "SELECT name FROM mailboxes WHERE user_id = ?1 AND "
                                                    "(name = ?2 OR substr (name, 1, length (?2) + 1) = ?2 || '/') "
                                                    "ORDER BY name", error);
      gsize old_len = strlen (old_name);

      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, mb.user_id);
          sqlite3_bind_text (stmt, 2, old_name, -1, SQLITE_STATIC);
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            {
              const char *name = (const char *) sqlite3_column_text (stmt, 0);

              if (is_inbox && strcmp (name, "INBOX") != 0)
                continue;   /* INBOX's children stay */
              g_ptr_array_add (from, g_strdup (name));
              g_ptr_array_add (to, g_strconcat (new_name, name + old_len, NULL));
            }
          sqlite3_reset (stmt);
          if (rc != SQLITE_DONE)
            ok = sqlite_store_set_error (conn, rc, error);
        }
    }
  for (guint i = 0; ok && i < to->len; i++)
    {
      gboolean exists;

      ok = sqlite_mailbox_exists (conn, mb.user_id, to->pdata[i], &exists, error);
      if (ok && exists)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS, "mailbox %s exists",
                       (const char *) to->pdata[i]);
          ok = FALSE;
        }
    }
  if (ok)
    {
      /* New parents of the new name, as CREATE would make them. */
      g_autofree char *parent = g_strdup (new_name);
      char *slash = strrchr (parent, '/');

      if (slash != NULL)
        {
          gboolean exists;

          *slash = '\0';
          ok = sqlite_mailbox_exists (conn, mb.user_id, parent, &exists, error) &&
               (exists || sqlite_mailbox_create_path (conn, user, mb.user_id, parent, 0, changes, error));
        }
    }
  for (guint i = 0; ok && i < from->len; i++)
    {
      ok = rename_one (conn, mb.user_id, from->pdata[i], to->pdata[i], error);
      if (ok)
        posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_MAILBOX_RENAMED, user,
                                            to->pdata[i], from->pdata[i]);
    }
  if (ok && is_inbox)
    ok = sqlite_mailbox_insert (conn, user, mb.user_id, "INBOX", 0, changes, error) &&
         sqlite_subscription_set (conn, mb.user_id, "INBOX", TRUE, error);
  return sqlite_store_writer_done (store, ok, error);
}

gboolean
sqlite_subscribe (gpointer data, const char *user, const char *name, gboolean subscribe,
                  PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  gint64 user_id;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_user_ensure (conn, user, &user_id, error) &&
       sqlite_subscription_set (conn, user_id, name, subscribe, error);
  if (ok)
    posthorn_store_changes_add_mailbox (changes, POSTHORN_EVENT_SUBSCRIPTION_CHANGED, user, name, NULL);
  return sqlite_store_writer_done (store, ok, error);
}

gboolean
sqlite_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
               GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_reader (store, error);
  SqliteMailbox mb;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  int rc;

  if (conn == NULL)
    return FALSE;
  if (!sqlite_store_exec (conn, "BEGIN", error) || !sqlite_mailbox_lookup (conn, user, name, 0, &mb, error))
    goto out;
  stmt = sqlite_store_stmt (conn, "SELECT count(*), total (uid >= ?2), total ((flags & 1) = 0), "
                                  "total (size) FROM messages WHERE mailbox_id = ?1", error);
  if (stmt == NULL)
    goto out;
  sqlite3_bind_int64 (stmt, 1, mb.id);
  sqlite3_bind_int64 (stmt, 2, mb.first_recent_uid);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      out->messages = (guint32) sqlite3_column_int64 (stmt, 0);
      out->recent = (guint32) sqlite3_column_double (stmt, 1);
      out->unseen = (guint32) sqlite3_column_double (stmt, 2);
      out->size = (guint64) sqlite3_column_double (stmt, 3);
      out->uidnext = mb.uidnext;
      out->uidvalidity = mb.uidvalidity;
      out->highestmodseq = mb.highestmodseq;
      ok = TRUE;
    }
  else
    sqlite_store_set_error (conn, rc, error);
  sqlite3_reset (stmt);
out:
  sqlite_store_reader_release (store, conn);
  return ok;
}

