/* PosthornMessage and PosthornMessageWriter.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "mime-private.h"

struct _PosthornMessage {
  gatomicrefcount ref;
  GBytes *bytes;        /* in memory, or NULL */
  int fd;               /* file-backed, or -1 */
  guint64 size;
  GMutex map_lock;
  GMappedFile *map;     /* lazily created for get_bytes on files */
};

#define WRITER_FILE_BUFFER (64 * 1024)

struct _PosthornMessageWriter {
  char *tmp_dir;
  gsize memory_limit;
  GByteArray *buf;      /* all data (memory mode) or pending data (file mode) */
  int fd;               /* -1 until spilled */
  guint64 size;         /* canonical bytes accepted so far */
  gboolean prev_cr;     /* the last byte accepted was CR */
  gboolean finished;
};

static PosthornMessage *
message_alloc (void)
{
  PosthornMessage *msg = g_new0 (PosthornMessage, 1);
  g_atomic_ref_count_init (&msg->ref);
  g_mutex_init (&msg->map_lock);
  msg->fd = -1;
  return msg;
}

gsize
ph_mime_count_bare_lf (const guint8 *data, gsize length, gboolean prev_cr)
{
  gsize count = 0;
  const guint8 *p = data, *end = data + length;

  while (p < end) {
    const guint8 *lf = memchr (p, '\n', end - p);
    if (lf == NULL)
      break;
    if (lf == data ? !prev_cr : lf[-1] != '\r')
      count++;
    p = lf + 1;
  }
  return count;
}

/* Appends @data to @out with bare LFs turned into CR LF. */
void
ph_mime_canonicalize_append (GByteArray *out, const guint8 *data, gsize length,
                             gboolean *prev_cr)
{
  const guint8 *p = data, *end = data + length;
  gboolean cr = *prev_cr;

  while (p < end) {
    const guint8 *lf = memchr (p, '\n', end - p);
    if (lf == NULL) {
      g_byte_array_append (out, p, end - p);
      cr = end[-1] == '\r';
      break;
    }
    gboolean had_cr = lf > p ? lf[-1] == '\r' : cr;
    g_byte_array_append (out, p, lf - p);
    if (!had_cr)
      g_byte_array_append (out, (const guint8 *) "\r", 1);
    g_byte_array_append (out, (const guint8 *) "\n", 1);
    cr = FALSE;
    p = lf + 1;
  }
  *prev_cr = cr;
}

PosthornMessage *
posthorn_message_new_from_bytes (GBytes *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  PosthornMessage *msg = message_alloc ();

  if (length == 0) {
    /* GBytes may hold NULL for nothing: readers then do arithmetic on a
     * null pointer (UBSan, found by fuzzing) */
    msg->bytes = g_bytes_new_static ("", 0);
  } else if (ph_mime_count_bare_lf (data, length, FALSE) == 0) {
    msg->bytes = g_bytes_ref (bytes);
  } else {
    GByteArray *out = g_byte_array_sized_new (length + length / 16 + 16);
    gboolean cr = FALSE;
    ph_mime_canonicalize_append (out, data, length, &cr);
    msg->bytes = g_byte_array_free_to_bytes (out);
  }
  msg->size = g_bytes_get_size (msg->bytes);
  return msg;
}

PosthornMessage *
posthorn_message_new_from_data (const void *data, gsize length)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, length);
  return posthorn_message_new_from_bytes (bytes);
}

static PosthornMessage *
message_new_from_fd (int fd, GError **error)
{
  struct stat st;

  if (fstat (fd, &st) < 0) {
    int saved = errno;
    close (fd);
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                 "fstat of message file failed: %s", g_strerror (saved));
    return NULL;
  }
  PosthornMessage *msg = message_alloc ();
  msg->fd = fd;
  msg->size = (guint64) st.st_size;
  return msg;
}

PosthornMessage *
posthorn_message_new_from_file (const char *path, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0) {
    int saved = errno;
    g_set_error (error, POSTHORN_ERROR,
                 saved == ENOENT ? POSTHORN_ERROR_NOT_FOUND : POSTHORN_ERROR_FAILED,
                 "cannot open message file %s: %s", path, g_strerror (saved));
    return NULL;
  }
  return message_new_from_fd (fd, error);
}

PosthornMessage *
posthorn_message_ref (PosthornMessage *msg)
{
  g_return_val_if_fail (msg != NULL, NULL);
  g_atomic_ref_count_inc (&msg->ref);
  return msg;
}

