/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sequence sets, modified UTF-7, string quoting and dates. */
#include <string.h>

#include "imap-quote.h"
#include "imap-sequence.h"
#include "imap-utf7.h"

typedef struct {
  const char *text;
  guint32 max;
  const char *resolved;  /* NULL: rejected */
} SeqCase;

static const SeqCase seq_cases[] = {
  { "1", 10, "1" },
  { "1:*", 10, "1:10" },
  { "*:4", 10, "4:10" },
  { "*", 10, "10" },
  { "3,1:2,7", 10, "1:3,7" },
  { "5:3,4:8,20", 30, "3:8,20" },
  { "1,2,3,4", 10, "1:4" },
  { "9999:*", 65, "65:9999" },
  { "1,3,5:7,*", 65, "1,3,5:7,65" },
  { "4294967295", 5, "4294967295" },
  { "1:4294967295", 5, "1:4294967295" },
  { "2:*", 0, "2" },
  { "*", 0, "" },
  { "0", 5, NULL },
  { "0:5", 5, NULL },
  { "4294967296", 5, NULL },
  { "", 5, NULL },
  { "1,", 5, NULL },
  { ",1", 5, NULL },
  { "1,,2", 5, NULL },
  { "1:", 5, NULL },
  { ":1", 5, NULL },
  { "1:2:3", 5, NULL },
  { "01", 5, NULL },
  { "a", 5, NULL },
  { "1 2", 5, NULL },
  { "-1", 5, NULL },
  { "**", 5, NULL },
};

static void
test_seq_case (gconstpointer data)
{
  const SeqCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ImapSeqSet) set = imap_seqset_parse (c->text, -1, FALSE, &error);

  if (c->resolved == NULL)
    {
      g_assert_null (set);
      g_assert_error (error, IMAP_SEQSET_ERROR, 0);
      g_assert_false (imap_seqset_is_valid (c->text, -1, TRUE));
    }
  else
    {
      g_autoptr(ImapRangeList) list = NULL;
      g_autofree char *text = NULL;

      g_assert_no_error (error);
      list = imap_seqset_resolve (set, c->max);
      text = imap_range_list_to_string (list);
      g_assert_cmpstr (text, ==, c->resolved);
    }
}

static void
test_seq_saved (void)
{
  g_autoptr(ImapSeqSet) set = imap_seqset_parse ("$", -1, TRUE, NULL);
  g_autofree char *text = NULL;

  g_assert_nonnull (set);
  g_assert_true (set->saved);
  g_assert_null (imap_seqset_resolve (set, 10));
  text = imap_seqset_to_string (set);
  g_assert_cmpstr (text, ==, "$");
  g_assert_false (imap_seqset_is_valid ("$", -1, FALSE));
}

static void
test_range_list (void)
{
  g_autoptr(ImapRangeList) a = imap_range_list_new ();
  g_autoptr(ImapRangeList) b = imap_range_list_new ();
  g_autofree char *text = NULL;
  ImapRangeIter it;
  guint32 v, expect[] = { 2, 3, 4, 5, 9, 4294967295u };
  guint n = 0;

  imap_range_list_add (a, 2, 3);
  imap_range_list_add (a, 9, 9);
  imap_range_list_add (b, 5, 4);
  imap_range_list_add (b, 4294967295u, 4294967295u);
  imap_range_list_union (a, b);
  text = imap_range_list_to_string (a);
  g_assert_cmpstr (text, ==, "2:5,9,4294967295");
  g_assert_cmpuint (imap_range_list_count (a), ==, 6);
  g_assert_true (imap_range_list_contains (a, 4));
  g_assert_true (imap_range_list_contains (a, 4294967295u));
  g_assert_false (imap_range_list_contains (a, 6));
  g_assert_false (imap_range_list_contains (a, 1));
  g_assert_cmpuint (imap_range_list_min (a), ==, 2);
  g_assert_cmpuint (imap_range_list_max (a), ==, 4294967295u);
  imap_range_iter_init (&it, a);
  while (imap_range_iter_next (&it, &v))
    g_assert_cmpuint (v, ==, expect[n++]);
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (expect));
  imap_range_list_add (a, 6, 8);
  g_clear_pointer (&text, g_free);
  text = imap_range_list_to_string (a);
  g_assert_cmpstr (text, ==, "2:9,4294967295");
}

