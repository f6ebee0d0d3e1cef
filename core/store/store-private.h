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

G_END_DECLS
