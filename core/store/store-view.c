/* Mailbox views: what SELECT opens. A compact snapshot in parallel arrays
 * (UID 4 + MODSEQ 8 + flags 2 + keyword set 4 = 18 bytes a message); a
 * message's keywords are an index into the view's table of distinct
 * keyword sets, since a mailbox has few distinct combinations.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#include <string.h>

struct _PosthornMailboxView {
  gint ref_count;
  PosthornStoreUser *user;
  char *name;
  gboolean read_only;
  gboolean syncing;
  gboolean sync_no_expunge;   /* the flag of the sync in flight */
  guint32 uidvalidity;
  guint32 uidnext;
  guint64 highestmodseq;

  guint n;
  guint capacity;
  guint32 *uids;
  guint64 *modseqs;
  guint16 *flags;
  guint32 *kwsets;          /* index into kwset_list; 0 = no keywords */

  GPtrArray *keywords;      /* char*, NULL-terminated */
  GPtrArray *kwset_list;    /* GBytes of guint32 keyword indexes */
  GHashTable *kwset_index;  /* GBytes -> index + 1 */
  GArray *pending_expunged; /* guint32 UIDs expunged but kept (NO_EXPUNGE) */
};

struct _PosthornViewChanges {
  GArray *expunged_seqs;    /* guint, descending */
  GArray *expunged_uids;    /* guint32, ascending */
  GArray *changed_uids;     /* guint32, ascending */
  guint new_count;
  gboolean keywords_changed;
};

/* ---- building ---- */

static void
view_reserve (PosthornMailboxView *view, guint capacity)
{
  if (capacity <= view->capacity)
    return;
  view->uids = g_renew (guint32, view->uids, capacity);
  view->modseqs = g_renew (guint64, view->modseqs, capacity);
  view->flags = g_renew (guint16, view->flags, capacity);
  view->kwsets = g_renew (guint32, view->kwsets, capacity);
  view->capacity = capacity;
}

static guint32
view_intern_kwset (PosthornMailboxView *view, const guint32 *keywords, guint n)
{
  g_autoptr(GBytes) key = NULL;
  gpointer found;

  if (n == 0)
    return 0;
  key = g_bytes_new (keywords, n * sizeof (guint32));
  found = g_hash_table_lookup (view->kwset_index, key);
  if (found != NULL)
    return GPOINTER_TO_UINT (found) - 1;
  g_ptr_array_add (view->kwset_list, g_bytes_ref (key));
  g_hash_table_insert (view->kwset_index, g_bytes_ref (key),
                       GUINT_TO_POINTER (view->kwset_list->len));
  return view->kwset_list->len - 1;
}

static void
view_set_keywords (PosthornMailboxView *view, GPtrArray *keywords)
{
  g_ptr_array_set_size (view->keywords, 0);
  for (guint i = 0; i < keywords->len; i++)
    g_ptr_array_add (view->keywords, g_strdup (keywords->pdata[i]));
  g_ptr_array_add (view->keywords, NULL);
}

static guint
view_keyword_count (PosthornMailboxView *view)
{
  return view->keywords->len - 1;
}

static void
view_set_record (PosthornMailboxView *view, guint index, PosthornStoreSync *sync, guint r,
                 gboolean recent)
{
  guint32 start = g_array_index (sync->kw_offsets, guint32, r);
  guint32 end = r + 1 < sync->kw_offsets->len ? g_array_index (sync->kw_offsets, guint32, r + 1)
                                              : sync->kw_pool->len;

  view->uids[index] = g_array_index (sync->uids, guint32, r);
  view->modseqs[index] = g_array_index (sync->modseqs, guint64, r);
  view->flags[index] = (guint16) (g_array_index (sync->flags, guint32, r) |
                                  (recent ? POSTHORN_MESSAGE_RECENT : 0));
  view->kwsets[index] = view_intern_kwset (view, &g_array_index (sync->kw_pool, guint32, start),
                                           end - start);
}

static gboolean
sync_is_recent (PosthornStoreSync *sync, guint32 uid)
{
  return uid >= sync->recent_first && uid < sync->recent_last;
}

static PosthornMailboxView *
view_new (PosthornStoreUser *user, const char *name, gboolean read_only, PosthornStoreSync *sync)
{
  PosthornMailboxView *view = g_new0 (PosthornMailboxView, 1);
  guint n = sync->uids->len;

  view->ref_count = 1;
  view->user = posthorn_store_user_ref (user);
  view->name = g_strdup (name);
  view->read_only = read_only;
  view->uidvalidity = sync->uidvalidity;
  view->uidnext = sync->uidnext;
  view->highestmodseq = sync->highestmodseq;
  view->keywords = g_ptr_array_new_with_free_func (g_free);
  view_set_keywords (view, sync->keywords);
  view->kwset_list = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (view->kwset_list, g_bytes_new (NULL, 0));
  view->kwset_index = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                             (GDestroyNotify) g_bytes_unref, NULL);
  view->pending_expunged = g_array_new (FALSE, FALSE, sizeof (guint32));

  view_reserve (view, MAX (n, 1));
  for (guint r = 0; r < n; r++)
    view_set_record (view, r, sync, r, sync_is_recent (sync, g_array_index (sync->uids, guint32, r)));
  view->n = n;
  return view;
}