void
posthorn_message_unref (PosthornMessage *msg)
{
  if (msg == NULL || !g_atomic_ref_count_dec (&msg->ref))
    return;
  g_clear_pointer (&msg->bytes, g_bytes_unref);
  g_clear_pointer (&msg->map, g_mapped_file_unref);
  if (msg->fd >= 0)
    close (msg->fd);
  g_mutex_clear (&msg->map_lock);
  g_free (msg);
}

guint64
posthorn_message_get_size (PosthornMessage *msg)
{
  return msg->size;
}

gboolean
posthorn_message_is_file_backed (PosthornMessage *msg)
{
  return msg->fd >= 0;
}

gssize
posthorn_message_read (PosthornMessage *msg, guint64 offset, void *buffer,
                       gsize length, GError **error)
{
  if (offset >= msg->size || length == 0)
    return 0;
  length = MIN ((guint64) length, msg->size - offset);
  length = MIN (length, (gsize) G_MAXSSIZE);

  if (msg->bytes != NULL) {
    memcpy (buffer, (const guint8 *) g_bytes_get_data (msg->bytes, NULL) + offset, length);
    return (gssize) length;
  }

  gsize done = 0;
  while (done < length) {
    ssize_t n = pread (msg->fd, (guint8 *) buffer + done, length - done,
                       (off_t) (offset + done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "reading message failed: %s", g_strerror (errno));
      return -1;
    }
    if (n == 0)
      break;
    done += (gsize) n;
  }
  return (gssize) done;
}

GBytes *
posthorn_message_get_bytes (PosthornMessage *msg, GError **error)
{
  if (msg->bytes != NULL)
    return g_bytes_ref (msg->bytes);
  if (msg->size == 0)
    return g_bytes_new (NULL, 0);

  g_mutex_lock (&msg->map_lock);
  if (msg->map == NULL) {
    GError *local = NULL;
    msg->map = g_mapped_file_new_from_fd (msg->fd, FALSE, &local);
    if (msg->map == NULL) {
      g_mutex_unlock (&msg->map_lock);
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "mapping message failed: %s", local->message);
      g_error_free (local);
      return NULL;
    }
  }
  GBytes *bytes = g_mapped_file_get_bytes (msg->map);
  g_mutex_unlock (&msg->map_lock);
  return bytes;
}

gboolean
posthorn_message_write_to_fd (PosthornMessage *msg, int fd, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (WRITER_FILE_BUFFER);
  guint64 offset = 0;

  while (offset < msg->size) {
    gssize n = posthorn_message_read (msg, offset, buffer, WRITER_FILE_BUFFER, error);
    if (n < 0)
      return FALSE;
    if (n == 0)
      break;
    if (!ph_mime_write_all (fd, buffer, (gsize) n, error))
      return FALSE;
    offset += (guint64) n;
  }
  return TRUE;
}

/* ---- a GInputStream over a message, with its own position ---- */

#define PH_TYPE_MESSAGE_STREAM (ph_message_stream_get_type ())
G_DECLARE_FINAL_TYPE (PhMessageStream, ph_message_stream, PH, MESSAGE_STREAM, GInputStream)

struct _PhMessageStream {
  GInputStream parent;
  PosthornMessage *msg;
  guint64 pos;
};

G_DEFINE_TYPE (PhMessageStream, ph_message_stream, G_TYPE_INPUT_STREAM)

static gssize
ph_message_stream_read (GInputStream *stream, void *buffer, gsize count,
                        GCancellable *cancellable, GError **error)
{
  PhMessageStream *self = PH_MESSAGE_STREAM (stream);
  GError *local = NULL;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;
  gssize n = posthorn_message_read (self->msg, self->pos, buffer, count, &local);
  if (n < 0) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, local->message);
    g_error_free (local);
    return -1;
  }
  self->pos += (guint64) n;
  return n;
}

static gssize
ph_message_stream_skip (GInputStream *stream, gsize count,
                        GCancellable *cancellable, GError **error)
{
  PhMessageStream *self = PH_MESSAGE_STREAM (stream);
  guint64 left = self->msg->size > self->pos ? self->msg->size - self->pos : 0;
  gsize n = (gsize) MIN ((guint64) count, left);

  self->pos += n;
  return (gssize) n;
}

static gboolean
ph_message_stream_close (GInputStream *stream, GCancellable *cancellable,
                         GError **error)
{
  return TRUE;
}

static void
ph_message_stream_finalize (GObject *object)
{
  PhMessageStream *self = PH_MESSAGE_STREAM (object);
  g_clear_pointer (&self->msg, posthorn_message_unref);
  G_OBJECT_CLASS (ph_message_stream_parent_class)->finalize (object);
}

static void
ph_message_stream_class_init (PhMessageStreamClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = ph_message_stream_finalize;
  stream_class->read_fn = ph_message_stream_read;
  stream_class->skip = ph_message_stream_skip;
  stream_class->close_fn = ph_message_stream_close;
}

