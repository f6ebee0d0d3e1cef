/* Backends, policy and throttle of the core's authentication.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "auth/auth-private.h"

#include <string.h>

#define AUTH_FAILED_TEXT "Authentication failed"
#define AUTH_LIMIT_TEXT "Too many authentication failures"
#define PEER_FORGET_US ((gint64) G_USEC_PER_SEC * 3600)
#define PEER_TABLE_MAX 65536

struct _PhAuthBackend {
  gatomicrefcount ref;
  PosthornPlugin *plugin;
  PosthornAuthBackendVTable vtable;
  gpointer data;
  GDestroyNotify destroy;
};

typedef struct {
  guint failures;
  gint64 last_failure_us;
} PeerEntry;

typedef struct {
  PosthornConnection *conn;  /* referenced; NULL for the unit-test peer */
  guint failures;
} ConnEntry;

static GPtrArray *auth_backends;      /* PhAuthBackend*, loop thread */
static GHashTable *auth_peers;        /* peer address → PeerEntry */
static GHashTable *auth_connections;  /* PosthornConnection* → ConnEntry */
static gint64 auth_last_prune_us;
static gboolean auth_policy_overridden;
static PhAuthPolicy auth_policy_override;

/* ---- policy ---- */

PhAuthPolicy
ph_auth_get_policy (void)
{
  PhAuthPolicy policy = { FALSE, 500, 15000, 5 };
  const PhSettings *settings;

  if (auth_policy_overridden)
    return auth_policy_override;

  settings = ph_settings ();
  if (settings != NULL && settings->config_file != NULL)
    {
      policy.allow_plaintext_always =
        g_strcmp0 (settings->auth_allow_plaintext, "always") == 0;
      policy.failure_delay_ms = settings->auth_failure_delay_ms;
      policy.failure_delay_max_ms = MAX (settings->auth_failure_delay_max_ms,
                                         settings->auth_failure_delay_ms);
      policy.max_failures = settings->auth_max_failures;
    }
  return policy;
}

void
ph_auth_set_policy_for_testing (const PhAuthPolicy *policy)
{
  auth_policy_overridden = policy != NULL;
  if (policy != NULL)
    auth_policy_override = *policy;
  g_clear_pointer (&auth_peers, g_hash_table_unref);
  g_clear_pointer (&auth_connections, g_hash_table_unref);
}

GError *
ph_auth_failed_error (void)
{
  return g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED,
                              AUTH_FAILED_TEXT);
}

char *
posthorn_auth_normalize_user (const char *user)
{
  g_return_val_if_fail (user != NULL, NULL);
  return g_ascii_strdown (user, -1);
}

gboolean
posthorn_auth_plaintext_allowed (PosthornConnection *conn)
{
  if (conn == NULL || ph_auth_get_policy ().allow_plaintext_always)
    return TRUE;
  return posthorn_connection_is_tls (conn) || posthorn_connection_is_loopback (conn);
}

/* ---- backends ---- */

static PhAuthBackend *
auth_backend_ref (PhAuthBackend *backend)
{
  g_atomic_ref_count_inc (&backend->ref);
  return backend;
}

static void
auth_backend_unref (gpointer p)
{
  PhAuthBackend *backend = p;

  if (!g_atomic_ref_count_dec (&backend->ref))
    return;
  if (backend->destroy != NULL)
    backend->destroy (backend->data);
  g_free (backend);
}

void
posthorn_auth_register_backend (PosthornPlugin *plugin,
                                const PosthornAuthBackendVTable *vtable,
                                gpointer backend_data,
                                GDestroyNotify destroy)
{
  PhAuthBackend *backend;

  g_return_if_fail (vtable != NULL);
  g_return_if_fail (vtable->struct_size >= sizeof (gsize));

  backend = g_new0 (PhAuthBackend, 1);
  g_atomic_ref_count_init (&backend->ref);
  backend->plugin = plugin;
  memcpy (&backend->vtable, vtable,
          MIN (vtable->struct_size, sizeof (PosthornAuthBackendVTable)));
  backend->vtable.struct_size = sizeof (PosthornAuthBackendVTable);
  backend->data = backend_data;
  backend->destroy = destroy;

  if (auth_backends == NULL)
    auth_backends = g_ptr_array_new_with_free_func (auth_backend_unref);
  g_ptr_array_add (auth_backends, backend);
}

