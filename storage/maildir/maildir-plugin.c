/* storage-maildir: a Maildir++ store that Dovecot can share; see
 * README.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <string.h>

static gboolean
maildir_plugin_init (PosthornPlugin *plugin, GError **error)
{
  g_autofree char *default_path = g_build_filename (posthorn_core_get_state_dir (), "maildir", "%d",
                                                    "%n", NULL);
  g_autofree char *pattern = NULL;
  g_autoptr(GError) check = NULL;
  g_autofree char *probe = NULL;
  guint64 snapshot_min, snapshot_delta, tmp_max_age;
  gboolean trust_cur_stamps;
  MaildirStore *store;

  if (!posthorn_config_get_string (plugin, "path", default_path, &pattern, error) ||
      !posthorn_config_get_uint64 (plugin, "snapshot_min_messages", 1024, 1, G_MAXUINT32, FALSE,
                                   &snapshot_min, error) ||
      !posthorn_config_get_uint64 (plugin, "snapshot_max_delta", 512, 0, G_MAXUINT32, FALSE,
                                   &snapshot_delta, error) ||
      !posthorn_config_get_uint64 (plugin, "tmp_max_age", MAILDIR_TMP_MAX_AGE, 1, G_MAXUINT32, FALSE,
                                   &tmp_max_age, error) ||
      !posthorn_config_get_boolean (plugin, "trust_cur_stamps", FALSE, &trust_cur_stamps, error))
    return FALSE;
  if (!g_path_is_absolute (pattern) ||
      (strstr (pattern, "%n") == NULL && strstr (pattern, "%u") == NULL))
    {
      posthorn_config_set_error (plugin, "path", error,
                                 "'%s' must be an absolute path with %%u or %%n in it", pattern);
      return FALSE;
    }
  probe = maildir_expand_path (pattern, "user@example.org", &check);
  if (probe == NULL)
    {
      posthorn_config_set_error (plugin, "path", error, "%s", check->message);
      return FALSE;
    }
  if (sqlite3_threadsafe () == 0)
    {
      posthorn_config_set_error (plugin, "path", error, "SQLite is built without thread safety");
      return FALSE;
    }
  store = maildir_store_new (pattern, error);
  if (store == NULL)
    return FALSE;
  store->snapshot_min_messages = (guint) snapshot_min;
  store->snapshot_max_delta = (guint) snapshot_delta;
  store->tmp_max_age = (gint64) tmp_max_age;
  store->trust_cur_stamps = trust_cur_stamps;
  posthorn_plugin_set_data (plugin, store, (GDestroyNotify) maildir_store_free);
  if (!posthorn_store_register (plugin, &maildir_store_vtable, store, error))
    return FALSE;
  g_debug ("Maildir store %s", pattern);
  return TRUE;
}

static void
maildir_plugin_shutdown (PosthornPlugin *plugin)
{
  posthorn_store_unregister (plugin);
}

POSTHORN_PLUGIN_DEFINE (storage_maildir, "storage-maildir", POSTHORN_PLUGIN_KIND_STORAGE,
                        "0.1.0", "LGPL-2.1-or-later",
                        "Maildir++ store, Dovecot-compatible (dovecot-uidlist, dovecot-keywords)",
                        NULL, maildir_plugin_init, maildir_plugin_shutdown)
