/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The FETCH response of one message: which bytes each item reads and how
 * each item is written (RFC 3501 7.4.2, BINARY of RFC 3516), as text
 * segments and store ranges that imap-cmd-fetch.c then streams. */
#include "imap-fetch-job.h"

#include <string.h>

gboolean
imap_fetch_item_is_body (const ImapFetchItem *item)
{
  switch (item->type)
    {
    case IMAP_FETCH_RFC822:
    case IMAP_FETCH_RFC822_HEADER:
    case IMAP_FETCH_RFC822_TEXT:
    case IMAP_FETCH_BODY_SECTION:
    case IMAP_FETCH_BINARY:
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
imap_fetch_item_sets_seen (const ImapFetchItem *item)
{
  switch (item->type)
    {
    case IMAP_FETCH_RFC822:
    case IMAP_FETCH_RFC822_TEXT:
      return TRUE;
    case IMAP_FETCH_BODY_SECTION:
    case IMAP_FETCH_BINARY:
      return !item->peek;
    default:
      return FALSE;
    }
}

/* "1.2.HEADER" etc. without the HEADER.FIELDS list. */
static char *
section_spec (const ImapSection *section, gboolean for_lookup)
{
  GString *s = g_string_new (NULL);

  for (guint k = 0; section->part != NULL && k < section->part->len; k++)
    g_string_append_printf (s, "%s%u", k > 0 ? "." : "", g_array_index (section->part, guint32, k));
  switch (section->text)
    {
    case IMAP_SECTION_ALL:
      break;
    case IMAP_SECTION_HEADER:
    case IMAP_SECTION_HEADER_FIELDS:
    case IMAP_SECTION_HEADER_FIELDS_NOT:
      if (s->len > 0)
        g_string_append_c (s, '.');
      if (for_lookup || section->text == IMAP_SECTION_HEADER)
        g_string_append (s, "HEADER");
      else
        {
          g_string_append (s, section->text == IMAP_SECTION_HEADER_FIELDS
                              ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (");
          for (guint k = 0; section->fields[k] != NULL; k++)
            g_string_append_printf (s, "%s%s", k > 0 ? " " : "", section->fields[k]);
          g_string_append_c (s, ')');
        }
      break;
    case IMAP_SECTION_TEXT:
      g_string_append (s, s->len > 0 ? ".TEXT" : "TEXT");
      break;
    case IMAP_SECTION_MIME:
      g_string_append (s, ".MIME");
      break;
    }
  return g_string_free (s, FALSE);
}

/* ---- writing ---- */

static GString *
text_segment (ImapFetchJob *job)
{
  ImapFetchSegment *tail = g_queue_peek_tail (&job->segments);

  if (tail == NULL || tail->text == NULL)
    {
      tail = g_new0 (ImapFetchSegment, 1);
      tail->text = g_string_new (NULL);
      g_queue_push_tail (&job->segments, tail);
    }
  return tail->text;
}

static void
range_segment (ImapFetchJob *job, guint64 offset, guint64 length)
{
  ImapFetchSegment *seg = g_new0 (ImapFetchSegment, 1);

  seg->offset = offset;
  seg->length = length;
  g_queue_push_tail (&job->segments, seg);
}

/* Appends "{n}\r\n" and the bytes at @offset of the message: from memory
 * when it was read whole, else as a store range streamed later. */
static void
append_message_range (ImapFetchJob *job, guint64 offset, guint64 length)
{
  GString *out = text_segment (job);

  g_string_append_printf (out, "{%" G_GUINT64_FORMAT "}\r\n", length);
  if (job->whole != NULL)
    {
      gsize size = 0;
      const char *data = g_bytes_get_data (job->whole, &size);
      if (offset + length <= size)
        {
          g_string_append_len (out, data + offset, (gssize) length);
          return;
        }
    }
  if (length > 0)
    range_segment (job, offset, length);
}

static void
append_literal (GString *out, const char *data, gsize length, gboolean literal8)
{
  gboolean nul = length > 0 && memchr (data, '\0', length) != NULL;

  if (length == 0)
    data = "";

  g_string_append_printf (out, "%s{%" G_GSIZE_FORMAT "}\r\n", literal8 && nul ? "~" : "", length);
  g_string_append_len (out, data, (gssize) length);
}

static void
apply_partial (const ImapFetchItem *item, guint64 *offset, guint64 *length)
{
  if (!item->partial)
    return;
  if (item->partial_offset >= *length)
    {
      *offset += *length;
      *length = 0;
      return;
    }
  *offset += item->partial_offset;
  *length = MIN (*length - item->partial_offset, (guint64) item->partial_length);
}

static const char *
part_encoding (PosthornMessageInfo *info, const ImapSection *section)
{
  g_autofree char *number = section_spec (section, TRUE);
  g_autofree char *parent = NULL;
  const char *dot = strrchr (number, '.');

  /* "1" of a single-part message (or of an encapsulated single-part
   * message "N.1") is the body of the message node itself */
  if (strcmp (dot != NULL ? dot + 1 : number, "1") == 0)
    parent = dot != NULL ? g_strndup (number, (gsize) (dot - number)) : g_strdup ("");
  for (guint pass = 0; pass < 2; pass++)
    for (guint k = 0; k < posthorn_message_info_get_n_parts (info); k++)
      {
        const char *num = NULL;
        PosthornMessagePartType type;
        gboolean is_message = FALSE;
        const char *encoding = NULL;

        posthorn_message_info_get_part (info, k, &num, &type, &is_message, NULL, NULL, NULL, NULL);
        if (pass == 0 && (is_message || g_strcmp0 (num, number) != 0))
          continue;
        if (pass == 1 && (!is_message || parent == NULL || g_strcmp0 (num, parent) != 0))
          continue;
        if (type != POSTHORN_MESSAGE_PART_LEAF)
          return NULL;
        posthorn_message_info_get_part_content_type (info, k, NULL, NULL, NULL, &encoding);
        return encoding;
      }
  return NULL;
}

/* Renders one item of message job->m; FALSE if it cannot be sent (the
 * item is left out, e.g. BINARY of an unknown transfer encoding). */
static void
render_item (ImapFetchJob *job, const ImapFetchItem *item, guint seq)
{
  PosthornMessageInfo *info = job->m != NULL ? job->m->info : NULL;
  GString *out;
  gsize mark;

  out = text_segment (job);
  mark = out->len;
  if (out->len > 0 && out->str[out->len - 1] != '(')
    g_string_append_c (out, ' ');

  switch (item->type)
    {
    case IMAP_FETCH_UID:
    case IMAP_FETCH_FLAGS:
    case IMAP_FETCH_MODSEQ:
      g_string_truncate (out, mark);  /* written up front */
      return;
    case IMAP_FETCH_INTERNALDATE:
      {
        g_autofree char *date = imap_datetime_format (job->m->internal_date, 0);
        g_string_append_printf (out, "INTERNALDATE \"%s\"", date);
      }
      return;
    case IMAP_FETCH_RFC822_SIZE:
      g_string_append_printf (out, "RFC822.SIZE %" G_GUINT64_FORMAT, job->m->size);
      return;
    case IMAP_FETCH_ENVELOPE:
      g_string_append_printf (out, "ENVELOPE %s", posthorn_message_info_get_envelope (info));
      return;
    case IMAP_FETCH_BODY:
      g_string_append_printf (out, "BODY %s", posthorn_message_info_get_body (info));
      return;
    case IMAP_FETCH_BODYSTRUCTURE:
      g_string_append_printf (out, "BODYSTRUCTURE %s", posthorn_message_info_get_bodystructure (info));
      return;
    case IMAP_FETCH_RFC822:
      g_string_append (out, "RFC822 ");
      append_message_range (job, 0, job->m->size);
      return;
    case IMAP_FETCH_RFC822_HEADER:
      g_string_append (out, "RFC822.HEADER ");
      append_message_range (job, 0, posthorn_message_info_get_header_size (info));
      return;
    case IMAP_FETCH_RFC822_TEXT:
      g_string_append (out, "RFC822.TEXT ");
      append_message_range (job, posthorn_message_info_get_header_size (info),
                            posthorn_message_info_get_body_size (info));
      return;
    case IMAP_FETCH_BINARY_SIZE:
      {
        g_autofree char *spec = section_spec (&item->section, TRUE);
        guint64 size = 0;
        g_autoptr(GError) error = NULL;

        if (!posthorn_message_info_get_binary_size (info, spec, &size, &error))
          {
            if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED))
              job->unknown_cte = TRUE;
            g_string_truncate (out, mark);
            if (!g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED))
              g_string_append_printf (out, "%sBINARY.SIZE[%s] 0",
                                      mark > 0 && out->str[mark - 1] != '(' ? " " : "", spec);
            return;
          }
        g_string_append_printf (out, "BINARY.SIZE[%s] %" G_GUINT64_FORMAT, spec, size);
      }
      return;
    case IMAP_FETCH_BINARY:
      {
        g_autofree char *spec = section_spec (&item->section, TRUE);
        guint64 offset = 0, length = 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) decoded = NULL;
        const char *encoding;
        gsize dlen = 0;
        const char *ddata;
        guint64 poff = 0, plen;

        if (!posthorn_message_info_get_section (info, spec, &offset, &length, &error))
          {
            g_string_append_printf (out, "BINARY[%s] NIL", spec);
            return;
          }
        if (spec[0] != '\0'
            && !posthorn_message_info_get_binary_size (info, spec, &plen, &error)
            && g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED))
          {
            job->unknown_cte = TRUE;
            g_string_truncate (out, mark);
            return;
          }
        encoding = spec[0] != '\0' ? part_encoding (info, &item->section) : NULL;
        {
          gsize size = 0;
          const char *data = job->whole != NULL ? g_bytes_get_data (job->whole, &size) : NULL;
          if (data != NULL && offset + length <= size)
            decoded = posthorn_message_decode_body (encoding, data + offset, (gsize) length, NULL);
        }
        if (decoded == NULL)
          {
            job->unknown_cte = TRUE;
            g_string_truncate (out, mark);
            return;
          }
        ddata = g_bytes_get_data (decoded, &dlen);
        if (ddata == NULL)
          ddata = "";
        plen = dlen;
        apply_partial (item, &poff, &plen);
        g_string_append_printf (out, "BINARY[%s]", spec);
        if (item->partial)
          g_string_append_printf (out, "<%u>", item->partial_offset);
        g_string_append_c (out, ' ');
        append_literal (out, ddata + poff, (gsize) plen, TRUE);
      }
      return;
    case IMAP_FETCH_BODY_SECTION:
      {
        g_autofree char *lookup = section_spec (&item->section, TRUE);
        g_autofree char *shown = section_spec (&item->section, FALSE);
        guint64 offset = 0, length = 0;
        g_autoptr(GError) error = NULL;

        g_string_append_printf (out, "BODY[%s]", shown);
        if (item->partial)
          g_string_append_printf (out, "<%u>", item->partial_offset);
        g_string_append_c (out, ' ');
        if (!posthorn_message_info_get_section (info, lookup, &offset, &length, &error))
          {
            g_string_append (out, "NIL");
            return;
          }
        if (item->section.text == IMAP_SECTION_HEADER_FIELDS
            || item->section.text == IMAP_SECTION_HEADER_FIELDS_NOT)
          {
            gsize size = 0, flen = 0;
            const char *data = job->whole != NULL ? g_bytes_get_data (job->whole, &size) : NULL;
            g_autofree char *fields = NULL;
            guint64 poff = 0, plen;

            if (data == NULL || offset + length > size)
              {
                g_string_append (out, "NIL");
                return;
              }
            fields = posthorn_message_header_fields (
              data + offset, (gsize) length, (const char *const *) item->section.fields,
              item->section.text == IMAP_SECTION_HEADER_FIELDS_NOT, &flen);
            plen = flen;

            apply_partial (item, &poff, &plen);
            append_literal (out, fields + poff, (gsize) plen, FALSE);
            return;
          }
        apply_partial (item, &offset, &length);
        append_message_range (job, offset, length);
      }
      return;
    default:
      g_string_truncate (out, mark);
      return;
    }
}

