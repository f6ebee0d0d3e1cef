/* storage-maildir: pure functions over folder names, message file names
 * and Dovecot's control files. No I/O; tested with tables in
 * tests/store/test-maildir-names.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <stdlib.h>
#include <string.h>

/* ---- modified UTF-7 ---- */

static const char mutf7_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void
mutf7_flush (GString *out, const gunichar2 *units, glong n)
{
  guint32 bits = 0;
  int nbits = 0;

  g_string_append_c (out, '&');
  for (glong i = 0; i < n; i++)
    {
      bits = (bits << 16) | units[i];
      nbits += 16;
      while (nbits >= 6)
        {
          nbits -= 6;
          g_string_append_c (out, mutf7_alphabet[(bits >> nbits) & 0x3f]);
        }
    }
  if (nbits > 0)
    g_string_append_c (out, mutf7_alphabet[(bits << (6 - nbits)) & 0x3f]);
  g_string_append_c (out, '-');
}

char *
maildir_mutf7_encode (const char *utf8)
{
  GString *out = g_string_new (NULL);
  const char *p = utf8;

  while (*p != '\0')
    {
      guchar c = (guchar) *p;

      if (c >= 0x20 && c < 0x7f)
        {
          g_string_append (out, c == '&' ? "&-" : (char[]) { (char) c, '\0' });
          p++;
          continue;
        }
      {
        const char *start = p;
        g_autofree gunichar2 *units = NULL;
        glong n = 0;

        while (*p != '\0' && ((guchar) *p < 0x20 || (guchar) *p >= 0x7f))
          p = g_utf8_next_char (p);
        units = g_utf8_to_utf16 (start, p - start, NULL, &n, NULL);
        if (units == NULL)
          {
            g_string_free (out, TRUE);
            return NULL;
          }
        mutf7_flush (out, units, n);
      }
    }
  return g_string_free (out, FALSE);
}

