/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "imap-command.h"

G_BEGIN_DECLS

/* Incremental IMAP4rev1/IMAP4rev2 command parser: pure, no I/O.
 *
 * The session feeds each line as the connection delivers it (without CRLF)
 * to imap_parser_feed_line(). The result says what happened:
 *
 * - IMAP_PARSE_COMMAND: a complete command; take it with
 *   imap_parser_take_command().
 * - IMAP_PARSE_NEED_LITERAL: the line ended with {n}, {n+} or ~{n}; see
 *   imap_parser_get_literal(). For a synchronising literal the session
 *   sends "+ Ready". It then reads exactly size bytes and hands them to
 *   imap_parser_feed_literal() (in as many pieces as it likes), or - for an
 *   APPEND message it streams elsewhere - calls
 *   imap_parser_literal_consumed(). Then the next line continues the
 *   command.
 * - IMAP_PARSE_ERROR: the command is rejected; imap_parser_get_error()
 *   gives the reply. If the rejected line ended with a non-synchronising
 *   literal the client sends its bytes anyway: imap_parser_get_literal()
 *   is then non-NULL with role IMAP_LITERAL_DISCARD, the session reads and
 *   feeds (or skips) them, and the parser drops the rest of the command.
 *   After a rejected synchronising literal the client sends nothing more.
 *   Lines after a discarded literal give IMAP_PARSE_NOTHING (or
 *   IMAP_PARSE_NEED_LITERAL with role IMAP_LITERAL_DISCARD again).
 *
 * IDLE's DONE and AUTHENTICATE's continuation lines are not commands: the
 * session reads those itself (imap_parser_line_is_done()). */

typedef struct _ImapParser ImapParser;

typedef struct {
  gsize max_line_length;     /* bytes per line; default 65536 */
  gsize max_literal_size;    /* buffered (non-APPEND) literals; default 65536 */
  guint64 max_append_size;   /* an APPEND message; 0 = no limit */
  guint max_list_depth;      /* nested parentheses; default 16 */
  gsize max_command_size;    /* lines plus buffered literals; default 1 MiB */
} ImapParserLimits;

typedef enum {
  IMAP_PARSER_UTF8_ACCEPT = 1 << 0,   /* 8-bit UTF-8 allowed in quoted strings */
  IMAP_PARSER_LITERAL_MINUS = 1 << 1, /* non-synchronising literals limited to 4096 */
} ImapParserFlags;

typedef enum {
  IMAP_PARSE_COMMAND,
  IMAP_PARSE_NEED_LITERAL,
  IMAP_PARSE_ERROR,
  IMAP_PARSE_NOTHING,     /* a line of an already rejected command: dropped */
} ImapParseResult;

typedef enum {
  IMAP_LITERAL_ARGUMENT,        /* buffered by the parser */
  IMAP_LITERAL_APPEND_MESSAGE,  /* may be streamed by the session */
  IMAP_LITERAL_DISCARD,         /* of a rejected command: read and drop */
} ImapLiteralRole;

typedef struct {
  guint64 size;
  gboolean synchronizing;   /* {n}: send "+ Ready" first */
  gboolean literal8;        /* ~{n}: may contain NUL */
  ImapLiteralRole role;
  const char *tag;          /* of the command, NULL if none was read */
  const char *command;      /* upper case, e.g. "APPEND", or NULL */
  guint message_index;      /* APPEND_MESSAGE: 0 for the first message */
  const char *description;  /* e.g. "APPEND message 1", "LOGIN argument 2" */
} ImapLiteralInfo;

typedef struct {
  const char *tag;          /* NULL: reply with "* BAD" */
  gboolean no;              /* reply NO instead of BAD */
  const char *code;         /* response code without brackets, or NULL */
  const char *text;
} ImapParseError;

/* @limits may be NULL for the defaults; zero fields take the default. */
ImapParser *imap_parser_new (const ImapParserLimits *limits, ImapParserFlags flags);
/* Frees the parser and sets *@parser to NULL. */
void imap_parser_free (ImapParser **parser);
/* Changes flags, e.g. after ENABLE UTF8=ACCEPT. */
void imap_parser_set_flags (ImapParser *parser, ImapParserFlags flags);

/* Feeds one line without its CRLF; it may hold NUL bytes. Must not be
 * called while a literal is expected. */
ImapParseResult imap_parser_feed_line (ImapParser *parser, const char *line, gsize length);

/* The literal expected now, or NULL when the parser wants a line. */
const ImapLiteralInfo *imap_parser_get_literal (ImapParser *parser);

/* Feeds literal bytes; returns how many it used (never more than are
 * still expected). When the last byte arrives the parser wants a line. */
gsize imap_parser_feed_literal (ImapParser *parser, const guint8 *data, gsize length);

/* Marks the whole expected literal as consumed by the session (an APPEND
 * message it streamed, or discarded bytes). */
void imap_parser_literal_consumed (ImapParser *parser);

/* The command of the last IMAP_PARSE_COMMAND; the caller owns it. */
ImapCommand *imap_parser_take_command (ImapParser *parser);

/* The reply for the last IMAP_PARSE_ERROR; valid until the next call. */
const ImapParseError *imap_parser_get_error (ImapParser *parser);

/* TRUE if the parser is inside a command (after a literal). */
gboolean imap_parser_in_command (ImapParser *parser);

/* TRUE if @line is IDLE's "DONE" (case-insensitive). */
gboolean imap_parser_line_is_done (const char *line, gsize length);

G_END_DECLS
