/* test-auth-users: an auth backend that knows the users listed in
 * [test-auth-users] users (';'-separated) and nothing else: no passwords,
 * only user_exists. Lets the SMTP tests name recipients that
 * auth-passwd-file refuses to hold (e.g. "a/b@example.org").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

static gboolean
test_users_exists (gpointer backend_data, const char *user, GError **error)
{
  return g_strv_contains ((const char *const *) backend_data, user);
}

static const PosthornAuthBackendVTable test_users_vtable = {
  .struct_size = sizeof (PosthornAuthBackendVTable),
  .user_exists = test_users_exists,
};

static gboolean
test_users_init (PosthornPlugin *plugin, GError **error)
{
  GStrv users = NULL;

  if (!posthorn_config_get_string_list (plugin, "users", NULL, &users, error))
    return FALSE;
  posthorn_auth_register_backend (plugin, &test_users_vtable, users, (GDestroyNotify) g_strfreev);
  return TRUE;
}

static void
test_users_shutdown (PosthornPlugin *plugin)
{
  posthorn_auth_unregister_backend (plugin);
}

POSTHORN_PLUGIN_DEFINE (test_auth_users, "test-auth-users", POSTHORN_PLUGIN_KIND_AUTH,
                        "0.1.0", "LGPL-2.1-or-later", "Test: user names from the config",
                        NULL, test_users_init, test_users_shutdown)
