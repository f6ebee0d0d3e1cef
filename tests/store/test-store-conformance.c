/* The storage conformance suite: every storage plugin must pass it.
 *
 *   test-store-conformance --store storage-sqlite [--set group.key=value]...
 *
 * Each test loads the daemon (the real plugin loader) with the store under
 * test in a fresh state directory and talks to it through the public,
 * asynchronous store API only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store-test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  char *dir;
  PosthornStoreUser *user;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("posthorn-store-XXXXXX", &error);
  g_assert_no_error (error);
  store_test_load (f->dir);
  f->user = store_test_open_user ("alice@example.org");
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  rm_rf (f->dir);
  g_free (f->dir);
}

/* Unloads and loads the daemon again on the same state (a restart). */
static void
fixture_restart (Fixture *f)
{
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (f->dir);
  f->user = store_test_open_user ("alice@example.org");
}

static char *
make_message (const char *subject, const char *body)
{
  return g_strdup_printf ("From: Bob <bob@example.org>\r\n"
                          "To: Alice <alice@example.org>\r\n"
                          "Subject: %s\r\n"
                          "Date: Mon, 2 Jan 2023 10:00:00 +0100\r\n"
                          "Message-ID: <%s@example.org>\r\n"
                          "\r\n"
                          "%s\r\n", subject, subject, body);
}

static guint32
append_text (Fixture *f, const char *mailbox, const char *subject)
{
  g_autofree char *msg = make_message (subject, "Hello.");

  return store_test_append_simple (f->user, mailbox, msg);
}

static gboolean
create_mailbox (Fixture *f, const char *name, GError **error)
{
  GAsyncResult *res = NULL;

  posthorn_store_create_async (f->user, name, 0, NULL, store_test_result_cb, &res);
  return store_test_mailbox_op_wait (&res, error);
}

static PosthornMailboxList *
list_mailboxes (Fixture *f)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornMailboxList *list;

  posthorn_store_list_async (f->user, NULL, store_test_result_cb, &res);
  list = posthorn_store_list_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  return list;
}

static PosthornMailboxStatus
mailbox_status (Fixture *f, const char *name)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornMailboxStatus status = { 0 };

  posthorn_store_status_async (f->user, name, NULL, store_test_result_cb, &res);
  g_assert_true (posthorn_store_status_finish (store_test_wait (&res), &status, &error));
  g_assert_no_error (error);
  return status;
}

static PosthornMailboxView *
open_view (Fixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;
  PosthornMailboxView *view = store_test_open_view (f->user, name, POSTHORN_VIEW_READ_WRITE, &error);

  g_assert_no_error (error);
  return view;
}

static PosthornStoreChanges *
store_flags (Fixture *f, const char *mailbox, guint32 uid, PosthornFlagsMode mode, guint32 flags,
             const char *const *keywords, guint64 unchangedsince)
{
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornStoreChanges *changes;

  posthorn_store_store_flags_async (f->user, mailbox, 0, &uid, 1, mode, flags, keywords,
                                    unchangedsince, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  return changes;
}

static PosthornStoreChanges *
expunge (Fixture *f, const char *mailbox, const guint32 *uids, guint n)
{
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornStoreChanges *changes;

  posthorn_store_expunge_async (f->user, mailbox, 0, uids, n, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  return changes;
}

static PosthornStoreChanges *
copy_messages (Fixture *f, const char *from, const guint32 *uids, guint n, const char *to,
               gboolean move)
{
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornStoreChanges *changes;

  posthorn_store_copy_async (f->user, from, 0, uids, n, to, move, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  return changes;
}

static PosthornStoreFetch *
fetch (Fixture *f, const char *mailbox, const guint32 *uids, guint n)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  PosthornStoreFetch *result;

  posthorn_store_fetch_async (f->user, mailbox, 0, uids, n, NULL, store_test_result_cb, &res);
  result = posthorn_store_fetch_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  return result;
}

static void
assert_message_equals (Fixture *f, const char *mailbox, guint32 uid, GBytes *expected, gsize piece)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = store_test_read_all (f->user, mailbox, 0, uid, piece, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (got), ==, g_bytes_get_size (expected));
  g_assert_true (g_bytes_equal (got, expected));
}

/* ---- users and the mailbox tree ---- */

static void
test_user_special_use (Fixture *f, gconstpointer data)
{
  g_autoptr(PosthornMailboxList) list = list_mailboxes (f);
  static const struct { const char *name; PosthornSpecialUse use; } expected[] = {
    { "INBOX", POSTHORN_SPECIAL_USE_NONE },
    { "Sent", POSTHORN_SPECIAL_USE_SENT },
    { "Drafts", POSTHORN_SPECIAL_USE_DRAFTS },
    { "Trash", POSTHORN_SPECIAL_USE_TRASH },
    { "Junk", POSTHORN_SPECIAL_USE_JUNK },
    { "Archive", POSTHORN_SPECIAL_USE_ARCHIVE },
  };

  g_assert_cmpuint (posthorn_mailbox_list_get_count (list), ==, G_N_ELEMENTS (expected));
  g_assert_cmpstr (posthorn_mailbox_list_get (list, 0)->name, ==, "INBOX");
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      const PosthornMailboxEntry *e = posthorn_mailbox_list_lookup (list, expected[i].name);

      g_assert_nonnull (e);
      g_assert_true (e->exists);
      g_assert_true (e->subscribed);
      g_assert_cmpint (e->special_use, ==, expected[i].use);
    }

  /* Opening again (the next login) changes nothing. */
  fixture_restart (f);
  {
    g_autoptr(PosthornMailboxList) again = list_mailboxes (f);

    g_assert_cmpuint (posthorn_mailbox_list_get_count (again), ==, G_N_ELEMENTS (expected));
  }
}

