/* Helpers shared by the store tests and the store benchmark: load a
 * storage plugin through the real daemon loader, and blocking wrappers
 * around the asynchronous store API (they iterate the default main
 * context until the callback ran).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

G_BEGIN_DECLS

/* Which store the tests load and extra "group.key=value" config lines,
 * from the command line (--store NAME, --set group.key=value). Parses and
 * removes those options from argv. */
void store_test_parse_args (int *argc, char ***argv);
const char *store_test_plugin_name (void);
/* Adds one "group.key=value" line to the config store_test_load() writes;
 * _clear removes those added. */
void store_test_add_setting (const char *setting);
void store_test_clear_settings (void);
/* The --store and --set options again, for a child process (free with
 * g_strfreev). */
GStrv store_test_args (void);

/* Writes a config for @state_dir and loads the daemon with the store. */
void store_test_load (const char *state_dir);
gboolean store_test_try_load (const char *state_dir, GError **error);
void store_test_unload (void);

/* Waits for an async result. */
GAsyncResult *store_test_wait (GAsyncResult **slot);
void store_test_result_cb (GObject *source, GAsyncResult *result, gpointer user_data);

PosthornStoreUser *store_test_open_user (const char *user);
PosthornStoreChanges *store_test_append (PosthornStoreUser *user, const char *mailbox,
                                         const void *data, gsize length, guint32 flags,
                                         const char *const *keywords, gint64 internal_date,
                                         GError **error);
/* Appends and returns the UID; asserts success. */
guint32 store_test_append_simple (PosthornStoreUser *user, const char *mailbox,
                                  const char *data);
PosthornMailboxView *store_test_open_view (PosthornStoreUser *user, const char *mailbox,
                                           PosthornViewFlags flags, GError **error);
PosthornViewChanges *store_test_sync_view (PosthornMailboxView *view,
                                           PosthornViewSyncFlags flags, GError **error);
/* The whole message as bytes, read in pieces of @piece bytes. */
GBytes *store_test_read_all (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                             guint32 uid, gsize piece, GError **error);
/* A mailbox operation (create, delete, rename, subscribe) result. */
gboolean store_test_mailbox_op_wait (GAsyncResult **slot, GError **error);
PosthornStoreChanges *store_test_changes_wait (GAsyncResult **slot, GError **error);

G_END_DECLS
