/* libFuzzer target: a SASL exchange (RFC 4422) as a protocol plugin runs
 * it for AUTH/AUTHENTICATE, against an in-memory backend holding one user
 * with a clear password and a SCRAM-SHA-256 secret. The first byte picks
 * the mechanism (PLAIN, LOGIN, SCRAM-SHA-256, SCRAM-SHA-256-PLUS), whether
 * the pieces go in as the client's base64 text or as raw bytes to encode,
 * and whether the first piece is an initial response; the rest, split at
 * LF, are the client's responses. Every step ends in exactly one callback,
 * success only for the right user.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "auth/auth-private.h"
#include "passwd-file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define FUZZ_USER "alice@example.org"
#define FUZZ_PASSWORD "secret"

static PfScramSecret *scram;
static int fake_plugin;

static char *
fb_verify_password (gpointer data, const char *user, const char *password, GError **error)
{
  if (g_strcmp0 (user, FUZZ_USER) == 0 && g_strcmp0 (password, FUZZ_PASSWORD) == 0)
    return g_strdup (FUZZ_USER);
  g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_AUTH_FAILED, "Authentication failed");
  return NULL;
}

static char *
fb_lookup_scram (gpointer data, const char *user, guint *out_iterations, GBytes **out_salt,
                 guint8 out_stored_key[POSTHORN_SCRAM_SHA256_KEY_SIZE],
                 guint8 out_server_key[POSTHORN_SCRAM_SHA256_KEY_SIZE], GError **error)
{
  if (g_strcmp0 (user, FUZZ_USER) != 0)
    {
      g_set_error_literal (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no such user");
      return NULL;
    }
  *out_iterations = scram->iterations;
  *out_salt = g_bytes_ref (scram->salt);
  memcpy (out_stored_key, scram->stored_key, POSTHORN_SCRAM_SHA256_KEY_SIZE);
  memcpy (out_server_key, scram->server_key, POSTHORN_SCRAM_SHA256_KEY_SIZE);
  return g_strdup (FUZZ_USER);
}

static gboolean
fb_user_exists (gpointer data, const char *user, GError **error)
{
  return g_strcmp0 (user, FUZZ_USER) == 0;
}

static gboolean
fb_has_scram (gpointer data)
{
  return TRUE;
}

static const PosthornAuthBackendVTable fuzz_backend = {
  .struct_size = sizeof (PosthornAuthBackendVTable),
  .verify_password = fb_verify_password,
  .lookup_scram_sha256 = fb_lookup_scram,
  .user_exists = fb_user_exists,
  .has_scram_sha256 = fb_has_scram,
};

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  static const PhAuthPolicy no_delay = { TRUE, 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = ph_auth_scram_sha256_secret_new (FUZZ_PASSWORD, PF_SCRAM_MIN_ITERATIONS, &error);
  g_autoptr(GBytes) exporter = g_bytes_new_static ("0123456789abcdef0123456789abcdef", 32);

  g_assert_no_error (error);
  scram = pf_scram_secret_parse (secret, &error);
  g_assert_no_error (error);
  posthorn_auth_register_backend ((PosthornPlugin *) &fake_plugin, &fuzz_backend, NULL, NULL);
  ph_auth_set_policy_for_testing (&no_delay);
  ph_auth_set_channel_binding_for_testing (exporter, exporter);
  return 0;
}

typedef struct {
  gboolean done;
  PosthornSaslStatus status;
} Outcome;

static void
on_step (PosthornSaslSession *session, PosthornSaslStatus status, const char *server_b64,
         const GError *error, gpointer user_data)
{
  Outcome *o = user_data;

  g_assert_false (o->done);
  o->done = TRUE;
  o->status = status;
  if (status == POSTHORN_SASL_FAILURE)
    g_assert_nonnull (error);
  if (server_b64 != NULL)
    g_assert_true (ph_auth_base64_valid (server_b64, strlen (server_b64)));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const mechanisms[] = { "PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS" };
  g_autoptr(GError) error = NULL;
  PosthornSaslSession *session;
  gboolean raw, initial, finished = FALSE;
  gsize pos = 1;
  guint steps = 0;

  if (scram == NULL)
    LLVMFuzzerInitialize (NULL, NULL);
  if (size < 1)
    return 0;
  raw = (data[0] & 4) != 0;
  initial = (data[0] & 8) != 0;
  session = posthorn_sasl_session_new (NULL, "imap", mechanisms[data[0] & 3], &error);
  g_assert_no_error (error);

  for (steps = 0; steps < 8 && !finished; steps++)
    {
      g_autofree char *piece = NULL;
      Outcome outcome = { 0 };

      if (steps > 0 || initial)
        {
          const guint8 *lf;
          gsize end;

          if (pos > size)
            break;
          lf = memchr (data + pos, '\n', size - pos);
          end = lf != NULL ? (gsize) (lf - data) : size;
          piece = raw ? g_strndup ((const char *) data + pos, end - pos)
                      : g_base64_encode (data + pos, end - pos);
          pos = end + 1;
        }
      posthorn_sasl_session_step (session, piece, on_step, &outcome);
      while (!outcome.done)
        g_main_context_iteration (NULL, TRUE);
      if (outcome.status == POSTHORN_SASL_SUCCESS)
        {
          g_assert_cmpstr (posthorn_sasl_session_get_user (session), ==, FUZZ_USER);
          finished = TRUE;
        }
      else if (outcome.status == POSTHORN_SASL_FAILURE)
        {
          g_assert_null (posthorn_sasl_session_get_user (session));
          finished = TRUE;
        }
    }
  if (!finished)
    posthorn_sasl_session_cancel (session);
  posthorn_sasl_session_free (&session);
  return 0;
}