static void
test_mailbox_create_delete (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *res = NULL;

  g_assert_true (create_mailbox (f, "Work/2024/Q1", &error));
  g_assert_no_error (error);
  g_assert_false (create_mailbox (f, "Work/2024/Q1", &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (create_mailbox (f, "Ünïcødé ✉", &error));
  g_assert_no_error (error);

  {
    g_autoptr(PosthornMailboxList) list = list_mailboxes (f);
    const PosthornMailboxEntry *work = posthorn_mailbox_list_lookup (list, "Work");

    g_assert_nonnull (work);
    g_assert_true (work->exists);      /* parents are created too */
    g_assert_true (work->has_children);
    g_assert_nonnull (posthorn_mailbox_list_lookup (list, "Work/2024/Q1"));
    g_assert_false (posthorn_mailbox_list_lookup (list, "Work/2024/Q1")->has_children);
    g_assert_nonnull (posthorn_mailbox_list_lookup (list, "Ünïcødé ✉"));
  }

  append_text (f, "Work", "in work");
  posthorn_store_delete_async (f->user, "Work", NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  g_assert_no_error (error);
  {
    g_autoptr(PosthornMailboxList) list = list_mailboxes (f);
    const PosthornMailboxEntry *work = posthorn_mailbox_list_lookup (list, "Work");

    /* Its children stay; the parent shows as non-existent. */
    g_assert_nonnull (work);
    g_assert_false (work->exists);
    g_assert_true (work->has_children);
    g_assert_true (posthorn_mailbox_list_lookup (list, "Work/2024")->exists);
  }

  posthorn_store_delete_async (f->user, "inbox", NULL, store_test_result_cb, &res);
  g_assert_false (store_test_mailbox_op_wait (&res, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION);
  g_clear_error (&error);

  posthorn_store_delete_async (f->user, "Nope", NULL, store_test_result_cb, &res);
  g_assert_false (store_test_mailbox_op_wait (&res, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
}

static void
test_mailbox_bad_names (Fixture *f, gconstpointer data)
{
  g_autofree char *long_name = g_strnfill (1025, 'a');
  const char *bad[] = { "a/../b", "..", "a/./b", "a\tb", "a\x7f", "a\r\nb", "/a", "a/", "a//b",
                        "", "\xff\xfe", "a*", "b%", long_name };
  g_autoptr(PosthornMailboxList) before = list_mailboxes (f);
  g_autofree char *db_before = NULL;
  g_autofree char *db_path = g_build_filename (f->dir, "mail.db", NULL);
  gsize before_len = 0;

  g_file_get_contents (db_path, &db_before, &before_len, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      GAsyncResult *res = NULL;

      g_assert_false (create_mailbox (f, bad[i], &error));
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
      g_clear_error (&error);

      posthorn_store_rename_async (f->user, "Sent", bad[i], NULL, store_test_result_cb, &res);
      g_assert_false (store_test_mailbox_op_wait (&res, &error));
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
  {
    /* A NUL cannot pass through a C string: the name ends there and what
     * is left ("a") is fine; a name that is only a NUL is empty. */
    g_autoptr(GError) error = NULL;

    g_assert_false (create_mailbox (f, "\0abc", &error));
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
  }
  {
    g_autoptr(PosthornMailboxList) after = list_mailboxes (f);
    g_autofree char *db_after = NULL;
    gsize after_len = 0;

    g_assert_cmpuint (posthorn_mailbox_list_get_count (after), ==,
                      posthorn_mailbox_list_get_count (before));
    if (db_before != NULL && g_file_get_contents (db_path, &db_after, &after_len, NULL))
      {
        g_assert_cmpuint (after_len, ==, before_len);
        g_assert_true (memcmp (db_before, db_after, before_len) == 0);
      }
  }
}

static void
test_mailbox_rename (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *res = NULL;
  guint32 uid1, uid2;
  PosthornMailboxStatus before, after;

  g_assert_true (create_mailbox (f, "Projects/Alpha", &error));
  uid1 = append_text (f, "Projects", "p1");
  uid2 = append_text (f, "Projects/Alpha", "a1");
  g_autoptr(PosthornStoreChanges) c = store_flags (f, "Projects", uid1, POSTHORN_FLAGS_ADD,
                                                   POSTHORN_MESSAGE_FLAGGED, NULL, 0);
  before = mailbox_status (f, "Projects");

  posthorn_store_subscribe_async (f->user, "Projects/Alpha", TRUE, NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));

  posthorn_store_rename_async (f->user, "Projects", "Archive/Old Projects", NULL,
                               store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  g_assert_no_error (error);

  after = mailbox_status (f, "Archive/Old Projects");
  g_assert_cmpuint (after.uidvalidity, ==, before.uidvalidity);
  g_assert_cmpuint (after.uidnext, ==, before.uidnext);
  g_assert_cmpuint (after.messages, ==, 1);
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "Archive/Old Projects");
    g_autoptr(PosthornMailboxView) child = open_view (f, "Archive/Old Projects/Alpha");
    g_autoptr(PosthornMailboxList) list = list_mailboxes (f);

    g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, uid1);
    g_assert_true (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_FLAGGED);
    g_assert_cmpuint (posthorn_mailbox_view_get_uid (child, 1), ==, uid2);
    g_assert_null (posthorn_mailbox_list_lookup (list, "Projects"));
    g_assert_null (posthorn_mailbox_list_lookup (list, "Projects/Alpha"));
    g_assert_true (posthorn_mailbox_list_lookup (list, "Archive/Old Projects/Alpha")->subscribed);
  }

  /* Onto an existing name, or below itself: refused. */
  posthorn_store_rename_async (f->user, "Sent", "Trash", NULL, store_test_result_cb, &res);
  g_assert_false (store_test_mailbox_op_wait (&res, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS);
  g_clear_error (&error);
  posthorn_store_rename_async (f->user, "Sent", "Sent/Sub", NULL, store_test_result_cb, &res);
  g_assert_false (store_test_mailbox_op_wait (&res, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
}

static void
test_mailbox_rename_inbox (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *res = NULL;
  guint32 uid = append_text (f, "INBOX", "old inbox");
  PosthornMailboxStatus inbox_before = mailbox_status (f, "INBOX");

  posthorn_store_rename_async (f->user, "INBOX", "Old Mail", NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  g_assert_no_error (error);
  {
    PosthornMailboxStatus moved = mailbox_status (f, "Old Mail");
    PosthornMailboxStatus inbox = mailbox_status (f, "INBOX");
    g_autoptr(PosthornMailboxView) view = open_view (f, "Old Mail");

    g_assert_cmpuint (moved.messages, ==, 1);
    g_assert_cmpuint (moved.uidvalidity, ==, inbox_before.uidvalidity);
    g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, uid);
    g_assert_cmpuint (inbox.messages, ==, 0);
    g_assert_cmpuint (inbox.uidvalidity, !=, inbox_before.uidvalidity);
  }
}

static void
test_mailbox_subscriptions (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *res = NULL;

  posthorn_store_subscribe_async (f->user, "Not/There", TRUE, NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  posthorn_store_subscribe_async (f->user, "Sent", FALSE, NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  g_assert_no_error (error);
  {
    g_autoptr(PosthornMailboxList) list = list_mailboxes (f);
    const PosthornMailboxEntry *e = posthorn_mailbox_list_lookup (list, "Not/There");

    g_assert_nonnull (e);
    g_assert_false (e->exists);
    g_assert_true (e->subscribed);
    g_assert_false (posthorn_mailbox_list_lookup (list, "Sent")->subscribed);
  }
}

/* ---- UIDs, UIDVALIDITY, MODSEQ ---- */

static void
test_uid_never_reused (Fixture *f, gconstpointer data)
{
  guint32 uids[5];
  guint32 top;
  PosthornMailboxStatus status;

  for (guint i = 0; i < G_N_ELEMENTS (uids); i++)
    {
      g_autofree char *subject = g_strdup_printf ("m%u", i);

      uids[i] = append_text (f, "INBOX", subject);
      if (i > 0)
        g_assert_cmpuint (uids[i], >, uids[i - 1]);
    }
  top = uids[4];
  g_autoptr(PosthornStoreChanges) c1 = store_flags (f, "INBOX", top, POSTHORN_FLAGS_ADD,
                                                    POSTHORN_MESSAGE_DELETED, NULL, 0);
  g_autoptr(PosthornStoreChanges) c2 = expunge (f, "INBOX", NULL, 0);
  g_assert_cmpuint (posthorn_store_changes_get_count (c2), ==, 1);
  g_assert_cmpuint (posthorn_store_changes_get (c2, 0)->uid, ==, top);

  fixture_restart (f);
  status = mailbox_status (f, "INBOX");
  g_assert_cmpuint (status.uidnext, ==, top + 1);
  g_assert_cmpuint (append_text (f, "INBOX", "after restart"), ==, top + 1);
}

static void
test_uidvalidity (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GAsyncResult *res = NULL;
  PosthornMailboxStatus a, b, c;

  g_assert_true (create_mailbox (f, "Lists", &error));
  a = mailbox_status (f, "Lists");
  g_assert_cmpuint (a.uidvalidity, >, 0);
  fixture_restart (f);
  b = mailbox_status (f, "Lists");
  g_assert_cmpuint (a.uidvalidity, ==, b.uidvalidity);

  posthorn_store_delete_async (f->user, "Lists", NULL, store_test_result_cb, &res);
  g_assert_true (store_test_mailbox_op_wait (&res, &error));
  g_assert_true (create_mailbox (f, "Lists", &error));
  c = mailbox_status (f, "Lists");
  g_assert_cmpuint (c.uidvalidity, >, b.uidvalidity);

  /* An operation that names the old UIDVALIDITY does not touch the new
   * mailbox. */
  {
    guint32 uid = append_text (f, "Lists", "new");

    posthorn_store_store_flags_async (f->user, "Lists", b.uidvalidity, &uid, 1,
                                      POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN, NULL, 0, NULL,
                                      store_test_result_cb, &res);
    g_assert_null (store_test_changes_wait (&res, &error));
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  }
}

static void
test_modseq_increases (Fixture *f, gconstpointer data)
{
  const char *kw[] = { "$Important", NULL };
  guint64 last = mailbox_status (f, "INBOX").highestmodseq;
  guint32 uid = append_text (f, "INBOX", "modseq");
  guint32 other = append_text (f, "INBOX", "other");
  guint64 now;

#define CHECK_INCREASED() \
  now = mailbox_status (f, "INBOX").highestmodseq; \
  g_assert_cmpuint (now, >, last); \
  last = now

  CHECK_INCREASED ();
  posthorn_store_changes_unref (store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN, NULL, 0));
  CHECK_INCREASED ();
  {
    g_autoptr(PosthornStoreChanges) c = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, 0, kw, 0);

    g_assert_cmpuint (posthorn_store_changes_get (c, 0)->modseq, ==, mailbox_status (f, "INBOX").highestmodseq);
  }
  CHECK_INCREASED ();
  {
    /* No change, no new MODSEQ. */
    g_autoptr(PosthornStoreChanges) c = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, 0, kw, 0);

    g_assert_cmpuint (posthorn_store_changes_get_count (c), ==, 0);
    g_assert_cmpuint (mailbox_status (f, "INBOX").highestmodseq, ==, last);
  }
  {
    g_autoptr(PosthornStoreChanges) c1 = store_flags (f, "INBOX", other, POSTHORN_FLAGS_ADD,
                                                      POSTHORN_MESSAGE_DELETED, NULL, 0);
    g_autoptr(PosthornStoreChanges) c2 = expunge (f, "INBOX", NULL, 0);
  }
  CHECK_INCREASED ();
  {
    g_autoptr(PosthornStoreChanges) c = copy_messages (f, "INBOX", &uid, 1, "INBOX", FALSE);
  }
  CHECK_INCREASED ();
#undef CHECK_INCREASED

  /* Every message's MODSEQ is distinct and the view agrees. */
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");

    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 2);
    g_assert_cmpuint (posthorn_mailbox_view_get_modseq (view, 1), !=,
                      posthorn_mailbox_view_get_modseq (view, 2));
    g_assert_cmpuint (posthorn_mailbox_view_get_highestmodseq (view), ==, last);
  }
}

/* ---- flags ---- */

static void
test_flags_round_trip (Fixture *f, gconstpointer data)
{
  const char *kw_a[] = { "$Label1", "Project-X", NULL };
  const char *kw_b[] = { "project-x", NULL };  /* keywords are case-insensitive */
  const char *kw_c[] = { "$Junk", NULL };
  guint32 uid = append_text (f, "INBOX", "flags");
  guint32 all = POSTHORN_MESSAGE_SEEN | POSTHORN_MESSAGE_ANSWERED | POSTHORN_MESSAGE_FLAGGED |
                POSTHORN_MESSAGE_DELETED | POSTHORN_MESSAGE_DRAFT;
  g_autoptr(PosthornStoreChanges) c1 = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_REPLACE, all, kw_a, 0);
  g_autoptr(PosthornStoreChanges) c2 = NULL;
  g_autoptr(PosthornStoreChanges) c3 = NULL;
  g_autoptr(PosthornStoreChanges) c4 = NULL;

  g_assert_cmpuint (posthorn_store_changes_get_count (c1), ==, 1);
  g_assert_cmpuint (posthorn_store_changes_get (c1, 0)->flags, ==, all);
  fixture_restart (f);
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
    const char *const *names = posthorn_mailbox_view_get_keywords (view);
    const guint32 *kw;
    guint n;

    g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_STORED_FLAGS, ==, all);
    kw = posthorn_mailbox_view_get_message_keywords (view, 1, &n);
    g_assert_cmpuint (n, ==, 2);
    g_assert_cmpstr (names[kw[0]], ==, "$Label1");
    g_assert_cmpstr (names[kw[1]], ==, "Project-X");
  }

  c2 = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_REMOVE,
                    POSTHORN_MESSAGE_DELETED | POSTHORN_MESSAGE_DRAFT, kw_b, 0);
  c3 = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, 0, kw_c, 0);
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
    const char *const *names = posthorn_mailbox_view_get_keywords (view);
    const guint32 *kw;
    guint n;

    g_assert_cmpuint (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_STORED_FLAGS, ==,
                      POSTHORN_MESSAGE_SEEN | POSTHORN_MESSAGE_ANSWERED | POSTHORN_MESSAGE_FLAGGED);
    kw = posthorn_mailbox_view_get_message_keywords (view, 1, &n);
    g_assert_cmpuint (n, ==, 2);
    g_assert_cmpstr (names[kw[0]], ==, "$Label1");
    g_assert_cmpstr (names[kw[1]], ==, "$Junk");
    g_assert_cmpuint (g_strv_length ((char **) names), ==, 3);
  }

  /* Keywords must be atoms and not system flags. */
  {
    const char *bad[][2] = { { "\\Seen", NULL }, { "two words", NULL }, { "par(en", NULL },
                             { "", NULL }, { "k\xc3\xa4se", NULL } };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        GAsyncResult *res = NULL;
        g_autoptr(GError) error = NULL;

        posthorn_store_store_flags_async (f->user, "INBOX", 0, &uid, 1, POSTHORN_FLAGS_ADD, 0,
                                          bad[i], 0, NULL, store_test_result_cb, &res);
        g_assert_null (store_test_changes_wait (&res, &error));
        g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
        g_clear_error (&error);
        g_assert_null (store_test_append (f->user, "INBOX", "a: b\r\n\r\n", 8, 0, bad[i], 0, &error));
        g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
      }
  }

  /* UNCHANGEDSINCE below the message's MODSEQ: refused and reported. */
  {
    guint64 modseq = mailbox_status (f, "INBOX").highestmodseq;

    c4 = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_REPLACE, 0, NULL, modseq - 1);
    g_assert_cmpuint (posthorn_store_changes_get_count (c4), ==, 0);
    {
      guint n;
      const guint32 *modified = posthorn_store_changes_get_modified (c4, &n);

      g_assert_cmpuint (n, ==, 1);
      g_assert_cmpuint (modified[0], ==, uid);
    }
    g_clear_pointer (&c4, posthorn_store_changes_unref);
    c4 = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_REPLACE, 0, NULL, modseq);
    g_assert_cmpuint (posthorn_store_changes_get_count (c4), ==, 1);
  }
}

