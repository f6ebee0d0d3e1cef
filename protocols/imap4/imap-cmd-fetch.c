/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FETCH and UID FETCH: every RFC 3501 item plus BINARY (RFC 3516).
 *
 * Metadata (ENVELOPE, BODYSTRUCTURE, sizes, section offsets) comes from
 * the PosthornMessageInfo parsed at APPEND, in one store round trip for
 * the whole set. Message bytes are read from the store: a small message
 * at once, a large section in pieces of FETCH_CHUNK bytes, each written
 * only once the connection's output queue has drained (backpressure), so
 * FETCH BODY[] of a 50 MB message keeps memory bounded. A non-PEEK body
 * item sets \Seen first (RFC 3501 6.4.5) and the new FLAGS go into the
 * same FETCH response. */
#include "imap-session.h"

#include <string.h>

#define FETCH_CHUNK (256 * 1024)
#define FETCH_SMALL_MESSAGE (1024 * 1024)

typedef struct {
  GString *text;        /* bytes to write, or NULL for a store range */
  guint64 offset;
  guint64 length;
} Segment;

typedef struct {
  ImapSession *session;
  GPtrArray *items;           /* of ImapFetchItem */
  gboolean want_uid, want_flags, want_modseq;
  gboolean needs_meta, needs_bytes, sets_seen;
  GArray *uids;
  GArray *seen_set;           /* UIDs that got \Seen from this FETCH */
  PosthornStoreFetch *meta;
  guint meta_index;
  guint index;
  gboolean some_expunged;
  gboolean unknown_cte;
  /* the message being written */
  guint32 uid;
  const PosthornStoreMessageMeta *m;
  GBytes *whole;              /* the whole message, if it was read at once */
  GQueue segments;
  Segment *current;           /* a store range being streamed */
} FetchJob;

static void fetch_next_message (FetchJob *job);
static void pump (FetchJob *job);

static void
segment_free (Segment *seg)
{
  if (seg->text != NULL)
    g_string_free (seg->text, TRUE);
  g_free (seg);
}

static void
fetch_job_free (FetchJob *job)
{
  imap_session_unref (job->session);
  g_clear_pointer (&job->uids, g_array_unref);
  g_clear_pointer (&job->seen_set, g_array_unref);
  g_clear_pointer (&job->meta, posthorn_store_fetch_free);
  g_clear_pointer (&job->whole, g_bytes_unref);
  g_queue_clear_full (&job->segments, (GDestroyNotify) segment_free);
  g_clear_pointer (&job->current, segment_free);
  g_free (job);
}

static gboolean
item_is_body (const ImapFetchItem *item)
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

static gboolean
item_sets_seen (const ImapFetchItem *item)
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
text_segment (FetchJob *job)
{
  Segment *tail = g_queue_peek_tail (&job->segments);

  if (tail == NULL || tail->text == NULL)
    {
      tail = g_new0 (Segment, 1);
      tail->text = g_string_new (NULL);
      g_queue_push_tail (&job->segments, tail);
    }
  return tail->text;
}

static void
range_segment (FetchJob *job, guint64 offset, guint64 length)
{
  Segment *seg = g_new0 (Segment, 1);

  seg->offset = offset;
  seg->length = length;
  g_queue_push_tail (&job->segments, seg);
}

/* Appends "{n}\r\n" and the bytes at @offset of the message: from memory
 * when it was read whole, else as a store range streamed later. */
static void
append_message_range (FetchJob *job, guint64 offset, guint64 length)
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
render_item (FetchJob *job, const ImapFetchItem *item, guint seq)
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
static gboolean
item_range (PosthornMessageInfo *info, guint64 size, const ImapFetchItem *item,
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

static gboolean
item_needs_memory (const ImapFetchItem *item)
{
  return item->type == IMAP_FETCH_BINARY
         || (item->type == IMAP_FETCH_BODY_SECTION
             && (item->section.text == IMAP_SECTION_HEADER_FIELDS
                 || item->section.text == IMAP_SECTION_HEADER_FIELDS_NOT));
}

static void
render_message (FetchJob *job)
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
  pump (job);
}

/* ---- streaming ---- */

