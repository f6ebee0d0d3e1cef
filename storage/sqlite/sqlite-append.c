/* storage-sqlite: message append/delivery: bodies in chunks, one message row
 * per target mailbox, and the group commit of queued appends.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

#include <string.h>

/* One append inside the writer's open transaction. */
static gboolean
append_in_transaction (SqliteConn *conn, const PosthornStoreNewMessage *msg,
                       const PosthornStoreTarget *targets, guint n_targets,
                       PosthornStoreChanges *changes, GError **error)
{
  g_autofree SqliteMailbox *mbs = g_new0 (SqliteMailbox, n_targets);
  gint64 body_id = 0;
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < n_targets; i++)
    {
      gint64 user_id;
      gboolean exists;

      /* Delivery to someone who never logged in: make INBOX. */
      if (strcmp (targets[i].mailbox, "INBOX") == 0)
        ok = sqlite_user_ensure (conn, targets[i].user, &user_id, error) &&
             sqlite_mailbox_exists (conn, user_id, "INBOX", &exists, error) &&
             (exists || sqlite_mailbox_insert (conn, targets[i].user, user_id, "INBOX", 0, changes, error));
      if (ok)
        ok = sqlite_mailbox_lookup (conn, targets[i].user, targets[i].mailbox, 0, &mbs[i], error);
    }
  if (ok)
    ok = sqlite_body_insert (conn, msg, n_targets, &body_id, error);
  for (guint i = 0; ok && i < n_targets; i++)
    {
      g_autoptr(GArray) kw = sqlite_keywords_resolve (conn, mbs[i].id, msg->keywords, error);
      guint32 uid;
      guint64 modseq;

      ok = kw != NULL &&
           sqlite_message_insert (conn, &mbs[i], body_id, msg->flags, kw, msg->internal_date, msg->size,
                                  &uid, &modseq, error) &&
           sqlite_mailbox_save (conn, &mbs[i], error);
      /* Two targets may be the same mailbox: later lookups see the update. */
      for (guint j = i + 1; ok && j < n_targets; j++)
        if (mbs[j].id == mbs[i].id)
          {
            mbs[j].uidnext = mbs[i].uidnext;
            mbs[j].highestmodseq = mbs[i].highestmodseq;
          }
      if (ok)
        posthorn_store_changes_add_message (changes, POSTHORN_EVENT_MESSAGE_NEW, targets[i].user,
                                            targets[i].mailbox, mbs[i].uidvalidity, uid, modseq,
                                            msg->flags, 0);
    }
  return ok;
}

/* Group commit. Appends queue up; whoever holds the write lock next runs
 * every queued append in one transaction (each in its own savepoint, so
 * one failing append does not take the others with it) and pays for one
 * fsync for all of them. Nobody returns before the commit that holds its
 * message is durable. */
typedef struct {
  const PosthornStoreNewMessage *const *msgs;  /* several: MULTIAPPEND, one savepoint */
  guint n_msgs;
  const PosthornStoreTarget *targets;
  guint n_targets;
  PosthornStoreChanges *changes;
  GError *error;
  gboolean ok;
  gboolean done;        /* under write_lock */
} AppendRequest;

static void
append_run_batch (SqliteStore *store, GPtrArray *batch)
{
  SqliteConn *conn = store->writer;
  GError *error = NULL;
  gboolean committed;

  if (!sqlite_store_exec (conn, "BEGIN IMMEDIATE", &error))
    {
      for (guint i = 0; i < batch->len; i++)
        {
          AppendRequest *r = batch->pdata[i];

          r->ok = FALSE;
          r->error = g_error_copy (error);
        }
      g_error_free (error);
      return;
    }
  for (guint i = 0; i < batch->len; i++)
    {
      AppendRequest *r = batch->pdata[i];

      r->ok = sqlite_store_exec (conn, "SAVEPOINT append", &r->error);
      for (guint k = 0; r->ok && k < r->n_msgs; k++)
        r->ok = append_in_transaction (conn, r->msgs[k], r->targets, r->n_targets, r->changes,
                                       &r->error);
      if (!r->ok)
        sqlite3_exec (conn->db, "ROLLBACK TO append", NULL, NULL, NULL);
      sqlite3_exec (conn->db, "RELEASE append", NULL, NULL, NULL);
    }
  committed = sqlite_store_exec (conn, "COMMIT", &error);
  if (!committed)
    {
      sqlite3_exec (conn->db, "ROLLBACK", NULL, NULL, NULL);
      for (guint i = 0; i < batch->len; i++)
        {
          AppendRequest *r = batch->pdata[i];

          if (r->ok)
            {
              r->ok = FALSE;
              r->error = g_error_copy (error);
            }
        }
      g_error_free (error);
    }
}

static gboolean
append_request_run (SqliteStore *store, const PosthornStoreNewMessage *const *msgs, guint n_msgs,
                    const PosthornStoreTarget *targets, guint n_targets,
                    PosthornStoreChanges *changes, GError **error)
{
  AppendRequest req = { msgs, n_msgs, targets, n_targets, changes, NULL, FALSE, FALSE };

  g_mutex_lock (&store->queue_lock);
  g_ptr_array_add (store->append_queue, &req);
  g_mutex_unlock (&store->queue_lock);

  g_mutex_lock (&store->write_lock);
  if (!req.done)
    {
      g_autoptr(GPtrArray) batch = NULL;

      g_mutex_lock (&store->queue_lock);
      batch = g_steal_pointer (&store->append_queue);
      store->append_queue = g_ptr_array_new ();
      g_mutex_unlock (&store->queue_lock);
      append_run_batch (store, batch);
      for (guint i = 0; i < batch->len; i++)
        ((AppendRequest *) batch->pdata[i])->done = TRUE;
    }
  g_mutex_unlock (&store->write_lock);

  if (!req.ok)
    g_propagate_error (error, req.error);
  return req.ok;
}

gboolean
sqlite_append (gpointer data, const PosthornStoreNewMessage *msg,
               const PosthornStoreTarget *targets, guint n_targets,
               PosthornStoreChanges *changes, GError **error)
{
  return append_request_run (data, &msg, 1, targets, n_targets, changes, error);
}

/* MULTIAPPEND: every message in the one savepoint of its request, so they
 * commit (and become visible) together or not at all. */
gboolean
sqlite_append_multi (gpointer data, const PosthornStoreNewMessage *const *messages,
                     guint n_messages, const PosthornStoreTarget *target,
                     PosthornStoreChanges *changes, GError **error)
{
  return append_request_run (data, messages, n_messages, target, 1, changes, error);
}
