/* RETR and TOP: the message streams from the store in pieces, dot-stuffed
 * on the way (pop3-stuff.c), driven by the connection's output queue. At
 * most one piece is read ahead, so memory stays bounded by the output
 * queue's high-water mark plus two pieces whatever the message size.
 *
 * Clients download in order (RETR 1, RETR 2, ...), so when a RETR ends the
 * first pieces of the next two messages are read at once: the next RETR
 * then starts without waiting for the store.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-session.h"

/* Bytes per posthorn_store_read_async(): RETR reads big pieces (the
 * SQLite store's chunk size); TOP usually wants only the start. */
#define POP3_RETR_PIECE (256 * 1024)
#define POP3_TOP_PIECE (64 * 1024)
/* Messages whose first piece is read ahead after a RETR. */
#define POP3_READ_AHEAD 2

struct _Pop3Retr {
  Pop3Session *session;
  guint msg;
  guint32 uid;
  guint64 size;
  gboolean top;
  guint64 lines;
  guint64 offset;          /* the next byte to read */
  Pop3Stuffer stuffer;
  GBytes *pending;         /* read but not yet written */
  gboolean busy;           /* a store call is in flight */
  gboolean started;        /* the +OK line is out */
  gboolean waiting;        /* for the drained callback */
};

/* The first piece of a message after the last RETR, read ahead. */
struct _Pop3Prefetch {
  Pop3Session *session;    /* a reference while the read is in flight */
  guint msg;
  guint32 uid;
  GBytes *bytes;           /* once read */
  GError *error;           /* once failed */
  gboolean busy;           /* the read is in flight */
  gboolean abandoned;      /* not wanted any more: the callback frees it */
  Pop3Retr *retr;          /* a RETR waiting for the read */
};

static void retr_pump (Pop3Retr *retr);
static void retr_failed (Pop3Retr *retr, const GError *error);

static void
prefetch_free (Pop3Prefetch *prefetch)
{
  g_clear_pointer (&prefetch->bytes, g_bytes_unref);
  g_clear_error (&prefetch->error);
  g_free (prefetch);
}

/* Forgets one read-ahead piece (freed now, or by its read's callback). */
static void
prefetch_drop_one (Pop3Prefetch *prefetch)
{
  if (prefetch->busy)
    prefetch->abandoned = TRUE;
  else
    prefetch_free (prefetch);
}

void
pop3_prefetch_drop (Pop3Session *session)
{
  Pop3Prefetch *prefetch;

  while ((prefetch = g_queue_pop_head (&session->prefetches)) != NULL)
    prefetch_drop_one (prefetch);
}

/* Hands a prefetched first piece to @retr as if it had read it. */
static void
prefetch_give (Pop3Prefetch *prefetch, Pop3Retr *retr)
{
  if (prefetch->error != NULL)
    {
      retr_failed (retr, prefetch->error);
      return;
    }
  if (g_bytes_get_size (prefetch->bytes) == 0)
    retr->size = 0;
  else
    {
      retr->offset = g_bytes_get_size (prefetch->bytes);
      retr->pending = g_steal_pointer (&prefetch->bytes);
    }
  retr_pump (retr);
}

static void
prefetch_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Prefetch *prefetch = user_data;
  Pop3Session *session = prefetch->session;
  Pop3Retr *retr = prefetch->retr;

  prefetch->busy = FALSE;
  prefetch->bytes = posthorn_store_read_finish (result, &prefetch->error);
  if (retr != NULL)
    {
      /* A RETR of this message waits for it (it left the queue). */
      retr->busy = FALSE;
      if (session->closed)
        {
          g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                         "connection closed");
          retr_failed (retr, error);
        }
      else
        prefetch_give (prefetch, retr);
      prefetch_free (prefetch);
    }
  else if (prefetch->abandoned)
    prefetch_free (prefetch);
  else if (session->closed)
    {
      g_queue_remove (&session->prefetches, prefetch);
      prefetch_free (prefetch);
    }
  pop3_session_unref (session);
}

/* Reads the first pieces of the POP3_READ_AHEAD messages after @msg that
 * are not read yet. */
