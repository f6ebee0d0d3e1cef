/* The RFC 5322 lexer shared by the address and Content-*
 * parsers: CFWS and comments, atoms, quoted strings, phrases, local parts
 * and domains.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

/* ==================== RFC 822 tokens ==================== */

void
mime_lexer_init (MimeLexer *lx, const char *value, gsize length)
{
  lx->p = value;
  lx->end = value + length;
  lx->comment = NULL;
}

static void
skip_comment (MimeLexer *lx)
{
  int level = 0;
  GString *text = g_string_new (NULL);

  while (lx->p < lx->end) {
    char c = *lx->p++;
    if (c == '\\' && lx->p < lx->end) {
      g_string_append_c (text, *lx->p++);
      continue;
    }
    if (c == '(') {
      if (level++ > 0)
        g_string_append_c (text, c);
      continue;
    }
    if (c == ')') {
      if (--level == 0)
        break;
      g_string_append_c (text, c);
      continue;
    }
    if (c == '\r' || c == '\n')
      continue;
    g_string_append_c (text, c);
  }
  if (lx->comment != NULL)
    g_string_free (lx->comment, TRUE);
  lx->comment = text;
}

/* Skips whitespace and comments; FALSE at the end. */
gboolean
mime_skip_cfws (MimeLexer *lx)
{
  while (lx->p < lx->end) {
    char c = *lx->p;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      lx->p++;
    else if (c == '(')
      skip_comment (lx);
    else
      return TRUE;
  }
  return FALSE;
}

void
mime_lexer_clear (MimeLexer *lx)
{
  if (lx->comment != NULL)
    g_string_free (lx->comment, TRUE);
  lx->comment = NULL;
}

static gboolean
is_atext (guchar c)
{
  if (c >= 0x80)
    return TRUE;
  if (g_ascii_isalnum (c))
    return TRUE;
  return c != 0 && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static gboolean
is_mime_token_char (guchar c)
{
  if (c <= 0x20 || c >= 0x7f)
    return FALSE;
  return strchr ("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A MIME token; FALSE if none here. */
gboolean
mime_parse_token (MimeLexer *lx, GString *out)
{
  const char *start = lx->p;
  while (lx->p < lx->end && is_mime_token_char ((guchar) *lx->p))
    lx->p++;
  g_string_append_len (out, start, lx->p - start);
  return lx->p > start;
}

/* A quoted string at lx->p (which is '"'), unescaped, CR/LF dropped. */
void
mime_parse_quoted (MimeLexer *lx, GString *out)
{
  lx->p++;
  while (lx->p < lx->end) {
    char c = *lx->p++;
    if (c == '"')
      return;
    if (c == '\\' && lx->p < lx->end)
      c = *lx->p++;
    else if (c == '\r' || c == '\n')
      continue;
    g_string_append_c (out, c);
  }
}

gboolean
mime_parse_atom (MimeLexer *lx, GString *out, gboolean allow_dot)
{
  const char *start = lx->p;
  while (lx->p < lx->end &&
         (is_atext ((guchar) *lx->p) || (allow_dot && *lx->p == '.')))
    lx->p++;
  g_string_append_len (out, start, lx->p - start);
  return lx->p > start;
}

/* phrase = word *(word / "." / CFWS), words joined by one space. */
gboolean
mime_parse_phrase (MimeLexer *lx, GString *out)
{
  gboolean any = FALSE;

  while (mime_skip_cfws (lx)) {
    guchar c = (guchar) *lx->p;
    if (c != '"' && !is_atext (c) && c != '.')
      break;
    if (any)
      g_string_append_c (out, ' ');
    if (c == '"')
      mime_parse_quoted (lx, out);
    else
      mime_parse_atom (lx, out, TRUE);
    any = TRUE;
  }
  return any;
}

/* local-part = word *("." word); the words' values joined by ".". */
gboolean
mime_parse_local_part (MimeLexer *lx, GString *out)
{
  gboolean any = FALSE;

  for (;;) {
    if (!mime_skip_cfws (lx))
      break;
    if (*lx->p == '"')
      mime_parse_quoted (lx, out);
    else if (!mime_parse_atom (lx, out, FALSE))
      break;
    any = TRUE;
    if (!mime_skip_cfws (lx) || *lx->p != '.')
      break;
    g_string_append_c (out, '.');
    lx->p++;
  }
  return any;
}

/* domain = dot-atom / domain-literal (kept with its brackets). */
gboolean
mime_parse_domain (MimeLexer *lx, GString *out)
{
  if (!mime_skip_cfws (lx))
    return FALSE;
  if (*lx->p == '[') {
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != ']') {
      if (*lx->p == '\\' && lx->p + 1 < lx->end)
        lx->p++;
      lx->p++;
    }
    if (lx->p < lx->end)
      lx->p++;
    for (const char *q = start; q < lx->p; q++)
      if (*q != '\r' && *q != '\n')
        g_string_append_c (out, *q);
    return TRUE;
  }
  gboolean any = FALSE;
  for (;;) {
    if (!mime_parse_atom (lx, out, FALSE))
      break;
    any = TRUE;
    if (!mime_skip_cfws (lx) || *lx->p != '.')
      break;
    g_string_append_c (out, '.');
    lx->p++;
    if (!mime_skip_cfws (lx))
      break;
  }
  return any;
}

