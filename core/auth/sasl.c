/* SASL exchanges through GNU SASL. gsasl_step() runs on the worker pool
 * because the mechanisms call back synchronously for what the backends
 * know (PLAIN/LOGIN validate a password with crypt, SCRAM looks up
 * secrets); a session is touched by one thread at a time: the loop while
 * idle, one worker while a step is in flight.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "auth/auth-private.h"

#include <string.h>

/* posthornctl's and doveadm's default count, so unknown users look alike */
#define SCRAM_FAKE_ITERATIONS 4096
#define SCRAM_FAKE_SALT_SIZE 16

struct _PosthornSaslSession {
  gatomicrefcount ref;          /* the owner's and the step in flight's */
  PosthornConnection *conn;     /* referenced, may be NULL */
  char *mechanism;
  Gsasl_session *gsasl;
  GPtrArray *backends;
  char *cb_exporter_b64;        /* channel bindings (TLS only) */
  char *cb_unique_b64;

  /* written by the step's worker, read on the loop after it */
  char *user;                   /* canonical user after validation/lookup */
  gboolean scram_looked_up;
  gboolean scram_found;
  char *scram_iterations;
  char *scram_salt_b64;
  char *scram_stored_key_b64;
  char *scram_server_key_b64;
  GError *backend_error;        /* a database failure, not a wrong password */

  /* loop thread */
  gboolean busy;
  gboolean finished;
  gboolean cancelled;
  gboolean authenticated;
  PosthornSaslStepFunc callback;
  gpointer callback_data;
};

static guint8 sasl_fake_salt_key[32];
static GBytes *sasl_test_channel_binding[3];  /* by PosthornChannelBinding */

static int sasl_callback (Gsasl *ctx, Gsasl_session *gsasl, Gsasl_property prop);

Gsasl *
ph_auth_gsasl (void)
{
  static Gsasl *ctx;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      Gsasl *new_ctx = NULL;
      int rc = gsasl_init (&new_ctx);

      if (rc != GSASL_OK)
        g_error ("GNU SASL cannot start: %s", gsasl_strerror (rc));
      gsasl_callback_set (new_ctx, sasl_callback);
      for (gsize i = 0; i < sizeof sasl_fake_salt_key; i += sizeof (guint32))
        {
          guint32 r = g_random_int ();
          memcpy (sasl_fake_salt_key + i, &r, sizeof r);
        }
      ctx = new_ctx;
      g_once_init_leave (&initialized, 1);
    }
  return ctx;
}

static PosthornSaslSession *
sasl_session_ref (PosthornSaslSession *session)
{
  g_atomic_ref_count_inc (&session->ref);
  return session;
}

static void
sasl_session_unref (gpointer p)
{
  PosthornSaslSession *session = p;

  if (!g_atomic_ref_count_dec (&session->ref))
    return;
  gsasl_finish (session->gsasl);
  if (session->conn != NULL)
    posthorn_connection_unref (session->conn);
  g_ptr_array_unref (session->backends);
  g_free (session->mechanism);
  g_free (session->cb_exporter_b64);
  g_free (session->cb_unique_b64);
  g_free (session->user);
  g_free (session->scram_iterations);
  g_free (session->scram_salt_b64);
  g_free (session->scram_stored_key_b64);
  g_free (session->scram_server_key_b64);
  g_clear_error (&session->backend_error);
  g_free (session);
}

/* ---- mechanisms ---- */

static gboolean
sasl_is_plaintext (const char *mechanism)
{
  return g_ascii_strcasecmp (mechanism, "PLAIN") == 0
         || g_ascii_strcasecmp (mechanism, "LOGIN") == 0;
}

