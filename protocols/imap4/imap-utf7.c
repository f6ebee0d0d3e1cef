/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-utf7.h"

#include <string.h>

G_DEFINE_QUARK (imap-utf7-error-quark, imap_utf7_error)

static const char b64chars[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void
flush_utf16 (GString *out, const guint16 *units, guint n)
{
  guint32 bits = 0;
  int nbits = 0;

  g_string_append_c (out, '&');
  for (guint i = 0; i < n; i++)
    {
      bits = (bits << 16) | units[i];
      nbits += 16;
      while (nbits >= 6)
        {
          nbits -= 6;
          g_string_append_c (out, b64chars[(bits >> nbits) & 0x3f]);
        }
    }
  if (nbits > 0)
    g_string_append_c (out, b64chars[(bits << (6 - nbits)) & 0x3f]);
  g_string_append_c (out, '-');
}

char *
imap_utf7_encode (const char *utf8, GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GArray) units = g_array_new (FALSE, FALSE, sizeof (guint16));
  const char *p;

  if (!g_utf8_validate (utf8, -1, NULL))
    {
      g_set_error (error, IMAP_UTF7_ERROR, 0, "Mailbox name is not valid UTF-8");
      return NULL;
    }
  for (p = utf8; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c >= 0x20 && c <= 0x7e)
        {
          if (units->len > 0)
            {
              flush_utf16 (out, (guint16 *) units->data, units->len);
              g_array_set_size (units, 0);
            }
          if (c == '&')
            g_string_append (out, "&-");
          else
            g_string_append_c (out, (char) c);
        }
      else if (c >= 0x10000)
        {
          guint16 hi = (guint16) (0xd800 + ((c - 0x10000) >> 10));
          guint16 lo = (guint16) (0xdc00 + ((c - 0x10000) & 0x3ff));
          g_array_append_val (units, hi);
          g_array_append_val (units, lo);
        }
      else
        {
          guint16 u = (guint16) c;
          g_array_append_val (units, u);
        }
    }
  if (units->len > 0)
    flush_utf16 (out, (guint16 *) units->data, units->len);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static int
b64_value (char c)
{
  const char *pos = c != '\0' ? strchr (b64chars, c) : NULL;
  return pos != NULL ? (int) (pos - b64chars) : -1;
}

static gboolean
fail (GError **error, const char *message)
{
  g_set_error_literal (error, IMAP_UTF7_ERROR, 0, message);
  return FALSE;
}

/* Decodes the base64 run starting at *p (after '&') up to '-'. */
static gboolean
decode_run (const char **p, GString *out, GError **error)
{
  const char *s = *p;
  guint32 bits = 0;
  int nbits = 0;
  gunichar high = 0;
  guint chars = 0;

  for (; *s != '-'; s++)
    {
      int v = b64_value (*s);

      if (*s == '\0')
        return fail (error, "Unterminated '&' in mailbox name");
      if (v < 0)
        return fail (error, "Invalid base64 in mailbox name");
      bits = (bits << 6) | (guint32) v;
      nbits += 6;
      if (nbits >= 16)
        {
          guint16 u;

          nbits -= 16;
          u = (guint16) (bits >> nbits);
          bits &= (1u << nbits) - 1;
          if (high != 0)
            {
              if (u < 0xdc00 || u > 0xdfff)
                return fail (error, "Unpaired surrogate in mailbox name");
              g_string_append_unichar (out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
              high = 0;
            }
          else if (u >= 0xd800 && u <= 0xdbff)
            high = u;
          else if (u >= 0xdc00 && u <= 0xdfff)
            return fail (error, "Unpaired surrogate in mailbox name");
          else if ((u >= 0x20 && u <= 0x7e) || u == 0)
            return fail (error, "Encoded printable ASCII in mailbox name");
          else
            g_string_append_unichar (out, u);
          chars++;
        }
    }
  if (high != 0)
    return fail (error, "Unpaired surrogate in mailbox name");
  if (chars == 0 || nbits >= 6 || bits != 0)
    return fail (error, "Non-canonical base64 in mailbox name");
  *p = s + 1;
  return TRUE;
}

char *
imap_utf7_decode (const char *mutf7, GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  const char *p = mutf7;

  while (*p != '\0')
    {
      guchar c = (guchar) *p;

      if (c < 0x20 || c > 0x7e)
        {
          fail (error, "Mailbox name has a byte outside printable ASCII");
          return NULL;
        }
      if (c != '&')
        {
          g_string_append_c (out, (char) c);
          p++;
          continue;
        }
      p++;
      if (*p == '-')
        {
          g_string_append_c (out, '&');
          p++;
          continue;
        }
      if (!decode_run (&p, out, error))
        return NULL;
      if (*p == '&' && p[1] != '-')
        {
          fail (error, "Non-canonical: two adjacent encoded runs in mailbox name");
          return NULL;
        }
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

gboolean
imap_utf7_is_valid (const char *mutf7)
{
  g_autofree char *s = imap_utf7_decode (mutf7, NULL);
  return s != NULL;
}
