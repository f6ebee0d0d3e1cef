/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point: arbitrary bytes fed the way the connection
 * delivers them - CRLF-terminated lines and exact-length literals - with
 * the first byte choosing parser flags, literal piece size and whether
 * APPEND messages are streamed externally. */
#include <stdint.h>
#include <string.h>

#include "imap-parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ImapParserLimits limits = { .max_line_length = 4096, .max_literal_size = 4096,
                              .max_append_size = 1 << 20, .max_command_size = 1 << 16 };
  ImapParser *parser;
  size_t pos = 1;
  uint8_t mode;

  if (size < 1)
    return 0;
  mode = data[0];
  parser = imap_parser_new (&limits, mode & 3);
  while (pos < size)
    {
      const ImapLiteralInfo *lit = imap_parser_get_literal (parser);

      if (lit != NULL)
        {
          if ((mode & 4) != 0 && lit->role == IMAP_LITERAL_APPEND_MESSAGE)
            {
              size_t skip = (size_t) MIN (lit->size, (guint64) (size - pos));
              pos += skip;
              imap_parser_literal_consumed (parser);
              continue;
            }
          size_t piece = 1 + (mode >> 3);
          size_t n = MIN (piece, size - pos);
          pos += imap_parser_feed_literal (parser, data + pos, n);
          continue;
        }
      {
        const uint8_t *eol = memchr (data + pos, '\n', size - pos);
        size_t len = eol != NULL ? (size_t) (eol - data - pos) : size - pos;
        size_t line_len = len > 0 && data[pos + len - 1] == '\r' ? len - 1 : len;
        ImapParseResult r = imap_parser_feed_line (parser, (const char *) data + pos, line_len);

        if (r == IMAP_PARSE_COMMAND)
          {
            ImapCommand *cmd = imap_parser_take_command (parser);
            char *dump = imap_command_to_string (cmd);
            g_free (dump);
            imap_command_free (cmd);
          }
        else if (r == IMAP_PARSE_ERROR)
          (void) strlen (imap_parser_get_error (parser)->text);
        pos += len + (eol != NULL ? 1 : 0);
      }
    }
  imap_parser_free (&parser);
  return 0;
}