static char *
sasl_channel_binding_b64 (PosthornConnection *conn, PosthornChannelBinding type)
{
  g_autoptr(GBytes) data = NULL;
  gsize size;
  const guint8 *bytes;

  if (conn == NULL && sasl_test_channel_binding[type] != NULL)
    data = g_bytes_ref (sasl_test_channel_binding[type]);
  else if (conn == NULL || !posthorn_connection_is_tls (conn))
    return NULL;
  else
    data = posthorn_connection_get_channel_binding (conn, type, NULL);
  if (data == NULL)
    return NULL;
  bytes = g_bytes_get_data (data, &size);
  if (size == 0)
    return NULL;
  return g_base64_encode (bytes, size);
}

static gboolean
sasl_channel_binding_available (PosthornConnection *conn)
{
  g_autofree char *exporter = sasl_channel_binding_b64 (conn, POSTHORN_CHANNEL_BINDING_TLS_EXPORTER);
  g_autofree char *unique = NULL;

  if (exporter != NULL)
    return TRUE;
  unique = sasl_channel_binding_b64 (conn, POSTHORN_CHANNEL_BINDING_TLS_UNIQUE);
  return unique != NULL;
}

void
ph_auth_set_channel_binding_for_testing (GBytes *tls_exporter, GBytes *tls_unique)
{
  g_clear_pointer (&sasl_test_channel_binding[POSTHORN_CHANNEL_BINDING_TLS_EXPORTER], g_bytes_unref);
  g_clear_pointer (&sasl_test_channel_binding[POSTHORN_CHANNEL_BINDING_TLS_UNIQUE], g_bytes_unref);
  if (tls_exporter != NULL)
    sasl_test_channel_binding[POSTHORN_CHANNEL_BINDING_TLS_EXPORTER] = g_bytes_ref (tls_exporter);
  if (tls_unique != NULL)
    sasl_test_channel_binding[POSTHORN_CHANNEL_BINDING_TLS_UNIQUE] = g_bytes_ref (tls_unique);
}

GStrv
posthorn_auth_list_mechanisms (PosthornConnection *conn)
{
  Gsasl *ctx = ph_auth_gsasl ();
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (ph_auth_backends_have_scram ())
    {
      if (sasl_channel_binding_available (conn)
          && gsasl_server_support_p (ctx, "SCRAM-SHA-256-PLUS"))
        g_strv_builder_add (builder, "SCRAM-SHA-256-PLUS");
      if (gsasl_server_support_p (ctx, "SCRAM-SHA-256"))
        g_strv_builder_add (builder, "SCRAM-SHA-256");
    }
  if (posthorn_auth_plaintext_allowed (conn))
    {
      if (gsasl_server_support_p (ctx, "PLAIN"))
        g_strv_builder_add (builder, "PLAIN");
      if (gsasl_server_support_p (ctx, "LOGIN"))
        g_strv_builder_add (builder, "LOGIN");
    }
  return g_strv_builder_end (builder);
}

PosthornSaslSession *
posthorn_sasl_session_new (PosthornConnection *conn,
                           const char *service,
                           const char *mechanism,
                           GError **error)
{
  g_auto(GStrv) offered = NULL;
  PosthornSaslSession *session;
  Gsasl_session *gsasl = NULL;
  const char *name = NULL;
  int rc;

  g_return_val_if_fail (service != NULL, NULL);
  g_return_val_if_fail (mechanism != NULL, NULL);

  if (sasl_is_plaintext (mechanism) && !posthorn_auth_plaintext_allowed (conn))
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                           "Plaintext authentication disallowed on non-secure connections");
      return NULL;
    }

  offered = posthorn_auth_list_mechanisms (conn);
  for (guint i = 0; offered[i] != NULL; i++)
    if (g_ascii_strcasecmp (offered[i], mechanism) == 0)
      name = offered[i];
  if (name == NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                   "Unsupported authentication mechanism");
      return NULL;
    }

  rc = gsasl_server_start (ph_auth_gsasl (), name, &gsasl);
  if (rc != GSASL_OK)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "Cannot start %s: %s", name, gsasl_strerror (rc));
      return NULL;
    }

  session = g_new0 (PosthornSaslSession, 1);
  g_atomic_ref_count_init (&session->ref);
  session->conn = conn != NULL ? posthorn_connection_ref (conn) : NULL;
  session->mechanism = g_strdup (name);
  session->gsasl = gsasl;
  session->backends = ph_auth_backends_snapshot ();
  session->cb_exporter_b64 = sasl_channel_binding_b64 (conn, POSTHORN_CHANNEL_BINDING_TLS_EXPORTER);
  session->cb_unique_b64 = sasl_channel_binding_b64 (conn, POSTHORN_CHANNEL_BINDING_TLS_UNIQUE);
  gsasl_session_hook_set (gsasl, session);
  gsasl_property_set (gsasl, GSASL_SERVICE, service);
  return session;
}

