/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "imap-parser.h"

/* Feeds @stream (@len bytes) the way a connection delivers it: lines up
 * to CRLF, and after IMAP_PARSE_NEED_LITERAL exactly the literal's bytes in
 * pieces of @piece bytes. Stops after the first command or error, with
 * *@used the bytes consumed; returns the last result. */
static inline ImapParseResult
imap_test_feed (ImapParser *parser, const char *stream, gsize len, gsize piece, gsize *used)
{
  gsize pos = 0;
  ImapParseResult r = IMAP_PARSE_NOTHING;

  while (pos < len)
    {
      const ImapLiteralInfo *lit = imap_parser_get_literal (parser);

      if (lit != NULL)
        {
          guint64 remaining = lit->size;
          while (remaining > 0 && pos < len)
            {
              gsize n = (gsize) MIN (MIN (remaining, (guint64) piece), (guint64) (len - pos));
              gsize got = imap_parser_feed_literal (parser, (const guint8 *) stream + pos, n);
              g_assert_cmpuint (got, ==, n);
              pos += n;
              remaining -= n;
            }
          if (remaining > 0)
            break;
          continue;
        }
      {
        const char *eol = g_strstr_len (stream + pos, (gssize) (len - pos), "\r\n");
        gsize line_len = eol != NULL ? (gsize) (eol - stream - pos) : len - pos;

        r = imap_parser_feed_line (parser, stream + pos, line_len);
        pos += line_len + (eol != NULL ? 2 : 0);
        if (r == IMAP_PARSE_COMMAND || (r == IMAP_PARSE_ERROR && imap_parser_get_literal (parser) == NULL))
          break;
      }
    }
  if (used != NULL)
    *used = pos;
  return r;
}
