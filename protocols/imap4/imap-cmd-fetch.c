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
#include "imap-fetch-job.h"

#include <string.h>

#define FETCH_CHUNK (256 * 1024)
#define FETCH_SMALL_MESSAGE (1024 * 1024)

static void fetch_next_message (ImapFetchJob *job);
static void pump (ImapFetchJob *job);

static void
segment_free (ImapFetchSegment *seg)
{
  if (seg->text != NULL)
    g_string_free (seg->text, TRUE);
  g_free (seg);
}

static void
fetch_job_free (ImapFetchJob *job)
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

/* ---- streaming ---- */

static void
pump_drained (ImapSession *session, gpointer user_data)
{
  pump (user_data);
}

static void
range_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapFetchJob *job = user_data;
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
pump (ImapFetchJob *job)
{
  ImapSession *session = job->session;

  if (imap_session_is_closed (session))
    {
      fetch_job_free (job);
      return;
    }
  for (;;)
    {
      ImapFetchSegment *seg;

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
  ImapFetchJob *job = user_data;
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
  imap_fetch_render_message (job);
  pump (job);
}

static void
fetch_finish (ImapFetchJob *job)
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
fetch_next_message (ImapFetchJob *job)
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

              if (!imap_fetch_item_range (job->m->info, job->m->size, item, &off, &len))
                continue;
              all_end = MAX (all_end, off + len);
              if (imap_fetch_item_needs_memory (item))
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
      imap_fetch_render_message (job);
      pump (job);
      return;
    }
  fetch_finish (job);
}

static void
fetch_meta_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapFetchJob *job = user_data;
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
fetch_start (ImapFetchJob *job)
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
  ImapFetchJob *job = user_data;

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
  ImapFetchJob *job = user_data;
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
  ImapFetchJob *job;
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

  job = g_new0 (ImapFetchJob, 1);
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
      if (imap_fetch_item_is_body (item))
        job->needs_bytes = TRUE;
      if (imap_fetch_item_sets_seen (item))
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
