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
                       PosthornStoreChanges *changes, gint64 *out_body_id, GError **error)
{
  SqliteMailbox one = { 0 };
  g_autofree SqliteMailbox *many = n_targets > 1 ? g_new0 (SqliteMailbox, n_targets) : NULL;
  SqliteMailbox *mbs = many != NULL ? many : &one;
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
  *out_body_id = body_id;
  return ok;
}

/* Group commit. Appends queue up; while one thread commits a batch, the
 * appends that arrive queue behind it, and the first of them to wake up
 * after that commit takes every queued append into the next transaction:
 * one BEGIN, each append in its own savepoint (so one failing append does
 * not take the others with it), then the search text of all of them
 * (queued for the index: sqlite-index.c), then one COMMIT with one fsync of the WAL. Nobody returns before
 * the commit that holds its message is durable. The database holds every
 * user, so a batch spans sessions and users alike. */
#define APPEND_BATCH_MAX 512

typedef struct {
  const PosthornStoreNewMessage *const *msgs;  /* several: MULTIAPPEND, one savepoint */
  guint n_msgs;
  const PosthornStoreTarget *targets;
  guint n_targets;
  PosthornStoreChanges *changes;
  gint64 *body_ids;     /* one per message, indexed after the savepoints */
  GError *error;
  gboolean ok;
  gboolean done;        /* under queue_lock */
} AppendRequest;

static void
append_batch_fail (GPtrArray *batch, GError *error)
{
  for (guint i = 0; i < batch->len; i++)
    {
      AppendRequest *r = batch->pdata[i];

      if (r->ok || r->error == NULL)
        {
          r->ok = FALSE;
          g_clear_error (&r->error);
          r->error = g_error_copy (error);
        }
    }
  g_error_free (error);
}

static void
append_run_batch (SqliteStore *store, GPtrArray *batch)
{
  SqliteConn *conn;
  GError *error = NULL;
  gboolean savepoints = batch->len > 1;

  conn = sqlite_store_writer (store, &error);
  if (conn == NULL)
    {
      append_batch_fail (batch, error);
      return;
    }
  for (guint i = 0; i < batch->len; i++)
    {
      AppendRequest *r = batch->pdata[i];

      r->ok = !savepoints || sqlite_store_exec (conn, "SAVEPOINT append", &r->error);
      for (guint k = 0; r->ok && k < r->n_msgs; k++)
        r->ok = append_in_transaction (conn, r->msgs[k], r->targets, r->n_targets, r->changes,
                                       &r->body_ids[k], &r->error);
      if (!savepoints)
        continue;
      if (!r->ok)
        sqlite3_exec (conn->db, "ROLLBACK TO append", NULL, NULL, NULL);
      sqlite3_exec (conn->db, "RELEASE append", NULL, NULL, NULL);
    }
  /* No savepoint after this: FTS5 would flush its pending index at each. */
  for (guint i = 0; i < batch->len; i++)
    {
      AppendRequest *r = batch->pdata[i];

      for (guint k = 0; r->ok && k < r->n_msgs; k++)
        if (!sqlite_search_index (conn, r->body_ids[k], r->msgs[k], &error))
          {
            sqlite_store_writer_done (store, FALSE, NULL);
            append_batch_fail (batch, error);
            return;
          }
    }
  /* A lone append that failed leaves nothing to commit. */
  if (!sqlite_store_writer_done (store, savepoints || ((AppendRequest *) batch->pdata[0])->ok, &error) &&
      error != NULL)
    append_batch_fail (batch, error);
}

static gboolean
append_request_run (SqliteStore *store, const PosthornStoreNewMessage *const *msgs, guint n_msgs,
                    const PosthornStoreTarget *targets, guint n_targets,
                    PosthornStoreChanges *changes, GError **error)
{
  gint64 one_id;
  g_autofree gint64 *ids = n_msgs > 1 ? g_new0 (gint64, n_msgs) : NULL;
  AppendRequest req = { msgs, n_msgs, targets, n_targets, changes, ids != NULL ? ids : &one_id,
                        NULL, FALSE, FALSE };

  g_mutex_lock (&store->queue_lock);
  g_ptr_array_add (store->append_queue, &req);
  while (!req.done)
    {
      g_autoptr(GPtrArray) batch = NULL;

      if (store->committing)
        {
          g_cond_wait (&store->commit_cond, &store->queue_lock);
          continue;
        }
      /* This thread leads the next commit. */
      store->committing = TRUE;
      batch = g_ptr_array_new ();
      for (guint i = 0; i < store->append_queue->len && i < APPEND_BATCH_MAX; i++)
        g_ptr_array_add (batch, store->append_queue->pdata[i]);
      g_ptr_array_remove_range (store->append_queue, 0, batch->len);
      g_mutex_unlock (&store->queue_lock);

      append_run_batch (store, batch);

      g_mutex_lock (&store->queue_lock);
      for (guint i = 0; i < batch->len; i++)
        ((AppendRequest *) batch->pdata[i])->done = TRUE;
      store->committing = FALSE;
      store->commits++;
      store->committed_appends += batch->len;
      g_cond_broadcast (&store->commit_cond);
    }
  g_mutex_unlock (&store->queue_lock);
  if (req.ok)
    sqlite_index_wake (store, n_msgs);

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
