/* The MIME parser behind PosthornMessageInfo: one pass over a canonical
 * message builds the part tree, the ENVELOPE, BODYSTRUCTURE and BODY
 * strings and the decoded header values. Byte offsets, sizes and the
 * IMAP strings follow Dovecot 2.3 (see the golden corpus README).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <gmime/gmime.h>

#include "mime-private.h"

void
ph_mime_init (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    g_mime_init ();
    g_once_init_leave (&done, 1);
  }
}

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
static void
append_nstring_nolf (GString *out, const char *value)
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

/* ==================== RFC 822 tokens ==================== */

typedef struct {
  const char *p;
  const char *end;
  GString *comment;   /* the last comment skipped, or NULL */
} Lexer;

static void
lexer_init (Lexer *lx, const char *value, gsize length)
{
  lx->p = value;
  lx->end = value + length;
  lx->comment = NULL;
}

static void
skip_comment (Lexer *lx)
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
static gboolean
skip_cfws (Lexer *lx)
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

static void
lexer_clear (Lexer *lx)
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
static gboolean
parse_mime_token (Lexer *lx, GString *out)
{
  const char *start = lx->p;
  while (lx->p < lx->end && is_mime_token_char ((guchar) *lx->p))
    lx->p++;
  g_string_append_len (out, start, lx->p - start);
  return lx->p > start;
}

/* A quoted string at lx->p (which is '"'), unescaped, CR/LF dropped. */
static void
parse_quoted (Lexer *lx, GString *out)
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

static gboolean
parse_atom (Lexer *lx, GString *out, gboolean allow_dot)
{
  const char *start = lx->p;
  while (lx->p < lx->end &&
         (is_atext ((guchar) *lx->p) || (allow_dot && *lx->p == '.')))
    lx->p++;
  g_string_append_len (out, start, lx->p - start);
  return lx->p > start;
}

/* phrase = word *(word / "." / CFWS), words joined by one space. */
static gboolean
parse_phrase (Lexer *lx, GString *out)
{
  gboolean any = FALSE;

  while (skip_cfws (lx)) {
    guchar c = (guchar) *lx->p;
    if (c != '"' && !is_atext (c) && c != '.')
      break;
    if (any)
      g_string_append_c (out, ' ');
    if (c == '"')
      parse_quoted (lx, out);
    else
      parse_atom (lx, out, TRUE);
    any = TRUE;
  }
  return any;
}

/* local-part = word *("." word); the words' values joined by ".". */
static gboolean
parse_local_part (Lexer *lx, GString *out)
{
  gboolean any = FALSE;

  for (;;) {
    if (!skip_cfws (lx))
      break;
    if (*lx->p == '"')
      parse_quoted (lx, out);
    else if (!parse_atom (lx, out, FALSE))
      break;
    any = TRUE;
    if (!skip_cfws (lx) || *lx->p != '.')
      break;
    g_string_append_c (out, '.');
    lx->p++;
  }
  return any;
}

/* domain = dot-atom / domain-literal (kept with its brackets). */
static gboolean
parse_domain (Lexer *lx, GString *out)
{
  if (!skip_cfws (lx))
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
    if (!parse_atom (lx, out, FALSE))
      break;
    any = TRUE;
    if (!skip_cfws (lx) || *lx->p != '.')
      break;
    g_string_append_c (out, '.');
    lx->p++;
    if (!skip_cfws (lx))
      break;
  }
  return any;
}

/* ==================== addresses (ENVELOPE) ==================== */

typedef struct {
  char *name;      /* NULL = NIL */
  char *route;
  char *mailbox;
  char *domain;    /* NULL with mailbox set: group start; all NULL: group end */
} Address;

static void
address_clear (gpointer p)
{
  Address *a = p;
  g_free (a->name);
  g_free (a->route);
  g_free (a->mailbox);
  g_free (a->domain);
}

static char *
string_or_null (GString *s)
{
  if (s->len == 0) {
    g_string_free (s, TRUE);
    return NULL;
  }
  return g_string_free (s, FALSE);
}

/* angle-addr after '<': [route ":"] addr-spec ">" */
static void
parse_angle_addr (Lexer *lx, Address *a)
{
  GString *route = g_string_new (NULL);
  GString *mailbox = g_string_new (NULL);
  GString *domain = g_string_new (NULL);

  skip_cfws (lx);
  while (lx->p < lx->end && (*lx->p == '@' || *lx->p == ',')) {
    char c = *lx->p++;
    if (c == ',') {
      g_string_append_c (route, ',');
      skip_cfws (lx);
      continue;
    }
    g_string_append_c (route, '@');
    parse_domain (lx, route);
    skip_cfws (lx);
  }
  if (route->len > 0 && lx->p < lx->end && *lx->p == ':')
    lx->p++;
  parse_local_part (lx, mailbox);
  if (skip_cfws (lx) && *lx->p == '@') {
    lx->p++;
    parse_domain (lx, domain);
  }
  while (lx->p < lx->end && *lx->p != '>')
    lx->p++;
  if (lx->p < lx->end)
    lx->p++;
  a->route = string_or_null (route);
  a->mailbox = g_string_free (mailbox, FALSE);
  a->domain = string_or_null (domain);
}