typedef struct {
  const char *utf8;
  const char *mutf7;
} Utf7Case;

static const Utf7Case utf7_cases[] = {
  { "INBOX", "INBOX" },
  { "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
  { "&", "&-" },
  { "Tom & Jerry", "Tom &- Jerry" },
  { "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
  { "\xc3\xa4\xc3\xb6\xc3\xbc", "&AOQA9gD8-" },
  { "\xe2\x82\xac", "&IKw-" },
  { "\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail" },
  { "\xef\xbf\xbd", "&,,0-" },
};

static const char *const utf7_rejects[] = {
  "&", "&U,BTFw", "&U,BTFw-&ZeVnLIqe-", "&AGE-", "&-&AOQ", "&A", "&AOQ?-", "caf\xc3\xa9",
  "tab\there", "&2D0-", "&3cc-", "&AOR-", "&-", NULL,
};

static void
test_utf7_roundtrip (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (utf7_cases); i++)
    {
      g_autofree char *enc = imap_utf7_encode (utf7_cases[i].utf8, NULL);
      g_autofree char *dec = imap_utf7_decode (utf7_cases[i].mutf7, NULL);

      g_assert_cmpstr (enc, ==, utf7_cases[i].mutf7);
      g_assert_cmpstr (dec, ==, utf7_cases[i].utf8);
    }
}

static void
test_utf7_all_bmp (void)
{
  GString *all = g_string_new (NULL);
  g_autofree char *enc = NULL, *dec = NULL;

  for (gunichar c = 1; c < 0x10000; c++)
    if (c < 0xd800 || c > 0xdfff)
      g_string_append_unichar (all, c);
  for (gunichar c = 0x10000; c < 0x110000; c += 0x1001)
    g_string_append_unichar (all, c);
  enc = imap_utf7_encode (all->str, NULL);
  g_assert_nonnull (enc);
  dec = imap_utf7_decode (enc, NULL);
  g_assert_cmpstr (dec, ==, all->str);
  g_string_free (all, TRUE);
}

static void
test_utf7_rejects (void)
{
  for (guint i = 0; utf7_rejects[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *dec = imap_utf7_decode (utf7_rejects[i], &error);

      if (strcmp (utf7_rejects[i], "&-") == 0)
        {
          g_assert_cmpstr (dec, ==, "&");
          continue;
        }
      if (dec != NULL)
        g_error ("accepted %s", utf7_rejects[i]);
      g_assert_error (error, IMAP_UTF7_ERROR, 0);
      g_assert_false (imap_utf7_is_valid (utf7_rejects[i]));
    }
  g_assert_null (imap_utf7_encode ("\xff", NULL));
}

static void
test_quote (void)
{
  static const struct {
    const char *in;
    gboolean utf8;
    const char *string, *astring;
  } cases[] = {
    { "plain", FALSE, "\"plain\"", "plain" },
    { "with space", FALSE, "\"with space\"", "\"with space\"" },
    { "q\"b\\", FALSE, "\"q\\\"b\\\\\"", "\"q\\\"b\\\\\"" },
    { "", FALSE, "\"\"", "\"\"" },
    { "NIL", FALSE, "\"NIL\"", "\"NIL\"" },
    { "a\r\nb", FALSE, "{4}\r\na\r\nb", "{4}\r\na\r\nb" },
    { "caf\xc3\xa9", FALSE, "{5}\r\ncaf\xc3\xa9", "{5}\r\ncaf\xc3\xa9" },
    { "caf\xc3\xa9", TRUE, "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\"" },
    { "a]b", FALSE, "\"a]b\"", "\"a]b\"" },
    { "50%", FALSE, "\"50%\"", "\"50%\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GString) s = g_string_new (NULL), a = g_string_new (NULL);

      imap_quote_append_string (s, cases[i].in, -1, cases[i].utf8);
      imap_quote_append_astring (a, cases[i].in, cases[i].utf8);
      g_assert_cmpstr (s->str, ==, cases[i].string);
      g_assert_cmpstr (a->str, ==, cases[i].astring);
    }
  {
    g_autoptr(GString) s = g_string_new (NULL);
    g_autofree char *big = g_strnfill (2000, 'x');

    imap_quote_append_nstring (s, NULL, -1, FALSE);
    g_string_append_c (s, ' ');
    imap_quote_append_nstring (s, "a\0b", 3, FALSE);
    g_assert_cmpmem (s->str, s->len, "NIL {3}\r\na\0b", 12);
    g_string_truncate (s, 0);
    imap_quote_append_string (s, big, -1, FALSE);
    g_assert_true (g_str_has_prefix (s->str, "{2000}\r\n"));
  }
}

static void
test_datetime (void)
{
  gint64 t;
  int tz;
  guint y, m, d;
  g_autofree char *s1 = imap_datetime_format (837596665, -420);
  g_autofree char *s2 = imap_datetime_format (1704110460, 0);
  g_autofree char *s3 = imap_datetime_format (0, 330);

  g_assert_cmpstr (s1, ==, "17-Jul-1996 02:44:25 -0700");
  g_assert_cmpstr (s2, ==, "01-Jan-2024 12:01:00 +0000");
  g_assert_cmpstr (s3, ==, "01-Jan-1970 05:30:00 +0530");
  g_assert_true (imap_datetime_parse ("17-Jul-1996 02:44:25 -0700", &t, &tz));
  g_assert_cmpint (t, ==, 837596665);
  g_assert_cmpint (tz, ==, -420);
  g_assert_true (imap_datetime_parse (" 7-feb-1994 21:52:25 -0800", &t, &tz));
  g_assert_true (imap_datetime_parse ("7-Feb-1994 21:52:25 +0100", &t, &tz));
  g_assert_false (imap_datetime_parse ("17-Jul-1996 02:44:25", &t, &tz));
  g_assert_false (imap_datetime_parse ("17-Jul-1996 24:00:00 +0000", &t, &tz));
  g_assert_false (imap_datetime_parse ("29-Feb-2023 00:00:00 +0000", &t, &tz));
  g_assert_false (imap_datetime_parse ("17-Jul-1996 02:44:25 -07000", &t, &tz));
  g_assert_false (imap_datetime_parse ("17-Jly-1996 02:44:25 -0700", &t, &tz));
  g_assert_true (imap_date_parse ("1-Feb-1994", &y, &m, &d));
  g_assert_cmpuint (y * 10000 + m * 100 + d, ==, 19940201);
  g_assert_false (imap_date_parse ("1-Feb-94", &y, &m, &d));
  g_assert_false (imap_date_parse ("123-Feb-1994", &y, &m, &d));
  g_assert_false (imap_date_parse ("1-Feb-1994 ", &y, &m, &d));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (seq_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/imap4/sequence/set/%02u", i);
      g_test_add_data_func (path, &seq_cases[i], test_seq_case);
    }
  g_test_add_func ("/imap4/sequence/saved", test_seq_saved);
  g_test_add_func ("/imap4/sequence/range-list", test_range_list);
  g_test_add_func ("/imap4/utf7/roundtrip", test_utf7_roundtrip);
  g_test_add_func ("/imap4/utf7/all-bmp-and-astral", test_utf7_all_bmp);
  g_test_add_func ("/imap4/utf7/rejects", test_utf7_rejects);
  g_test_add_func ("/imap4/quote/strings", test_quote);
  g_test_add_func ("/imap4/quote/datetime", test_datetime);
  return g_test_run ();
}
