/* The result and builder types shared between the store and
 * its plugin: changes (and their publication on the event bus), the sync
 * builder, the mailbox list and fetch results.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#include <string.h>

/* ---- changes ---- */

struct _PosthornStoreChanges {
  gint ref_count;
  GArray *items;        /* PosthornStoreChange */
  GArray *modified;     /* guint32 */
  GStringChunk *strings;
};

PosthornStoreChanges *
store_changes_new (void)
{
  PosthornStoreChanges *changes = g_new0 (PosthornStoreChanges, 1);

  changes->ref_count = 1;
  changes->items = g_array_new (FALSE, TRUE, sizeof (PosthornStoreChange));
  changes->modified = g_array_new (FALSE, FALSE, sizeof (guint32));
  changes->strings = g_string_chunk_new (256);
  return changes;
}

PosthornStoreChanges *
posthorn_store_changes_ref (PosthornStoreChanges *changes)
{
  g_atomic_int_inc (&changes->ref_count);
  return changes;
}

void
posthorn_store_changes_unref (PosthornStoreChanges *changes)
{
  if (changes == NULL || !g_atomic_int_dec_and_test (&changes->ref_count))
    return;
  g_array_unref (changes->items);
  g_array_unref (changes->modified);
  g_string_chunk_free (changes->strings);
  g_free (changes);
}

guint
posthorn_store_changes_get_count (const PosthornStoreChanges *changes)
{
  return changes->items->len;
}

const PosthornStoreChange *
posthorn_store_changes_get (const PosthornStoreChanges *changes, guint index)
{
  g_return_val_if_fail (index < changes->items->len, NULL);
  return &g_array_index (changes->items, PosthornStoreChange, index);
}

const guint32 *
posthorn_store_changes_get_modified (const PosthornStoreChanges *changes, guint *n_uids)
{
  *n_uids = changes->modified->len;
  return (const guint32 *) (gpointer) changes->modified->data;
}

static const char *
changes_intern (PosthornStoreChanges *changes, const char *s)
{
  return s != NULL ? g_string_chunk_insert_const (changes->strings, s) : NULL;
}

void
posthorn_store_changes_add_message (PosthornStoreChanges *changes, PosthornEventKind kind,
                                    const char *user, const char *mailbox,
                                    guint32 uidvalidity, guint32 uid, guint64 modseq,
                                    guint32 flags, guint32 src_uid)
{
  PosthornStoreChange c = { 0 };

  c.kind = kind;
  c.user = changes_intern (changes, user);
  c.mailbox = changes_intern (changes, mailbox);
  c.uidvalidity = uidvalidity;
  c.uid = uid;
  c.modseq = modseq;
  c.flags = flags;
  c.src_uid = src_uid;
  g_array_append_val (changes->items, c);
}

void
posthorn_store_changes_add_mailbox (PosthornStoreChanges *changes, PosthornEventKind kind,
                                    const char *user, const char *mailbox,
                                    const char *old_mailbox)
{
  PosthornStoreChange c = { 0 };

  c.kind = kind;
  c.user = changes_intern (changes, user);
  c.mailbox = changes_intern (changes, mailbox);
  c.old_mailbox = changes_intern (changes, old_mailbox);
  g_array_append_val (changes->items, c);
}

void
posthorn_store_changes_add_modified (PosthornStoreChanges *changes, guint32 uid)
{
  g_array_append_val (changes->modified, uid);
}

void
store_changes_publish (PosthornStoreChanges *changes, gconstpointer origin)
{
  for (guint i = 0; i < changes->items->len; i++)
    {
      const PosthornStoreChange *c = &g_array_index (changes->items, PosthornStoreChange, i);
      PosthornEvent *event = posthorn_event_new (c->kind, c->user, c->mailbox);

      if (c->uid != 0)
        posthorn_event_set_uid (event, c->uid);
      if (c->modseq != 0)
        posthorn_event_set_modseq (event, c->modseq);
      if (c->old_mailbox != NULL)
        posthorn_event_set_old_mailbox (event, c->old_mailbox);
      posthorn_event_set_origin (event, origin);
      posthorn_event_publish (event);
    }
}

/* ---- the sync builder ---- */

PosthornStoreSync *
store_sync_new (void)
{
  PosthornStoreSync *sync = g_new0 (PosthornStoreSync, 1);

  sync->keywords = g_ptr_array_new_with_free_func (g_free);
  sync->uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  sync->flags = g_array_new (FALSE, FALSE, sizeof (guint32));
  sync->modseqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  sync->kw_offsets = g_array_new (FALSE, FALSE, sizeof (guint32));
  sync->kw_pool = g_array_new (FALSE, FALSE, sizeof (guint32));
  sync->expunged_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  sync->expunged_modseqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  return sync;
}