/* ---- copy, move, expunge ---- */

static void
test_copy_move (Fixture *f, gconstpointer data)
{
  const char *kw[] = { "$Forwarded", NULL };
  g_autofree char *text = make_message ("copy me", "body");
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) appended =
    store_test_append (f->user, "INBOX", text, strlen (text), POSTHORN_MESSAGE_FLAGGED, kw,
                       1000000000, &error);
  guint32 uid = posthorn_store_changes_get (appended, 0)->uid;
  guint32 second = append_text (f, "INBOX", "second");
  guint32 both[] = { uid, second };
  g_autoptr(PosthornStoreChanges) copied = NULL;
  g_autoptr(PosthornStoreChanges) moved = NULL;
  g_autoptr(GBytes) expected = g_bytes_new (text, strlen (text));

  append_text (f, "Archive", "already there");
  copied = copy_messages (f, "INBOX", both, 2, "Archive", FALSE);
  g_assert_cmpuint (posthorn_store_changes_get_count (copied), ==, 2);
  {
    const PosthornStoreChange *c = posthorn_store_changes_get (copied, 0);
    PosthornMailboxStatus archive = mailbox_status (f, "Archive");
    g_autoptr(PosthornStoreFetch) meta = fetch (f, "Archive", &c->uid, 1);
    g_autoptr(PosthornMailboxView) view = open_view (f, "Archive");
    guint seq = posthorn_mailbox_view_lookup_uid (view, c->uid);
    const guint32 *kwi;
    guint n;

    g_assert_cmpint (c->kind, ==, POSTHORN_EVENT_MESSAGE_NEW);
    g_assert_cmpuint (c->src_uid, ==, uid);
    g_assert_cmpuint (c->uidvalidity, ==, archive.uidvalidity);
    g_assert_cmpuint (c->uid, ==, 2);  /* new UIDs in the destination */
    g_assert_cmpuint (posthorn_store_changes_get (copied, 1)->uid, ==, 3);
    g_assert_cmpuint (posthorn_store_changes_get (copied, 1)->src_uid, ==, second);
    g_assert_cmpuint (posthorn_store_fetch_get_count (meta), ==, 1);
    g_assert_cmpint (posthorn_store_fetch_get (meta, 0)->internal_date, ==, 1000000000);
    g_assert_cmpuint (posthorn_store_fetch_get (meta, 0)->size, ==, strlen (text));
    g_assert_true (posthorn_mailbox_view_get_flags (view, seq) & POSTHORN_MESSAGE_FLAGGED);
    kwi = posthorn_mailbox_view_get_message_keywords (view, seq, &n);
    g_assert_cmpuint (n, ==, 1);
    g_assert_cmpstr (posthorn_mailbox_view_get_keywords (view)[kwi[0]], ==, "$Forwarded");
    assert_message_equals (f, "Archive", c->uid, expected, 4096);
  }
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 2);

  moved = copy_messages (f, "INBOX", &uid, 1, "Trash", TRUE);
  g_assert_cmpuint (posthorn_store_changes_get_count (moved), ==, 2);
  {
    const PosthornStoreChange *n = posthorn_store_changes_get (moved, 0);
    const PosthornStoreChange *x = posthorn_store_changes_get (moved, 1);
    g_autoptr(PosthornStoreFetch) meta = fetch (f, "Trash", &n->uid, 1);

    g_assert_cmpint (n->kind, ==, POSTHORN_EVENT_MESSAGE_NEW);
    g_assert_cmpstr (n->mailbox, ==, "Trash");
    g_assert_cmpuint (n->src_uid, ==, uid);
    g_assert_cmpuint (n->flags & POSTHORN_MESSAGE_FLAGGED, !=, 0);
    g_assert_cmpint (x->kind, ==, POSTHORN_EVENT_MESSAGE_EXPUNGED);
    g_assert_cmpuint (x->uid, ==, uid);
    g_assert_cmpint (posthorn_store_fetch_get (meta, 0)->internal_date, ==, 1000000000);
    assert_message_equals (f, "Trash", n->uid, expected, 100);
  }
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 1);

  /* Copying to a mailbox that does not exist fails (IMAP TRYCREATE). */
  {
    GAsyncResult *res = NULL;

    posthorn_store_copy_async (f->user, "INBOX", 0, &second, 1, "Nowhere", FALSE, NULL,
                               store_test_result_cb, &res);
    g_assert_null (store_test_changes_wait (&res, &error));
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  }
}