void
posthorn_auth_unregister_backend (PosthornPlugin *plugin)
{
  if (auth_backends == NULL)
    return;
  for (guint i = auth_backends->len; i > 0; i--)
    {
      PhAuthBackend *backend = g_ptr_array_index (auth_backends, i - 1);
      if (backend->plugin == plugin)
        g_ptr_array_remove_index (auth_backends, i - 1);
    }
}

GPtrArray *
ph_auth_backends_snapshot (void)
{
  GPtrArray *snapshot = g_ptr_array_new_with_free_func (auth_backend_unref);

  for (guint i = 0; auth_backends != NULL && i < auth_backends->len; i++)
    g_ptr_array_add (snapshot, auth_backend_ref (g_ptr_array_index (auth_backends, i)));
  return snapshot;
}

gboolean
ph_auth_backends_have_scram (void)
{
  for (guint i = 0; auth_backends != NULL && i < auth_backends->len; i++)
    {
      PhAuthBackend *backend = g_ptr_array_index (auth_backends, i);
      if (backend->vtable.lookup_scram_sha256 != NULL
          && backend->vtable.has_scram_sha256 != NULL
          && backend->vtable.has_scram_sha256 (backend->data))
        return TRUE;
    }
  return FALSE;
}

/* Keeps the first error that is not "no such user/wrong password", so that
 * a database outage is not reported as a wrong password. */
static void
auth_keep_error (GError **kept, GError *error)
{
  if (error == NULL)
    return;
  if (*kept == NULL
      && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED)
      && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
    *kept = error;
  else
    g_error_free (error);
}

char *
ph_auth_backends_verify_password (GPtrArray *backends,
                                  const char *user,
                                  const char *password,
                                  GError **error)
{
  GError *kept = NULL;

  for (guint i = 0; i < backends->len; i++)
    {
      PhAuthBackend *backend = g_ptr_array_index (backends, i);
      GError *local_error = NULL;
      char *canonical;

      if (backend->vtable.verify_password == NULL)
        continue;
      canonical = backend->vtable.verify_password (backend->data, user, password,
                                                   &local_error);
      if (canonical != NULL)
        {
          g_clear_error (&kept);
          g_clear_error (&local_error);
          return canonical;
        }
      auth_keep_error (&kept, local_error);
    }
  if (kept != NULL)
    g_propagate_error (error, kept);
  else
    g_propagate_error (error, ph_auth_failed_error ());
  return NULL;
}

char *
ph_auth_backends_lookup_scram (GPtrArray *backends,
                               const char *user,
                               guint *out_iterations,
                               GBytes **out_salt,
                               guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                               guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                               GError **error)
{
  GError *kept = NULL;

  for (guint i = 0; i < backends->len; i++)
    {
      PhAuthBackend *backend = g_ptr_array_index (backends, i);
      GError *local_error = NULL;
      char *canonical;

      if (backend->vtable.lookup_scram_sha256 == NULL)
        continue;
      canonical = backend->vtable.lookup_scram_sha256 (backend->data, user,
                                                       out_iterations, out_salt,
                                                       out_stored_key, out_server_key,
                                                       &local_error);
      if (canonical != NULL)
        {
          g_clear_error (&kept);
          g_clear_error (&local_error);
          return canonical;
        }
      auth_keep_error (&kept, local_error);
    }
  if (kept != NULL)
    g_propagate_error (error, kept);
  else
    g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                         "No SCRAM-SHA-256 secret");
  return NULL;
}

/* ---- throttle ---- */

static void
conn_entry_free (gpointer p)
{
  ConnEntry *entry = p;

  if (entry->conn != NULL)
    posthorn_connection_unref (entry->conn);
  g_free (entry);
}

