/* RETR and TOP: the message streams from the store in pieces, dot-stuffed
 * on the way (pop3-stuff.c), driven by the connection's output queue. At
 * most one piece is read ahead, so memory stays bounded by the output
 * queue's high-water mark plus two pieces whatever the message size.
 *
 * RETR pieces are made whole on a worker thread (pop3_piece_run): the
 * bytes are read from the message's store stream straight into the buffer
 * that goes out, with the "+OK" line in front of the first piece and the
 * terminating "." line after the last, and stuffed there if a line starts
 * with '.'. The loop thread only queues that buffer, so a message of up
 * to one piece leaves in one send(), and neither the copying nor the scan
 * for dots runs on the loop.
 *
 * Clients download in order (RETR 1, RETR 2, ...), so when a RETR ends the
 * first pieces of the next two messages are made at once: the next RETR
 * then starts without waiting for the store.
 *
 * TOP reads with posthorn_store_read_async() and stuffs on the loop
 * thread: it needs the header size from the message info and usually
 * sends a few lines only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-session.h"

#include <string.h>

/* Message bytes per piece: RETR reads big pieces (the SQLite store's
 * chunk size); TOP usually wants only the start. */
#define POP3_RETR_PIECE (256 * 1024)
#define POP3_TOP_PIECE (64 * 1024)
/* Messages whose first piece is read ahead after a RETR. */
#define POP3_READ_AHEAD 2
/* Room for "+OK <size> octets\r\n". */
#define POP3_RETR_HEADER_MAX 48
/* Room for the end: CRLF (a last line without one) and ".\r\n". */
#define POP3_RETR_END_MAX 5

/* ---- RETR pieces, made on a worker thread ---- */

typedef struct {
  GInputStream *stream;    /* the message, read sequentially */
  guint64 size;            /* message size in the snapshot */
  guint64 offset;          /* where @stream is */
  gsize length;            /* message bytes to read */
  gboolean first;          /* put the "+OK" line in front */
  gboolean at_line_start;  /* the byte at @offset starts a line */
} Pop3PieceJob;

typedef struct {
  GBytes *bytes;           /* what goes on the wire */
  gsize consumed;          /* message bytes read */
  gboolean end;            /* @bytes ends with the terminating line */
  gboolean at_line_start;  /* after @consumed */
} Pop3Piece;

static void
piece_job_free (gpointer p)
{
  Pop3PieceJob *job = p;

  g_object_unref (job->stream);
  g_free (job);
}

static void
piece_free (gpointer p)
{
  Pop3Piece *piece = p;

  if (piece == NULL)
    return;
  g_clear_pointer (&piece->bytes, g_bytes_unref);
  g_free (piece);
}

static gpointer
piece_run (gpointer data, GCancellable *cancellable, GError **error)
{
  Pop3PieceJob *job = data;
  gsize header = 0;
  gsize got = 0;
  guint8 *buffer;
  const guint8 *body;
  Pop3Stuffer stuffer;
  Pop3Piece *piece;

  buffer = g_malloc (POP3_RETR_HEADER_MAX + job->length + POP3_RETR_END_MAX);
  if (job->first)
    header = (gsize) g_snprintf ((char *) buffer, POP3_RETR_HEADER_MAX,
                                 "+OK %" G_GUINT64_FORMAT " octets\r\n", job->size);
  body = buffer + header;
  if (job->length > 0 &&
      !g_input_stream_read_all (job->stream, buffer + header, job->length, &got, cancellable,
                                error))
    {
      g_free (buffer);
      return NULL;
    }

  piece = g_new0 (Pop3Piece, 1);
  piece->consumed = got;
  /* A store copy that ends early ends the reply where it ends. */
  piece->end = job->offset + got >= job->size || got < job->length;
  pop3_stuffer_init (&stuffer);
  stuffer.at_line_start = job->at_line_start;
  if (got == 0 || pop3_stuffer_pass_through (&stuffer, body, got))
    {
      /* No line starts with '.': the buffer goes out as it is. */
      gsize used = header + got;

      if (piece->end)
        {
          if (!stuffer.at_line_start)
            {
              memcpy (buffer + used, "\r\n", 2);
              used += 2;
            }
          memcpy (buffer + used, ".\r\n", 3);
          used += 3;
        }
      piece->bytes = g_bytes_new_take (buffer, used);
    }
  else
    {
      GByteArray *out = g_byte_array_sized_new ((guint) (header + got + got / 32 + 64));

      g_byte_array_append (out, buffer, (guint) header);
      pop3_stuffer_feed (&stuffer, body, got, out);
      if (piece->end)
        pop3_stuffer_finish (&stuffer, out);
      g_free (buffer);
      piece->bytes = g_byte_array_free_to_bytes (out);
    }
  piece->at_line_start = stuffer.at_line_start;
  return piece;
}