static void
test_expunge (Fixture *f, gconstpointer data)
{
  guint32 uids[6];
  g_autoptr(PosthornStoreChanges) c = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (uids); i++)
    {
      g_autofree char *subject = g_strdup_printf ("e%u", i);

      uids[i] = append_text (f, "INBOX", subject);
      if (i % 2 == 0)
        posthorn_store_changes_unref (store_flags (f, "INBOX", uids[i], POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0));
    }

  /* An empty UID set expunges nothing (not "everything"). */
  c = expunge (f, "INBOX", uids, 0);
  g_assert_cmpuint (posthorn_store_changes_get_count (c), ==, 0);
  g_clear_pointer (&c, posthorn_store_changes_unref);

  /* UID EXPUNGE: only \Deleted messages of the set (uids[0], [1], [2]). */
  c = expunge (f, "INBOX", uids, 3);
  g_assert_cmpuint (posthorn_store_changes_get_count (c), ==, 2);
  g_assert_cmpuint (posthorn_store_changes_get (c, 0)->uid, ==, uids[0]);
  g_assert_cmpuint (posthorn_store_changes_get (c, 1)->uid, ==, uids[2]);
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 4);
  g_clear_pointer (&c, posthorn_store_changes_unref);

  /* EXPUNGE: every \Deleted one. */
  c = expunge (f, "INBOX", NULL, 0);
  g_assert_cmpuint (posthorn_store_changes_get_count (c), ==, 1);
  g_assert_cmpuint (posthorn_store_changes_get (c, 0)->uid, ==, uids[4]);
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 3);

  /* Reading an expunged message fails cleanly. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) none = store_test_read_all (f->user, "INBOX", 0, uids[0], 100, &error);

    g_assert_null (none);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  }
}

/* ---- bytes ---- */

static void
round_trip (Fixture *f, const void *data, gsize length, gsize piece)
{
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (data, length);
  g_autoptr(GBytes) canonical = posthorn_message_get_bytes (msg, NULL);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;
  guint32 uid;

  posthorn_store_append_async (f->user, "INBOX", msg, 0, NULL, 0, NULL, store_test_result_cb, &res);
  changes = posthorn_store_changes_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  uid = posthorn_store_changes_get (changes, 0)->uid;
  assert_message_equals (f, "INBOX", uid, canonical, piece);
  {
    g_autoptr(PosthornStoreFetch) meta = fetch (f, "INBOX", &uid, 1);

    g_assert_cmpuint (posthorn_store_fetch_get (meta, 0)->size, ==, g_bytes_get_size (canonical));
    g_assert_cmpuint (posthorn_message_info_get_size (posthorn_store_fetch_get (meta, 0)->info), ==,
                      g_bytes_get_size (canonical));
  }
}

static void
test_bytes_8bit (Fixture *f, gconstpointer data)
{
  const char *text = "From: Jürgen <j@example.de>\r\nSubject: Grüße\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n\r\n"
                     "Schöne Grüße, ☃ und \xe9t\xe9 in Latin-1.\r\n";

  round_trip (f, text, strlen (text), 7);
}

static void
test_bytes_tiny (Fixture *f, gconstpointer data)
{
  /* An empty message, one without a header/body separator, a lone CR. */
  round_trip (f, "", 0, 10);
  round_trip (f, "no header at all", 16, 10);
  round_trip (f, "\r", 1, 1);
}

static void
test_bytes_lf_only (Fixture *f, gconstpointer data)
{
  const char *text = "From: a@example.org\nSubject: bare LF\n\nline one\nline two\r\nmixed\n";
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (text, strlen (text));
  g_autoptr(GBytes) canonical = posthorn_message_get_bytes (msg, NULL);

  /* The canonical form the store must return has CR LF everywhere. */
  g_assert_cmpuint (g_bytes_get_size (canonical), ==, strlen (text) + 5);
  round_trip (f, text, strlen (text), 3);
}

static void
test_bytes_binaryish (Fixture *f, gconstpointer data)
{
  g_autoptr(GByteArray) msg = g_byte_array_new ();
  const char *header = "From: a@example.org\r\nSubject: binary\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n";
  GRand *rand = g_rand_new_with_seed (42);

  g_byte_array_append (msg, (const guint8 *) header, (guint) strlen (header));
  for (guint i = 0; i < 700000; i++)
    {
      guint8 b = (guint8) g_rand_int_range (rand, 1, 256);  /* no NUL */

      g_byte_array_append (msg, &b, 1);
    }
  g_rand_free (rand);
  /* Spans chunk boundaries; read in odd pieces. */
  round_trip (f, msg->data, msg->len, 100003);
}

static void
test_bytes_50mb (Fixture *f, gconstpointer data)
{
  gsize size = 50 * 1024 * 1024;
  g_autofree guint8 *buf = g_malloc (size);
  const char *header = "From: a@example.org\r\nSubject: big\r\n"
                       "Content-Type: application/octet-stream\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n\r\n";
  guint32 state = 1;

  memcpy (buf, header, strlen (header));
  for (gsize i = strlen (header); i < size; i++)
    {
      state = state * 1103515245u + 12345u;
      buf[i] = (guint8) (1 + (state >> 16) % 255);
      if (i % 100 == 98)
        buf[i] = '\r';
      else if (i % 100 == 99)
        buf[i] = '\n';
    }
  round_trip (f, buf, size, 1024 * 1024);
}

/* ---- concurrency ---- */

typedef struct {
  guint pending;
  GPtrArray *results;
} ConcurrentState;

static void
concurrent_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ConcurrentState *state = user_data;
  g_autoptr(GError) error = NULL;
  PosthornStoreChanges *changes = posthorn_store_changes_finish (result, &error);

  g_assert_no_error (error);
  g_ptr_array_add (state->results, changes);
  state->pending--;
}

typedef struct {
  GAsyncQueue *queue;
  guint index;
} AppendThread;

/* Two threads produce messages; the loop thread submits them as they
 * come, so that appends from both are in flight on the workers at once. */
static gpointer
append_thread (gpointer data)
{
  AppendThread *t = data;

  for (guint i = 0; i < 40; i++)
    g_async_queue_push (t->queue, g_strdup_printf ("From: t%u@example.org\r\nSubject: thread %u message %u\r\n\r\n%s\r\n",
                                                   t->index, t->index, i, t->index ? "odd" : "even"));
  return NULL;
}

static void
test_concurrent_append (Fixture *f, gconstpointer data)
{
  ConcurrentState state = { 0, g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_store_changes_unref) };
  g_autoptr(GAsyncQueue) queue = g_async_queue_new_full (g_free);
  AppendThread t[2] = { { queue, 0 }, { queue, 1 } };
  GThread *threads[2];
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  guint submitted = 0;

  threads[0] = g_thread_new ("append-0", append_thread, &t[0]);
  threads[1] = g_thread_new ("append-1", append_thread, &t[1]);
  while (submitted < 80)
    {
      g_autofree char *text = g_async_queue_pop (queue);
      g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (text, strlen (text));

      posthorn_store_append_async (f->user, "INBOX", msg, 0, NULL, 0, NULL, concurrent_done, &state);
      state.pending++;
      submitted++;
    }
  g_thread_join (threads[0]);
  g_thread_join (threads[1]);
  while (state.pending > 0)
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < state.results->len; i++)
    {
      guint32 uid = posthorn_store_changes_get (state.results->pdata[i], 0)->uid;

      g_assert_false (g_hash_table_contains (seen, GUINT_TO_POINTER (uid)));
      g_hash_table_add (seen, GUINT_TO_POINTER (uid));
    }
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
    guint even = 0, odd = 0;

    g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 80);
    for (guint seq = 1; seq <= 80; seq++)
      {
        guint32 uid = posthorn_mailbox_view_get_uid (view, seq);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = store_test_read_all (f->user, "INBOX", 0, uid, 4096, &error);
        g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

        g_assert_true (g_hash_table_contains (seen, GUINT_TO_POINTER (uid)));
        if (seq > 1)
          g_assert_cmpuint (uid, >, posthorn_mailbox_view_get_uid (view, seq - 1));
        if (strstr (text, "\r\n\r\neven\r\n"))
          even++;
        else if (strstr (text, "\r\n\r\nodd\r\n"))
          odd++;
      }
    g_assert_cmpuint (even, ==, 40);
    g_assert_cmpuint (odd, ==, 40);
  }
  g_ptr_array_unref (state.results);
}

