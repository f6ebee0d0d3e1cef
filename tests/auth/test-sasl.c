/* The core's SASL API driven by a client-side GNU SASL, against an
 * in-process backend over the passwd-file fixtures: every mechanism, the
 * failure modes, the throttle.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "auth/auth-private.h"
#include "passwd-file.h"

#include <string.h>

/* ---- an in-process backend over tests/auth/data/users ---- */

static char *
tb_verify_password (gpointer data, const char *user, const char *password, GError **error)
{
  const PfEntry *entry = pf_table_lookup (data, user);

  if (entry == NULL || !pf_entry_verify (entry, password))
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED,
                           "Authentication failed");
      return NULL;
    }
  return g_strdup (entry->user);
}

static char *
tb_lookup_scram (gpointer data, const char *user, guint *out_iterations, GBytes **out_salt,
                 guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                 guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE], GError **error)
{
  const PfEntry *entry = pf_table_lookup (data, user);

  if (entry == NULL || entry->scram == NULL)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "none");
      return NULL;
    }
  *out_iterations = entry->scram->iterations;
  *out_salt = g_bytes_ref (entry->scram->salt);
  memcpy (out_stored_key, entry->scram->stored_key, 32);
  memcpy (out_server_key, entry->scram->server_key, 32);
  return g_strdup (entry->user);
}

static gboolean
tb_user_exists (gpointer data, const char *user, GError **error)
{
  return pf_table_lookup (data, user) != NULL;
}

static gboolean
tb_has_scram (gpointer data)
{
  return pf_table_scram_count (data) > 0;
}

static const PosthornAuthBackendVTable test_backend = {
  .struct_size = sizeof (PosthornAuthBackendVTable),
  .verify_password = tb_verify_password,
  .lookup_scram_sha256 = tb_lookup_scram,
  .user_exists = tb_user_exists,
  .has_scram_sha256 = tb_has_scram,
};

/* Stands for the plugin handle; only its address is used. */
static int fake_plugin;
#define FAKE_PLUGIN ((PosthornPlugin *) &fake_plugin)

typedef struct {
  Gsasl *client;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  static const PhAuthPolicy no_delay = { FALSE, 0, 0, 0 };
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "auth", "data", "users", NULL);
  g_autofree char *text = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (path, &text, &length, NULL));
  posthorn_auth_register_backend (FAKE_PLUGIN, &test_backend,
                                  pf_table_parse (text, length, NULL),
                                  (GDestroyNotify) pf_table_unref);
  ph_auth_set_policy_for_testing (data != NULL ? data : &no_delay);
  g_assert_cmpint (gsasl_init (&f->client), ==, GSASL_OK);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  posthorn_auth_unregister_backend (FAKE_PLUGIN);
  ph_auth_set_policy_for_testing (NULL);
  ph_auth_set_channel_binding_for_testing (NULL, NULL);
  gsasl_done (f->client);
}

/* ---- driving steps ---- */

typedef struct {
  gboolean done;
  PosthornSaslStatus status;
  char *server_b64;
  GError *error;
  gint64 done_at;
} Outcome;

static void
outcome_clear (Outcome *o)
{
  g_clear_pointer (&o->server_b64, g_free);
  g_clear_error (&o->error);
  memset (o, 0, sizeof *o);
}

static void
on_step (PosthornSaslSession *session, PosthornSaslStatus status, const char *server_b64,
         const GError *error, gpointer user_data)
{
  Outcome *o = user_data;

  g_assert_false (o->done);
  o->done = TRUE;
  o->status = status;
  o->server_b64 = g_strdup (server_b64);
  o->error = error != NULL ? g_error_copy (error) : NULL;
  o->done_at = g_get_monotonic_time ();
}

static void
step_sync (PosthornSaslSession *session, const char *client_b64, Outcome *o)
{
  outcome_clear (o);
  posthorn_sasl_session_step (session, client_b64, on_step, o);
  g_assert_false (o->done);  /* never from inside step() */
  while (!o->done)
    g_main_context_iteration (NULL, TRUE);
}

