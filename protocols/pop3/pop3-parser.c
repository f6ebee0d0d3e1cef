/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pop3-parser.h"

#include <string.h>

typedef enum {
  ARGS_NONE,      /* no argument */
  ARGS_WORD,      /* exactly one word */
  ARGS_REST,      /* the rest of the line, spaces included (PASS) */
  ARGS_AUTH,      /* mechanism and optional initial response, or nothing */
  ARGS_APOP,      /* name and digest */
  ARGS_OPT_MSG,   /* an optional message number */
  ARGS_MSG,       /* a message number */
  ARGS_MSG_LINES, /* a message number and a line count */
} ArgsShape;

typedef struct {
  const char *name;
  ArgsShape shape;
  guint states;
  const char *usage;  /* the "wrong arguments" reply */
} CommandSpec;

#define AUTHZ POP3_STATE_AUTHORIZATION
#define TRANS POP3_STATE_TRANSACTION

/* Indexed by Pop3CommandKind. */
static const CommandSpec command_specs[] = {
  [POP3_CMD_USER] = { "USER", ARGS_WORD, AUTHZ, "Syntax: USER name" },
  [POP3_CMD_PASS] = { "PASS", ARGS_REST, AUTHZ, "Syntax: PASS password" },
  [POP3_CMD_APOP] = { "APOP", ARGS_APOP, AUTHZ, "Syntax: APOP name digest" },
  [POP3_CMD_AUTH] = { "AUTH", ARGS_AUTH, AUTHZ, "Syntax: AUTH [mechanism [initial-response]]" },
  [POP3_CMD_STLS] = { "STLS", ARGS_NONE, AUTHZ, "Syntax: STLS (no arguments)" },
  [POP3_CMD_CAPA] = { "CAPA", ARGS_NONE, AUTHZ | TRANS, "Syntax: CAPA (no arguments)" },
  [POP3_CMD_QUIT] = { "QUIT", ARGS_NONE, AUTHZ | TRANS, "Syntax: QUIT (no arguments)" },
  [POP3_CMD_STAT] = { "STAT", ARGS_NONE, TRANS, "Syntax: STAT (no arguments)" },
  [POP3_CMD_LIST] = { "LIST", ARGS_OPT_MSG, TRANS, "Syntax: LIST [msg]" },
  [POP3_CMD_RETR] = { "RETR", ARGS_MSG, TRANS, "Syntax: RETR msg" },
  [POP3_CMD_DELE] = { "DELE", ARGS_MSG, TRANS, "Syntax: DELE msg" },
  [POP3_CMD_NOOP] = { "NOOP", ARGS_NONE, TRANS, "Syntax: NOOP (no arguments)" },
  [POP3_CMD_RSET] = { "RSET", ARGS_NONE, TRANS, "Syntax: RSET (no arguments)" },
  [POP3_CMD_TOP] = { "TOP", ARGS_MSG_LINES, TRANS, "Syntax: TOP msg lines" },
  [POP3_CMD_UIDL] = { "UIDL", ARGS_OPT_MSG, TRANS, "Syntax: UIDL [msg]" },
};

const char *
pop3_command_name (Pop3CommandKind kind)
{
  return command_specs[kind].name;
}

guint
pop3_command_states (Pop3CommandKind kind)
{
  return command_specs[kind].states;
}