/* ---- views ---- */

static void
test_view_resync (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) view = NULL;
  g_autoptr(PosthornViewChanges) changes = NULL;
  const char *kw[] = { "NewKeyword", NULL };
  guint32 uids[4];
  const guint *seqs;
  const guint32 *changed;
  guint n;

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *subject = g_strdup_printf ("v%u", i);

      uids[i] = append_text (f, "INBOX", subject);
    }
  view = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 4);
  g_assert_cmpuint (posthorn_mailbox_view_get_uidnext (view), ==, uids[3] + 1);

  changes = store_test_sync_view (view, 0, &error);
  g_assert_no_error (error);
  g_assert_true (posthorn_view_changes_is_empty (changes));
  g_clear_pointer (&changes, posthorn_view_changes_free);

  /* Another session: new mail, a flag change with a new keyword, expunges. */
  append_text (f, "INBOX", "v4");
  posthorn_store_changes_unref (store_flags (f, "INBOX", uids[1], POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN, kw, 0));
  posthorn_store_changes_unref (store_flags (f, "INBOX", uids[0], POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0));
  posthorn_store_changes_unref (store_flags (f, "INBOX", uids[2], POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0));
  posthorn_store_changes_unref (expunge (f, "INBOX", NULL, 0));

  /* During FETCH/STORE/SEARCH the expunges are held back. */
  changes = store_test_sync_view (view, POSTHORN_VIEW_SYNC_NO_EXPUNGE, &error);
  g_assert_no_error (error);
  posthorn_view_changes_get_expunged_seqs (changes, &n);
  g_assert_cmpuint (n, ==, 0);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 1);
  g_assert_true (posthorn_view_changes_get_keywords_changed (changes));
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 5);
  g_clear_pointer (&changes, posthorn_view_changes_free);

  changes = store_test_sync_view (view, 0, &error);
  g_assert_no_error (error);
  seqs = posthorn_view_changes_get_expunged_seqs (changes, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (seqs[0], ==, 3);   /* descending: "* 3 EXPUNGE", "* 1 EXPUNGE" */
  g_assert_cmpuint (seqs[1], ==, 1);
  g_assert_cmpuint (posthorn_view_changes_get_expunged_uids (changes, &n)[0], ==, uids[0]);
  g_assert_cmpuint (posthorn_mailbox_view_get_count (view), ==, 3);
  g_assert_cmpuint (posthorn_mailbox_view_get_uid (view, 1), ==, uids[1]);
  g_assert_true (posthorn_mailbox_view_get_flags (view, 1) & POSTHORN_MESSAGE_SEEN);
  g_assert_cmpuint (posthorn_mailbox_view_get_first_unseen (view), ==, 2);
  g_clear_pointer (&changes, posthorn_view_changes_free);

  /* A flag change alone. */
  posthorn_store_changes_unref (store_flags (f, "INBOX", uids[3], POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_ANSWERED, NULL, 0));
  changes = store_test_sync_view (view, 0, &error);
  changed = posthorn_view_changes_get_changed_uids (changes, &n);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (changed[0], ==, uids[3]);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 0);
  g_assert_true (posthorn_mailbox_view_get_flags (view, 2) & POSTHORN_MESSAGE_ANSWERED);
  g_assert_cmpuint (posthorn_mailbox_view_get_highestmodseq (view), ==,
                    mailbox_status (f, "INBOX").highestmodseq);

  /* The mailbox deleted and re-created under the view: the view is dead. */
  {
    GAsyncResult *res = NULL;
    g_autoptr(PosthornViewChanges) gone = NULL;

    g_assert_true (create_mailbox (f, "Tmp", &error));
    g_clear_pointer (&view, posthorn_mailbox_view_unref);
    view = open_view (f, "Tmp");
    posthorn_store_delete_async (f->user, "Tmp", NULL, store_test_result_cb, &res);
    g_assert_true (store_test_mailbox_op_wait (&res, &error));
    g_assert_true (create_mailbox (f, "Tmp", &error));
    gone = store_test_sync_view (view, 0, &error);
    g_assert_null (gone);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  }
}

/* Two views of the same mailbox agree message by message. */
static void
assert_views_equal (PosthornMailboxView *a, PosthornMailboxView *b, GHashTable *model)
{
  guint n = posthorn_mailbox_view_get_count (a);

  g_assert_cmpuint (posthorn_mailbox_view_get_count (b), ==, n);
  g_assert_cmpuint (g_hash_table_size (model), ==, n);
  g_assert_cmpuint (posthorn_mailbox_view_get_highestmodseq (a), ==,
                    posthorn_mailbox_view_get_highestmodseq (b));
  for (guint seq = 1; seq <= n; seq++)
    {
      guint32 uid = posthorn_mailbox_view_get_uid (a, seq);
      guint32 flags = posthorn_mailbox_view_get_flags (a, seq) & POSTHORN_MESSAGE_STORED_FLAGS;
      const guint32 *ka, *kb;
      guint na, nb;

      g_assert_cmpuint (uid, ==, posthorn_mailbox_view_get_uid (b, seq));
      g_assert_cmpuint (flags, ==, posthorn_mailbox_view_get_flags (b, seq) & POSTHORN_MESSAGE_STORED_FLAGS);
      g_assert_cmpuint (flags, ==, GPOINTER_TO_UINT (g_hash_table_lookup (model, GUINT_TO_POINTER (uid))) & 0xff);
      g_assert_cmpuint (posthorn_mailbox_view_get_modseq (a, seq), ==, posthorn_mailbox_view_get_modseq (b, seq));
      ka = posthorn_mailbox_view_get_message_keywords (a, seq, &na);
      kb = posthorn_mailbox_view_get_message_keywords (b, seq, &nb);
      g_assert_cmpuint (na, ==, nb);
      for (guint k = 0; k < na; k++)
        g_assert_cmpstr (posthorn_mailbox_view_get_keywords (a)[ka[k]], ==,
                         posthorn_mailbox_view_get_keywords (b)[kb[k]]);
      /* the model keeps "has $Tag" in bit 8 */
      g_assert_cmpuint (na, ==, (GPOINTER_TO_UINT (g_hash_table_lookup (model, GUINT_TO_POINTER (uid))) >> 8) & 1);
    }
}

/* Many rounds of changes: a view opened fresh each round (with the SQLite
 * store and small snapshot settings: snapshot plus changes since) and a
 * long-lived view kept in step by resyncs must agree with each other and
 * with what the test did. */
static void
test_view_many_changes (Fixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) model = g_hash_table_new (NULL, NULL);   /* uid -> flags | tag << 8 */
  g_autoptr(PosthornMailboxView) live = NULL;
  const char *tag[] = { "$Tag", NULL };
  GRand *rand = g_rand_new_with_seed (7);

  for (guint round = 0; round < 8; round++)
    {
      g_autoptr(PosthornMailboxView) fresh = NULL;
      g_autoptr(PosthornViewChanges) changes = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GList) uids = NULL;

      for (guint i = 0; i < 12; i++)
        {
          g_autofree char *subject = g_strdup_printf ("round %u message %u", round, i);

          g_hash_table_insert (model, GUINT_TO_POINTER (append_text (f, "INBOX", subject)),
                               GUINT_TO_POINTER (0));
        }
      uids = g_hash_table_get_keys (model);
      for (GList *l = uids; l != NULL; l = l->next)
        {
          guint32 uid = GPOINTER_TO_UINT (l->data);
          guint32 state = GPOINTER_TO_UINT (g_hash_table_lookup (model, l->data));
          g_autoptr(PosthornStoreChanges) c = NULL;

          switch (g_rand_int_range (rand, 0, 6))
            {
            case 0:
              c = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN, tag, 0);
              state |= POSTHORN_MESSAGE_SEEN | 0x100;
              break;
            case 1:
              c = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_REPLACE, POSTHORN_MESSAGE_FLAGGED, NULL, 0);
              state = POSTHORN_MESSAGE_FLAGGED;
              break;
            case 2:
              c = store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0);
              c = (posthorn_store_changes_unref (c), expunge (f, "INBOX", &uid, 1));
              g_hash_table_remove (model, l->data);
              continue;
            default:
              break;
            }
          g_hash_table_insert (model, l->data, GUINT_TO_POINTER (state));
        }

      fresh = open_view (f, "INBOX");
      if (live == NULL)
        live = open_view (f, "INBOX");
      else
        {
          changes = store_test_sync_view (live, 0, &error);
          g_assert_no_error (error);
        }
      assert_views_equal (fresh, live, model);
    }
  g_rand_free (rand);
}

