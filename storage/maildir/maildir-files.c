/* storage-maildir: files on disk: small helpers (errors, fsync, mkdir, stamps),
 * Dovecot's dotlock (dovecot-uidlist.lock), what crashed writers leave
 * behind (tmp/, dotlock temporaries), the control files
 * (dovecot-uidlist, dovecot-keywords) and message files (unique names,
 * the LF map of non-canonical files, importing a file another program
 * wrote).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* Canonical offsets are recorded every this many file bytes for files
 * that are not in canonical CRLF form (LF-only files of other MDAs). */
#define LFMAP_STEP 65536
#define LOCK_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define LOCK_STALE_SECONDS 120
/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

gboolean
maildir_set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  g_set_error (error, POSTHORN_ERROR, errsv == ENOSPC || errsv == EDQUOT ? POSTHORN_ERROR_OVER_QUOTA
                                                                         : POSTHORN_ERROR_FAILED,
               "%s %s: %s", what, path, g_strerror (errsv));
  return FALSE;
}

gboolean
maildir_not_found (GError **error, const char *name)
{
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND, "no mailbox %s", name);
  return FALSE;
}

gboolean
maildir_fsync_path (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int rc;

  if (fd < 0)
    return maildir_set_errno_error (error, errno, "cannot open", path);
  rc = fsync (fd);
  close (fd);
  if (rc < 0)
    return maildir_set_errno_error (error, errno, "cannot fsync", path);
  return TRUE;
}

static gboolean
mkdir_one (const char *path, GError **error)
{
  if (mkdir (path, 0700) < 0 && errno != EEXIST)
    return maildir_set_errno_error (error, errno, "cannot create", path);
  return TRUE;
}

