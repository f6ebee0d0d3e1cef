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

/* Group commit. Every durable write of a message (an append, a flag
 * change, an expunge) queues up as a request; while one thread commits a
 * batch, the requests that arrive queue behind it, and the first of them
 * to wake up after that commit takes every queued request into the next
 * transaction: one BEGIN, each request in its own savepoint (so one
 * failing request does not take the others with it), then the search
 * text of the appended messages (queued for the index: sqlite-index.c),
 * then one COMMIT with one fsync of the WAL. Nobody returns before the
 * commit that holds its change is durable. The database holds every
 * user, so a batch spans sessions and users alike. A request reads the
 * mailbox row (UIDNEXT, HIGHESTMODSEQ) inside the transaction, after the
 * requests before it in the batch wrote theirs, so UIDs and MODSEQs stay
 * in order, and a rolled back savepoint takes its MODSEQs with it. */
#define WRITE_BATCH_MAX 512

typedef struct {
  SqliteWriteFunc func;   /* in the request's savepoint */
  SqliteWriteFunc after;  /* after every savepoint of the batch, or NULL */
  gpointer data;
  GError *error;
  gboolean ok;
  gboolean done;        /* under queue_lock */
} WriteRequest;

static void
write_batch_fail (GPtrArray *batch, const GError *error)
{
  for (guint i = 0; i < batch->len; i++)
    {
      WriteRequest *r = batch->pdata[i];

      if (r->ok || r->error == NULL)
        {
          r->ok = FALSE;
          g_clear_error (&r->error);
          r->error = g_error_copy (error);
        }
    }
}

static void
write_run_batch (SqliteStore *store, GPtrArray *batch)
{
  g_autoptr(GError) error = NULL;
  SqliteConn *conn;
  gboolean savepoints = batch->len > 1;

  conn = sqlite_store_writer (store, &error);
  if (conn == NULL)
    {
      write_batch_fail (batch, error);
      return;
    }
  for (guint i = 0; i < batch->len; i++)
    {
      WriteRequest *r = batch->pdata[i];

      r->ok = (!savepoints || sqlite_store_exec (conn, "SAVEPOINT write", &r->error)) &&
              r->func (conn, r->data, &r->error);
      if (!savepoints)
        continue;
      if (!r->ok)
        sqlite3_exec (conn->db, "ROLLBACK TO write", NULL, NULL, NULL);
      sqlite3_exec (conn->db, "RELEASE write", NULL, NULL, NULL);
      /* Some errors (a full disk, I/O) roll the whole transaction back:
       * the requests before this one are gone with it. */
      if (sqlite3_get_autocommit (conn->db))
        {
          g_set_error (&error, POSTHORN_ERROR, POSTHORN_ERROR_TEMPORARY,
                       "database: the transaction was rolled back: %s",
                       r->error != NULL ? r->error->message : sqlite3_errmsg (conn->db));
          sqlite_store_writer_done (store, FALSE, NULL);
          write_batch_fail (batch, error);
          return;
        }
    }
  /* No savepoint after this one. */
  for (guint i = 0; i < batch->len; i++)
    {
      WriteRequest *r = batch->pdata[i];

      if (r->ok && r->after != NULL && !r->after (conn, r->data, &error))
        {
          sqlite_store_writer_done (store, FALSE, NULL);
          write_batch_fail (batch, error);
          return;
        }
    }
  /* A lone request that failed leaves nothing to commit. */
  if (!sqlite_store_writer_done (store, savepoints || ((WriteRequest *) batch->pdata[0])->ok, &error) &&
      error != NULL)
    write_batch_fail (batch, error);
}

static gboolean
write_request_run (SqliteStore *store, SqliteWriteFunc func, SqliteWriteFunc after, gpointer data,
                   GError **error)
{
  WriteRequest req = { func, after, data, NULL, FALSE, FALSE };

  g_mutex_lock (&store->queue_lock);
  g_ptr_array_add (store->write_queue, &req);
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
      for (guint i = 0; i < store->write_queue->len && i < WRITE_BATCH_MAX; i++)
        g_ptr_array_add (batch, store->write_queue->pdata[i]);
      g_ptr_array_remove_range (store->write_queue, 0, batch->len);
      g_mutex_unlock (&store->queue_lock);

      write_run_batch (store, batch);

      g_mutex_lock (&store->queue_lock);
      for (guint i = 0; i < batch->len; i++)
        ((WriteRequest *) batch->pdata[i])->done = TRUE;
      store->committing = FALSE;
      store->commits++;
      store->committed_writes += batch->len;
      g_cond_broadcast (&store->commit_cond);
    }
  g_mutex_unlock (&store->queue_lock);

  if (!req.ok)
    g_propagate_error (error, req.error);
  return req.ok;
}

gboolean
sqlite_store_write (SqliteStore *store, SqliteWriteFunc func, gpointer data, GError **error)
{
  return write_request_run (store, func, NULL, data, error);
}

/* An append: several messages (MULTIAPPEND) share its one savepoint. */
typedef struct {
  const PosthornStoreNewMessage *const *msgs;
  guint n_msgs;
  const PosthornStoreTarget *targets;
  guint n_targets;
  PosthornStoreChanges *changes;
  gint64 *body_ids;     /* one per message, indexed after the savepoints */
} AppendRequest;

static gboolean
append_write (SqliteConn *conn, gpointer data, GError **error)
{
  AppendRequest *r = data;

  for (guint k = 0; k < r->n_msgs; k++)
    if (!append_in_transaction (conn, r->msgs[k], r->targets, r->n_targets, r->changes,
                                &r->body_ids[k], error))
      return FALSE;
  return TRUE;
}

static gboolean
append_index (SqliteConn *conn, gpointer data, GError **error)
{
  AppendRequest *r = data;

  for (guint k = 0; k < r->n_msgs; k++)
    if (!sqlite_search_index (conn, r->body_ids[k], r->msgs[k], error))
      return FALSE;
  return TRUE;
}

static gboolean
append_request_run (SqliteStore *store, const PosthornStoreNewMessage *const *msgs, guint n_msgs,
                    const PosthornStoreTarget *targets, guint n_targets,
                    PosthornStoreChanges *changes, GError **error)
{
  gint64 one_id;
  g_autofree gint64 *ids = n_msgs > 1 ? g_new0 (gint64, n_msgs) : NULL;
  AppendRequest req = { msgs, n_msgs, targets, n_targets, changes, ids != NULL ? ids : &one_id };

  if (!write_request_run (store, append_write, append_index, &req, error))
    return FALSE;
  sqlite_index_wake (store, n_msgs);
  return TRUE;
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