static void
test_view_recent (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) examine = NULL;
  g_autoptr(PosthornMailboxView) first = NULL;
  g_autoptr(PosthornMailboxView) second = NULL;
  g_autoptr(PosthornViewChanges) changes = NULL;

  append_text (f, "INBOX", "r1");
  append_text (f, "INBOX", "r2");
  g_assert_cmpuint (mailbox_status (f, "INBOX").recent, ==, 2);

  examine = store_test_open_view (f->user, "INBOX", POSTHORN_VIEW_READ_ONLY, &error);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (examine), ==, 0);
  g_assert_cmpuint (mailbox_status (f, "INBOX").recent, ==, 2);

  first = open_view (f, "INBOX");
  second = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (first), ==, 2);
  g_assert_true (posthorn_mailbox_view_get_flags (first, 1) & POSTHORN_MESSAGE_RECENT);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (second), ==, 0);
  g_assert_cmpuint (mailbox_status (f, "INBOX").recent, ==, 0);

  append_text (f, "INBOX", "r3");
  changes = store_test_sync_view (second, 0, &error);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (second), ==, 1);
  g_clear_pointer (&changes, posthorn_view_changes_free);
  changes = store_test_sync_view (first, 0, &error);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (first), ==, 2);
}

/* A session's own APPEND, expunged before the next SELECT: that SELECT
 * has nothing to claim, and a message appended later is \Recent in
 * exactly one session. */
static void
test_view_recent_expunged (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) first = NULL;
  g_autoptr(PosthornMailboxView) second = NULL;
  g_autoptr(PosthornViewChanges) changes = NULL;
  guint32 uid = append_text (f, "INBOX", "gone");

  posthorn_store_changes_unref (store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD,
                                             POSTHORN_MESSAGE_DELETED, NULL, 0));
  posthorn_store_changes_unref (expunge (f, "INBOX", NULL, 0));
  first = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_count (first), ==, 0);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (first), ==, 0);

  append_text (f, "INBOX", "later");
  g_assert_cmpuint (mailbox_status (f, "INBOX").recent, ==, 1);
  second = open_view (f, "INBOX");
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (second), ==, 1);
  g_assert_true (posthorn_mailbox_view_get_flags (second, 1) & POSTHORN_MESSAGE_RECENT);
  changes = store_test_sync_view (first, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_view_changes_get_new_count (changes), ==, 1);
  g_assert_cmpuint (posthorn_mailbox_view_get_recent_count (first), ==, 0);
  g_assert_cmpuint (mailbox_status (f, "INBOX").recent, ==, 0);
}

/* A STORE that changes nothing reports no change and takes no MODSEQ;
 * one that changes a flag or drops a keyword does. */
static void
test_flags_noop (Fixture *f, gconstpointer data)
{
  const char *kw[] = { "$Label1", NULL };
  static const struct {
    PosthornFlagsMode mode;
    guint32 flags;
    gboolean with_keyword;   /* the message has $Label1 first */
    guint n_changes;
  } cases[] = {
    { POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_FLAGGED, FALSE, 0 },
    { POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_FLAGGED | POSTHORN_MESSAGE_SEEN, FALSE, 1 },
    { POSTHORN_FLAGS_ADD, 0, FALSE, 0 },
    { POSTHORN_FLAGS_REMOVE, POSTHORN_MESSAGE_SEEN, FALSE, 0 },
    { POSTHORN_FLAGS_REMOVE, POSTHORN_MESSAGE_FLAGGED, FALSE, 1 },
    { POSTHORN_FLAGS_REPLACE, POSTHORN_MESSAGE_FLAGGED, FALSE, 0 },
    { POSTHORN_FLAGS_REPLACE, POSTHORN_MESSAGE_FLAGGED, TRUE, 1 },
    { POSTHORN_FLAGS_REPLACE, POSTHORN_MESSAGE_SEEN, FALSE, 1 },
    { POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_FLAGGED, TRUE, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint32 uid = append_text (f, "INBOX", "noop");
      guint64 before;

      posthorn_store_changes_unref (store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD,
                                                 POSTHORN_MESSAGE_FLAGGED,
                                                 cases[i].with_keyword ? kw : NULL, 0));
      before = mailbox_status (f, "INBOX").highestmodseq;
      {
        g_autoptr(PosthornStoreChanges) c = store_flags (f, "INBOX", uid, cases[i].mode,
                                                         cases[i].flags, NULL, 0);

        g_test_message ("case %u", i);
        g_assert_cmpuint (posthorn_store_changes_get_count (c), ==, cases[i].n_changes);
        if (cases[i].n_changes == 0)
          g_assert_cmpuint (mailbox_status (f, "INBOX").highestmodseq, ==, before);
        else
          g_assert_cmpuint (mailbox_status (f, "INBOX").highestmodseq, >, before);
      }
    }
}

static void
test_status (Fixture *f, gconstpointer data)
{
  g_autofree char *a = make_message ("s1", "x");
  g_autofree char *b = make_message ("s2", "yy");
  guint32 uid1 = store_test_append_simple (f->user, "INBOX", a);
  PosthornMailboxStatus status;

  store_test_append_simple (f->user, "INBOX", b);
  posthorn_store_changes_unref (store_flags (f, "INBOX", uid1, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_SEEN, NULL, 0));
  status = mailbox_status (f, "inbox");
  g_assert_cmpuint (status.messages, ==, 2);
  g_assert_cmpuint (status.recent, ==, 2);
  g_assert_cmpuint (status.unseen, ==, 1);
  g_assert_cmpuint (status.uidnext, ==, 3);
  g_assert_cmpuint (status.size, ==, strlen (a) + strlen (b));
  g_assert_cmpuint (status.highestmodseq, >, 0);
  g_assert_cmpuint (status.uidvalidity, >, 0);
}

static void
test_search_text (Fixture *f, gconstpointer data)
{
  g_autofree char *m1 = make_message ("Quarterly report", "The numbers for Zanzibar look good.");
  g_autofree char *m2 = make_message ("Lunch", "Pizza at noon? Zanzibar later.");
  g_autofree char *m3 = make_message ("Zanzibar trip", "Pack sunscreen.");
  guint32 u1 = store_test_append_simple (f->user, "INBOX", m1);
  guint32 u2 = store_test_append_simple (f->user, "INBOX", m2);
  guint32 u3 = store_test_append_simple (f->user, "INBOX", m3);
  struct { PosthornSearchField field; const char *needle; guint n; guint32 uids[3]; } cases[] = {
    { POSTHORN_SEARCH_BODY, "zanzibar", 2, { u1, u2 } },
    { POSTHORN_SEARCH_TEXT, "ZANZIBAR", 3, { u1, u2, u3 } },
    { POSTHORN_SEARCH_TEXT, "quarterly", 1, { u1 } },
    { POSTHORN_SEARCH_BODY, "quarterly", 0, { 0 } },
    { POSTHORN_SEARCH_BODY, "izz", 1, { u2 } },
    { POSTHORN_SEARCH_BODY, "oo", 2, { u1, u2 } },      /* short: scanned */
    { POSTHORN_SEARCH_BODY, "zZ", 1, { u2 } },
    { POSTHORN_SEARCH_BODY, "\"quoted\"", 0, { 0 } },
    { POSTHORN_SEARCH_BODY, "100%", 0, { 0 } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GAsyncResult) res = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GArray) uids = NULL;

      g_test_message ("search %s '%s'", cases[i].field == POSTHORN_SEARCH_BODY ? "BODY" : "TEXT",
                      cases[i].needle);
      posthorn_store_search_text_async (f->user, "INBOX", 0, cases[i].field, cases[i].needle,
                                        NULL, store_test_result_cb, &res);
      uids = posthorn_store_search_text_finish (store_test_wait (&res), &error);
      g_assert_no_error (error);
      g_assert_cmpuint (uids->len, ==, cases[i].n);
      for (guint j = 0; j < cases[i].n; j++)
        g_assert_cmpuint (g_array_index (uids, guint32, j), ==, cases[i].uids[j]);
    }
}

static guint
search_count (Fixture *f, PosthornSearchField field, const char *needle)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) uids = NULL;

  posthorn_store_search_text_async (f->user, "INBOX", 0, field, needle, NULL,
                                    store_test_result_cb, &res);
  uids = posthorn_store_search_text_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  return uids->len;
}