/* One mailbox at lx->p (name-addr or addr-spec). FALSE if nothing could be
 * parsed (the caller skips a byte then). */
static gboolean
parse_mailbox (Lexer *lx, GArray *out, gboolean *group_start)
{
  Address a = { 0 };
  const char *start = lx->p;
  GString *phrase = g_string_new (NULL);

  if (group_start != NULL)
    *group_start = FALSE;
  lexer_clear (lx);
  parse_phrase (lx, phrase);
  if (lx->p < lx->end && *lx->p == ':' && group_start != NULL) {
    lx->p++;
    a.mailbox = g_string_free (phrase, FALSE);
    g_array_append_val (out, a);
    *group_start = TRUE;
    return TRUE;
  }
  if (lx->p < lx->end && *lx->p == '<') {
    lx->p++;
    a.name = string_or_null (phrase);
    parse_angle_addr (lx, &a);
  } else {
    /* addr-spec: read again as a local part */
    g_string_free (phrase, TRUE);
    lx->p = start;
    skip_cfws (lx);
    lexer_clear (lx);   /* only a comment after the address names it */
    GString *mailbox = g_string_new (NULL);
    GString *domain = g_string_new (NULL);
    if (!parse_local_part (lx, mailbox)) {
      g_string_free (mailbox, TRUE);
      g_string_free (domain, TRUE);
      return FALSE;
    }
    if (skip_cfws (lx) && *lx->p == '@') {
      lx->p++;
      parse_domain (lx, domain);
    }
    a.mailbox = g_string_free (mailbox, FALSE);
    a.domain = string_or_null (domain);
    skip_cfws (lx);
    if (lx->comment != NULL && lx->comment->len > 0)
      a.name = g_strdup (lx->comment->str);
  }
  if (a.domain == NULL)
    a.domain = g_strdup ("MISSING_DOMAIN");
  if (a.mailbox == NULL || a.mailbox[0] == '\0') {
    g_free (a.mailbox);
    a.mailbox = g_strdup ("MISSING_MAILBOX");
  }
  g_array_append_val (out, a);
  return TRUE;
}

static GArray *
parse_address_list (const char *value, gsize length)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (Address));
  Lexer lx;
  gboolean in_group = FALSE;
  guint guard = 0;

  g_array_set_clear_func (out, address_clear);
  lexer_init (&lx, value, length);
  while (skip_cfws (&lx) && guard++ < 100000) {
    char c = *lx.p;
    if (c == ',') {
      lx.p++;
      continue;
    }
    if (c == ';') {
      lx.p++;
      if (in_group) {
        Address end = { 0 };
        g_array_append_val (out, end);
        in_group = FALSE;
      }
      continue;
    }
    gboolean group_start = FALSE;
    const char *before = lx.p;
    if (!parse_mailbox (&lx, out, in_group ? NULL : &group_start) || lx.p == before) {
      lx.p = before + 1;
      continue;
    }
    if (group_start)
      in_group = TRUE;
  }
  if (in_group) {
    Address end = { 0 };
    g_array_append_val (out, end);
  }
  lexer_clear (&lx);
  return out;
}

static void
append_addresses (GString *out, GArray *list)
{
  if (list == NULL || list->len == 0) {
    g_string_append (out, "NIL");
    return;
  }
  g_string_append_c (out, '(');
  for (guint i = 0; i < list->len; i++) {
    Address *a = &g_array_index (list, Address, i);
    g_string_append_c (out, '(');
    if (a->name != NULL)
      ph_imap_append_string_for_humans (out, a->name, strlen (a->name));
    else
      g_string_append (out, "NIL");
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->route);
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->mailbox);
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->domain);
    g_string_append_c (out, ')');
  }
  g_string_append_c (out, ')');
}

/* ==================== header blocks ==================== */

typedef struct {
  char *name;
  GString *value;     /* unfolded: CR LF removed, continuation whitespace kept */
} Field;

static void
field_clear (gpointer p)
{
  Field *f = p;
  g_free (f->name);
  g_string_free (f->value, TRUE);
}

typedef struct {
  const guint8 *data;
  gsize size;
  GPtrArray *boundaries;   /* char*, innermost last */
  GArray *parts;           /* PhMimePart */
  guint part_count;
  PosthornMessageInfo *info;
  /* where the last parsed node ended */
  gsize end_pos;
  gint hit;                /* boundary index that ended it, -1 for EOF */
  gsize hit_line;          /* start of that boundary line */
} Parser;

static gsize
line_end (Parser *ps, gsize pos)
{
  const guint8 *lf = memchr (ps->data + pos, '\n', ps->size - pos);
  return lf != NULL ? (gsize) (lf - ps->data) + 1 : ps->size;
}