/* Starts making the piece of @stream at @offset on a worker. */
static void
piece_start (Pop3Session *session, GInputStream *stream, guint64 size, guint64 offset,
             gboolean at_line_start, GAsyncReadyCallback callback, gpointer user_data)
{
  Pop3PieceJob *job = g_new0 (Pop3PieceJob, 1);

  job->stream = g_object_ref (stream);
  job->size = size;
  job->offset = offset;
  job->length = (gsize) MIN (size - MIN (offset, size), (guint64) POP3_RETR_PIECE);
  job->first = offset == 0;
  job->at_line_start = at_line_start;
  posthorn_worker_run (piece_run, job, piece_job_free, piece_free, session->cancellable,
                       callback, user_data);
}

/* ---- RETR/TOP state ---- */

struct _Pop3Retr {
  Pop3Session *session;
  guint msg;
  guint32 uid;
  guint64 size;
  gboolean top;
  guint64 lines;
  guint64 offset;          /* the next message byte to read */
  GInputStream *stream;    /* RETR: the message */
  gboolean at_line_start;  /* RETR: the byte at @offset starts a line */
  Pop3Stuffer stuffer;     /* TOP */
  GBytes *pending;         /* made or read, not yet written */
  gboolean pending_end;    /* RETR: @pending ends the reply */
  gboolean busy;           /* a store call or worker job is in flight */
  gboolean started;        /* the +OK line is out */
  gboolean waiting;        /* for the drained callback */
};

/* The first piece of a message after the last RETR, made ahead. */
struct _Pop3Prefetch {
  Pop3Session *session;    /* a reference while the job is in flight */
  guint msg;
  GInputStream *stream;    /* the message, positioned after the piece */
  Pop3Piece *piece;        /* once made */
  GError *error;           /* once failed */
  gboolean busy;           /* the job is in flight */
  gboolean abandoned;      /* not wanted any more: the callback frees it */
  Pop3Retr *retr;          /* a RETR waiting for the job */
};

static void retr_pump (Pop3Retr *retr);
static void retr_failed (Pop3Retr *retr, const GError *error);

static void
prefetch_free (Pop3Prefetch *prefetch)
{
  piece_free (prefetch->piece);
  g_clear_object (&prefetch->stream);
  g_clear_error (&prefetch->error);
  g_free (prefetch);
}

/* Forgets one read-ahead piece (freed now, or by its job's callback). */
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

/* Hands a made piece to @retr as if it had made it. */
static void
retr_take_piece (Pop3Retr *retr, Pop3Piece *piece)
{
  retr->offset += piece->consumed;
  retr->at_line_start = piece->at_line_start;
  retr->pending = g_steal_pointer (&piece->bytes);
  retr->pending_end = piece->end;
  retr_pump (retr);
}

/* Hands a prefetched first piece (and the stream after it) to @retr. */
static void
prefetch_give (Pop3Prefetch *prefetch, Pop3Retr *retr)
{
  if (prefetch->error != NULL)
    {
      retr_failed (retr, prefetch->error);
      return;
    }
  g_set_object (&retr->stream, prefetch->stream);
  retr_take_piece (retr, prefetch->piece);
}