/* A huge text part is indexed up to a cap only, and stored whole.
 * storage-sqlite scans what is past its cap, so SEARCH finds text
 * anywhere; other stores see the first 4 MiB only (the core's cut). */
static void
test_search_huge_text (Fixture *f, gconstpointer data)
{
  GString *text = g_string_new ("From: a@example.org\r\nSubject: log dump\r\n\r\nneedleearly\r\n");
  g_autoptr(GBytes) bytes = NULL;

  while (text->len < 5 * 1024 * 1024)
    g_string_append (text, "2023-01-02 10:00:00 worker[42]: nothing to report today\r\n");
  g_string_append (text, "needlelate\r\n");
  bytes = g_string_free_to_bytes (text);
  round_trip (f, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), 1 << 20);
  g_assert_cmpuint (search_count (f, POSTHORN_SEARCH_BODY, "needleearly"), ==, 1);
  g_assert_cmpuint (search_count (f, POSTHORN_SEARCH_BODY, "needlelate"), ==,
                    g_strcmp0 (store_test_plugin_name (), "storage-sqlite") == 0 ? 1 : 0);
  g_assert_cmpuint (search_count (f, POSTHORN_SEARCH_TEXT, "NEEDLELATE"), ==,
                    g_strcmp0 (store_test_plugin_name (), "storage-sqlite") == 0 ? 1 : 0);
  g_assert_cmpuint (search_count (f, POSTHORN_SEARCH_BODY, "needlenowhere"), ==, 0);
}

static void
test_fetch_info (Fixture *f, gconstpointer data)
{
  g_autofree char *m = make_message ("Envelope test", "body");
  guint32 uid = store_test_append_simple (f->user, "INBOX", m);
  guint32 missing = uid + 100;
  guint32 both[] = { uid, missing };
  g_autoptr(PosthornStoreFetch) result = fetch (f, "INBOX", both, 2);
  const PosthornStoreMessageMeta *meta;

  g_assert_cmpuint (posthorn_store_fetch_get_count (result), ==, 1);
  meta = posthorn_store_fetch_get (result, 0);
  g_assert_cmpuint (meta->uid, ==, uid);
  g_assert_nonnull (meta->info);
  g_assert_cmpstr (posthorn_message_info_get_subject (meta->info), ==, "Envelope test");
  g_assert_nonnull (strstr (posthorn_message_info_get_envelope (meta->info), "Envelope test"));
  g_assert_cmpint (ABS (meta->internal_date - g_get_real_time () / G_USEC_PER_SEC), <, 60);
}

/* posthorn_store_fetch_sizes_async(): what fetch gives, without info. */
static void
test_fetch_sizes (Fixture *f, gconstpointer data)
{
  g_autofree char *small = make_message ("small", "x");
  g_autofree char *big = make_message ("big", "a longer body\r\nof two lines\r\n");
  guint32 uids[3];
  g_autoptr(PosthornStoreFetch) full = NULL;
  g_autoptr(PosthornStoreFetch) sizes = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  uids[0] = store_test_append_simple (f->user, "INBOX", small);
  uids[1] = store_test_append_simple (f->user, "INBOX", big);
  uids[2] = uids[1] + 100;  /* missing: left out */
  full = fetch (f, "INBOX", uids, 3);
  posthorn_store_fetch_sizes_async (f->user, "INBOX", 0, uids, 3, NULL, store_test_result_cb, &res);
  sizes = posthorn_store_fetch_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_store_fetch_get_count (sizes), ==, 2);
  g_assert_cmpuint (posthorn_store_fetch_get_count (full), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const PosthornStoreMessageMeta *a = posthorn_store_fetch_get (sizes, i);
      const PosthornStoreMessageMeta *b = posthorn_store_fetch_get (full, i);

      g_assert_cmpuint (a->uid, ==, uids[i]);
      g_assert_cmpuint (a->size, ==, b->size);
      g_assert_cmpint (a->internal_date, ==, b->internal_date);
      g_assert_null (a->info);
    }
  g_assert_cmpuint (posthorn_store_fetch_get (sizes, 0)->size, <,
                    posthorn_store_fetch_get (sizes, 1)->size);
}

static void
test_stream (Fixture *f, gconstpointer data)
{
  g_autofree char *m = make_message ("stream", "streamed body");
  guint32 uid = store_test_append_simple (f->user, "INBOX", m);
  g_autoptr(GInputStream) stream = posthorn_store_open_stream (f->user, "INBOX", 0, uid);
  g_autoptr(GMemoryOutputStream) out = G_MEMORY_OUTPUT_STREAM (g_memory_output_stream_new_resizable ());
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;
  gssize n;

  /* Blocking read: fine in a test, never on the daemon's loop. */
  n = g_output_stream_splice (G_OUTPUT_STREAM (out), stream, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (gssize) strlen (m));
  got = g_memory_output_stream_steal_as_bytes (out);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), m, strlen (m));

  /* A bad mailbox name never reaches the store. */
  {
    g_autoptr(GInputStream) bad = posthorn_store_open_stream (f->user, "../INBOX", 0, uid);
    char buf[16];

    g_assert_cmpint (g_input_stream_read (bad, buf, sizeof buf, NULL, &error), ==, -1);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
  }
}

/* ---- delivery ---- */

static void
test_deliver_atomic (Fixture *f, gconstpointer data)
{
  g_autofree char *m = make_message ("for two", "hi both");
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (m, strlen (m));
  const char *users[] = { "alice@example.org", "bob@example.org", NULL };
  const char *bad_boxes[] = { "INBOX", "No Such Folder", NULL };
  const char *boxes[] = { "INBOX", "INBOX", NULL };
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = NULL;

  /* One target is missing: nobody gets the message. */
  posthorn_store_deliver_async (users, bad_boxes, msg, 0, NULL, NULL, store_test_result_cb, &res);
  g_assert_null (store_test_changes_wait (&res, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 0);

  /* bob never logged in: his INBOX is made on delivery. */
  posthorn_store_deliver_async (users, boxes, msg, 0, NULL, NULL, store_test_result_cb, &res);
  changes = store_test_changes_wait (&res, &error);
  g_assert_no_error (error);
  {
    guint news = 0;

    for (guint i = 0; i < posthorn_store_changes_get_count (changes); i++)
      if (posthorn_store_changes_get (changes, i)->kind == POSTHORN_EVENT_MESSAGE_NEW)
        news++;
    g_assert_cmpuint (news, ==, 2);
  }
  g_assert_cmpuint (mailbox_status (f, "INBOX").messages, ==, 1);
  {
    g_autoptr(PosthornStoreUser) bob = store_test_open_user ("bob@example.org");
    g_autoptr(GBytes) got = store_test_read_all (bob, "INBOX", 0, 1, 1 << 16, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), m, strlen (m));
  }
}

/* ---- QRESYNC ---- */

static void
test_vanished (Fixture *f, gconstpointer data)
{
  guint32 a = append_text (f, "INBOX", "q1");
  guint32 b = append_text (f, "INBOX", "q2");
  guint64 mark = mailbox_status (f, "INBOX").highestmodseq;
  guint32 both[] = { a, b };
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) gone = NULL;

  posthorn_store_changes_unref (store_flags (f, "INBOX", b, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0));
  posthorn_store_changes_unref (expunge (f, "INBOX", both, 2));
  posthorn_store_vanished_async (f->user, "INBOX", 0, mark, NULL, store_test_result_cb, &res);
  gone = posthorn_store_vanished_finish (store_test_wait (&res), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (gone->len, ==, 1);
  g_assert_cmpuint (g_array_index (gone, guint32, 0), ==, b);
}

/* ---- events ---- */

static void
on_event (const PosthornEvent *event, gpointer user_data)
{
  GPtrArray *events = user_data;

  g_ptr_array_add (events, posthorn_event_ref ((PosthornEvent *) event));
}

static void
test_events (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_event_unref);
  guint id = posthorn_event_subscribe ("alice@example.org", "INBOX", on_event, events, NULL);
  guint32 uid = append_text (f, "INBOX", "event");
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  posthorn_store_changes_unref (store_flags (f, "INBOX", uid, POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0));
  posthorn_store_changes_unref (expunge (f, "INBOX", NULL, 0));
  while (events->len < 3 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  posthorn_event_unsubscribe (id);

  g_assert_cmpuint (events->len, ==, 3);
  g_assert_cmpint (posthorn_event_get_kind (events->pdata[0]), ==, POSTHORN_EVENT_MESSAGE_NEW);
  g_assert_cmpuint (posthorn_event_get_uid (events->pdata[0]), ==, uid);
  g_assert_cmpint (posthorn_event_get_kind (events->pdata[1]), ==, POSTHORN_EVENT_FLAGS_CHANGED);
  g_assert_cmpint (posthorn_event_get_kind (events->pdata[2]), ==, POSTHORN_EVENT_MESSAGE_EXPUNGED);
  g_assert_cmpuint (posthorn_event_get_modseq (events->pdata[2]), >,
                    posthorn_event_get_modseq (events->pdata[1]));
}