/* Runs a whole exchange with a gsasl client; returns the final outcome. */
static void
run_exchange_cb (Fixture *f, const char *mechanism, const char *user, const char *password,
                 gboolean initial_response, const char *cb_exporter_b64,
                 const char *cb_unique_b64, Outcome *o)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "imap", mechanism, &error);
  Gsasl_session *client = NULL;
  char *client_b64 = NULL;
  int rc = GSASL_NEEDS_MORE;
  g_autofree char *client_mechanism = g_ascii_strup (mechanism, -1);

  g_assert_no_error (error);
  g_assert_nonnull (session);
  g_assert_cmpint (gsasl_client_start (f->client, client_mechanism, &client), ==, GSASL_OK);
  gsasl_property_set (client, GSASL_AUTHID, user);
  gsasl_property_set (client, GSASL_PASSWORD, password);
  if (cb_exporter_b64 != NULL)
    gsasl_property_set (client, GSASL_CB_TLS_EXPORTER, cb_exporter_b64);
  if (cb_unique_b64 != NULL)
    gsasl_property_set (client, GSASL_CB_TLS_UNIQUE, cb_unique_b64);

  if (initial_response)
    {
      rc = gsasl_step64 (client, "", &client_b64);
      g_assert_true (rc == GSASL_OK || rc == GSASL_NEEDS_MORE);
      step_sync (session, client_b64, o);
    }
  else
    step_sync (session, NULL, o);
  while (o->status == POSTHORN_SASL_CONTINUE)
    {
      g_free (client_b64);
      client_b64 = NULL;
      rc = gsasl_step64 (client, o->server_b64, &client_b64);
      g_assert_true (rc == GSASL_OK || rc == GSASL_NEEDS_MORE);
      step_sync (session, client_b64, o);
    }
  if (o->status == POSTHORN_SASL_SUCCESS)
    {
      g_assert_cmpstr (posthorn_sasl_session_get_user (session), !=, NULL);
      if (o->server_b64 != NULL)
        {
          /* SCRAM: the client checks the server's signature */
          g_free (client_b64);
          client_b64 = NULL;
          g_assert_cmpint (gsasl_step64 (client, o->server_b64, &client_b64), ==, GSASL_OK);
        }
    }
  else
    g_assert_null (posthorn_sasl_session_get_user (session));
  g_free (client_b64);
  gsasl_finish (client);
  posthorn_sasl_session_free (&session);
  g_assert_null (session);
}

static void
run_exchange (Fixture *f, const char *mechanism, const char *user, const char *password,
              gboolean initial_response, Outcome *o)
{
  run_exchange_cb (f, mechanism, user, password, initial_response, NULL, NULL, o);
}

/* A PLAIN response: authzid NUL authcid NUL password, base64. */
static char *
plain_b64 (const char *authzid, const char *user, const char *password)
{
  g_autoptr(GString) msg = g_string_new (authzid);

  g_string_append_len (msg, "", 1);
  g_string_append (msg, user);
  g_string_append_len (msg, "", 1);
  g_string_append (msg, password);
  return g_base64_encode ((const guchar *) msg->str, msg->len);
}

/* ---- tests ---- */

static void
test_mechanisms (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) mechanisms = posthorn_auth_list_mechanisms (NULL);
  g_autofree char *joined = g_strjoinv (" ", mechanisms);

  /* no TLS session: no -PLUS; SCRAM because the fixture has secrets */
  g_assert_cmpstr (joined, ==, "SCRAM-SHA-256 PLAIN LOGIN");
  g_assert_true (posthorn_auth_plaintext_allowed (NULL));
}

static void
test_mechanisms_without_scram (void)
{
  g_auto(GStrv) mechanisms = posthorn_auth_list_mechanisms (NULL);
  g_autofree char *joined = g_strjoinv (" ", mechanisms);
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session;

  g_assert_cmpstr (joined, ==, "PLAIN LOGIN");
  session = posthorn_sasl_session_new (NULL, "imap", "SCRAM-SHA-256", &error);
  g_assert_null (session);
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED);
}

static void
test_unsupported (Fixture *f, gconstpointer data)
{
  static const char *const names[] = { "SCRAM-SHA-256-PLUS", "CRAM-MD5", "GSSAPI", "X-NOPE", "" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GError) error = NULL;
      PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "smtp", names[i], &error);
      g_assert_null (session);
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED);
    }
}

static void
test_plain_initial_response (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };

  run_exchange (f, "PLAIN", "plain@example.org", "pw-plain", TRUE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  g_assert_null (o.server_b64);
  outcome_clear (&o);
}

