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

/* Appends at most @room bytes of UTF-8; returns FALSE when something was
 * left out. @data may be cut in the middle of a character when
 * @input_cut: the conversion then drops the incomplete end. */
static gboolean
append_utf8 (GString *out, const char *data, gsize length, const char *charset,
             gboolean input_cut, gsize room)
{
  g_autofree char *owned = NULL;
  const char *text = NULL;
  gsize text_len = 0;

  if (length == 0)
    return TRUE;
  if (charset != NULL && g_ascii_strcasecmp (charset, "utf-8") != 0 &&
      g_ascii_strcasecmp (charset, "us-ascii") != 0) {
    const char *name = g_mime_charset_iconv_name (charset);
    /* a cut multi-byte sequence at the end is partial input: drop up to
     * three bytes until the converter accepts the rest */
    for (gsize drop = 0; owned == NULL && drop <= (input_cut ? 3u : 0u) && drop < length; drop++)
      owned = g_convert_with_fallback (data, (gssize) (length - drop), "UTF-8", name,
                                       "\xEF\xBF\xBD", NULL, &text_len, NULL);
    text = owned;
  }
  if (text == NULL) {
    owned = g_utf8_make_valid (data, (gssize) length);
    text = owned;
    text_len = strlen (owned);
  }
  if (text_len <= room) {
    g_string_append_len (out, text, (gssize) text_len);
    return !input_cut;
  }
  /* cut before the character that would straddle the limit */
  while (room > 0 && ((guchar) text[room] & 0xc0) == 0x80)
    room--;
  g_string_append_len (out, text, (gssize) room);
  return FALSE;
}

/* Appends the decoded header fields; FALSE when @max was reached. */
static gboolean
append_headers (GString *out, const char *header, gsize length, gsize max)
{
  const char *p = header, *end = header + length;
  GString *field = g_string_new (NULL);
  gboolean complete = TRUE;

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
        if (out->len >= max || !append_utf8 (out, decoded, strlen (decoded), NULL, FALSE,
                                             max - out->len)) {
          complete = FALSE;
          break;
        }
        g_string_append_c (out, '\n');
      }
      g_string_truncate (field, 0);
    }
    if (p >= end || content == 0)
      break;
    /* a folded field longer than the limit cannot all be kept anyway */
    if (field->len < max)
      g_string_append_len (field, p, (gssize) MIN (content, max - field->len + 1));
    p = next;
  }
  g_string_free (field, TRUE);
  return complete;
}

gboolean
ph_mime_extract_search_text (PosthornMessage *msg, PosthornMessageInfo *info, gsize max,
                             char **body_text, char **all_text, gboolean *complete,
                             GError **error)
{
  g_autoptr(GBytes) all = posthorn_message_get_bytes (msg, error);
  if (all == NULL)
    return FALSE;
  gsize size;
  const char *data = g_bytes_get_data (all, &size);
  GString *body = g_string_new (NULL), *text = g_string_new (NULL);
  gboolean body_complete = TRUE, text_complete = TRUE;

  ph_mime_init ();
  for (guint i = 0; i < info->parts->len; i++) {
    PhMimePart *p = &g_array_index (info->parts, PhMimePart, i);
    if (p->body_end > size)
      break;
    /* a multipart child or a message has a header of its own; the top part of a
     * non-multipart message shares the message's header */
    if (p->body_start > p->header_start && text_complete)
      text_complete = append_headers (text, data + p->header_start, p->body_start - p->header_start, max);
    if (p->type != POSTHORN_MESSAGE_PART_LEAF)
      continue;
    if (strcmp (p->ctype, "text") != 0 && strcmp (p->ctype, "message") != 0)
      continue;
    if (!body_complete)
      continue;
    gsize room = body->len > 0 ? (body->len < max ? max - body->len - 1 : 0) : max;
    if (room == 0) {
      body_complete = FALSE;
      continue;
    }
    /* Decode no more of the part than the room left can hold. Input
     * bytes per output byte at most: base64 4/3, quoted-printable 3, a
     * charset conversion 2 (UTF-16), UTF-8 1 (an invalid byte becomes
     * U+FFFD, three bytes). */
    gsize raw_len = p->body_end - p->body_start;
    gsize factor = 1;
    if (p->cte != NULL && g_ascii_strcasecmp (p->cte, "base64") == 0)
      factor = 2;
    else if (p->cte != NULL && g_ascii_strcasecmp (p->cte, "quoted-printable") == 0)
      factor = 3;
    if (p->charset != NULL && g_ascii_strcasecmp (p->charset, "utf-8") != 0 &&
        g_ascii_strcasecmp (p->charset, "us-ascii") != 0)
      factor *= 2;
    gboolean input_cut = raw_len / factor > room + 16;
    if (input_cut)
      raw_len = (room + 16) * factor;
    g_autoptr(GBytes) decoded = posthorn_message_decode_body (p->cte, data + p->body_start, raw_len, NULL);
    gsize len;
    const char *content;
    if (decoded != NULL) {
      content = g_bytes_get_data (decoded, &len);
    } else {
      content = data + p->body_start;
      len = raw_len;
    }
    if (body->len > 0)
      g_string_append_c (body, '\n');
    body_complete = append_utf8 (body, content, len, p->charset, input_cut, room);
  }
  if (body->len > 0) {
    g_string_append_c (text, '\n');
    g_string_append_len (text, body->str, body->len);
  }

  if (complete != NULL)
    *complete = body_complete && text_complete;
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

gboolean
posthorn_message_extract_search_text (PosthornMessage *msg, PosthornMessageInfo *info,
                                      char **body_text, char **all_text, GError **error)
{
  return ph_mime_extract_search_text (msg, info, G_MAXSIZE / 2, body_text, all_text, NULL, error);
}
