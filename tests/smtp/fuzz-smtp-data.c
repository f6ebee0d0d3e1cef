/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point: message data split into lines the way the core's
 * reader does (first byte: line-length limit and policy), then the same
 * bytes as BDAT chunks. Checks that the canonical output never holds a bare
 * LF and that DATA ends only on CRLF "." CRLF. */
#include <string.h>

#include "smtp-data.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
sink (const char *bytes, gsize length, gpointer user_data)
{
  GString *out = user_data;

  g_string_append_len (out, bytes, (gssize) length);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpDataOptions options = { 0 };
  SmtpData *machine;
  const char *wire;
  gsize max_line, pos = 0;
  gboolean prev_crlf = TRUE;

  if (size < 1)
    return 0;
  max_line = (data[0] & 0x3f) + 1;
  options.bare_newline = (data[0] & 0x40) ? SMTP_BARE_NEWLINE_STRICT : SMTP_BARE_NEWLINE_NORMAL;
  options.max_size = (data[0] & 0x80) ? 64 : 0;
  wire = (const char *) data + 1;
  size--;

  machine = smtp_data_new (&options, sink, out);
  while (pos < size)
    {
      const char *lf = memchr (wire + pos, '\n', size - pos);
      gsize line_end, content_end;
      SmtpLineEnd end = SMTP_LINE_END_LF;
      SmtpDataStatus status = SMTP_DATA_MORE;

      if (lf == NULL)
        break;
      line_end = (gsize) (lf - wire);
      content_end = line_end;
      if (content_end > pos && wire[content_end - 1] == '\r')
        {
          content_end--;
          end = SMTP_LINE_END_CRLF;
        }
      while (content_end - pos > max_line)
        {
          g_assert_cmpint (smtp_data_feed_line (machine, wire + pos, max_line, SMTP_LINE_END_NONE),
                           ==, SMTP_DATA_MORE);
          pos += max_line;
        }
      status = smtp_data_feed_line (machine, wire + pos, content_end - pos, end);
      if (status == SMTP_DATA_END)
        {
          /* the end line is exactly "." CRLF */
          g_assert_true (end == SMTP_LINE_END_CRLF && prev_crlf);
          g_assert_true (content_end - pos == 1 && wire[pos] == '.');
          smtp_data_finish (machine, NULL);
          break;
        }
      prev_crlf = end == SMTP_LINE_END_CRLF;
      pos = line_end + 1;
    }
  for (gsize i = 0; i < out->len; i++)
    if (out->str[i] == '\n')
      g_assert_true (i > 0 && out->str[i - 1] == '\r');
  smtp_data_free (&machine);

  /* BDAT: any split; unless binary, accepted output has no bare LF */
  g_string_truncate (out, 0);
  options.binary = (size > 0 && wire[0] == 'B');
  machine = smtp_data_new (&options, sink, out);
  for (gsize i = 0; i < size; i += max_line)
    smtp_data_feed_bytes (machine, wire + i, MIN (max_line, size - i));
  if (smtp_data_finish (machine, NULL) && !options.binary)
    for (gsize i = 0; i < out->len; i++)
      if (out->str[i] == '\n')
        g_assert_true (i > 0 && out->str[i - 1] == '\r');
  smtp_data_free (&machine);
  return 0;
}
