/* storage-sqlite: changes to existing messages: STORE of flags and keywords,
 * COPY (with keyword translation) and EXPUNGE.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

/* Whether a STORE without keywords leaves every message of @uids as it
 * is (a client setting \Seen or \Flagged again), read on a reader: then
 * there is nothing to write, no write lock to queue for and no commit to
 * wait for. Read in one snapshot, so the STORE takes effect at that
 * point, before any concurrent change committed after it. */
static gboolean
store_flags_noop (SqliteStore *store, const char *user, const char *name, guint32 uidvalidity,
                  const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                  gboolean *noop, GError **error)
{
  SqliteConn *conn = sqlite_store_reader (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  SqliteMailbox mb;
  gboolean ok;

  *noop = FALSE;
  if (conn == NULL)
    return FALSE;
  ok = sqlite_store_exec (conn, "BEGIN", error) &&
       sqlite_mailbox_lookup (conn, user, name, uidvalidity, &mb, error) &&
       (rows = sqlite_messages_collect (conn, &mb, uids, n_uids, FALSE, error)) != NULL;
  if (ok)
    {
      *noop = TRUE;
      for (guint i = 0; *noop && i < rows->len; i++)
        {
          SqliteMessageRow *row = rows->pdata[i];

          switch (mode)
            {
            case POSTHORN_FLAGS_REPLACE:
              *noop = row->flags == flags && row->keywords->len == 0;
              break;
            case POSTHORN_FLAGS_ADD:
              *noop = (row->flags | flags) == row->flags;
              break;
            case POSTHORN_FLAGS_REMOVE:
              *noop = (row->flags & flags) == 0;
              break;
            }
        }
    }
  sqlite_store_reader_release (store, conn);
  return ok;
}

/* The arguments of one STORE or EXPUNGE, for its run in the group commit. */
typedef struct {
  const char *user;
  const char *name;
  guint32 uidvalidity;
  const guint32 *uids;
  guint n_uids;
  PosthornFlagsMode mode;
  guint32 flags;
  const char *const *keywords;
  guint64 unchangedsince;
  PosthornStoreChanges *changes;
} MessagesWrite;

/* A STORE inside the group commit's transaction (sqlite-append.c): the
 * mailbox row, the messages and UNCHANGEDSINCE are read in it, so the
 * MODSEQs follow the writes committed before and the check is atomic. */
static gboolean
store_flags_write (SqliteConn *conn, gpointer data, GError **error)
{
  const MessagesWrite *w = data;
  const char *user = w->user, *name = w->name;
  PosthornFlagsMode mode = w->mode;
  guint32 flags = w->flags;
  guint64 unchangedsince = w->unchangedsince;
  PosthornStoreChanges *changes = w->changes;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) kw = NULL;
  g_autoptr(GArray) next_kw = g_array_new (FALSE, FALSE, sizeof (guint32));
  SqliteMailbox mb;
  sqlite3_stmt *stmt;
  gboolean ok;

  ok = sqlite_mailbox_lookup (conn, user, name, w->uidvalidity, &mb, error) &&
       (rows = sqlite_messages_collect (conn, &mb, w->uids, w->n_uids, FALSE, error)) != NULL &&
       (kw = sqlite_keywords_resolve (conn, mb.id, w->keywords, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];
      guint32 next;
      guint64 modseq;

      next = storage_flags_apply (mode, flags, kw, row->flags, row->keywords, next_kw);
      if (unchangedsince > 0 && row->modseq > unchangedsince)
        {
          posthorn_store_changes_add_modified (changes, row->uid);
          continue;
        }
      if (next == row->flags && storage_keyword_sets_equal (next_kw, row->keywords))
        continue;
      modseq = ++mb.highestmodseq;
      stmt = sqlite_store_stmt (conn, "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "
                                      "WHERE mailbox_id = ?1 AND uid = ?2", error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, mb.id);
          sqlite3_bind_int64 (stmt, 2, row->uid);
          sqlite3_bind_int64 (stmt, 3, next);
          storage_keywords_bind (stmt, 4, next_kw);
          sqlite3_bind_int64 (stmt, 5, (gint64) modseq);
          ok = sqlite_store_step_done (conn, stmt, error);
        }
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_FLAGS_CHANGED, user, name,
                                            mb.uidvalidity, row->uid, modseq, next, 0);
    }
  return ok && sqlite_mailbox_save (conn, &mb, error);
}

