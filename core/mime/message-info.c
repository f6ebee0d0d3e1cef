/* PosthornMessageInfo: the object, its accessors and its parts. What
 * builds one from a parsed message is message-parse.c; the section
 * lookups are message-info-section.c, the stored blob message-info-blob.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

static void
part_clear (gpointer p)
{
  PhMimePart *part = p;
  g_free (part->number);
  g_free (part->ctype);
  g_free (part->csubtype);
  g_free (part->charset);
  g_free (part->cte);
}

PosthornMessageInfo *
ph_mime_info_new (void)
{
  PosthornMessageInfo *info = g_new0 (PosthornMessageInfo, 1);
  g_atomic_ref_count_init (&info->ref);
  info->parts = g_array_new (FALSE, TRUE, sizeof (PhMimePart));
  g_array_set_clear_func (info->parts, part_clear);
  info->header_names = g_ptr_array_new_with_free_func (g_free);
  info->header_values = g_ptr_array_new_with_free_func (g_free);
  return info;
}

PosthornMessageInfo *
posthorn_message_info_parse (PosthornMessage *msg, GError **error)
{
  g_autoptr(GBytes) bytes = posthorn_message_get_bytes (msg, error);
  if (bytes == NULL)
    return NULL;
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  return ph_mime_parse_buffer (data, size);
}

PosthornMessageInfo *
posthorn_message_info_ref (PosthornMessageInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  g_atomic_ref_count_inc (&info->ref);
  return info;
}

void
posthorn_message_info_unref (PosthornMessageInfo *info)
{
  if (info == NULL || !g_atomic_ref_count_dec (&info->ref))
    return;
  g_array_unref (info->parts);
  g_ptr_array_unref (info->header_names);
  g_ptr_array_unref (info->header_values);
  if (info->backing != NULL) {
    /* decoded from a version-2 blob: every string points into it */
    g_bytes_unref (info->backing);
    g_free (info);
    return;
  }
  g_free (info->envelope);
  g_free (info->bodystructure);
  g_free (info->body);
  g_free (info->subject);
  g_free (info->from);
  g_free (info->to);
  g_free (info->cc);
  g_free (info->bcc);
  g_free (info->message_id);
  g_free (info->in_reply_to);
  g_free (info->references);
  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      g_free (info->addr[i][j]);
  g_free (info);
}

/* ---- sizes and strings ---- */

guint64 posthorn_message_info_get_size (PosthornMessageInfo *info) { return info->size; }
guint64 posthorn_message_info_get_header_size (PosthornMessageInfo *info) { return info->header_size; }
guint64 posthorn_message_info_get_body_size (PosthornMessageInfo *info) { return info->size - info->header_size; }
guint64 posthorn_message_info_get_lines (PosthornMessageInfo *info) { return info->lines; }
guint64 posthorn_message_info_get_body_lines (PosthornMessageInfo *info) { return info->body_lines; }
const char *posthorn_message_info_get_envelope (PosthornMessageInfo *info) { return info->envelope; }
const char *posthorn_message_info_get_bodystructure (PosthornMessageInfo *info) { return info->bodystructure; }
const char *posthorn_message_info_get_body (PosthornMessageInfo *info) { return info->body; }
const char *posthorn_message_info_get_subject (PosthornMessageInfo *info) { return info->subject; }
const char *posthorn_message_info_get_from (PosthornMessageInfo *info) { return info->from; }
const char *posthorn_message_info_get_to (PosthornMessageInfo *info) { return info->to; }
const char *posthorn_message_info_get_cc (PosthornMessageInfo *info) { return info->cc; }
const char *posthorn_message_info_get_bcc (PosthornMessageInfo *info) { return info->bcc; }
const char *posthorn_message_info_get_message_id (PosthornMessageInfo *info) { return info->message_id; }
const char *posthorn_message_info_get_in_reply_to (PosthornMessageInfo *info) { return info->in_reply_to; }
const char *posthorn_message_info_get_references (PosthornMessageInfo *info) { return info->references; }

gboolean
posthorn_message_info_get_first_address (PosthornMessageInfo *info, const char *field,
                                         const char **display_name, const char **mailbox,
                                         const char **domain)
{
  guint i;
  if (g_ascii_strcasecmp (field, "from") == 0)
    i = 0;
  else if (g_ascii_strcasecmp (field, "to") == 0)
    i = 1;
  else if (g_ascii_strcasecmp (field, "cc") == 0)
    i = 2;
  else
    return FALSE;
  if (info->addr[i][1] == NULL)
    return FALSE;
  if (display_name != NULL)
    *display_name = info->addr[i][0];
  if (mailbox != NULL)
    *mailbox = info->addr[i][1];
  if (domain != NULL)
    *domain = info->addr[i][2];
  return TRUE;
}

gboolean
posthorn_message_info_get_date (PosthornMessageInfo *info, gint64 *unix_time,
                                int *tz_offset_minutes)
{
  if (!info->has_date)
    return FALSE;
  if (unix_time != NULL)
    *unix_time = info->date;
  if (tz_offset_minutes != NULL)
    *tz_offset_minutes = info->tz_minutes;
  return TRUE;
}

guint
posthorn_message_info_get_n_headers (PosthornMessageInfo *info)
{
  return info->header_names->len;
}

gboolean
posthorn_message_info_get_header (PosthornMessageInfo *info, guint index,
                                  const char **name, const char **value)
{
  if (index >= info->header_names->len)
    return FALSE;
  if (name != NULL)
    *name = g_ptr_array_index (info->header_names, index);
  if (value != NULL)
    *value = g_ptr_array_index (info->header_values, index);
  return TRUE;
}

const char *
posthorn_message_info_lookup_header (PosthornMessageInfo *info, const char *name)
{
  for (guint i = 0; i < info->header_names->len; i++)
    if (g_ascii_strcasecmp (g_ptr_array_index (info->header_names, i), name) == 0)
      return g_ptr_array_index (info->header_values, i);
  return NULL;
}

/* ---- parts ---- */

guint
posthorn_message_info_get_n_parts (PosthornMessageInfo *info)
{
  return info->parts->len;
}

gboolean
posthorn_message_info_get_part (PosthornMessageInfo *info, guint index,
                                const char **part_number, PosthornMessagePartType *type,
                                gboolean *is_message, guint *depth,
                                guint64 *header_offset, guint64 *body_offset,
                                guint64 *body_end)
{
  if (index >= info->parts->len)
    return FALSE;
  PhMimePart *p = &g_array_index (info->parts, PhMimePart, index);
  if (part_number != NULL)
    *part_number = p->number;
  if (type != NULL)
    *type = (PosthornMessagePartType) p->type;
  if (is_message != NULL)
    *is_message = p->is_message;
  if (depth != NULL)
    *depth = p->depth;
  if (header_offset != NULL)
    *header_offset = p->header_start;
  if (body_offset != NULL)
    *body_offset = p->body_start;
  if (body_end != NULL)
    *body_end = p->body_end;
  return TRUE;
}

gboolean
posthorn_message_info_get_part_content_type (PosthornMessageInfo *info, guint index,
                                             const char **type, const char **subtype,
                                             const char **charset, const char **encoding)
{
  if (index >= info->parts->len)
    return FALSE;
  PhMimePart *p = &g_array_index (info->parts, PhMimePart, index);
  if (type != NULL)
    *type = p->ctype;
  if (subtype != NULL)
    *subtype = p->csubtype;
  if (charset != NULL)
    *charset = p->charset;
  if (encoding != NULL)
    *encoding = p->cte;
  return TRUE;
}
