/* auth-passwd-file: users from a Dovecot-compatible passwd-file.
 *
 * The parsed file is an immutable, reference-counted table; a reload
 * (SIGHUP, D-Bus Reload(), or the file changing on disk) parses a new one
 * and swaps it in, so worker threads verifying passwords never see a
 * half-read file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

#include <crypt.h>
#include <string.h>

#include "passwd-file.h"

#define APF_RELOAD_DEBOUNCE_MS 100

typedef struct {
  gatomicrefcount ref;
  char *path;
  GMutex lock;
  PfTable *table;              /* under lock */
  GFileMonitor *monitor;       /* loop thread from here on */
  guint reload_source;
  gboolean reload_running;
  gboolean reload_again;
} PasswdFile;

static PasswdFile *
passwd_file_ref (PasswdFile *pf)
{
  g_atomic_ref_count_inc (&pf->ref);
  return pf;
}

static void
passwd_file_unref (gpointer p)
{
  PasswdFile *pf = p;

  if (!g_atomic_ref_count_dec (&pf->ref))
    return;
  g_clear_pointer (&pf->table, pf_table_unref);
  g_mutex_clear (&pf->lock);
  g_free (pf->path);
  g_free (pf);
}

static PfTable *
passwd_file_get_table (PasswdFile *pf)
{
  PfTable *table;

  g_mutex_lock (&pf->lock);
  table = pf_table_ref (pf->table);
  g_mutex_unlock (&pf->lock);
  return table;
}

static void
passwd_file_set_table (PasswdFile *pf, PfTable *table)
{
  PfTable *old;

  g_mutex_lock (&pf->lock);
  old = pf->table;
  pf->table = table;
  g_mutex_unlock (&pf->lock);
  g_clear_pointer (&old, pf_table_unref);
}

/* Reads and parses the file (blocking). */
static PfTable *
passwd_file_read (const char *path, GPtrArray **problems, GError **error)
{
  g_autofree char *text = NULL;
  gsize length;
  PfTable *table;

  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  table = pf_table_parse (text, length, problems);
  explicit_bzero (text, length);
  return table;
}

static void
passwd_file_report (PasswdFile *pf, PfTable *table, GPtrArray *problems)
{
  for (guint i = 0; problems != NULL && i < problems->len; i++)
    {
      PfProblem *problem = g_ptr_array_index (problems, i);
      g_warning ("%s:%u: %s; line skipped", pf->path, problem->line, problem->message);
    }
  g_message ("%s: %u users (%u with SCRAM-SHA-256 secrets)", pf->path,
             pf_table_size (table), pf_table_scram_count (table));
}

static gboolean
passwd_file_load (PasswdFile *pf, GError **error)
{
  g_autoptr(GPtrArray) problems = NULL;
  PfTable *table = passwd_file_read (pf->path, &problems, error);

  if (table == NULL)
    return FALSE;
  passwd_file_report (pf, table, problems);
  passwd_file_set_table (pf, table);
  return TRUE;
}

/* ---- the backend: worker threads ---- */

static void
apf_set_failed (GError **error)
{
  g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED,
                       "Authentication failed");
}

/* An unknown user costs one hash of the default kind too, so that the
 * answer's timing does not tell which users exist. */
static void
apf_spend_like_a_hash (const char *password)
{
  /* static storage, not heap: the module may be unloaded at exit */
  static char dummy_hash[CRYPT_OUTPUT_SIZE];
  static gsize initialized;
  struct crypt_data *data;

  if (g_once_init_enter (&initialized))
    {
      char salt[CRYPT_GENSALT_OUTPUT_SIZE];
      data = g_new0 (struct crypt_data, 1);
      if (crypt_gensalt_rn ("$y$", 0, NULL, 0, salt, sizeof salt) != NULL
          && crypt_rn ("posthorn", salt, data, sizeof *data) != NULL)
        g_strlcpy (dummy_hash, data->output, sizeof dummy_hash);
      g_free (data);
      g_once_init_leave (&initialized, 1);
    }
  if (dummy_hash[0] != '$')
    return;
  data = g_new0 (struct crypt_data, 1);
  crypt_rn (password, dummy_hash, data, sizeof *data);
  explicit_bzero (data, sizeof *data);
  g_free (data);
}