/* The innermost boundary that the line at @pos starts with, or -1. */
static gint
match_boundary (Parser *ps, gsize pos)
{
  if (pos + 2 > ps->size || ps->data[pos] != '-' || ps->data[pos + 1] != '-')
    return -1;
  for (gint i = (gint) ps->boundaries->len - 1; i >= 0; i--) {
    const char *b = g_ptr_array_index (ps->boundaries, i);
    gsize blen = strlen (b);
    if (pos + 2 + blen <= ps->size && memcmp (ps->data + pos + 2, b, blen) == 0)
      return i;
  }
  return -1;
}

/* The end of content that is followed by the boundary line at @line: the
 * CR LF before it belongs to the boundary. */
static gsize
end_before_boundary (Parser *ps, gsize line, gsize floor)
{
  gsize end = line;
  if (end > floor && ps->data[end - 1] == '\n') {
    end--;
    if (end > floor && ps->data[end - 1] == '\r')
      end--;
  }
  return end;
}

/* Scans lines from @pos for a boundary; sets hit/hit_line/end_pos. */
static void
scan_to_boundary (Parser *ps, gsize pos, gsize floor)
{
  if (ps->boundaries->len > 0) {
    while (pos < ps->size) {
      gint b = match_boundary (ps, pos);
      if (b >= 0) {
        ps->hit = b;
        ps->hit_line = pos;
        ps->end_pos = end_before_boundary (ps, pos, floor);
        return;
      }
      pos = line_end (ps, pos);
    }
  }
  ps->hit = -1;
  ps->hit_line = ps->size;
  ps->end_pos = ps->size;
}

/* Reads a header block from @pos into @fields (may be NULL). Returns the
 * body start; sets ps->hit >= 0 if a boundary line ended the header (then
 * the body is empty and ps->end_pos is where the header ended). */
