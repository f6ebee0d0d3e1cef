/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-parser.h"
#include "imap-quote.h"

#include <string.h>

#define LITERAL_MINUS_MAX 4096

struct _ImapParser {
  ImapParserLimits limits;
  ImapParserFlags flags;

  /* the command being read */
  gboolean in_command;
  gboolean after_token;
  char *tag;
  char *name;
  gboolean uid;
  GPtrArray *args;       /* top level, of ImapArg */
  GPtrArray *stack;      /* open lists, of ImapArg (not owned) */
  gsize command_size;
  guint messages;
  char *pending_error;   /* found inside a literal, reported on the next line */

  /* the literal expected now */
  gboolean want_literal;
  gboolean skipping;     /* the rest of a rejected command follows */
  ImapLiteralInfo literal;
  char *literal_description;
  guint64 literal_remaining;
  GByteArray *literal_buf;

  ImapCommand *command;
  ImapParseError error;
  char *error_tag;
  char *error_text;
  char *error_code;
};

ImapParser *
imap_parser_new (const ImapParserLimits *limits, ImapParserFlags flags)
{
  ImapParser *parser = g_new0 (ImapParser, 1);

  if (limits != NULL)
    parser->limits = *limits;
  if (parser->limits.max_line_length == 0)
    parser->limits.max_line_length = 65536;
  if (parser->limits.max_literal_size == 0)
    parser->limits.max_literal_size = 65536;
  if (parser->limits.max_list_depth == 0)
    parser->limits.max_list_depth = 16;
  if (parser->limits.max_command_size == 0)
    parser->limits.max_command_size = 1024 * 1024;
  parser->flags = flags;
  return parser;
}

static void
reset_command (ImapParser *parser)
{
  parser->in_command = FALSE;
  parser->after_token = FALSE;
  g_clear_pointer (&parser->tag, g_free);
  g_clear_pointer (&parser->name, g_free);
  parser->uid = FALSE;
  g_clear_pointer (&parser->args, g_ptr_array_unref);
  g_clear_pointer (&parser->stack, g_ptr_array_unref);
  g_clear_pointer (&parser->pending_error, g_free);
  parser->command_size = 0;
  parser->messages = 0;
}

static void
clear_literal (ImapParser *parser)
{
  parser->want_literal = FALSE;
  g_clear_pointer (&parser->literal_description, g_free);
  g_clear_pointer (&parser->literal_buf, g_byte_array_unref);
  memset (&parser->literal, 0, sizeof parser->literal);
}

void
imap_parser_free (ImapParser **parser)
{
  ImapParser *p = *parser;

  if (p == NULL)
    return;
  *parser = NULL;
  reset_command (p);
  clear_literal (p);
  imap_command_free (p->command);
  g_free (p->error_tag);
  g_free (p->error_text);
  g_free (p->error_code);
  g_free (p);
}

void
imap_parser_set_flags (ImapParser *parser, ImapParserFlags flags)
{
  parser->flags = flags;
}

/* Finds a literal marker "{n}", "{n+}", "~{n}" ending the line. */
static gboolean
trailing_literal (const char *line, gsize len, guint64 *size, gboolean *sync)
{
  gsize end, i;
  guint64 v = 0;

  if (len < 3 || line[len - 1] != '}')
    return FALSE;
  end = len - 1;
  *sync = line[end - 1] != '+';
  if (!*sync)
    end--;
  for (i = end; i > 0 && g_ascii_isdigit (line[i - 1]); i--)
    ;
  if (i == end || i == 0 || line[i - 1] != '{' || end - i > 19)
    return FALSE;
  for (gsize k = i; k < end; k++)
    v = v * 10 + (guint64) (line[k] - '0');
  *size = v;
  return TRUE;
}

static void
start_discard (ImapParser *parser, guint64 size)
{
  clear_literal (parser);
  parser->want_literal = TRUE;
  parser->skipping = TRUE;
  parser->literal.size = size;
  parser->literal.role = IMAP_LITERAL_DISCARD;
  parser->literal.description = "discarded literal";
  parser->literal_remaining = size;
}

static ImapParseResult
fail_full (ImapParser *parser, const char *line, gsize len,
           gboolean no, const char *code, const char *text)
{
  guint64 size;
  gboolean sync;

  g_free (parser->error_tag);
  g_free (parser->error_text);
  g_free (parser->error_code);
  parser->error_tag = g_strdup (parser->tag);
  parser->error_text = g_strdup (text);
  parser->error_code = g_strdup (code);
  parser->error.tag = parser->error_tag;
  parser->error.text = parser->error_text;
  parser->error.code = parser->error_code;
  parser->error.no = no;
  reset_command (parser);
  clear_literal (parser);
  if (line != NULL && trailing_literal (line, len, &size, &sync) && !sync)
    start_discard (parser, size);
  return IMAP_PARSE_ERROR;
}

