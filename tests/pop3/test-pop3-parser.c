/* The pure halves of the POP3 plugin: the command parser and the
 * dot-stuffing encoder for RETR/TOP, as tables.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-parser.h"
#include "pop3-stuff.h"

#include <string.h>

/* @length bytes on the heap without a terminator (one byte for an
 * empty line, so the pointer is never NULL). */
static char *
exact_copy (const char *text, gsize length)
{
  char *copy = g_malloc (MAX (length, 1));

  memcpy (copy, text, length);
  return copy;
}

typedef struct {
  const char *line;
  Pop3CommandKind kind;
  const char *arg;
  const char *arg2;
  gboolean has_msg;
  guint32 msg;
  guint64 lines;
} GoodLine;

static const GoodLine good_lines[] = {
  { "USER alice@example.org", POP3_CMD_USER, "alice@example.org", NULL, FALSE, 0, 0 },
  { "user  alice@example.org ", POP3_CMD_USER, "alice@example.org", NULL, FALSE, 0, 0 },
  { "PASS secret", POP3_CMD_PASS, "secret", NULL, FALSE, 0, 0 },
  { "PASS with  two spaces ", POP3_CMD_PASS, "with  two spaces ", NULL, FALSE, 0, 0 },
  { "PASS ", POP3_CMD_PASS, "", NULL, FALSE, 0, 0 },
  { "APOP mrose c4c9334bac560ecc979e58001b3e22fb", POP3_CMD_APOP, "mrose",
    "c4c9334bac560ecc979e58001b3e22fb", FALSE, 0, 0 },
  { "AUTH", POP3_CMD_AUTH, NULL, NULL, FALSE, 0, 0 },
  { "AUTH PLAIN", POP3_CMD_AUTH, "PLAIN", NULL, FALSE, 0, 0 },
  { "AUTH PLAIN AGFsaWNlAHNlY3JldA==", POP3_CMD_AUTH, "PLAIN", "AGFsaWNlAHNlY3JldA==", FALSE, 0, 0 },
  { "AUTH PLAIN =", POP3_CMD_AUTH, "PLAIN", "=", FALSE, 0, 0 },
  { "STLS", POP3_CMD_STLS, NULL, NULL, FALSE, 0, 0 },
  { "capa", POP3_CMD_CAPA, NULL, NULL, FALSE, 0, 0 },
  { "QUIT", POP3_CMD_QUIT, NULL, NULL, FALSE, 0, 0 },
  { "Stat ", POP3_CMD_STAT, NULL, NULL, FALSE, 0, 0 },
  { "LIST", POP3_CMD_LIST, NULL, NULL, FALSE, 0, 0 },
  { "LIST 2", POP3_CMD_LIST, NULL, NULL, TRUE, 2, 0 },
  { "RETR 1", POP3_CMD_RETR, NULL, NULL, TRUE, 1, 0 },
  { "RETR 4294967295", POP3_CMD_RETR, NULL, NULL, TRUE, G_MAXUINT32, 0 },
  { "DELE 17", POP3_CMD_DELE, NULL, NULL, TRUE, 17, 0 },
  { "NOOP", POP3_CMD_NOOP, NULL, NULL, FALSE, 0, 0 },
  { "RSET", POP3_CMD_RSET, NULL, NULL, FALSE, 0, 0 },
  { "TOP 1 0", POP3_CMD_TOP, NULL, NULL, TRUE, 1, 0 },
  { "TOP 3  10", POP3_CMD_TOP, NULL, NULL, TRUE, 3, 10 },
  { "TOP 1 18446744073709551615", POP3_CMD_TOP, NULL, NULL, TRUE, 1, G_MAXUINT64 },
  { "UIDL", POP3_CMD_UIDL, NULL, NULL, FALSE, 0, 0 },
  { "uidl 5", POP3_CMD_UIDL, NULL, NULL, TRUE, 5, 0 },
};

static void
test_parser_good (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (good_lines); i++)
    {
      const GoodLine *t = &good_lines[i];
      Pop3Command cmd;
      const char *error_text = NULL;

      g_test_message ("%s", t->line);
      g_assert_true (pop3_command_parse (t->line, strlen (t->line), &cmd, &error_text));
      g_assert_null (error_text);
      g_assert_cmpint (cmd.kind, ==, t->kind);
      g_assert_cmpstr (cmd.arg, ==, t->arg);
      g_assert_cmpstr (cmd.arg2, ==, t->arg2);
      g_assert_cmpint (cmd.has_msg, ==, t->has_msg);
      g_assert_cmpuint (cmd.msg, ==, t->msg);
      g_assert_cmpuint (cmd.lines, ==, t->lines);
      pop3_command_clear (&cmd);
    }
}

typedef struct {
  const char *line;
  gsize length;  /* 0: strlen */
  const char *error;
} BadLine;