static gsize
parse_header_block (Parser *ps, gsize pos, GArray *fields)
{
  Field *current = NULL;
  gsize start = pos;

  ps->hit = -1;
  while (pos < ps->size) {
    gsize end = line_end (ps, pos);
    const guint8 *line = ps->data + pos;
    gsize len = end - pos, content = len;

    if (content > 0 && line[content - 1] == '\n') {
      content--;
      if (content > 0 && line[content - 1] == '\r')
        content--;
    }
    if (content == 0 && len > 0)
      return end;   /* the blank line */
    gint b = match_boundary (ps, pos);
    if (b >= 0) {
      ps->hit = b;
      ps->hit_line = pos;
      ps->end_pos = end_before_boundary (ps, pos, start);
      return ps->end_pos;
    }
    if ((line[0] == ' ' || line[0] == '\t') && current != NULL) {
      g_string_append_len (current->value, (const char *) line, content);
    } else if (fields != NULL) {
      const guint8 *colon = memchr (line, ':', content);
      gsize name_len = colon != NULL ? (gsize) (colon - line) : content;
      while (name_len > 0 && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
        name_len--;
      Field f = { g_strndup ((const char *) line, name_len), g_string_new (NULL) };
      if (colon != NULL) {
        const guint8 *v = colon + 1, *vend = line + content;
        while (v < vend && (*v == ' ' || *v == '\t'))
          v++;
        g_string_append_len (f.value, (const char *) v, vend - v);
      }
      g_array_append_val (fields, f);
      current = &g_array_index (fields, Field, fields->len - 1);
    }
    pos = end;
  }
  return ps->size;
}

static GString *
find_field (GArray *fields, const char *name, gboolean last)
{
  GString *found = NULL;
  for (guint i = 0; i < fields->len; i++) {
    Field *f = &g_array_index (fields, Field, i);
    if (g_ascii_strcasecmp (f->name, name) == 0) {
      found = f->value;
      if (!last)
        break;
    }
  }
  return found;
}

/* A header value as a C string (cut at a NUL byte). */
static char *
value_dup (GString *v)
{
  return v != NULL ? g_strdup (v->str) : NULL;
}

/* ==================== Content-* fields ==================== */

typedef struct {
  char *name;
  char *value;
} Param;

static void
param_clear (gpointer p)
{
  Param *pr = p;
  g_free (pr->name);
  g_free (pr->value);
}

typedef struct {
  char *type, *subtype;
  GArray *params;          /* Param, or NULL */
  char *id, *description, *cte, *md5;
  char *disposition;
  GArray *disposition_params;
  char **languages;
  char *location;
} ContentInfo;

static void
content_info_clear (ContentInfo *ci)
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
parse_params (Lexer *lx)
{
  GArray *params = g_array_new (FALSE, TRUE, sizeof (Param));
  GArray *ext = g_array_new (FALSE, TRUE, sizeof (Rfc2231Param));
  guint order = 0;

  g_array_set_clear_func (params, param_clear);
  while (skip_cfws (lx)) {
    if (*lx->p != ';') {
      lx->p++;
      continue;
    }
    lx->p++;
    if (!skip_cfws (lx))
      break;
    g_autoptr(GString) key = g_string_new (NULL);
    if (!parse_mime_token (lx, key))
      continue;
    if (!skip_cfws (lx) || *lx->p != '=')
      continue;
    lx->p++;
    skip_cfws (lx);
    GString *value = g_string_new (NULL);
    if (lx->p < lx->end && *lx->p == '"') {
      parse_quoted (lx, value);
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
      Param pr = { g_strdup (key->str), g_string_free (value, FALSE) };
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
        Param pr = { g_strdup_printf (rp->extended ? "%s*%u*" : "%s*%u", rp->key, rp->idx),
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
    Param pr = { have_extended ? g_strconcat (first->key, "*", NULL) : g_strdup (first->key),
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
parse_content_type (ContentInfo *ci, GString *v)
{
  Lexer lx;
  g_autoptr(GString) type = g_string_new (NULL);
  g_autoptr(GString) subtype = g_string_new (NULL);

  lexer_init (&lx, v->str, strlen (v->str));
  if (!skip_cfws (&lx) || !parse_mime_token (&lx, type)) {
    lexer_clear (&lx);
    return;
  }
  ci->type = g_strdup (type->str);
  if (skip_cfws (&lx) && *lx.p == '/') {
    lx.p++;
    if (skip_cfws (&lx) && parse_mime_token (&lx, subtype))
      ci->subtype = g_strdup (subtype->str);
  }
  if (ci->subtype == NULL) {
    lexer_clear (&lx);
    return;
  }
  ci->params = parse_params (&lx);
  lexer_clear (&lx);
}

static void
parse_content_fields (ContentInfo *ci, GArray *fields)
{
  for (guint i = 0; i < fields->len; i++) {
    Field *f = &g_array_index (fields, Field, i);
    if (g_ascii_strncasecmp (f->name, "Content-", 8) != 0)
      continue;
    const char *what = f->name + 8;
    Lexer lx;
    lexer_init (&lx, f->value->str, strlen (f->value->str));

    if (g_ascii_strcasecmp (what, "Type") == 0) {
      if (ci->type == NULL)
        parse_content_type (ci, f->value);
    } else if (g_ascii_strcasecmp (what, "Transfer-Encoding") == 0) {
      g_autoptr(GString) tok = g_string_new (NULL);
      if (ci->cte == NULL && skip_cfws (&lx) && parse_mime_token (&lx, tok) &&
          !skip_cfws (&lx))
        ci->cte = g_strdup (tok->str);
    } else if (g_ascii_strcasecmp (what, "ID") == 0) {
      if (ci->id == NULL)
        ci->id = value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Description") == 0) {
      if (ci->description == NULL)
        ci->description = value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "MD5") == 0) {
      if (ci->md5 == NULL)
        ci->md5 = value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Location") == 0) {
      if (ci->location == NULL)
        ci->location = value_dup (f->value);
    } else if (g_ascii_strcasecmp (what, "Disposition") == 0) {
      g_autoptr(GString) tok = g_string_new (NULL);
      if (ci->disposition == NULL && skip_cfws (&lx) && parse_mime_token (&lx, tok)) {
        ci->disposition = g_strdup (tok->str);
        ci->disposition_params = parse_params (&lx);
      }
    } else if (g_ascii_strcasecmp (what, "Language") == 0) {
      if (ci->languages == NULL) {
        GPtrArray *langs = g_ptr_array_new ();
        while (skip_cfws (&lx)) {
          g_autoptr(GString) tok = g_string_new (NULL);
          if (!parse_atom (&lx, tok, FALSE))
            break;
          g_ptr_array_add (langs, g_strdup (tok->str));
          if (!skip_cfws (&lx) || *lx.p != ',')
            break;
          lx.p++;
        }
        g_ptr_array_add (langs, NULL);
        ci->languages = (char **) g_ptr_array_free (langs, FALSE);
        if (ci->languages[0] == NULL)
          g_clear_pointer (&ci->languages, g_strfreev);
      }
    }
    lexer_clear (&lx);
  }
}

static const char *
param_get (GArray *params, const char *name)
{
  if (params == NULL)
    return NULL;
  for (guint i = 0; i < params->len; i++) {
    Param *p = &g_array_index (params, Param, i);
    if (g_ascii_strcasecmp (p->name, name) == 0)
      return p->value;
  }
  return NULL;
}

/* ==================== BODYSTRUCTURE writers ==================== */

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE \
  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

static void
append_params (GString *out, GArray *params, gboolean default_charset)
{
  guint n = params != NULL ? params->len : 0;
  gboolean seen_charset = FALSE;

  if (!default_charset && n == 0) {
    g_string_append (out, "NIL");
    return;
  }
  g_string_append_c (out, '(');
  for (guint i = 0; i < n; i++) {
    Param *p = &g_array_index (params, Param, i);
    if (i > 0)
      g_string_append_c (out, ' ');
    if (default_charset && g_ascii_strcasecmp (p->name, "charset") == 0)
      seen_charset = TRUE;
    ph_imap_append_nstring (out, p->name);
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, p->value);
  }
  if (default_charset && !seen_charset) {
    if (n > 0)
      g_string_append_c (out, ' ');
    g_string_append (out, "\"charset\" \"us-ascii\"");
  }
  g_string_append_c (out, ')');
}

static void
append_common_ext (GString *out, ContentInfo *ci)
{
  g_string_append_c (out, ' ');
  if (ci->disposition == NULL) {
    g_string_append (out, "NIL");
  } else {
    g_string_append_c (out, '(');
    ph_imap_append_nstring (out, ci->disposition);
    g_string_append_c (out, ' ');
    append_params (out, ci->disposition_params, FALSE);
    g_string_append_c (out, ')');
  }
  g_string_append_c (out, ' ');
  if (ci->languages == NULL) {
    g_string_append (out, "NIL");
  } else {
    g_string_append_c (out, '(');
    for (guint i = 0; ci->languages[i] != NULL; i++) {
      if (i > 0)
        g_string_append_c (out, ' ');
      ph_imap_append_nstring (out, ci->languages[i]);
    }
    g_string_append_c (out, ')');
  }
  g_string_append_c (out, ' ');
  ph_imap_append_nstring (out, ci->location);
}

/* ==================== the tree ==================== */

typedef struct {
  ContentInfo ci;
  char *envelope;       /* for message nodes */
} NodeExtra;

static void build_structure (Parser *ps, GPtrArray *extras, guint index,
                             GString *bs, GString *body);

static void
append_part_body (Parser *ps, GPtrArray *extras, guint index, GString *bs, GString *body)
{
  g_string_append_c (bs, '(');
  g_string_append_c (body, '(');
  build_structure (ps, extras, index, bs, body);
  g_string_append_c (bs, ')');
  g_string_append_c (body, ')');
}

static void
both_append (GString *bs, GString *body, const char *text)
{
  g_string_append (bs, text);
  g_string_append (body, text);
}

static void
both_append_nstring (GString *bs, GString *body, const char *value)
{
  ph_imap_append_nstring (bs, value);
  ph_imap_append_nstring (body, value);
}

/* Writes the content of one BODYSTRUCTURE list (without its parentheses)
 * for part @index into @bs and the BODY form into @body. */
static void
build_structure (Parser *ps, GPtrArray *extras, guint index, GString *bs, GString *body)
{
  PhMimePart *part = &g_array_index (ps->parts, PhMimePart, index);
  NodeExtra *ex = g_ptr_array_index (extras, index);
  ContentInfo *ci = &ex->ci;

  if (part->type == POSTHORN_MESSAGE_PART_MULTIPART) {
    if (part->first_child < 0) {
      g_string_append (bs, EMPTY_BODYSTRUCTURE);
      g_string_append (body, EMPTY_BODY);
    }
    for (gint c = part->first_child; c >= 0;
         c = g_array_index (ps->parts, PhMimePart, c).next_sibling)
      append_part_body (ps, extras, (guint) c, bs, body);
    both_append (bs, body, " ");
    if (ci->subtype != NULL)
      both_append_nstring (bs, body, ci->subtype);
    else
      both_append (bs, body, "\"mixed\"");
    g_string_append_c (bs, ' ');
    append_params (bs, ci->params, FALSE);
    append_common_ext (bs, ci);
    return;
  }

  gboolean text = FALSE;
  gboolean rfc822 = part->type == POSTHORN_MESSAGE_PART_RFC822;
  if (rfc822) {
    both_append (bs, body, "\"message\" \"rfc822\"");
  } else if (ci->type != NULL && g_ascii_strcasecmp (ci->type, "message") == 0 &&
             ci->subtype != NULL && g_ascii_strcasecmp (ci->subtype, "rfc822") == 0) {
    /* beyond the nesting limit: shown as opaque data */
    both_append (bs, body, "\"application\" \"octet-stream\"");
  } else {
    if (ci->type == NULL) {
      text = TRUE;
      both_append (bs, body, "\"text\"");
    } else {
      text = g_ascii_strcasecmp (ci->type, "text") == 0;
      both_append_nstring (bs, body, ci->type);
    }
    both_append (bs, body, " ");
    if (ci->subtype != NULL)
      both_append_nstring (bs, body, ci->subtype);
    else
      both_append (bs, body, text ? "\"plain\"" : "\"unknown\"");
  }
  both_append (bs, body, " ");
  append_params (bs, ci->params, text);
  append_params (body, ci->params, text);
  both_append (bs, body, " ");
  both_append_nstring (bs, body, ci->id);
  both_append (bs, body, " ");
  both_append_nstring (bs, body, ci->description);
  both_append (bs, body, " ");
  if (ci->cte != NULL)
    both_append_nstring (bs, body, ci->cte);
  else
    both_append (bs, body, "\"7bit\"");
  g_autofree char *size = g_strdup_printf (" %" G_GUINT64_FORMAT,
                                           part->body_end - part->body_start);
  both_append (bs, body, size);
  g_autofree char *lines = g_strdup_printf (" %" G_GUINT64_FORMAT, part->lines);
  if (text) {
    both_append (bs, body, lines);
  } else if (rfc822 && part->first_child >= 0) {
    NodeExtra *inner = g_ptr_array_index (extras, part->first_child);
    both_append (bs, body, " ");
    both_append (bs, body, inner->envelope);
    both_append (bs, body, " ");
    append_part_body (ps, extras, (guint) part->first_child, bs, body);
    both_append (bs, body, lines);
  }
  g_string_append_c (bs, ' ');
  ph_imap_append_nstring (bs, ci->md5);
  append_common_ext (bs, ci);
}

/* ==================== envelope ==================== */

static char *
build_envelope (GArray *fields)
{
  GString *out = g_string_new ("(");
  GString *date = find_field (fields, "Date", TRUE);
  GString *subject = find_field (fields, "Subject", TRUE);
  const char *addr_names[] = { "From", "Sender", "Reply-To", "To", "Cc", "Bcc" };
  GArray *addrs[6] = { NULL };

  append_nstring_nolf (out, date != NULL ? date->str : NULL);
  g_string_append_c (out, ' ');
  if (subject != NULL)
    ph_imap_append_string_for_humans (out, subject->str, strlen (subject->str));
  else
    g_string_append (out, "NIL");
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++) {
    GString *v = find_field (fields, addr_names[i], TRUE);
    if (v != NULL)
      addrs[i] = parse_address_list (v->str, strlen (v->str));
  }
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++) {
    GArray *list = addrs[i];
    if ((i == 1 || i == 2) && (list == NULL || list->len == 0))
      list = addrs[0];
    g_string_append_c (out, ' ');
    append_addresses (out, list);
  }
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++)
    if (addrs[i] != NULL)
      g_array_unref (addrs[i]);
  GString *irt = find_field (fields, "In-Reply-To", TRUE);
  GString *mid = find_field (fields, "Message-ID", TRUE);
  g_string_append_c (out, ' ');
  append_nstring_nolf (out, irt != NULL ? irt->str : NULL);
  g_string_append_c (out, ' ');
  append_nstring_nolf (out, mid != NULL ? mid->str : NULL);
  g_string_append_c (out, ')');
  return g_string_free (out, FALSE);
}

/* ==================== decoded values of the top header ==================== */

static char *
decode_text (const char *raw)
{
  if (raw == NULL)
    return NULL;
  g_autofree char *unfolded = g_strdup (raw);
  g_strstrip (unfolded);
  char *decoded = g_mime_utils_header_decode_text (NULL, unfolded);
  if (decoded == NULL)
    return g_strdup ("");
  if (!g_utf8_validate (decoded, -1, NULL)) {
    char *valid = g_utf8_make_valid (decoded, -1);
    g_free (decoded);
    return valid;
  }
  return decoded;
}

static char *
raw_trimmed (GArray *fields, const char *name)
{
  GString *v = find_field (fields, name, FALSE);
  if (v == NULL)
    return NULL;
  char *s = g_strdup (v->str);
  for (char *p = s; *p; p++)
    if (*p == '\t' || *p == '\r' || *p == '\n')
      *p = ' ';
  return g_strstrip (s);
}

static void
fill_top_values (PosthornMessageInfo *info, GArray *fields)
{
  const char *names[] = { "Subject", "From", "To", "Cc", "Bcc" };
  char **slots[] = { &info->subject, &info->from, &info->to, &info->cc, &info->bcc };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    GString *v = find_field (fields, names[i], FALSE);
    *slots[i] = decode_text (v != NULL ? v->str : NULL);
  }
  info->message_id = raw_trimmed (fields, "Message-ID");
  info->in_reply_to = raw_trimmed (fields, "In-Reply-To");
  info->references = raw_trimmed (fields, "References");

  const char *addr_fields[] = { "From", "To", "Cc" };
  for (guint i = 0; i < 3; i++) {
    GString *v = find_field (fields, addr_fields[i], FALSE);
    if (v == NULL)
      continue;
    g_autoptr(GArray) list = parse_address_list (v->str, strlen (v->str));
    for (guint j = 0; j < list->len; j++) {
      Address *a = &g_array_index (list, Address, j);
      if (a->domain == NULL)
        continue;   /* group markers */
      info->addr[i][0] = a->name != NULL ? decode_text (a->name) : NULL;
      info->addr[i][1] = g_strdup (a->mailbox);
      info->addr[i][2] = g_strdup (a->domain);
      break;
    }
  }

  GString *date = find_field (fields, "Date", FALSE);
  if (date != NULL) {
    GDateTime *dt = g_mime_utils_header_decode_date (date->str);
    if (dt != NULL) {
      info->has_date = TRUE;
      info->date = g_date_time_to_unix (dt);
      info->tz_minutes = (int) (g_date_time_get_utc_offset (dt) / G_TIME_SPAN_MINUTE);
      g_date_time_unref (dt);
    }
  }

  for (guint i = 0; i < fields->len; i++) {
    Field *f = &g_array_index (fields, Field, i);
    g_ptr_array_add (info->header_names, g_strdup (f->name));
    g_ptr_array_add (info->header_values, decode_text (f->value->str));
  }
}

