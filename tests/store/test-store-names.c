/* Mailbox name rules shared by every store: a table of good and bad names.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <string.h>

static void
test_names_table (void)
{
  static const struct { const char *in; const char *out; } cases[] = {
    { "INBOX", "INBOX" },
    { "inbox", "INBOX" },
    { "InBoX/Sub", "INBOX/Sub" },
    { "Inboxes", "Inboxes" },
    { "Sent", "Sent" },
    { "a/b/c", "a/b/c" },
    { "Ünïcødé ✉/日本語", "Ünïcødé ✉/日本語" },
    { "with space", "with space" },
    { "a.b", "a.b" },
    { "...", "..." },
    { "a..b", "a..b" },
    { "&AOQ-", "&AOQ-" },            /* UTF-7 looks are just characters here */
    /* refused */
    { "", NULL },
    { "..", NULL },
    { ".", NULL },
    { "a/..", NULL },
    { "../a", NULL },
    { "a/./b", NULL },
    { "/a", NULL },
    { "a/", NULL },
    { "a//b", NULL },
    { "a\tb", NULL },
    { "a\nb", NULL },
    { "a\x7f", NULL },
    { "a\xc2\x85", NULL },           /* U+0085, a C1 control */
    { "\xff", NULL },
    { "\xc3", NULL },
    { "a*", NULL },
    { "a%", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *out = posthorn_store_normalize_mailbox_name (cases[i].in, &error);

      g_autofree char *shown = g_strescape (cases[i].in, NULL);

      g_test_message ("case %u: '%s'", i, shown);
      g_assert_cmpstr (out, ==, cases[i].out);
      if (cases[i].out == NULL)
        {
          g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
          g_assert_nonnull (error->message);
        }
      else
        g_assert_no_error (error);
    }
}

static void
test_names_length (void)
{
  g_autofree char *ok = g_strnfill (1024, 'x');
  g_autofree char *too_long = g_strnfill (1025, 'x');
  g_autoptr(GError) error = NULL;
  g_autofree char *a = posthorn_store_normalize_mailbox_name (ok, &error);
  g_autofree char *b = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (a, ==, ok);
  b = posthorn_store_normalize_mailbox_name (too_long, &error);
  g_assert_null (b);
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "1024"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/names/table", test_names_table);
  g_test_add_func ("/store/names/length-limit", test_names_length);
  return g_test_run ();
}
