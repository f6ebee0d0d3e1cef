/* storage-common: a mailbox's message list (UID, flags, MODSEQ,
 * keywords) in packed arrays, and its snapshot: the same list as one blob,
 * so that opening a big mailbox reads one blob plus what changed since
 * instead of one index row per message.
 *
 * A snapshot is only a cache of the message rows. A row with a greater
 * MODSEQ than the snapshot's replaces its entry, a tombstone with a
 * greater MODSEQ removes it (storage_message_list_merge()), and a blob
 * that does not decode for the mailbox is ignored.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

typedef struct {
  GArray *uids;       /* guint32, ascending */
  GArray *flags;      /* guint32 */
  GArray *modseqs;    /* guint64 */
  GArray *kw_offsets; /* guint32: start of each message's keywords in kw_pool */
  GArray *kw_pool;    /* guint32 */
} StorageMessageList;

/* Empty arrays with room for @reserve messages; _clear frees them and
 * leaves @l zeroed (clearing a zeroed list does nothing). */
void storage_message_list_init (StorageMessageList *l, guint reserve);
void storage_message_list_clear (StorageMessageList *l);

/* Appends one message; UIDs must be added in ascending order. */
void storage_message_list_add (StorageMessageList *l, guint32 uid, guint32 flags, guint64 modseq,
                               const guint32 *kw, guint n_kw);

/* The keywords of entry @i: *@n of them (NULL when there are none). */
const guint32 *storage_message_list_keywords (const StorageMessageList *l, guint i, guint *n);

/* Steps @stmt to its end, appending each row (uid, flags, modseq,
 * keywords blob: columns 0 to 3), and resets it. Returns the last step's
 * result: SQLITE_DONE when every row was read. */
int storage_message_list_read (sqlite3_stmt *stmt, StorageMessageList *l);

/* Steps @stmt to its end, appending the UID in column 0 of each row to
 * @uids (guint32), and resets it. Returns SQLITE_DONE when every row was
 * read. */
int storage_uids_read (sqlite3_stmt *stmt, GArray *uids);

/* The snapshot blob of @l, tagged with @magic (one per store format) and
 * the mailbox's @uidvalidity. Layout, native byte order: magic,
 * uidvalidity, n, n_pool (guint32 each), then uids[n], flags[n]
 * (guint32), modseqs[n] (guint64), kw_offsets[n] (guint32) and
 * kw_pool[n_pool] (guint32): 20 bytes a message plus 4 a keyword. Pure. */
GBytes *storage_snapshot_encode (const StorageMessageList *l, guint32 magic, guint32 uidvalidity);

/* Decodes a snapshot blob into @l (initialised here). FALSE, with
 * nothing allocated, for a blob that is not a valid snapshot of @magic
 * and @uidvalidity: NULL or short, another size than its counts ask,
 * UIDs not ascending, keyword offsets past the pool or going back. Pure. */
gboolean storage_snapshot_decode (const guint8 *data, gsize size, guint32 magic, guint32 uidvalidity,
                                  StorageMessageList *l);

/* The current list: @snap with the changes since applied. @changed
 * (rows with a greater MODSEQ, ascending by UID) replace or add
 * entries, the UIDs in @gone (tombstones with a greater MODSEQ,
 * ascending) are left out. Takes @snap and @changed (both are cleared);
 * @out is initialised here. Returns the number of changes: the rows of
 * @changed plus the UIDs of @gone. Pure. */
guint storage_message_list_merge (StorageMessageList *snap, StorageMessageList *changed, const GArray *gone,
                                  StorageMessageList *out);

G_END_DECLS
