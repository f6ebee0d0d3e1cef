/* BODY and BODYSTRUCTURE strings of the part tree (RFC 3501
 * section 7.4.2, Dovecot's rendering).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

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
    MimeParam *p = &g_array_index (params, MimeParam, i);
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
append_common_ext (GString *out, MimeContentInfo *ci)
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

static void build_structure (MimeParser *ps, GPtrArray *extras, guint index,
                             GString *bs, GString *body);

void
mime_append_part_body (MimeParser *ps, GPtrArray *extras, guint index, GString *bs, GString *body)
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
build_structure (MimeParser *ps, GPtrArray *extras, guint index, GString *bs, GString *body)
{
  PhMimePart *part = &g_array_index (ps->parts, PhMimePart, index);
  MimeNodeExtra *ex = g_ptr_array_index (extras, index);
  MimeContentInfo *ci = &ex->ci;

  if (part->type == POSTHORN_MESSAGE_PART_MULTIPART) {
    if (part->first_child < 0) {
      g_string_append (bs, EMPTY_BODYSTRUCTURE);
      g_string_append (body, EMPTY_BODY);
    }
    for (gint c = part->first_child; c >= 0;
         c = g_array_index (ps->parts, PhMimePart, c).next_sibling)
      mime_append_part_body (ps, extras, (guint) c, bs, body);
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
    MimeNodeExtra *inner = g_ptr_array_index (extras, part->first_child);
    both_append (bs, body, " ");
    both_append (bs, body, inner->envelope);
    both_append (bs, body, " ");
    mime_append_part_body (ps, extras, (guint) part->first_child, bs, body);
    both_append (bs, body, lines);
  }
  g_string_append_c (bs, ' ');
  ph_imap_append_nstring (bs, ci->md5);
  append_common_ext (bs, ci);
}