/* The bytes of the message an item reads (before partial), FALSE if it
 * reads none. */
gboolean
imap_fetch_item_range (PosthornMessageInfo *info, guint64 size, const ImapFetchItem *item,
            guint64 *offset, guint64 *length)
{
  *offset = 0;
  *length = 0;
  switch (item->type)
    {
    case IMAP_FETCH_RFC822:
      *length = size;
      return TRUE;
    case IMAP_FETCH_RFC822_HEADER:
      *length = posthorn_message_info_get_header_size (info);
      return TRUE;
    case IMAP_FETCH_RFC822_TEXT:
      *offset = posthorn_message_info_get_header_size (info);
      *length = posthorn_message_info_get_body_size (info);
      return TRUE;
    case IMAP_FETCH_BODY_SECTION:
    case IMAP_FETCH_BINARY:
      {
        g_autofree char *spec = section_spec (&item->section, TRUE);
        return posthorn_message_info_get_section (info, spec, offset, length, NULL);
      }
    default:
      return FALSE;
    }
}

gboolean
imap_fetch_item_needs_memory (const ImapFetchItem *item)
{
  return item->type == IMAP_FETCH_BINARY
         || (item->type == IMAP_FETCH_BODY_SECTION
             && (item->section.text == IMAP_SECTION_HEADER_FIELDS
                 || item->section.text == IMAP_SECTION_HEADER_FIELDS_NOT));
}