/* ---- the gsasl callback: runs inside gsasl_step() on a worker ---- */

static void
sasl_record_backend_error (PosthornSaslSession *session, GError *error)
{
  if (session->backend_error == NULL
      && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED)
      && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
    session->backend_error = error;
  else
    g_error_free (error);
}

static int
sasl_validate_simple (PosthornSaslSession *session, Gsasl_session *gsasl)
{
  const char *authid = gsasl_property_fast (gsasl, GSASL_AUTHID);
  const char *authzid = gsasl_property_fast (gsasl, GSASL_AUTHZID);
  const char *password = gsasl_property_fast (gsasl, GSASL_PASSWORD);
  g_autofree char *user = NULL;
  g_autofree char *zuser = NULL;
  GError *error = NULL;
  char *canonical;

  if (authid == NULL || *authid == '\0' || password == NULL)
    return GSASL_AUTHENTICATION_ERROR;
  user = posthorn_auth_normalize_user (authid);
  if (authzid != NULL && *authzid != '\0')
    {
      zuser = posthorn_auth_normalize_user (authzid);
      if (strcmp (zuser, user) != 0)
        return GSASL_AUTHENTICATION_ERROR;
    }
  canonical = ph_auth_backends_verify_password (session->backends, user, password, &error);
  if (canonical == NULL)
    {
      sasl_record_backend_error (session, error);
      return GSASL_AUTHENTICATION_ERROR;
    }
  g_free (session->user);
  session->user = canonical;
  return GSASL_OK;
}

/* Looks the SCRAM secrets up once per exchange. An unknown user gets a
 * salt derived from the name and a process secret, so that the server's
 * first message does not tell which users exist; the exchange then fails
 * at the proof like a wrong password. */
static void
sasl_scram_lookup (PosthornSaslSession *session, Gsasl_session *gsasl)
{
  const char *authid = gsasl_property_fast (gsasl, GSASL_AUTHID);
  g_autofree char *user = NULL;
  guint iterations = 0;
  g_autoptr(GBytes) salt = NULL;
  guint8 stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE];
  guint8 server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE];
  GError *error = NULL;
  char *canonical = NULL;

  if (session->scram_looked_up)
    return;
  session->scram_looked_up = TRUE;

  user = posthorn_auth_normalize_user (authid != NULL ? authid : "");
  if (*user != '\0')
    canonical = ph_auth_backends_lookup_scram (session->backends, user, &iterations,
                                               &salt, stored_key, server_key, &error);
  if (canonical != NULL && salt != NULL && iterations > 0)
    {
      gsize salt_size;
      const guint8 *salt_data = g_bytes_get_data (salt, &salt_size);

      session->scram_found = TRUE;
      g_free (session->user);
      session->user = canonical;
      session->scram_iterations = g_strdup_printf ("%u", iterations);
      session->scram_salt_b64 = g_base64_encode (salt_data, salt_size);
      session->scram_stored_key_b64 = g_base64_encode (stored_key, sizeof stored_key);
      session->scram_server_key_b64 = g_base64_encode (server_key, sizeof server_key);
    }
  else
    {
      g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, sasl_fake_salt_key,
                                          sizeof sasl_fake_salt_key);
      guint8 digest[32];
      gsize digest_size = sizeof digest;

      g_free (canonical);
      if (error != NULL)
        sasl_record_backend_error (session, error);
      g_hmac_update (hmac, (const guchar *) user, -1);
      g_hmac_get_digest (hmac, digest, &digest_size);
      session->scram_iterations = g_strdup_printf ("%u", SCRAM_FAKE_ITERATIONS);
      session->scram_salt_b64 = g_base64_encode (digest, SCRAM_FAKE_SALT_SIZE);
    }
  explicit_bzero (stored_key, sizeof stored_key);
  explicit_bzero (server_key, sizeof server_key);
}

