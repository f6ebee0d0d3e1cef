/* The store's front: registration of the storage plugin, the result and
 * builder types shared with it, and the asynchronous operations protocol
 * plugins call (each one a job on the worker pool that calls the blocking
 * vtable and publishes the changes it made).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#include <string.h>

/* ---- registration ---- */

static GRWLock backend_lock;
static StoreBackend *backend;

gboolean
posthorn_store_register (PosthornPlugin *plugin, const PosthornStoreVTable *vtable,
                         gpointer data, GError **error)
{
  g_autofree StoreBackend *b = NULL;

  g_return_val_if_fail (plugin != NULL && vtable != NULL, FALSE);

  if (vtable->struct_size < G_STRUCT_OFFSET (PosthornStoreVTable, search_text) + sizeof (gpointer))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                   "%s: store vtable too small (%" G_GSIZE_FORMAT " bytes)",
                   posthorn_plugin_get_name (plugin), vtable->struct_size);
      return FALSE;
    }

  b = g_new0 (StoreBackend, 1);
  b->plugin = plugin;
  b->data = data;
  memcpy (&b->vt, vtable, MIN (vtable->struct_size, sizeof (PosthornStoreVTable)));
  b->vt.struct_size = sizeof (PosthornStoreVTable);
  if (b->vt.open_user == NULL || b->vt.list == NULL || b->vt.create == NULL ||
      b->vt.delete_mailbox == NULL || b->vt.rename == NULL || b->vt.subscribe == NULL ||
      b->vt.status == NULL || b->vt.sync == NULL || b->vt.append == NULL ||
      b->vt.store_flags == NULL || b->vt.copy == NULL || b->vt.expunge == NULL ||
      b->vt.fetch == NULL || b->vt.read == NULL || b->vt.search_text == NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                   "%s: store vtable lacks a function", posthorn_plugin_get_name (plugin));
      return FALSE;
    }

  g_rw_lock_writer_lock (&backend_lock);
  if (backend != NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
                   "storage plugins %s and %s are both enabled; enable exactly one",
                   posthorn_plugin_get_name (backend->plugin),
                   posthorn_plugin_get_name (plugin));
      g_rw_lock_writer_unlock (&backend_lock);
      return FALSE;
    }
  backend = g_steal_pointer (&b);
  g_rw_lock_writer_unlock (&backend_lock);
  return TRUE;
}

void
posthorn_store_unregister (PosthornPlugin *plugin)
{
  g_rw_lock_writer_lock (&backend_lock);
  if (backend != NULL && backend->plugin == plugin)
    g_clear_pointer (&backend, g_free);
  g_rw_lock_writer_unlock (&backend_lock);
}

gboolean
posthorn_store_available (void)
{
  gboolean result;

  g_rw_lock_reader_lock (&backend_lock);
  result = backend != NULL;
  g_rw_lock_reader_unlock (&backend_lock);
  return result;
}

const StoreBackend *
store_backend_acquire (GError **error)
{
  g_rw_lock_reader_lock (&backend_lock);
  if (backend == NULL)
    {
      g_rw_lock_reader_unlock (&backend_lock);
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                           "no storage plugin is enabled");
      return NULL;
    }
  return backend;
}

void
store_backend_release (void)
{
  g_rw_lock_reader_unlock (&backend_lock);
}

/* ---- mailbox names ---- */

#define STORE_NAME_MAX 1024

