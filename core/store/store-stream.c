/* A stored message as a GInputStream: each read() is one blocking call of
 * the store's read function, so a 50 MB message is never held whole.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store/store-private.h"

#define STORE_TYPE_STREAM (store_stream_get_type ())
G_DECLARE_FINAL_TYPE (StoreStream, store_stream, STORE, STREAM, GInputStream)

struct _StoreStream {
  GInputStream parent_instance;
  char *user;
  char *mailbox;
  guint32 uidvalidity;
  guint32 uid;
  guint64 offset;
  GError *invalid;
};

G_DEFINE_FINAL_TYPE (StoreStream, store_stream, G_TYPE_INPUT_STREAM)

static gssize
store_stream_read (GInputStream *stream, void *buffer, gsize count,
                   GCancellable *cancellable, GError **error)
{
  StoreStream *self = STORE_STREAM (stream);
  const StoreBackend *b;
  gssize n;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;
  if (self->invalid != NULL)
    {
      g_propagate_error (error, g_error_copy (self->invalid));
      return -1;
    }
  b = store_backend_acquire (error);
  if (b == NULL)
    return -1;
  n = b->vt.read (b->data, self->user, self->mailbox, self->uidvalidity, self->uid,
                  self->offset, buffer, count, error);
  store_backend_release ();
  if (n > 0)
    self->offset += (guint64) n;
  return n;
}

static gboolean
store_stream_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

static void
store_stream_finalize (GObject *object)
{
  StoreStream *self = STORE_STREAM (object);

  g_free (self->user);
  g_free (self->mailbox);
  g_clear_error (&self->invalid);
  G_OBJECT_CLASS (store_stream_parent_class)->finalize (object);
}

static void
store_stream_class_init (StoreStreamClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = store_stream_finalize;
  stream_class->read_fn = store_stream_read;
  stream_class->close_fn = store_stream_close;
}

static void
store_stream_init (StoreStream *self)
{
}

GInputStream *
posthorn_store_open_stream (PosthornStoreUser *user, const char *mailbox, guint32 uidvalidity,
                            guint32 uid)
{
  StoreStream *self = g_object_new (STORE_TYPE_STREAM, NULL);

  self->user = g_strdup (user->name);
  /* A bad name never reaches the store: every read fails with it. */
  self->mailbox = posthorn_store_normalize_mailbox_name (mailbox, &self->invalid);
  self->uidvalidity = uidvalidity;
  self->uid = uid;
  return G_INPUT_STREAM (self);
}
