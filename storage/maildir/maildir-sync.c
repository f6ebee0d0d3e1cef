/* storage-maildir: scanning cur/ and new/ for what other programs changed
 * (following dovecot-uidlist and dovecot-keywords), and the vtable's
 * STATUS and SELECT/sync on top of it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* ------------------------------------------------------------------ */
/* scanning: what other programs changed                               */
/* ------------------------------------------------------------------ */

typedef struct {
  char *name;             /* file name in its sub-directory */
  gboolean in_new;
  MaildirFileName parsed;
} DiskEntry;

static void
disk_entry_free (gpointer p)
{
  DiskEntry *e = p;

  g_free (e->name);
  g_free (e);
}

/* Reads cur/ or new/ into @by_base (base -> DiskEntry); an entry already
 * there (seen in new/ before it moved to cur/) is replaced. Files that are
 * not Maildir messages are skipped with one warning each. The entry type
 * comes from readdir() where the file system gives it: no stat per file
 * (a scan of 100,000 files would spend most of its time there). */
static gboolean
read_entries (MaildirStore *store, MaildirFolder *f, const char *sub, GHashTable *by_base,
              GError **error)
{
  g_autofree char *path = maildir_folder_path (f, sub, NULL);
  DIR *dir = opendir (path);
  struct dirent *d;

  if (dir == NULL)
    {
      int errsv = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "Error opening directory %s: %s",
                   path, g_strerror (errsv));
      return FALSE;
    }
  while ((d = readdir (dir)) != NULL)
    {
      const char *name = d->d_name;
      gboolean regular = d->d_type == DT_REG;
      DiskEntry *e;

      if (name[0] == '.')
        continue;
      if (d->d_type == DT_UNKNOWN)
        {
          g_autofree char *full = g_build_filename (path, name, NULL);
          struct stat st;

          regular = lstat (full, &st) == 0 && S_ISREG (st.st_mode);
        }
      e = g_new0 (DiskEntry, 1);
      if (!regular || !maildir_filename_parse (name, &e->parsed))
        {
          char *full = g_build_filename (path, name, NULL);

          if (g_hash_table_add (store->warned, full))
            g_warning ("ignoring %s: not a Maildir message file", full);
          g_free (e);
          continue;
        }
      e->name = g_strdup (name);
      e->in_new = strcmp (sub, "new") == 0;
      g_hash_table_replace (by_base, g_strndup (name, e->parsed.base_len), e);
    }
  closedir (dir);
  return TRUE;
}

static void
event_add (GPtrArray *events, PosthornEventKind kind, const char *user, const char *name,
           guint32 uid, guint64 modseq)
{
  PosthornEvent *ev = posthorn_event_new (kind, user, name);

  posthorn_event_set_uid (ev, uid);
  posthorn_event_set_modseq (ev, modseq);
  g_ptr_array_add (events, ev);
}

static void
events_publish (GPtrArray *events)
{
  for (guint i = 0; i < events->len; i++)
    posthorn_event_publish (g_steal_pointer (&events->pdata[i]));
  g_ptr_array_set_size (events, 0);
}

/* Keyword indexes of a file name's letters, plus the message's keywords
 * beyond 'z' (which only the index knows). */
static GArray *
keywords_from_name (const MaildirFileName *parsed, GArray *old, guint n_known)
{
  GArray *set = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint32 i = 0; i < 26; i++)
    if ((parsed->keywords & (1u << i)) && i < n_known)
      g_array_append_val (set, i);
  for (guint i = 0; old != NULL && i < old->len; i++)
    if (g_array_index (old, guint32, i) >= 26)
      g_array_append_val (set, g_array_index (old, guint32, i));
  storage_keyword_set_normalize (set);
  return set;
}

typedef struct {
  DiskEntry *entry;
  const char *base;
  guint32 listed_uid;     /* from dovecot-uidlist, or 0 */
} NewFile;

static int
new_file_compare (gconstpointer a, gconstpointer b)
{
  const NewFile *x = a, *y = b;
  guint64 kx = x->listed_uid != 0 ? x->listed_uid : G_MAXUINT64;
  guint64 ky = y->listed_uid != 0 ? y->listed_uid : G_MAXUINT64;

  if (kx != ky)
    return kx < ky ? -1 : 1;
  return strcmp (x->entry->name, y->entry->name);
}