static ImapParseResult
fail (ImapParser *parser, const char *line, gsize len, const char *text)
{
  return fail_full (parser, line, len, FALSE, NULL, text);
}

static gboolean
is_tag_char (guchar c)
{
  return imap_is_astring_char (c) && c != '+';
}

static void
add_arg (ImapParser *parser, ImapArg *arg)
{
  if (parser->stack->len > 0)
    {
      ImapArg *top = g_ptr_array_index (parser->stack, parser->stack->len - 1);
      g_ptr_array_add (top->list, arg);
    }
  else
    g_ptr_array_add (parser->args, arg);
}

static gboolean
is_section_prefix (const char *atom, gsize len)
{
  static const char *const prefixes[] = { "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE" };

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    if (strlen (prefixes[i]) == len && g_ascii_strncasecmp (atom, prefixes[i], len) == 0)
      return TRUE;
  return FALSE;
}

/* Reads an atom from line[*pos]; a fetch item's [section] may hold
 * spaces, parentheses and quoted strings. NULL on a bad byte. */
static const char *
read_atom (const char *line, gsize len, gsize *pos, gsize *start_out)
{
  gsize p = *pos;

  *start_out = p;
  while (p < len)
    {
      guchar c = (guchar) line[p];

      if (c == '[' && is_section_prefix (line + *start_out, p - *start_out))
        {
          gboolean quoted = FALSE;

          for (p++; p < len; p++)
            {
              c = (guchar) line[p];
              if (c < 0x20 || c >= 0x7f)
                return "Invalid character in section";
              if (quoted && c == '\\' && p + 1 < len)
                p++;
              else if (c == '"')
                quoted = !quoted;
              else if (c == ']' && !quoted)
                break;
            }
          if (p == len)
            return "Missing ']' in section";
          p++;
          continue;
        }
      if (c == ' ' || c == '(' || c == ')')
        break;
      if (c <= 0x20 || c >= 0x7f || c == '{' || c == '"')
        return "Invalid character in atom";
      p++;
    }
  *pos = p;
  return NULL;
}

static ImapParseResult
start_literal (ImapParser *parser, const char *line, gsize len,
               guint64 size, gboolean sync, gboolean literal8)
{
  gboolean message = imap_command_literal_is_message (parser->name, parser->args,
                                                      parser->stack->len);

  if (literal8 && !message)
    return fail (parser, line, len, "literal8 is only allowed for APPEND messages");
  if (!sync && (parser->flags & IMAP_PARSER_LITERAL_MINUS) != 0 && size > LITERAL_MINUS_MAX)
    return fail (parser, line, len, "Non-synchronizing literal over 4096 bytes (LITERAL-)");
  if (message && parser->limits.max_append_size != 0 && size > parser->limits.max_append_size)
    return fail_full (parser, line, len, TRUE, "TOOBIG", "Message too big");
  if (!message)
    {
      if (size > parser->limits.max_literal_size)
        return fail (parser, line, len, "Literal too big");
      if (parser->command_size + size > parser->limits.max_command_size)
        return fail (parser, line, len, "Command too long");
      parser->command_size += size;
    }

  clear_literal (parser);
  parser->want_literal = TRUE;
  parser->literal.size = size;
  parser->literal.synchronizing = sync;
  parser->literal.literal8 = literal8;
  parser->literal.role = message ? IMAP_LITERAL_APPEND_MESSAGE : IMAP_LITERAL_ARGUMENT;
  parser->literal.tag = parser->tag;
  parser->literal.command = parser->name;
  parser->literal.message_index = message ? parser->messages : 0;
  if (message)
    parser->literal_description = g_strdup_printf ("APPEND message %u", parser->messages + 1);
  else
    parser->literal_description = g_strdup_printf ("%s argument %u", parser->name,
                                                   parser->args->len + 1);
  parser->literal.description = parser->literal_description;
  parser->literal_remaining = size;
  parser->literal_buf = g_byte_array_sized_new ((guint) MIN (size, 65536));
  if (message)
    parser->messages++;
  return IMAP_PARSE_NEED_LITERAL;
}

static ImapParseResult
finish_command (ImapParser *parser)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;

  parser->command = imap_command_build (parser->tag, parser->name, parser->uid,
                                        parser->args, &code, &error);
  if (parser->command == NULL)
    return fail_full (parser, NULL, 0,
                      g_error_matches (error, IMAP_COMMAND_ERROR, IMAP_COMMAND_ERROR_NO),
                      code, error->message);
  reset_command (parser);
  return IMAP_PARSE_COMMAND;
}