static void
test_plain_no_initial_response (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };

  /* mixed case login name, crypt hash */
  run_exchange (f, "plain", "SHA512@Example.ORG", "pw-sha512", FALSE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);
}

static void
test_plain_user_name (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "pop", "PLAIN", &error);
  g_autofree char *b64 = plain_b64 ("", "Mixed.Case@example.org", "pw-Mixed.Case");
  Outcome o = { 0 };

  step_sync (session, b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  g_assert_cmpstr (posthorn_sasl_session_get_user (session), ==, "mixed.case@example.org");
  g_assert_cmpstr (posthorn_sasl_session_get_mechanism (session), ==, "PLAIN");
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
test_plain_authzid (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "imap", "PLAIN", &error);
  g_autofree char *b64 = plain_b64 ("sha256@example.org", "plain@example.org", "pw-plain");
  Outcome o = { 0 };

  /* acting as another user is not offered */
  step_sync (session, b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
test_login (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };

  run_exchange (f, "LOGIN", "blf@example.org", "pw-blf", FALSE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);
  run_exchange (f, "LOGIN", "blf@example.org", "pw-nope", FALSE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  outcome_clear (&o);
}

static void
test_scram (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };

  run_exchange (f, "SCRAM-SHA-256", "scram@example.org", "pw-scram", TRUE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  g_assert_nonnull (o.server_b64);
  outcome_clear (&o);

  /* the secret in the extra field next to a crypt hash */
  run_exchange (f, "SCRAM-SHA-256", "both@example.org", "pw-both", TRUE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);

  /* PLAIN also works against a {SCRAM-SHA-256} password field */
  run_exchange (f, "PLAIN", "scram@example.org", "pw-scram", TRUE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);
}

static void
test_scram_wrong (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };
  g_autofree char *wrong_message = NULL;

  run_exchange (f, "SCRAM-SHA-256", "scram@example.org", "pw-wrong", TRUE, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  wrong_message = g_strdup (o.error->message);
  outcome_clear (&o);

  /* a user without SCRAM secret and an unknown user fail the same way */
  run_exchange (f, "SCRAM-SHA-256", "plain@example.org", "pw-plain", TRUE, &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_cmpstr (o.error->message, ==, wrong_message);
  outcome_clear (&o);
  run_exchange (f, "SCRAM-SHA-256", "nobody@example.org", "pw", TRUE, &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_cmpstr (o.error->message, ==, wrong_message);
  outcome_clear (&o);
}

static char *
b64 (const char *text)
{
  return g_base64_encode ((const guchar *) text, strlen (text));
}

static char *
unb64 (const char *text)
{
  gsize size;
  guchar *data = g_base64_decode (text, &size);
  char *out = g_strndup ((const char *) data, size);

  g_free (data);
  return out;
}

static void
hmac256 (const char *key, gsize key_size, const char *text, guint8 out[32])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) key, key_size);
  gsize size = 32;

  g_hmac_update (hmac, (const guchar *) text, -1);
  g_hmac_get_digest (hmac, out, &size);
}

/* RFC 7677 section 3, with the RFC's client nonce: the server's first
 * message carries the stored salt and count, and its final message is the
 * signature computed from the RFC's password "pencil". */
static void
test_scram_rfc7677 (Fixture *f, gconstpointer data)
{
  static const char client_first_bare[] = "n=user,r=rOprNGfwEbeRWgbNEkqO";
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "imap", "SCRAM-SHA-256", &error);
  g_autofree char *first = g_strconcat ("n,,", client_first_bare, NULL);
  g_autofree char *first_b64 = b64 (first);
  g_autofree char *server_first = NULL;
  g_autofree char *nonce = NULL;
  g_autofree char *without_proof = NULL;
  g_autofree char *auth_message = NULL;
  g_autofree char *final_b64 = NULL;
  g_autofree char *client_final = NULL;
  g_autofree char *proof_b64 = NULL;
  g_autofree char *signature_b64 = NULL;
  g_autofree char *server_final = NULL;
  gsize salt_size;
  g_autofree guchar *salt = g_base64_decode ("W22ZaJ0SNY7soEsUEjb6gQ==", &salt_size);
  char salted[32], client_key[32], server_key[32], stored_key[32];
  guint8 signature[32], proof[32];
  Outcome o = { 0 };

  step_sync (session, first_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_CONTINUE);
  server_first = unb64 (o.server_b64);
  g_test_message ("server-first: %s", server_first);
  g_assert_true (g_str_has_prefix (server_first, "r=rOprNGfwEbeRWgbNEkqO"));
  g_assert_true (g_str_has_suffix (server_first, ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  nonce = g_strndup (server_first + 2, strchr (server_first, ',') - server_first - 2);
  g_assert_cmpuint (strlen (nonce), >, strlen ("rOprNGfwEbeRWgbNEkqO"));

  g_assert_cmpint (gsasl_scram_secrets_from_password (GSASL_HASH_SHA256, "pencil", 4096,
                                                      (const char *) salt, salt_size, salted,
                                                      client_key, server_key, stored_key),
                   ==, GSASL_OK);
  without_proof = g_strdup_printf ("c=biws,r=%s", nonce);
  auth_message = g_strdup_printf ("%s,%s,%s", client_first_bare, server_first, without_proof);
  hmac256 (stored_key, 32, auth_message, signature);
  for (int i = 0; i < 32; i++)
    proof[i] = (guint8) client_key[i] ^ signature[i];
  proof_b64 = g_base64_encode (proof, 32);
  client_final = g_strdup_printf ("%s,p=%s", without_proof, proof_b64);
  final_b64 = b64 (client_final);

  step_sync (session, final_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  g_assert_cmpstr (posthorn_sasl_session_get_user (session), ==, "user");
  hmac256 (server_key, 32, auth_message, signature);
  signature_b64 = g_base64_encode (signature, 32);
  server_final = unb64 (o.server_b64);
  g_assert_true (g_str_has_prefix (server_final, "v="));
  g_assert_cmpstr (server_final + 2, ==, signature_b64);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
test_same_error_text (Fixture *f, gconstpointer data)
{
  Outcome wrong = { 0 }, unknown = { 0 }, nopass = { 0 };

  run_exchange (f, "PLAIN", "plain@example.org", "pw-wrong", TRUE, &wrong);
  run_exchange (f, "PLAIN", "nobody@example.org", "pw-plain", TRUE, &unknown);
  run_exchange (f, "PLAIN", "nopassword@example.org", "", TRUE, &nopass);
  g_assert_error (wrong.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_error (unknown.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_error (nopass.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_cmpstr (wrong.error->message, ==, unknown.error->message);
  g_assert_cmpstr (wrong.error->message, ==, nopass.error->message);
  outcome_clear (&wrong);
  outcome_clear (&unknown);
  outcome_clear (&nopass);
}

static void
expect_invalid (const char *mechanism, const char *client_b64)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "imap", mechanism, &error);
  Outcome o = { 0 };

  step_sync (session, client_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
test_malformed_base64 (Fixture *f, gconstpointer data)
{
  static const char *const bad[] = { "AGFiYwBkZWY", "AGFiYwBk*ZWY=", "A===", "AGFi=YwBk", "====" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    expect_invalid ("PLAIN", bad[i]);
  /* well-formed base64 carrying a malformed SCRAM message */
  expect_invalid ("SCRAM-SHA-256", "eCx5LHo=");
}

static void
test_too_long (Fixture *f, gconstpointer data)
{
  g_autofree char *huge = g_strnfill (POSTHORN_SASL_MAX_RESPONSE + 4, 'A');

  expect_invalid ("PLAIN", huge);
}

static void
test_empty_initial_response (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "smtp", "PLAIN", &error);
  Outcome o = { 0 };

  g_autofree char *resp = plain_b64 ("", "plain@example.org", "pw-plain");

  /* "=" is an empty initial response; gsasl's PLAIN answers it with an
   * empty challenge, as if there had been none */
  step_sync (session, "=", &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_CONTINUE);
  g_assert_cmpstr (o.server_b64, ==, "");
  step_sync (session, resp, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
never_called (PosthornSaslSession *session, PosthornSaslStatus status, const char *server_b64,
              const GError *error, gpointer user_data)
{
  g_assert_not_reached ();
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
spin_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_abort (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session = posthorn_sasl_session_new (NULL, "imap", "LOGIN", &error);
  g_autofree char *user_b64 = b64 ("plain@example.org");
  Outcome o = { 0 };

  step_sync (session, NULL, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_CONTINUE);
  step_sync (session, user_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_CONTINUE);
  /* the client sends "*" */
  posthorn_sasl_session_cancel (session);
  g_assert_null (posthorn_sasl_session_get_user (session));
  posthorn_sasl_session_free (&session);
  outcome_clear (&o);

  /* freeing with a step in flight: the callback never runs */
  session = posthorn_sasl_session_new (NULL, "imap", "PLAIN", &error);
  {
    g_autofree char *resp = plain_b64 ("", "plain@example.org", "pw-plain");
    posthorn_sasl_session_step (session, resp, never_called, NULL);
  }
  posthorn_sasl_session_free (&session);
  spin_ms (100);
}

static void
on_verify (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Outcome *o = user_data;
  char *user = posthorn_auth_verify_password_finish (result, &o->error);

  o->done = TRUE;
  o->server_b64 = user;
  o->status = user != NULL ? POSTHORN_SASL_SUCCESS : POSTHORN_SASL_FAILURE;
  o->done_at = g_get_monotonic_time ();
}

static void
verify_sync (const char *user, const char *password, Outcome *o)
{
  outcome_clear (o);
  posthorn_auth_verify_password_async (NULL, user, password, NULL, on_verify, o);
  while (!o->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_verify_password (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };
  g_autofree char *failed_text = NULL;

  verify_sync ("YesCrypt@example.org", "pw-yescrypt", &o);
  g_assert_no_error (o.error);
  g_assert_cmpstr (o.server_b64, ==, "yescrypt@example.org");
  verify_sync ("yescrypt@example.org", "pw-sha512", &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  failed_text = g_strdup (o.error->message);
  verify_sync ("ghost@example.org", "pw-yescrypt", &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  g_assert_cmpstr (o.error->message, ==, failed_text);
  outcome_clear (&o);
}

typedef struct {
  gboolean done;
  gboolean exists;
  char *user;
  GError *error;
} ExistsOutcome;

static void
on_exists (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExistsOutcome *o = user_data;

  o->exists = posthorn_auth_user_exists_finish (result, &o->user, &o->error);
  o->done = TRUE;
}

static void
test_user_exists (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *user;
    const char *canonical;
  } cases[] = {
    { "Plain@Example.org", "plain@example.org" },
    { "nopassword@example.org", "nopassword@example.org" },
    { "ghost@example.org", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ExistsOutcome o = { 0 };

      posthorn_auth_user_exists_async (NULL, cases[i].user, NULL, on_exists, &o);
      while (!o.done)
        g_main_context_iteration (NULL, TRUE);
      g_assert_no_error (o.error);
      g_assert_cmpint (o.exists, ==, cases[i].canonical != NULL);
      g_assert_cmpstr (o.user, ==, cases[i].canonical);
      g_free (o.user);
    }
}

/* ---- throttle ---- */

static const PhAuthPolicy growing = { FALSE, 40, 150, 100 };
static const PhAuthPolicy limited = { FALSE, 1, 1, 3 };
static const PhAuthPolicy slow = { FALSE, 400, 400, 100 };

static void
test_throttle_grows_and_caps (Fixture *f, gconstpointer data)
{
  static const guint expected_ms[] = { 40, 80, 150, 150 };
  Outcome o = { 0 };

  for (gsize i = 0; i < G_N_ELEMENTS (expected_ms); i++)
    {
      gint64 start = g_get_monotonic_time ();
      guint elapsed_ms;

      verify_sync ("plain@example.org", "pw-wrong", &o);
      g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
      elapsed_ms = (guint) ((o.done_at - start) / 1000);
      g_test_message ("failure %zu answered after %u ms (delay %u ms)", i + 1, elapsed_ms,
                      expected_ms[i]);
      g_assert_cmpuint (elapsed_ms, >=, expected_ms[i]);
      g_assert_cmpuint (elapsed_ms, <, expected_ms[i] + 35 + 500);
      if (i == G_N_ELEMENTS (expected_ms) - 1)
        g_assert_cmpuint (elapsed_ms, <, 2 * 150);
    }
  /* a success forgets the peer's failures: the next failure waits 40 ms */
  verify_sync ("plain@example.org", "pw-plain", &o);
  g_assert_no_error (o.error);
  {
    gint64 start = g_get_monotonic_time ();
    verify_sync ("plain@example.org", "pw-wrong", &o);
    g_assert_cmpint ((o.done_at - start) / 1000, <, 80);
  }
  outcome_clear (&o);
}

static void
test_throttle_limit (Fixture *f, gconstpointer data)
{
  Outcome o = { 0 };
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session;

  verify_sync ("plain@example.org", "pw-wrong", &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  run_exchange (f, "PLAIN", "plain@example.org", "pw-wrong", TRUE, &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  /* the third failure on the connection: close it */
  run_exchange (f, "SCRAM-SHA-256", "scram@example.org", "pw-wrong", TRUE, &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT);
  /* and nothing more is tried on it, not even a right password */
  verify_sync ("plain@example.org", "pw-plain", &o);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT);
  session = posthorn_sasl_session_new (NULL, "imap", "PLAIN", &error);
  {
    g_autofree char *resp = plain_b64 ("", "plain@example.org", "pw-plain");
    step_sync (session, resp, &o);
  }
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT);
  posthorn_sasl_session_free (&session);
  outcome_clear (&o);
}

/* While one session waits out its failure delay, another completes. */
static void
test_throttle_does_not_block (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *failing = posthorn_sasl_session_new (NULL, "imap", "PLAIN", &error);
  PosthornSaslSession *good = posthorn_sasl_session_new (NULL, "imap", "PLAIN", &error);
  g_autofree char *wrong = plain_b64 ("", "plain@example.org", "nope");
  g_autofree char *right = plain_b64 ("", "plain@example.org", "pw-plain");
  Outcome a = { 0 }, b = { 0 };
  gint64 start = g_get_monotonic_time ();

  posthorn_sasl_session_step (failing, wrong, on_step, &a);
  spin_ms (30);  /* the failure is now waiting */
  posthorn_sasl_session_step (good, right, on_step, &b);
  while (!a.done || !b.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (b.status, ==, POSTHORN_SASL_SUCCESS);
  g_assert_cmpint (a.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_cmpint (b.done_at, <, a.done_at);
  g_assert_cmpint ((b.done_at - start) / 1000, <, 300);
  g_assert_cmpint ((a.done_at - start) / 1000, >=, 400);
  outcome_clear (&a);
  outcome_clear (&b);
  posthorn_sasl_session_free (&failing);
  posthorn_sasl_session_free (&good);
}

/* ---- SCRAM-SHA-256-PLUS: channel binding injected for the NULL connection ---- */

static const char cb_exporter[] = "exporter-keying-material-32-byte";
static const char cb_unique[] = "finished-message-12";

static void
set_channel_binding (gboolean exporter, gboolean unique)
{
  g_autoptr(GBytes) e = g_bytes_new_static (cb_exporter, sizeof cb_exporter - 1);
  g_autoptr(GBytes) u = g_bytes_new_static (cb_unique, sizeof cb_unique - 1);

  ph_auth_set_channel_binding_for_testing (exporter ? e : NULL, unique ? u : NULL);
}

static void
test_plus_listed (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) mechanisms = NULL;
  g_autofree char *joined = NULL;

  set_channel_binding (TRUE, FALSE);
  mechanisms = posthorn_auth_list_mechanisms (NULL);
  joined = g_strjoinv (" ", mechanisms);
  g_assert_cmpstr (joined, ==, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN");
}

static void
test_plus_exporter (Fixture *f, gconstpointer data)
{
  g_autofree char *exporter_b64 = g_base64_encode ((const guchar *) cb_exporter, sizeof cb_exporter - 1);
  g_autofree char *other_b64 = g_base64_encode ((const guchar *) "another-tls-session-32-bytes!!!!", 32);
  Outcome o = { 0 };

  set_channel_binding (TRUE, TRUE);
  run_exchange_cb (f, "SCRAM-SHA-256-PLUS", "scram@example.org", "pw-scram", TRUE,
                   exporter_b64, NULL, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);

  /* a man in the middle has another TLS session: the binding differs */
  run_exchange_cb (f, "SCRAM-SHA-256-PLUS", "scram@example.org", "pw-scram", TRUE,
                   other_b64, NULL, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  outcome_clear (&o);
}

static void
test_plus_unique (Fixture *f, gconstpointer data)
{
  g_autofree char *unique_b64 = g_base64_encode ((const guchar *) cb_unique, sizeof cb_unique - 1);
  Outcome o = { 0 };

  /* TLS 1.2 without an exporter: tls-unique */
  set_channel_binding (FALSE, TRUE);
  run_exchange_cb (f, "SCRAM-SHA-256-PLUS", "both@example.org", "pw-both", TRUE,
                   NULL, unique_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_SUCCESS);
  outcome_clear (&o);
}

/* A client that can bind but was shown no -PLUS says so ("y"); the server
 * did offer -PLUS, so someone removed it from the list: refuse. */
static void
test_plus_downgrade (Fixture *f, gconstpointer data)
{
  g_autofree char *first_b64 = b64 ("y,,n=scram@example.org,r=fyko+d2lbbFgONRv9qkxdawL");
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session;
  Outcome o = { 0 };

  set_channel_binding (TRUE, FALSE);
  session = posthorn_sasl_session_new (NULL, "imap", "SCRAM-SHA-256", &error);
  step_sync (session, first_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_FAILURE);
  g_assert_error (o.error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);

  /* without channel binding on the server side "y" is fine */
  set_channel_binding (FALSE, FALSE);
  session = posthorn_sasl_session_new (NULL, "imap", "SCRAM-SHA-256", &error);
  step_sync (session, first_b64, &o);
  g_assert_cmpint (o.status, ==, POSTHORN_SASL_CONTINUE);
  outcome_clear (&o);
  posthorn_sasl_session_free (&session);
}

static void
test_plus_needs_binding (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* no binding data (plain TCP, or the unit-test NULL connection) */
  g_assert_null (posthorn_sasl_session_new (NULL, "imap", "SCRAM-SHA-256-PLUS", &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, policy) \
  g_test_add (path, Fixture, policy, fixture_set_up, func, fixture_tear_down)

  ADD ("/auth/sasl/mechanisms/list", test_mechanisms, NULL);
  g_test_add_func ("/auth/sasl/mechanisms/no-scram-secrets", test_mechanisms_without_scram);
  ADD ("/auth/sasl/mechanisms/unsupported", test_unsupported, NULL);
  ADD ("/auth/sasl/plain/initial-response", test_plain_initial_response, NULL);
  ADD ("/auth/sasl/plain/no-initial-response", test_plain_no_initial_response, NULL);
  ADD ("/auth/sasl/plain/canonical-user", test_plain_user_name, NULL);
  ADD ("/auth/sasl/plain/authzid-refused", test_plain_authzid, NULL);
  ADD ("/auth/sasl/plain/empty-initial-response", test_empty_initial_response, NULL);
  ADD ("/auth/sasl/login", test_login, NULL);
  ADD ("/auth/sasl/scram-sha-256/end-to-end", test_scram, NULL);
  ADD ("/auth/sasl/scram-sha-256/rfc7677-vector", test_scram_rfc7677, NULL);
  ADD ("/auth/sasl/scram-sha-256/wrong-and-unknown", test_scram_wrong, NULL);
  ADD ("/auth/sasl/scram-sha-256/downgrade-from-plus-refused", test_plus_downgrade, NULL);
  ADD ("/auth/sasl/scram-sha-256-plus/listed-with-binding", test_plus_listed, NULL);
  ADD ("/auth/sasl/scram-sha-256-plus/tls-exporter", test_plus_exporter, NULL);
  ADD ("/auth/sasl/scram-sha-256-plus/tls-unique", test_plus_unique, NULL);
  ADD ("/auth/sasl/scram-sha-256-plus/needs-binding", test_plus_needs_binding, NULL);
  ADD ("/auth/sasl/failure/same-text-unknown-user-wrong-password", test_same_error_text, NULL);
  ADD ("/auth/sasl/failure/malformed-base64", test_malformed_base64, NULL);
  ADD ("/auth/sasl/failure/over-long-response", test_too_long, NULL);
  ADD ("/auth/sasl/abort", test_abort, NULL);
  ADD ("/auth/password/verify", test_verify_password, NULL);
  ADD ("/auth/user-exists", test_user_exists, NULL);
  ADD ("/auth/throttle/delay-grows-and-is-capped", test_throttle_grows_and_caps, &growing);
  ADD ("/auth/throttle/max-failures-limit", test_throttle_limit, &limited);
  ADD ("/auth/throttle/other-session-not-stalled", test_throttle_does_not_block, &slow);
  return g_test_run ();
}
