/* The asynchronous operations protocol plugins call:
 * posthorn_store_*_async() builds a job, posthorn_store_*_finish() takes
 * its result.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#include <string.h>

/* ---- the asynchronous operations ---- */

void
posthorn_store_user_open_async (const char *user, gconstpointer origin,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_OPEN_USER, NULL);

  job->user = g_strdup (user);
  job->origin = origin;
  if (user == NULL || *user == '\0' || !g_utf8_validate (user, -1, NULL))
    job->invalid = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID, "bad user name");
  store_job_start (job, (GDestroyNotify) posthorn_store_user_unref, cancellable, callback,
                   user_data);
}

PosthornStoreUser *
posthorn_store_user_open_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_list_async (PosthornStoreUser *user, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  store_job_start (store_job_new (STORE_OP_LIST, user), (GDestroyNotify) posthorn_mailbox_list_free,
                   cancellable, callback, user_data);
}

PosthornMailboxList *
posthorn_store_list_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_create_async (PosthornStoreUser *user, const char *name,
                             PosthornSpecialUse special_use, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_CREATE, user);

  store_job_set_name (job, &job->name, name);
  job->special_use = special_use;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_delete_async (PosthornStoreUser *user, const char *name,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_DELETE, user);

  store_job_set_name (job, &job->name, name);
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_rename_async (PosthornStoreUser *user, const char *old_name,
                             const char *new_name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_RENAME, user);

  store_job_set_name (job, &job->name, old_name);
  store_job_set_name (job, &job->dest, new_name);
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_subscribe_async (PosthornStoreUser *user, const char *name, gboolean subscribe,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_SUBSCRIBE, user);

  store_job_set_name (job, &job->name, name);
  job->boolean = subscribe;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

gboolean
posthorn_store_mailbox_op_finish (GAsyncResult *result, GError **error)
{
  PosthornStoreChanges *changes = posthorn_worker_finish (result, error);

  if (changes == NULL)
    return FALSE;
  posthorn_store_changes_unref (changes);
  return TRUE;
}

void
posthorn_store_status_async (PosthornStoreUser *user, const char *name,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_STATUS, user);

  store_job_set_name (job, &job->name, name);
  store_job_start (job, g_free, cancellable, callback, user_data);
}

gboolean
posthorn_store_status_finish (GAsyncResult *result, PosthornMailboxStatus *out_status,
                              GError **error)
{
  g_autofree PosthornMailboxStatus *status = posthorn_worker_finish (result, error);

  if (status == NULL)
    return FALSE;
  *out_status = *status;
  return TRUE;
}

/* Copies @keywords into the job, checking each is an IMAP atom that is
 * not a system flag. */
static void
store_job_set_keywords (StoreJob *job, const char *const *keywords)
{
  job->keywords = keywords != NULL ? g_strdupv ((char **) keywords) : NULL;
  for (guint i = 0; job->keywords != NULL && job->keywords[i] != NULL; i++)
    {
      const char *k = job->keywords[i];
      gboolean bad = *k == '\0' || *k == '\\' || strlen (k) > 255;

      for (const char *p = k; !bad && *p != '\0'; p++)
        bad = (guchar) *p <= 0x20 || (guchar) *p >= 0x7f || strchr ("(){%*\"\\]", *p) != NULL;
      if (bad && job->invalid == NULL)
        job->invalid = g_error_new (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                    "bad keyword '%s'", k);
    }
}

void
posthorn_store_append_async (PosthornStoreUser *user, const char *mailbox,
                             PosthornMessage *message, guint32 flags,
                             const char *const *keywords, gint64 internal_date,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_APPEND, user);
  g_autofree char *name = NULL;

  store_job_set_name (job, &name, mailbox);
  job->users = g_new0 (char *, 2);
  job->users[0] = g_strdup (user->name);
  job->mailboxes = g_new0 (char *, 2);
  job->mailboxes[0] = g_steal_pointer (&name);
  job->message = posthorn_message_ref (message);
  job->flags = flags;
  store_job_set_keywords (job, keywords);
  job->internal_date = internal_date;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

static void
store_job_item_clear (gpointer p)
{
  StoreJobItem *item = p;

  g_clear_pointer (&item->message, posthorn_message_unref);
  g_strfreev (item->keywords);
}