gboolean
pop3_parse_number (const char *text, guint64 max, guint64 *out)
{
  guint64 value = 0;

  if (text == NULL || *text == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    {
      guint digit;

      if (!g_ascii_isdigit (*p))
        return FALSE;
      digit = (guint) (*p - '0');
      if (value > (max - digit) / 10)
        return FALSE;
      value = value * 10 + digit;
    }
  *out = value;
  return TRUE;
}

void
pop3_command_clear (Pop3Command *cmd)
{
  g_clear_pointer (&cmd->arg, g_free);
  g_clear_pointer (&cmd->arg2, g_free);
}

static gboolean
parse_msg (const char *word, Pop3Command *cmd, const char **error_text)
{
  guint64 value;

  if (!pop3_parse_number (word, G_MAXUINT32, &value))
    {
      *error_text = "Invalid message number";
      return FALSE;
    }
  if (value == 0)
    {
      *error_text = "Message number must be at least 1";
      return FALSE;
    }
  cmd->has_msg = TRUE;
  cmd->msg = (guint32) value;
  return TRUE;
}

gboolean
pop3_command_parse (const char *line, gsize length, Pop3Command *cmd,
                    const char **error_text)
{
  g_auto(GStrv) words = NULL;
  g_autofree char *copy = NULL;
  const char *space;
  const char *rest;
  gsize keyword_len;
  guint n_words = 0;
  const CommandSpec *spec = NULL;
  guint kind;

  memset (cmd, 0, sizeof *cmd);
  if (memchr (line, '\0', length) != NULL)
    {
      *error_text = "Command contains a NUL byte";
      return FALSE;
    }
  /* @line need not be NUL-terminated: never look at line[length]. */
  space = memchr (line, ' ', length);
  keyword_len = space != NULL ? (gsize) (space - line) : length;
  for (kind = 0; kind < G_N_ELEMENTS (command_specs); kind++)
    if (strlen (command_specs[kind].name) == keyword_len &&
        g_ascii_strncasecmp (line, command_specs[kind].name, keyword_len) == 0)
      {
        spec = &command_specs[kind];
        break;
      }
  if (spec == NULL)
    {
      *error_text = "Unknown command";
      return FALSE;
    }
  cmd->kind = (Pop3CommandKind) kind;
  rest = space != NULL ? space + 1 : line + length;

  if (spec->shape == ARGS_REST)
    {
      if (space == NULL)
        {
          *error_text = spec->usage;
          return FALSE;
        }
      cmd->arg = g_strndup (rest, length - (gsize) (rest - line));
      return TRUE;
    }

  /* Words separated by one or more spaces; trailing spaces ignored. */
  copy = g_strndup (rest, length - (gsize) (rest - line));
  words = g_strsplit (copy, " ", -1);
  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      {
        char *word = words[i];
        words[i] = words[n_words];
        words[n_words++] = word;
      }

  switch (spec->shape)
    {
    case ARGS_NONE:
      if (n_words != 0)
        goto usage;
      return TRUE;
    case ARGS_WORD:
      if (n_words != 1)
        goto usage;
      cmd->arg = g_strdup (words[0]);
      return TRUE;
    case ARGS_APOP:
      if (n_words != 2)
        goto usage;
      cmd->arg = g_strdup (words[0]);
      cmd->arg2 = g_strdup (words[1]);
      return TRUE;
    case ARGS_AUTH:
      if (n_words > 2)
        goto usage;
      if (n_words >= 1)
        cmd->arg = g_strdup (words[0]);
      if (n_words == 2)
        cmd->arg2 = g_strdup (words[1]);
      return TRUE;
    case ARGS_OPT_MSG:
      if (n_words > 1)
        goto usage;
      return n_words == 0 || parse_msg (words[0], cmd, error_text);
    case ARGS_MSG:
      if (n_words != 1)
        goto usage;
      return parse_msg (words[0], cmd, error_text);
    case ARGS_MSG_LINES:
      if (n_words != 2)
        goto usage;
      if (!parse_msg (words[0], cmd, error_text))
        return FALSE;
      if (!pop3_parse_number (words[1], G_MAXUINT64, &cmd->lines))
        {
          *error_text = "Invalid number of lines";
          return FALSE;
        }
      return TRUE;
    case ARGS_REST:
    default:
      g_assert_not_reached ();
    }

usage:
  pop3_command_clear (cmd);
  *error_text = spec->usage;
  return FALSE;
}
