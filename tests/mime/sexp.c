/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "sexp.h"

void
sexp_free (Sexp *s)
{
  if (s == NULL)
    return;
  if (s->string != NULL)
    g_bytes_unref (s->string);
  if (s->items != NULL)
    g_ptr_array_unref (s->items);
  g_free (s);
}

static Sexp *
parse_at (const char *data, gsize length, gsize *pos, guint depth)
{
  gsize p = *pos;
  Sexp *s;

  if (depth > 200 || p >= length)
    return NULL;
  if (data[p] == '(') {
    s = g_new0 (Sexp, 1);
    s->kind = SEXP_LIST;
    s->items = g_ptr_array_new_with_free_func ((GDestroyNotify) sexp_free);
    p++;
    for (;;) {
      while (p < length && data[p] == ' ')
        p++;
      if (p >= length) {
        sexp_free (s);
        return NULL;
      }
      if (data[p] == ')') {
        p++;
        break;
      }
      Sexp *item = parse_at (data, length, &p, depth + 1);
      if (item == NULL) {
        sexp_free (s);
        return NULL;
      }
      g_ptr_array_add (s->items, item);
    }
  } else if (data[p] == '"') {
    GString *str = g_string_new (NULL);
    p++;
    while (p < length && data[p] != '"') {
      if (data[p] == '\\' && p + 1 < length)
        p++;
      g_string_append_c (str, data[p++]);
    }
    if (p >= length) {
      g_string_free (str, TRUE);
      return NULL;
    }
    p++;
    s = g_new0 (Sexp, 1);
    s->kind = SEXP_STRING;
    s->string = g_string_free_to_bytes (str);
  } else if (data[p] == '{' || (data[p] == '~' && p + 1 < length && data[p + 1] == '{')) {
    p += data[p] == '~' ? 2 : 1;
    guint64 n = 0;
    while (p < length && g_ascii_isdigit (data[p]))
      n = n * 10 + (guint64) (data[p++] - '0');
    if (p + 3 > length || data[p] != '}' || data[p + 1] != '\r' || data[p + 2] != '\n')
      return NULL;
    p += 3;
    if (p + n > length)
      return NULL;
    s = g_new0 (Sexp, 1);
    s->kind = SEXP_STRING;
    s->string = g_bytes_new (data + p, n);
    p += n;
  } else if (g_ascii_isdigit (data[p])) {
    s = g_new0 (Sexp, 1);
    s->kind = SEXP_NUMBER;
    while (p < length && g_ascii_isdigit (data[p]))
      s->number = s->number * 10 + (guint64) (data[p++] - '0');
  } else if (p + 3 <= length && g_ascii_strncasecmp (data + p, "NIL", 3) == 0) {
    s = g_new0 (Sexp, 1);
    s->kind = SEXP_NIL;
    p += 3;
  } else {
    return NULL;
  }
  *pos = p;
  return s;
}

Sexp *
sexp_parse (const char *data, gsize length, gsize *used)
{
  gsize pos = 0;
  Sexp *s = parse_at (data, length, &pos, 0);
  if (used != NULL)
    *used = pos;
  return s;
}

static gboolean
string_equal (const Sexp *a, const Sexp *b, gboolean ci)
{
  gsize la, lb;
  const char *da = g_bytes_get_data (a->string, &la);
  const char *db = g_bytes_get_data (b->string, &lb);
  if (la != lb)
    return FALSE;
  if (la == 0)
    return TRUE;
  return ci ? g_ascii_strncasecmp (da, db, la) == 0 : memcmp (da, db, la) == 0;
}

static gboolean equal_at (const Sexp *a, const Sexp *b, int mode, GString *path);

enum { MODE_PLAIN, MODE_BODY, MODE_CI, MODE_PARAMS };

static gboolean
item_equal (const Sexp *a, const Sexp *b, guint i, int mode, GString *path)
{
  gsize len = path->len;
  g_string_append_printf (path, "[%u]", i);
  gboolean ok = equal_at (g_ptr_array_index (a->items, i), g_ptr_array_index (b->items, i),
                          mode, path);
  if (ok)
    g_string_truncate (path, len);
  return ok;
}

