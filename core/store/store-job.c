/* One store operation as a job on the worker pool: its
 * arguments, checked on the loop, and the worker side that calls the
 * blocking vtable (append with the one-time MIME parse, fetch, read, ...)
 * and publishes the changes it made.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#include <string.h>

/* ---- jobs ---- */

static void
store_job_free (gpointer p)
{
  StoreJob *job = p;

  g_clear_error (&job->invalid);
  g_free (job->user);
  g_free (job->name);
  g_free (job->dest);
  g_clear_pointer (&job->uids, g_array_unref);
  g_strfreev (job->keywords);
  g_clear_pointer (&job->message, posthorn_message_unref);
  g_strfreev (job->users);
  g_strfreev (job->mailboxes);
  g_free (job->needle);
  g_clear_pointer (&job->items, g_array_unref);
  g_free (job);
}

StoreJob *
store_job_new (StoreOp op, PosthornStoreUser *user)
{
  StoreJob *job = g_new0 (StoreJob, 1);

  job->op = op;
  if (user != NULL)
    {
      job->user = g_strdup (user->name);
      job->origin = user->origin;
    }
  return job;
}

/* Normalizes a client-given name into @out; the first problem is kept in
 * job->invalid and reported by the worker. */
void
store_job_set_name (StoreJob *job, char **out, const char *name)
{
  GError *error = NULL;

  *out = posthorn_store_normalize_mailbox_name (name, &error);
  if (*out == NULL && job->invalid == NULL)
    job->invalid = error;
  else
    g_clear_error (&error);
}

static int
uid_compare (gconstpointer a, gconstpointer b)
{
  guint32 ua = *(const guint32 *) a, ub = *(const guint32 *) b;

  return ua < ub ? -1 : ua > ub;
}

void
store_job_set_uids (StoreJob *job, const guint32 *uids, guint n_uids)
{
  guint out = 0;

  job->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_uids);
  if (n_uids > 0)
    g_array_append_vals (job->uids, uids, n_uids);
  g_array_sort (job->uids, uid_compare);
  for (guint i = 0; i < job->uids->len; i++)
    {
      guint32 uid = g_array_index (job->uids, guint32, i);

      if (uid == 0 || (out > 0 && g_array_index (job->uids, guint32, out - 1) == uid))
        continue;
      g_array_index (job->uids, guint32, out++) = uid;
    }
  g_array_set_size (job->uids, out);
}

/* The job's UID set; never NULL when a set was given, even an empty one
 * (a NULL set means "all" to expunge). */
static const guint32 *
job_uids (StoreJob *job)
{
  static const guint32 empty[1] = { 0 };

  if (job->uids == NULL)
    return NULL;
  return job->uids->len > 0 ? (const guint32 *) (gpointer) job->uids->data : empty;
}

static guint
job_n_uids (StoreJob *job)
{
  return job->uids != NULL ? job->uids->len : 0;
}

/* Search text kept per message and part (header, body): indexing costs
 * CPU inside the store's write transaction, and a 50 MB text attachment
 * must not hold every other delivery up for seconds. */
#define STORE_SEARCH_TEXT_MAX (4 * 1024 * 1024)

static void
utf8_truncate (char *text, gsize max)
{
  if (text == NULL || strlen (text) <= max)
    return;
  /* Cut before the character that would straddle the limit. */
  text[max] = '\0';
  {
    char *last = g_utf8_find_prev_char (text, text + max);

    if (last != NULL && !g_utf8_validate (last, -1, NULL))
      *last = '\0';
  }
}

/* Parses @message once and extracts its search text (on a worker). */
static gboolean
store_prepare_message (PosthornMessage *message, GBytes **info_blob, char **body_text,
                       char **all_text, GError **error)
{
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (message, error);

  if (info == NULL)
    return FALSE;
  /* Bounded: only as much text as is kept is decoded (a 50 MB text part
   * is not converted whole to be cut afterwards). */
  if (!ph_mime_extract_search_text (message, info, STORE_SEARCH_TEXT_MAX, body_text, all_text, NULL, error))
    return FALSE;
  *info_blob = posthorn_message_info_serialize (info);
  return TRUE;
}

/* A message made ready for the vtable: parsed, its search text cut. */
typedef struct {
  PosthornStoreNewMessage msg;
  GBytes *info;
  char *body_text;
  char *all_text;
} StorePrepared;

static void
store_prepared_clear (StorePrepared *p)
{
  g_clear_pointer (&p->info, g_bytes_unref);
  g_clear_pointer (&p->body_text, g_free);
  g_clear_pointer (&p->all_text, g_free);
}

