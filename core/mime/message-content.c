/* The Content-* fields of one part: Content-Type with its
 * parameters (RFC 2045, RFC 2231 continuations and charsets),
 * Content-Disposition, -Language, -Location, -ID, -Description, -MD5.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <gmime/gmime.h>

#include "mime-private.h"

/* ==================== Content-* fields ==================== */

static void
param_clear (gpointer p)
{
  MimeParam *pr = p;
  g_free (pr->name);
  g_free (pr->value);
}

void
mime_content_info_clear (MimeContentInfo *ci)
{
  g_free (ci->type);
  g_free (ci->subtype);
  g_clear_pointer (&ci->params, g_array_unref);
  g_free (ci->id);
  g_free (ci->description);
  g_free (ci->cte);
  g_free (ci->md5);
  g_free (ci->disposition);
  g_clear_pointer (&ci->disposition_params, g_array_unref);
  g_strfreev (ci->languages);
  g_free (ci->location);
}

typedef struct {
  char *key;
  guint idx;
  gboolean extended;
  char *value;
  guint order;
} Rfc2231Param;

static gint
rfc2231_cmp (gconstpointer a, gconstpointer b)
{
  const Rfc2231Param *x = a, *y = b;
  int c = g_ascii_strcasecmp (x->key, y->key);
  if (c != 0)
    return c;
  if (x->idx != y->idx)
    return x->idx < y->idx ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* *(";" name "=" value), RFC 2231 continuations merged as Dovecot does:
 * name*0/name*1 become name, name*0*... become name* with the raw
 * (still percent-encoded) value. */
static GArray *
parse_params (MimeLexer *lx)
{
  GArray *params = g_array_new (FALSE, TRUE, sizeof (MimeParam));
  GArray *ext = g_array_new (FALSE, TRUE, sizeof (Rfc2231Param));
  guint order = 0;

  g_array_set_clear_func (params, param_clear);
  while (mime_skip_cfws (lx)) {
    if (*lx->p != ';') {
      lx->p++;
      continue;
    }
    lx->p++;
    if (!mime_skip_cfws (lx))
      break;
    g_autoptr(GString) key = g_string_new (NULL);
    if (!mime_parse_token (lx, key))
      continue;
    if (!mime_skip_cfws (lx) || *lx->p != '=')
      continue;
    lx->p++;
    mime_skip_cfws (lx);
    GString *value = g_string_new (NULL);
    if (lx->p < lx->end && *lx->p == '"') {
      mime_parse_quoted (lx, value);
    } else {
      while (lx->p < lx->end && *lx->p != ';' && *lx->p != ' ' && *lx->p != '\t' &&
             *lx->p != '(' && *lx->p != '"')
        g_string_append_c (value, *lx->p++);
    }

    const char *star = strchr (key->str, '*');
    gboolean is_2231 = FALSE;
    Rfc2231Param rp = { 0 };
    if (star != NULL) {
      const char *p = star[1] != '\0' ? star + 1 : star;
      rp.idx = 0;
      if (*p >= '0' && *p <= '9') {
        while (*p >= '0' && *p <= '9' && rp.idx < 100000)
          rp.idx = rp.idx * 10 + (guint) (*p++ - '0');
      }
      if (*p == '*') {
        rp.extended = TRUE;
        p++;
      }
      if (*p == '\0') {
        is_2231 = TRUE;
        rp.key = g_strndup (key->str, star - key->str);
        rp.value = g_string_free (value, FALSE);
        rp.order = order++;
        g_array_append_val (ext, rp);
      }
    }
    if (!is_2231) {
      MimeParam pr = { g_strdup (key->str), g_string_free (value, FALSE) };
      g_array_append_val (params, pr);
    }
  }

  g_array_sort (ext, rfc2231_cmp);
  for (guint i = 0, next; i < ext->len; i = next) {
    Rfc2231Param *first = &g_array_index (ext, Rfc2231Param, i);
    gboolean ok = TRUE, have_extended = FALSE;
    guint want = 0;
    for (next = i; next < ext->len; next++) {
      Rfc2231Param *rp = &g_array_index (ext, Rfc2231Param, next);
      if (g_ascii_strcasecmp (first->key, rp->key) != 0)
        break;
      if (rp->idx != want)
        ok = FALSE;
      if (rp->extended)
        have_extended = TRUE;
      want++;
    }
    if (!ok) {
      for (guint j = i; j < next; j++) {
        Rfc2231Param *rp = &g_array_index (ext, Rfc2231Param, j);
        MimeParam pr = { g_strdup_printf (rp->extended ? "%s*%u*" : "%s*%u", rp->key, rp->idx),
                     g_strdup (rp->value) };
        g_array_append_val (params, pr);
      }
      continue;
    }
    GString *joined = g_string_new (NULL);
    if (!first->extended && have_extended)
      g_string_append (joined, "''");
    for (guint j = i; j < next; j++) {
      Rfc2231Param *rp = &g_array_index (ext, Rfc2231Param, j);
      if (!rp->extended && have_extended) {
        for (const char *c = rp->value; *c != '\0'; c++) {
          if (*c == '%')
            g_string_append (joined, "%25");
          else
            g_string_append_c (joined, *c);
        }
      } else {
        g_string_append (joined, rp->value);
      }
    }
    MimeParam pr = { have_extended ? g_strconcat (first->key, "*", NULL) : g_strdup (first->key),
                 g_string_free (joined, FALSE) };
    g_array_append_val (params, pr);
  }
  for (guint i = 0; i < ext->len; i++) {
    Rfc2231Param *rp = &g_array_index (ext, Rfc2231Param, i);
    g_free (rp->key);
    g_free (rp->value);
  }
  g_array_unref (ext);
  return params;
}

static void
parse_content_type (MimeContentInfo *ci, GString *v)
{
  MimeLexer lx;
  g_autoptr(GString) type = g_string_new (NULL);
  g_autoptr(GString) subtype = g_string_new (NULL);

  mime_lexer_init (&lx, v->str, strlen (v->str));
  if (!mime_skip_cfws (&lx) || !mime_parse_token (&lx, type)) {
    mime_lexer_clear (&lx);
    return;
  }
  ci->type = g_strdup (type->str);
  if (mime_skip_cfws (&lx) && *lx.p == '/') {
    lx.p++;
    if (mime_skip_cfws (&lx) && mime_parse_token (&lx, subtype))
      ci->subtype = g_strdup (subtype->str);
  }
  if (ci->subtype == NULL) {
    mime_lexer_clear (&lx);
    return;
  }
  ci->params = parse_params (&lx);
  mime_lexer_clear (&lx);
}

void
mime_parse_content_fields (MimeContentInfo *ci, GArray *fields)
{
  for (guint i = 0; i < fields->len; i++) {
    MimeField *f = &g_array_index (fields, MimeField, i);
    if (g_ascii_strncasecmp (f->name, "Content-", 8) != 0)
      continue;
    const char *what = f->name + 8;
    MimeLexer lx;
    mime_lexer_init (&lx, f->value->str, strlen (f->value->str));

    if (g_ascii_strcasecmp (what, "Type") == 0) {
      if (ci->type == NULL)
        parse_content_type (ci, f->value);
    } else if (g_ascii_strcasecmp (what, "Transfer-Encoding") == 0) {
      g_autoptr(GString) tok = g_string_new (NULL);
      if (ci->cte == NULL && mime_skip_cfws (&lx) && mime_parse_token (&lx, tok) &&
          !mime_skip_cfws (&lx))
        ci->cte = g_strdup (tok->str);
    } else if (g_ascii_strcasecmp (what, "ID") == 0) {
      if (ci->id == NULL)
        ci->id = mime_value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Description") == 0) {
      if (ci->description == NULL)
        ci->description = mime_value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "MD5") == 0) {
      if (ci->md5 == NULL)
        ci->md5 = mime_value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Location") == 0) {
      if (ci->location == NULL)
        ci->location = mime_value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Disposition") == 0) {
      g_autoptr(GString) tok = g_string_new (NULL);
      if (ci->disposition == NULL && mime_skip_cfws (&lx) && mime_parse_token (&lx, tok)) {
        ci->disposition = g_strdup (tok->str);
        ci->disposition_params = parse_params (&lx);
      }
    } else if (g_ascii_strcasecmp (what, "Language") == 0) {
      if (ci->languages == NULL) {
        GPtrArray *langs = g_ptr_array_new ();
        while (mime_skip_cfws (&lx)) {
          g_autoptr(GString) tok = g_string_new (NULL);
          if (!mime_parse_atom (&lx, tok, FALSE))
            break;
          g_ptr_array_add (langs, g_strdup (tok->str));
          if (!mime_skip_cfws (&lx) || *lx.p != ',')
            break;
          lx.p++;
        }
        g_ptr_array_add (langs, NULL);
        ci->languages = (char **) g_ptr_array_free (langs, FALSE);
        if (ci->languages[0] == NULL)
          g_clear_pointer (&ci->languages, g_strfreev);
      }
    }
    mime_lexer_clear (&lx);
  }
}

const char *
mime_param_get (GArray *params, const char *name)
{
  if (params == NULL)
    return NULL;
  for (guint i = 0; i < params->len; i++) {
    MimeParam *p = &g_array_index (params, MimeParam, i);
    if (g_ascii_strcasecmp (p->name, name) == 0)
      return p->value;
  }
  return NULL;
}