PosthornMailboxView *
posthorn_mailbox_view_ref (PosthornMailboxView *view)
{
  g_atomic_int_inc (&view->ref_count);
  return view;
}

void
posthorn_mailbox_view_unref (PosthornMailboxView *view)
{
  if (view == NULL || !g_atomic_int_dec_and_test (&view->ref_count))
    return;
  posthorn_store_user_unref (view->user);
  g_free (view->name);
  g_free (view->uids);
  g_free (view->modseqs);
  g_free (view->flags);
  g_free (view->kwsets);
  g_ptr_array_unref (view->keywords);
  g_ptr_array_unref (view->kwset_list);
  g_hash_table_unref (view->kwset_index);
  g_array_unref (view->pending_expunged);
  g_free (view);
}

/* ---- opening ---- */

typedef struct {
  PosthornStoreUser *user;
  PosthornMailboxView *view;    /* resync only */
  char *name;
  GError *invalid;
  gboolean read_only;
  guint32 uidvalidity;
  guint64 since_modseq;
} ViewJob;

static void
view_job_free (gpointer p)
{
  ViewJob *job = p;

  posthorn_store_user_unref (job->user);
  g_clear_pointer (&job->view, posthorn_mailbox_view_unref);
  g_free (job->name);
  g_clear_error (&job->invalid);
  g_free (job);
}

static gpointer
view_open_run (gpointer data, GCancellable *cancellable, GError **error)
{
  ViewJob *job = data;
  g_autoptr(PosthornStoreSync) sync = NULL;

  if (job->invalid != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&job->invalid));
      return NULL;
    }
  sync = store_run_sync (job->user->name, job->name, 0, 0,
                         job->read_only ? POSTHORN_STORE_SYNC_DEFAULT
                                        : POSTHORN_STORE_SYNC_CLAIM_RECENT,
                         cancellable, error);
  if (sync == NULL)
    return NULL;
  return view_new (job->user, job->name, job->read_only, sync);
}

void
posthorn_mailbox_view_open_async (PosthornStoreUser *user, const char *mailbox,
                                  PosthornViewFlags flags, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  ViewJob *job = g_new0 (ViewJob, 1);

  job->user = posthorn_store_user_ref (user);
  job->name = posthorn_store_normalize_mailbox_name (mailbox, &job->invalid);
  job->read_only = (flags & POSTHORN_VIEW_READ_ONLY) != 0;
  posthorn_worker_run (view_open_run, job, view_job_free,
                       (GDestroyNotify) posthorn_mailbox_view_unref, cancellable, callback,
                       user_data);
}

PosthornMailboxView *
posthorn_mailbox_view_open_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

/* ---- resync ---- */

static gpointer
view_sync_run (gpointer data, GCancellable *cancellable, GError **error)
{
  ViewJob *job = data;

  return store_run_sync (job->user->name, job->name, job->uidvalidity, job->since_modseq,
                         job->read_only ? POSTHORN_STORE_SYNC_DEFAULT
                                        : POSTHORN_STORE_SYNC_CLAIM_RECENT,
                         cancellable, error);
}

void
posthorn_mailbox_view_sync_async (PosthornMailboxView *view, PosthornViewSyncFlags flags,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  ViewJob *job = g_new0 (ViewJob, 1);

  g_warn_if_fail (!view->syncing);
  view->syncing = TRUE;
  view->sync_no_expunge = (flags & POSTHORN_VIEW_SYNC_NO_EXPUNGE) != 0;
  job->user = posthorn_store_user_ref (view->user);
  job->view = posthorn_mailbox_view_ref (view);
  job->name = g_strdup (view->name);
  job->read_only = view->read_only;
  job->uidvalidity = view->uidvalidity;
  job->since_modseq = view->highestmodseq;
  posthorn_worker_run (view_sync_run, job, view_job_free, (GDestroyNotify) store_sync_free,
                       cancellable, callback, user_data);
}

static void
uid_array_insert_sorted (GArray *array, guint32 uid)
{
  guint i = array->len;

  while (i > 0 && g_array_index (array, guint32, i - 1) > uid)
    i--;
  if (i > 0 && g_array_index (array, guint32, i - 1) == uid)
    return;
  g_array_insert_val (array, i, uid);
}