void
store_sync_free (PosthornStoreSync *sync)
{
  if (sync == NULL)
    return;
  g_ptr_array_unref (sync->keywords);
  g_array_unref (sync->uids);
  g_array_unref (sync->flags);
  g_array_unref (sync->modseqs);
  g_array_unref (sync->kw_offsets);
  g_array_unref (sync->kw_pool);
  g_array_unref (sync->expunged_uids);
  g_array_unref (sync->expunged_modseqs);
  g_free (sync);
}

void
posthorn_store_sync_set_state (PosthornStoreSync *sync, guint32 uidvalidity,
                               guint32 uidnext, guint64 highestmodseq)
{
  sync->uidvalidity = uidvalidity;
  sync->uidnext = uidnext;
  sync->highestmodseq = highestmodseq;
}

void
posthorn_store_sync_set_recent (PosthornStoreSync *sync, guint32 first, guint32 last)
{
  sync->recent_first = first;
  sync->recent_last = last;
}

void
posthorn_store_sync_set_keywords (PosthornStoreSync *sync, const char *const *keywords)
{
  g_ptr_array_set_size (sync->keywords, 0);
  for (guint i = 0; keywords != NULL && keywords[i] != NULL; i++)
    g_ptr_array_add (sync->keywords, g_strdup (keywords[i]));
}

void
posthorn_store_sync_reserve (PosthornStoreSync *sync, guint n_records)
{
  guint want = sync->uids->len + n_records;

  /* GArray grows to the next power of two: ask for it once. */
  if (want > sync->uids->len)
    {
      g_array_set_size (sync->uids, want);
      g_array_set_size (sync->uids, want - n_records);
      g_array_set_size (sync->flags, want);
      g_array_set_size (sync->flags, want - n_records);
      g_array_set_size (sync->modseqs, want);
      g_array_set_size (sync->modseqs, want - n_records);
      g_array_set_size (sync->kw_offsets, want);
      g_array_set_size (sync->kw_offsets, want - n_records);
    }
}

void
posthorn_store_sync_add_record (PosthornStoreSync *sync, guint32 uid, guint32 flags,
                                guint64 modseq, const guint32 *keywords, guint n_keywords)
{
  guint32 offset = sync->kw_pool->len;

  flags &= POSTHORN_MESSAGE_STORED_FLAGS;
  g_array_append_val (sync->uids, uid);
  g_array_append_val (sync->flags, flags);
  g_array_append_val (sync->modseqs, modseq);
  g_array_append_val (sync->kw_offsets, offset);
  if (n_keywords > 0)
    g_array_append_vals (sync->kw_pool, keywords, n_keywords);
}

void
posthorn_store_sync_add_expunged (PosthornStoreSync *sync, guint32 uid, guint64 modseq)
{
  g_array_append_val (sync->expunged_uids, uid);
  g_array_append_val (sync->expunged_modseqs, modseq);
}

PosthornStoreSync *
store_run_sync (const char *user, const char *name, guint32 uidvalidity, guint64 since_modseq,
                PosthornStoreSyncFlags flags, GCancellable *cancellable, GError **error)
{
  const StoreBackend *b;
  g_autoptr(PosthornStoreSync) sync = store_sync_new ();
  gboolean ok;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  b = store_backend_acquire (error);
  if (b == NULL)
    return NULL;
  ok = b->vt.sync (b->data, user, name, uidvalidity, since_modseq, flags, sync, error);
  store_backend_release ();
  if (!ok)
    return NULL;
  return g_steal_pointer (&sync);
}

/* ---- the mailbox list ---- */

void
posthorn_store_mailboxes_add (PosthornStoreMailboxes *list, const char *name,
                              PosthornSpecialUse special_use)
{
  guint use = special_use;

  g_ptr_array_add (list->names, g_strdup (name));
  g_array_append_val (list->special_uses, use);
}

void
posthorn_store_mailboxes_add_subscription (PosthornStoreMailboxes *list, const char *name)
{
  g_ptr_array_add (list->subscriptions, g_strdup (name));
}

struct _PosthornMailboxList {
  GArray *entries;        /* PosthornMailboxEntry, names owned by @strings */
  GStringChunk *strings;
};