/* A name no users file can hold (pf_user_name_check()) is nobody, even if
 * the table were to have it: it never reaches a store as a user. */
static const PfEntry *
apf_lookup (PfTable *table, const char *user)
{
  const char *why = NULL;

  if (!pf_user_name_check (user, &why))
    {
      g_debug ("login as an impossible user name refused: %s", why);
      return NULL;
    }
  return pf_table_lookup (table, user);
}

static char *
apf_verify_password (gpointer backend_data,
                     const char *user,
                     const char *password,
                     GError **error)
{
  g_autoptr(PfTable) table = passwd_file_get_table (backend_data);
  const PfEntry *entry = apf_lookup (table, user);

  if (entry == NULL)
    {
      apf_spend_like_a_hash (password);
      apf_set_failed (error);
      return NULL;
    }
  if (!pf_entry_verify (entry, password))
    {
      apf_set_failed (error);
      return NULL;
    }
  return g_strdup (entry->user);
}

static char *
apf_lookup_scram_sha256 (gpointer backend_data,
                         const char *user,
                         guint *out_iterations,
                         GBytes **out_salt,
                         guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                         guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                         GError **error)
{
  g_autoptr(PfTable) table = passwd_file_get_table (backend_data);
  const PfEntry *entry = apf_lookup (table, user);

  if (entry == NULL || entry->scram == NULL)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                           "No SCRAM-SHA-256 secret");
      return NULL;
    }
  *out_iterations = entry->scram->iterations;
  *out_salt = g_bytes_ref (entry->scram->salt);
  memcpy (out_stored_key, entry->scram->stored_key, PF_SCRAM_KEY_SIZE);
  memcpy (out_server_key, entry->scram->server_key, PF_SCRAM_KEY_SIZE);
  return g_strdup (entry->user);
}

static gboolean
apf_user_exists (gpointer backend_data, const char *user, GError **error)
{
  g_autoptr(PfTable) table = passwd_file_get_table (backend_data);

  return apf_lookup (table, user) != NULL;
}

static gboolean
apf_has_scram_sha256 (gpointer backend_data)
{
  g_autoptr(PfTable) table = passwd_file_get_table (backend_data);

  return pf_table_scram_count (table) > 0;
}

static const PosthornAuthBackendVTable apf_backend = {
  .struct_size = sizeof (PosthornAuthBackendVTable),
  .verify_password = apf_verify_password,
  .lookup_scram_sha256 = apf_lookup_scram_sha256,
  .user_exists = apf_user_exists,
  .has_scram_sha256 = apf_has_scram_sha256,
};

/* ---- reloading ---- */

typedef struct {
  PfTable *table;
  GPtrArray *problems;
} ReadResult;

static void
read_result_free (gpointer p)
{
  ReadResult *result = p;

  g_clear_pointer (&result->table, pf_table_unref);
  g_clear_pointer (&result->problems, g_ptr_array_unref);
  g_free (result);
}

static gpointer
apf_read_job (gpointer data, GCancellable *cancellable, GError **error)
{
  PasswdFile *pf = data;
  ReadResult *result = g_new0 (ReadResult, 1);

  result->table = passwd_file_read (pf->path, &result->problems, error);
  if (result->table == NULL)
    {
      read_result_free (result);
      return NULL;
    }
  return result;
}

static void apf_schedule_reload (PasswdFile *pf);

