/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SEARCH programs: every key, charsets, and every command of the shared
 * corpus's expected/search.txt. */
#include <string.h>

#include "imap-test-util.h"

typedef struct {
  const char *program;  /* after "A1 SEARCH " */
  const char *tree;     /* imap_search_key_to_string(), NULL: BAD */
} SearchCase;

static const SearchCase search_cases[] = {
  { "ALL", "(ALL)" },
  { "ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN",
    "(ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN)" },
  { "unanswered undeleted undraft unflagged unseen",
    "(UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN)" },
  { "BCC hidden CC \"a b\" FROM {5}\r\nalice TO bob", "(BCC \"hidden\" CC \"a b\" FROM \"alice\" TO \"bob\")" },
  { "BODY x TEXT \"q\\\"q\" SUBJECT \"\"", "(BODY \"x\" TEXT \"q\\\"q\" SUBJECT \"\")" },
  { "HEADER Message-ID \"<a@b>\"", "(HEADER \"Message-ID\" \"<a@b>\")" },
  { "KEYWORD $Forwarded UNKEYWORD $Junk", "(KEYWORD \"$Forwarded\" UNKEYWORD \"$Junk\")" },
  { "BEFORE 1-Feb-1994 ON \"17-Jul-1996\" SINCE 01-jan-2024", "(BEFORE 1-Feb-1994 ON 17-Jul-1996 SINCE 1-Jan-2024)" },
  { "SENTBEFORE 1-Jan-2024 SENTON 29-Feb-2024 SENTSINCE 31-Dec-2023",
    "(SENTBEFORE 1-Jan-2024 SENTON 29-Feb-2024 SENTSINCE 31-Dec-2023)" },
  { "LARGER 1000 SMALLER 18446744073709551615", "(LARGER 1000 SMALLER 18446744073709551615)" },
  { "UID 1:*,5 2:4,*:1 $", "(UID 1:*,5 2:4,*:1 $)" },
  { "NOT NOT SEEN", "(NOT NOT SEEN)" },
  { "OR OR SEEN FLAGGED (DELETED DRAFT)", "(OR OR SEEN FLAGGED (DELETED DRAFT))" },
  { "((((SEEN))))", "(((((SEEN)))))" },
  { "MODSEQ 5", "(MODSEQ 5)" },
  { "MODSEQ \"/flags/$junk\" priv 5", "(MODSEQ \"/flags/$junk\" priv 5)" },
  { "CHARSET US-ASCII SUBJECT plain", "(SUBJECT \"plain\")" },
  { "CHARSET ISO-8859-15 SUBJECT {1}\r\n\xa4", "(SUBJECT \"\xe2\x82\xac\")" },
  { "CHARSET windows-1251 SUBJECT {2}\r\n\xcf\xf0", "(SUBJECT \"\xd0\x9f\xd1\x80\")" },
  { "SUBJECT {5}\r\ncaf\xc3\xa9", "(SUBJECT \"caf\xc3\xa9\")" },
  { "ON 29-Feb-2023", NULL },
  { "ON 1-Foo-2023", NULL },
  { "LARGER -1", NULL },
  { "LARGER 18446744073709551616", NULL },
  { "HEADER \"Bad:Name\" x", NULL },
  { "NOT", NULL },
  { "UID", NULL },
  { "UID x", NULL },
  { "1:0", NULL },
  { "MODSEQ \"/flags/x\" bogus 5", NULL },
  { "CHARSET US-ASCII SUBJECT {1}\r\n\xe9", NULL },
  { "SUBJECT {1}\r\n\xe9", NULL },
};

static void
test_search_case (gconstpointer data)
{
  const SearchCase *c = data;
  ImapParser *parser = imap_parser_new (NULL, 0);
  g_autofree char *stream = g_strdup_printf ("A1 SEARCH %s\r\n", c->program);
  ImapParseResult r = imap_test_feed (parser, stream, strlen (stream), 3, NULL);

  if (c->tree == NULL)
    {
      g_assert_cmpint (r, ==, IMAP_PARSE_ERROR);
      g_assert_false (imap_parser_get_error (parser)->no);
      g_assert_cmpstr (imap_parser_get_error (parser)->tag, ==, "A1");
    }
  else
    {
      g_autoptr(ImapCommand) cmd = NULL;
      g_autofree char *tree = NULL;

      g_assert_cmpint (r, ==, IMAP_PARSE_COMMAND);
      cmd = imap_parser_take_command (parser);
      tree = imap_search_key_to_string (cmd->u.search.program);
      g_assert_cmpstr (tree, ==, c->tree);
    }
  imap_parser_free (&parser);
}