char *
posthorn_store_normalize_mailbox_name (const char *name, GError **error)
{
  gsize length;
  const char *p;
  g_auto(GStrv) parts = NULL;

  if (name == NULL || *name == '\0')
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID, "empty mailbox name");
      return NULL;
    }
  length = strlen (name);
  if (length > STORE_NAME_MAX)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                   "mailbox name longer than %d bytes", STORE_NAME_MAX);
      return NULL;
    }
  if (!g_utf8_validate (name, (gssize) length, NULL))
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                           "mailbox name is not valid UTF-8");
      return NULL;
    }
  for (p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c < 0x20 || (c >= 0x7f && c < 0xa0))
        {
          g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                               "mailbox name contains a control character");
          return NULL;
        }
      if (c == '*' || c == '%')
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "mailbox name contains the wildcard '%c'", (char) c);
          return NULL;
        }
    }

  parts = g_strsplit (name, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0')
        {
          g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                               "mailbox name has an empty component");
          return NULL;
        }
      if (strcmp (parts[i], "..") == 0 || strcmp (parts[i], ".") == 0)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "mailbox name contains '%s'", parts[i]);
          return NULL;
        }
    }
  if (g_ascii_strcasecmp (parts[0], "INBOX") == 0)
    memcpy (parts[0], "INBOX", 5);
  return g_strjoinv ("/", parts);
}

/* ---- changes ---- */

struct _PosthornStoreChanges {
  gint ref_count;
  GArray *items;        /* PosthornStoreChange */
  GArray *modified;     /* guint32 */
  GStringChunk *strings;
};

static PosthornStoreChanges *
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

static void
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

struct _PosthornStoreMailboxes {
  GPtrArray *names;       /* char* */
  GArray *special_uses;   /* guint */
  GPtrArray *subscriptions;
};

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

static PosthornMailboxList *
mailbox_list_build (PosthornStoreMailboxes *raw)
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

struct _PosthornStoreFetch {
  GArray *metas;          /* PosthornStoreMessageMeta */
};

struct _PosthornStoreFetchBuilder {
  GArray *metas;          /* PosthornStoreMessageMeta, info NULL */
  GPtrArray *blobs;       /* GBytes, parallel */
};

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

static void
fetch_meta_clear (gpointer p)
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

/* ---- users ---- */

static PosthornStoreUser *
store_user_new (const char *name, gconstpointer origin)
{
  PosthornStoreUser *user = g_new0 (PosthornStoreUser, 1);

  user->ref_count = 1;
  user->name = g_strdup (name);
  user->origin = origin;
  return user;
}

PosthornStoreUser *
posthorn_store_user_ref (PosthornStoreUser *user)
{
  g_atomic_int_inc (&user->ref_count);
  return user;
}

void
posthorn_store_user_unref (PosthornStoreUser *user)
{
  if (user == NULL || !g_atomic_int_dec_and_test (&user->ref_count))
    return;
  g_free (user->name);
  g_free (user);
}

const char *
posthorn_store_user_get_name (PosthornStoreUser *user)
{
  return user->name;
}

/* ---- jobs ---- */

typedef enum {
  OP_OPEN_USER,
  OP_LIST,
  OP_CREATE,
  OP_DELETE,
  OP_RENAME,
  OP_SUBSCRIBE,
  OP_STATUS,
  OP_APPEND,
  OP_STORE_FLAGS,
  OP_COPY,
  OP_EXPUNGE,
  OP_FETCH,
  OP_READ,
  OP_SEARCH,
  OP_VANISHED,
} StoreOp;

typedef struct {
  StoreOp op;
  GError *invalid;            /* a bad argument found on the loop */
  char *user;
  gconstpointer origin;
  char *name;
  char *dest;
  guint32 uidvalidity;
  GArray *uids;               /* guint32, sorted, unique; NULL: none given */
  PosthornFlagsMode mode;
  guint32 flags;
  GStrv keywords;
  guint64 modseq;
  PosthornSpecialUse special_use;
  gboolean boolean;
  PosthornMessage *message;
  gint64 internal_date;
  GStrv users;                /* deliver targets */
  GStrv mailboxes;
  guint64 offset;
  gsize length;
  PosthornSearchField field;
  char *needle;
} StoreJob;

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
  g_free (job);
}

static StoreJob *
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
static void
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

static void
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
  if (!posthorn_message_extract_search_text (message, info, body_text, all_text, error))
    return FALSE;
  *info_blob = posthorn_message_info_serialize (info);
  return TRUE;
}