static const BadLine bad_lines[] = {
  { "", 0, "Unknown command" },
  { "XTND", 0, "Unknown command" },
  { "RETRX 1", 0, "Unknown command" },
  { " RETR 1", 0, "Unknown command" },
  { "STAT\r", 0, "Unknown command" },
  { "USER", 0, "Syntax: USER name" },
  { "USER a b", 0, "Syntax: USER name" },
  { "PASS", 0, "Syntax: PASS password" },
  { "APOP mrose", 0, "Syntax: APOP name digest" },
  { "AUTH PLAIN a b", 0, "Syntax: AUTH [mechanism [initial-response]]" },
  { "STLS now", 0, "Syntax: STLS (no arguments)" },
  { "STAT 1", 0, "Syntax: STAT (no arguments)" },
  { "NOOP x", 0, "Syntax: NOOP (no arguments)" },
  { "QUIT now", 0, "Syntax: QUIT (no arguments)" },
  { "LIST 1 2", 0, "Syntax: LIST [msg]" },
  { "RETR", 0, "Syntax: RETR msg" },
  { "RETR 1 2", 0, "Syntax: RETR msg" },
  { "RETR 0", 0, "Message number must be at least 1" },
  { "DELE 0", 0, "Message number must be at least 1" },
  { "RETR -1", 0, "Invalid message number" },
  { "RETR +1", 0, "Invalid message number" },
  { "RETR 1x", 0, "Invalid message number" },
  { "RETR 4294967296", 0, "Invalid message number" },
  { "RETR 99999999999999999999999", 0, "Invalid message number" },
  { "DELE", 0, "Syntax: DELE msg" },
  { "TOP 1", 0, "Syntax: TOP msg lines" },
  { "TOP 1 -1", 0, "Invalid number of lines" },
  { "TOP 1 18446744073709551616", 0, "Invalid number of lines" },
  { "TOP 0 1", 0, "Message number must be at least 1" },
  { "UIDL 0", 0, "Message number must be at least 1" },
  { "UIDL a", 0, "Invalid message number" },
  { "RETR 1\0", 7, "Command contains a NUL byte" },
  { "US\0ER x", 7, "Command contains a NUL byte" },
  /* Not NUL-terminated: only @length bytes belong to the line (the
   * parser once looked past them for the keyword's end). */
  { "USER alice", 4, "Syntax: USER name" },
  { "USER alice", 5, "Syntax: USER name" },
  { "PASS secret", 4, "Syntax: PASS password" },
  { "RETR 12", 4, "Syntax: RETR msg" },
  { "STATX", 3, "Unknown command" },
  { "TOP 1 5", 5, "Syntax: TOP msg lines" },
};

/* Lines that are a prefix of a longer buffer (the bytes after @length
 * are not NUL): they parse as the first @length bytes alone. */
typedef struct {
  const char *buffer;
  gsize length;
  Pop3CommandKind kind;
  const char *arg;
  guint32 msg;
} PrefixLine;

static const PrefixLine prefix_lines[] = {
  { "STATX", 4, POP3_CMD_STAT, NULL, 0 },
  { "QUIT now", 4, POP3_CMD_QUIT, NULL, 0 },
  { "RETR 12", 6, POP3_CMD_RETR, NULL, 1 },
  { "USER alice bob", 10, POP3_CMD_USER, "alice", 0 },
  { "PASS secretXYZ", 11, POP3_CMD_PASS, "secret", 0 },
  { "PASS ", 5, POP3_CMD_PASS, "", 0 },
  { "AUTH", 4, POP3_CMD_AUTH, NULL, 0 },
};

static void
test_parser_prefix (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (prefix_lines); i++)
    {
      const PrefixLine *t = &prefix_lines[i];
      /* exactly @length bytes on the heap, no terminator */
      g_autofree char *line = exact_copy (t->buffer, t->length);
      Pop3Command cmd;
      const char *error_text = NULL;

      g_test_message ("%.*s", (int) t->length, t->buffer);
      g_assert_true (pop3_command_parse (line, t->length, &cmd, &error_text));
      g_assert_cmpint (cmd.kind, ==, t->kind);
      g_assert_cmpstr (cmd.arg, ==, t->arg);
      g_assert_cmpuint (cmd.msg, ==, t->msg);
      pop3_command_clear (&cmd);
    }
}

static void
test_parser_bad (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_lines); i++)
    {
      const BadLine *t = &bad_lines[i];
      Pop3Command cmd;
      const char *error_text = NULL;
      gsize length = t->length != 0 ? t->length : strlen (t->line);

      /* An exact-size copy: a read past @length is a heap overflow
       * that ASan reports. */
      g_autofree char *line = exact_copy (t->line, length);

      g_test_message ("%s", t->line);
      g_assert_false (pop3_command_parse (line, length, &cmd, &error_text));
      g_assert_cmpstr (error_text, ==, t->error);
      g_assert_null (cmd.arg);
      g_assert_null (cmd.arg2);
    }
}

