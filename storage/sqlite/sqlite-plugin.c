/* storage-sqlite: the embedded default store. One SQLite database in WAL
 * mode for every user; see README.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

static gboolean
sqlite_plugin_init (PosthornPlugin *plugin, GError **error)
{
  g_autofree char *default_path = g_build_filename (posthorn_core_get_state_dir (), "mail.db", NULL);
  g_autofree char *path = NULL;
  SqliteStore *store;

  guint64 snapshot_min, snapshot_delta;

  if (!posthorn_config_get_path (plugin, "path", default_path, POSTHORN_PATH_PARENT_EXISTS,
                                 &path, error) ||
      !posthorn_config_get_uint64 (plugin, "snapshot_min_messages", 1024, 1, G_MAXUINT32, FALSE,
                                   &snapshot_min, error) ||
      !posthorn_config_get_uint64 (plugin, "snapshot_max_delta", 512, 0, G_MAXUINT32, FALSE,
                                   &snapshot_delta, error))
    return FALSE;
  if (sqlite3_threadsafe () == 0)
    {
      posthorn_config_set_error (plugin, "path", error, "SQLite is built without thread safety");
      return FALSE;
    }
  store = sqlite_store_open (path, error);
  if (store == NULL)
    return FALSE;
  store->snapshot_min_messages = (guint) snapshot_min;
  store->snapshot_max_delta = (guint) snapshot_delta;
  posthorn_plugin_set_data (plugin, store, (GDestroyNotify) sqlite_store_close);
  if (!posthorn_store_register (plugin, &sqlite_store_vtable, store, error))
    return FALSE;
  g_debug ("mail store %s (SQLite %s)", path, sqlite3_libversion ());
  return TRUE;
}

static void
sqlite_plugin_shutdown (PosthornPlugin *plugin)
{
  posthorn_store_unregister (plugin);
}

POSTHORN_PLUGIN_DEFINE (storage_sqlite, "storage-sqlite", POSTHORN_PLUGIN_KIND_STORAGE,
                        "0.1.0", "LGPL-2.1-or-later",
                        "Mail store in one SQLite database (WAL, FTS5 search)",
                        NULL, sqlite_plugin_init, sqlite_plugin_shutdown)