/* ==================== parsing ==================== */

static guint64
count_lf (const guint8 *data, gsize length)
{
  guint64 n = 0;
  const guint8 *p = data, *end = data + length;
  while (p < end && (p = memchr (p, '\n', end - p)) != NULL) {
    n++;
    p++;
  }
  return n;
}

static char *
lower_or_null (const char *s)
{
  return s != NULL ? g_ascii_strdown (s, -1) : NULL;
}

static guint64
decoded_size (const char *cte, const guint8 *data, gsize length, gboolean *ok)
{
  GMimeContentEncoding enc = GMIME_CONTENT_ENCODING_DEFAULT;

  *ok = TRUE;
  if (cte != NULL)
    enc = g_mime_content_encoding_from_string (cte);
  if (cte != NULL && strcmp (cte, "7bit") != 0 && strcmp (cte, "8bit") != 0 &&
      strcmp (cte, "binary") != 0 && enc != GMIME_CONTENT_ENCODING_BASE64 &&
      enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
    *ok = FALSE;
    return 0;
  }
  if (enc != GMIME_CONTENT_ENCODING_BASE64 && enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
    return length;

  GMimeEncoding state;
  guint64 total = 0;
  guint8 out[16384 + 64];
  g_mime_encoding_init_decode (&state, enc);
  for (gsize off = 0; off < length; off += 16384) {
    gsize n = MIN ((gsize) 16384, length - off);
    total += g_mime_encoding_step (&state, (const char *) data + off, n, (char *) out);
  }
  total += g_mime_encoding_flush (&state, "", 0, (char *) out);
  return total;
}

static guint
add_part (Parser *ps, GPtrArray *extras, gint parent, guint depth, gboolean is_message,
          gsize header_start)
{
  PhMimePart part = { 0 };
  part.parent = parent;
  part.first_child = -1;
  part.next_sibling = -1;
  part.last_child = -1;
  part.depth = depth;
  part.is_message = is_message;
  part.header_start = header_start;
  g_array_append_val (ps->parts, part);
  g_ptr_array_add (extras, g_new0 (NodeExtra, 1));
  ps->part_count++;
  guint index = ps->parts->len - 1;
  if (parent >= 0) {
    PhMimePart *pp = &g_array_index (ps->parts, PhMimePart, parent);
    if (pp->first_child < 0)
      pp->first_child = (gint) index;
    else
      g_array_index (ps->parts, PhMimePart, pp->last_child).next_sibling = (gint) index;
    pp->last_child = (gint) index;
  }
  return index;
}

/* Parses the node whose header starts at @start; on return ps->end_pos,
 * ps->hit and ps->hit_line say where and why it ended. */
static guint
parse_node (Parser *ps, GPtrArray *extras, gint parent, guint depth,
            gboolean is_message, gboolean digest_child, gsize start)
{
  guint index = add_part (ps, extras, parent, depth, is_message, start);
  NodeExtra *ex = g_ptr_array_index (extras, index);
  g_autoptr(GArray) fields = g_array_new (FALSE, TRUE, sizeof (Field));
  g_array_set_clear_func (fields, field_clear);

  gsize body_start = parse_header_block (ps, start, fields);
  gboolean header_cut = ps->hit >= 0;
  parse_content_fields (&ex->ci, fields);
  if (is_message)
    ex->envelope = build_envelope (fields);
  if (parent < 0)
    fill_top_values (ps->info, fields);

  PhMimePart *part = &g_array_index (ps->parts, PhMimePart, index);
  const char *type = ex->ci.type, *subtype = ex->ci.subtype;
  gboolean within_limits = depth < POSTHORN_MESSAGE_MAX_DEPTH &&
                           ps->part_count < POSTHORN_MESSAGE_MAX_PARTS;
  gboolean multipart = type != NULL && g_ascii_strcasecmp (type, "multipart") == 0;
  gboolean rfc822 = type != NULL ? (g_ascii_strcasecmp (type, "message") == 0 &&
                                    subtype != NULL && g_ascii_strcasecmp (subtype, "rfc822") == 0)
                                 : digest_child;

  part->body_start = body_start;
  if (multipart)
    part->type = POSTHORN_MESSAGE_PART_MULTIPART;
  else if (rfc822 && within_limits)
    part->type = POSTHORN_MESSAGE_PART_RFC822;
  else
    part->type = POSTHORN_MESSAGE_PART_LEAF;
  part->ctype = g_strdup (type != NULL ? type : (rfc822 ? "message" : "text"));
  part->csubtype = g_strdup (subtype != NULL ? subtype
                             : (rfc822 ? "rfc822" : (type == NULL || g_ascii_strcasecmp (type, "text") == 0) ? "plain" : "unknown"));
  {
    char *lower = g_ascii_strdown (part->ctype, -1);
    g_free (part->ctype);
    part->ctype = lower;
    lower = g_ascii_strdown (part->csubtype, -1);
    g_free (part->csubtype);
    part->csubtype = lower;
  }
  part->charset = lower_or_null (param_get (ex->ci.params, "charset"));
  if (part->charset == NULL && g_str_equal (part->ctype, "text"))
    part->charset = g_strdup ("us-ascii");
  part->cte = ex->ci.cte != NULL ? g_ascii_strdown (ex->ci.cte, -1) : g_strdup ("7bit");

  gsize body_end;
  if (header_cut && part->type == POSTHORN_MESSAGE_PART_RFC822)
    part->type = POSTHORN_MESSAGE_PART_LEAF;
  if (header_cut) {
    body_end = ps->end_pos;
    part->body_start = body_end;
  } else if (part->type == POSTHORN_MESSAGE_PART_MULTIPART) {
    const char *boundary = param_get (ex->ci.params, "boundary");
    if (boundary == NULL || boundary[0] == '\0' || !within_limits) {
      scan_to_boundary (ps, body_start, body_start);
      body_end = ps->end_pos;
    } else {
      gboolean digest = subtype != NULL && g_ascii_strcasecmp (subtype, "digest") == 0;
      guint own = ps->boundaries->len;
      g_ptr_array_add (ps->boundaries, g_strdup (boundary));
      gsize pos = body_start;
      for (;;) {
        scan_to_boundary (ps, pos, body_start);
        if (ps->hit != (gint) own)
          break;   /* end of data, or an outer boundary */
        gsize line = ps->hit_line, after = line_end (ps, line);
        gsize blen = 2 + strlen (boundary);
        if (line + blen + 2 <= ps->size && ps->data[line + blen] == '-' &&
            ps->data[line + blen + 1] == '-') {
          /* close delimiter: the epilogue runs to an outer boundary */
          g_ptr_array_remove_index (ps->boundaries, own);
          scan_to_boundary (ps, after, after);
          break;
        }
        if (ps->part_count >= POSTHORN_MESSAGE_MAX_PARTS) {
          g_ptr_array_remove_index (ps->boundaries, own);
          scan_to_boundary (ps, after, after);
          break;
        }
        parse_node (ps, extras, (gint) index, depth + 1, FALSE, digest, after);
        if (ps->hit != (gint) own)
          break;
        pos = ps->hit_line;
      }
      if (ps->boundaries->len > own)
        g_ptr_array_set_size (ps->boundaries, own);
      body_end = ps->end_pos;
    }
  } else if (part->type == POSTHORN_MESSAGE_PART_RFC822) {
    parse_node (ps, extras, (gint) index, depth + 1, TRUE, FALSE, body_start);
    body_end = ps->end_pos;
  } else {
    scan_to_boundary (ps, body_start, body_start);
    body_end = ps->end_pos;
  }

  part = &g_array_index (ps->parts, PhMimePart, index);
  if (body_end < part->body_start)
    body_end = part->body_start;
  part->body_end = body_end;
  part->lines = count_lf (ps->data + part->body_start, part->body_end - part->body_start);
  if (part->type == POSTHORN_MESSAGE_PART_LEAF)
    part->binary_size = decoded_size (part->cte, ps->data + part->body_start,
                                      part->body_end - part->body_start, &part->binary_ok);
  else {
    part->binary_ok = TRUE;
    part->binary_size = part->body_end - part->body_start;
  }
  return index;
}

static void
number_parts (GArray *parts, guint index, const char *number)
{
  PhMimePart *part = &g_array_index (parts, PhMimePart, index);
  part->number = g_strdup (number);

  if (part->type == POSTHORN_MESSAGE_PART_MULTIPART) {
    guint n = 1;
    for (gint c = part->first_child; c >= 0;
         c = g_array_index (parts, PhMimePart, c).next_sibling, n++) {
      g_autofree char *child = number[0] == '\0' ? g_strdup_printf ("%u", n)
                                                 : g_strdup_printf ("%s.%u", number, n);
      number_parts (parts, (guint) c, child);
    }
  } else if (part->type == POSTHORN_MESSAGE_PART_RFC822 && part->first_child >= 0) {
    number_parts (parts, (guint) part->first_child, number[0] == '\0' ? "1" : number);
  }
}

static void
node_extra_free (gpointer p)
{
  NodeExtra *ex = p;
  content_info_clear (&ex->ci);
  g_free (ex->envelope);
  g_free (ex);
}

PosthornMessageInfo *
ph_mime_parse_buffer (const guint8 *data, gsize size)
{
  PosthornMessageInfo *info = ph_mime_info_new ();
  g_autoptr(GPtrArray) extras = g_ptr_array_new_with_free_func (node_extra_free);
  Parser ps = { 0 };

  ph_mime_init ();
  ps.data = data;
  ps.size = size;
  ps.boundaries = g_ptr_array_new_with_free_func (g_free);
  ps.parts = info->parts;
  ps.info = info;

  parse_node (&ps, extras, -1, 0, TRUE, FALSE, 0);
  number_parts (info->parts, 0, "");

  PhMimePart *root = &g_array_index (info->parts, PhMimePart, 0);
  info->size = size;
  info->header_size = root->body_start;
  info->lines = count_lf (data, size);
  info->body_lines = count_lf (data + root->body_start, size - root->body_start);

  NodeExtra *root_extra = g_ptr_array_index (extras, 0);
  info->envelope = g_strdup (root_extra->envelope);
  GString *bs = g_string_new (NULL), *body = g_string_new (NULL);
  append_part_body (&ps, extras, 0, bs, body);
  info->bodystructure = g_string_free (bs, FALSE);
  info->body = g_string_free (body, FALSE);

  g_ptr_array_unref (ps.boundaries);
  return info;
}