/* Moves a file from new/ to cur/ (as Dovecot does once it has a UID). */
static gboolean
entry_move_to_cur (MaildirFolder *f, DiskEntry *e, GError **error)
{
  g_autofree char *from = maildir_folder_path (f, "new", e->name);
  g_autofree char *name = e->parsed.has_info ? g_strdup (e->name) : g_strconcat (e->name, ":2,", NULL);
  g_autofree char *to = maildir_folder_path (f, "cur", name);

  if (rename (from, to) < 0)
    return maildir_set_errno_error (error, errno, "cannot move", from);
  g_free (e->name);
  e->name = g_steal_pointer (&name);
  e->parsed.has_info = TRUE;
  e->in_new = FALSE;
  return TRUE;
}

/* @stamp marked untrusted (see MaildirRefreshMode); takes it. */
static char *
stamp_untrusted (char *stamp)
{
  char *marked = g_strconcat ("?", stamp, NULL);

  g_free (stamp);
  return marked;
}

/* TRUE if a directory or file whose stamp is @now needs no scan against
 * the @recorded one: equal and trusted, or equal to an untrusted one when
 * @own_ok (a writer, see MAILDIR_REFRESH_WRITE). */
static gboolean
stamp_unchanged (const char *recorded, const char *now, gboolean own_ok)
{
  if (recorded == NULL)
    return FALSE;
  if (recorded[0] == '?')
    return own_ok && strcmp (recorded + 1, now) == 0;
  return strcmp (recorded, now) == 0;
}

static gboolean
stamps_current (MaildirFolder *f, MaildirRefreshMode mode, char **now)
{
  static const char *const names[] = { "cur", "new", MAILDIR_UIDLIST_NAME, MAILDIR_KEYWORDS_NAME };
  gboolean same = mode != MAILDIR_REFRESH_FORCE;

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *path = maildir_folder_path (f, names[i], NULL);

      now[i] = maildir_stamp_of (path, NULL);
      same = same && stamp_unchanged (f->stamps[i], now[i],
                                      i == MAILDIR_STAMP_CUR && mode == MAILDIR_REFRESH_WRITE);
    }
  return same;
}

static void
stamps_free (char **now)
{
  for (guint i = 0; i < 4; i++)
    g_clear_pointer (&now[i], g_free);
}

/* TRUE if the folder has more messages than @n_listed. */
static gboolean
uidlist_lacks_rows (MaildirUser *u, MaildirFolder *f, guint n_listed)
{
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT count(*) FROM messages WHERE folder_id = ?1", NULL);
  gint64 n = 0;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, f->id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    n = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return n > (gint64) n_listed;
}