static void
pump_drained (ImapSession *session, gpointer user_data)
{
  pump (user_data);
}

static void
range_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FetchJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = posthorn_store_read_finish (result, &error);
  gsize n = 0;
  const guint8 *data;

  if (imap_session_is_closed (session))
    {
      fetch_job_free (job);
      return;
    }
  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      /* the message vanished under us: the literal cannot be completed */
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING, "FETCH read failed: %s",
                               error != NULL ? error->message : "short message");
      imap_session_write_literal (session, "* BYE Internal error reading a message.\r\n");
      session->state = IMAP_STATE_LOGOUT;
      posthorn_connection_close (session->conn);
      fetch_job_free (job);
      return;
    }
  data = g_bytes_get_data (bytes, &n);
  n = (gsize) MIN ((guint64) n, job->current->length);
  imap_session_write (session, data, n);
  job->current->offset += n;
  job->current->length -= n;
  if (job->current->length == 0)
    g_clear_pointer (&job->current, segment_free);
  pump (job);
}

static void
pump (FetchJob *job)
{
  ImapSession *session = job->session;

  if (imap_session_is_closed (session))
    {
      fetch_job_free (job);
      return;
    }
  for (;;)
    {
      Segment *seg;

      if (posthorn_connection_output_is_full (session->conn))
        {
          imap_session_when_drained (session, pump_drained, job);
          return;
        }
      if (job->current != NULL)
        {
          posthorn_store_read_async (session->user, session->selected,
                                     posthorn_mailbox_view_get_uidvalidity (session->view),
                                     job->uid, job->current->offset,
                                     (gsize) MIN (job->current->length, (guint64) FETCH_CHUNK),
                                     session->cancellable, range_read, job);
          return;
        }
      seg = g_queue_pop_head (&job->segments);
      if (seg == NULL)
        break;
      if (seg->text != NULL)
        {
          imap_session_write_string (session, seg->text);
          segment_free (seg);
          continue;
        }
      job->current = seg;
    }
  g_clear_pointer (&job->whole, g_bytes_unref);
  job->index++;
  fetch_next_message (job);
}

static void
whole_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FetchJob *job = user_data;
  g_autoptr(GError) error = NULL;

  job->whole = posthorn_store_read_finish (result, &error);
  if (imap_session_is_closed (job->session))
    {
      fetch_job_free (job);
      return;
    }
  if (job->whole == NULL)
    {
      /* expunged meanwhile */
      job->some_expunged = TRUE;
      job->index++;
      fetch_next_message (job);
      return;
    }
  render_message (job);
}

static void
fetch_finish (FetchJob *job)
{
  ImapSession *session = job->session;

  if (job->unknown_cte)
    imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "UNKNOWN-CTE",
                         "Unknown Content-Transfer-Encoding.");
  /* A message of the set was expunged by another session meanwhile. UID
   * FETCH ignores UIDs that no longer exist (RFC 9051 6.4.9) and may send
   * the EXPUNGE itself, so it answers OK with what is left (as Dovecot).
   * FETCH by sequence number cannot send the EXPUNGE yet (RFC 3501
   * 7.4.1), so the client would see a number without data: NO
   * [EXPUNGEISSUED] (RFC 9051 7.1) with the rest of the data. */
  else if (job->some_expunged && !session->cmd->uid)
    imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "EXPUNGEISSUED",
                         "Some messages were expunged meanwhile.");
  else
    imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Fetch completed.");
  fetch_job_free (job);
}

