/* PosthornMessageInfo sections: resolving an IMAP section number
 * ("1.2.HEADER", "3.MIME", "TEXT") to a part, and the byte ranges and
 * decoded sizes of sections.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

/* ---- sections ---- */

static PhMimePart *
part_at (PosthornMessageInfo *info, gint index)
{
  return &g_array_index (info->parts, PhMimePart, index);
}

static gint
nth_child (PosthornMessageInfo *info, gint parent, guint64 n)
{
  gint c = part_at (info, parent)->first_child;
  for (guint64 i = 1; c >= 0 && i < n; i++)
    c = part_at (info, c)->next_sibling;
  return c;
}

gboolean
ph_mime_info_resolve_section (PosthornMessageInfo *info, const char *section,
                              guint *part_index, PhSectionKind *kind, GError **error)
{
  g_auto(GStrv) tokens = NULL;
  gint cur = 0;
  guint i = 0;

  *part_index = 0;
  if (section[0] == '\0') {
    *kind = PH_SECTION_WHOLE;
    return TRUE;
  }
  tokens = g_strsplit (section, ".", -1);
  for (; tokens[i] != NULL && g_ascii_isdigit (tokens[i][0]); i++) {
    guint64 n;
    if (!g_ascii_string_to_unsigned (tokens[i], 10, 1, G_MAXUINT32, &n, NULL) ||
        tokens[i][0] == '0') {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                   "invalid section part number '%s'", tokens[i]);
      return FALSE;
    }
    PhMimePart *p = part_at (info, cur);
    gint container = cur;
    if (p->type == POSTHORN_MESSAGE_PART_RFC822 && i > 0) {
      /* a stored table may hold a message part without its message */
      if (p->first_child < 0) {
        g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                     "no part %s in this message", section);
        return FALSE;
      }
      container = p->first_child;
    } else if (p->type != POSTHORN_MESSAGE_PART_MULTIPART && i > 0) {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                   "no part %s in this message", section);
      return FALSE;
    }
    PhMimePart *c = part_at (info, container);
    if (c->type == POSTHORN_MESSAGE_PART_MULTIPART) {
      if (c->first_child < 0 && n == 1) {
        /* Dovecot: part 1 of a multipart without parts is empty */
        *part_index = (guint) container;
        *kind = PH_SECTION_EMPTY;
        return tokens[i + 1] == NULL ||
               (tokens[i + 2] == NULL && g_ascii_strcasecmp (tokens[i + 1], "MIME") == 0)
               ? TRUE
               : (g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                               "no part %s in this message", section), FALSE);
      }
      cur = nth_child (info, container, n);
    } else {
      cur = n == 1 ? container : -1;
    }
    if (cur < 0) {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                   "no part %s in this message", section);
      return FALSE;
    }
  }

  *part_index = (guint) cur;
  if (tokens[i] == NULL) {
    *kind = PH_SECTION_BODY;
    return TRUE;
  }
  if (tokens[i + 1] != NULL)
    goto invalid;
  if (g_ascii_strcasecmp (tokens[i], "MIME") == 0) {
    if (i == 0)
      goto invalid;
    *kind = PH_SECTION_MIME;
    return TRUE;
  }
  gboolean header = g_ascii_strcasecmp (tokens[i], "HEADER") == 0;
  if (!header && g_ascii_strcasecmp (tokens[i], "TEXT") != 0)
    goto invalid;
  *kind = header ? PH_SECTION_HEADER : PH_SECTION_TEXT;
  if (i == 0)
    return TRUE;
  PhMimePart *p = part_at (info, cur);
  if (p->type != POSTHORN_MESSAGE_PART_RFC822 || p->first_child < 0) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND,
                 "part of %s is not a message/rfc822 part", section);
    return FALSE;
  }
  *part_index = (guint) p->first_child;
  return TRUE;

invalid:
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
               "invalid section '%s'", section);
  return FALSE;
}

gboolean
posthorn_message_info_get_section (PosthornMessageInfo *info, const char *section,
                                   guint64 *offset, guint64 *length, GError **error)
{
  guint index;
  PhSectionKind kind;
  guint64 start = 0, end = 0;

  if (!ph_mime_info_resolve_section (info, section, &index, &kind, error))
    return FALSE;
  PhMimePart *p = part_at (info, (gint) index);
  switch (kind) {
  case PH_SECTION_WHOLE:
    start = 0;
    end = info->size;
    break;
  case PH_SECTION_BODY:
  case PH_SECTION_TEXT:
    start = p->body_start;
    end = p->body_end;
    break;
  case PH_SECTION_MIME:
  case PH_SECTION_HEADER:
    start = p->header_start;
    end = p->body_start;
    break;
  case PH_SECTION_EMPTY:
    start = end = p->body_end;
    break;
  }
  if (offset != NULL)
    *offset = start;
  if (length != NULL)
    *length = end - start;
  return TRUE;
}

gboolean
posthorn_message_info_get_binary_size (PosthornMessageInfo *info, const char *section,
                                       guint64 *size, GError **error)
{
  guint index;
  PhSectionKind kind;

  if (!ph_mime_info_resolve_section (info, section, &index, &kind, error))
    return FALSE;
  PhMimePart *p = part_at (info, (gint) index);
  if (kind == PH_SECTION_EMPTY) {
    *size = 0;
    return TRUE;
  }
  if (kind != PH_SECTION_BODY) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                 "BINARY takes a part number, not '%s'", section);
    return FALSE;
  }
  if (!p->binary_ok) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED,
                 "Unknown Content-Transfer-Encoding.");
    return FALSE;
  }
  *size = p->binary_size;
  return TRUE;
}