static void
test_badcharset (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char *line = "A7 UID SEARCH CHARSET X-UNKNOWN BODY \"x\"";
  const ImapParseError *e;

  g_assert_cmpint (imap_parser_feed_line (parser, line, strlen (line)), ==, IMAP_PARSE_ERROR);
  e = imap_parser_get_error (parser);
  g_assert_true (e->no);
  g_assert_cmpstr (e->code, ==, "BADCHARSET (UTF-8 US-ASCII)");
  g_assert_cmpstr (e->tag, ==, "A7");
  imap_parser_free (&parser);
}

static void
test_key_has (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char *line = "A1 SEARCH OR SEEN (NOT MODSEQ 4)";
  g_autoptr(ImapCommand) cmd = NULL;

  g_assert_cmpint (imap_parser_feed_line (parser, line, strlen (line)), ==, IMAP_PARSE_COMMAND);
  cmd = imap_parser_take_command (parser);
  g_assert_true (imap_search_key_has (cmd->u.search.program, IMAP_SEARCH_MODSEQ));
  g_assert_false (imap_search_key_has (cmd->u.search.program, IMAP_SEARCH_UID));
  imap_parser_free (&parser);
}

/* Every command Dovecot answered in the corpus must parse; the one it
 * refused (X-UNKNOWN charset) must give NO [BADCHARSET]. */
static void
test_corpus (void)
{
  const char *shared = g_getenv ("POSTHORN_SHARED_DIR");
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  gsize length;
  g_auto(GStrv) lines = NULL;
  guint parsed = 0, refused = 0;

  if (shared == NULL
      || !g_file_test ((path = g_build_filename (shared, "corpus", "expected", "search.txt", NULL)),
                       G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the shared corpus (POSTHORN_SHARED_DIR/corpus) is not present");
      return;
    }
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *tab = strchr (lines[i], '\t');
      g_autoptr(GString) cmd = g_string_new ("C1 ");
      ImapParser *parser;
      ImapParseResult r;
      gsize used;

      if (tab == NULL)
        continue;
      for (const char *p = lines[i]; p < tab; p++)
        {
          if (strncmp (p, "\\r\\n", 4) == 0)
            {
              g_string_append (cmd, "\r\n");
              p += 3;
            }
          else
            g_string_append_c (cmd, *p);
        }
      g_string_append (cmd, "\r\n");
      parser = imap_parser_new (NULL, 0);
      r = imap_test_feed (parser, cmd->str, cmd->len, 2, &used);
      if (g_str_has_prefix (tab + 1, "ERROR"))
        {
          g_assert_cmpint (r, ==, IMAP_PARSE_ERROR);
          g_assert_true (imap_parser_get_error (parser)->no);
          g_assert_cmpstr (imap_parser_get_error (parser)->code, ==, IMAP_SEARCH_BADCHARSET_CODE);
          refused++;
        }
      else
        {
          g_autoptr(ImapCommand) c = NULL;

          if (r != IMAP_PARSE_COMMAND)
            g_error ("corpus line %u did not parse: %s", i + 1, imap_parser_get_error (parser)->text);
          c = imap_parser_take_command (parser);
          g_assert_true (c->uid);
          g_assert_cmpint (c->type, ==, IMAP_COMMAND_SEARCH);
          g_assert_cmpuint (used, ==, cmd->len);
          parsed++;
        }
      imap_parser_free (&parser);
    }
  g_test_message ("%u corpus searches parsed, %u refused", parsed, refused);
  g_assert_cmpuint (parsed, >=, 80);
  g_assert_cmpuint (refused, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (search_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/imap4/search/program/%03u", i);
      g_test_add_data_func (path, &search_cases[i], test_search_case);
    }
  g_test_add_func ("/imap4/search/badcharset", test_badcharset);
  g_test_add_func ("/imap4/search/key-has", test_key_has);
  g_test_add_func ("/imap4/search/corpus", test_corpus);
  return g_test_run ();
}
