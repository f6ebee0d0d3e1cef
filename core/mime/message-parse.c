/* The MIME parser behind PosthornMessageInfo: one pass over a canonical
 * message builds the part tree, the ENVELOPE, BODYSTRUCTURE and BODY
 * strings and the decoded header values. Byte offsets, sizes and the
 * IMAP strings follow Dovecot 2.3 (see the golden corpus README).
 *
 * This file walks the tree (header blocks, boundaries, parts); the
 * ENVELOPE is in message-envelope.c, Content-* fields in
 * message-content.c and BODYSTRUCTURE in message-bodystructure.c.
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

/* ==================== header blocks ==================== */

static void
field_clear (gpointer p)
{
  MimeField *f = p;
  g_free (f->name);
  g_string_free (f->value, TRUE);
}

static gsize
line_end (MimeParser *ps, gsize pos)
{
  const guint8 *lf = memchr (ps->data + pos, '\n', ps->size - pos);
  return lf != NULL ? (gsize) (lf - ps->data) + 1 : ps->size;
}

/* The innermost boundary that the line at @pos starts with, or -1. */
static gint
match_boundary (MimeParser *ps, gsize pos)
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
end_before_boundary (MimeParser *ps, gsize line, gsize floor)
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
scan_to_boundary (MimeParser *ps, gsize pos, gsize floor)
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
parse_header_block (MimeParser *ps, gsize pos, GArray *fields)
{
  MimeField *current = NULL;
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
      MimeField f = { g_strndup ((const char *) line, name_len), g_string_new (NULL) };
      if (colon != NULL) {
        const guint8 *v = colon + 1, *vend = line + content;
        while (v < vend && (*v == ' ' || *v == '\t'))
          v++;
        g_string_append_len (f.value, (const char *) v, vend - v);
      }
      g_array_append_val (fields, f);
      current = &g_array_index (fields, MimeField, fields->len - 1);
    }
    pos = end;
  }
  return ps->size;
}

GString *
mime_find_field (GArray *fields, const char *name, gboolean last)
{
  GString *found = NULL;
  for (guint i = 0; i < fields->len; i++) {
    MimeField *f = &g_array_index (fields, MimeField, i);
    if (g_ascii_strcasecmp (f->name, name) == 0) {
      found = f->value;
      if (!last)
        break;
    }
  }
  return found;
}

/* A header value as a C string (cut at a NUL byte). */
char *
mime_value_dup (GString *v)
{
  return v != NULL ? g_strdup (v->str) : NULL;
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
add_part (MimeParser *ps, GPtrArray *extras, gint parent, guint depth, gboolean is_message,
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
  g_ptr_array_add (extras, g_new0 (MimeNodeExtra, 1));
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
parse_node (MimeParser *ps, GPtrArray *extras, gint parent, guint depth,
            gboolean is_message, gboolean digest_child, gsize start)
{
  guint index = add_part (ps, extras, parent, depth, is_message, start);
  MimeNodeExtra *ex = g_ptr_array_index (extras, index);
  g_autoptr(GArray) fields = g_array_new (FALSE, TRUE, sizeof (MimeField));
  g_array_set_clear_func (fields, field_clear);

  gsize body_start = parse_header_block (ps, start, fields);
  gboolean header_cut = ps->hit >= 0;
  mime_parse_content_fields (&ex->ci, fields);
  if (is_message)
    ex->envelope = mime_build_envelope (fields);
  if (parent < 0)
    mime_fill_top_values (ps->info, fields);

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
  part->charset = lower_or_null (mime_param_get (ex->ci.params, "charset"));
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
    const char *boundary = mime_param_get (ex->ci.params, "boundary");
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
  MimeNodeExtra *ex = p;
  mime_content_info_clear (&ex->ci);
  g_free (ex->envelope);
  g_free (ex);
}

PosthornMessageInfo *
ph_mime_parse_buffer (const guint8 *data, gsize size)
{
  PosthornMessageInfo *info = ph_mime_info_new ();
  g_autoptr(GPtrArray) extras = g_ptr_array_new_with_free_func (node_extra_free);
  MimeParser ps = { 0 };

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

  MimeNodeExtra *root_extra = g_ptr_array_index (extras, 0);
  info->envelope = g_strdup (root_extra->envelope);
  GString *bs = g_string_new (NULL), *body = g_string_new (NULL);
  mime_append_part_body (&ps, extras, 0, bs, body);
  info->bodystructure = g_string_free (bs, FALSE);
  info->body = g_string_free (body, FALSE);

  g_ptr_array_unref (ps.boundaries);
  return info;
}