char *
maildir_mutf7_decode (const char *s)
{
  GString *out = g_string_new (NULL);

  while (*s != '\0')
    {
      guchar c = (guchar) *s;

      if (c < 0x20 || c >= 0x7f)
        goto fail;
      if (c != '&')
        {
          g_string_append_c (out, (char) c);
          s++;
          continue;
        }
      s++;
      if (*s == '-')
        {
          g_string_append_c (out, '&');
          s++;
          continue;
        }
      {
        g_autoptr(GArray) units = g_array_new (FALSE, FALSE, sizeof (gunichar2));
        guint32 bits = 0;
        int nbits = 0;
        g_autofree char *utf8 = NULL;

        for (; *s != '-'; s++)
          {
            const char *pos = *s != '\0' ? strchr (mutf7_alphabet, *s) : NULL;

            if (pos == NULL)
              goto fail;
            bits = (bits << 6) | (guint32) (pos - mutf7_alphabet);
            nbits += 6;
            if (nbits >= 16)
              {
                gunichar2 u;

                nbits -= 16;
                u = (gunichar2) ((bits >> nbits) & 0xffff);
                g_array_append_val (units, u);
              }
          }
        s++;
        /* Leftover bits must be zero padding; an empty shift is invalid. */
        if (units->len == 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
          goto fail;
        utf8 = g_utf16_to_utf8 ((const gunichar2 *) (gpointer) units->data, units->len, NULL,
                                NULL, NULL);
        if (utf8 == NULL)
          goto fail;
        /* Printable ASCII must not be encoded. */
        for (const char *u = utf8; *u != '\0'; u++)
          if ((guchar) *u >= 0x20 && (guchar) *u < 0x7f)
            goto fail;
        g_string_append (out, utf8);
      }
    }
  return g_string_free (out, FALSE);

fail:
  g_string_free (out, TRUE);
  return NULL;
}

/* ---- folder directories ---- */

char *
maildir_name_to_dir (const char *name)
{
  g_auto(GStrv) parts = NULL;
  GString *out;

  if (strcmp (name, "INBOX") == 0)
    return g_strdup ("");
  parts = g_strsplit (name, "/", -1);
  out = g_string_new (NULL);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_autofree char *enc = maildir_mutf7_encode (parts[i]);

      g_string_append_c (out, '.');
      for (const char *p = enc != NULL ? enc : ""; *p != '\0'; p++)
        {
          if (*p == '.')
            g_string_append (out, "\\2e");
          else if (*p == '\\')
            g_string_append (out, "\\5c");
          else
            g_string_append_c (out, *p);
        }
    }
  return g_string_free (out, FALSE);
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

char *
maildir_dir_to_name (const char *dir)
{
  g_auto(GStrv) parts = NULL;
  GString *out;

  if (dir[0] != '.' || dir[1] == '\0' || dir[1] == '.')
    return NULL;
  parts = g_strsplit (dir + 1, ".", -1);
  out = g_string_new (NULL);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      GString *raw = g_string_new (NULL);
      g_autofree char *dec = NULL;

      for (const char *p = parts[i]; *p != '\0'; p++)
        {
          int hi, lo;

          if (*p != '\\')
            {
              g_string_append_c (raw, *p);
              continue;
            }
          hi = hex_value (p[1]);
          lo = hi >= 0 ? hex_value (p[2]) : -1;
          if (lo < 0 || (hi << 4 | lo) < 0x20 || (hi << 4 | lo) >= 0x7f)
            {
              g_string_free (raw, TRUE);
              g_string_free (out, TRUE);
              return NULL;
            }
          g_string_append_c (raw, (char) (hi << 4 | lo));
          p += 2;
        }
      dec = maildir_mutf7_decode (raw->str);
      g_string_free (raw, TRUE);
      if (dec == NULL || *dec == '\0' || strcmp (dec, ".") == 0 || strcmp (dec, "..") == 0 ||
          strchr (dec, '/') != NULL)
        {
          g_string_free (out, TRUE);
          return NULL;
        }
      if (i > 0)
        g_string_append_c (out, '/');
      /* "INBOX" in any case as the first level is INBOX's child. */
      g_string_append (out, i == 0 && g_ascii_strcasecmp (dec, "INBOX") == 0 ? "INBOX" : dec);
    }
  if (strcmp (out->str, "INBOX") == 0)
    {
      /* ".INBOX" would be a second INBOX: not ours to name. */
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

/* ---- message file names ---- */

static guint32
flag_of_letter (char c)
{
  switch (c)
    {
    case 'D': return POSTHORN_MESSAGE_DRAFT;
    case 'F': return POSTHORN_MESSAGE_FLAGGED;
    case 'R': return POSTHORN_MESSAGE_ANSWERED;
    case 'S': return POSTHORN_MESSAGE_SEEN;
    case 'T': return POSTHORN_MESSAGE_DELETED;
    default: return 0;
    }
}

static guint64
field_value (const char *base, gsize base_len, const char *key)
{
  gsize klen = strlen (key);

  for (const char *p = memchr (base, ',', base_len); p != NULL && p < base + base_len;
       p = memchr (p + 1, ',', (gsize) (base + base_len - p - 1)))
    if ((gsize) (base + base_len - p - 1) > klen && strncmp (p + 1, key, klen) == 0)
      return g_ascii_strtoull (p + 1 + klen, NULL, 10);
  return 0;
}

gboolean
maildir_filename_parse (const char *filename, MaildirFileName *out)
{
  const char *colon;
  const char *p = filename;
  guint n_other = 0;

  memset (out, 0, sizeof (*out));
  if (*p == '\0' || *p == '.')
    return FALSE;
  for (const char *q = filename; *q != '\0'; q++)
    if ((guchar) *q < 0x20 || *q == '/' || (guchar) *q == 0x7f)
      return FALSE;
  while (g_ascii_isdigit (*p))
    p++;
  if (p == filename || *p != '.' || p[1] == '\0' || p[1] == ':')
    return FALSE;

  colon = strchr (filename, ':');
  out->base_len = colon != NULL ? (gsize) (colon - filename) : strlen (filename);
  if (colon != NULL)
    {
      if (strncmp (colon, ":2,", 3) != 0)
        return FALSE;
      out->has_info = TRUE;
      for (const char *f = colon + 3; *f != '\0'; f++)
        {
          if (*f >= 'a' && *f <= 'z')
            out->keywords |= 1u << (*f - 'a');
          else if (*f >= 'A' && *f <= 'Z')
            {
              guint32 flag = flag_of_letter (*f);

              if (flag != 0)
                out->flags |= flag;
              else if (strchr (out->other, *f) == NULL && n_other + 1 < sizeof (out->other))
                out->other[n_other++] = *f;
            }
          else
            return FALSE;
        }
    }
  out->size = field_value (filename, out->base_len, "S=");
  out->vsize = field_value (filename, out->base_len, "W=");
  return TRUE;
}

char *
maildir_filename_compose (const char *base, gsize base_len, guint32 flags, guint32 keywords,
                          const char *other)
{
  GString *out = g_string_new_len (base, (gssize) base_len);

  g_string_append (out, ":2,");
  for (char c = 'A'; c <= 'Z'; c++)
    {
      guint32 flag = flag_of_letter (c);

      if ((flag != 0 && (flags & flag)) || (flag == 0 && other != NULL && strchr (other, c)))
        g_string_append_c (out, c);
    }
  for (guint i = 0; i < 26; i++)
    if (keywords & (1u << i))
      g_string_append_c (out, (char) ('a' + i));
  return g_string_free (out, FALSE);
}

/* ---- dovecot-uidlist ---- */

static gboolean
parse_u32 (const char *s, const char **end, guint32 *out)
{
  guint64 v = 0;
  const char *p = s;

  while (g_ascii_isdigit (*p) && v <= G_MAXUINT32)
    v = v * 10 + (guint64) (*p++ - '0');
  if (p == s || v > G_MAXUINT32)
    return FALSE;
  *out = (guint32) v;
  if (end != NULL)
    *end = p;
  return TRUE;
}

static void
uidlist_entry_clear (gpointer p)
{
  g_free (((MaildirUidlistEntry *) p)->base);
}

gboolean
maildir_uidlist_parse (const char *data, gsize length, MaildirUidlist *out, GError **error)
{
  g_autofree char *copy = g_strndup (data, length);
  g_auto(GStrv) lines = g_strsplit (copy, "\n", -1);
  g_auto(GStrv) fields = NULL;
  guint32 last_uid = 0;

  memset (out, 0, sizeof (*out));
  out->entries = g_array_new (FALSE, FALSE, sizeof (MaildirUidlistEntry));
  g_array_set_clear_func (out->entries, uidlist_entry_clear);
  if (lines[0] == NULL || strcmp (g_strchomp (lines[0]), "") == 0)
    goto bad;
  fields = g_strsplit (lines[0], " ", -1);
  if (strcmp (fields[0], "3") != 0)
    goto bad;
  for (guint i = 1; fields[i] != NULL; i++)
    {
      const char *end;

      if (fields[i][0] == 'V' && parse_u32 (fields[i] + 1, &end, &out->uidvalidity) && *end == '\0')
        continue;
      if (fields[i][0] == 'N' && parse_u32 (fields[i] + 1, &end, &out->next_uid) && *end == '\0')
        continue;
      if (fields[i][0] == 'G' && out->guid == NULL)
        out->guid = g_strdup (fields[i] + 1);
    }
  if (out->uidvalidity == 0)
    goto bad;

  for (guint i = 1; lines[i] != NULL; i++)
    {
      const char *p = lines[i];
      const char *colon = strstr (p, " :");
      MaildirUidlistEntry e;
      gsize base_len;
      const char *name;

      if (colon == NULL || !parse_u32 (p, &p, &e.uid) || e.uid == 0 || (*p != ' '))
        continue;
      name = colon + 2;
      base_len = strcspn (name, ":\r");
      if (base_len == 0)
        continue;
      e.base = g_strndup (name, base_len);
      g_array_append_val (out->entries, e);
      last_uid = MAX (last_uid, e.uid);
    }
  if (last_uid != 0 && last_uid >= out->next_uid)
    out->next_uid = last_uid + 1;
  if (out->next_uid == 0)
    out->next_uid = 1;
  return TRUE;

bad:
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
               "not a version 3 dovecot-uidlist header");
  maildir_uidlist_clear (out);
  return FALSE;
}

void
maildir_uidlist_clear (MaildirUidlist *list)
{
  g_clear_pointer (&list->entries, g_array_unref);
  g_clear_pointer (&list->guid, g_free);
}

/* ---- dovecot-keywords ---- */

GPtrArray *
maildir_keywords_parse (const char *data, gsize length)
{
  g_autofree char *copy = g_strndup (data, length);
  g_auto(GStrv) lines = g_strsplit (copy, "\n", -1);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *p;
      guint32 idx;
      const char *name;

      if (!parse_u32 (lines[i], &p, &idx) || *p != ' ' || idx >= 26)
        continue;
      name = g_strchomp (lines[i]) + (p - lines[i]) + 1;
      if (*name == '\0' || strchr (name, ' ') != NULL || *name == '\\')
        continue;
      while (names->len <= idx)
        g_ptr_array_add (names, NULL);
      if (names->pdata[idx] == NULL)
        names->pdata[idx] = g_strdup (name);
    }
  return names;
}

