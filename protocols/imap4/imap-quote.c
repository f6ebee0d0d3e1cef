/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-quote.h"

#include <string.h>

#define QUOTED_MAX 1024

static const char *const months[] = {
  "Jan", "Feb", "Mar", "Apr", "May", "Jun",
  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

gboolean
imap_is_atom_char (guchar c)
{
  return c > 0x20 && c < 0x7f && strchr ("(){ %*\"\\]", c) == NULL;
}

gboolean
imap_is_astring_char (guchar c)
{
  return imap_is_atom_char (c) || c == ']';
}

void
imap_quote_append_string (GString *out, const char *data, gssize length, gboolean utf8)
{
  gsize len = length < 0 ? strlen (data) : (gsize) length;
  gboolean quotable = len <= QUOTED_MAX;

  for (gsize i = 0; quotable && i < len; i++)
    {
      guchar c = (guchar) data[i];
      if (c == '\0' || c == '\r' || c == '\n' || (c >= 0x80 && !utf8))
        quotable = FALSE;
    }
  if (quotable && utf8 && !g_utf8_validate (data, (gssize) len, NULL))
    quotable = FALSE;

  if (!quotable)
    {
      g_string_append_printf (out, "{%" G_GSIZE_FORMAT "}\r\n", len);
      g_string_append_len (out, data, (gssize) len);
      return;
    }
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len; i++)
    {
      if (data[i] == '"' || data[i] == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, data[i]);
    }
  g_string_append_c (out, '"');
}

void
imap_quote_append_nstring (GString *out, const char *data, gssize length, gboolean utf8)
{
  if (data == NULL)
    g_string_append (out, "NIL");
  else
    imap_quote_append_string (out, data, length, utf8);
}

void
imap_quote_append_astring (GString *out, const char *data, gboolean utf8)
{
  gboolean atom = data[0] != '\0' && g_ascii_strcasecmp (data, "NIL") != 0;

  for (const char *p = data; atom && *p != '\0'; p++)
    atom = imap_is_atom_char ((guchar) *p);
  if (atom)
    g_string_append (out, data);
  else
    imap_quote_append_string (out, data, -1, utf8);
}

const char *
imap_month_name (guint month)
{
  return month >= 1 && month <= 12 ? months[month - 1] : NULL;
}

char *
imap_datetime_format (gint64 unix_time, int tz_offset_minutes)
{
  g_autoptr(GTimeZone) tz = g_time_zone_new_offset (tz_offset_minutes * 60);
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (unix_time);
  g_autoptr(GDateTime) dt = NULL;
  int off = ABS (tz_offset_minutes);

  if (utc == NULL || tz == NULL)
    return NULL;
  dt = g_date_time_to_timezone (utc, tz);
  if (dt == NULL)
    return NULL;
  return g_strdup_printf ("%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
                          g_date_time_get_day_of_month (dt),
                          months[g_date_time_get_month (dt) - 1],
                          g_date_time_get_year (dt),
                          g_date_time_get_hour (dt),
                          g_date_time_get_minute (dt),
                          g_date_time_get_second (dt),
                          tz_offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
}

static gboolean
parse_digits (const char **p, guint n, guint *out)
{
  guint v = 0;

  for (guint i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit ((*p)[i]))
        return FALSE;
      v = v * 10 + (guint) ((*p)[i] - '0');
    }
  *p += n;
  *out = v;
  return TRUE;
}

/* "d-Mon-yyyy" with a 1 or 2 digit day, or " d" when @fixed. */
static gboolean
parse_date (const char **p, gboolean fixed, guint *year, guint *month, guint *day)
{
  const char *s = *p;
  guint m;

  if (fixed && s[0] == ' ')
    s++;
  if (!g_ascii_isdigit (s[0]))
    return FALSE;
  if (g_ascii_isdigit (s[1]))
    {
      if (!parse_digits (&s, 2, day))
        return FALSE;
    }
  else if (!parse_digits (&s, 1, day))
    return FALSE;
  if (*s++ != '-')
    return FALSE;
  for (m = 0; m < 12; m++)
    if (g_ascii_strncasecmp (s, months[m], 3) == 0)
      break;
  if (m == 12)
    return FALSE;
  s += 3;
  if (*s++ != '-' || !parse_digits (&s, 4, year))
    return FALSE;
  *month = m + 1;
  if (*year < 1 || *day < 1 || !g_date_valid_dmy ((GDateDay) *day, (GDateMonth) *month, (GDateYear) *year))
    return FALSE;
  *p = s;
  return TRUE;
}

gboolean
imap_date_parse (const char *text, guint *year, guint *month, guint *day)
{
  const char *p = text;

  return parse_date (&p, FALSE, year, month, day) && *p == '\0';
}

gboolean
imap_datetime_parse (const char *text, gint64 *unix_time, int *tz_offset_minutes)
{
  const char *p = text;
  guint year, month, day, hour, minute, second, zh, zm;
  int sign, offset;
  g_autoptr(GDateTime) dt = NULL;

  if (!parse_date (&p, TRUE, &year, &month, &day) || *p++ != ' '
      || !parse_digits (&p, 2, &hour) || *p++ != ':'
      || !parse_digits (&p, 2, &minute) || *p++ != ':'
      || !parse_digits (&p, 2, &second) || *p++ != ' ')
    return FALSE;
  if (*p != '+' && *p != '-')
    return FALSE;
  sign = *p++ == '-' ? -1 : 1;
  if (!parse_digits (&p, 2, &zh) || !parse_digits (&p, 2, &zm) || *p != '\0')
    return FALSE;
  if (hour > 23 || minute > 59 || second > 60 || zm > 59)
    return FALSE;
  offset = sign * (int) (zh * 60 + zm);
  dt = g_date_time_new_utc ((int) year, (int) month, (int) day, (int) hour, (int) minute,
                            second == 60 ? 59 : (double) second);
  if (dt == NULL)
    return FALSE;
  *unix_time = g_date_time_to_unix (dt) - (gint64) offset * 60;
  *tz_offset_minutes = offset;
  return TRUE;
}