static int
sasl_set (Gsasl_session *gsasl, Gsasl_property prop, const char *value)
{
  if (value == NULL)
    return GSASL_NO_CALLBACK;
  return gsasl_property_set (gsasl, prop, value);
}

static int
sasl_callback (Gsasl *ctx, Gsasl_session *gsasl, Gsasl_property prop)
{
  PosthornSaslSession *session = gsasl_session_hook_get (gsasl);

  if (session == NULL)
    return GSASL_NO_CALLBACK;

  switch ((int) prop)
    {
    case GSASL_VALIDATE_SIMPLE:
      return sasl_validate_simple (session, gsasl);
    case GSASL_SCRAM_ITER:
      sasl_scram_lookup (session, gsasl);
      return sasl_set (gsasl, prop, session->scram_iterations);
    case GSASL_SCRAM_SALT:
      sasl_scram_lookup (session, gsasl);
      return sasl_set (gsasl, prop, session->scram_salt_b64);
    case GSASL_SCRAM_STOREDKEY:
      return sasl_set (gsasl, prop, session->scram_stored_key_b64);
    case GSASL_SCRAM_SERVERKEY:
      return sasl_set (gsasl, prop, session->scram_server_key_b64);
    case GSASL_CB_TLS_EXPORTER:
      return sasl_set (gsasl, prop, session->cb_exporter_b64);
    case GSASL_CB_TLS_UNIQUE:
      return sasl_set (gsasl, prop, session->cb_unique_b64);
    default:
      /* Never GSASL_PASSWORD: no backend hands out passwords. */
      return GSASL_NO_CALLBACK;
    }
}

/* ---- steps ---- */

gboolean
ph_auth_base64_valid (const char *text, gsize length)
{
  gsize padding = 0;

  if (length % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    {
      char c = text[i];

      if (c == '=')
        {
          if (i < length - 2 || ++padding > 2)
            return FALSE;
        }
      else if (padding > 0)
        return FALSE;
      else if (!g_ascii_isalnum (c) && c != '+' && c != '/')
        return FALSE;
    }
  return TRUE;
}

typedef struct {
  PosthornSaslSession *session;
  GBytes *input;                /* NULL: no initial response */
} StepJob;

typedef struct {
  int rc;
  char *output_b64;             /* NULL when the mechanism sent nothing */
} StepResult;

static void
step_job_free (gpointer p)
{
  StepJob *job = p;

  if (job->input != NULL)
    {
      gsize size;
      gpointer data = (gpointer) g_bytes_get_data (job->input, &size);
      if (size > 0)
        explicit_bzero (data, size);
      g_bytes_unref (job->input);
    }
  sasl_session_unref (job->session);
  g_free (job);
}

static void
step_result_free (gpointer p)
{
  StepResult *result = p;

  g_free (result->output_b64);
  g_free (result);
}

static gpointer
step_job_run (gpointer data, GCancellable *cancellable, GError **error)
{
  StepJob *job = data;
  StepResult *result = g_new0 (StepResult, 1);
  const char *input = NULL;
  gsize input_size = 0;
  char *output = NULL;
  size_t output_size = 0;

  if (job->input != NULL)
    input = g_bytes_get_data (job->input, &input_size);
  result->rc = gsasl_step (job->session->gsasl, input, input_size, &output, &output_size);
  if (output != NULL && (result->rc == GSASL_OK || result->rc == GSASL_NEEDS_MORE))
    result->output_b64 = g_base64_encode ((const guchar *) output, output_size);
  else if (result->rc == GSASL_NEEDS_MORE)
    result->output_b64 = g_strdup ("");
  gsasl_free (output);
  return result;
}

static void
sasl_fail_fire (GError *error, gpointer user_data)
{
  PosthornSaslSession *session = user_data;

  if (!session->cancelled)
    session->callback (session, POSTHORN_SASL_FAILURE, NULL, error, session->callback_data);
  g_error_free (error);
}

static void
sasl_fail (PosthornSaslSession *session, gboolean count, GError *error)
{
  session->finished = TRUE;
  ph_auth_report_failure (session->conn, count, error, sasl_fail_fire,
                          sasl_session_ref (session), sasl_session_unref);
}

static GError *
sasl_error_from_gsasl (PosthornSaslSession *session, int rc)
{
  switch (rc)
    {
    case GSASL_MECHANISM_PARSE_ERROR:
    case GSASL_BASE64_ERROR:
    case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
      return g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                  "Malformed authentication exchange");
    case GSASL_MALLOC_ERROR:
    case GSASL_CRYPTO_ERROR:
      return g_error_new (POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                          "Authentication error: %s", gsasl_strerror (rc));
    default:
      if (session->backend_error != NULL)
        return g_error_copy (session->backend_error);
      return ph_auth_failed_error ();
    }
}