static gboolean
store_prepared_init (StorePrepared *p, PosthornMessage *message, guint32 flags,
                     const char *const *keywords, gint64 internal_date, GError **error)
{
  if (!store_prepare_message (message, &p->info, &p->body_text, &p->all_text, error))
    return FALSE;

  p->msg.message = message;
  p->msg.size = posthorn_message_get_size (message);
  p->msg.info = p->info;
  /* The mime code's "all" text is the headers, "\n", then the body text:
   * keep the headers apart so the body is indexed once. */
  if (g_str_has_suffix (p->all_text, p->body_text))
    {
      gsize header_len = strlen (p->all_text) - strlen (p->body_text);

      if (header_len > 0 && *p->body_text != '\0' && p->all_text[header_len - 1] == '\n')
        header_len--;
      p->all_text[header_len] = '\0';
    }
  utf8_truncate (p->all_text, STORE_SEARCH_TEXT_MAX);
  utf8_truncate (p->body_text, STORE_SEARCH_TEXT_MAX);
  p->msg.search_header = p->all_text;
  p->msg.search_body = p->body_text;
  p->msg.flags = flags & POSTHORN_MESSAGE_STORED_FLAGS;
  p->msg.keywords = keywords;
  p->msg.internal_date = internal_date != 0 ? internal_date : g_get_real_time () / G_USEC_PER_SEC;
  return TRUE;
}

static PosthornStoreChanges *
store_job_append (const StoreBackend *b, StoreJob *job, GError **error)
{
  StorePrepared prepared = { 0 };
  g_autofree PosthornStoreTarget *targets = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  guint n = g_strv_length (job->users);
  gboolean ok;

  if (!store_prepared_init (&prepared, job->message, job->flags,
                            (const char *const *) job->keywords, job->internal_date, error))
    {
      store_prepared_clear (&prepared);
      return NULL;
    }
  targets = g_new0 (PosthornStoreTarget, n);
  for (guint i = 0; i < n; i++)
    {
      targets[i].user = job->users[i];
      targets[i].mailbox = job->mailboxes != NULL ? job->mailboxes[i] : "INBOX";
    }
  changes = store_changes_new ();
  ok = b->vt.append (b->data, &prepared.msg, targets, n, changes, error);
  store_prepared_clear (&prepared);
  return ok ? g_steal_pointer (&changes) : NULL;
}

/* MULTIAPPEND: every message prepared first, then one vtable call. */
static PosthornStoreChanges *
store_job_append_multi (const StoreBackend *b, StoreJob *job, GError **error)
{
  guint n = job->items->len;
  g_autofree StorePrepared *prepared = g_new0 (StorePrepared, n);
  g_autofree const PosthornStoreNewMessage **msgs = g_new0 (const PosthornStoreNewMessage *, n);
  g_autoptr(PosthornStoreChanges) changes = store_changes_new ();
  PosthornStoreTarget target = { job->user, job->name };
  gboolean ok = TRUE;

  if (n > 1 && b->vt.append_multi == NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                   "%s cannot add several messages at once",
                   posthorn_plugin_get_name (b->plugin));
      return NULL;
    }
  for (guint i = 0; ok && i < n; i++)
    {
      const StoreJobItem *item = &g_array_index (job->items, StoreJobItem, i);

      ok = store_prepared_init (&prepared[i], item->message, item->flags,
                                (const char *const *) item->keywords, item->internal_date, error);
      msgs[i] = &prepared[i].msg;
    }
  if (ok)
    ok = n > 1 ? b->vt.append_multi (b->data, msgs, n, &target, changes, error)
               : b->vt.append (b->data, msgs[0], &target, 1, changes, error);
  for (guint i = 0; i < n; i++)
    store_prepared_clear (&prepared[i]);
  return ok ? g_steal_pointer (&changes) : NULL;
}

/* A blob the mime code no longer reads: parse the stored message again. */
static PosthornMessageInfo *
store_reparse (const StoreBackend *b, StoreJob *job, guint32 uid, guint64 size, GError **error)
{
  g_autofree guint8 *data = g_malloc (MAX (size, 1));
  g_autoptr(PosthornMessage) message = NULL;
  guint64 done = 0;

  while (done < size)
    {
      gssize n = b->vt.read (b->data, job->user, job->name, job->uidvalidity, uid, done,
                             data + done, size - done, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      done += (guint64) n;
    }
  message = posthorn_message_new_from_data (data, done);
  return posthorn_message_info_parse (message, error);
}

/* FETCH_SIZES: no info, so no blob is read or decoded. */
static PosthornStoreFetch *
store_job_fetch_sizes (const StoreBackend *b, StoreJob *job, GError **error)
{
  PosthornStoreFetchBuilder builder;
  g_autoptr(GPtrArray) blobs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GArray) metas = g_array_new (FALSE, TRUE, sizeof (PosthornStoreMessageMeta));
  gboolean ok;
  PosthornStoreFetch *fetch;

  g_array_set_clear_func (metas, store_fetch_meta_clear);
  builder.metas = metas;
  builder.blobs = blobs;
  if (b->vt.fetch_sizes != NULL)
    ok = b->vt.fetch_sizes (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                            job_n_uids (job), &builder, error);
  else
    ok = b->vt.fetch (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                      job_n_uids (job), &builder, error);
  if (!ok)
    return NULL;
  fetch = g_new0 (PosthornStoreFetch, 1);
  fetch->metas = g_steal_pointer (&metas);
  return fetch;
}

