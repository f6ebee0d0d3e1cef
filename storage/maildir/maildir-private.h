/* storage-maildir: shared between its files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------ */
/* maildir-names.c: pure functions over names and control files        */
/* ------------------------------------------------------------------ */

/* Maildir++ folder directory (relative to the user's root) of mailbox
 * @name: "" for INBOX, ".Parent.Child" otherwise. Each component is
 * written in modified UTF-7 (as Dovecot does) with '.' and '\' escaped as
 * "\2e" and "\5c" (Dovecot's listescape form), so any name the core
 * accepts has exactly one directory. */
char *maildir_name_to_dir (const char *name);

/* The mailbox name of a root entry ".Parent.Child" (decoded as above), or
 * NULL if @dir is not a folder directory we can name ("..x", bad UTF-7,
 * empty components). */
char *maildir_dir_to_name (const char *dir);

/* Modified UTF-7 (RFC 3501 5.1.3) of one UTF-8 string, and back (NULL for
 * invalid input). */
char *maildir_mutf7_encode (const char *utf8);
char *maildir_mutf7_decode (const char *mutf7);

/* A message file name "base[:2,FLAGS]". */
typedef struct {
  gsize base_len;       /* bytes of the base (before ':') */
  gboolean has_info;    /* ":2," present */
  guint32 flags;        /* PosthornMessageFlags from D F R S T */
  guint32 keywords;     /* bit i: keyword letter 'a' + i */
  char other[27];       /* other flag letters (e.g. P), kept on rename */
  guint64 size;         /* ",S=" value or 0 */
  guint64 vsize;        /* ",W=" value or 0 */
} MaildirFileName;

/* Parses a file name found in cur/ or new/. FALSE for names that are not
 * Maildir messages: empty or starting with '.', no "<digits>." time
 * prefix, a '/' or a control character, an info part other than ":2,"
 * followed by letters. Pure. */
gboolean maildir_filename_parse (const char *filename, MaildirFileName *out);

/* "base:2,LETTERS": system flags, @other and keyword letters in ASCII
 * order, as the Maildir spec asks. */
char *maildir_filename_compose (const char *base, gsize base_len, guint32 flags,
                                guint32 keywords, const char *other);

/* dovecot-uidlist (version 3): "3 V<uidvalidity> N<nextuid> G<guid>",
 * then "<uid> [<ext> ...] :<base>" lines. Only the fields we need. */
typedef struct {
  guint32 uid;
  char *base;
} MaildirUidlistEntry;

typedef struct {
  guint32 uidvalidity;
  guint32 next_uid;     /* max(N, last UID + 1) */
  char *guid;           /* hex, or NULL */
  GArray *entries;      /* MaildirUidlistEntry, in file order */
} MaildirUidlist;

/* FALSE (with POSTHORN_ERROR_INVALID) for a header we do not understand;
 * bad record lines are skipped. */
gboolean maildir_uidlist_parse (const char *data, gsize length, MaildirUidlist *out,
                                GError **error);
void maildir_uidlist_clear (MaildirUidlist *list);

/* dovecot-keywords: "<index> <name>" lines. Returns names by index
 * (holes are NULL), at most 26 (the letters a..z). */
GPtrArray *maildir_keywords_parse (const char *data, gsize length);

/* The subscriptions file: Dovecot 2.3 writes "V\t2\n\n" then one name a
 * line with '\t' between hierarchy levels; version 1 files hold one name a
 * line with '.' between levels. Names come back with '/'. */
GPtrArray *maildir_subscriptions_parse (const char *data, gsize length);
char *maildir_subscriptions_format (const char *const *names, guint n);

/* %u (the whole user name), %n (the part before '@', or the whole name),
 * %d (the part after '@', or ""), %% ('%') in @pattern. NULL (with
 * POSTHORN_ERROR_INVALID) if the result would leave its directory: a user
 * name with '/', a component "." or "..", or a control character. */
char *maildir_expand_path (const char *pattern, const char *user, GError **error);

/* ------------------------------------------------------------------ */
/* maildir-store.c                                                     */
/* ------------------------------------------------------------------ */

typedef struct _MaildirStore MaildirStore;
typedef struct _MaildirWatch MaildirWatch;

MaildirStore *maildir_store_new (const char *path_pattern, GError **error);
void maildir_store_free (MaildirStore *store);

/* Rescans a watched folder after inotify saw a change (watch thread). */
void maildir_store_rescan (MaildirStore *store, const char *user, const char *name);

extern const PosthornStoreVTable maildir_store_vtable;

/* ------------------------------------------------------------------ */
/* maildir-watch.c: inotify on cur/ and new/ of selected folders       */
/* ------------------------------------------------------------------ */

/* Starts the watch thread; NULL (with a warning logged) if inotify is not
 * available: changes are then seen on the next command only. */
MaildirWatch *maildir_watch_new (MaildirStore *store);
void maildir_watch_free (MaildirWatch *watch);
/* Watches @dir (a folder directory) for @user's mailbox @name; no-op when
 * already watched. Any thread. */
void maildir_watch_add (MaildirWatch *watch, const char *user, const char *name,
                        const char *dir);
/* Forgets the watches of @user's folders (after delete/rename). */
void maildir_watch_forget_user (MaildirWatch *watch, const char *user);

G_END_DECLS