static void
ph_message_stream_init (PhMessageStream *self)
{
}

GInputStream *
posthorn_message_open_stream (PosthornMessage *msg)
{
  if (msg->bytes != NULL)
    return g_memory_input_stream_new_from_bytes (msg->bytes);

  PhMessageStream *self = g_object_new (PH_TYPE_MESSAGE_STREAM, NULL);
  self->msg = posthorn_message_ref (msg);
  return G_INPUT_STREAM (self);
}

/* ---- the writer ---- */

gboolean
ph_mime_write_all (int fd, const guint8 *data, gsize length, GError **error)
{
  while (length > 0) {
    ssize_t n = write (fd, data, length);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                   "writing message file failed: %s", g_strerror (errno));
      return FALSE;
    }
    data += n;
    length -= (gsize) n;
  }
  return TRUE;
}

static char *
writer_default_tmp_dir (void)
{
  const char *state = posthorn_core_get_state_dir ();

  if (state == NULL)
    return g_strdup (g_get_tmp_dir ());
  return g_build_filename (state, "tmp", NULL);
}

static int
writer_open_tmp (const char *dir, GError **error)
{
  int fd;

  if (g_mkdir_with_parents (dir, 0700) < 0) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                 "cannot create temporary folder %s: %s", dir, g_strerror (errno));
    return -1;
  }
#ifdef O_TMPFILE
  fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
#endif
  g_autofree char *path = g_build_filename (dir, "posthorn-msg-XXXXXX", NULL);
  fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED,
                 "cannot create a temporary file in %s: %s", dir, g_strerror (errno));
    return -1;
  }
  g_unlink (path);
  return fd;
}

PosthornMessageWriter *
posthorn_message_writer_new (const char *tmp_dir, gsize memory_limit)
{
  PosthornMessageWriter *writer = g_new0 (PosthornMessageWriter, 1);

  writer->tmp_dir = tmp_dir != NULL ? g_strdup (tmp_dir) : writer_default_tmp_dir ();
  writer->memory_limit = memory_limit > 0 ? memory_limit : POSTHORN_MESSAGE_MEMORY_LIMIT;
  writer->buf = g_byte_array_new ();
  writer->fd = -1;
  return writer;
}

static gboolean
writer_flush (PosthornMessageWriter *writer, GError **error)
{
  if (!ph_mime_write_all (writer->fd, writer->buf->data, writer->buf->len, error))
    return FALSE;
  g_byte_array_set_size (writer->buf, 0);
  return TRUE;
}

gboolean
posthorn_message_writer_write (PosthornMessageWriter *writer, const void *data,
                               gsize length, GError **error)
{
  const guint8 *p = data;

  g_return_val_if_fail (!writer->finished, FALSE);

  /* in slices, so one huge write never builds a second copy in memory */
  while (length > 0) {
    gsize n = MIN (length, (gsize) WRITER_FILE_BUFFER);
    guint before = writer->buf->len;
    ph_mime_canonicalize_append (writer->buf, p, n, &writer->prev_cr);
    writer->size += writer->buf->len - before;
    p += n;
    length -= n;

    if (writer->fd < 0 && writer->buf->len > writer->memory_limit) {
      writer->fd = writer_open_tmp (writer->tmp_dir, error);
      if (writer->fd < 0)
        return FALSE;
    }
    if (writer->fd >= 0 && writer->buf->len >= WRITER_FILE_BUFFER &&
        !writer_flush (writer, error))
      return FALSE;
  }
  return TRUE;
}

guint64
posthorn_message_writer_get_size (PosthornMessageWriter *writer)
{
  return writer->size;
}

PosthornMessage *
posthorn_message_writer_finish (PosthornMessageWriter *writer, GError **error)
{
  g_return_val_if_fail (!writer->finished, NULL);
  writer->finished = TRUE;

  if (writer->fd < 0) {
    PosthornMessage *msg = message_alloc ();
    msg->bytes = g_byte_array_free_to_bytes (g_steal_pointer (&writer->buf));
    msg->size = g_bytes_get_size (msg->bytes);
    return msg;
  }
  if (!writer_flush (writer, error))
    return NULL;
  int fd = writer->fd;
  writer->fd = -1;
  return message_new_from_fd (fd, error);
}

void
posthorn_message_writer_free (PosthornMessageWriter *writer)
{
  if (writer == NULL)
    return;
  if (writer->fd >= 0)
    close (writer->fd);
  if (writer->buf != NULL)
    g_byte_array_unref (writer->buf);
  g_free (writer->tmp_dir);
  g_free (writer);
}
