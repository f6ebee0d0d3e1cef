/* storage-maildir: the store vtable over Maildir++ folders.
 *
 * Per user: a Maildir root (INBOX in cur/ new/ tmp/, other folders as
 * .Parent.Child), Dovecot's control files kept up to date
 * (dovecot-uidlist, dovecot-keywords, subscriptions), and our own index,
 * posthorn-index.db (SQLite, WAL): per folder UIDVALIDITY, UIDNEXT,
 * HIGHESTMODSEQ, the \Recent claim and what the last scan saw; per
 * message UID, file name, flags, keywords, MODSEQ, sizes, the parsed
 * PosthornMessageInfo and the search text; expunge tombstones.
 *
 * Every operation of this process runs under one mutex; other processes
 * (a second posthornd, Dovecot) are kept apart per folder by Dovecot's
 * dotlock, dovecot-uidlist.lock. A folder is scanned (readdir of new/ and
 * cur/) only when the mtime of one of them, or the stamp of a control
 * file, differs from what the last scan recorded, or (for readers) when
 * the recorded stamp of cur/ or new/ is too recent, or taken after our
 * own change, to rule out another program's change in the same mtime
 * tick (MaildirRefreshMode).
 *
 * The files: maildir-files.c (helpers, the dotlock, Dovecot's control
 * files, message files), maildir-index.c (the index database, keyword
 * sets, folder rows), maildir-rows.c (message rows), maildir-sync.c
 * (scanning cur/ and new/, STATUS, SELECT/sync), maildir-mailbox.c
 * (subscriptions, the folder list, CREATE/DELETE/RENAME), maildir-append.c
 * (delivery and APPEND), maildir-messages.c (STORE, COPY, EXPUNGE) and
 * maildir-fetch.c (FETCH, READ, SEARCH); this file holds the vtable and
 * the store object.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

/* A user name the path pattern cannot turn into a folder ('/', control
 * characters, a "." or ".." component) cannot get mail: SMTP refuses it
 * at RCPT. */
static gboolean
maildir_check_user (gpointer data, const char *user, GError **error)
{
  MaildirStore *store = data;
  g_autofree char *path = maildir_expand_path (store->pattern, user, error);

  return path != NULL;
}

const PosthornStoreVTable maildir_store_vtable = {
  .struct_size = sizeof (PosthornStoreVTable),
  .open_user = maildir_open_user,
  .list = maildir_list,
  .create = maildir_create,
  .delete_mailbox = maildir_delete,
  .rename = maildir_rename,
  .subscribe = maildir_subscribe,
  .status = maildir_status,
  .sync = maildir_sync,
  .append = maildir_append,
  .append_multi = maildir_append_multi,
  .store_flags = maildir_store_flags,
  .copy = maildir_copy,
  .expunge = maildir_expunge,
  .fetch = maildir_fetch,
  .fetch_sizes = maildir_fetch_sizes,
  .read = maildir_read,
  .search_text = maildir_search_text,
  .check_user = maildir_check_user,
};

MaildirStore *
maildir_store_new (const char *path_pattern, GError **error)
{
  MaildirStore *store = g_new0 (MaildirStore, 1);

  store->pattern = g_strdup (path_pattern);
  g_mutex_init (&store->lock);
  g_mutex_init (&store->commit_lock);
  g_cond_init (&store->commit_cond);
  store->commit_queue = g_ptr_array_new ();
  store->users = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) maildir_user_free);
  store->warned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  store->tmp_max_age = MAILDIR_TMP_MAX_AGE;
  store->temp_cleaned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  store->watch = maildir_watch_new (store);
  return store;
}

void
maildir_store_free (MaildirStore *store)
{
  g_clear_pointer (&store->watch, maildir_watch_free);
  g_hash_table_unref (store->users);
  g_hash_table_unref (store->warned);
  g_hash_table_unref (store->temp_cleaned);
  g_mutex_clear (&store->lock);
  g_mutex_clear (&store->commit_lock);
  g_cond_clear (&store->commit_cond);
  g_ptr_array_unref (store->commit_queue);
  g_free (store->pattern);
  g_free (store);
}

void
maildir_store_rescan (MaildirStore *store, const char *user, const char *name)
{
  MAILDIR_STORE_LOCK (store);
  g_autoptr(GError) error = NULL;
  MaildirUser *u = maildir_user_get (store, user, FALSE, &error);
  MaildirFolder f = { 0 };

  if (u != NULL && maildir_folder_lookup (u, name, 0, &f, &error))
    maildir_folder_refresh (store, u, &f, MAILDIR_REFRESH_READ, &error);
  if (error != NULL && !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
    g_warning ("rescan of %s for %s: %s", name, user, error->message);
  maildir_folder_clear (&f);
}