static PosthornStoreChanges *
store_job_append (const StoreBackend *b, StoreJob *job, GError **error)
{
  g_autoptr(GBytes) info = NULL;
  g_autofree char *body_text = NULL;
  g_autofree char *all_text = NULL;
  g_autofree PosthornStoreTarget *targets = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  PosthornStoreNewMessage msg = { 0 };
  guint n = g_strv_length (job->users);

  if (!store_prepare_message (job->message, &info, &body_text, &all_text, error))
    return NULL;

  msg.message = job->message;
  msg.size = posthorn_message_get_size (job->message);
  msg.info = info;
  /* The mime code's "all" text is the headers, "\n", then the body text:
   * keep the headers apart so the body is indexed once. */
  if (g_str_has_suffix (all_text, body_text))
    {
      gsize header_len = strlen (all_text) - strlen (body_text);

      if (header_len > 0 && *body_text != '\0' && all_text[header_len - 1] == '\n')
        header_len--;
      all_text[header_len] = '\0';
    }
  utf8_truncate (all_text, STORE_SEARCH_TEXT_MAX);
  utf8_truncate (body_text, STORE_SEARCH_TEXT_MAX);
  msg.search_header = all_text;
  msg.search_body = body_text;
  msg.flags = job->flags & POSTHORN_MESSAGE_STORED_FLAGS;
  msg.keywords = (const char *const *) job->keywords;
  msg.internal_date = job->internal_date != 0 ? job->internal_date : g_get_real_time () / G_USEC_PER_SEC;

  targets = g_new0 (PosthornStoreTarget, n);
  for (guint i = 0; i < n; i++)
    {
      targets[i].user = job->users[i];
      targets[i].mailbox = job->mailboxes != NULL ? job->mailboxes[i] : "INBOX";
    }
  changes = store_changes_new ();
  if (!b->vt.append (b->data, &msg, targets, n, changes, error))
    return NULL;
  return g_steal_pointer (&changes);
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

static PosthornStoreFetch *
store_job_fetch (const StoreBackend *b, StoreJob *job, GError **error)
{
  PosthornStoreFetchBuilder builder;
  g_autoptr(GPtrArray) blobs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GArray) metas = g_array_new (FALSE, TRUE, sizeof (PosthornStoreMessageMeta));
  PosthornStoreFetch *fetch;

  g_array_set_clear_func (metas, fetch_meta_clear);
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
    case OP_OPEN_USER:
      ok = b->vt.open_user (b->data, job->user, changes, error);
      if (ok)
        result = store_user_new (job->user, job->origin);
      break;
    case OP_LIST:
      {
        PosthornStoreMailboxes raw;

        raw.names = g_ptr_array_new_with_free_func (g_free);
        raw.special_uses = g_array_new (FALSE, FALSE, sizeof (guint));
        raw.subscriptions = g_ptr_array_new_with_free_func (g_free);
        ok = b->vt.list (b->data, job->user, &raw, error);
        if (ok)
          result = mailbox_list_build (&raw);
        g_ptr_array_unref (raw.names);
        g_array_unref (raw.special_uses);
        g_ptr_array_unref (raw.subscriptions);
      }
      break;
    case OP_CREATE:
      ok = b->vt.create (b->data, job->user, job->name, job->special_use, changes, error);
      break;
    case OP_DELETE:
      if (strcmp (job->name, "INBOX") == 0)
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                             "INBOX cannot be deleted");
      else
        ok = b->vt.delete_mailbox (b->data, job->user, job->name, changes, error);
      break;
    case OP_RENAME:
      if (g_str_has_prefix (job->dest, job->name) && job->dest[strlen (job->name)] == '/')
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                             "cannot rename a mailbox below itself");
      else if (strcmp (job->dest, "INBOX") == 0)
        g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS,
                             "INBOX already exists");
      else
        ok = b->vt.rename (b->data, job->user, job->name, job->dest, changes, error);
      break;
    case OP_SUBSCRIBE:
      ok = b->vt.subscribe (b->data, job->user, job->name, job->boolean, changes, error);
      break;
    case OP_STATUS:
      {
        PosthornMailboxStatus *status = g_new0 (PosthornMailboxStatus, 1);

        ok = b->vt.status (b->data, job->user, job->name, status, error);
        if (ok)
          result = status;
        else
          g_free (status);
      }
      break;
    case OP_APPEND:
      g_clear_pointer (&changes, posthorn_store_changes_unref);
      changes = store_job_append (b, job, error);
      ok = changes != NULL;
      break;
    case OP_STORE_FLAGS:
      ok = b->vt.store_flags (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                              job_n_uids (job), job->mode,
                              job->flags & POSTHORN_MESSAGE_STORED_FLAGS,
                              (const char *const *) job->keywords, job->modseq, changes, error);
      break;
    case OP_COPY:
      ok = b->vt.copy (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                       job_n_uids (job), job->dest, job->boolean, changes, error);
      break;
    case OP_EXPUNGE:
      ok = b->vt.expunge (b->data, job->user, job->name, job->uidvalidity, job_uids (job),
                          job_n_uids (job), changes, error);
      break;
    case OP_FETCH:
      result = store_job_fetch (b, job, error);
      ok = result != NULL;
      break;
    case OP_READ:
      result = store_job_read (b, job, error);
      ok = result != NULL;
      break;
    case OP_SEARCH:
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
    case OP_VANISHED:
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
    case OP_CREATE:
    case OP_DELETE:
    case OP_RENAME:
    case OP_SUBSCRIBE:
    case OP_APPEND:
    case OP_STORE_FLAGS:
    case OP_COPY:
    case OP_EXPUNGE:
      return g_steal_pointer (&changes);
    default:
      return result;
    }
}