static const char *
auth_peer_key (PosthornConnection *conn)
{
  const char *peer;

  if (conn == NULL)
    return "";
  peer = posthorn_connection_get_peer_address (conn);
  return peer != NULL ? peer : "";
}

/* Forgets closed connections and peers quiet for an hour; keeps the peer
 * table bounded so that a flood of addresses cannot grow it forever. */
static void
auth_prune (gint64 now)
{
  GHashTableIter iter;
  gpointer key, value;

  if (now - auth_last_prune_us < G_USEC_PER_SEC)
    return;
  auth_last_prune_us = now;
  if (auth_connections != NULL)
    {
      g_hash_table_iter_init (&iter, auth_connections);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          ConnEntry *entry = value;
          if (entry->conn != NULL && posthorn_connection_is_closed (entry->conn))
            g_hash_table_iter_remove (&iter);
        }
    }
  if (auth_peers != NULL)
    {
      gboolean full = g_hash_table_size (auth_peers) >= PEER_TABLE_MAX;
      g_hash_table_iter_init (&iter, auth_peers);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          PeerEntry *entry = value;
          if (full || now - entry->last_failure_us > PEER_FORGET_US)
            g_hash_table_iter_remove (&iter);
        }
    }
}

static ConnEntry *
auth_conn_entry (PosthornConnection *conn, gboolean create)
{
  ConnEntry *entry;

  if (auth_connections == NULL)
    {
      if (!create)
        return NULL;
      auth_connections = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                                NULL, conn_entry_free);
    }
  entry = g_hash_table_lookup (auth_connections, conn);
  if (entry == NULL && create)
    {
      entry = g_new0 (ConnEntry, 1);
      entry->conn = conn != NULL ? posthorn_connection_ref (conn) : NULL;
      g_hash_table_insert (auth_connections, conn, entry);
    }
  return entry;
}

gboolean
ph_auth_connection_limited (PosthornConnection *conn)
{
  PhAuthPolicy policy = ph_auth_get_policy ();
  ConnEntry *entry = auth_conn_entry (conn, FALSE);

  return policy.max_failures > 0 && entry != NULL
         && entry->failures >= policy.max_failures;
}

typedef struct {
  GError *error;
  PhAuthFailureFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} DelayedFailure;

static gboolean
delayed_failure_fire (gpointer p)
{
  DelayedFailure *failure = p;

  failure->func (g_steal_pointer (&failure->error), failure->user_data);
  return G_SOURCE_REMOVE;
}

static void
delayed_failure_free (gpointer p)
{
  DelayedFailure *failure = p;

  g_clear_error (&failure->error);
  if (failure->destroy != NULL)
    failure->destroy (failure->user_data);
  g_free (failure);
}

void
ph_auth_report_failure (PosthornConnection *conn,
                        gboolean count_for_limit,
                        GError *error,
                        PhAuthFailureFunc func,
                        gpointer user_data,
                        GDestroyNotify destroy)
{
  PhAuthPolicy policy = ph_auth_get_policy ();
  gint64 now = g_get_monotonic_time ();
  const char *peer = auth_peer_key (conn);
  PeerEntry *peer_entry;
  guint64 delay_ms;
  DelayedFailure *failure;
  g_autoptr(GSource) source = NULL;

  auth_prune (now);

  if (count_for_limit)
    {
      ConnEntry *entry = auth_conn_entry (conn, TRUE);

      entry->failures++;
      if (policy.max_failures > 0 && entry->failures >= policy.max_failures
          && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT))
        {
          g_error_free (error);
          error = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_LIMIT,
                                       AUTH_LIMIT_TEXT);
        }
    }

  if (auth_peers == NULL)
    auth_peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  peer_entry = g_hash_table_lookup (auth_peers, peer);
  if (peer_entry == NULL)
    {
      peer_entry = g_new0 (PeerEntry, 1);
      g_hash_table_insert (auth_peers, g_strdup (peer), peer_entry);
    }
  peer_entry->failures = MIN (peer_entry->failures + 1, 32u);
  peer_entry->last_failure_us = now;

  delay_ms = (guint64) policy.failure_delay_ms << (peer_entry->failures - 1);
  delay_ms = MIN (delay_ms, MAX (policy.failure_delay_max_ms, policy.failure_delay_ms));

  if (conn != NULL)
    {
      posthorn_connection_count (conn, "logins_failed", 1);
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO,
                               "authentication failed (%s), answered after %u ms",
                               error->message, (guint) delay_ms);
    }

  failure = g_new0 (DelayedFailure, 1);
  failure->error = error;
  failure->func = func;
  failure->user_data = user_data;
  failure->destroy = destroy;

  source = g_timeout_source_new ((guint) delay_ms);
  g_source_set_static_name (source, "posthorn-auth-failure-delay");
  g_source_set_callback (source, delayed_failure_fire, failure, delayed_failure_free);
  g_source_attach (source, g_main_context_get_thread_default ());
}

