/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-address.h"

#include <arpa/inet.h>
#include <string.h>

typedef struct {
  const char *s;
  gsize len;
  gsize pos;
  SmtpPathFlags flags;
  gboolean saw_utf8;
} Cursor;

static int
peek (const Cursor *c)
{
  return c->pos < c->len ? (guchar) c->s[c->pos] : -1;
}

static gboolean
is_atext (int ch)
{
  return g_ascii_isalnum (ch) || (ch > 0 && ch < 0x80 && strchr ("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* Consumes one non-ASCII UTF-8 character at the cursor; FALSE if the bytes
 * are not valid UTF-8. Records that the path needs SMTPUTF8. */
static gboolean
take_utf8 (Cursor *c, GString *out)
{
  gssize left = (gssize) MIN (c->len - c->pos, 6);
  gunichar ch = g_utf8_get_char_validated (c->s + c->pos, left);
  int n;

  if (ch == (gunichar) -1 || ch == (gunichar) -2 || ch < 0x80)
    return FALSE;
  n = g_unichar_to_utf8 (ch, NULL);
  /* reject C1 controls and the like: only graphic characters */
  if (!g_unichar_isgraph (ch))
    return FALSE;
  if (out != NULL)
    g_string_append_len (out, c->s + c->pos, n);
  c->pos += n;
  c->saw_utf8 = TRUE;
  return TRUE;
}

static gboolean
is_snum_quad (const char *s, gsize len)
{
  gsize i = 0;

  for (int part = 0; part < 4; part++)
    {
      guint value = 0, digits = 0;

      if (part > 0)
        {
          if (i >= len || s[i] != '.')
            return FALSE;
          i++;
        }
      while (i < len && g_ascii_isdigit (s[i]) && digits < 3)
        value = value * 10 + (guint) (s[i++] - '0'), digits++;
      if (digits == 0 || value > 255)
        return FALSE;
    }
  return i == len;
}

/* Parses the inside of an address literal (without brackets) into 16
 * bytes; *family is AF_INET or AF_INET6. */
static gboolean
literal_to_bytes (const char *s, gsize len, guint8 out[16], int *family)
{
  char buf[64];

  memset (out, 0, 16);
  if (len > 5 && g_ascii_strncasecmp (s, "IPv6:", 5) == 0)
    {
      if (len - 5 >= sizeof buf)
        return FALSE;
      for (gsize i = 5; i < len; i++)
        if (!g_ascii_isxdigit (s[i]) && s[i] != ':' && s[i] != '.')
          return FALSE;
      memcpy (buf, s + 5, len - 5);
      buf[len - 5] = '\0';
      *family = AF_INET6;
      return inet_pton (AF_INET6, buf, out) == 1;
    }
  if (!is_snum_quad (s, len))
    return FALSE;
  memcpy (buf, s, len);
  buf[len] = '\0';
  *family = AF_INET;
  /* inet_pton refuses leading zeros, which Snum allows: parse by hand */
  {
    gsize i = 0;
    for (int part = 0; part < 4; part++)
      {
        guint value = 0;
        while (i < len && g_ascii_isdigit (buf[i]))
          value = value * 10 + (guint) (buf[i++] - '0');
        out[part] = (guint8) value;
        i++;
      }
  }
  return TRUE;
}

/* Domain / address-literal at the cursor. */
static SmtpPathStatus
parse_domain (Cursor *c, gboolean allow_literal, gboolean *is_literal)
{
  gsize start = c->pos;

  *is_literal = FALSE;
  if (peek (c) == '[')
    {
      const char *close;
      guint8 bytes[16];
      int family;

      if (!allow_literal)
        return SMTP_PATH_SYNTAX;
      close = memchr (c->s + c->pos, ']', c->len - c->pos);
      if (close == NULL)
        return SMTP_PATH_SYNTAX;
      if (!literal_to_bytes (c->s + c->pos + 1, (gsize) (close - c->s) - c->pos - 1,
                             bytes, &family))
        return SMTP_PATH_SYNTAX;
      c->pos = (gsize) (close - c->s) + 1;
      *is_literal = TRUE;
      return SMTP_PATH_OK;
    }

  for (;;)
    {
      gsize label_start = c->pos;
      gsize label_chars = 0;
      int last = -1;

      for (;;)
        {
          int ch = peek (c);

          if (ch >= 0x80)
            {
              if (!take_utf8 (c, NULL))
                return SMTP_PATH_SYNTAX;
              last = 'a';
              label_chars++;
              continue;
            }
          if (ch < 0 || !(g_ascii_isalnum (ch) || ch == '-'))
            break;
          if (label_chars == 0 && ch == '-')
            return SMTP_PATH_SYNTAX;
          last = ch;
          label_chars++;
          c->pos++;
        }
      if (label_chars == 0 || last == '-')
        return SMTP_PATH_SYNTAX;
      if (c->pos - label_start > 63)
        return SMTP_PATH_DOMAIN_TOO_LONG;
      if (peek (c) != '.')
        break;
      c->pos++;
    }
  if (c->pos - start > SMTP_DOMAIN_MAX)
    return SMTP_PATH_DOMAIN_TOO_LONG;
  return SMTP_PATH_OK;
}

static SmtpPathStatus
parse_local_part (Cursor *c, GString *out, gboolean *quoted)
{
  gsize start = c->pos;

  *quoted = FALSE;
  if (peek (c) == '"')
    {
      *quoted = TRUE;
      c->pos++;
      for (;;)
        {
          int ch = peek (c);

          if (ch < 0)
            return SMTP_PATH_SYNTAX;
          if (ch == '"')
            {
              c->pos++;
              break;
            }
          if (ch == '\\')
            {
              c->pos++;
              ch = peek (c);
              if (ch < 32 || ch > 126)
                return SMTP_PATH_SYNTAX;
              g_string_append_c (out, (char) ch);
              c->pos++;
            }
          else if (ch >= 0x80)
            {
              if (!take_utf8 (c, out))
                return SMTP_PATH_SYNTAX;
            }
          else if (ch >= 32 && ch <= 126)
            {
              g_string_append_c (out, (char) ch);
              c->pos++;
            }
          else
            return SMTP_PATH_SYNTAX;
        }
    }
  else
    {
      for (;;)
        {
          gsize atom = 0;

          for (;;)
            {
              int ch = peek (c);

              if (ch >= 0x80)
                {
                  if (!take_utf8 (c, out))
                    return SMTP_PATH_SYNTAX;
                }
              else if (ch >= 0 && is_atext (ch))
                {
                  g_string_append_c (out, (char) ch);
                  c->pos++;
                }
              else
                break;
              atom++;
            }
          if (atom == 0)
            return SMTP_PATH_SYNTAX;
          if (peek (c) != '.')
            break;
          g_string_append_c (out, '.');
          c->pos++;
        }
    }
  if (c->pos - start > SMTP_LOCAL_PART_MAX)
    return SMTP_PATH_LOCAL_TOO_LONG;
  return SMTP_PATH_OK;
}

static SmtpPathStatus
parse_mailbox (Cursor *c, SmtpPath *path)
{
  g_autoptr(GString) local = g_string_new (NULL);
  gsize domain_start;
  gboolean literal;
  SmtpPathStatus st;

  st = parse_local_part (c, local, &path->quoted);
  if (st != SMTP_PATH_OK)
    return st;
  if (peek (c) != '@')
    return SMTP_PATH_SYNTAX;
  c->pos++;
  domain_start = c->pos;
  st = parse_domain (c, TRUE, &literal);
  if (st != SMTP_PATH_OK)
    return st;
  path->local_part = g_string_free (g_steal_pointer (&local), FALSE);
  path->domain = g_strndup (c->s + domain_start, c->pos - domain_start);
  path->domain_literal = literal;
  return SMTP_PATH_OK;
}

static SmtpPathStatus
finish (Cursor *c, SmtpPathStatus st, SmtpPath *path)
{
  if (st == SMTP_PATH_OK && c->saw_utf8)
    {
      path->utf8 = TRUE;
      if (!(c->flags & SMTP_PATH_ALLOW_UTF8))
        st = SMTP_PATH_NEEDS_UTF8;
    }
  return st;
}

SmtpPathStatus
smtp_path_parse (const char *text, gsize length, SmtpPathFlags flags,
                 SmtpPath **path_out, gsize *consumed)
{
  Cursor c = { text, length, 0, flags, FALSE };
  g_autoptr(SmtpPath) path = g_new0 (SmtpPath, 1);
  SmtpPathStatus st;

  if (peek (&c) != '<')
    return SMTP_PATH_SYNTAX;
  c.pos++;

  if (peek (&c) == '>')
    {
      if (!(flags & SMTP_PATH_REVERSE))
        return SMTP_PATH_SYNTAX;
      c.pos++;
      path->null = TRUE;
      goto done;
    }

  if ((flags & SMTP_PATH_FORWARD) && length - c.pos >= 11
      && g_ascii_strncasecmp (text + c.pos, "postmaster>", 11) == 0)
    {
      path->postmaster = TRUE;
      path->local_part = g_strndup (text + c.pos, 10);
      c.pos += 11;
      goto done;
    }

  if (peek (&c) == '@')
    {
      gsize route_start = c.pos;

      for (;;)
        {
          gboolean literal;

          if (peek (&c) != '@')
            return SMTP_PATH_SYNTAX;
          c.pos++;
          st = parse_domain (&c, FALSE, &literal);
          if (st != SMTP_PATH_OK)
            return st == SMTP_PATH_DOMAIN_TOO_LONG ? st : SMTP_PATH_SYNTAX;
          if (peek (&c) == ',')
            {
              c.pos++;
              continue;
            }
          break;
        }
      if (peek (&c) != ':')
        return SMTP_PATH_SYNTAX;
      path->route = g_strndup (text + route_start, c.pos - route_start);
      c.pos++;
    }

  st = parse_mailbox (&c, path);
  if (st != SMTP_PATH_OK)
    return st;
  if (peek (&c) != '>')
    return SMTP_PATH_SYNTAX;
  c.pos++;

done:
  if (c.pos > SMTP_PATH_MAX)
    return SMTP_PATH_TOO_LONG;
  st = finish (&c, SMTP_PATH_OK, path);
  if (st != SMTP_PATH_OK)
    return st;
  *consumed = c.pos;
  *path_out = g_steal_pointer (&path);
  return SMTP_PATH_OK;
}

SmtpPathStatus
smtp_mailbox_parse (const char *text, gsize length, SmtpPathFlags flags,
                    SmtpPath **path_out)
{
  Cursor c = { text, length, 0, flags, FALSE };
  g_autoptr(SmtpPath) path = g_new0 (SmtpPath, 1);
  SmtpPathStatus st;

  st = parse_mailbox (&c, path);
  if (st != SMTP_PATH_OK)
    return st;
  if (c.pos != length)
    return SMTP_PATH_SYNTAX;
  if (length + 2 > SMTP_PATH_MAX)
    return SMTP_PATH_TOO_LONG;
  st = finish (&c, st, path);
  if (st != SMTP_PATH_OK)
    return st;
  *path_out = g_steal_pointer (&path);
  return SMTP_PATH_OK;
}

SmtpPath *
smtp_path_copy (const SmtpPath *path)
{
  SmtpPath *copy = g_new0 (SmtpPath, 1);

  *copy = *path;
  copy->local_part = g_strdup (path->local_part);
  copy->domain = g_strdup (path->domain);
  copy->route = g_strdup (path->route);
  return copy;
}

void
smtp_path_free (SmtpPath *path)
{
  if (path == NULL)
    return;
  g_free (path->local_part);
  g_free (path->domain);
  g_free (path->route);
  g_free (path);
}

static gboolean
is_dot_string (const char *s)
{
  gboolean atom_empty = TRUE;

  for (; *s != '\0'; s++)
    {
      if (*s == '.')
        {
          if (atom_empty)
            return FALSE;
          atom_empty = TRUE;
        }
      else if (is_atext ((guchar) *s) || (guchar) *s >= 0x80)
        atom_empty = FALSE;
      else
        return FALSE;
    }
  return !atom_empty;
}

char *
smtp_path_to_mailbox (const SmtpPath *path)
{
  GString *out = g_string_new (NULL);

  if (path->null)
    return g_string_free (out, FALSE);
  if (is_dot_string (path->local_part))
    g_string_append (out, path->local_part);
  else
    {
      g_string_append_c (out, '"');
      for (const char *p = path->local_part; *p != '\0'; p++)
        {
          if (*p == '"' || *p == '\\')
            g_string_append_c (out, '\\');
          g_string_append_c (out, *p);
        }
      g_string_append_c (out, '"');
    }
  if (path->domain != NULL)
    {
      g_string_append_c (out, '@');
      g_string_append (out, path->domain);
    }
  return g_string_free (out, FALSE);
}

char *
smtp_path_to_string (const SmtpPath *path)
{
  g_autofree char *mailbox = smtp_path_to_mailbox (path);

  return g_strdup_printf ("<%s>", mailbox);
}

/* ---- classification ---- */

static gsize
strip_trailing_dot (const char *s)
{
  gsize len = strlen (s);

  if (len > 1 && s[len - 1] == '.')
    len--;
  return len;
}

gboolean
smtp_domain_equal (const char *a, const char *b)
{
  gsize la, lb;

  if (a == NULL || b == NULL)
    return FALSE;
  la = strip_trailing_dot (a);
  lb = strip_trailing_dot (b);

  if (a[0] == '[' || b[0] == '[')
    {
      guint8 ba[16], bb[16];
      int fa, fb;

      if (a[0] != '[' || b[0] != '[' || a[la - 1] != ']' || b[lb - 1] != ']')
        return FALSE;
      if (!literal_to_bytes (a + 1, la - 2, ba, &fa)
          || !literal_to_bytes (b + 1, lb - 2, bb, &fb))
        return FALSE;
      return fa == fb && memcmp (ba, bb, 16) == 0;
    }

  if (la == lb && g_ascii_strncasecmp (a, b, la) == 0)
    return TRUE;
  if (g_utf8_validate_len (a, (gssize) la, NULL) && g_utf8_validate_len (b, (gssize) lb, NULL))
    {
      g_autofree char *fa = g_utf8_casefold (a, (gssize) la);
      g_autofree char *fb = g_utf8_casefold (b, (gssize) lb);

      return strcmp (fa, fb) == 0;
    }
  return FALSE;
}

static gboolean
last_label_numeric (const char *domain)
{
  const char *dot = strrchr (domain, '.');
  const char *label = dot != NULL ? dot + 1 : domain;

  if (*label == '\0')
    return FALSE;
  for (; *label != '\0'; label++)
    if (!g_ascii_isdigit (*label))
      return FALSE;
  return TRUE;
}

SmtpAddressClass
smtp_address_classify (const SmtpPath *path, const char *const *local_domains)
{
  gboolean local = FALSE;

  if (path == NULL || path->null)
    return SMTP_ADDRESS_INVALID;
  if (path->postmaster)
    return SMTP_ADDRESS_LOCAL;
  if (path->local_part == NULL || path->domain == NULL)
    return SMTP_ADDRESS_INVALID;
  if (!path->domain_literal && last_label_numeric (path->domain))
    return SMTP_ADDRESS_INVALID;

  for (gsize i = 0; local_domains != NULL && local_domains[i] != NULL; i++)
    if (smtp_domain_equal (path->domain, local_domains[i]))
      {
        local = TRUE;
        break;
      }
  if (!local)
    return SMTP_ADDRESS_REMOTE;

  /* A local part holding '@' would turn into "a@b@local" in any lookup or
   * onward hop: refuse it rather than guess. '%' and '!' stay plain. */
  if (strchr (path->local_part, '@') != NULL || *path->local_part == '\0')
    return SMTP_ADDRESS_INVALID;
  return SMTP_ADDRESS_LOCAL;
}

SmtpAddressClass
smtp_address_classify_string (const char *text, const char *const *local_domains)
{
  g_autoptr(SmtpPath) path = NULL;
  gsize consumed = 0;
  gsize length = strlen (text);

  if (smtp_path_parse (text, length, SMTP_PATH_FORWARD | SMTP_PATH_ALLOW_UTF8,
                       &path, &consumed) != SMTP_PATH_OK
      || consumed != length)
    return SMTP_ADDRESS_INVALID;
  return smtp_address_classify (path, local_domains);
}

gboolean
smtp_domain_is_valid (const char *text, gsize length, gboolean allow_literal,
                      gboolean allow_utf8, gboolean *is_literal)
{
  Cursor c = { text, length, 0, allow_utf8 ? SMTP_PATH_ALLOW_UTF8 : 0, FALSE };
  gboolean literal = FALSE;

  if (parse_domain (&c, allow_literal, &literal) != SMTP_PATH_OK || c.pos != length)
    return FALSE;
  if (c.saw_utf8 && !allow_utf8)
    return FALSE;
  if (is_literal != NULL)
    *is_literal = literal;
  return TRUE;
}