gboolean
sqlite_store_flags (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                    const guint32 *uids, guint n_uids, PosthornFlagsMode mode, guint32 flags,
                    const char *const *keywords, guint64 unchangedsince,
                    PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  MessagesWrite w = { user, name, uidvalidity, uids, n_uids, mode, flags, keywords, unchangedsince,
                      changes };

  /* Keywords need their names resolved (which may add them), and
   * UNCHANGEDSINCE reports per message: both take the writer. */
  if ((keywords == NULL || keywords[0] == NULL) && unchangedsince == 0)
    {
      gboolean noop;

      if (!store_flags_noop (store, user, name, uidvalidity, uids, n_uids, mode, flags, &noop,
                             error))
        return FALSE;
      if (noop)
        return TRUE;
    }
  return sqlite_store_write (store, store_flags_write, &w, error);
}

/* Maps keyword indexes of one mailbox to another's (by name). */
static GArray *
keywords_translate (SqliteConn *conn, GPtrArray *src_names, gint64 dest_id, GArray *src,
                    GError **error)
{
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint i = 0; i < src->len; i++)
    {
      guint32 idx = g_array_index (src, guint32, i);
      gint64 dest_idx;
      guint32 v;

      if (idx + 1 >= src_names->len)
        continue;
      if (!sqlite_keyword_index (conn, dest_id, src_names->pdata[idx], TRUE, &dest_idx, error))
        return NULL;
      v = (guint32) dest_idx;
      g_array_append_val (out, v);
    }
  storage_keyword_set_normalize (out);
  return g_steal_pointer (&out);
}

gboolean
sqlite_copy (gpointer data, const char *user, const char *name, guint32 uidvalidity,
             const guint32 *uids, guint n_uids, const char *dest, gboolean move,
             PosthornStoreChanges *changes, GError **error)
{
  SqliteStore *store = data;
  SqliteConn *conn = sqlite_store_writer (store, error);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) src_names = NULL;
  SqliteMailbox src, dst;
  gboolean same;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = sqlite_mailbox_lookup (conn, user, name, uidvalidity, &src, error) &&
       sqlite_mailbox_lookup (conn, user, dest, 0, &dst, error) &&
       (rows = sqlite_messages_collect (conn, &src, uids, n_uids, FALSE, error)) != NULL &&
       (src_names = sqlite_keywords_list (conn, src.id, error)) != NULL;
  same = ok && src.id == dst.id;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];
      g_autoptr(GArray) kw = keywords_translate (conn, src_names, dst.id, row->keywords, error);
      SqliteMailbox *target = same ? &src : &dst;
      guint32 uid;
      guint64 modseq;

      ok = kw != NULL &&
           (move || sqlite_body_add_refs (conn, row->body_id, 1, error)) &&
           sqlite_message_insert (conn, target, row->body_id, row->flags, kw, row->internal_date,
                                  row->size, &uid, &modseq, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, user, dest,
                                            target->uidvalidity, uid, modseq, row->flags,
                                            row->uid);
    }
  for (guint i = 0; ok && move && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];
      guint64 modseq;

      ok = sqlite_message_remove (conn, &src, row, &modseq, FALSE, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            src.uidvalidity, row->uid, modseq, 0, 0);
    }
  if (ok)
    ok = sqlite_mailbox_save (conn, &src, error) && (same || sqlite_mailbox_save (conn, &dst, error));
  return sqlite_store_writer_done (store, ok, error);
}

/* An EXPUNGE inside the group commit's transaction: the messages that
 * have \Deleted when it runs go. */
static gboolean
expunge_write (SqliteConn *conn, gpointer data, GError **error)
{
  const MessagesWrite *w = data;
  const char *user = w->user, *name = w->name;
  PosthornStoreChanges *changes = w->changes;
  g_autoptr(GPtrArray) rows = NULL;
  SqliteMailbox mb;
  gboolean ok;

  ok = sqlite_mailbox_lookup (conn, user, name, w->uidvalidity, &mb, error) &&
       (rows = sqlite_messages_collect (conn, &mb, w->uids, w->n_uids, w->uids == NULL, error)) != NULL;
  for (guint i = 0; ok && i < rows->len; i++)
    {
      SqliteMessageRow *row = rows->pdata[i];
      guint64 modseq;

      if (!(row->flags & POSTHORN_MESSAGE_DELETED))
        continue;
      ok = sqlite_message_remove (conn, &mb, row, &modseq, TRUE, error);
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_EXPUNGED, user, name,
                                            mb.uidvalidity, row->uid, modseq, 0, 0);
    }
  return ok && sqlite_mailbox_save (conn, &mb, error);
}

gboolean
sqlite_expunge (gpointer data, const char *user, const char *name, guint32 uidvalidity,
                const guint32 *uids, guint n_uids, PosthornStoreChanges *changes,
                GError **error)
{
  MessagesWrite w = { user, name, uidvalidity, uids, n_uids, 0, 0, NULL, 0, changes };

  return sqlite_store_write (data, expunge_write, &w, error);
}