void
posthorn_store_append_multi_async (PosthornStoreUser *user, const char *mailbox,
                                   const PosthornStoreAppendItem *items, guint n_items,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_APPEND_MULTI, user);

  store_job_set_name (job, &job->name, mailbox);
  job->items = g_array_sized_new (FALSE, TRUE, sizeof (StoreJobItem), n_items);
  g_array_set_clear_func (job->items, store_job_item_clear);
  if (n_items == 0 && job->invalid == NULL)
    job->invalid = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                        "append without messages");
  for (guint i = 0; i < n_items; i++)
    {
      StoreJobItem item = { 0 };

      /* Checks the keywords (the first bad one is kept in job->invalid). */
      store_job_set_keywords (job, items[i].keywords);
      item.keywords = g_steal_pointer (&job->keywords);
      item.message = posthorn_message_ref (items[i].message);
      item.flags = items[i].flags;
      item.internal_date = items[i].internal_date;
      g_array_append_val (job->items, item);
    }
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_deliver_async (const char *const *users, const char *const *mailboxes,
                              PosthornMessage *message, gint64 internal_date,
                              gconstpointer origin, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_APPEND, NULL);
  guint n = users != NULL ? g_strv_length ((char **) users) : 0;

  job->origin = origin;
  job->users = g_strdupv ((char **) users);
  if (n == 0)
    job->invalid = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                        "delivery without recipients");
  if (mailboxes != NULL)
    {
      job->mailboxes = g_new0 (char *, n + 1);
      for (guint i = 0; i < n; i++)
        store_job_set_name (job, &job->mailboxes[i], mailboxes[i]);
    }
  job->message = posthorn_message_ref (message);
  job->internal_date = internal_date;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

PosthornStoreChanges *
posthorn_store_changes_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_store_flags_async (PosthornStoreUser *user, const char *mailbox,
                                  guint32 uidvalidity, const guint32 *uids, guint n_uids,
                                  PosthornFlagsMode mode, guint32 flags,
                                  const char *const *keywords, guint64 unchangedsince,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_STORE_FLAGS, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  store_job_set_uids (job, uids, n_uids);
  job->mode = mode;
  job->flags = flags;
  store_job_set_keywords (job, keywords);
  job->modseq = unchangedsince;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_copy_async (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                           const guint32 *uids, guint n_uids, const char *dest, gboolean move,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_COPY, user);

  store_job_set_name (job, &job->name, mailbox);
  store_job_set_name (job, &job->dest, dest);
  job->uidvalidity = uidvalidity;
  store_job_set_uids (job, uids, n_uids);
  job->boolean = move;
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_expunge_async (PosthornStoreUser *user, const char *mailbox,
                              guint32 uidvalidity, const guint32 *uids, guint n_uids,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_EXPUNGE, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  if (uids != NULL)
    store_job_set_uids (job, uids, n_uids);
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_fetch_async (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                            const guint32 *uids, guint n_uids, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_FETCH, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  store_job_set_uids (job, uids, n_uids);
  store_job_start (job, (GDestroyNotify) posthorn_store_fetch_free, cancellable, callback,
                   user_data);
}

void
posthorn_store_fetch_sizes_async (PosthornStoreUser *user, const char *mailbox,
                                  guint32 uidvalidity, const guint32 *uids, guint n_uids,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_FETCH_SIZES, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  store_job_set_uids (job, uids, n_uids);
  store_job_start (job, (GDestroyNotify) posthorn_store_fetch_free, cancellable, callback,
                   user_data);
}

PosthornStoreFetch *
posthorn_store_fetch_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_read_async (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                           guint32 uid, guint64 offset, gsize length,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_READ, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  store_job_set_uids (job, &uid, 1);
  job->offset = offset;
  job->length = length;
  if (uid == 0 && job->invalid == NULL)
    job->invalid = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID, "UID 0");
  store_job_start (job, (GDestroyNotify) g_bytes_unref, cancellable, callback, user_data);
}

GBytes *
posthorn_store_read_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_search_text_async (PosthornStoreUser *user, const char *mailbox,
                                  guint32 uidvalidity, PosthornSearchField field,
                                  const char *needle, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_SEARCH, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  job->field = field;
  job->needle = g_strdup (needle != NULL ? needle : "");
  if (!g_utf8_validate (job->needle, -1, NULL) && job->invalid == NULL)
    job->invalid = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                        "search text is not UTF-8");
  store_job_start (job, (GDestroyNotify) g_array_unref, cancellable, callback, user_data);
}

GArray *
posthorn_store_search_text_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}

void
posthorn_store_vanished_async (PosthornStoreUser *user, const char *mailbox,
                               guint32 uidvalidity, guint64 modseq, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (STORE_OP_VANISHED, user);

  store_job_set_name (job, &job->name, mailbox);
  job->uidvalidity = uidvalidity;
  job->modseq = MAX (modseq, 1);
  store_job_start (job, (GDestroyNotify) g_array_unref, cancellable, callback, user_data);
}

GArray *
posthorn_store_vanished_finish (GAsyncResult *result, GError **error)
{
  return posthorn_worker_finish (result, error);
}