static void
test_parser_states (void)
{
  g_assert_cmpuint (pop3_command_states (POP3_CMD_USER), ==, POP3_STATE_AUTHORIZATION);
  g_assert_cmpuint (pop3_command_states (POP3_CMD_STLS), ==, POP3_STATE_AUTHORIZATION);
  g_assert_cmpuint (pop3_command_states (POP3_CMD_RETR), ==, POP3_STATE_TRANSACTION);
  g_assert_cmpuint (pop3_command_states (POP3_CMD_CAPA), ==,
                    POP3_STATE_AUTHORIZATION | POP3_STATE_TRANSACTION);
  g_assert_cmpuint (pop3_command_states (POP3_CMD_QUIT), ==,
                    POP3_STATE_AUTHORIZATION | POP3_STATE_TRANSACTION);
  g_assert_cmpstr (pop3_command_name (POP3_CMD_TOP), ==, "TOP");
}

typedef struct {
  const char *name;
  const char *message;
  gboolean top;
  guint64 header_size;
  guint64 lines;
  const char *expected;
} StuffCase;

static const StuffCase stuff_cases[] = {
  { "plain", "a\r\nb\r\n", FALSE, 0, 0, "a\r\nb\r\n.\r\n" },
  { "empty", "", FALSE, 0, 0, ".\r\n" },
  { "dot-lines", ".\r\n..\r\n.x\r\nx.\r\n", FALSE, 0, 0, "..\r\n...\r\n..x\r\nx.\r\n.\r\n" },
  { "first-byte-dot", ".", FALSE, 0, 0, "..\r\n.\r\n" },
  { "no-final-crlf", "a\r\nb", FALSE, 0, 0, "a\r\nb\r\n.\r\n" },
  { "bare-cr-not-line-start", "a\r.b\r\n", FALSE, 0, 0, "a\r.b\r\n.\r\n" },
  { "crlf-dot-crlf-inside", "a\r\n.\r\nb\r\n", FALSE, 0, 0, "a\r\n..\r\nb\r\n.\r\n" },
  { "top-0", "H: 1\r\n\r\nl1\r\nl2\r\n", TRUE, 8, 0, "H: 1\r\n\r\n.\r\n" },
  { "top-1", "H: 1\r\n\r\nl1\r\nl2\r\n", TRUE, 8, 1, "H: 1\r\n\r\nl1\r\n.\r\n" },
  { "top-more-than-body", "H: 1\r\n\r\nl1\r\nl2", TRUE, 8, 5, "H: 1\r\n\r\nl1\r\nl2\r\n.\r\n" },
  { "top-dots", ".H: 1\r\n\r\n.l1\r\n.l2\r\n", TRUE, 9, 1, "..H: 1\r\n\r\n..l1\r\n.\r\n" },
  { "top-no-body", "H: 1\r\nG: 2\r\n", TRUE, 12, 3, "H: 1\r\nG: 2\r\n.\r\n" },
  { "top-header-no-eol", "H: 1\r\nG: 2", TRUE, 11, 0, "H: 1\r\nG: 2\r\n.\r\n" },
  { "top-header-shorter", "H: 1\r\nGGG\r\n", TRUE, 8, 0, "H: 1\r\nGG\r\n.\r\n" },
};

/* Feeds @c in pieces of @piece bytes. */
static char *
stuff (const StuffCase *c, gsize piece)
{
  Pop3Stuffer stuffer;
  GByteArray *out = g_byte_array_new ();
  gsize length = strlen (c->message);
  gsize at = 0;

  if (c->top)
    pop3_stuffer_init_top (&stuffer, c->header_size, c->lines);
  else
    pop3_stuffer_init (&stuffer);
  while (at < length && !stuffer.done)
    {
      gsize n = MIN (piece, length - at);

      /* what pass-through accepts must come out the same */
      if (pop3_stuffer_pass_through (&stuffer, (const guint8 *) c->message + at, n))
        g_byte_array_append (out, (const guint8 *) c->message + at, (guint) n);
      else
        pop3_stuffer_feed (&stuffer, (const guint8 *) c->message + at, n, out);
      at += n;
    }
  pop3_stuffer_finish (&stuffer, out);
  g_byte_array_append (out, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (out, FALSE);
}

static void
test_stuff_table (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (stuff_cases); i++)
    for (gsize piece = 1; piece <= 17; piece++)
      {
        g_autofree char *got = stuff (&stuff_cases[i], piece);

        g_test_message ("%s, pieces of %" G_GSIZE_FORMAT, stuff_cases[i].name, piece);
        g_assert_cmpstr (got, ==, stuff_cases[i].expected);
      }
}