/* ---- durability ---- */

/* Message @i of the durability stream: its size varies (up to 600 KB, so
 * some span several chunks) and its content names @i everywhere. */
static GBytes *
durability_message (guint i)
{
  gsize body = (i * 7919) % 600000 + 100;
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "From: d@example.org\r\nSubject: durable %u\r\n\r\n", i);
  while (s->len < body)
    g_string_append_printf (s, "message %u line %" G_GSIZE_FORMAT "\r\n", i, s->len);
  return g_string_free_to_bytes (s);
}

static int
durability_child (const char *dir)
{
  g_autoptr(PosthornStoreUser) user = NULL;

  store_test_load (dir);
  user = store_test_open_user ("alice@example.org");
  for (guint i = 0;; i++)
    {
      g_autoptr(GBytes) bytes = durability_message (i);
      g_autoptr(PosthornMessage) msg = posthorn_message_new_from_bytes (bytes);
      GAsyncResult *res = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornStoreChanges) changes = NULL;

      posthorn_store_append_async (user, "INBOX", msg, 0, NULL, 0, NULL, store_test_result_cb, &res);
      changes = store_test_changes_wait (&res, &error);
      g_assert_no_error (error);
      /* Acknowledged: tell the parent, as SMTP would say 250. */
      printf ("%u %u\n", i, posthorn_store_changes_get (changes, 0)->uid);
      fflush (stdout);
    }
  return 0;
}

static void
test_durability_kill9 (Fixture *f, gconstpointer data)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_dir_make_tmp ("posthorn-durable-XXXXXX", NULL);
  g_auto(GStrv) store_args = store_test_args ();
  g_autoptr(GStrvBuilder) argv_builder = g_strv_builder_new ();
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) acked = g_hash_table_new (NULL, NULL);   /* i -> uid */
  g_autoptr(GIOChannel) channel = NULL;
  GPid pid;
  int out_fd;
  guint target = 10 + g_test_rand_int_range (0, 20);
  int status;

  g_strv_builder_add_many (argv_builder, exe, "--durability-child", dir, NULL);
  g_strv_builder_addv (argv_builder, (const char **) store_args);
  argv = g_strv_builder_end (argv_builder);

  /* Leave the fixture's daemon alone; the child runs its own on @dir. */
  g_assert_true (g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  channel = g_io_channel_unix_new (out_fd);
  g_io_channel_set_close_on_unref (channel, TRUE);
  while (g_hash_table_size (acked) < target)
    {
      g_autofree char *line = NULL;
      guint i, uid;

      if (g_io_channel_read_line (channel, &line, NULL, NULL, &error) != G_IO_STATUS_NORMAL)
        break;
      g_assert_cmpint (sscanf (line, "%u %u", &i, &uid), ==, 2);
      g_hash_table_insert (acked, GUINT_TO_POINTER (i), GUINT_TO_POINTER (uid));
    }
  g_assert_cmpuint (g_hash_table_size (acked), ==, target);
  /* Kill it in the middle of the next appends. */
  g_usleep (g_test_rand_int_range (0, 30000));
  kill (pid, SIGKILL);
  /* What it acknowledged before dying also counts. */
  {
    g_autofree char *rest = NULL;
    gsize len;

    g_io_channel_read_to_end (channel, &rest, &len, NULL);
    for (char *line = rest; line != NULL && *line != '\0';)
      {
        char *nl = strchr (line, '\n');
        guint i, uid;

        if (nl == NULL)
          break;
        *nl = '\0';
        if (sscanf (line, "%u %u", &i, &uid) == 2)
          g_hash_table_insert (acked, GUINT_TO_POINTER (i), GUINT_TO_POINTER (uid));
        line = nl + 1;
      }
  }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);

  /* Reopen the child's store (in this process: swap daemons). */
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  store_test_load (dir);
  f->user = store_test_open_user ("alice@example.org");
  {
    g_autoptr(PosthornMailboxView) view = open_view (f, "INBOX");
    g_autoptr(GHashTable) present = g_hash_table_new (NULL, NULL);
    guint count = posthorn_mailbox_view_get_count (view);

    g_assert_cmpuint (count, >=, g_hash_table_size (acked));
    g_assert_cmpuint (count, <=, g_hash_table_size (acked) + 1);
    for (guint seq = 1; seq <= count; seq++)
      {
        guint32 uid = posthorn_mailbox_view_get_uid (view, seq);
        g_autoptr(GBytes) got = store_test_read_all (f->user, "INBOX", 0, uid, 1 << 20, &error);
        g_autoptr(GBytes) expected = NULL;
        guint i;

        g_assert_no_error (error);
        g_assert_cmpint (sscanf ((const char *) g_bytes_get_data (got, NULL) + strlen ("From: d@example.org\r\nSubject: durable "), "%u", &i), ==, 1);
        expected = durability_message (i);
        g_assert_true (g_bytes_equal (got, expected));             /* byte-exact, not torn */
        g_assert_false (g_hash_table_contains (present, GUINT_TO_POINTER (i)));  /* once */
        g_hash_table_add (present, GUINT_TO_POINTER (i));
        if (g_hash_table_contains (acked, GUINT_TO_POINTER (i)))
          g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (acked, GUINT_TO_POINTER (i))), ==, uid);
      }
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, acked);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_assert_true (g_hash_table_contains (present, key));
    }
  }
  /* The fixture tears down this daemon; remove the child's folder after. */
  g_clear_pointer (&f->user, posthorn_store_user_unref);
  store_test_unload ();
  rm_rf (dir);
  store_test_load (f->dir);
  f->user = store_test_open_user ("alice@example.org");
}

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  if (argc >= 3 && strcmp (argv[1], "--durability-child") == 0)
    return durability_child (argv[2]);

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/store/user/special-use-on-first-login", test_user_special_use);
  ADD ("/store/mailbox/create-delete", test_mailbox_create_delete);
  ADD ("/store/mailbox/bad-names-refused", test_mailbox_bad_names);
  ADD ("/store/mailbox/rename-with-children-keeps-uids", test_mailbox_rename);
  ADD ("/store/mailbox/rename-inbox", test_mailbox_rename_inbox);
  ADD ("/store/mailbox/subscriptions", test_mailbox_subscriptions);
  ADD ("/store/uid/never-reused-after-restart", test_uid_never_reused);
  ADD ("/store/uid/uidvalidity-stable", test_uidvalidity);
  ADD ("/store/modseq/increases-on-every-change", test_modseq_increases);
  ADD ("/store/flags/round-trip", test_flags_round_trip);
  ADD ("/store/flags/no-op", test_flags_noop);
  ADD ("/store/copy-move/new-uids-keep-flags-and-date", test_copy_move);
  ADD ("/store/expunge/deleted-and-uid-set", test_expunge);
  ADD ("/store/bytes/8bit", test_bytes_8bit);
  ADD ("/store/bytes/lf-only-canonical", test_bytes_lf_only);
  ADD ("/store/bytes/tiny", test_bytes_tiny);
  ADD ("/store/bytes/binaryish", test_bytes_binaryish);
  ADD ("/store/bytes/50mb", test_bytes_50mb);
  ADD ("/store/append/concurrent-two-threads", test_concurrent_append);
  ADD ("/store/view/resync", test_view_resync);
  ADD ("/store/view/many-changes", test_view_many_changes);
  ADD ("/store/view/recent", test_view_recent);
  ADD ("/store/view/recent-expunged", test_view_recent_expunged);
  ADD ("/store/status/counts", test_status);
  ADD ("/store/search/text-and-body", test_search_text);
  ADD ("/store/search/huge-text-indexed-in-part", test_search_huge_text);
  ADD ("/store/fetch/parsed-info", test_fetch_info);
  ADD ("/store/fetch/sizes-only", test_fetch_sizes);
  ADD ("/store/read/stream", test_stream);
  ADD ("/store/deliver/multi-user-atomic", test_deliver_atomic);
  ADD ("/store/qresync/vanished", test_vanished);
  ADD ("/store/events/published", test_events);
  ADD ("/store/durability/kill-9-during-appends", test_durability_kill9);
#undef ADD

  return g_test_run ();
}