void
ph_auth_report_success (PosthornConnection *conn)
{
  auth_prune (g_get_monotonic_time ());
  if (auth_peers != NULL)
    g_hash_table_remove (auth_peers, auth_peer_key (conn));
  if (conn != NULL)
    posthorn_connection_count (conn, "logins", 1);
}

gboolean
ph_auth_admit_user (PosthornConnection *conn, const char *user, GError **error)
{
  const char *reason = NULL;

  if (conn == NULL)
    return TRUE;
  if (!ph_net_user_sessions_allow (conn, user, &reason))
    {
      posthorn_connection_count (conn, "logins_over_session_limit", 1);
      posthorn_connection_log (conn, G_LOG_LEVEL_INFO, "login of %s refused: %s", user, reason);
      /* @reason names the key: max_sessions_per_user or max_sessions_per_user_ip */
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_IN_USE,
                           g_str_has_prefix (reason, "[core] max_sessions_per_user_ip")
                           ? "Too many sessions for this user from this address"
                           : "Too many sessions for this user");
      return FALSE;
    }
  posthorn_connection_set_user (conn, user);
  return TRUE;
}

/* ---- clear-text password and user lookups ---- */

typedef struct {
  GPtrArray *backends;
  char *user;
  char *password;
} VerifyJob;

static void
verify_job_free (gpointer p)
{
  VerifyJob *job = p;

  g_ptr_array_unref (job->backends);
  g_free (job->user);
  if (job->password != NULL)
    explicit_bzero (job->password, strlen (job->password));
  g_free (job->password);
  g_free (job);
}

static gpointer
verify_job_run (gpointer data, GCancellable *cancellable, GError **error)
{
  VerifyJob *job = data;

  return ph_auth_backends_verify_password (job->backends, job->user,
                                           job->password, error);
}

typedef struct {
  GTask *task;
  PosthornConnection *conn;
} AsyncCall;

static AsyncCall *
async_call_new (PosthornConnection *conn, GTask *task)
{
  AsyncCall *call = g_new0 (AsyncCall, 1);

  call->task = task;
  call->conn = conn != NULL ? posthorn_connection_ref (conn) : NULL;
  return call;
}

static void
async_call_free (gpointer p)
{
  AsyncCall *call = p;

  g_clear_object (&call->task);
  if (call->conn != NULL)
    posthorn_connection_unref (call->conn);
  g_free (call);
}

static void
async_call_return_error (GError *error, gpointer user_data)
{
  AsyncCall *call = user_data;

  g_task_return_error (call->task, error);
}

static void
verify_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncCall *call = user_data;
  GError *error = NULL;
  char *user = posthorn_worker_finish (result, &error);

  if (user != NULL)
    {
      if (ph_auth_admit_user (call->conn, user, &error))
        {
          ph_auth_report_success (call->conn);
          g_task_return_pointer (call->task, user, g_free);
        }
      else
        {
          g_free (user);
          g_task_return_error (call->task, error);
        }
      async_call_free (call);
      return;
    }
  ph_auth_report_failure (call->conn, TRUE, error, async_call_return_error,
                          call, async_call_free);
}