gboolean
maildir_is_dir (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Makes @dir a Maildir (cur/ new/ tmp/, plus the Maildir++ marker for a
 * sub-folder) and syncs its parent so it survives a crash. */
gboolean
maildir_make (const char *dir, gboolean subfolder, GError **error)
{
  static const char *const subs[] = { "cur", "new", "tmp" };
  g_autofree char *parent = g_path_get_dirname (dir);

  if (g_mkdir_with_parents (parent, 0700) < 0)
    return maildir_set_errno_error (error, errno, "cannot create", parent);
  if (!mkdir_one (dir, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *sub = g_build_filename (dir, subs[i], NULL);

      if (!mkdir_one (sub, error))
        return FALSE;
    }
  if (subfolder)
    {
      g_autofree char *marker = g_build_filename (dir, "maildirfolder", NULL);
      int fd = open (marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

      if (fd >= 0)
        close (fd);
    }
  return maildir_fsync_path (dir, error) && maildir_fsync_path (parent, error);
}

/* What a stat says about a file or directory: mtime (ns), size, inode.
 * "-" for a missing file. *@recent: the mtime is less than a second
 * older than the clock before the stat (or in the future), so another
 * change after the stat may leave the same mtime. */
char *
maildir_stamp_of (const char *path, gboolean *recent)
{
  gint64 now = g_get_real_time ();
  struct stat st;

  if (recent != NULL)
    *recent = FALSE;
  if (stat (path, &st) < 0)
    return g_strdup ("-");
  if (recent != NULL)
    {
      gint64 mtime = (gint64) st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;

      /* File times come from the kernel's coarse clock (a tick of 1 to
       * 10 ms) or are whole seconds: a change later in the same second
       * may leave the same mtime. */
      *recent = now - mtime < G_USEC_PER_SEC;
    }
  return g_strdup_printf ("%lld.%09ld:%lld:%llu", (long long) st.st_mtim.tv_sec,
                          (long) st.st_mtim.tv_nsec, (long long) st.st_size,
                          (unsigned long long) st.st_ino);
}

char *
maildir_folder_path (const MaildirFolder *folder, const char *a, const char *b)
{
  return g_build_filename (folder->dir, a, b, NULL);
}

void
maildir_folder_clear (MaildirFolder *folder)
{
  g_clear_pointer (&folder->name, g_free);
  g_clear_pointer (&folder->dir, g_free);
  g_clear_pointer (&folder->guid, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (folder->stamps); i++)
    g_clear_pointer (&folder->stamps[i], g_free);
  g_warn_if_fail (folder->lock_path == NULL);
}

/* ------------------------------------------------------------------ */
/* the dotlock (Dovecot's dovecot-uidlist.lock)                        */
/* ------------------------------------------------------------------ */

static gboolean
lock_is_stale (const char *path)
{
  g_autofree char *content = NULL;
  struct stat st;
  char *colon;

  if (stat (path, &st) < 0)
    return FALSE;
  if (time (NULL) - st.st_mtime > LOCK_STALE_SECONDS)
    return TRUE;
  if (!g_file_get_contents (path, &content, NULL, NULL))
    return FALSE;
  colon = strchr (content, ':');
  if (colon != NULL)
    {
      long pid = strtol (content, NULL, 10);

      g_strchomp (colon + 1);
      /* A process of this host that no longer exists. */
      if (pid > 0 && strcmp (colon + 1, g_get_host_name ()) == 0 && kill ((pid_t) pid, 0) < 0 &&
          errno == ESRCH)
        return TRUE;
    }
  return FALSE;
}

/* Takes the folder's dotlock. The lock file appears with its content
 * ("pid:host") already in it: written to a temporary file first, then
 * hard-linked to the lock name (which fails if it exists), as Dovecot's
 * dotlocks do. So a process killed while taking it never leaves an empty
 * lock file that nobody could tell is stale. */
gboolean
maildir_folder_lock (MaildirFolder *folder, GError **error)
{
  static gint counter;
  g_autofree char *path = g_build_filename (folder->dir, MAILDIR_LOCK_NAME, NULL);
  g_autofree char *content = g_strdup_printf ("%d:%s", (int) getpid (), g_get_host_name ());
  g_autofree char *tmp = NULL;
  gint64 deadline = g_get_monotonic_time () + LOCK_TIMEOUT_US;
  gulong wait = 1000;
  int fd;
  gboolean ok;

  if (folder->lock_path != NULL)
    return TRUE;
  tmp = g_strdup_printf ("%s.%d.%d.tmp", path, (int) getpid (), g_atomic_int_add (&counter, 1));
  fd = open (tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return maildir_set_errno_error (error, errno, "cannot create", tmp);
  ok = write (fd, content, strlen (content)) == (gssize) strlen (content);
  if (close (fd) < 0 || !ok)
    {
      int errsv = errno;

      g_unlink (tmp);
      return maildir_set_errno_error (error, errsv, "cannot write", tmp);
    }
  for (;;)
    {
      int rc = link (tmp, path);

      if (rc < 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS))
        {
          /* No hard links here: an exclusive create, then the content. */
          fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
          rc = fd < 0 ? -1 : 0;
          if (fd >= 0)
            {
              ok = write (fd, content, strlen (content)) == (gssize) strlen (content);
              close (fd);
            }
        }
      if (rc == 0)
        {
          g_unlink (tmp);
          folder->lock_path = g_steal_pointer (&path);
          return TRUE;
        }
      if (errno != EEXIST)
        {
          int errsv = errno;

          g_unlink (tmp);
          return maildir_set_errno_error (error, errsv, "cannot create", path);
        }
      if (lock_is_stale (path))
        {
          g_message ("removing stale lock %s", path);
          g_unlink (path);
          continue;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_unlink (tmp);
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_TEMPORARY, "%s is locked", path);
          return FALSE;
        }
      g_usleep (wait);
      wait = MIN (wait * 2, 50000);
    }
}

void
maildir_folder_unlock (MaildirFolder *folder)
{
  if (folder->lock_path == NULL)
    return;
  g_unlink (folder->lock_path);
  g_clear_pointer (&folder->lock_path, g_free);
}

/* ------------------------------------------------------------------ */
/* what crashed writers leave behind                                   */
/* ------------------------------------------------------------------ */

/* Microseconds since the later of a file's mtime and ctime. The ctime
 * counts because a delivery sets its tmp/ file's mtime to the internal
 * date, which may be years back, and doing so sets the ctime to now. */
static gint64
untouched_for (const struct stat *st)
{
  gint64 mtime = (gint64) st->st_mtim.tv_sec * G_USEC_PER_SEC + st->st_mtim.tv_nsec / 1000;
  gint64 ctime = (gint64) st->st_ctim.tv_sec * G_USEC_PER_SEC + st->st_ctim.tv_nsec / 1000;

  return g_get_real_time () - MAX (mtime, ctime);
}

static void
remove_leftover (const char *path, const char *why)
{
  if (g_unlink (path) == 0)
    g_message ("removed %s (%s)", path, why);
  else if (errno != ENOENT)
    g_warning ("cannot remove %s: %s", path, g_strerror (errno));
}

/* "NAME.PID.tmp" or "NAME.PID.N.tmp": the temporary file of
 * maildir_replace_file() or of the dotlock for control file NAME. */
static gboolean
is_temp_of (const char *file, const char *name)
{
  gsize len = strlen (name);
  const char *p = file + len;

  if (strncmp (file, name, len) != 0 || *p != '.' || !g_ascii_isdigit (p[1]))
    return FALSE;
  for (p++; g_ascii_isdigit (*p) || (*p == '.' && g_ascii_isdigit (p[1])); p++)
    ;
  return strcmp (p, ".tmp") == 0;
}

void
maildir_folder_clean_temp (const MaildirFolder *folder, gint64 max_age)
{
  static const char *const control[] = { MAILDIR_UIDLIST_NAME, MAILDIR_KEYWORDS_NAME, "subscriptions" };
  g_autofree char *tmp = maildir_folder_path (folder, "tmp", NULL);
  g_autoptr(GDir) dir = g_dir_open (tmp, 0, NULL);
  const char *name;

  /* The Maildir spec: a file in tmp/ untouched for 36 hours is garbage
   * (a writer that died before its rename). */
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tmp, name, NULL);
      struct stat st;

      if (lstat (path, &st) == 0 && S_ISREG (st.st_mode) && untouched_for (&st) > max_age * G_USEC_PER_SEC)
        remove_leftover (path, "an old file in tmp/");
    }
  g_clear_pointer (&dir, g_dir_close);

  /* The dotlock's temporary files, stale as a lock would be (their
   * content is the lock's "pid:host"), and temporary copies of control
   * files older than @max_age. */
  dir = g_dir_open (folder->dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      struct stat st;

      if (!g_str_has_suffix (name, ".tmp"))
        continue;
      path = g_build_filename (folder->dir, name, NULL);
      if (lstat (path, &st) < 0 || !S_ISREG (st.st_mode))
        continue;
      if (is_temp_of (name, MAILDIR_LOCK_NAME))
        {
          if (lock_is_stale (path))
            remove_leftover (path, "a stale dotlock temporary file");
          continue;
        }
      for (guint i = 0; i < G_N_ELEMENTS (control); i++)
        if (is_temp_of (name, control[i]) && untouched_for (&st) > max_age * G_USEC_PER_SEC)
          remove_leftover (path, "an old temporary file");
    }
}

