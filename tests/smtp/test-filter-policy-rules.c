/* filter-policy's pure rules (plugins/filter-policy/policy-rules.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "policy-rules.h"

static void
test_actions (void)
{
  static const struct { const char *text; gboolean ok; PolicyAction action; } cases[] = {
    { "reject", TRUE, POLICY_ACTION_REJECT },
    { "TempFail", TRUE, POLICY_ACTION_TEMPFAIL },
    { "tag", TRUE, POLICY_ACTION_TAG },
    { "off", TRUE, POLICY_ACTION_OFF },
    { "", FALSE, 0 },
    { "rejected", FALSE, 0 },
    { NULL, FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PolicyAction action = 99;

      g_assert_cmpint (policy_action_parse (cases[i].text, &action), ==, cases[i].ok);
      if (cases[i].ok)
        g_assert_cmpint (action, ==, cases[i].action);
    }
}

static void
test_size_limits (void)
{
  static const char *const good[] = { "Small.Example.:2k", "big.example:3M", "*:1G",
                                      "bytes.example:100", NULL };
  static const char *const bad[] = { "nodomain", ":5k", "a.example:", "a.example:5x",
                                     "a.example:k", "a.example:-1", "a b:5",
                                     "a.example:99999999999999999999", "a.example:20000000000G" };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) limits = policy_size_limits_parse (good, &error);
  g_autoptr(GArray) none = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (limits->len, ==, 4);
  g_assert_cmpuint (policy_size_limit_for (limits, "small.example"), ==, 2048);
  g_assert_cmpuint (policy_size_limit_for (limits, "SMALL.example."), ==, 2048);
  g_assert_cmpuint (policy_size_limit_for (limits, "big.example"), ==, 3 * 1024 * 1024);
  g_assert_cmpuint (policy_size_limit_for (limits, "bytes.example"), ==, 100);
  g_assert_cmpuint (policy_size_limit_for (limits, "other.example"), ==, 1024 * 1024 * 1024);
  g_assert_cmpuint (policy_size_limit_for (limits, ""), ==, 1024 * 1024 * 1024);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      const char *const one[] = { bad[i], NULL };
      g_autoptr(GError) local = NULL;
      g_autoptr(GArray) parsed = policy_size_limits_parse (one, &local);

      if (parsed != NULL)
        g_error ("'%s' was accepted", bad[i]);
      g_assert_error (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
    }
  none = policy_size_limits_parse (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (policy_size_limit_for (none, "x.example"), ==, 0);
}

static void
test_domains (void)
{
  static const char *const local[] = { "example.org", "Example.NET.", NULL };

  g_assert_cmpstr (policy_mailbox_domain ("a@b.example"), ==, "b.example");
  g_assert_cmpstr (policy_mailbox_domain ("\"a@x\"@b.example"), ==, "b.example");
  g_assert_cmpstr (policy_mailbox_domain (""), ==, "");
  g_assert_cmpstr (policy_mailbox_domain ("postmaster"), ==, "");
  g_assert_true (policy_domain_is_local (local, "example.org"));
  g_assert_true (policy_domain_is_local (local, "EXAMPLE.org."));
  g_assert_true (policy_domain_is_local (local, "example.net"));
  g_assert_false (policy_domain_is_local (local, "sub.example.org"));
  g_assert_false (policy_domain_is_local (local, "example.org.evil"));
  g_assert_false (policy_domain_is_local (local, ""));
  g_assert_false (policy_domain_is_local (local, NULL));
  g_assert_false (policy_domain_is_local (NULL, "example.org"));
}

static gboolean
has_from_only (const char *name, gpointer data)
{
  return g_ascii_strcasecmp (name, "from") == 0;
}

static void
test_missing_header (void)
{
  static const char *const required[] = { "From", "Date", NULL };
  static const char *const from_only[] = { "FROM", NULL };

  g_assert_cmpstr (policy_first_missing_header (required, has_from_only, NULL), ==, "Date");
  g_assert_null (policy_first_missing_header (from_only, has_from_only, NULL));
  g_assert_null (policy_first_missing_header (NULL, has_from_only, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/filter-policy/rules/actions", test_actions);
  g_test_add_func ("/filter-policy/rules/size-limits", test_size_limits);
  g_test_add_func ("/filter-policy/rules/domains", test_domains);
  g_test_add_func ("/filter-policy/rules/missing-header", test_missing_header);
  return g_test_run ();
}
