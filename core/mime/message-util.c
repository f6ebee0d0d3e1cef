/* Helpers for IMAP over stored messages: HEADER.FIELDS, BINARY and the
 * text that SEARCH BODY/TEXT look at.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <gmime/gmime.h>

#include "mime-private.h"

/* ---- HEADER.FIELDS ---- */

static gboolean
name_listed (const char *name, gsize len, const char *const *names)
{
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    if (strlen (names[i]) == len && g_ascii_strncasecmp (names[i], name, len) == 0)
      return TRUE;
  return FALSE;
}

char *
posthorn_message_header_fields (const char *header, gsize length,
                                const char *const *names, gboolean not,
                                gsize *out_length)
{
  GString *out = g_string_sized_new (MIN (length, 4096) + 2);
  const char *p = header, *end = header + length;
  gboolean blank_line = FALSE, keep = FALSE;

  while (p < end) {
    const char *lf = memchr (p, '\n', end - p);
    const char *next = lf != NULL ? lf + 1 : end;
    gsize content = next - p;
    if (content > 0 && p[content - 1] == '\n')
      content--;
    if (content > 0 && p[content - 1] == '\r')
      content--;
    if (content == 0 && lf != NULL) {
      blank_line = TRUE;
      break;
    }
    if (p[0] != ' ' && p[0] != '\t') {
      const char *colon = memchr (p, ':', content);
      gsize name_len = colon != NULL ? (gsize) (colon - p) : content;
      while (name_len > 0 && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
        name_len--;
      keep = name_listed (p, name_len, names) != not;
    }
    if (keep) {
      g_string_append_len (out, p, next - p);
      if (lf == NULL)
        g_string_append (out, "\r\n");
    }
    p = next;
  }
  if (!not || blank_line)
    g_string_append (out, "\r\n");
  if (out_length != NULL)
    *out_length = out->len;
  return g_string_free (out, FALSE);
}

/* ---- BINARY ---- */

GBytes *
posthorn_message_decode_body (const char *encoding, const void *data, gsize length,
                              GError **error)
{
  GMimeContentEncoding enc;

  ph_mime_init ();
  if (encoding == NULL || g_ascii_strcasecmp (encoding, "7bit") == 0 ||
      g_ascii_strcasecmp (encoding, "8bit") == 0 ||
      g_ascii_strcasecmp (encoding, "binary") == 0)
    return g_bytes_new (data, length);
  enc = g_mime_content_encoding_from_string (encoding);
  if (enc != GMIME_CONTENT_ENCODING_BASE64 && enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                 "Unknown Content-Transfer-Encoding.");
    return NULL;
  }

  GMimeEncoding state;
  gsize chunk = 65536;
  GByteArray *out = g_byte_array_sized_new ((guint) MIN (length, (gsize) G_MAXUINT32 / 2));
  g_mime_encoding_init_decode (&state, enc);
  g_autofree char *buf = g_malloc (g_mime_encoding_outlen (&state, chunk) + 16);
  for (gsize off = 0; off < length; off += chunk) {
    gsize n = MIN (chunk, length - off);
    gsize w = g_mime_encoding_step (&state, (const char *) data + off, n, buf);
    g_byte_array_append (out, (const guint8 *) buf, (guint) w);
  }
  gsize w = g_mime_encoding_flush (&state, "", 0, buf);
  g_byte_array_append (out, (const guint8 *) buf, (guint) w);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
read_range (PosthornMessage *msg, guint64 offset, guint64 length, GError **error)
{
  g_autoptr(GBytes) all = posthorn_message_get_bytes (msg, error);
  if (all == NULL)
    return NULL;
  if (offset + length > g_bytes_get_size (all)) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                 "message info does not match the message");
    return NULL;
  }
  return g_bytes_new_from_bytes (all, offset, length);
}

GBytes *
posthorn_message_decode_part (PosthornMessage *msg, PosthornMessageInfo *info,
                              const char *section, GError **error)
{
  guint index;
  PhSectionKind kind;
  guint64 offset, length;

  if (!ph_mime_info_resolve_section (info, section, &index, &kind, error))
    return NULL;
  if (kind == PH_SECTION_EMPTY)
    return g_bytes_new (NULL, 0);
  if (kind != PH_SECTION_BODY) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                 "BINARY takes a part number, not '%s'", section);
    return NULL;
  }
  if (!posthorn_message_info_get_section (info, section, &offset, &length, error))
    return NULL;
  g_autoptr(GBytes) raw = read_range (msg, offset, length, error);
  if (raw == NULL)
    return NULL;
  PhMimePart *p = &g_array_index (info->parts, PhMimePart, index);
  if (p->type != POSTHORN_MESSAGE_PART_LEAF)
    return g_steal_pointer (&raw);
  return posthorn_message_decode_body (p->cte, g_bytes_get_data (raw, NULL), length, error);
}

