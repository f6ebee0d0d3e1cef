/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pop3-stuff.h"

#include <string.h>

void
pop3_stuffer_init (Pop3Stuffer *stuffer)
{
  memset (stuffer, 0, sizeof *stuffer);
  stuffer->at_line_start = TRUE;
}

void
pop3_stuffer_init_top (Pop3Stuffer *stuffer, guint64 header_size, guint64 body_lines)
{
  pop3_stuffer_init (stuffer);
  stuffer->limited = TRUE;
  stuffer->header_size = header_size;
  stuffer->body_lines_left = body_lines;
  stuffer->done = header_size == 0 && body_lines == 0;
}

gboolean
pop3_stuffer_feed (Pop3Stuffer *stuffer, const guint8 *data, gsize length, GByteArray *out)
{
  gsize i = 0;

  while (i < length && !stuffer->done)
    {
      const guint8 *lf;
      gsize run;

      if (stuffer->at_line_start && data[i] == '.')
        g_byte_array_append (out, (const guint8 *) ".", 1);

      lf = memchr (data + i, '\n', length - i);
      run = lf != NULL ? (gsize) (lf - (data + i)) + 1 : length - i;

      if (stuffer->limited && stuffer->position < stuffer->header_size &&
          stuffer->position + run > stuffer->header_size)
        {
          /* Only possible for a header without a blank line that
           * ends mid-line; stop exactly at the header's end. */
          run = (gsize) (stuffer->header_size - stuffer->position);
          lf = NULL;
        }

      g_byte_array_append (out, data + i, (guint) run);
      i += run;
      stuffer->at_line_start = lf != NULL;

      if (stuffer->limited)
        {
          gboolean in_body = stuffer->position >= stuffer->header_size;

          stuffer->position += run;
          if (in_body && lf != NULL)
            stuffer->body_lines_left--;
          if (stuffer->position >= stuffer->header_size && stuffer->body_lines_left == 0)
            stuffer->done = TRUE;
        }
      else
        stuffer->position += run;
    }
  return stuffer->done;
}

gboolean
pop3_stuffer_pass_through (Pop3Stuffer *stuffer, const guint8 *data, gsize length)
{
  const guint8 *dot = data;
  const guint8 *end = data + length;

  if (stuffer->limited || stuffer->done || length == 0)
    return FALSE;
  while ((dot = memchr (dot, '.', (gsize) (end - dot))) != NULL)
    {
      if (dot == data ? stuffer->at_line_start : dot[-1] == '\n')
        return FALSE;
      dot++;
    }
  stuffer->at_line_start = data[length - 1] == '\n';
  stuffer->position += length;
  return TRUE;
}

void
pop3_stuffer_finish (Pop3Stuffer *stuffer, GByteArray *out)
{
  if (!stuffer->at_line_start)
    g_byte_array_append (out, (const guint8 *) "\r\n", 2);
  g_byte_array_append (out, (const guint8 *) ".\r\n", 3);
}
