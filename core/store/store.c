/* The store's front: registration of the storage plugin (one at a
 * time, behind a read-write lock), mailbox name validation and
 * PosthornStoreUser handles.
 *
 * The result and builder types shared with the plugin are in
 * store-results.c, the asynchronous operations protocol plugins call in
 * store-operations.c, and the worker side of those operations (each one a
 * job on the worker pool that calls the blocking vtable and publishes the
 * changes it made) in store-job.c.
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

gboolean
posthorn_store_can_append_multi (void)
{
  gboolean result;

  g_rw_lock_reader_lock (&backend_lock);
  result = backend != NULL && backend->vt.append_multi != NULL;
  g_rw_lock_reader_unlock (&backend_lock);
  return result;
}

gboolean
posthorn_store_check_user (const char *user, GError **error)
{
  const StoreBackend *b;
  gboolean ok;

  g_return_val_if_fail (user != NULL, FALSE);

  b = store_backend_acquire (error);
  if (b == NULL)
    return FALSE;
  ok = b->vt.check_user == NULL || b->vt.check_user (b->data, user, error);
  store_backend_release ();
  return ok;
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

/* ---- users ---- */

PosthornStoreUser *
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