/* SCRAM succeeds inside gsasl without a validate callback: make sure the
 * user was a real one and did not ask to act as someone else. */
static gboolean
sasl_success_checks (PosthornSaslSession *session)
{
  const char *authzid = gsasl_property_fast (session->gsasl, GSASL_AUTHZID);

  if (session->user == NULL)
    return FALSE;
  if (g_str_has_prefix (session->mechanism, "SCRAM-") && !session->scram_found)
    return FALSE;
  if (authzid != NULL && *authzid != '\0')
    {
      g_autofree char *zuser = posthorn_auth_normalize_user (authzid);
      if (strcmp (zuser, session->user) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
step_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PosthornSaslSession *session = user_data;
  GError *error = NULL;
  StepResult *result = posthorn_worker_finish (res, &error);

  session->busy = FALSE;
  if (session->cancelled)
    {
      g_clear_error (&error);
    }
  else if (result == NULL)
    {
      sasl_fail (session, FALSE, error);
    }
  else if (result->rc == GSASL_NEEDS_MORE)
    {
      session->callback (session, POSTHORN_SASL_CONTINUE, result->output_b64, NULL,
                         session->callback_data);
    }
  else if (result->rc == GSASL_OK && sasl_success_checks (session)
           && !ph_auth_admit_user (session->conn, session->user, &error))
    {
      /* Right credentials, one session too many: no failure delay. */
      session->finished = TRUE;
      session->callback (session, POSTHORN_SASL_FAILURE, NULL, error, session->callback_data);
      g_clear_error (&error);
    }
  else if (result->rc == GSASL_OK && sasl_success_checks (session))
    {
      session->finished = TRUE;
      session->authenticated = TRUE;
      ph_auth_report_success (session->conn);
      session->callback (session, POSTHORN_SASL_SUCCESS,
                         result->output_b64 != NULL && *result->output_b64 != '\0'
                           ? result->output_b64 : NULL,
                         NULL, session->callback_data);
    }
  else
    {
      int rc = result->rc == GSASL_OK ? GSASL_AUTHENTICATION_ERROR : result->rc;
      sasl_fail (session, TRUE, sasl_error_from_gsasl (session, rc));
    }
  g_clear_pointer (&result, step_result_free);
  sasl_session_unref (session);
}

void
posthorn_sasl_session_step (PosthornSaslSession *session,
                            const char *client_b64,
                            PosthornSaslStepFunc callback,
                            gpointer user_data)
{
  StepJob *job;
  GBytes *input = NULL;

  g_return_if_fail (session != NULL);
  g_return_if_fail (callback != NULL);
  g_return_if_fail (!session->busy);
  g_return_if_fail (!session->finished);

  session->callback = callback;
  session->callback_data = user_data;

  if (ph_auth_connection_limited (session->conn))
    {
      sasl_fail (session, FALSE,
                 g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_LIMIT,
                                      "Too many authentication failures"));
      return;
    }

  if (client_b64 != NULL)
    {
      gsize length = strlen (client_b64);

      if (length > POSTHORN_SASL_MAX_RESPONSE)
        {
          sasl_fail (session, TRUE,
                     g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                          "Authentication response too long"));
          return;
        }
      if (strcmp (client_b64, "=") == 0)
        length = 0;
      if (!ph_auth_base64_valid (client_b64, length))
        {
          sasl_fail (session, TRUE,
                     g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                                          "Invalid base64 data"));
          return;
        }
      if (length == 0)
        input = g_bytes_new (NULL, 0);
      else
        {
          gsize size;
          guchar *data = g_base64_decode (client_b64, &size);
          input = g_bytes_new_take (data, size);
        }
    }

  session->busy = TRUE;
  job = g_new0 (StepJob, 1);
  job->session = sasl_session_ref (session);
  job->input = input;
  posthorn_worker_run (step_job_run, job, step_job_free, step_result_free, NULL,
                       step_done, sasl_session_ref (session));
}

