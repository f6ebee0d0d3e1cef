/* The passwd-file format module: schemes, malformed lines, SCRAM secrets
 * (RFC 7677 vector), line editing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "passwd-file.h"

#include <string.h>

static PfTable *
load_fixture (const char *name, GPtrArray **problems)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "auth", "data", name, NULL);
  g_autofree char *text = NULL;
  gsize length;
  g_autoptr(GError) error = NULL;

  g_file_get_contents (path, &text, &length, &error);
  g_assert_no_error (error);
  return pf_table_parse (text, length, problems);
}

typedef struct {
  const char *user;
  const char *password;
  PfScheme scheme;
  gboolean scram;
} SchemeCase;

static const SchemeCase scheme_cases[] = {
  { "sha512@example.org", "pw-sha512", PF_SCHEME_CRYPT, FALSE },
  { "sha256@example.org", "pw-sha256", PF_SCHEME_CRYPT, FALSE },
  { "blf@example.org", "pw-blf", PF_SCHEME_CRYPT, FALSE },
  { "yescrypt@example.org", "pw-yescrypt", PF_SCHEME_CRYPT, FALSE },
  { "noscheme@example.org", "pw-noscheme", PF_SCHEME_CRYPT, FALSE },
  { "plain@example.org", "pw-plain", PF_SCHEME_PLAIN, FALSE },
  { "mixed.case@example.org", "pw-Mixed.Case", PF_SCHEME_PLAIN, FALSE },
  { "scram@example.org", "pw-scram", PF_SCHEME_SCRAM_SHA256, TRUE },
  { "both@example.org", "pw-both", PF_SCHEME_CRYPT, TRUE },
  { "user", "pencil", PF_SCHEME_SCRAM_SHA256, TRUE },
};

static void
test_schemes (gconstpointer data)
{
  const SchemeCase *c = data;
  g_autoptr(GPtrArray) problems = NULL;
  g_autoptr(PfTable) table = load_fixture ("users", &problems);
  const PfEntry *entry = pf_table_lookup (table, c->user);
  g_autofree char *wrong = g_strconcat (c->password, "x", NULL);

  g_assert_null (problems);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->scheme, ==, c->scheme);
  g_assert_cmpint (entry->scram != NULL, ==, c->scram);
  g_assert_true (pf_entry_verify (entry, c->password));
  g_assert_false (pf_entry_verify (entry, wrong));
  g_assert_false (pf_entry_verify (entry, ""));
}

/* A line exactly as `doveadm pw -s SHA512-CRYPT` prints it. */
static void
test_doveadm_line (void)
{
  static const char line[] =
    "alice@example.org:{SHA512-CRYPT}$6$pTJVIEkrwTaHNQQL$5CckqC8/u29zmrU1J7jHpxOSz13j1.4cb3"
    "KeSRRA5am5J2FDJ.TZcJ24/Ada5uTD7hd4e8InDsz9pOB8EE1IN.";
  g_autoptr(GError) error = NULL;
  g_autoptr(PfEntry) entry = pf_entry_parse_line (line, 1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (entry);
  g_assert_cmpstr (entry->user, ==, "alice@example.org");
  g_assert_true (pf_entry_verify (entry, "pw-sha512"));
  g_assert_false (pf_entry_verify (entry, "pw-sha51"));
}

static void
test_no_password (void)
{
  g_autoptr(PfTable) table = load_fixture ("users", NULL);
  const PfEntry *entry = pf_table_lookup (table, "nopassword@example.org");

  g_assert_nonnull (entry);
  g_assert_cmpint (entry->scheme, ==, PF_SCHEME_NONE);
  g_assert_false (pf_entry_verify (entry, ""));
  g_assert_null (pf_table_lookup (table, "nobody@example.org"));
  g_assert_cmpuint (pf_table_scram_count (table), ==, 3);
}

static void
test_malformed (void)
{
  static const struct {
    guint line;
    const char *fragment;
  } expected[] = {
    { 3, "no ':'" },
    { 4, "empty user" },
    { 5, "unsupported password scheme {ROT13}" },
    { 6, "no closing '}'" },
    { 7, "does not match the {SHA512-CRYPT} scheme" },
    { 8, "salt is not base64" },
    { 9, "iteration count" },
    { 10, "duplicate user (first on line 2)" },
    { 11, "posthorn_scram_sha256:" },
    { 12, "not a crypt string" },
  };
  g_autoptr(GPtrArray) problems = NULL;
  g_autoptr(PfTable) table = load_fixture ("users-malformed", &problems);
  const PfEntry *good1;

  g_assert_nonnull (problems);
  g_assert_cmpuint (problems->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < problems->len; i++)
    {
      PfProblem *problem = g_ptr_array_index (problems, i);
      g_test_message ("line %u: %s", problem->line, problem->message);
      g_assert_cmpuint (problem->line, ==, expected[i].line);
      g_assert_nonnull (strstr (problem->message, expected[i].fragment));
      /* the secret part of a line never shows up in the message */
      g_assert_null (strstr (problem->message, "cj-onq"));
    }
  g_assert_cmpuint (pf_table_size (table), ==, 3);
  good1 = pf_table_lookup (table, "good1@example.org");
  g_assert_true (pf_entry_verify (good1, "pw-good1"));
  g_assert_false (pf_entry_verify (good1, "duplicate"));
  g_assert_true (pf_entry_verify (pf_table_lookup (table, "good2@example.org"), "pw-good2"));
  g_assert_true (pf_entry_verify (pf_table_lookup (table, "crlf@example.org"), "pw-crlf"));
}

static void
test_scram_parse_table (void)
{
  static const struct {
    const char *text;
    gboolean ok;
  } cases[] = {
    { "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", TRUE },
    { "4095,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", FALSE },
    { "x4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", FALSE },
    { "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=", FALSE },
    { "4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", FALSE },
    { "4096,,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", FALSE },
    { "4096,W22ZaJ0SNY7soEsUEjb6gQ=,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", FALSE },
    { "", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PfScramSecret) secret = pf_scram_secret_parse (cases[i].text, &error);

      g_assert_cmpint (secret != NULL, ==, cases[i].ok);
      if (!cases[i].ok)
        g_assert_nonnull (error);
    }
}

static void
hmac_sha256 (const guint8 *key, gsize key_size, const char *text, guint8 out[32])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, key_size);
  gsize size = 32;

  g_hmac_update (hmac, (const guchar *) text, -1);
  g_hmac_get_digest (hmac, out, &size);
}

