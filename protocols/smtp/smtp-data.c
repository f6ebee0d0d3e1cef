/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-data.h"

#include <string.h>

#define DEFAULT_MAX_RECEIVED 30

struct _SmtpData {
  SmtpDataOptions options;
  SmtpDataSink sink;
  gpointer user_data;

  SmtpLineEnd prev_end;      /* how the previous piece ended */
  gboolean held_cr;          /* a piece ended in CR: LF may follow */
  gboolean dot_pending;      /* a piece ended in a '.' preceded by a break */
  gboolean dot_line;         /* that piece was "." alone after CRLF */
  gboolean prev_byte_cr;     /* the last byte of the previous piece was CR */
  gboolean ended;

  gboolean in_header;
  guint received;
  /* BDAT header scan: bytes of "received:" matched at the line start */
  guint match;
  gboolean line_start;
  gboolean line_empty;
  gboolean bytes_mode;
  guchar hist[4];            /* BDAT: the last four bytes, newest last */

  guint64 size;
  gboolean too_big;
  gboolean smuggling;
  gboolean bare_lf;
  gboolean bare_cr;
};

SmtpData *
smtp_data_new (const SmtpDataOptions *options, SmtpDataSink sink, gpointer user_data)
{
  SmtpData *data = g_new0 (SmtpData, 1);

  if (options != NULL)
    data->options = *options;
  if (data->options.max_received == 0)
    data->options.max_received = DEFAULT_MAX_RECEIVED;
  data->sink = sink;
  data->user_data = user_data;
  data->prev_end = SMTP_LINE_END_CRLF;
  data->in_header = TRUE;
  data->line_start = TRUE;
  data->line_empty = TRUE;
  data->hist[2] = '\r';       /* chunk data starts at a line start */
  data->hist[3] = '\n';
  return data;
}

void
smtp_data_free (SmtpData **data)
{
  g_clear_pointer (data, g_free);
}

static gboolean
refused (const SmtpData *data)
{
  if (data->smuggling || data->too_big || data->received > data->options.max_received)
    return TRUE;
  return data->options.bare_newline == SMTP_BARE_NEWLINE_STRICT
         && (data->bare_lf || data->bare_cr);
}

static void
emit (SmtpData *data, const char *bytes, gsize length)
{
  data->size += length;
  if (data->options.max_size > 0 && data->size > data->options.max_size)
    data->too_big = TRUE;
  if (length > 0 && data->sink != NULL && !refused (data))
    data->sink (bytes, length, data->user_data);
}

/* One piece of content with its end, after the held-CR fix-up. */
static SmtpDataStatus
feed_piece (SmtpData *data, const char *c, gsize n, SmtpLineEnd end)
{
  gboolean line_start = data->prev_end != SMTP_LINE_END_NONE;
  gsize skip = 0;

  if (n == 0 && end == SMTP_LINE_END_NONE)
    return SMTP_DATA_MORE;  /* nothing arrived: state unchanged */

  /* "." | "" CRLF: a reader with a tiny line limit split the end line */
  if (data->dot_line && n == 0 && end == SMTP_LINE_END_CRLF)
    {
      data->ended = TRUE;
      return SMTP_DATA_END;
    }
  data->dot_line = line_start && data->prev_end == SMTP_LINE_END_CRLF
                   && end == SMTP_LINE_END_NONE && n == 1 && c[0] == '.';

  if (line_start && data->prev_end == SMTP_LINE_END_CRLF
      && end == SMTP_LINE_END_CRLF && n == 1 && c[0] == '.')
    {
      data->ended = TRUE;
      return SMTP_DATA_END;
    }

  /* A '.' left at the end of the previous piece with a break before it
   * now meets its right neighbour. */
  if (data->dot_pending && ((n > 0 && c[0] == '\r') || (n == 0 && end != SMTP_LINE_END_NONE)))
    data->smuggling = TRUE;
  data->dot_pending = FALSE;

  for (gsize i = 0; i < n; i++)
    {
      gboolean before, after;

      if (c[i] == '\r')
        data->bare_cr = TRUE;
      if (c[i] != '.')
        continue;
      before = i == 0 ? (line_start || data->prev_byte_cr) : c[i - 1] == '\r';
      if (!before)
        continue;
      if (i + 1 < n)
        after = c[i + 1] == '\r';
      else if (end != SMTP_LINE_END_NONE)
        after = TRUE;
      else
        {
          data->dot_pending = TRUE;
          continue;
        }
      if (after)
        data->smuggling = TRUE;
    }
  if (end == SMTP_LINE_END_LF)
    data->bare_lf = TRUE;

  if (line_start)
    {
      if (n > 0 && c[0] == '.')
        skip = 1;
      if (data->in_header)
        {
          if (n == 0 && end != SMTP_LINE_END_NONE)
            data->in_header = FALSE;
          else if (n - skip >= 9 && g_ascii_strncasecmp (c + skip, "Received:", 9) == 0)
            data->received++;
        }
    }

  emit (data, c + skip, n - skip);
  if (end != SMTP_LINE_END_NONE)
    emit (data, "\r\n", 2);
  if (n > 0)
    data->prev_byte_cr = c[n - 1] == '\r';
  else if (end != SMTP_LINE_END_NONE)
    data->prev_byte_cr = FALSE;
  data->prev_end = end;
  return SMTP_DATA_MORE;
}

