/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store-test-util.h"

#include <string.h>

static char *plugin_name;
static GPtrArray *extra_settings;   /* "group.key=value" */
static char *config_path;

void
store_test_parse_args (int *argc, char ***argv)
{
  int out = 1;

  if (extra_settings == NULL)
    extra_settings = g_ptr_array_new_with_free_func (g_free);
  for (int i = 1; i < *argc; i++)
    {
      const char *arg = (*argv)[i];

      /* the last --store wins (a child process may be given two) */
      if (strcmp (arg, "--store") == 0 && i + 1 < *argc)
        {
          g_free (plugin_name);
          plugin_name = g_strdup ((*argv)[++i]);
        }
      else if (g_str_has_prefix (arg, "--store="))
        {
          g_free (plugin_name);
          plugin_name = g_strdup (arg + strlen ("--store="));
        }
      else if (strcmp (arg, "--set") == 0 && i + 1 < *argc)
        g_ptr_array_add (extra_settings, g_strdup ((*argv)[++i]));
      else
        (*argv)[out++] = (*argv)[i];
    }
  (*argv)[out] = NULL;
  *argc = out;
  if (plugin_name == NULL)
    plugin_name = g_strdup ("storage-sqlite");
}

void
store_test_add_setting (const char *setting)
{
  if (extra_settings == NULL)
    extra_settings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (extra_settings, g_strdup (setting));
}

void
store_test_clear_settings (void)
{
  if (extra_settings != NULL)
    g_ptr_array_set_size (extra_settings, 0);
}

const char *
store_test_plugin_name (void)
{
  return plugin_name;
}

GStrv
store_test_args (void)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

  g_strv_builder_add (b, "--store");
  g_strv_builder_add (b, plugin_name);
  for (guint i = 0; extra_settings != NULL && i < extra_settings->len; i++)
    {
      g_strv_builder_add (b, "--set");
      g_strv_builder_add (b, extra_settings->pdata[i]);
    }
  return g_strv_builder_end (b);
}

gboolean
store_test_try_load (const char *state_dir, GError **error)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  const char *plugin_dir = g_getenv ("POSTHORN_PLUGIN_DIR");
  g_autofree char *data = NULL;

  g_key_file_set_string (keyfile, "core", "plugins", plugin_name);
  g_key_file_set_string (keyfile, "core", "plugin_dir", plugin_dir != NULL ? plugin_dir : "plugins");
  g_key_file_set_string (keyfile, "core", "state_dir", state_dir);
  g_key_file_set_string (keyfile, "core", "log_level", "warning");
  g_key_file_set_string (keyfile, "dbus", "bus", "none");
  for (guint i = 0; extra_settings != NULL && i < extra_settings->len; i++)
    {
      g_auto(GStrv) kv = g_strsplit (extra_settings->pdata[i], "=", 2);
      char *dot = strchr (kv[0], '.');

      g_assert_nonnull (kv[1]);
      g_assert_nonnull (dot);
      *dot = '\0';
      g_key_file_set_string (keyfile, kv[0], dot + 1, kv[1]);
    }
  g_free (config_path);
  config_path = g_build_filename (state_dir, "posthorn.conf", NULL);
  data = g_key_file_to_data (keyfile, NULL, NULL);
  if (!g_file_set_contents (config_path, data, -1, error))
    return FALSE;
  return ph_daemon_load (config_path, NULL, error);
}

void
store_test_load (const char *state_dir)
{
  g_autoptr(GError) error = NULL;

  store_test_try_load (state_dir, &error);
  g_assert_no_error (error);
  g_assert_true (posthorn_store_available ());
}

void
store_test_unload (void)
{
  /* Let events queued on the loop run before the bus goes away. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  ph_daemon_unload ();
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

void
store_test_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

GAsyncResult *
store_test_wait (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

PosthornStoreUser *
store_test_open_user (const char *name)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornStoreUser *user;

  posthorn_store_user_open_async (name, NULL, NULL, store_test_result_cb, &res);
  user = posthorn_store_user_open_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  g_assert_nonnull (user);
  return user;
}

PosthornStoreChanges *
store_test_changes_wait (GAsyncResult **slot, GError **error)
{
  PosthornStoreChanges *changes = posthorn_store_changes_finish (store_test_wait (slot), error);

  g_clear_object (slot);
  return changes;
}

gboolean
store_test_mailbox_op_wait (GAsyncResult **slot, GError **error)
{
  gboolean ok = posthorn_store_mailbox_op_finish (store_test_wait (slot), error);

  g_clear_object (slot);
  return ok;
}

PosthornStoreChanges *
store_test_append (PosthornStoreUser *user, const char *mailbox, const void *data, gsize length,
                   guint32 flags, const char *const *keywords, gint64 internal_date,
                   GError **error)
{
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (data, length);
  GAsyncResult *res = NULL;

  posthorn_store_append_async (user, mailbox, msg, flags, keywords, internal_date, NULL,
                               store_test_result_cb, &res);
  return store_test_changes_wait (&res, error);
}

guint32
store_test_append_simple (PosthornStoreUser *user, const char *mailbox, const char *data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes =
    store_test_append (user, mailbox, data, strlen (data), 0, NULL, 0, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_store_changes_get_count (changes), ==, 1);
  return posthorn_store_changes_get (changes, 0)->uid;
}

PosthornMailboxView *
store_test_open_view (PosthornStoreUser *user, const char *mailbox, PosthornViewFlags flags,
                      GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  posthorn_mailbox_view_open_async (user, mailbox, flags, NULL, store_test_result_cb, &res);
  return posthorn_mailbox_view_open_finish (store_test_wait (&res), error);
}

PosthornViewChanges *
store_test_sync_view (PosthornMailboxView *view, PosthornViewSyncFlags flags, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  posthorn_mailbox_view_sync_async (view, flags, NULL, store_test_result_cb, &res);
  return posthorn_mailbox_view_sync_finish (view, store_test_wait (&res), error);
}

GBytes *
store_test_read_all (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                     guint32 uid, gsize piece, GError **error)
{
  g_autoptr(GByteArray) all = g_byte_array_new ();

  for (;;)
    {
      g_autoptr(GAsyncResult) res = NULL;
      g_autoptr(GBytes) bytes = NULL;

      posthorn_store_read_async (user, mailbox, uidvalidity, uid, all->len, piece, NULL,
                                 store_test_result_cb, &res);
      bytes = posthorn_store_read_finish (store_test_wait (&res), error);
      if (bytes == NULL)
        return NULL;
      if (g_bytes_get_size (bytes) == 0)
        break;
      g_byte_array_append (all, g_bytes_get_data (bytes, NULL), (guint) g_bytes_get_size (bytes));
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&all));
}