/* RFC 7677 section 3: the keys derived from "pencil" verify the RFC's
 * client proof and produce its server signature. */
static void
test_scram_rfc7677 (void)
{
  static const char auth_message[] =
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  gsize salt_size, proof_size, verifier_size;
  g_autofree guchar *salt = g_base64_decode ("W22ZaJ0SNY7soEsUEjb6gQ==", &salt_size);
  g_autofree guchar *proof =
    g_base64_decode ("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &proof_size);
  g_autofree guchar *verifier =
    g_base64_decode ("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &verifier_size);
  guint8 stored[32], server[32], signature[32], client_key[32], check[32];
  gsize size = 32;
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(PfTable) table = load_fixture ("users", NULL);
  const PfEntry *entry = pf_table_lookup (table, "user");

  pf_scram_sha256_keys ("pencil", salt, salt_size, 4096, stored, server);

  hmac_sha256 (stored, 32, auth_message, signature);
  for (int i = 0; i < 32; i++)
    client_key[i] = proof[i] ^ signature[i];
  g_checksum_update (sha, client_key, 32);
  g_checksum_get_digest (sha, check, &size);
  g_assert_cmpmem (check, 32, stored, 32);

  hmac_sha256 (server, 32, auth_message, signature);
  g_assert_cmpmem (signature, 32, verifier, verifier_size);

  /* and the fixture line holds exactly these keys */
  g_assert_cmpmem (entry->scram->stored_key, 32, stored, 32);
  g_assert_cmpmem (entry->scram->server_key, 32, server, 32);
}

static void
test_line_edit (void)
{
  static const struct {
    const char *line;
    const char *scram;
    const char *expected;
  } cases[] = {
    { "a@x:{PLAIN}old", NULL, "a@x:NEW" },
    { "a@x:", NULL, "a@x:NEW" },
    { "A@X:{PLAIN}old:1000:1000", NULL, "A@X:NEW:1000:1000" },
    { "a@x:{PLAIN}old", "S", "a@x:NEW::::::posthorn_scram_sha256=S" },
    { "a@x:{PLAIN}old:1:2", "S", "a@x:NEW:1:2::::posthorn_scram_sha256=S" },
    { "a@x:old::::::userdb_quota_rule=*:storage=1G k=v", "S",
      "a@x:NEW::::::userdb_quota_rule=*:storage=1G k=v posthorn_scram_sha256=S" },
    { "a@x:old::::::k=v posthorn_scram_sha256=OLD z=1", "S",
      "a@x:NEW::::::k=v posthorn_scram_sha256=S z=1" },
    { "a@x:old::::::k=v posthorn_scram_sha256=OLD z=1", NULL, "a@x:NEW::::::k=v z=1" },
    { "a@x:old:u:g:gecos:/home/a:/bin/sh:", NULL, "a@x:NEW:u:g:gecos:/home/a:/bin/sh:" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = pf_line_set_password (cases[i].line, "NEW", cases[i].scram);
      g_assert_cmpstr (out, ==, cases[i].expected);
    }
}

static void
test_line_user (void)
{
  static const struct {
    const char *line;
    const char *user;
  } cases[] = {
    { "Alice@Example.org:{PLAIN}x", "alice@example.org" },
    { "# bob@example.org:{PLAIN}x", NULL },
    { "   ", NULL },
    { "", NULL },
    { "nocolon", NULL },
    { ":{PLAIN}x", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *user = pf_line_get_user (cases[i].line);
      g_assert_cmpstr (user, ==, cases[i].user);
    }
}

/* User names that could name another folder are refused, alone and in a
 * file (one problem per line, the others load). */
static void
test_user_names (void)
{
  static const struct {
    const char *name;
    const char *why;   /* NULL: accepted */
  } cases[] = {
    { "alice@example.org", NULL },
    { "a.b@example.org", NULL },
    { "alice..x@example.org", NULL },
    { "x@example.org.", NULL },
    { "", "empty user name" },
    { ".", "starts with '.'" },
    { "..", "starts with '.'" },
    { ".hidden@example.org", "starts with '.'" },
    { "../etc@example.org", "starts with '.'" },
    { "a/b@example.org", "contains '/'" },
    { "/abs@example.org", "contains '/'" },
    { "a\\b@example.org", "contains '\\'" },
    { "tab\there@example.org", "control character" },
    { "esc\x1b@example.org", "control character" },
    { "del\x7f@example.org", "control character" },
    { "a:b@example.org", "contains ':'" },
  };
  static const char file[] =
    "ok@example.org:{PLAIN}pw\n"
    "../evil@example.org:{PLAIN}pw\n"
    "a/b@example.org:{PLAIN}pw\n"
    "..:{PLAIN}pw\n"
    "back\\slash@example.org:{PLAIN}pw\n"
    "ctl\x01@example.org:{PLAIN}pw\n"
    "nul\0@example.org:{PLAIN}pw\n"
    "ok2@example.org:{PLAIN}pw\n";
  static const struct {
    guint line;
    const char *fragment;
  } expected[] = {
    { 2, "starts with '.'" },
    { 3, "contains '/'" },
    { 4, "starts with '.'" },
    { 5, "contains '\\'" },
    { 6, "control character" },
    { 7, "NUL byte" },
  };
  g_autoptr(GPtrArray) problems = NULL;
  g_autoptr(PfTable) table = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *why = NULL;
      gboolean ok = pf_user_name_check (cases[i].name, &why);

      g_test_message ("'%s': %s", cases[i].name, why != NULL ? why : "ok");
      if (cases[i].why == NULL)
        g_assert_true (ok);
      else
        {
          g_assert_false (ok);
          g_assert_nonnull (strstr (why, cases[i].why));
        }
    }

  table = pf_table_parse (file, sizeof file - 1, &problems);
  g_assert_nonnull (problems);
  g_assert_cmpuint (problems->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < problems->len; i++)
    {
      PfProblem *problem = g_ptr_array_index (problems, i);

      g_assert_cmpuint (problem->line, ==, expected[i].line);
      g_assert_nonnull (strstr (problem->message, expected[i].fragment));
    }
  g_assert_cmpuint (pf_table_size (table), ==, 2);
  g_assert_nonnull (pf_table_lookup (table, "ok2@example.org"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (scheme_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/auth/passwd-file/verify/%s", scheme_cases[i].user);
      g_test_add_data_func (path, &scheme_cases[i], test_schemes);
    }
  g_test_add_func ("/auth/passwd-file/verify/doveadm-sha512-line", test_doveadm_line);
  g_test_add_func ("/auth/passwd-file/verify/no-password", test_no_password);
  g_test_add_func ("/auth/passwd-file/malformed-lines", test_malformed);
  g_test_add_func ("/auth/passwd-file/user-names", test_user_names);
  g_test_add_func ("/auth/passwd-file/scram/parse", test_scram_parse_table);
  g_test_add_func ("/auth/passwd-file/scram/rfc7677-vector", test_scram_rfc7677);
  g_test_add_func ("/auth/passwd-file/edit/set-password", test_line_edit);
  g_test_add_func ("/auth/passwd-file/edit/user-of-line", test_line_user);
  return g_test_run ();
}