static ImapParseResult
start_command (ImapParser *parser, const char *line, gsize len, gsize *pos)
{
  gsize p = 0, start;

  while (p < len && is_tag_char ((guchar) line[p]))
    p++;
  if (p == 0)
    return fail (parser, line, len, len == 0 ? "Empty command line" : "Missing or invalid tag");
  parser->tag = g_strndup (line, p);
  parser->in_command = TRUE;
  parser->args = g_ptr_array_new_with_free_func ((GDestroyNotify) imap_arg_free);
  parser->stack = g_ptr_array_new ();
  for (int word = 0; word < 2; word++)
    {
      if (p >= len || line[p] != ' ')
        return fail (parser, line, len, "Missing command");
      start = ++p;
      while (p < len && g_ascii_isalnum (line[p]))
        p++;
      if (p == start || (p < len && line[p] != ' '))
        return fail (parser, line, len, "Invalid command name");
      g_free (parser->name);
      parser->name = g_ascii_strup (line + start, (gssize) (p - start));
      if (word == 0 && strcmp (parser->name, "UID") == 0)
        parser->uid = TRUE;
      else
        break;
    }
  if (!imap_command_name_is_known (parser->name, parser->uid))
    return fail (parser, line, len, parser->uid ? "Unknown UID command" : "Unknown command");
  parser->after_token = TRUE;
  *pos = p;
  return IMAP_PARSE_NOTHING;
}

ImapParseResult
imap_parser_feed_line (ImapParser *parser, const char *line, gsize len)
{
  gsize pos = 0;

  g_return_val_if_fail (!parser->want_literal, IMAP_PARSE_ERROR);
  g_clear_pointer (&parser->command, imap_command_free);

  if (parser->skipping)
    {
      guint64 size;
      gboolean sync;

      parser->skipping = FALSE;
      if (trailing_literal (line, len, &size, &sync) && !sync)
        {
          start_discard (parser, size);
          return IMAP_PARSE_NEED_LITERAL;
        }
      return IMAP_PARSE_NOTHING;
    }
  if (len > parser->limits.max_line_length)
    return fail (parser, line, len, "Line too long");
  if (parser->command_size + len > parser->limits.max_command_size)
    return fail (parser, line, len, "Command too long");
  if (parser->pending_error != NULL)
    {
      g_autofree char *text = g_steal_pointer (&parser->pending_error);
      return fail (parser, line, len, text);
    }
  if (!parser->in_command && start_command (parser, line, len, &pos) == IMAP_PARSE_ERROR)
    return IMAP_PARSE_ERROR;
  parser->command_size += len;

  while (pos < len)
    {
      guchar c = (guchar) line[pos];
      ImapArg *arg;

      if (c == ' ')
        {
          if (!parser->after_token)
            return fail (parser, line, len, "Unexpected space");
          parser->after_token = FALSE;
          if (++pos == len)
            return fail (parser, line, len, "Unexpected space at end of line");
          continue;
        }
      if (c == ')')
        {
          ImapArg *top;

          if (parser->stack->len == 0)
            return fail (parser, line, len, "Unexpected ')'");
          top = g_ptr_array_index (parser->stack, parser->stack->len - 1);
          if (!parser->after_token && top->list->len > 0)
            return fail (parser, line, len, "Unexpected space before ')'");
          g_ptr_array_set_size (parser->stack, parser->stack->len - 1);
          parser->after_token = TRUE;
          pos++;
          continue;
        }
      if (parser->after_token)
        return fail (parser, line, len, "Missing space between arguments");
      if (c == '(')
        {
          if (parser->stack->len >= parser->limits.max_list_depth)
            return fail (parser, line, len, "Too deeply nested lists");
          arg = imap_arg_new (IMAP_ARG_LIST);
          add_arg (parser, arg);
          g_ptr_array_add (parser->stack, arg);
          pos++;
          continue;
        }
      if (c == '"')
        {
          g_autoptr(GString) s = g_string_new (NULL);

          for (pos++; pos < len && line[pos] != '"'; pos++)
            {
              c = (guchar) line[pos];
              if (c == '\\')
                {
                  if (pos + 1 >= len || (line[pos + 1] != '"' && line[pos + 1] != '\\'))
                    return fail (parser, line, len, "Invalid escape in quoted string");
                  c = (guchar) line[++pos];
                }
              else if (c == '\0' || c == '\r' || c == '\n')
                return fail (parser, line, len, "Invalid character in quoted string");
              else if (c >= 0x80 && (parser->flags & IMAP_PARSER_UTF8_ACCEPT) == 0)
                return fail (parser, line, len, "8-bit data in quoted string");
              g_string_append_c (s, (char) c);
            }
          if (pos >= len)
            return fail (parser, line, len, "Unterminated quoted string");
          pos++;
          if (!g_utf8_validate (s->str, (gssize) s->len, NULL))
            return fail (parser, line, len, "Invalid UTF-8 in quoted string");
          arg = imap_arg_new (IMAP_ARG_QUOTED);
          arg->length = s->len;
          arg->data = g_string_free (g_steal_pointer (&s), FALSE);
          add_arg (parser, arg);
          parser->after_token = TRUE;
          continue;
        }
      if (c == '{' || (c == '~' && pos + 1 < len && line[pos + 1] == '{'))
        {
          gboolean literal8 = c == '~', sync = TRUE;
          guint64 size = 0;
          gsize digits = 0;

          pos += literal8 ? 2 : 1;
          for (; pos < len && g_ascii_isdigit (line[pos]); pos++, digits++)
            {
              if (size > (G_MAXUINT64 - 9) / 10)
                return fail (parser, line, len, "Literal size too large");
              size = size * 10 + (guint64) (line[pos] - '0');
            }
          if (pos < len && line[pos] == '+')
            {
              sync = FALSE;
              pos++;
            }
          if (digits == 0 || pos >= len || line[pos] != '}')
            return fail (parser, line, len, "Invalid literal");
          if (pos + 1 != len)
            return fail (parser, line, len, "Literal must end the line");
          return start_literal (parser, line, len, size, sync, literal8);
        }
      {
        gsize start;
        const char *err = read_atom (line, len, &pos, &start);

        if (err != NULL)
          return fail (parser, line, len, err);
        if (pos == start)
          return fail (parser, line, len, "Invalid character");
        arg = imap_arg_new (IMAP_ARG_ATOM);
        arg->data = g_strndup (line + start, pos - start);
        arg->length = pos - start;
        add_arg (parser, arg);
        parser->after_token = TRUE;
      }
    }
  if (parser->stack->len > 0)
    return fail (parser, NULL, 0, "Missing ')'");
  return finish_command (parser);
}