static void
fetch_next_message (FetchJob *job)
{
  ImapSession *session = job->session;

  while (job->index < job->uids->len)
    {
      job->uid = g_array_index (job->uids, guint32, job->index);
      job->m = NULL;
      if (job->meta != NULL)
        {
          while (job->meta_index < posthorn_store_fetch_get_count (job->meta)
                 && posthorn_store_fetch_get (job->meta, job->meta_index)->uid < job->uid)
            job->meta_index++;
          if (job->meta_index < posthorn_store_fetch_get_count (job->meta)
              && posthorn_store_fetch_get (job->meta, job->meta_index)->uid == job->uid)
            job->m = posthorn_store_fetch_get (job->meta, job->meta_index);
        }
      if (job->needs_meta && job->m == NULL)
        {
          job->some_expunged = TRUE;
          job->index++;
          continue;
        }
      /* read the message's first bytes up to what the items need: all of
       * it when that is small, else what must be in memory (HEADER.FIELDS,
       * BINARY); other sections of a large message stream from the store */
      if (job->needs_bytes)
        {
          guint64 mem_end = 0, all_end = 0, read_len;

          for (guint k = 0; k < job->items->len; k++)
            {
              const ImapFetchItem *item = g_ptr_array_index (job->items, k);
              guint64 off, len;

              if (!item_range (job->m->info, job->m->size, item, &off, &len))
                continue;
              all_end = MAX (all_end, off + len);
              if (item_needs_memory (item))
                mem_end = MAX (mem_end, off + len);
            }
          read_len = all_end <= FETCH_SMALL_MESSAGE ? all_end : mem_end;
          if (read_len > 0)
            {
              posthorn_store_read_async (session->user, session->selected,
                                         posthorn_mailbox_view_get_uidvalidity (session->view),
                                         job->uid, 0, (gsize) read_len, session->cancellable,
                                         whole_read, job);
              return;
            }
        }
      render_message (job);
      return;
    }
  fetch_finish (job);
}

static void
fetch_meta_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FetchJob *job = user_data;
  g_autoptr(GError) error = NULL;

  job->meta = posthorn_store_fetch_finish (result, &error);
  if (imap_session_is_closed (job->session))
    {
      fetch_job_free (job);
      return;
    }
  if (job->meta == NULL)
    {
      imap_session_finish_error (job->session, error, FALSE);
      fetch_job_free (job);
      return;
    }
  fetch_next_message (job);
}

static void
fetch_start (FetchJob *job)
{
  ImapSession *session = job->session;

  if (job->needs_meta)
    posthorn_store_fetch_async (session->user, session->selected,
                                posthorn_mailbox_view_get_uidvalidity (session->view),
                                (const guint32 *) job->uids->data, job->uids->len,
                                session->cancellable, fetch_meta_done, job);
  else
    fetch_next_message (job);
}

static void
seen_synced (ImapSession *session, gpointer user_data)
{
  FetchJob *job = user_data;

  if (imap_session_is_closed (session))
    {
      fetch_job_free (job);
      return;
    }
  fetch_start (job);
}

static void
seen_stored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FetchJob *job = user_data;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, NULL);

  if (imap_session_is_closed (job->session))
    {
      fetch_job_free (job);
      return;
    }
  /* the view learns the new flags; they go into the FETCH responses */
  imap_session_sync (job->session, !job->session->cmd->uid, job->seen_set, seen_synced, job);
}

GArray *
imap_fetch_resolve_or_reply (ImapSession *session, const ImapSeqSet *set)
{
  if (!session->cmd->uid && !set->saved
      && !(imap_seqset_has_star (set) && posthorn_mailbox_view_get_count (session->view) == 0))
    {
      g_autoptr(ImapRangeList) list = imap_seqset_resolve (set, posthorn_mailbox_view_get_count (session->view));
      if (list == NULL || imap_range_list_max (list) > posthorn_mailbox_view_get_count (session->view)
          || (imap_range_list_is_empty (list) && posthorn_mailbox_view_get_count (session->view) == 0
              && !imap_seqset_has_star (set)))
        {
          imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "Invalid message sequence number");
          return NULL;
        }
    }
  return imap_session_resolve_set (session, set, session->cmd->uid);
}

