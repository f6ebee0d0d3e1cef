/* POP3 command lines (RFC 1939, RFC 2449, RFC 2595, RFC 5034): a pure
 * parser over one line, no I/O. It checks the keyword, the argument count
 * and the syntax of numeric arguments; what depends on the maildrop
 * (message number in range, not deleted) is the session's business.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest command line the server reads (terminator excluded). RFC
 * 2449 limits commands to 255 octets, but an AUTH initial response or a
 * SASL answer (RFC 5034) may be much longer. */
#define POP3_MAX_LINE 8192

typedef enum {
  POP3_STATE_AUTHORIZATION = 1 << 0,
  POP3_STATE_TRANSACTION = 1 << 1,
  POP3_STATE_UPDATE = 1 << 2,
} Pop3State;

typedef enum {
  POP3_CMD_USER,
  POP3_CMD_PASS,
  POP3_CMD_APOP,
  POP3_CMD_AUTH,
  POP3_CMD_STLS,
  POP3_CMD_CAPA,
  POP3_CMD_QUIT,
  POP3_CMD_STAT,
  POP3_CMD_LIST,
  POP3_CMD_RETR,
  POP3_CMD_DELE,
  POP3_CMD_NOOP,
  POP3_CMD_RSET,
  POP3_CMD_TOP,
  POP3_CMD_UIDL,
} Pop3CommandKind;

/* One parsed command. @arg is the first argument as text (USER name, AUTH
 * mechanism, PASS password: the whole rest of the line, spaces included);
 * @arg2 the second (AUTH initial response). @msg and @lines are the numeric
 * arguments of LIST, RETR, DELE, TOP and UIDL (@has_msg says whether a
 * message number was given). */
typedef struct {
  Pop3CommandKind kind;
  char *arg;
  char *arg2;
  gboolean has_msg;
  guint32 msg;
  guint64 lines;
} Pop3Command;

/* Parses @line (@length bytes, no terminator; may hold NUL bytes, which
 * are refused). On success fills @cmd (free its strings with
 * pop3_command_clear()) and returns TRUE; else returns FALSE and sets
 * *@error_text to a static text for the "-ERR" reply, e.g. "Unknown
 * command" or "Message number must be at least 1". Keywords are
 * case-insensitive; arguments are separated by one or more spaces. */
gboolean pop3_command_parse (const char *line,
                             gsize length,
                             Pop3Command *cmd,
                             const char **error_text);

void pop3_command_clear (Pop3Command *cmd);

/* The keyword as the RFC spells it ("RETR"). */
const char *pop3_command_name (Pop3CommandKind kind);

/* The states (a mask of Pop3State) in which @kind may be used. */
guint pop3_command_states (Pop3CommandKind kind);

/* Parses a decimal number of at most @max without sign, leading '+' or
 * spaces; TRUE if @text is one. */
gboolean pop3_parse_number (const char *text, guint64 max, guint64 *out);

G_END_DECLS