SmtpDataStatus
smtp_data_feed_line (SmtpData *data, const char *line, gsize length, SmtpLineEnd end)
{
  g_return_val_if_fail (!data->ended, SMTP_DATA_END);

  if (data->held_cr)
    {
      data->held_cr = FALSE;
      if (length == 0 && end == SMTP_LINE_END_LF)
        {
          /* the CR and this LF were one CRLF split across pieces */
          return feed_piece (data, "", 0, SMTP_LINE_END_CRLF);
        }
      feed_piece (data, "\r", 1, SMTP_LINE_END_NONE);
    }
  if (end == SMTP_LINE_END_NONE && length > 0 && line[length - 1] == '\r')
    {
      data->held_cr = TRUE;
      length--;
    }
  return feed_piece (data, line, length, end);
}

static gboolean
is_break (guchar ch)
{
  return ch == '\r' || ch == '\n';
}

/* Header scan for Received: fields over raw bytes. */
static void
scan_header_bytes (SmtpData *data, const char *bytes, gsize length)
{
  static const char received[] = "received:";

  for (gsize i = 0; i < length && data->in_header; i++)
    {
      char ch = bytes[i];

      if (ch == '\n')
        {
          if (data->line_empty)
            data->in_header = FALSE;
          data->line_start = TRUE;
          data->line_empty = TRUE;
          data->match = 0;
          continue;
        }
      if (ch == '\r')
        continue;
      data->line_empty = FALSE;
      if (data->line_start)
        {
          if (g_ascii_tolower (ch) == received[data->match])
            {
              if (++data->match == sizeof received - 1)
                {
                  data->received++;
                  data->line_start = FALSE;
                }
            }
          else
            data->line_start = FALSE;
        }
    }
}

void
smtp_data_feed_bytes (SmtpData *data, const char *bytes, gsize length)
{
  g_autoptr(GString) out = NULL;
  guchar *h = data->hist;

  data->bytes_mode = TRUE;
  scan_header_bytes (data, bytes, length);
  if (data->options.binary)
    {
      emit (data, bytes, length);
      return;
    }

  out = g_string_sized_new (length + 16);
  for (gsize i = 0; i < length; i++)
    {
      guchar x = (guchar) bytes[i];

      /* window h[0] h[1] '.' h[3] x around a dot two bytes back */
      if (h[2] == '.' && is_break (h[1]) && is_break (h[3])
          && !(h[0] == '\r' && h[1] == '\n' && h[3] == '\r' && x == '\n'))
        data->smuggling = TRUE;
      if (h[3] == '\r' && x != '\n')
        data->bare_cr = TRUE;
      if (x == '\n' && h[3] != '\r')
        {
          data->bare_lf = TRUE;
          g_string_append_c (out, '\r');
        }
      g_string_append_c (out, (char) x);
      memmove (h, h + 1, 3);
      h[3] = x;
    }
  emit (data, out->str, out->len);
}

/* BDAT: what the last bytes mean now that nothing follows them. */
static void
finish_bytes (SmtpData *data)
{
  const guchar *h = data->hist;

  if (!data->bytes_mode || data->options.binary)
    return;
  if ((h[3] == '.' && is_break (h[2]))
      || (h[2] == '.' && is_break (h[1]) && is_break (h[3])))
    data->smuggling = TRUE;
  if (h[3] == '\r')
    data->bare_cr = TRUE;
}

gboolean
smtp_data_finish (SmtpData *data, GError **error)
{
  finish_bytes (data);
  if (data->smuggling)
    {
      smtp_reply_set_error (error, 554, "5.5.2",
                            "Message refused: bare CR or LF next to \".\" "
                            "(SMTP smuggling pattern)");
      return FALSE;
    }
  if (data->options.bare_newline == SMTP_BARE_NEWLINE_STRICT && data->bare_lf)
    {
      smtp_reply_set_error (error, 554, "5.5.2", "Message refused: bare LF received");
      return FALSE;
    }
  if (data->options.bare_newline == SMTP_BARE_NEWLINE_STRICT && data->bare_cr)
    {
      smtp_reply_set_error (error, 554, "5.5.2", "Message refused: bare CR received");
      return FALSE;
    }
  if (data->received > data->options.max_received)
    {
      smtp_reply_set_error (error, 554, "5.4.6", "Too many hops (mail loop?)");
      return FALSE;
    }
  if (data->too_big)
    {
      smtp_reply_set_error (error, 552, "5.3.4", "Message size exceeds fixed maximum message size");
      return FALSE;
    }
  return TRUE;
}

guint64
smtp_data_get_size (const SmtpData *data)
{
  return data->size;
}

guint
smtp_data_get_received_count (const SmtpData *data)
{
  return data->received;
}

gboolean
smtp_data_had_bare_lf (const SmtpData *data)
{
  return data->bare_lf;
}

gboolean
smtp_data_had_bare_cr (const SmtpData *data)
{
  return data->bare_cr;
}