static void
prefetch_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Prefetch *prefetch = user_data;
  Pop3Session *session = prefetch->session;
  Pop3Retr *retr = prefetch->retr;

  prefetch->busy = FALSE;
  prefetch->piece = posthorn_worker_finish (result, &prefetch->error);
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

/* Makes the first pieces of the POP3_READ_AHEAD messages after @msg that
 * are not made yet. */
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
      prefetch->stream = posthorn_store_open_stream (session->store_user, "INBOX",
                                                     session->uidvalidity,
                                                     session->uids[next - 1]);
      prefetch->busy = TRUE;
      g_queue_push_tail (&session->prefetches, prefetch);
      piece_start (session, prefetch->stream, session->sizes[next - 1], 0, TRUE,
                   prefetch_done, prefetch);
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
  g_clear_object (&retr->stream);
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
top_start_reply (Pop3Retr *retr)
{
  if (retr->started)
    return;
  retr->started = TRUE;
  pop3_session_reply (retr->session, "+OK Top of message %u follows", retr->msg);
}

/* TOP: stuffs a piece read by posthorn_store_read_async() on the loop. */
static void
top_write (Pop3Retr *retr, GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  GByteArray *out = g_byte_array_sized_new ((guint) (length + length / 32 + 16));
  g_autoptr(GBytes) stuffed = NULL;

  top_start_reply (retr);
  pop3_stuffer_feed (&retr->stuffer, data, length, out);
  stuffed = g_byte_array_free_to_bytes (out);
  posthorn_connection_write_bytes (retr->session->conn, stuffed);
}

static void retr_read_done (GObject *source, GAsyncResult *result, gpointer user_data);
static void retr_piece_done (GObject *source, GAsyncResult *result, gpointer user_data);

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
      if (retr->top)
        top_write (retr, retr->pending);
      else
        {
          retr->started = TRUE;
          posthorn_connection_write_bytes (session->conn, retr->pending);
        }
      g_clear_pointer (&retr->pending, g_bytes_unref);
      if (!retr->top && retr->pending_end)
        {
          posthorn_connection_count (session->conn, "retr", 1);
          prefetch_after (session, retr->msg);
          retr_end (retr);
          return;
        }
    }
  if (retr->busy)
    return;
  if (!retr->top)
    {
      retr->busy = TRUE;
      if (retr->stream == NULL)
        retr->stream = posthorn_store_open_stream (session->store_user, "INBOX",
                                                   session->uidvalidity, retr->uid);
      piece_start (session, retr->stream, retr->size, retr->offset, retr->at_line_start,
                   retr_piece_done, retr);
      return;
    }
  if (retr->stuffer.done || retr->offset >= retr->size)
    {
      g_autoptr(GByteArray) end = g_byte_array_sized_new (8);

      top_start_reply (retr);
      pop3_stuffer_finish (&retr->stuffer, end);
      posthorn_connection_write (session->conn, end->data, end->len);
      posthorn_connection_count (session->conn, "top", 1);
      retr_end (retr);
      return;
    }
  retr->busy = TRUE;
  posthorn_store_read_async (session->store_user, "INBOX", session->uidvalidity, retr->uid,
                             retr->offset,
                             (gsize) MIN (retr->size - retr->offset, (guint64) POP3_TOP_PIECE),
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
retr_piece_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Retr *retr = user_data;
  g_autoptr(GError) error = NULL;
  Pop3Piece *piece = posthorn_worker_finish (result, &error);

  retr->busy = FALSE;
  if (piece == NULL || retr->session->closed)
    {
      piece_free (piece);
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, "connection closed");
      retr_failed (retr, error);
      return;
    }
  retr_take_piece (retr, piece);
  piece_free (piece);
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
  retr->at_line_start = TRUE;
  session->retr = retr;
  pop3_session_begin_async (session);
  if (!retr->top)
    {
      Pop3Prefetch *prefetch = prefetch_take (session, msg);

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

  /* A store call or job in flight ends the stream from its callback. */
  if (retr != NULL && !retr->busy)
    retr_end (retr);
}
