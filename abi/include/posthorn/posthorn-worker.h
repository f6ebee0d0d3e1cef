/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* The worker pool: where everything that can block runs (fsync, crypt
 * hashing, SQLite, reading a large file), so that the main loop thread only
 * ever does non-blocking I/O. One client appending 50 MB must not delay
 * another client's NOOP.
 *
 * @func runs on a pool thread with @data; it returns a result (or NULL and
 * sets @error). @callback then runs on the main loop thread (the thread
 * default main context of the caller, which for protocol plugins is the
 * daemon's loop) and gets the result with posthorn_worker_finish(). If the
 * callback does not take the result, @result_free releases it.
 *
 * Work items run in parallel on up to [core] worker_threads threads
 * (default: 2 × CPUs, at least 4). Items that must not overlap (writes to
 * one database) are the plugin's to serialise, e.g. with a GMutex in @func.
 */
typedef gpointer (*PosthornWorkerFunc) (gpointer data,
                                        GCancellable *cancellable,
                                        GError **error);

void posthorn_worker_run (PosthornWorkerFunc func,
                          gpointer data,
                          GDestroyNotify data_free,
                          GDestroyNotify result_free,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data);

/* Returns the result of @func (transfer full) or NULL with @error set. */
gpointer posthorn_worker_finish (GAsyncResult *result, GError **error);

G_END_DECLS