static gboolean
is_string_ci (const Sexp *s, const char *text)
{
  gsize l;
  const char *d;
  if (s->kind != SEXP_STRING)
    return FALSE;
  d = g_bytes_get_data (s->string, &l);
  return l == strlen (text) && g_ascii_strncasecmp (d, text, l) == 0;
}

static gboolean
equal_at (const Sexp *a, const Sexp *b, int mode, GString *path)
{
  if (a->kind != b->kind)
    return FALSE;
  switch (a->kind) {
  case SEXP_NIL:
    return TRUE;
  case SEXP_NUMBER:
    return a->number == b->number;
  case SEXP_STRING:
    return string_equal (a, b, mode == MODE_CI);
  case SEXP_LIST:
    break;
  }
  if (a->items->len != b->items->len)
    return FALSE;
  guint n = a->items->len;
  if (mode == MODE_PARAMS) {
    for (guint i = 0; i < n; i++)
      if (!item_equal (a, b, i, i % 2 == 0 ? MODE_CI : MODE_PLAIN, path))
        return FALSE;
    return TRUE;
  }
  if (mode != MODE_BODY) {
    for (guint i = 0; i < n; i++)
      if (!item_equal (a, b, i, MODE_PLAIN, path))
        return FALSE;
    return TRUE;
  }
  /* a body part: multipart when it starts with a list */
  if (n > 0 && ((Sexp *) g_ptr_array_index (a->items, 0))->kind == SEXP_LIST) {
    guint i = 0;
    while (i < n && ((Sexp *) g_ptr_array_index (a->items, i))->kind == SEXP_LIST) {
      if (!item_equal (a, b, i, MODE_BODY, path))
        return FALSE;
      i++;
    }
    for (guint k = 0; i < n; i++, k++)
      if (!item_equal (a, b, i, k == 0 ? MODE_CI : k == 1 ? MODE_PARAMS : MODE_PLAIN, path))
        return FALSE;
    return TRUE;
  }
  gboolean rfc822 = n > 1 && is_string_ci (g_ptr_array_index (a->items, 0), "message") &&
                    is_string_ci (g_ptr_array_index (a->items, 1), "rfc822");
  for (guint i = 0; i < n; i++) {
    int m = MODE_PLAIN;
    if (i < 2)
      m = MODE_CI;
    else if (i == 2)
      m = MODE_PARAMS;
    else if (rfc822 && i == 8)
      m = MODE_BODY;
    if (!item_equal (a, b, i, m, path))
      return FALSE;
  }
  return TRUE;
}

gboolean
sexp_equal (const Sexp *a, const Sexp *b, gboolean bodystructure, char **where)
{
  GString *path = g_string_new ("");
  gboolean ok = equal_at (a, b, bodystructure ? MODE_BODY : MODE_PLAIN, path);
  if (where != NULL)
    *where = ok ? NULL : g_strdup (path->len ? path->str : "(top)");
  g_string_free (path, TRUE);
  return ok;
}

static void
to_string (const Sexp *s, GString *out)
{
  switch (s->kind) {
  case SEXP_NIL:
    g_string_append (out, "NIL");
    break;
  case SEXP_NUMBER:
    g_string_append_printf (out, "%" G_GUINT64_FORMAT, s->number);
    break;
  case SEXP_STRING: {
    gsize l;
    const char *d = g_bytes_get_data (s->string, &l);
    g_autofree char *raw = g_strndup (d, l);
    g_autofree char *esc = g_strescape (raw, NULL);
    g_string_append_printf (out, "\"%s\"", esc);
    break;
  }
  case SEXP_LIST:
    g_string_append_c (out, '(');
    for (guint i = 0; i < s->items->len; i++) {
      if (i > 0)
        g_string_append_c (out, ' ');
      to_string (g_ptr_array_index (s->items, i), out);
    }
    g_string_append_c (out, ')');
    break;
  }
}

char *
sexp_to_string (const Sexp *s)
{
  GString *out = g_string_new (NULL);
  to_string (s, out);
  return g_string_free (out, FALSE);
}
