/* Table tests of the listener address parser (ph_listen_address_parse).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <string.h>

typedef struct {
  const char *text;
  PhListenFamily family;
  const char *address;
  guint16 port;
} GoodCase;

static const GoodCase good_cases[] = {
  { "127.0.0.1:143", PH_LISTEN_INET4, "127.0.0.1", 143 },
  { "0.0.0.0:0", PH_LISTEN_INET4, "0.0.0.0", 0 },
  { "192.0.2.7:65535", PH_LISTEN_INET4, "192.0.2.7", 65535 },
  { "[::1]:993", PH_LISTEN_INET6, "::1", 993 },
  { "[::]:25", PH_LISTEN_INET6, "::", 25 },
  { "[2001:DB8:0:0::1]:587", PH_LISTEN_INET6, "2001:db8::1", 587 },
  { "*:110", PH_LISTEN_ANY, "*", 110 },
  { "unix:/run/posthorn/lmtp", PH_LISTEN_UNIX, "/run/posthorn/lmtp", 0 },
};

static const char *const bad_cases[] = {
  "",
  "143",
  "127.0.0.1",
  "127.0.0.1:",
  "127.0.0.1:65536",
  "127.0.0.1:99999999999999999999",
  "127.0.0.1:-1",
  "127.0.0.1:+1",
  "127.0.0.1:14 3",
  "127.0.0.1:0x10",
  "localhost:143",
  "256.0.0.1:143",
  "1.2.3:143",
  "::1:143",
  "[::1]143",
  "[::1:143",
  "[127.0.0.1]:143",
  "[zz::1]:143",
  "*:",
  "*:abc",
  "unix:relative/path",
  "unix:",
  "unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

static void
test_parse_good (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (good_cases); i++)
    {
      const GoodCase *c = &good_cases[i];
      PhListenAddress parsed;
      g_autofree char *error = NULL;
      g_autofree char *again = NULL;

      g_test_message ("%s", c->text);
      g_assert_true (ph_listen_address_parse (c->text, &parsed, &error));
      g_assert_null (error);
      g_assert_cmpint (parsed.family, ==, c->family);
      g_assert_cmpstr (parsed.address, ==, c->address);
      g_assert_cmpuint (parsed.port, ==, c->port);

      /* The normalised text parses to the same address. */
      again = ph_listen_address_to_string (&parsed);
      {
        PhListenAddress reparsed;
        g_autofree char *error2 = NULL;
        g_assert_true (ph_listen_address_parse (again, &reparsed, &error2));
        g_assert_cmpint (reparsed.family, ==, parsed.family);
        g_assert_cmpstr (reparsed.address, ==, parsed.address);
        g_assert_cmpuint (reparsed.port, ==, parsed.port);
        ph_listen_address_clear (&reparsed);
      }
      ph_listen_address_clear (&parsed);
    }
}

static void
test_parse_bad (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      PhListenAddress parsed;
      g_autofree char *error = NULL;

      g_test_message ("'%s'", bad_cases[i]);
      g_assert_false (ph_listen_address_parse (bad_cases[i], &parsed, &error));
      g_assert_nonnull (error);
      g_assert_null (strchr (error, '\n'));
      g_assert_null (parsed.address);
    }
}

typedef struct {
  const char *a;
  const char *b;
  gboolean conflict;
} ConflictCase;

static const ConflictCase conflict_cases[] = {
  { "127.0.0.1:143", "127.0.0.1:143", TRUE },
  { "127.0.0.1:143", "127.0.0.1:144", FALSE },
  { "127.0.0.1:143", "127.0.0.2:143", FALSE },
  { "0.0.0.0:143", "127.0.0.1:143", TRUE },
  { "*:143", "127.0.0.1:143", TRUE },
  { "*:143", "[::1]:143", TRUE },
  { "[::]:143", "[::1]:143", TRUE },
  { "[::]:143", "127.0.0.1:143", FALSE },
  { "0.0.0.0:143", "[::1]:143", FALSE },
  { "[::1]:143", "[0:0::1]:143", TRUE },
  { "127.0.0.1:0", "127.0.0.1:0", FALSE },
  { "*:0", "127.0.0.1:0", FALSE },
  { "unix:/run/a", "unix:/run/a", TRUE },
  { "unix:/run/a", "unix:/run/b", FALSE },
  { "unix:/run/a", "127.0.0.1:0", FALSE },
};

static void
test_conflicts (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (conflict_cases); i++)
    {
      const ConflictCase *c = &conflict_cases[i];
      PhListenAddress a, b;
      g_autofree char *error_a = NULL;
      g_autofree char *error_b = NULL;

      g_test_message ("%s vs %s", c->a, c->b);
      g_assert_true (ph_listen_address_parse (c->a, &a, &error_a));
      g_assert_true (ph_listen_address_parse (c->b, &b, &error_b));
      g_assert_cmpint (ph_listen_address_conflicts (&a, &b), ==, c->conflict);
      g_assert_cmpint (ph_listen_address_conflicts (&b, &a), ==, c->conflict);
      ph_listen_address_clear (&a);
      ph_listen_address_clear (&b);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/listen-address/parse-good", test_parse_good);
  g_test_add_func ("/net/listen-address/parse-bad", test_parse_bad);
  g_test_add_func ("/net/listen-address/conflicts", test_conflicts);
  return g_test_run ();
}