static void
store_job_start (StoreJob *job, GDestroyNotify result_free, GCancellable *cancellable,
                 GAsyncReadyCallback callback, gpointer user_data)
{
  posthorn_worker_run (store_job_run, job, store_job_free, result_free, cancellable,
                       callback, user_data);
}

/* ---- the asynchronous operations ---- */

void
posthorn_store_user_open_async (const char *user, gconstpointer origin,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  StoreJob *job = store_job_new (OP_OPEN_USER, NULL);

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
  store_job_start (store_job_new (OP_LIST, user), (GDestroyNotify) posthorn_mailbox_list_free,
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
  StoreJob *job = store_job_new (OP_CREATE, user);

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
  StoreJob *job = store_job_new (OP_DELETE, user);

  store_job_set_name (job, &job->name, name);
  store_job_start (job, (GDestroyNotify) posthorn_store_changes_unref, cancellable, callback,
                   user_data);
}

void
posthorn_store_rename_async (PosthornStoreUser *user, const char *old_name,
                             const char *new_name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (OP_RENAME, user);

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
  StoreJob *job = store_job_new (OP_SUBSCRIBE, user);

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
  StoreJob *job = store_job_new (OP_STATUS, user);

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
  StoreJob *job = store_job_new (OP_APPEND, user);
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

void
posthorn_store_deliver_async (const char *const *users, const char *const *mailboxes,
                              PosthornMessage *message, gint64 internal_date,
                              gconstpointer origin, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  StoreJob *job = store_job_new (OP_APPEND, NULL);
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
  StoreJob *job = store_job_new (OP_STORE_FLAGS, user);

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
  StoreJob *job = store_job_new (OP_COPY, user);

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
  StoreJob *job = store_job_new (OP_EXPUNGE, user);

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
  StoreJob *job = store_job_new (OP_FETCH, user);

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
  StoreJob *job = store_job_new (OP_READ, user);

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
  StoreJob *job = store_job_new (OP_SEARCH, user);

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
  StoreJob *job = store_job_new (OP_VANISHED, user);

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