static void
prefetch_after (Pop3Session *session, guint msg)
{
  for (guint next = msg + 1; next <= msg + POP3_READ_AHEAD && next <= session->n_messages;
       next++)
    {
      Pop3Prefetch *prefetch;
      gboolean have = FALSE;

      if (session->closed || (session->msg_flags[next - 1] & POP3_MSG_DELETED))
        continue;
      for (GList *l = session->prefetches.head; l != NULL; l = l->next)
        have |= ((Pop3Prefetch *) l->data)->msg == next;
      if (have)
        continue;
      prefetch = g_new0 (Pop3Prefetch, 1);
      prefetch->session = pop3_session_ref (session);
      prefetch->msg = next;
      prefetch->uid = session->uids[next - 1];
      prefetch->busy = TRUE;
      g_queue_push_tail (&session->prefetches, prefetch);
      posthorn_store_read_async (session->store_user, "INBOX", session->uidvalidity,
                                 prefetch->uid, 0,
                                 (gsize) MIN (session->sizes[next - 1],
                                              (guint64) POP3_RETR_PIECE),
                                 session->cancellable, prefetch_done, prefetch);
    }
}

/* Takes the read-ahead piece of @msg out of the queue, dropping the ones
 * before it (skipped messages); NULL if there is none. */
static Pop3Prefetch *
prefetch_take (Pop3Session *session, guint msg)
{
  Pop3Prefetch *prefetch;

  while ((prefetch = g_queue_peek_head (&session->prefetches)) != NULL)
    {
      g_queue_pop_head (&session->prefetches);
      if (prefetch->msg == msg)
        return prefetch;
      prefetch_drop_one (prefetch);
    }
  return NULL;
}

void
pop3_retr_free (Pop3Retr *retr)
{
  g_clear_pointer (&retr->pending, g_bytes_unref);
  g_free (retr);
}

static void
retr_end (Pop3Retr *retr)
{
  Pop3Session *session = retr->session;

  g_assert (session->retr == retr);
  session->retr = NULL;
  pop3_retr_free (retr);
  pop3_session_end_async (session);
}

static void
retr_start_reply (Pop3Retr *retr)
{
  if (retr->started)
    return;
  retr->started = TRUE;
  if (retr->top)
    pop3_session_reply (retr->session, "+OK Top of message %u follows", retr->msg);
  else
    pop3_session_reply (retr->session, "+OK %" G_GUINT64_FORMAT " octets", retr->size);
}

static void
retr_write (Pop3Retr *retr, GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  GByteArray *out;
  g_autoptr(GBytes) stuffed = NULL;

  retr_start_reply (retr);
  /* Most pieces have no line starting with '.': send them as they are. */
  if (pop3_stuffer_pass_through (&retr->stuffer, data, length))
    {
      posthorn_connection_write_bytes (retr->session->conn, bytes);
      return;
    }
  out = g_byte_array_sized_new ((guint) (length + length / 32 + 16));
  pop3_stuffer_feed (&retr->stuffer, data, length, out);
  stuffed = g_byte_array_free_to_bytes (out);
  posthorn_connection_write_bytes (retr->session->conn, stuffed);
}

static void retr_read_done (GObject *source, GAsyncResult *result, gpointer user_data);

static void
retr_pump (Pop3Retr *retr)
{
  Pop3Session *session = retr->session;

  if (retr->pending != NULL)
    {
      if (posthorn_connection_output_is_full (session->conn))
        {
          retr->waiting = TRUE;
          posthorn_connection_notify_drained (session->conn);
          return;
        }
      retr_write (retr, retr->pending);
      g_clear_pointer (&retr->pending, g_bytes_unref);
    }
  if (retr->busy)
    return;
  if (retr->stuffer.done || retr->offset >= retr->size)
    {
      g_autoptr(GByteArray) end = g_byte_array_sized_new (8);

      retr_start_reply (retr);
      pop3_stuffer_finish (&retr->stuffer, end);
      posthorn_connection_write (session->conn, end->data, end->len);
      posthorn_connection_count (session->conn, retr->top ? "top" : "retr", 1);
      if (!retr->top)
        prefetch_after (session, retr->msg);
      retr_end (retr);
      return;
    }
  retr->busy = TRUE;
  posthorn_store_read_async (session->store_user, "INBOX", session->uidvalidity, retr->uid,
                             retr->offset,
                             (gsize) MIN (retr->size - retr->offset,
                                          (guint64) (retr->top ? POP3_TOP_PIECE
                                                               : POP3_RETR_PIECE)),
                             session->cancellable, retr_read_done, retr);
}

