/* Pure parsers of configuration values: numbers with size
 * suffixes, durations and booleans.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config-private.h"

#include <errno.h>
#include <string.h>

/* ---- pure value parsers ---- */

gboolean
ph_config_parse_uint64 (const char *text, gboolean allow_size_suffix, guint64 *out_value)
{
  guint64 value = 0;
  const char *p = text;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      guint digit = *p - '0';
      if (value > (G_MAXUINT64 - digit) / 10)
        return FALSE;
      value = value * 10 + digit;
    }

  if (*p != '\0')
    {
      guint shift;

      if (!allow_size_suffix || p[1] != '\0')
        return FALSE;
      switch (*p)
        {
        case 'k': case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        default: return FALSE;
        }
      if (value > (G_MAXUINT64 >> shift))
        return FALSE;
      value <<= shift;
    }

  *out_value = value;
  return TRUE;
}

gboolean
ph_config_parse_duration_ms (const char *text, guint64 *out_ms)
{
  static const struct { const char *unit; guint64 ms; } units[] = {
    { "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60 * 1000 },
    { "h", 3600 * 1000 }, { "d", 86400 * 1000 },
  };
  guint64 whole = 0, fraction = 0, fraction_scale = 1;
  const char *p = text;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (whole > (G_MAXUINT64 / 10) - 10)
        return FALSE;
      whole = whole * 10 + (guint64) (*p - '0');
    }
  if (*p == '.')
    {
      p++;
      if (!g_ascii_isdigit (*p))
        return FALSE;
      for (; g_ascii_isdigit (*p); p++)
        {
          if (fraction_scale >= 1000000000)
            return FALSE;
          fraction = fraction * 10 + (guint64) (*p - '0');
          fraction_scale *= 10;
        }
    }

  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    {
      guint64 unit = units[i].ms;

      if (strcmp (p, units[i].unit) != 0)
        continue;
      if (whole > G_MAXUINT64 / unit)
        return FALSE;
      if ((fraction * unit) % fraction_scale != 0)
        return FALSE;  /* finer than a millisecond */
      *out_ms = whole * unit + (fraction * unit) / fraction_scale;
      return TRUE;
    }
  return FALSE;
}

gboolean
ph_config_parse_boolean (const char *text, gboolean *out_value)
{
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };

  for (gsize i = 0; yes[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      {
        *out_value = TRUE;
        return TRUE;
      }
  for (gsize i = 0; no[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      {
        *out_value = FALSE;
        return TRUE;
      }
  return FALSE;
}

