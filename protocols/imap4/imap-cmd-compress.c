/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COMPRESS=DEFLATE (RFC 4978): after the tagged OK, everything the server
 * sends goes through a raw deflate stream (flushed with Z_SYNC_FLUSH at
 * the end of every write of the session's one writer), and everything the
 * client sends through raw inflate, as the connection's input filter
 * (after TLS, before line splitting).
 *
 * Memory per compressed session: deflate with a 4 KiB window and
 * memLevel 5 (~38 KiB; a smaller window only costs ratio, the client's
 * inflate reads it either way) and inflate with the 32 KiB window the
 * client's deflate may use (~7 KiB state plus the window, allocated on
 * the first data): about 80 KiB, kept for the session's life. */
#include "imap-session.h"

#include <zlib.h>

#define IMAP_DEFLATE_WINDOW_BITS 12
#define IMAP_DEFLATE_MEM_LEVEL 5
#define IMAP_ZLIB_CHUNK 16384

static gboolean
compress_inflate_input (gpointer filter_data, const guint8 *data, gsize length,
                        GByteArray *out, GError **error)
{
  z_stream *z = filter_data;
  guint8 buf[IMAP_ZLIB_CHUNK];

  z->next_in = (Bytef *) data;
  z->avail_in = (uInt) length;
  for (;;)
    {
      int r;

      z->next_out = buf;
      z->avail_out = sizeof buf;
      r = inflate (z, Z_NO_FLUSH);
      if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "COMPRESS: corrupt deflate data (%s)", z->msg != NULL ? z->msg : "?");
          return FALSE;
        }
      g_byte_array_append (out, buf, (guint) (sizeof buf - z->avail_out));
      if (r == Z_STREAM_END && z->avail_in > 0)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "COMPRESS: data after the end of the deflate stream");
          return FALSE;
        }
      if (z->avail_out != 0 || r == Z_STREAM_END)
        return TRUE;
    }
}

static void
compress_inflate_free (gpointer filter_data)
{
  z_stream *z = filter_data;

  inflateEnd (z);
  g_free (z);
}

static const PosthornInputFilter compress_input_filter = {
  .struct_size = sizeof (PosthornInputFilter),
  .input = compress_inflate_input,
  .free = compress_inflate_free,
};

void
imap_compress_write (ImapSession *session, const void *data, gsize length)
{
  z_stream *z = session->deflate;
  guint8 buf[IMAP_ZLIB_CHUNK];

  z->next_in = (Bytef *) data;
  z->avail_in = (uInt) length;
  do
    {
      z->next_out = buf;
      z->avail_out = sizeof buf;
      deflate (z, Z_SYNC_FLUSH);
      posthorn_connection_write (session->conn, buf, sizeof buf - z->avail_out);
    }
  while (z->avail_out == 0);
}

void
imap_compress_free (ImapSession *session)
{
  if (session->deflate == NULL)
    return;
  deflateEnd (session->deflate);
  g_clear_pointer (&session->deflate, g_free);
}

void
imap_cmd_compress (ImapSession *session)
{
  z_stream *in;
  z_stream *out;

  if (session->deflate != NULL)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "COMPRESSIONACTIVE",
                           "DEFLATE active via COMPRESS");
      return;
    }
  if (g_strcmp0 (session->cmd->u.compress.mechanism, "DEFLATE") != 0)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL,
                           "Unknown compression mechanism");
      return;
    }
  in = g_new0 (z_stream, 1);
  out = g_new0 (z_stream, 1);
  if (inflateInit2 (in, -15) != Z_OK
      || deflateInit2 (out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -IMAP_DEFLATE_WINDOW_BITS,
                       IMAP_DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
    {
      inflateEnd (in);
      g_free (in);
      g_free (out);
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "SERVERBUG", "Cannot start compression");
      return;
    }
  /* the tagged OK leaves uncompressed; input resumes from the main loop,
   * after the filter is in place */
  imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "DEFLATE active");
  if (imap_session_is_closed (session))
    {
      inflateEnd (in);
      g_free (in);
      deflateEnd (out);
      g_free (out);
      return;
    }
  session->deflate = out;
  posthorn_connection_set_input_filter (session->conn, &compress_input_filter, in);
}