const ImapLiteralInfo *
imap_parser_get_literal (ImapParser *parser)
{
  return parser->want_literal ? &parser->literal : NULL;
}

static void
finish_literal (ImapParser *parser, gboolean external)
{
  ImapArg *arg;

  if (parser->literal.role == IMAP_LITERAL_DISCARD)
    {
      clear_literal (parser);
      return;
    }
  arg = imap_arg_new (external ? IMAP_ARG_EXTERNAL : IMAP_ARG_LITERAL);
  arg->literal_size = parser->literal.size;
  arg->literal8 = parser->literal.literal8;
  if (!external)
    {
      g_byte_array_append (parser->literal_buf, (const guint8 *) "", 1);
      arg->length = parser->literal_buf->len - 1;
      arg->data = (char *) g_byte_array_free (g_steal_pointer (&parser->literal_buf), FALSE);
      if (!arg->literal8 && memchr (arg->data, '\0', arg->length) != NULL)
        parser->pending_error = g_strdup ("NUL in literal");
    }
  else
    arg->data = g_strdup ("");
  add_arg (parser, arg);
  parser->after_token = TRUE;
  clear_literal (parser);
}

gsize
imap_parser_feed_literal (ImapParser *parser, const guint8 *data, gsize length)
{
  gsize n;

  g_return_val_if_fail (parser->want_literal, 0);
  n = (gsize) MIN ((guint64) length, parser->literal_remaining);
  if (parser->literal.role != IMAP_LITERAL_DISCARD)
    g_byte_array_append (parser->literal_buf, data, (guint) n);
  parser->literal_remaining -= n;
  if (parser->literal_remaining == 0)
    finish_literal (parser, FALSE);
  return n;
}

void
imap_parser_literal_consumed (ImapParser *parser)
{
  g_return_if_fail (parser->want_literal);
  parser->literal_remaining = 0;
  finish_literal (parser, parser->literal.role == IMAP_LITERAL_APPEND_MESSAGE);
}

ImapCommand *
imap_parser_take_command (ImapParser *parser)
{
  return g_steal_pointer (&parser->command);
}

const ImapParseError *
imap_parser_get_error (ImapParser *parser)
{
  return &parser->error;
}

gboolean
imap_parser_in_command (ImapParser *parser)
{
  return parser->in_command || parser->want_literal;
}

gboolean
imap_parser_line_is_done (const char *line, gsize length)
{
  return length == 4 && g_ascii_strncasecmp (line, "DONE", 4) == 0;
}