/* Undoes the stuffing like a client: strips the terminator and one dot
 * of each line starting with a dot. */
static GBytes *
unstuff (const guint8 *data, gsize length)
{
  GByteArray *out = g_byte_array_new ();
  gsize at = 0;

  g_assert_cmpuint (length, >=, 3);
  g_assert_cmpmem (data + length - 3, 3, ".\r\n", 3);
  length -= 3;
  while (at < length)
    {
      const guint8 *lf = memchr (data + at, '\n', length - at);
      gsize end = lf != NULL ? (gsize) (lf - data) + 1 : length;

      if (data[at] == '.')
        at++;
      g_byte_array_append (out, data + at, (guint) (end - at));
      at = end;
    }
  return g_byte_array_free_to_bytes (out);
}

static void
test_stuff_round_trip (void)
{
  /* Random lines made of '.', 'a', CR, LF: every tricky boundary shows up. */
  static const char alphabet[] = ".a\r\n";
  GRand *rand = g_rand_new_with_seed (1939);

  for (guint round = 0; round < 300; round++)
    {
      gsize length = (gsize) g_rand_int_range (rand, 0, 400);
      g_autofree char *message = g_malloc (length + 3);
      gsize piece = (gsize) g_rand_int_range (rand, 1, 64);
      GByteArray *out = g_byte_array_new ();
      Pop3Stuffer stuffer;
      g_autoptr(GBytes) back = NULL;
      gsize got_length;
      const guint8 *got;

      for (gsize i = 0; i < length; i++)
        message[i] = alphabet[g_rand_int_range (rand, 0, 4)];
      /* RETR sends messages that end in CRLF unchanged. */
      memcpy (message + length, "\r\n", 2);
      length += 2;
      pop3_stuffer_init (&stuffer);
      for (gsize at = 0; at < length; at += piece)
        pop3_stuffer_feed (&stuffer, (const guint8 *) message + at, MIN (piece, length - at), out);
      pop3_stuffer_finish (&stuffer, out);
      /* No line of the stuffed text is a lone "." before the end. */
      for (guint i = 0; i + 5 <= out->len - 3; i++)
        g_assert_false (memcmp (out->data + i, "\r\n.\r\n", 5) == 0 && i + 5 != out->len);
      back = unstuff (out->data, out->len);
      got = g_bytes_get_data (back, &got_length);
      g_assert_cmpmem (got, got_length, message, length);
      g_byte_array_unref (out);
    }
  g_rand_free (rand);
}

typedef struct {
  const char *piece;
  gboolean at_line_start;
  gboolean pass;
  gboolean at_line_start_after;
} PassCase;

static const PassCase pass_cases[] = {
  { "abc\r\n", TRUE, TRUE, TRUE },
  { "abc", TRUE, TRUE, FALSE },
  { ".abc\r\n", TRUE, FALSE, TRUE },
  { ".abc\r\n", FALSE, TRUE, TRUE },
  { "a.b\r\nc.d\r\n", TRUE, TRUE, TRUE },
  { "a\r\n.b\r\n", TRUE, FALSE, TRUE },
  { "a\r\n", FALSE, TRUE, TRUE },
  { "a\r.", TRUE, TRUE, FALSE },
  { "a\n.", TRUE, FALSE, TRUE },
};

static void
test_stuff_pass_through (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (pass_cases); i++)
    {
      const PassCase *c = &pass_cases[i];
      Pop3Stuffer stuffer;

      pop3_stuffer_init (&stuffer);
      stuffer.at_line_start = c->at_line_start;
      g_test_message ("%u", i);
      g_assert_cmpint (pop3_stuffer_pass_through (&stuffer, (const guint8 *) c->piece,
                                                  strlen (c->piece)), ==, c->pass);
      /* unchanged when refused */
      g_assert_cmpint (stuffer.at_line_start, ==, c->pass ? c->at_line_start_after
                                                         : c->at_line_start);
    }
  {
    Pop3Stuffer top;

    pop3_stuffer_init_top (&top, 4, 1);
    g_assert_false (pop3_stuffer_pass_through (&top, (const guint8 *) "ab\r\n", 4));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pop3/parser/good", test_parser_good);
  g_test_add_func ("/pop3/parser/bad", test_parser_bad);
  g_test_add_func ("/pop3/parser/not-nul-terminated", test_parser_prefix);
  g_test_add_func ("/pop3/parser/states", test_parser_states);
  g_test_add_func ("/pop3/stuff/table", test_stuff_table);
  g_test_add_func ("/pop3/stuff/round-trip", test_stuff_round_trip);
  g_test_add_func ("/pop3/stuff/pass-through", test_stuff_pass_through);
  return g_test_run ();
}