void
imap_fetch_render_message (ImapFetchJob *job)
{
  ImapSession *session = job->session;
  guint seq = posthorn_mailbox_view_lookup_uid (session->view, job->uid);
  GString *out = text_segment (job);
  gboolean seen_now = job->seen_set != NULL && job->seen_set->len > 0;
  gboolean flags = job->want_flags;

  if (seen_now && !flags)
    for (guint k = 0; k < job->seen_set->len; k++)
      if (g_array_index (job->seen_set, guint32, k) == job->uid)
        flags = TRUE;
  g_string_append_printf (out, "* %u FETCH (", seq);
  if (job->want_uid)
    g_string_append_printf (out, "UID %u", job->uid);
  if (flags)
    {
      g_string_append (out, job->want_uid ? " FLAGS " : "FLAGS ");
      imap_session_append_flags (session, out, seq);
    }
  if (job->want_modseq || (seen_now && flags && session->condstore))
    g_string_append_printf (out, "%sMODSEQ (%" G_GUINT64_FORMAT ")",
                            job->want_uid || flags ? " " : "",
                            posthorn_mailbox_view_get_modseq (session->view, seq));
  for (guint k = 0; k < job->items->len; k++)
    render_item (job, g_ptr_array_index (job->items, k), seq);
  g_string_append (text_segment (job), ")\r\n");
}