static gboolean
refresh_locked (MaildirStore *store, MaildirUser *u, MaildirFolder *f, MaildirRefreshMode mode,
                GError **error)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_event_unref);
  g_autoptr(GHashTable) disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, disk_entry_free);
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GArray) fresh = g_array_new (FALSE, FALSE, sizeof (NewFile));
  g_autoptr(GPtrArray) known = NULL;
  MaildirUidlist uidlist = { 0 };
  gboolean have_uidlist = FALSE;
  gboolean changed = FALSE, moved = FALSE, keywords_added = FALSE;
  char *now[4] = { NULL };
  g_autofree char *cur_path = maildir_folder_path (f, "cur", NULL);
  g_autofree char *new_path = maildir_folder_path (f, "new", NULL);
  g_autofree char *cur_stamp = NULL, *new_stamp = NULL;
  gboolean force = mode == MAILDIR_REFRESH_FORCE;
  gboolean cur_recent, new_recent, full, found;
  gboolean ok;

  if (!maildir_db_begin (u, error))
    return FALSE;
  ok = maildir_folder_read (u, f->name, f, &found, error);
  if (ok && !found)
    ok = maildir_not_found (error, f->name);
  if (!ok)
    return maildir_db_end (u, FALSE, NULL);
  if (stamps_current (f, mode, now))
    {
      stamps_free (now);
      return maildir_db_end (u, TRUE, error);
    }

  full = force ||
         !stamp_unchanged (f->stamps[MAILDIR_STAMP_CUR], now[MAILDIR_STAMP_CUR], mode == MAILDIR_REFRESH_WRITE) ||
         strcmp (now[MAILDIR_STAMP_UIDLIST], f->stamps[MAILDIR_STAMP_UIDLIST]) != 0 ||
         strcmp (now[MAILDIR_STAMP_KEYWORDS], f->stamps[MAILDIR_STAMP_KEYWORDS]) != 0;

  if (strcmp (now[MAILDIR_STAMP_UIDLIST], f->stamps[MAILDIR_STAMP_UIDLIST]) != 0 || force)
    {
      have_uidlist = maildir_read_uidlist (f->dir, &uidlist);
      if (have_uidlist && uidlist.uidvalidity != f->uidvalidity)
        {
          /* Another program re-created the folder: a new UIDVALIDITY, and
           * every message is new. */
          static const char *const sql[] = {
            "DELETE FROM search WHERE rowid IN (SELECT id FROM messages WHERE folder_id = ?1)",
            "DELETE FROM messages WHERE folder_id = ?1",
            "DELETE FROM expunged WHERE folder_id = ?1",
            "DELETE FROM snapshots WHERE folder_id = ?1",
          };

          g_message ("%s: UIDVALIDITY changed from %u to %u by another program", f->dir,
                     f->uidvalidity, uidlist.uidvalidity);
          for (guint i = 0; ok && i < G_N_ELEMENTS (sql); i++)
            {
              sqlite3_stmt *stmt = maildir_db_stmt (u, sql[i], error);

              ok = stmt != NULL;
              if (ok)
                {
                  sqlite3_bind_int64 (stmt, 1, f->id);
                  ok = maildir_db_done (u, stmt, error);
                }
            }
          f->uidvalidity = uidlist.uidvalidity;
          f->uidnext = 1;
          f->first_recent = 1;
          g_free (f->guid);
          f->guid = g_strdup (uidlist.guid);
          if (ok && (gint64) f->uidvalidity > maildir_meta_get (u, "uidvalidity"))
            ok = maildir_meta_set (u, "uidvalidity", f->uidvalidity, error);
        }
      for (guint i = 0; have_uidlist && i < uidlist.entries->len; i++)
        {
          MaildirUidlistEntry *e = &g_array_index (uidlist.entries, MaildirUidlistEntry, i);

          g_hash_table_replace (listed, e->base, GUINT_TO_POINTER (e->uid));
        }
    }
  if (ok && strcmp (now[MAILDIR_STAMP_KEYWORDS], f->stamps[MAILDIR_STAMP_KEYWORDS]) != 0)
    ok = maildir_keywords_merge (u, f, &keywords_added, error);
  if (ok)
    ok = (known = maildir_keywords_list (u, f->id, error)) != NULL;

  /* new/ before cur/: a file moving from new/ to cur/ meanwhile is seen
   * at least once. The stamps are taken before reading. */
  new_stamp = maildir_stamp_of (new_path, &new_recent);
  if (ok)
    ok = read_entries (store, f, "new", disk, error);
  cur_stamp = maildir_stamp_of (cur_path, &cur_recent);
  if (ok && full)
    ok = read_entries (store, f, "cur", disk, error);

  if (ok && full)
    ok = (rows = maildir_messages_collect (u, f, NULL, 0, TRUE, error)) != NULL;
  else if (ok)
    {
      /* Only new/ changed: look its files up one by one. */
      GHashTableIter iter;
      gpointer key;

      rows = g_ptr_array_new_with_free_func (maildir_message_row_free);
      g_hash_table_iter_init (&iter, disk);
      while (ok && g_hash_table_iter_next (&iter, &key, NULL))
        {
          sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT " MAILDIR_MESSAGE_COLUMNS " FROM messages "
                                           "WHERE folder_id = ?1 AND base = ?2", error);

          ok = stmt != NULL;
          if (!ok)
            break;
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_text (stmt, 2, key, -1, SQLITE_STATIC);
          if (sqlite3_step (stmt) == SQLITE_ROW)
            g_ptr_array_add (rows, maildir_message_row_read (stmt));
          sqlite3_reset (stmt);
        }
    }

  /* Known messages: renamed (flags) or gone. */
  for (guint i = 0; ok && i < rows->len; i++)
    {
      MaildirMessageRow *row = rows->pdata[i];
      DiskEntry *e = g_hash_table_lookup (disk, row->base);
      g_autofree char *filename = NULL;
      g_autoptr(GArray) kw = NULL;

      if (e == NULL)
        {
          g_autofree char *path = g_build_filename (f->dir, row->filename, NULL);
          guint64 modseq;

          /* Renamed while we read the directory? Then it is still there. */
          if (g_file_test (path, G_FILE_TEST_EXISTS))
            continue;
          {
            g_autoptr(GHashTable) again = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                                 disk_entry_free);

            ok = read_entries (store, f, "cur", again, error);
            if (ok && g_hash_table_contains (again, row->base))
              {
                gpointer k, v;

                g_hash_table_steal_extended (again, row->base, &k, &v);
                g_hash_table_replace (disk, k, v);
                e = v;
              }
          }
          if (ok && e == NULL)
            {
              ok = maildir_message_remove (u, f, row, &modseq, error);
              if (ok)
                event_add (events, POSTHORN_EVENT_MESSAGE_EXPUNGED, u->name, f->name, row->uid, modseq);
              changed = TRUE;
              continue;
            }
          if (!ok)
            break;
        }
      if (e->in_new)
        {
          ok = entry_move_to_cur (f, e, error);
          moved = TRUE;
          if (!ok)
            break;
        }
      filename = g_strconcat ("cur/", e->name, NULL);
      if (strcmp (filename, row->filename) != 0)
        {
          guint64 modseq = row->modseq;

          kw = keywords_from_name (&e->parsed, row->keywords, known->len - 1);
          if (e->parsed.flags != row->flags || !storage_keyword_sets_equal (kw, row->keywords))
            {
              modseq = ++f->highestmodseq;
              event_add (events, POSTHORN_EVENT_FLAGS_CHANGED, u->name, f->name, row->uid, modseq);
            }
          ok = maildir_message_update (u, row, filename, e->parsed.flags, kw, modseq, error);
        }
      g_hash_table_remove (disk, row->base);
    }

  /* Files without a row: new messages, in dovecot-uidlist's order first. */
  if (ok)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, disk);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          NewFile nf = { value, key, GPOINTER_TO_UINT (g_hash_table_lookup (listed, key)) };

          g_array_append_val (fresh, nf);
        }
      g_array_sort (fresh, new_file_compare);
    }
  for (guint i = 0; ok && i < fresh->len; i++)
    {
      NewFile *nf = &g_array_index (fresh, NewFile, i);
      g_autofree char *path = NULL;
      g_autofree char *filename = NULL;
      g_autoptr(GError) local = NULL;
      g_autoptr(GArray) kw = NULL;
      MaildirImportedFile imp;
      MaildirNewRow r = { 0 };

      if (nf->entry->in_new)
        {
          ok = entry_move_to_cur (f, nf->entry, error);
          moved = TRUE;
          if (!ok)
            break;
        }
      filename = g_strconcat ("cur/", nf->entry->name, NULL);
      path = g_build_filename (f->dir, filename, NULL);
      if (!maildir_import_file (path, &imp, &local))
        {
          g_warning ("ignoring %s: %s", path, local->message);
          continue;
        }
      if (f->uidnext == G_MAXUINT32)
        {
          maildir_imported_file_clear (&imp);
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_LIMIT, "mailbox %s has used up its UIDs",
                       f->name);
          ok = FALSE;
          break;
        }
      kw = keywords_from_name (&nf->entry->parsed, NULL, known->len - 1);
      r.uid = nf->listed_uid >= f->uidnext ? nf->listed_uid : f->uidnext;
      f->uidnext = r.uid + 1;
      r.base = nf->base;
      r.filename = filename;
      r.flags = nf->entry->parsed.flags;
      r.keywords = kw;
      r.modseq = ++f->highestmodseq;
      r.internal_date = imp.internal_date;
      r.size = imp.size;
      r.file_size = imp.file_size;
      r.lfmap = imp.lfmap;
      r.info = imp.info;
      r.header_text = imp.header_text;
      r.body_text = imp.body_text;
      ok = maildir_message_insert (u, f, &r, error);
      maildir_imported_file_clear (&imp);
      if (ok)
        event_add (events, POSTHORN_EVENT_MESSAGE_NEW, u->name, f->name, r.uid, r.modseq);
      changed = TRUE;
    }

  if (ok && have_uidlist && uidlist.next_uid > f->uidnext)
    f->uidnext = uidlist.next_uid;
  if (ok && moved)
    ok = maildir_fsync_path (cur_path, error) && maildir_fsync_path (new_path, error);
  if (ok && keywords_added)
    ok = maildir_keywords_write (u, f, error);
  if (ok)
    {
      g_free (f->stamps[MAILDIR_STAMP_NEW]);
      f->stamps[MAILDIR_STAMP_NEW] = new_recent ? stamp_untrusted (g_steal_pointer (&new_stamp))
                                                : g_steal_pointer (&new_stamp);
      if (full)
        {
          g_free (f->stamps[MAILDIR_STAMP_CUR]);
          f->stamps[MAILDIR_STAMP_CUR] = cur_recent && !store->trust_cur_stamps ? stamp_untrusted (g_steal_pointer (&cur_stamp))
                                                    : g_steal_pointer (&cur_stamp);
        }
      if (moved)
        maildir_folder_note_own_change (store, f);
      {
        gboolean uidlist_changed = strcmp (now[MAILDIR_STAMP_UIDLIST], f->stamps[MAILDIR_STAMP_UIDLIST]) != 0;

        /* Dovecot's view of the folder follows ours. */
        if (changed || force || strcmp (now[MAILDIR_STAMP_UIDLIST], "-") == 0 ||
            (uidlist_changed && !have_uidlist))
          ok = maildir_uidlist_write (u, f, error);
        else if (uidlist_changed && have_uidlist && uidlist_lacks_rows (u, f, uidlist.entries->len))
          {
            /* Appends to it are not fsync'ed (the index is what counts
             * for us): after a crash it may miss the last ones. */
            g_message ("%s: %s misses messages; rewriting it", f->dir, MAILDIR_UIDLIST_NAME);
            ok = maildir_uidlist_write (u, f, error);
          }
        else if (uidlist_changed)
          {
            g_free (f->stamps[MAILDIR_STAMP_UIDLIST]);
            f->stamps[MAILDIR_STAMP_UIDLIST] = g_strdup (now[MAILDIR_STAMP_UIDLIST]);
          }
      }
      if (!keywords_added)
        {
          g_free (f->stamps[MAILDIR_STAMP_KEYWORDS]);
          f->stamps[MAILDIR_STAMP_KEYWORDS] = g_strdup (now[MAILDIR_STAMP_KEYWORDS]);
        }
    }
  if (ok)
    ok = maildir_folder_save (u, f, error);
  stamps_free (now);
  if (have_uidlist)
    maildir_uidlist_clear (&uidlist);
  if (!maildir_db_end (u, ok, error))
    return FALSE;
  events_publish (events);
  return TRUE;
}