void
posthorn_sasl_session_cancel (PosthornSaslSession *session)
{
  g_return_if_fail (session != NULL);

  session->cancelled = TRUE;
  session->finished = TRUE;
}

const char *
posthorn_sasl_session_get_user (PosthornSaslSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->authenticated ? session->user : NULL;
}

const char *
posthorn_sasl_session_get_mechanism (PosthornSaslSession *session)
{
  g_return_val_if_fail (session != NULL, NULL);
  return session->mechanism;
}

void
posthorn_sasl_session_free (PosthornSaslSession **session)
{
  PosthornSaslSession *s;

  g_return_if_fail (session != NULL);

  s = g_steal_pointer (session);
  if (s == NULL)
    return;
  s->cancelled = TRUE;
  s->finished = TRUE;
  sasl_session_unref (s);
}

/* ---- secrets ---- */

char *
ph_auth_scram_sha256_secret_new (const char *password,
                                 guint iterations,
                                 GError **error)
{
  char salt[16];
  char salted[GSASL_HASH_MAX_SIZE];
  char client_key[GSASL_HASH_MAX_SIZE];
  char server_key[GSASL_HASH_MAX_SIZE];
  char stored_key[GSASL_HASH_MAX_SIZE];
  g_autofree char *salt_b64 = NULL;
  g_autofree char *stored_b64 = NULL;
  g_autofree char *server_b64 = NULL;
  int rc;

  ph_auth_gsasl ();
  rc = gsasl_nonce (salt, sizeof salt);
  if (rc == GSASL_OK)
    rc = gsasl_scram_secrets_from_password (GSASL_HASH_SHA256, password, iterations,
                                            salt, sizeof salt, salted, client_key,
                                            server_key, stored_key);
  if (rc != GSASL_OK)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "Cannot compute the SCRAM-SHA-256 secret: %s", gsasl_strerror (rc));
      return NULL;
    }
  salt_b64 = g_base64_encode ((const guchar *) salt, sizeof salt);
  stored_b64 = g_base64_encode ((const guchar *) stored_key, GSASL_HASH_SHA256_SIZE);
  server_b64 = g_base64_encode ((const guchar *) server_key, GSASL_HASH_SHA256_SIZE);
  explicit_bzero (salted, sizeof salted);
  explicit_bzero (client_key, sizeof client_key);
  return g_strdup_printf ("%u,%s,%s,%s", iterations, salt_b64, stored_b64, server_b64);
}
