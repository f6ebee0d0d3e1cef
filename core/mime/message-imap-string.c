/* IMAP strings as Dovecot writes them: nstrings, literals and
 * the cleaned-up strings of ENVELOPE and BODYSTRUCTURE.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

/* ==================== IMAP strings ==================== */

static void
append_literal (GString *out, const char *value, gsize length)
{
  g_string_append_printf (out, "{%" G_GSIZE_FORMAT "}\r\n", length);
  g_string_append_len (out, value, length);
}

/* A quoted string when it can be one (at most 4 escapes, no CR/LF/8-bit),
 * else a literal; NIL for NULL. */
void
ph_imap_append_nstring (GString *out, const char *value)
{
  guint escapes = 0;

  if (value == NULL) {
    g_string_append (out, "NIL");
    return;
  }
  for (const char *p = value; *p != '\0'; p++) {
    guchar c = (guchar) *p;
    if (c == '"' || c == '\\') {
      if (escapes++ < 4)
        continue;
      append_literal (out, value, strlen (value));
      return;
    }
    if (c == '\r' || c == '\n' || c >= 0x80) {
      append_literal (out, value, strlen (value));
      return;
    }
  }
  g_string_append_c (out, '"');
  for (const char *p = value; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (out, '\\');
    g_string_append_c (out, *p);
  }
  g_string_append_c (out, '"');
}

/* As nstring, with CR and LF removed. */
void
mime_append_nstring_nolf (GString *out, const char *value)
{
  if (value == NULL || strpbrk (value, "\r\n") == NULL) {
    ph_imap_append_nstring (out, value);
    return;
  }
  g_autoptr(GString) clean = g_string_new (NULL);
  for (const char *p = value; *p != '\0'; p++)
    if (*p != '\r' && *p != '\n')
      g_string_append_c (clean, *p);
  ph_imap_append_nstring (out, clean->str);
}

/* Dovecot's "for humans" string (ENVELOPE subject and display names):
 * written as is in quotes when nothing needs changing, else as a literal
 * with leading whitespace dropped, runs of whitespace (SP, TAB, CR, LF)
 * collapsed to one space, trailing whitespace trimmed and NUL as 0x80. */
void
ph_imap_append_string_for_humans (GString *out, const char *value, gsize length)
{
  gboolean last_lwsp = TRUE, modify = FALSE;

  for (gsize i = 0; i < length; i++) {
    guchar c = (guchar) value[i];
    switch (c) {
    case 0:
      last_lwsp = FALSE;
      modify = TRUE;
      break;
    case '\r': case '\n': case '\t':
      modify = TRUE;
      G_GNUC_FALLTHROUGH;
    case ' ':
      if (last_lwsp)
        modify = TRUE;
      last_lwsp = TRUE;
      break;
    case '"': case '\\':
      modify = TRUE;
      last_lwsp = FALSE;
      break;
    default:
      if (c & 0x80)
        modify = TRUE;
      last_lwsp = FALSE;
      break;
    }
  }
  if (!modify) {
    g_string_append_c (out, '"');
    g_string_append_len (out, value, length);
    g_string_append_c (out, '"');
    return;
  }

  g_autoptr(GString) clean = g_string_new (NULL);
  last_lwsp = TRUE;
  for (gsize i = 0; i < length; i++) {
    guchar c = (guchar) value[i];
    switch (c) {
    case 0:
      g_string_append_c (clean, (char) 0x80);
      last_lwsp = FALSE;
      break;
    case '\r': case '\n': case '\t': case ' ':
      if (!last_lwsp)
        g_string_append_c (clean, ' ');
      last_lwsp = TRUE;
      break;
    default:
      last_lwsp = FALSE;
      g_string_append_c (clean, (char) c);
      break;
    }
  }
  if (clean->len > 0 && clean->str[clean->len - 1] == ' ')
    g_string_truncate (clean, clean->len - 1);
  if (clean->len == 0)
    g_string_append (out, "\"\"");
  else
    append_literal (out, clean->str, clean->len);
}