void
posthorn_auth_verify_password_async (PosthornConnection *conn,
                                     const char *user,
                                     const char *password,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  GTask *task;
  VerifyJob *job;

  g_return_if_fail (user != NULL);
  g_return_if_fail (password != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, posthorn_auth_verify_password_async);

  if (!posthorn_auth_plaintext_allowed (conn))
    {
      g_task_return_new_error (task, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                               "Plaintext authentication disallowed on non-secure connections");
      g_object_unref (task);
      return;
    }
  if (ph_auth_connection_limited (conn))
    {
      ph_auth_report_failure (conn, FALSE,
                              g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_LIMIT,
                                                   AUTH_LIMIT_TEXT),
                              async_call_return_error, async_call_new (conn, task),
                              async_call_free);
      return;
    }

  job = g_new0 (VerifyJob, 1);
  job->backends = ph_auth_backends_snapshot ();
  job->user = posthorn_auth_normalize_user (user);
  job->password = g_strdup (password);
  posthorn_worker_run (verify_job_run, job, verify_job_free, g_free, NULL,
                       verify_done, async_call_new (conn, task));
}

char *
posthorn_auth_verify_password_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  GPtrArray *backends;
  char *user;
} ExistsJob;

static void
exists_job_free (gpointer p)
{
  ExistsJob *job = p;

  g_ptr_array_unref (job->backends);
  g_free (job->user);
  g_free (job);
}

/* Returns the user name if it exists, "" if not, NULL with @error if no
 * backend could answer. */
static gpointer
exists_job_run (gpointer data, GCancellable *cancellable, GError **error)
{
  ExistsJob *job = data;
  GError *kept = NULL;

  for (guint i = 0; i < job->backends->len; i++)
    {
      PhAuthBackend *backend = g_ptr_array_index (job->backends, i);
      GError *local_error = NULL;

      if (backend->vtable.user_exists == NULL)
        continue;
      if (backend->vtable.user_exists (backend->data, job->user, &local_error))
        {
          g_clear_error (&kept);
          return g_strdup (job->user);
        }
      auth_keep_error (&kept, local_error);
    }
  if (kept != NULL)
    {
      g_propagate_error (error, kept);
      return NULL;
    }
  return g_strdup ("");
}

static void
exists_unknown_fire (GError *error, gpointer user_data)
{
  AsyncCall *call = user_data;

  g_error_free (error);
  g_task_return_pointer (call->task, g_strdup (""), g_free);
}

static void
exists_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncCall *call = user_data;
  GError *error = NULL;
  char *user = posthorn_worker_finish (result, &error);

  if (user == NULL)
    {
      g_task_return_error (call->task, error);
      async_call_free (call);
    }
  else if (*user == '\0')
    {
      g_free (user);
      ph_auth_report_failure (call->conn, FALSE,
                              g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                                                   "No such user"),
                              exists_unknown_fire, call, async_call_free);
    }
  else
    {
      g_task_return_pointer (call->task, user, g_free);
      async_call_free (call);
    }
}

void
posthorn_auth_user_exists_async (PosthornConnection *conn,
                                 const char *user,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  GTask *task;
  ExistsJob *job;

  g_return_if_fail (user != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, posthorn_auth_user_exists_async);

  job = g_new0 (ExistsJob, 1);
  job->backends = ph_auth_backends_snapshot ();
  job->user = posthorn_auth_normalize_user (user);
  posthorn_worker_run (exists_job_run, job, exists_job_free, g_free, NULL,
                       exists_done, async_call_new (conn, task));
}

gboolean
posthorn_auth_user_exists_finish (GAsyncResult *result,
                                  char **out_canonical_user,
                                  GError **error)
{
  g_autofree char *user = NULL;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  user = g_task_propagate_pointer (G_TASK (result), error);
  if (user == NULL || *user == '\0')
    return FALSE;
  if (out_canonical_user != NULL)
    *out_canonical_user = g_steal_pointer (&user);
  return TRUE;
}
