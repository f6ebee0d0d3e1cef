/* libFuzzer target: the users file (Dovecot passwd-file format) as the
 * auth-passwd-file plugin reads it, line by line as posthornctl edits it,
 * and the {SCRAM-SHA-256} stored form. No hashing: {PLAIN} entries are
 * checked against their own secret, crypt ones are not verified.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "passwd-file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_line (const char *line, guint number)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PfEntry) entry = pf_entry_parse_line (line, number, &error);
  g_autofree char *user = pf_line_get_user (line);

  if (entry == NULL)
    return;
  g_assert_no_error (error);
  g_assert_nonnull (entry->user);
  g_assert_cmpstr (entry->user, ==, user);
  /* a user name never holds a field separator or a line feed */
  g_assert_null (strpbrk (entry->user, ":\n"));
  if (entry->scheme == PF_SCHEME_PLAIN && entry->secret != NULL && strlen (entry->secret) < 256)
    {
      g_autofree char *wrong = g_strconcat (entry->secret, "x", NULL);

      g_assert_true (pf_entry_verify (entry, entry->secret));
      g_assert_false (pf_entry_verify (entry, wrong));
    }
  {
    g_autofree char *edited = pf_line_set_password (line, "{PLAIN}new", NULL);
    g_autoptr(PfEntry) again = NULL;
    g_autofree char *user2 = NULL;

    g_assert_nonnull (edited);
    again = pf_entry_parse_line (edited, number, NULL);
    user2 = pf_line_get_user (edited);
    g_assert_cmpstr (user2, ==, user);
    if (again != NULL)
      {
        g_assert_cmpint (again->scheme, ==, PF_SCHEME_PLAIN);
        g_assert_cmpstr (again->secret, ==, "new");
      }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GPtrArray) problems = NULL;
  g_autoptr(PfTable) table = pf_table_parse ((const char *) data, size, &problems);
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto(GStrv) lines = g_strsplit (text, "\n", 0);

  g_assert_nonnull (table);
  if (problems != NULL)
    for (guint i = 0; i < problems->len; i++)
      g_assert_nonnull (((PfProblem *) problems->pdata[i])->message);

  for (guint i = 0; lines[i] != NULL && i < 64; i++)
    {
      g_autofree char *user = pf_line_get_user (lines[i]);

      check_line (lines[i], i + 1);
      if (user != NULL)
        (void) pf_table_lookup (table, user);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PfScramSecret) secret = pf_scram_secret_parse (text, &error);

    g_assert_true ((secret == NULL) == (error != NULL));
    if (secret != NULL)
      {
        g_assert_cmpuint (secret->iterations, >=, PF_SCRAM_MIN_ITERATIONS);
        g_assert_cmpuint (secret->iterations, <=, PF_SCRAM_MAX_ITERATIONS);
      }
  }
  return 0;
}