/* Brings the index up to date with the folder when its stamps say that
 * something changed (or always with @force). */
gboolean
maildir_folder_refresh (MaildirStore *store, MaildirUser *u, MaildirFolder *f, MaildirRefreshMode mode,
                        GError **error)
{
  gboolean ok;

  if (f->lock_path == NULL)
    {
      char *now[4] = { NULL };
      gboolean same = stamps_current (f, mode, now);

      stamps_free (now);
      if (same)
        return TRUE;
      if (!maildir_folder_lock (f, error))
        return FALSE;
      ok = refresh_locked (store, u, f, mode, error);
      maildir_folder_unlock (f);
      return ok;
    }
  return refresh_locked (store, u, f, mode, error);
}

/* Under the folder lock, right after a refresh and our own change of
 * cur/: the new stamp is untrusted whatever its age. Another program's
 * rename between the refresh's stat and ours, or in the tick of our last
 * rename, left no trace in it; a writer's next refresh (the same stamp)
 * still needs no scan, the next reader's does. */
void
maildir_folder_note_own_change (const MaildirStore *store, MaildirFolder *f)
{
  g_autofree char *cur = maildir_folder_path (f, "cur", NULL);
  char *stamp = maildir_stamp_of (cur, NULL);

  g_free (f->stamps[MAILDIR_STAMP_CUR]);
  f->stamps[MAILDIR_STAMP_CUR] = store->trust_cur_stamps ? stamp : stamp_untrusted (stamp);
}