/* ---- subscriptions ---- */

GPtrArray *
maildir_subscriptions_parse (const char *data, gsize length)
{
  g_autofree char *copy = g_strndup (data, length);
  g_auto(GStrv) lines = g_strsplit (copy, "\n", -1);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  gboolean v2 = lines[0] != NULL && strcmp (lines[0], "V\t2") == 0;

  for (guint i = v2 ? 1 : 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      g_auto(GStrv) parts = NULL;
      g_autofree char *name = NULL;
      g_autofree char *checked = NULL;

      if (*line == '\0')
        continue;
      parts = g_strsplit (line, v2 ? "\t" : ".", -1);
      name = g_strjoinv ("/", parts);
      if (!v2)
        {
          /* Version 1 names are modified UTF-7 like the folders. */
          char *dec = maildir_mutf7_decode (name);

          if (dec == NULL)
            continue;
          g_free (name);
          name = dec;
        }
      checked = posthorn_store_normalize_mailbox_name (name, NULL);
      if (checked != NULL && !g_ptr_array_find_with_equal_func (names, checked, g_str_equal, NULL))
        g_ptr_array_add (names, g_steal_pointer (&checked));
    }
  return names;
}

char *
maildir_subscriptions_format (const char *const *names, guint n)
{
  GString *out = g_string_new ("V\t2\n\n");

  for (guint i = 0; i < n; i++)
    {
      g_auto(GStrv) parts = g_strsplit (names[i], "/", -1);
      g_autofree char *line = g_strjoinv ("\t", parts);

      g_string_append (out, line);
      g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* ---- per-user path ---- */

char *
maildir_expand_path (const char *pattern, const char *user, GError **error)
{
  const char *at = strrchr (user, '@');
  g_autofree char *local = at != NULL ? g_strndup (user, (gsize) (at - user)) : g_strdup (user);
  const char *domain = at != NULL ? at + 1 : "";
  GString *out = g_string_new (NULL);
  g_auto(GStrv) parts = NULL;

  if (*user == '\0' || *local == '\0' || strchr (user, '/') != NULL)
    goto bad;
  for (const char *p = user; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      goto bad;
  for (const char *p = pattern; *p != '\0'; p++)
    {
      if (*p != '%' || p[1] == '\0')
        {
          g_string_append_c (out, *p);
          continue;
        }
      switch (*++p)
        {
        case 'u': g_string_append (out, user); break;
        case 'n': g_string_append (out, local); break;
        case 'd': g_string_append (out, domain); break;
        case '%': g_string_append_c (out, '%'); break;
        default: g_string_append_c (out, '%'); g_string_append_c (out, *p); break;
        }
    }
  parts = g_strsplit (out->str, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
      goto bad;
  return g_string_free (out, FALSE);

bad:
  g_string_free (out, TRUE);
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
               "user name '%s' cannot name a Maildir", user);
  return NULL;
}