/* Removes the messages whose UIDs are in @expunged (ascending) from the
 * view, noting their old sequence numbers. */
static void
view_remove (PosthornMailboxView *view, GArray *expunged, PosthornViewChanges *changes)
{
  guint out = 0;
  guint e = 0;

  for (guint i = 0; i < view->n; i++)
    {
      guint32 uid = view->uids[i];

      while (e < expunged->len && g_array_index (expunged, guint32, e) < uid)
        e++;
      if (e < expunged->len && g_array_index (expunged, guint32, e) == uid)
        {
          guint seq = i + 1;

          g_array_prepend_val (changes->expunged_seqs, seq);
          g_array_append_val (changes->expunged_uids, uid);
          continue;
        }
      if (out != i)
        {
          view->uids[out] = view->uids[i];
          view->modseqs[out] = view->modseqs[i];
          view->flags[out] = view->flags[i];
          view->kwsets[out] = view->kwsets[i];
        }
      out++;
    }
  view->n = out;
}

PosthornViewChanges *
posthorn_mailbox_view_sync_finish (PosthornMailboxView *view, GAsyncResult *result,
                                   GError **error)
{
  g_autoptr(PosthornStoreSync) sync = posthorn_worker_finish (result, error);
  g_autoptr(PosthornViewChanges) changes = NULL;
  g_autoptr(GArray) expunged = NULL;

  view->syncing = FALSE;
  if (sync == NULL)
    return NULL;
  if (sync->uidvalidity != view->uidvalidity)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                   "mailbox %s was re-created", view->name);
      return NULL;
    }

  changes = g_new0 (PosthornViewChanges, 1);
  changes->expunged_seqs = g_array_new (FALSE, FALSE, sizeof (guint));
  changes->expunged_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  changes->changed_uids = g_array_new (FALSE, FALSE, sizeof (guint32));

  if (sync->keywords->len > view_keyword_count (view))
    {
      view_set_keywords (view, sync->keywords);
      changes->keywords_changed = TRUE;
    }

  /* Expunges: the tombstones plus those held back by an earlier
   * NO_EXPUNGE sync. */
  expunged = g_array_copy (view->pending_expunged);
  for (guint i = 0; i < sync->expunged_uids->len; i++)
    {
      guint32 uid = g_array_index (sync->expunged_uids, guint32, i);

      if (posthorn_mailbox_view_lookup_uid (view, uid) > 0)
        uid_array_insert_sorted (expunged, uid);
    }

  /* Records: changed messages and new ones (ascending UIDs). */
  for (guint r = 0; r < sync->uids->len; r++)
    {
      guint32 uid = g_array_index (sync->uids, guint32, r);
      guint seq = posthorn_mailbox_view_lookup_uid (view, uid);

      if (seq > 0)
        {
          gboolean recent = (view->flags[seq - 1] & POSTHORN_MESSAGE_RECENT) != 0;

          view_set_record (view, seq - 1, sync, r, recent);
          g_array_append_val (changes->changed_uids, uid);
        }
      else if (view->n == 0 || uid > view->uids[view->n - 1])
        {
          if (view->n == view->capacity)
            view_reserve (view, view->capacity + view->capacity / 2 + 16);
          view_set_record (view, view->n, sync, r, sync_is_recent (sync, uid));
          view->n++;
          changes->new_count++;
        }
      else
        g_debug ("%s: ignoring record of UID %u below the view's last", view->name, uid);
    }

  if (view->sync_no_expunge)
    {
      g_array_set_size (view->pending_expunged, 0);
      g_array_append_vals (view->pending_expunged, expunged->data, expunged->len);
    }
  else
    {
      view_remove (view, expunged, changes);
      g_array_set_size (view->pending_expunged, 0);
      /* A changed UID that is gone is not reported as changed. */
      for (guint i = 0; i < changes->changed_uids->len;)
        {
          guint32 uid = g_array_index (changes->changed_uids, guint32, i);

          if (posthorn_mailbox_view_lookup_uid (view, uid) == 0)
            g_array_remove_index (changes->changed_uids, i);
          else
            i++;
        }
    }

  view->uidnext = MAX (view->uidnext, sync->uidnext);
  view->highestmodseq = MAX (view->highestmodseq, sync->highestmodseq);
  return g_steal_pointer (&changes);
}

/* ---- getters ---- */

PosthornStoreUser *
posthorn_mailbox_view_get_user (PosthornMailboxView *view)
{
  return view->user;
}

const char *
posthorn_mailbox_view_get_name (PosthornMailboxView *view)
{
  return view->name;
}

gboolean
posthorn_mailbox_view_is_read_only (PosthornMailboxView *view)
{
  return view->read_only;
}