static void
retr_failed (Pop3Retr *retr, const GError *error)
{
  Pop3Session *session = retr->session;

  if (session->closed)
    ;
  else if (retr->started)
    {
      /* The multi-line reply cannot say -ERR any more: drop the
       * connection (nothing is deleted, as for any drop). */
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                               "reading message UID %u failed mid-way: %s", retr->uid,
                               error->message);
      posthorn_connection_abort (session->conn);
    }
  else if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
    pop3_session_reply (session, "-ERR Message %u was removed by another session", retr->msg);
  else
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                               "reading message UID %u failed: %s", retr->uid, error->message);
      pop3_session_reply (session, "-ERR [SYS/TEMP] Cannot read message %u", retr->msg);
    }
  retr_end (retr);
}

static void
retr_read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Retr *retr = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *bytes = posthorn_store_read_finish (result, &error);

  retr->busy = FALSE;
  if (bytes == NULL || retr->session->closed)
    {
      g_clear_pointer (&bytes, g_bytes_unref);
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "connection closed");
      retr_failed (retr, error);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      /* The store's copy ends early; end the reply where it ends. */
      retr->size = retr->offset;
      g_bytes_unref (bytes);
    }
  else
    {
      retr->offset += g_bytes_get_size (bytes);
      retr->pending = bytes;
    }
  retr_pump (retr);
}

static void
retr_fetch_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Retr *retr = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreFetch) fetch = posthorn_store_fetch_finish (result, &error);
  const PosthornStoreMessageMeta *meta;

  retr->busy = FALSE;
  if (fetch == NULL || retr->session->closed)
    {
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "connection closed");
      retr_failed (retr, error);
      return;
    }
  if (posthorn_store_fetch_get_count (fetch) == 0)
    {
      error = g_error_new_literal (POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "expunged");
      retr_failed (retr, error);
      return;
    }
  meta = posthorn_store_fetch_get (fetch, 0);
  pop3_stuffer_init_top (&retr->stuffer, posthorn_message_info_get_header_size (meta->info),
                         retr->lines);
  retr_pump (retr);
}

void
pop3_retr_start (Pop3Session *session, Pop3Command *cmd)
{
  guint msg = pop3_session_check_msg (session, cmd->msg);
  Pop3Retr *retr;

  if (msg == 0)
    return;
  retr = g_new0 (Pop3Retr, 1);
  retr->session = session;
  retr->msg = msg;
  retr->uid = session->uids[msg - 1];
  retr->size = session->sizes[msg - 1];
  retr->top = cmd->kind == POP3_CMD_TOP;
  retr->lines = cmd->lines;
  session->retr = retr;
  pop3_session_begin_async (session);
  if (!retr->top)
    {
      Pop3Prefetch *prefetch = prefetch_take (session, msg);

      pop3_stuffer_init (&retr->stuffer);
      if (prefetch == NULL)
        retr_pump (retr);
      else if (!prefetch->busy)
        {
          prefetch_give (prefetch, retr);
          prefetch_free (prefetch);
        }
      else
        {
          retr->busy = TRUE;  /* prefetch_done continues */
          prefetch->retr = retr;
        }
      return;
    }
  retr->busy = TRUE;
  posthorn_store_fetch_async (session->store_user, "INBOX", session->uidvalidity,
                              &retr->uid, 1, session->cancellable, retr_fetch_done, retr);
}

void
pop3_retr_continue (Pop3Session *session)
{
  Pop3Retr *retr = session->retr;

  if (!retr->waiting)
    return;
  retr->waiting = FALSE;
  retr_pump (retr);
}

void
pop3_retr_abandon (Pop3Session *session)
{
  Pop3Retr *retr = session->retr;

  /* A store call in flight ends the stream from its callback. */
  if (retr != NULL && !retr->busy)
    retr_end (retr);
}