/* Finds a message's file by its base when its recorded name is stale
 * (another program renamed it). Returns "cur/NAME" or NULL. */
char *
maildir_locate_file (MaildirFolder *f, const char *base)
{
  static const char *const subs[] = { "cur", "new" };
  gsize len = strlen (base);

  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *path = maildir_folder_path (f, subs[i], NULL);
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        if (strncmp (name, base, len) == 0 && (name[len] == '\0' || name[len] == ':'))
          return g_build_filename (subs[i], name, NULL);
    }
  return NULL;
}

/* Cleans @f's leftovers (maildir_folder_clean_temp()) when this process
 * has not done so for an hour (or tmp_max_age, if shorter). */
static void
clean_temp_maybe (MaildirStore *store, const MaildirFolder *f)
{
  gint64 now = g_get_monotonic_time ();
  gint64 *last = g_hash_table_lookup (store->temp_cleaned, f->dir);

  if (last != NULL && now - *last < MIN (store->tmp_max_age, 3600) * G_USEC_PER_SEC)
    return;
  if (last == NULL)
    {
      last = g_new (gint64, 1);
      g_hash_table_insert (store->temp_cleaned, g_strdup (f->dir), last);
    }
  *last = now;
  maildir_folder_clean_temp (f, store->tmp_max_age);
}