static void
fetch_begin (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;
  FetchJob *job;
  GArray *uids;

  uids = imap_fetch_resolve_or_reply (session, cmd->u.fetch.set);
  if (uids == NULL)
    return;
  if (cmd->u.fetch.has_changedsince)
    {
      /* RFC 7162 3.1.4.1: only messages with a greater MODSEQ */
      guint kept = 0;

      for (guint k = 0; k < uids->len; k++)
        {
          guint32 uid = g_array_index (uids, guint32, k);
          guint seq = posthorn_mailbox_view_lookup_uid (session->view, uid);

          if (posthorn_mailbox_view_get_modseq (session->view, seq) > cmd->u.fetch.changedsince)
            g_array_index (uids, guint32, kept++) = uid;
        }
      g_array_set_size (uids, kept);
    }

  job = g_new0 (FetchJob, 1);
  job->session = imap_session_ref (session);
  job->items = cmd->u.fetch.items;
  job->uids = uids;
  job->want_uid = cmd->uid;
  job->want_modseq = cmd->u.fetch.has_changedsince;
  g_queue_init (&job->segments);
  for (guint k = 0; k < job->items->len; k++)
    {
      const ImapFetchItem *item = g_ptr_array_index (job->items, k);
      if (item->type == IMAP_FETCH_UID)
        job->want_uid = TRUE;
      else if (item->type == IMAP_FETCH_FLAGS)
        job->want_flags = TRUE;
      else if (item->type == IMAP_FETCH_MODSEQ)
        job->want_modseq = TRUE;
      else
        job->needs_meta = TRUE;
      if (item_is_body (item))
        job->needs_bytes = TRUE;
      if (item_sets_seen (item))
        job->sets_seen = TRUE;
    }
  if (job->want_modseq)
    imap_session_enable_condstore (session, FALSE);
  if (job->sets_seen && !session->read_only)
    {
      job->seen_set = g_array_new (FALSE, FALSE, sizeof (guint32));
      for (guint k = 0; k < uids->len; k++)
        {
          guint32 uid = g_array_index (uids, guint32, k);
          guint seq = posthorn_mailbox_view_lookup_uid (session->view, uid);
          if ((posthorn_mailbox_view_get_flags (session->view, seq) & POSTHORN_MESSAGE_SEEN) == 0)
            g_array_append_val (job->seen_set, uid);
        }
      if (job->seen_set->len > 0)
        {
          posthorn_store_store_flags_async (session->user, session->selected,
                                            posthorn_mailbox_view_get_uidvalidity (session->view),
                                            (const guint32 *) job->seen_set->data,
                                            job->seen_set->len, POSTHORN_FLAGS_ADD,
                                            POSTHORN_MESSAGE_SEEN, NULL, 0, session->cancellable,
                                            seen_stored, job);
          return;
        }
    }
  fetch_start (job);
}

/* UID FETCH ... (CHANGEDSINCE m VANISHED): the UIDs of the set expunged
 * since m come first as VANISHED (EARLIER) (RFC 7162 3.2.6). */
static void
fetch_vanished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) vanished = posthorn_store_vanished_finish (result, &error);

  if (imap_session_is_closed (session) || session->view == NULL)
    {
      imap_session_unref (session);
      return;
    }
  if (vanished == NULL)
    imap_session_finish_error (session, error, FALSE);
  else
    {
      guint32 uidnext = posthorn_mailbox_view_get_uidnext (session->view);
      g_autoptr(ImapRangeList) set =
        imap_seqset_resolve (session->cmd->u.fetch.set, uidnext > 0 ? uidnext - 1 : 0);
      g_autoptr(GArray) shown = g_array_new (FALSE, FALSE, sizeof (guint32));
      g_autoptr(GString) out = g_string_new (NULL);

      for (guint k = 0; k < vanished->len; k++)
        {
          guint32 uid = g_array_index (vanished, guint32, k);
          if (set != NULL && imap_range_list_contains (set, uid))
            g_array_append_val (shown, uid);
        }
      imap_session_append_vanished (out, (const guint32 *) shown->data, shown->len, TRUE);
      imap_session_write_string (session, out);
      fetch_begin (session);
    }
  imap_session_unref (session);
}

void
imap_cmd_fetch (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;

  if (!cmd->u.fetch.vanished)
    {
      fetch_begin (session);
      return;
    }
  if (!session->qresync)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "QRESYNC is not enabled");
      return;
    }
  if (cmd->u.fetch.set->saved)
    {
      fetch_begin (session);
      return;
    }
  posthorn_store_vanished_async (session->user, session->selected,
                                 posthorn_mailbox_view_get_uidvalidity (session->view),
                                 cmd->u.fetch.changedsince, session->cancellable,
                                 fetch_vanished, imap_session_ref (session));
}