static PosthornMailboxEntry *
mailbox_list_entry (PosthornMailboxList *list, GHashTable *index, const char *name)
{
  gpointer pos;
  PosthornMailboxEntry entry = { 0 };

  if (g_hash_table_lookup_extended (index, name, NULL, &pos))
    return &g_array_index (list->entries, PosthornMailboxEntry, GPOINTER_TO_UINT (pos));
  entry.name = g_string_chunk_insert_const (list->strings, name);
  g_array_append_val (list->entries, entry);
  g_hash_table_insert (index, (gpointer) entry.name, GUINT_TO_POINTER (list->entries->len - 1));
  return &g_array_index (list->entries, PosthornMailboxEntry, list->entries->len - 1);
}

static int
mailbox_entry_compare (gconstpointer a, gconstpointer b)
{
  const PosthornMailboxEntry *ea = a, *eb = b;
  gboolean inbox_a = strcmp (ea->name, "INBOX") == 0;
  gboolean inbox_b = strcmp (eb->name, "INBOX") == 0;

  if (inbox_a != inbox_b)
    return inbox_a ? -1 : 1;
  return strcmp (ea->name, eb->name);
}

PosthornMailboxList *
store_mailbox_list_build (PosthornStoreMailboxes *raw)
{
  PosthornMailboxList *list = g_new0 (PosthornMailboxList, 1);
  g_autoptr(GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);

  list->entries = g_array_new (FALSE, TRUE, sizeof (PosthornMailboxEntry));
  list->strings = g_string_chunk_new (1024);

  for (guint i = 0; i < raw->names->len; i++)
    {
      const char *name = raw->names->pdata[i];
      PosthornMailboxEntry *e = mailbox_list_entry (list, index, name);
      g_autofree char *parent = g_strdup (name);
      char *slash;

      e->exists = TRUE;
      e->special_use = g_array_index (raw->special_uses, guint, i);
      while ((slash = strrchr (parent, '/')) != NULL)
        {
          *slash = '\0';
          mailbox_list_entry (list, index, parent)->has_children = TRUE;
        }
    }
  for (guint i = 0; i < raw->subscriptions->len; i++)
    mailbox_list_entry (list, index, raw->subscriptions->pdata[i])->subscribed = TRUE;

  g_array_sort (list->entries, mailbox_entry_compare);
  return list;
}

guint
posthorn_mailbox_list_get_count (const PosthornMailboxList *list)
{
  return list->entries->len;
}

const PosthornMailboxEntry *
posthorn_mailbox_list_get (const PosthornMailboxList *list, guint index)
{
  g_return_val_if_fail (index < list->entries->len, NULL);
  return &g_array_index (list->entries, PosthornMailboxEntry, index);
}

const PosthornMailboxEntry *
posthorn_mailbox_list_lookup (const PosthornMailboxList *list, const char *name)
{
  for (guint i = 0; i < list->entries->len; i++)
    {
      const PosthornMailboxEntry *e = &g_array_index (list->entries, PosthornMailboxEntry, i);

      if (strcmp (e->name, name) == 0)
        return e;
    }
  return NULL;
}

void
posthorn_mailbox_list_free (PosthornMailboxList *list)
{
  if (list == NULL)
    return;
  g_array_unref (list->entries);
  g_string_chunk_free (list->strings);
  g_free (list);
}

/* ---- fetch results ---- */

void
posthorn_store_fetch_builder_add (PosthornStoreFetchBuilder *builder, guint32 uid,
                                  gint64 internal_date, guint64 size, GBytes *info)
{
  PosthornStoreMessageMeta meta = { uid, internal_date, size, NULL };

  g_array_append_val (builder->metas, meta);
  g_ptr_array_add (builder->blobs, info != NULL ? g_bytes_ref (info) : NULL);
}

guint
posthorn_store_fetch_get_count (const PosthornStoreFetch *fetch)
{
  return fetch->metas->len;
}

const PosthornStoreMessageMeta *
posthorn_store_fetch_get (const PosthornStoreFetch *fetch, guint index)
{
  g_return_val_if_fail (index < fetch->metas->len, NULL);
  return &g_array_index (fetch->metas, PosthornStoreMessageMeta, index);
}

void
store_fetch_meta_clear (gpointer p)
{
  PosthornStoreMessageMeta *meta = p;

  g_clear_pointer (&meta->info, posthorn_message_info_unref);
}

void
posthorn_store_fetch_free (PosthornStoreFetch *fetch)
{
  if (fetch == NULL)
    return;
  g_array_unref (fetch->metas);
  g_free (fetch);
}