static void
apf_read_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PasswdFile *pf = user_data;
  g_autoptr(GError) error = NULL;
  ReadResult *result = posthorn_worker_finish (res, &error);

  pf->reload_running = FALSE;
  if (result == NULL)
    g_warning ("%s: cannot re-read: %s; the previous users stay", pf->path, error->message);
  else
    {
      passwd_file_report (pf, result->table, result->problems);
      passwd_file_set_table (pf, g_steal_pointer (&result->table));
      read_result_free (result);
    }
  if (pf->reload_again)
    {
      pf->reload_again = FALSE;
      apf_schedule_reload (pf);
    }
  passwd_file_unref (pf);
}

static gboolean
apf_reload_timeout (gpointer user_data)
{
  PasswdFile *pf = user_data;

  pf->reload_source = 0;
  if (pf->reload_running)
    {
      pf->reload_again = TRUE;
      return G_SOURCE_REMOVE;
    }
  pf->reload_running = TRUE;
  posthorn_worker_run (apf_read_job, passwd_file_ref (pf), passwd_file_unref,
                       read_result_free, NULL, apf_read_done, passwd_file_ref (pf));
  return G_SOURCE_REMOVE;
}

static void
apf_schedule_reload (PasswdFile *pf)
{
  if (pf->reload_source != 0)
    g_source_remove (pf->reload_source);
  pf->reload_source = g_timeout_add_full (G_PRIORITY_DEFAULT, APF_RELOAD_DEBOUNCE_MS,
                                          apf_reload_timeout, passwd_file_ref (pf),
                                          passwd_file_unref);
}

static void
apf_file_changed (GFileMonitor *monitor,
                  GFile *file,
                  GFile *other_file,
                  GFileMonitorEvent event,
                  gpointer user_data)
{
  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_RENAMED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
      apf_schedule_reload (user_data);
      break;
    default:
      break;
    }
}

/* ---- the plugin ---- */

static gboolean
apf_reload (PosthornPlugin *plugin, GError **error)
{
  PasswdFile *pf = posthorn_plugin_get_data (plugin);

  return passwd_file_load (pf, error);
}

static gboolean
apf_init (PosthornPlugin *plugin, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) monitor_error = NULL;
  PasswdFile *pf;

  if (!posthorn_config_get_path (plugin, "path", POSTHORN_SYSCONFDIR "/posthorn/users",
                                 POSTHORN_PATH_FILE_EXISTS, &path, error))
    return FALSE;

  pf = g_new0 (PasswdFile, 1);
  g_atomic_ref_count_init (&pf->ref);
  g_mutex_init (&pf->lock);
  pf->path = g_steal_pointer (&path);
  if (!passwd_file_load (pf, error))
    {
      passwd_file_unref (pf);
      return FALSE;
    }

  file = g_file_new_for_path (pf->path);
  pf->monitor = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &monitor_error);
  if (pf->monitor == NULL)
    g_warning ("%s: changes will need a reload: %s", pf->path, monitor_error->message);
  else
    g_signal_connect (pf->monitor, "changed", G_CALLBACK (apf_file_changed), pf);

  posthorn_plugin_set_data (plugin, pf, passwd_file_unref);
  posthorn_plugin_set_reload_func (plugin, apf_reload);
  posthorn_auth_register_backend (plugin, &apf_backend, passwd_file_ref (pf),
                                  passwd_file_unref);
  return TRUE;
}

static void
apf_shutdown (PosthornPlugin *plugin)
{
  PasswdFile *pf = posthorn_plugin_get_data (plugin);

  posthorn_auth_unregister_backend (plugin);
  if (pf == NULL)
    return;
  if (pf->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (pf->monitor, pf);
      g_file_monitor_cancel (pf->monitor);
      g_clear_object (&pf->monitor);
    }
  if (pf->reload_source != 0)
    {
      g_source_remove (pf->reload_source);
      pf->reload_source = 0;
    }
}

POSTHORN_PLUGIN_DEFINE (auth_passwd_file, "auth-passwd-file", POSTHORN_PLUGIN_KIND_AUTH,
                        "0.1.0", "LGPL-2.1-or-later",
                        "Users from a Dovecot-compatible passwd-file",
                        NULL, apf_init, apf_shutdown)