/* Looks @name up and brings it up to date. */
gboolean
maildir_folder_open (MaildirStore *store, const char *user, const char *name, guint32 uidvalidity,
                     MaildirRefreshMode mode, MaildirUser **out_user, MaildirFolder *f, GError **error)
{
  MaildirUser *u = maildir_user_get (store, user, FALSE, error);

  if (u == NULL)
    {
      if (g_error_matches (*error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        {
          g_clear_error (error);
          return maildir_not_found (error, name);
        }
      return FALSE;
    }
  *out_user = u;
  if (!maildir_folder_lookup (u, name, uidvalidity, f, error) ||
      !maildir_folder_refresh (store, u, f, mode, error))
    return FALSE;
  if (uidvalidity != 0 && f->uidvalidity != uidvalidity)
    return maildir_not_found (error, name);
  clean_temp_maybe (store, f);
  return TRUE;
}

gboolean
maildir_status (gpointer data, const char *user, const char *name, PosthornMailboxStatus *out,
                GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  sqlite3_stmt *stmt;
  gboolean ok = maildir_folder_open (store, user, name, 0, MAILDIR_REFRESH_READ, &u, &f, error);

  if (ok)
    ok = (stmt = maildir_db_stmt (u, "SELECT count(*), total (uid >= ?2), total ((flags & 1) = 0), "
                             "total (size) FROM messages WHERE folder_id = ?1", error)) != NULL;
  if (ok)
    {
      sqlite3_bind_int64 (stmt, 1, f.id);
      sqlite3_bind_int64 (stmt, 2, f.first_recent);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        {
          out->messages = (guint32) sqlite3_column_int64 (stmt, 0);
          out->recent = (guint32) sqlite3_column_double (stmt, 1);
          out->unseen = (guint32) sqlite3_column_double (stmt, 2);
          out->size = (guint64) sqlite3_column_double (stmt, 3);
          out->uidnext = f.uidnext;
          out->uidvalidity = f.uidvalidity;
          out->highestmodseq = f.highestmodseq;
        }
      else
        ok = maildir_db_error (u, sqlite3_errcode (u->db), error);
      sqlite3_reset (stmt);
    }
  maildir_folder_clear (&f);
  return ok;
}

gboolean
maildir_sync (gpointer data, const char *user, const char *name, guint32 uidvalidity,
              guint64 since_modseq, PosthornStoreSyncFlags flags, PosthornStoreSync *out,
              GError **error)
{
  MaildirStore *store = data;
  MAILDIR_STORE_LOCK (store);
  MaildirUser *u = NULL;
  MaildirFolder f = { 0 };
  StorageMessageList list = { 0 };
  g_autoptr(GPtrArray) keywords = NULL;
  sqlite3_stmt *stmt;
  gboolean found, relaxed = FALSE;
  gboolean ok = maildir_folder_open (store, user, name, uidvalidity, MAILDIR_REFRESH_READ, &u, &f, error);
  int rc;

  if (ok && store->watch != NULL)
    maildir_watch_add (store->watch, user, name, f.dir);
  /* What this transaction may write (a \Recent claim, a snapshot) is
   * worth no fsync: losing it to a power failure shows messages as
   * \Recent once more, or costs a slower open. */
  if (ok)
    relaxed = maildir_db_exec (u, "PRAGMA synchronous=NORMAL", error);
  ok = relaxed && maildir_db_begin (u, error) && maildir_folder_read (u, name, &f, &found, error);
  if (ok && (flags & POSTHORN_STORE_SYNC_CLAIM_RECENT) && f.first_recent < f.uidnext)
    {
      posthorn_store_sync_set_recent (out, f.first_recent, f.uidnext);
      f.first_recent = f.uidnext;
      ok = maildir_folder_save (u, &f, error);
    }
  if (ok)
    posthorn_store_sync_set_state (out, f.uidvalidity, f.uidnext, f.highestmodseq);
  if (ok && !(flags & POSTHORN_STORE_SYNC_EXPUNGED_ONLY))
    {
      ok = (keywords = maildir_keywords_list (u, f.id, error)) != NULL;
      if (ok)
        posthorn_store_sync_set_keywords (out, (const char *const *) keywords->pdata);
      if (ok && since_modseq == 0)
        {
          guint delta = 0;

          ok = maildir_message_list_load (u, &f, &list, &delta, error);
          if (ok && list.uids->len >= store->snapshot_min_messages && delta > store->snapshot_max_delta)
            {
              g_autoptr(GError) local = NULL;

              /* A cache: not having it is no error. */
              if (!maildir_snapshot_save (u, &f, &list, &local))
                g_debug ("%s: snapshot not stored: %s", f.dir, local->message);
            }
        }
      else if (ok)
        {
          storage_message_list_init (&list, 0);
          ok = maildir_message_list_read_changed (u, &f, since_modseq, &list, error);
        }
      if (ok)
        {
          posthorn_store_sync_reserve (out, list.uids->len);
          for (guint i = 0; i < list.uids->len; i++)
            {
              guint n_kw;
              const guint32 *kw = storage_message_list_keywords (&list, i, &n_kw);

              posthorn_store_sync_add_record (out, g_array_index (list.uids, guint32, i),
                                              g_array_index (list.flags, guint32, i),
                                              g_array_index (list.modseqs, guint64, i), kw, n_kw);
            }
        }
    }
  if (ok && since_modseq > 0)
    {
      stmt = maildir_db_stmt (u, "SELECT uid, modseq FROM expunged WHERE folder_id = ?1 AND modseq > ?2 "
                         "ORDER BY uid", error);
      ok = stmt != NULL;
      if (ok)
        {
          sqlite3_bind_int64 (stmt, 1, f.id);
          sqlite3_bind_int64 (stmt, 2, (gint64) since_modseq);
          while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
            posthorn_store_sync_add_expunged (out, (guint32) sqlite3_column_int64 (stmt, 0),
                                              (guint64) sqlite3_column_int64 (stmt, 1));
          sqlite3_reset (stmt);
          if (rc != SQLITE_DONE)
            ok = maildir_db_error (u, rc, error);
        }
    }
  if (u != NULL && sqlite3_get_autocommit (u->db) == 0)
    ok = maildir_db_end (u, ok, ok ? error : NULL) && ok;
  if (relaxed && u != NULL)
    sqlite3_exec (u->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
  storage_message_list_clear (&list);
  maildir_folder_clear (&f);
  return ok;
}
