/* Shared between the files of core/store/. Never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

G_BEGIN_DECLS

/* The registered store's vtable, copied to full size (missing tail
 * functions are NULL). */
typedef struct {
  PosthornPlugin *plugin;
  PosthornStoreVTable vt;
  gpointer data;
} StoreBackend;

/* Takes the backend for one call (a read lock that unregister waits for);
 * NULL with @error set when no store is registered. */
const StoreBackend *store_backend_acquire (GError **error);
void store_backend_release (void);

struct _PosthornStoreUser {
  gint ref_count;
  char *name;
  gconstpointer origin;
};

struct _PosthornStoreSync {
  guint32 uidvalidity;
  guint32 uidnext;
  guint64 highestmodseq;
  guint32 recent_first;
  guint32 recent_last;
  GPtrArray *keywords;      /* char* */
  GArray *uids;             /* guint32 */
  GArray *flags;            /* guint32 */
  GArray *modseqs;          /* guint64 */
  GArray *kw_offsets;       /* guint32: start of record i's keywords in kw_pool */
  GArray *kw_pool;          /* guint32 */
  GArray *expunged_uids;    /* guint32 */
  GArray *expunged_modseqs; /* guint64 */
};

PosthornStoreSync *store_sync_new (void);
void store_sync_free (PosthornStoreSync *sync);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornStoreSync, store_sync_free)

/* Runs the backend's sync for @user/@name into a new PosthornStoreSync
 * (on a worker). */
PosthornStoreSync *store_run_sync (const char *user, const char *name, guint32 uidvalidity,
                                   guint64 since_modseq, PosthornStoreSyncFlags flags,
                                   GCancellable *cancellable, GError **error);

/* Results and builders (store-results.c). */
struct _PosthornStoreMailboxes {
  GPtrArray *names;       /* char* */
  GArray *special_uses;   /* guint */
  GPtrArray *subscriptions;
};

struct _PosthornStoreFetch {
  GArray *metas;          /* PosthornStoreMessageMeta */
};

struct _PosthornStoreFetchBuilder {
  GArray *metas;          /* PosthornStoreMessageMeta, info NULL */
  GPtrArray *blobs;       /* GBytes, parallel */
};

/* One store operation (store-job.c, store-operations.c). */
typedef enum {
  STORE_OP_OPEN_USER,
  STORE_OP_LIST,
  STORE_OP_CREATE,
  STORE_OP_DELETE,
  STORE_OP_RENAME,
  STORE_OP_SUBSCRIBE,
  STORE_OP_STATUS,
  STORE_OP_APPEND,
  STORE_OP_STORE_FLAGS,
  STORE_OP_COPY,
  STORE_OP_EXPUNGE,
  STORE_OP_FETCH,
  STORE_OP_FETCH_SIZES,
  STORE_OP_READ,
  STORE_OP_SEARCH,
  STORE_OP_VANISHED,
  STORE_OP_APPEND_MULTI,
} StoreOp;

/* One message of STORE_OP_APPEND_MULTI. */
typedef struct {
  PosthornMessage *message;
  guint32 flags;
  GStrv keywords;
  gint64 internal_date;
} StoreJobItem;

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
  GArray *items;              /* StoreJobItem: append_multi */
} StoreJob;

/* store-results.c */
PosthornStoreChanges *store_changes_new (void);
void store_changes_publish (PosthornStoreChanges *changes, gconstpointer origin);
PosthornMailboxList *store_mailbox_list_build (PosthornStoreMailboxes *raw);
void store_fetch_meta_clear (gpointer p);

/* store.c */
PosthornStoreUser *store_user_new (const char *name, gconstpointer origin);

/* store-job.c: a job is built on the loop and run on a worker by store_job_start(). */
StoreJob *store_job_new (StoreOp op, PosthornStoreUser *user);
void store_job_set_name (StoreJob *job, char **out, const char *name);
void store_job_set_uids (StoreJob *job, const guint32 *uids, guint n_uids);
void store_job_start (StoreJob *job, GDestroyNotify result_free, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data);

G_END_DECLS
