/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "smtp-address.h"

typedef struct {
  const char *path;
  SmtpAddressClass expect;
  const char *why;
} ClassCase;

#define L SMTP_ADDRESS_LOCAL
#define R SMTP_ADDRESS_REMOTE
#define I SMTP_ADDRESS_INVALID

static const char *const local_domains[] = {
  "example.org", "Example.NET.", "[192.0.2.10]", "[IPv6:2001:db8::10]", "bücher.example", NULL
};

static const ClassCase cases[] = {
  { "<alice@example.org>", L, "plain local" },
  { "<alice@EXAMPLE.ORG>", L, "domains are case-insensitive" },
  { "<alice@example.net>", L, "list entry with a trailing dot and capitals" },
  { "<ALICE@example.org>", L, "local part case kept, still local" },
  { "<alice@other.example>", R, "plain remote" },
  { "<alice@sub.example.org>", R, "a subdomain is not the domain" },
  { "<alice@example.org.evil.example>", R, "suffix tricks are remote" },
  { "<alice@xexample.org>", R, "no substring matching" },
  { "<user%other.example@example.org>", L, "% is part of the local part, never routed" },
  { "<user%other.example%third.example@example.org>", L, "several % still plain" },
  { "<user!other@example.org>", L, "bang path is a plain local part" },
  { "<other!user@example.org>", L, "bang path the other way round" },
  { "<\"user%other.example\"@example.org>", L, "quoted % still plain" },
  { "<@example.org:bob@other.example>", R, "source route dropped: classification uses bob@other.example" },
  { "<@other.example:bob@example.org>", L, "source route through a stranger dropped: local" },
  { "<@a.example,@b.example:bob@c.example>", R, "multi-hop route dropped" },
  { "<\"user@other.example\"@example.org>", I, "quoted local part with @ refused for local delivery" },
  { "<\"@\"@example.org>", I, "quoted lone @ refused" },
  { "<\"user@other.example\"@remote.example>", R, "quoted @ at a remote domain is the remote's business" },
  { "<user@other.example@example.org>", I, "two unquoted @ is a syntax error" },
  { "<user@example.org@other.example>", I, "two unquoted @ the other way round" },
  { "<alice@example.org.>", I, "trailing dot in a path is a syntax error" },
  { "<alice@.example.org>", I, "leading dot in a domain" },
  { "<alice@[127.0.0.1]>", R, "loopback literal is not local unless configured" },
  { "<alice@[192.0.2.10]>", L, "configured IPv4 literal" },
  { "<alice@[192.0.2.010]>", L, "Snum with leading zero is the same address" },
  { "<alice@[192.0.2.11]>", R, "another literal is remote" },
  { "<alice@[IPv6:2001:DB8:0::10]>", L, "configured IPv6 literal, other spelling" },
  { "<alice@[IPv6:2001:db8::11]>", R, "other IPv6 literal" },
  { "<alice@[IPv6:::ffff:192.0.2.10]>", R, "v4-mapped is not the v4 literal" },
  { "<alice@127.0.0.1>", I, "unbracketed IP address refused" },
  { "<alice@192.0.2.10>", I, "unbracketed configured IP refused too" },
  { "<alice@123>", I, "all-numeric single label" },
  { "<alice@localhost>", R, "localhost is not local unless configured" },
  { "<Postmaster>", L, "bare Postmaster" },
  { "<POSTMASTER>", L, "bare Postmaster, any case" },
  { "<postmaster@example.org>", L, "postmaster at a local domain" },
  { "<postmaster@other.example>", R, "postmaster elsewhere" },
  { "<>", I, "null path is no recipient" },
  { "<alice>", I, "no domain" },
  { "alice@example.org", I, "no brackets" },
  { "<alice@example.org> ", I, "trailing garbage" },
  { "<alice@example.org", I, "unterminated" },
  { "<jö@bücher.example>", L, "UTF-8 local part and U-label domain" },
  { "<jö@BÜCHER.example>", L, "U-label compared case-folded" },
  { "<jö@xn--bcher-kva.example>", R, "no IDNA mapping: the A-label must be listed itself" },
  { "<a@b_c.example>", I, "underscore in a domain" },
  { "<a@-example.org>", I, "label starting with a hyphen" },
  { "<\"a\\\"b\"@example.org>", L, "escaped quote in a quoted local part" },
  { "<\"\"@example.org>", I, "empty quoted local part" },
};