guint32
posthorn_mailbox_view_get_uidvalidity (PosthornMailboxView *view)
{
  return view->uidvalidity;
}

guint32
posthorn_mailbox_view_get_uidnext (PosthornMailboxView *view)
{
  return view->uidnext;
}

guint64
posthorn_mailbox_view_get_highestmodseq (PosthornMailboxView *view)
{
  return view->highestmodseq;
}

guint
posthorn_mailbox_view_get_count (PosthornMailboxView *view)
{
  return view->n;
}

guint
posthorn_mailbox_view_get_recent_count (PosthornMailboxView *view)
{
  guint count = 0;

  for (guint i = 0; i < view->n; i++)
    if (view->flags[i] & POSTHORN_MESSAGE_RECENT)
      count++;
  return count;
}

guint
posthorn_mailbox_view_get_first_unseen (PosthornMailboxView *view)
{
  for (guint i = 0; i < view->n; i++)
    if (!(view->flags[i] & POSTHORN_MESSAGE_SEEN))
      return i + 1;
  return 0;
}

guint32
posthorn_mailbox_view_get_uid (PosthornMailboxView *view, guint seq)
{
  return seq >= 1 && seq <= view->n ? view->uids[seq - 1] : 0;
}

guint32
posthorn_mailbox_view_get_flags (PosthornMailboxView *view, guint seq)
{
  return seq >= 1 && seq <= view->n ? view->flags[seq - 1] : 0;
}

guint64
posthorn_mailbox_view_get_modseq (PosthornMailboxView *view, guint seq)
{
  return seq >= 1 && seq <= view->n ? view->modseqs[seq - 1] : 0;
}

const guint32 *
posthorn_mailbox_view_get_message_keywords (PosthornMailboxView *view, guint seq,
                                            guint *n_keywords)
{
  gsize size = 0;
  const guint32 *data;

  *n_keywords = 0;
  if (seq < 1 || seq > view->n)
    return NULL;
  data = g_bytes_get_data (view->kwset_list->pdata[view->kwsets[seq - 1]], &size);
  *n_keywords = size / sizeof (guint32);
  return data;
}

const char *const *
posthorn_mailbox_view_get_keywords (PosthornMailboxView *view)
{
  return (const char *const *) view->keywords->pdata;
}

guint
posthorn_mailbox_view_lookup_uid (PosthornMailboxView *view, guint32 uid)
{
  guint lo = 0, hi = view->n;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (view->uids[mid] < uid)
        lo = mid + 1;
      else if (view->uids[mid] > uid)
        hi = mid;
      else
        return mid + 1;
    }
  return 0;
}

gsize
posthorn_mailbox_view_get_memory_size (PosthornMailboxView *view)
{
  gsize size = sizeof (*view);

  size += (gsize) view->capacity * (sizeof (guint32) + sizeof (guint64) + sizeof (guint16) +
                                    sizeof (guint32));
  for (guint i = 0; i < view->kwset_list->len; i++)
    size += g_bytes_get_size (view->kwset_list->pdata[i]) + 64;
  for (guint i = 0; i + 1 < view->keywords->len; i++)
    size += strlen (view->keywords->pdata[i]) + 1 + sizeof (gpointer);
  size += view->pending_expunged->len * sizeof (guint32);
  return size;
}

/* ---- changes ---- */

const guint *
posthorn_view_changes_get_expunged_seqs (const PosthornViewChanges *changes, guint *n)
{
  *n = changes->expunged_seqs->len;
  return (const guint *) (gpointer) changes->expunged_seqs->data;
}

const guint32 *
posthorn_view_changes_get_expunged_uids (const PosthornViewChanges *changes, guint *n)
{
  *n = changes->expunged_uids->len;
  return (const guint32 *) (gpointer) changes->expunged_uids->data;
}

guint
posthorn_view_changes_get_new_count (const PosthornViewChanges *changes)
{
  return changes->new_count;
}

const guint32 *
posthorn_view_changes_get_changed_uids (const PosthornViewChanges *changes, guint *n)
{
  *n = changes->changed_uids->len;
  return (const guint32 *) (gpointer) changes->changed_uids->data;
}

gboolean
posthorn_view_changes_get_keywords_changed (const PosthornViewChanges *changes)
{
  return changes->keywords_changed;
}

gboolean
posthorn_view_changes_is_empty (const PosthornViewChanges *changes)
{
  return changes->expunged_seqs->len == 0 && changes->new_count == 0 &&
         changes->changed_uids->len == 0 && !changes->keywords_changed;
}

void
posthorn_view_changes_free (PosthornViewChanges *changes)
{
  if (changes == NULL)
    return;
  g_array_unref (changes->expunged_seqs);
  g_array_unref (changes->expunged_uids);
  g_array_unref (changes->changed_uids);
  g_free (changes);
}