/* ------------------------------------------------------------------ */
/* control files                                                       */
/* ------------------------------------------------------------------ */

/* Writes @path through a temporary file and rename (atomic for readers). */
gboolean
maildir_replace_file (const char *path, const char *data, gsize len, gboolean durable, GError **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.%d.tmp", path, (int) getpid ());
  int fd = open (tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  gsize done = 0;

  if (fd < 0)
    return maildir_set_errno_error (error, errno, "cannot create", tmp);
  while (done < len)
    {
      gssize n = write (fd, data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;

          close (fd);
          g_unlink (tmp);
          return maildir_set_errno_error (error, errsv, "cannot write", tmp);
        }
      done += (gsize) n;
    }
  if ((durable && fsync (fd) < 0) || close (fd) < 0 || rename (tmp, path) < 0)
    {
      int errsv = errno;

      g_unlink (tmp);
      return maildir_set_errno_error (error, errsv, "cannot write", path);
    }
  return TRUE;
}

/* Rewrites dovecot-uidlist from the index (under the folder's lock). */
gboolean
maildir_uidlist_write (MaildirUser *u, MaildirFolder *f, GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *path = maildir_folder_path (f, MAILDIR_UIDLIST_NAME, NULL);
  sqlite3_stmt *stmt = maildir_db_stmt (u, "SELECT uid, base FROM messages WHERE folder_id = ?1 ORDER BY uid",
                                        error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  g_string_append_printf (out, "3 V%u N%u G%s\n", f->uidvalidity, f->uidnext,
                          f->guid != NULL ? f->guid : "");
  sqlite3_bind_int64 (stmt, 1, f->id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_string_append_printf (out, "%u :%s\n", (guint32) sqlite3_column_int64 (stmt, 0),
                            (const char *) sqlite3_column_text (stmt, 1));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return maildir_db_error (u, rc, error);
  if (!maildir_replace_file (path, out->str, out->len, FALSE, error))
    return FALSE;
  g_free (f->stamps[MAILDIR_STAMP_UIDLIST]);
  f->stamps[MAILDIR_STAMP_UIDLIST] = maildir_stamp_of (path, NULL);
  return TRUE;
}

/* Appends records for new messages, as Dovecot does between rewrites. */
gboolean
maildir_uidlist_append (MaildirFolder *f, GString *lines, GError **error)
{
  g_autofree char *path = maildir_folder_path (f, MAILDIR_UIDLIST_NAME, NULL);
  int fd;
  gboolean ok;

  if (lines->len == 0)
    return TRUE;
  fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0)
    return maildir_set_errno_error (error, errno, "cannot open", path);
  ok = write (fd, lines->str, lines->len) == (gssize) lines->len;
  close (fd);
  if (!ok)
    return maildir_set_errno_error (error, errno, "cannot write", path);
  g_free (f->stamps[MAILDIR_STAMP_UIDLIST]);
  f->stamps[MAILDIR_STAMP_UIDLIST] = maildir_stamp_of (path, NULL);
  return TRUE;
}

/* Rewrites dovecot-keywords: the first 26 keywords have letters. */
gboolean
maildir_keywords_write (MaildirUser *u, MaildirFolder *f, GError **error)
{
  g_autoptr(GPtrArray) names = maildir_keywords_list (u, f->id, error);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *path = maildir_folder_path (f, MAILDIR_KEYWORDS_NAME, NULL);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i + 1 < names->len && i < 26; i++)
    if (strcmp (names->pdata[i], "$unused") != 0)
      g_string_append_printf (out, "%u %s\n", i, (const char *) names->pdata[i]);
  if (!maildir_replace_file (path, out->str, out->len, FALSE, error))
    return FALSE;
  g_free (f->stamps[MAILDIR_STAMP_KEYWORDS]);
  f->stamps[MAILDIR_STAMP_KEYWORDS] = maildir_stamp_of (path, NULL);
  return TRUE;
}

/* Adds keywords of dovecot-keywords the index does not know, at their
 * index when it is free (so that letters and indexes agree). */
gboolean
maildir_keywords_merge (MaildirUser *u, MaildirFolder *f, gboolean *keywords_added, GError **error)
{
  g_autofree char *path = maildir_folder_path (f, MAILDIR_KEYWORDS_NAME, NULL);
  g_autofree char *data = NULL;
  g_autoptr(GPtrArray) file = NULL;
  g_autoptr(GPtrArray) known = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, NULL))
    return TRUE;
  file = maildir_keywords_parse (data, len);
  known = maildir_keywords_list (u, f->id, error);
  if (known == NULL)
    return FALSE;
  for (guint i = 0; i < file->len; i++)
    {
      const char *name = file->pdata[i];
      gboolean have = FALSE;

      if (name == NULL)
        continue;
      for (guint j = 0; j + 1 < known->len && !have; j++)
        have = g_ascii_strcasecmp (known->pdata[j], name) == 0;
      if (have)
        continue;
      if (i + 1 < known->len)
        {
          /* The index is taken: a new index (and letter) for the name. */
          guint32 idx;

          if (!maildir_keyword_index (u, f->id, name, &idx, keywords_added, error))
            return FALSE;
        }
      else
        {
          sqlite3_stmt *stmt = maildir_db_stmt (u, "INSERT INTO keywords (folder_id, idx, name) VALUES (?1, ?2, ?3)",
                                                error);

          if (stmt == NULL)
            return FALSE;
          sqlite3_bind_int64 (stmt, 1, f->id);
          sqlite3_bind_int64 (stmt, 2, i);
          sqlite3_bind_text (stmt, 3, name, -1, SQLITE_STATIC);
          if (!maildir_db_done (u, stmt, error))
            return FALSE;
        }
      g_ptr_array_unref (known);
      known = maildir_keywords_list (u, f->id, error);
      if (known == NULL)
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* message files                                                       */
/* ------------------------------------------------------------------ */

/* A new unique base name: time.MusecPpidQn.host,S=size,W=size. */
char *
maildir_unique_base (guint64 size)
{
  static gint counter;
  gint64 now = g_get_real_time ();
  GString *host = g_string_new (NULL);
  g_autofree char *host_name = NULL;

  for (const char *p = g_get_host_name (); *p != '\0'; p++)
    {
      if (*p == '/')
        g_string_append (host, "\\057");
      else if (*p == ':')
        g_string_append (host, "\\072");
      else if (*p == ',')
        g_string_append (host, "\\054");
      else
        g_string_append_c (host, *p);
    }
  host_name = g_string_free (host, FALSE);
  return g_strdup_printf ("%" G_GINT64_FORMAT ".M%06dP%dQ%d.%s,S=%" G_GUINT64_FORMAT
                          ",W=%" G_GUINT64_FORMAT, now / G_USEC_PER_SEC,
                          (int) (now % G_USEC_PER_SEC), (int) getpid (),
                          g_atomic_int_add (&counter, 1), host_name,
                          size, size);
}

/* Canonical offsets at every LFMAP_STEP file bytes of a file with bare
 * LFs (little-endian guint64 each), and the canonical size. */
static GBytes *
lfmap_compute (const guint8 *data, gsize len, guint64 *canonical_size)
{
  g_autoptr(GByteArray) map = g_byte_array_new ();
  guint64 c = 0;

  for (gsize f = 0; f < len; f++)
    {
      if (f % LFMAP_STEP == 0)
        {
          guint64 le = GUINT64_TO_LE (c);

          g_byte_array_append (map, (const guint8 *) &le, 8);
        }
      if (data[f] == '\n' && (f == 0 || data[f - 1] != '\r'))
        c++;
      c++;
    }
  *canonical_size = c;
  return g_byte_array_free_to_bytes (g_steal_pointer (&map));
}

/* pread() of canonical bytes [offset, offset + length) from a file with
 * bare LFs, starting at the nearest recorded point. */
gssize
maildir_lfmap_read (int fd, const guint8 *map, gsize map_len, guint64 offset, guint8 *buffer,
                    gsize length, GError **error)
{
  gsize n_points = map_len / 8;
  gsize k = 0;
  guint64 c, f;
  gboolean prev_cr = FALSE;
  guint8 block[8192];
  gsize done = 0;

  for (gsize lo = 0, hi = n_points; lo < hi;)
    {
      gsize mid = lo + (hi - lo) / 2;
      guint64 v;

      memcpy (&v, map + mid * 8, 8);
      if (GUINT64_FROM_LE (v) <= offset)
        {
          k = mid;
          lo = mid + 1;
        }
      else
        hi = mid;
    }
  if (n_points == 0)
    return 0;
  memcpy (&c, map + k * 8, 8);
  c = GUINT64_FROM_LE (c);
  f = (guint64) k * LFMAP_STEP;
  if (f > 0)
    {
      guint8 b;

      if (pread (fd, &b, 1, (off_t) f - 1) == 1)
        prev_cr = b == '\r';
    }
  while (done < length)
    {
      gssize n = pread (fd, block, sizeof block, (off_t) f);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          maildir_set_errno_error (error, errno, "cannot read", "message file");
          return -1;
        }
      if (n == 0)
        break;
      for (gssize i = 0; i < n && done < length; i++)
        {
          guint8 b = block[i];

          if (b == '\n' && !prev_cr)
            {
              if (c >= offset)
                buffer[done++] = '\r';
              c++;
              if (done == length)
                break;
            }
          if (c >= offset)
            buffer[done++] = b;
          c++;
          prev_cr = b == '\r';
        }
      f += (guint64) n;
    }
  return (gssize) done;
}

