/* libFuzzer target: POP3 command lines (every line of the input, as the
 * connection delivers them) and the RETR/TOP dot-stuffing encoder over the
 * same bytes as a message. A message can never end the multi-line response
 * early: the only "." line of the output is its last. Lines are passed
 * as exactly @length bytes without a terminator (the parser must not rely
 * on the NUL the connection's line callback adds).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "pop3-parser.h"
#include "pop3-stuff.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_commands (const char *text, gsize size)
{
  gsize pos = 0;

  while (pos < size)
    {
      const char *lf = memchr (text + pos, '\n', size - pos);
      gsize end = lf != NULL ? (gsize) (lf - text) : size;
      gsize length = end - pos;
      Pop3Command cmd = { 0 };
      const char *error_text = NULL;

      if (length > 0 && text[pos + length - 1] == '\r')
        length--;
      if (length <= POP3_MAX_LINE)
        {
          /* no terminator: a read past @length is a heap overflow */
          g_autofree char *line = g_malloc (MAX (length, 1));

          memcpy (line, text + pos, length);

          if (pop3_command_parse (line, length, &cmd, &error_text))
            {
              g_assert_nonnull (pop3_command_name (cmd.kind));
              g_assert_cmpuint (pop3_command_states (cmd.kind), !=, 0);
              g_assert_true (!cmd.has_msg || cmd.msg >= 1);
              if (cmd.arg != NULL)
                g_assert_null (memchr (cmd.arg, '\n', strlen (cmd.arg)));
              pop3_command_clear (&cmd);
            }
          else
            {
              g_assert_nonnull (error_text);
              g_assert_null (strpbrk (error_text, "\r\n"));
            }
        }
      pos = end + 1;
    }
}

/* The first position where a line holding only "." starts, or -1. */
static gssize
find_end_line (const guint8 *out, gsize length)
{
  for (gsize i = 0; i < length; i++)
    {
      if (out[i] != '.' || (i > 0 && out[i - 1] != '\n'))
        continue;
      if (i + 1 < length && out[i + 1] == '\n')
        return (gssize) i;
      if (i + 2 < length && out[i + 1] == '\r' && out[i + 2] == '\n')
        return (gssize) i;
    }
  return -1;
}

static void
check_stuffing (const guint8 *data, gsize size, guint piece, guint64 top_lines, gboolean top)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  Pop3Stuffer stuffer;
  gsize pos = 0;
  gssize end;

  if (top)
    {
      /* the header ends at the first empty line, as GMime counts it */
      const guint8 *blank = NULL;

      for (gsize i = 0; i + 1 < size && blank == NULL; i++)
        if (data[i] == '\n' && (data[i + 1] == '\n' || (i + 2 < size && data[i + 1] == '\r' && data[i + 2] == '\n')))
          blank = data + i + 1 + (data[i + 1] == '\r' ? 2 : 1);
      pop3_stuffer_init_top (&stuffer, blank != NULL ? (guint64) (blank - data) : size, top_lines);
    }
  else
    pop3_stuffer_init (&stuffer);
  while (pos < size)
    {
      gsize n = MIN ((gsize) piece, size - pos);

      if (pop3_stuffer_feed (&stuffer, data + pos, n, out))
        break;
      pos += n;
    }
  pop3_stuffer_finish (&stuffer, out);
  g_assert_cmpuint (out->len, >=, 3);
  g_assert_cmpmem (out->data + out->len - 3, 3, ".\r\n", 3);
  end = find_end_line (out->data, out->len);
  g_assert_cmpint (end, ==, (gssize) out->len - 3);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  check_commands ((const char *) data + 1, size - 1);
  check_stuffing (data + 1, size - 1, 1 + (data[0] & 0x1f), data[0] >> 5, FALSE);
  check_stuffing (data + 1, size - 1, 1 + (data[0] & 0x1f), data[0] >> 5, TRUE);
  return 0;
}