static PosthornStoreFetch *
store_job_fetch (const StoreBackend *b, StoreJob *job, GError **error)
{
  PosthornStoreFetchBuilder builder;
  g_autoptr(GPtrArray) blobs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GArray) metas = g_array_new (FALSE, TRUE, sizeof (PosthornStoreMessageMeta));
  PosthornStoreFetch *fetch;

  g_array_set_clear_func (metas, store_fetch_meta_clear);
  builder.metas = metas;
  builder.blobs = blobs;
  if (!b->vt.fetch (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                    job_n_uids (job), &builder, error))
    return NULL;

  for (guint i = 0; i < metas->len; i++)
    {
      PosthornStoreMessageMeta *meta = &g_array_index (metas, PosthornStoreMessageMeta, i);
      GBytes *blob = blobs->pdata[i];
      g_autoptr(GError) local = NULL;

      if (blob != NULL)
        meta->info = posthorn_message_info_deserialize (blob, &local);
      if (meta->info == NULL)
        {
          g_debug ("re-parsing message %u of %s: %s", meta->uid, job->name,
                   local != NULL ? local->message : "no stored info");
          meta->info = store_reparse (b, job, meta->uid, meta->size, error);
          if (meta->info == NULL)
            return NULL;
        }
    }
  fetch = g_new0 (PosthornStoreFetch, 1);
  fetch->metas = g_steal_pointer (&metas);
  return fetch;
}