void
maildir_imported_file_clear (MaildirImportedFile *imp)
{
  g_clear_pointer (&imp->lfmap, g_bytes_unref);
  g_clear_pointer (&imp->info, g_bytes_unref);
  g_clear_pointer (&imp->header_text, g_free);
  g_clear_pointer (&imp->body_text, g_free);
}

gboolean
maildir_import_file (const char *path, MaildirImportedFile *imp, GError **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(PosthornMessage) msg = NULL;
  g_autoptr(PosthornMessageInfo) info = NULL;
  const guint8 *data;
  gsize len;
  struct stat st;

  memset (imp, 0, sizeof (*imp));
  if (stat (path, &st) < 0)
    return maildir_set_errno_error (error, errno, "cannot stat", path);
  if (st.st_size == 0)
    bytes = g_bytes_new_static ("", 0);
  else
    {
      mapped = g_mapped_file_new (path, FALSE, error);
      if (mapped == NULL)
        return FALSE;
      bytes = g_mapped_file_get_bytes (mapped);
    }
  data = g_bytes_get_data (bytes, &len);
  imp->file_size = len;
  imp->internal_date = st.st_mtime;
  msg = posthorn_message_new_from_bytes (bytes);
  imp->size = posthorn_message_get_size (msg);
  if (imp->size != len)
    {
      guint64 size;

      imp->lfmap = lfmap_compute (data, len, &size);
      g_warn_if_fail (size == imp->size);
    }
  info = posthorn_message_info_parse (msg, error);
  if (info == NULL)
    return FALSE;
  imp->info = posthorn_message_info_serialize (info);
  if (!posthorn_message_extract_search_text (msg, info, &imp->body_text, &imp->header_text, error))
    {
      maildir_imported_file_clear (imp);
      return FALSE;
    }
  return TRUE;
}

