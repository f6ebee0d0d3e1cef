/* storage-sqlite: the store vtable over one SQLite database (WAL) for all
 * users. Writes go through one writer connection under a mutex, reads
 * through a small pool of reader connections. The operations live in
 * sqlite-mailbox.c, sqlite-sync.c, sqlite-append.c, sqlite-messages.c and
 * sqlite-fetch.c; their row helpers in sqlite-rows.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sqlite-private.h"

const PosthornStoreVTable sqlite_store_vtable = {
  .struct_size = sizeof (PosthornStoreVTable),
  .open_user = sqlite_open_user,
  .list = sqlite_list,
  .create = sqlite_create,
  .delete_mailbox = sqlite_delete,
  .rename = sqlite_rename,
  .subscribe = sqlite_subscribe,
  .status = sqlite_status,
  .sync = sqlite_sync,
  .append = sqlite_append,
  .store_flags = sqlite_store_flags,
  .copy = sqlite_copy,
  .expunge = sqlite_expunge,
  .fetch = sqlite_fetch,
  .fetch_sizes = sqlite_fetch_sizes,
  .read = sqlite_read,
  .search_text = sqlite_search_text,
  .append_multi = sqlite_append_multi,
};