/* ---- SEARCH text ---- */

static void
append_utf8 (GString *out, const char *data, gsize length, const char *charset)
{
  if (length == 0)
    return;
  if (charset != NULL && g_ascii_strcasecmp (charset, "utf-8") != 0 &&
      g_ascii_strcasecmp (charset, "us-ascii") != 0) {
    const char *name = g_mime_charset_iconv_name (charset);
    gsize written = 0;
    g_autofree char *converted = g_convert_with_fallback (data, (gssize) length, "UTF-8",
                                                          name, "\xEF\xBF\xBD", NULL,
                                                          &written, NULL);
    if (converted != NULL) {
      g_string_append_len (out, converted, (gssize) written);
      return;
    }
  }
  g_autofree char *valid = g_utf8_make_valid (data, (gssize) length);
  g_string_append (out, valid);
}

static void
append_headers (GString *out, const char *header, gsize length)
{
  const char *p = header, *end = header + length;
  GString *field = g_string_new (NULL);

  while (p <= end) {
    const char *lf = p < end ? memchr (p, '\n', end - p) : NULL;
    const char *next = lf != NULL ? lf + 1 : end;
    gsize content = next - p;
    while (content > 0 && (p[content - 1] == '\n' || p[content - 1] == '\r'))
      content--;
    gboolean continuation = p < end && (p[0] == ' ' || p[0] == '\t');
    if (!continuation && field->len > 0) {
      g_autofree char *decoded = g_mime_utils_header_decode_text (NULL, field->str);
      if (decoded != NULL) {
        g_autofree char *valid = g_utf8_make_valid (decoded, -1);
        g_string_append (out, valid);
        g_string_append_c (out, '\n');
      }
      g_string_truncate (field, 0);
    }
    if (p >= end || content == 0)
      break;
    g_string_append_len (field, p, (gssize) content);
    p = next;
  }
  g_string_free (field, TRUE);
}

gboolean
posthorn_message_extract_search_text (PosthornMessage *msg, PosthornMessageInfo *info,
                                      char **body_text, char **all_text, GError **error)
{
  g_autoptr(GBytes) all = posthorn_message_get_bytes (msg, error);
  if (all == NULL)
    return FALSE;
  gsize size;
  const char *data = g_bytes_get_data (all, &size);
  GString *body = g_string_new (NULL), *text = g_string_new (NULL);

  ph_mime_init ();
  for (guint i = 0; i < info->parts->len; i++) {
    PhMimePart *p = &g_array_index (info->parts, PhMimePart, i);
    if (p->body_end > size)
      break;
    /* a multipart child or a message has a header of its own; the top part of a
     * non-multipart message shares the message's header */
    if (p->body_start > p->header_start)
      append_headers (text, data + p->header_start, p->body_start - p->header_start);
    if (p->type != POSTHORN_MESSAGE_PART_LEAF)
      continue;
    if (strcmp (p->ctype, "text") != 0 && strcmp (p->ctype, "message") != 0)
      continue;
    g_autoptr(GBytes) decoded = posthorn_message_decode_body (
      p->cte, data + p->body_start, p->body_end - p->body_start, NULL);
    gsize len;
    const char *content;
    if (decoded != NULL) {
      content = g_bytes_get_data (decoded, &len);
    } else {
      content = data + p->body_start;
      len = p->body_end - p->body_start;
    }
    if (body->len > 0)
      g_string_append_c (body, '\n');
    append_utf8 (body, content, len, p->charset);
  }
  if (body->len > 0) {
    g_string_append_c (text, '\n');
    g_string_append_len (text, body->str, body->len);
  }

  if (body_text != NULL)
    *body_text = g_string_free (body, FALSE);
  else
    g_string_free (body, TRUE);
  if (all_text != NULL)
    *all_text = g_string_free (text, FALSE);
  else
    g_string_free (text, TRUE);
  return TRUE;
}