static void
test_classify_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      SmtpAddressClass got = smtp_address_classify_string (cases[i].path, local_domains);

      if (got != cases[i].expect)
        g_error ("case %zu %s (%s): got %d, want %d", i, cases[i].path, cases[i].why,
                 got, cases[i].expect);
    }
}

static void
test_route_discarded (void)
{
  static const char text[] = "<@hop.example:bob@example.org>";
  g_autoptr(SmtpPath) path = NULL;
  g_autofree char *mailbox = NULL;
  gsize consumed;

  g_assert_cmpint (smtp_path_parse (text, sizeof text - 1, SMTP_PATH_FORWARD, &path, &consumed),
                   ==, SMTP_PATH_OK);
  g_assert_cmpstr (path->route, ==, "@hop.example");
  g_assert_cmpstr (path->local_part, ==, "bob");
  g_assert_cmpstr (path->domain, ==, "example.org");
  mailbox = smtp_path_to_mailbox (path);
  g_assert_cmpstr (mailbox, ==, "bob@example.org");
}

static void
test_percent_not_split (void)
{
  static const char text[] = "<user%other.example@example.org>";
  g_autoptr(SmtpPath) path = NULL;
  gsize consumed;

  g_assert_cmpint (smtp_path_parse (text, sizeof text - 1, SMTP_PATH_FORWARD, &path, &consumed),
                   ==, SMTP_PATH_OK);
  g_assert_cmpstr (path->local_part, ==, "user%other.example");
  g_assert_cmpstr (path->domain, ==, "example.org");
  g_assert_cmpint (smtp_address_classify (path, local_domains), ==, SMTP_ADDRESS_LOCAL);
}

static void
test_utf8_needs_flag (void)
{
  static const char text[] = "<jö@example.org>";
  g_autoptr(SmtpPath) path = NULL;
  gsize consumed;

  g_assert_cmpint (smtp_path_parse (text, sizeof text - 1, SMTP_PATH_FORWARD, &path, &consumed),
                   ==, SMTP_PATH_NEEDS_UTF8);
  g_assert_null (path);
  g_assert_cmpint (smtp_path_parse (text, sizeof text - 1,
                                    SMTP_PATH_FORWARD | SMTP_PATH_ALLOW_UTF8, &path, &consumed),
                   ==, SMTP_PATH_OK);
  g_assert_true (path->utf8);
  /* invalid UTF-8 is a syntax error even with SMTPUTF8 */
  g_assert_cmpint (smtp_path_parse ("<j\xc3@example.org>", 16,
                                    SMTP_PATH_FORWARD | SMTP_PATH_ALLOW_UTF8, &path, &consumed),
                   ==, SMTP_PATH_SYNTAX);
}

static void
test_domain_equal (void)
{
  g_assert_true (smtp_domain_equal ("Example.ORG", "example.org."));
  g_assert_true (smtp_domain_equal ("[IPv6:2001:db8::1]", "[ipv6:2001:DB8:0:0::1]"));
  g_assert_false (smtp_domain_equal ("[192.0.2.1]", "192.0.2.1"));
  g_assert_false (smtp_domain_equal ("example.org", "example.org.."));
  g_assert_false (smtp_domain_equal (NULL, "example.org"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/smtp/address/classify-table", test_classify_table);
  g_test_add_func ("/smtp/address/source-route-discarded", test_route_discarded);
  g_test_add_func ("/smtp/address/percent-not-split", test_percent_not_split);
  g_test_add_func ("/smtp/address/utf8-needs-smtputf8", test_utf8_needs_flag);
  g_test_add_func ("/smtp/address/domain-equal", test_domain_equal);
  return g_test_run ();
}