static GBytes *
store_job_read (const StoreBackend *b, StoreJob *job, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (MAX (job->length, 1));
  gsize done = 0;

  while (done < job->length)
    {
      gssize n = b->vt.read (b->data, job->user, job->name, job->uidvalidity,
                             g_array_index (job->uids, guint32, 0), job->offset + done,
                             buffer + done, job->length - done, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      done += (gsize) n;
    }
  return g_bytes_new_take (g_realloc (g_steal_pointer (&buffer), MAX (done, 1)), done);
}

static gpointer
store_job_run (gpointer data, GCancellable *cancellable, GError **error)
{
  StoreJob *job = data;
  const StoreBackend *b;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  gpointer result = NULL;
  gboolean ok = FALSE;

  if (job->invalid != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&job->invalid));
      return NULL;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  b = store_backend_acquire (error);
  if (b == NULL)
    return NULL;

  changes = store_changes_new ();
  switch (job->op)
    {
    case STORE_OP_OPEN_USER:
      ok = b->vt.open_user (b->data, job->user, changes, error);
      if (ok)
        result = store_user_new (job->user, job->origin);
      break;
    case STORE_OP_LIST:
      {
        PosthornStoreMailboxes raw;

        raw.names = g_ptr_array_new_with_free_func (g_free);
        raw.special_uses = g_array_new (FALSE, FALSE, sizeof (guint));
        raw.subscriptions = g_ptr_array_new_with_free_func (g_free);
        ok = b->vt.list (b->data, job->user, &raw, error);
        if (ok)
          result = store_mailbox_list_build (&raw);
        g_ptr_array_unref (raw.names);
        g_array_unref (raw.special_uses);
        g_ptr_array_unref (raw.subscriptions);
      }
      break;
    case STORE_OP_CREATE:
      ok = b->vt.create (b->data, job->user, job->name, job->special_use, changes, error);
      break;
    case STORE_OP_DELETE:
      if (strcmp (job->name, "INBOX") == 0)
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                             "INBOX cannot be deleted");
      else
        ok = b->vt.delete_mailbox (b->data, job->user, job->name, changes, error);
      break;
    case STORE_OP_RENAME:
      if (g_str_has_prefix (job->dest, job->name) && job->dest[strlen (job->name)] == '/')
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                             "cannot rename a mailbox below itself");
      else if (strcmp (job->dest, "INBOX") == 0)
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS,
                             "INBOX already exists");
      else
        ok = b->vt.rename (b->data, job->user, job->name, job->dest, changes, error);
      break;
    case STORE_OP_SUBSCRIBE:
      ok = b->vt.subscribe (b->data, job->user, job->name, job->boolean, changes, error);
      break;
    case STORE_OP_STATUS:
      {
        PosthornMailboxStatus *status = g_new0 (PosthornMailboxStatus, 1);

        ok = b->vt.status (b->data, job->user, job->name, status, error);
        if (ok)
          result = status;
        else
          g_free (status);
      }
      break;
    case STORE_OP_APPEND:
      g_clear_pointer (&changes, posthorn_store_changes_unref);
      changes = store_job_append (b, job, error);
      ok = changes != NULL;
      break;
    case STORE_OP_APPEND_MULTI:
      g_clear_pointer (&changes, posthorn_store_changes_unref);
      changes = store_job_append_multi (b, job, error);
      ok = changes != NULL;
      break;
    case STORE_OP_STORE_FLAGS:
      ok = b->vt.store_flags (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                              job_n_uids (job), job->mode,
                              job->flags & POSTHORN_MESSAGE_STORED_FLAGS,
                              (const char *const *) job->keywords, job->modseq, changes, error);
      break;
    case STORE_OP_COPY:
      ok = b->vt.copy (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                       job_n_uids (job), job->dest, job->boolean, changes, error);
      break;
    case STORE_OP_EXPUNGE:
      ok = b->vt.expunge (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                          job_n_uids (job), changes, error);
      break;
    case STORE_OP_FETCH:
      result = store_job_fetch (b, job, error);
      ok = result != NULL;
      break;
    case STORE_OP_FETCH_SIZES:
      result = store_job_fetch_sizes (b, job, error);
      ok = result != NULL;
      break;
    case STORE_OP_READ:
      result = store_job_read (b, job, error);
      ok = result != NULL;
      break;
    case STORE_OP_SEARCH:
      {
        GArray *uids = g_array_new (FALSE, FALSE, sizeof (guint32));

        ok = b->vt.search_text (b->data, job->user, job->name, job->uidvalidity, job->field,
                                job->needle, uids, error);
        if (ok)
          {
            g_array_sort (uids, uid_compare);
            result = uids;
          }
        else
          g_array_unref (uids);
      }
      break;
    case STORE_OP_VANISHED:
      {
        g_autoptr(PosthornStoreSync) sync = store_sync_new ();

        ok = b->vt.sync (b->data, job->user, job->name, job->uidvalidity, job->modseq,
                         POSTHORN_STORE_SYNC_EXPUNGED_ONLY, sync, error);
        if (ok)
          {
            g_array_sort (sync->expunged_uids, uid_compare);
            result = g_array_ref (sync->expunged_uids);
          }
      }
      break;
    }
  store_backend_release ();

  if (!ok)
    return NULL;
  store_changes_publish (changes, job->origin);
  switch (job->op)
    {
    case STORE_OP_CREATE:
    case STORE_OP_DELETE:
    case STORE_OP_RENAME:
    case STORE_OP_SUBSCRIBE:
    case STORE_OP_APPEND:
    case STORE_OP_APPEND_MULTI:
    case STORE_OP_STORE_FLAGS:
    case STORE_OP_COPY:
    case STORE_OP_EXPUNGE:
      return g_steal_pointer (&changes);
    default:
      return result;
    }
}

/* Operations that take the store's write lock (and usually wait for a
 * commit to reach the disk) run on the write pool: under load they queue
 * behind each other, and must not hold every general worker while FETCH,
 * SELECT and SEARCH, which never wait for the writer, queue behind them.
 * OPEN_USER writes only the first time a user logs in. */
static gboolean
store_op_writes (StoreOp op)
{
  switch (op)
    {
    case STORE_OP_CREATE:
    case STORE_OP_DELETE:
    case STORE_OP_RENAME:
    case STORE_OP_SUBSCRIBE:
    case STORE_OP_APPEND:
    case STORE_OP_APPEND_MULTI:
    case STORE_OP_STORE_FLAGS:
    case STORE_OP_COPY:
    case STORE_OP_EXPUNGE:
      return TRUE;
    case STORE_OP_OPEN_USER:
    case STORE_OP_LIST:
    case STORE_OP_STATUS:
    case STORE_OP_FETCH:
    case STORE_OP_FETCH_SIZES:
    case STORE_OP_READ:
    case STORE_OP_SEARCH:
    case STORE_OP_VANISHED:
      return FALSE;
    }
  return FALSE;
}

void
store_job_start (StoreJob *job, GDestroyNotify result_free, GCancellable *cancellable,
                 GAsyncReadyCallback callback, gpointer user_data)
{
  if (store_op_writes (job->op))
    ph_worker_run_write (store_job_run, job, store_job_free, result_free, cancellable,
                         callback, user_data);
  else
    posthorn_worker_run (store_job_run, job, store_job_free, result_free, cancellable,
                         callback, user_data);
}

