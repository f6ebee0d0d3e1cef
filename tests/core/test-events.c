/* The event bus: who gets what, in which order, on which thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

static GThread *main_thread;

typedef struct {
  GPtrArray *seen;  /* "TAG:user/mailbox#uid" per delivery, in order */
} Fixture;

typedef struct {
  Fixture *f;
  char *tag;
  guint unsubscribe[2];      /* ids to drop from inside the callback */
  gboolean destroyed;
  gboolean destroyed_in_callback;
} Subscriber;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->seen = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_ptr_array_unref (f->seen);
}

static void
on_event (const PosthornEvent *event, gpointer user_data)
{
  Subscriber *sub = user_data;

  g_assert_true (g_thread_self () == main_thread);
  g_ptr_array_add (sub->f->seen,
                   g_strdup_printf ("%s:%s/%s#%u", sub->tag, posthorn_event_get_user (event),
                                    posthorn_event_get_mailbox (event),
                                    posthorn_event_get_uid (event)));
  for (gsize i = 0; i < G_N_ELEMENTS (sub->unsubscribe); i++)
    if (sub->unsubscribe[i] != 0)
      {
        posthorn_event_unsubscribe (sub->unsubscribe[i]);
        sub->unsubscribe[i] = 0;
      }
  sub->destroyed_in_callback |= sub->destroyed;
}

static void
subscriber_destroyed (gpointer user_data)
{
  Subscriber *sub = user_data;

  sub->destroyed = TRUE;
}

static guint
subscribe (Subscriber *sub, Fixture *f, const char *tag, const char *user, const char *mailbox)
{
  sub->f = f;
  sub->tag = (char *) tag;
  return posthorn_event_subscribe (user, mailbox, on_event, sub, subscriber_destroyed);
}

static void
publish (const char *user, const char *mailbox, guint32 uid)
{
  PosthornEvent *event = posthorn_event_new (POSTHORN_EVENT_MESSAGE_NEW, user, mailbox);

  posthorn_event_set_uid (event, uid);
  posthorn_event_publish (event);
}

static void
run_until_seen (Fixture *f, guint count)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (f->seen->len < count && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  /* Anything more that was due arrives now too. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
assert_seen (Fixture *f, const char *const *expected)
{
  g_ptr_array_add (f->seen, NULL);
  g_assert_cmpstrv ((char **) f->seen->pdata, expected);
  g_ptr_array_set_size (f->seen, f->seen->len - 1);
}

static void
test_user_and_mailbox (Fixture *f, gconstpointer unused)
{
  Subscriber inbox = { 0 }, all = { 0 }, bob = { 0 }, sent = { 0 }, probe = { 0 };
  const char *const expected[] = {
    "inbox:alice/INBOX#1", "all:alice/INBOX#1", "all:alice/Sent#2", "sent:alice/Sent#2",
    "bob:bob/INBOX#3", NULL
  };
  guint ids[4];

  ids[0] = subscribe (&inbox, f, "inbox", "alice", "INBOX");
  ids[1] = subscribe (&all, f, "all", "alice", NULL);
  ids[2] = subscribe (&bob, f, "bob", "bob", NULL);
  ids[3] = subscribe (&sent, f, "sent", "alice", "Sent");
  publish ("alice", "INBOX", 1);
  publish ("alice", "Sent", 2);
  publish ("bob", "INBOX", 3);
  publish ("carol", "INBOX", 4);
  /* Delivery is never synchronous, even on the main thread. */
  g_assert_cmpuint (f->seen->len, ==, 0);
  run_until_seen (f, 5);
  assert_seen (f, expected);

  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
    posthorn_event_unsubscribe (ids[i]);
  g_assert_true (inbox.destroyed && all.destroyed && bob.destroyed && sent.destroyed);

  /* Events arrive in order: once the probe's is in, alice's would be. */
  ids[0] = subscribe (&probe, f, "probe", "probe", NULL);
  publish ("alice", "INBOX", 5);
  publish ("probe", "INBOX", 6);
  run_until_seen (f, 6);
  g_assert_cmpuint (f->seen->len, ==, 6);
  g_assert_cmpstr (f->seen->pdata[5], ==, "probe:probe/INBOX#6");
  posthorn_event_unsubscribe (ids[0]);
}

static gpointer
publisher_thread (gpointer unused)
{
  for (guint32 uid = 1; uid <= 100; uid++)
    publish ("alice", uid % 2 ? "INBOX" : "Archive", uid);
  return NULL;
}

static void
test_from_thread_in_order (Fixture *f, gconstpointer unused)
{
  Subscriber all = { 0 };
  GThread *thread;
  guint id = subscribe (&all, f, "all", "alice", NULL);

  thread = g_thread_new ("publisher", publisher_thread, NULL);
  run_until_seen (f, 100);
  g_thread_join (thread);
  g_assert_cmpuint (f->seen->len, ==, 100);
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *expected = g_strdup_printf ("all:alice/%s#%u",
                                                   (i + 1) % 2 ? "INBOX" : "Archive", i + 1);
      g_assert_cmpstr (f->seen->pdata[i], ==, expected);
    }
  posthorn_event_unsubscribe (id);
}

static void
test_unsubscribe_in_callback (Fixture *f, gconstpointer unused)
{
  Subscriber first = { 0 }, second = { 0 }, third = { 0 };
  const char *const expected[] = { "first:alice/INBOX#1", "third:alice/INBOX#1",
                                   "third:alice/INBOX#2", NULL };
  guint first_id, second_id, third_id;

  first_id = subscribe (&first, f, "first", "alice", NULL);
  second_id = subscribe (&second, f, "second", "alice", "INBOX");
  third_id = subscribe (&third, f, "third", "alice", "INBOX");
  /* The first drops itself and the second, which then hears nothing. */
  first.unsubscribe[0] = first_id;
  first.unsubscribe[1] = second_id;
  publish ("alice", "INBOX", 1);
  publish ("alice", "INBOX", 2);
  run_until_seen (f, 3);
  assert_seen (f, expected);
  g_assert_true (first.destroyed);
  g_assert_false (first.destroyed_in_callback);
  g_assert_true (second.destroyed);
  posthorn_event_unsubscribe (third_id);
}

static void
test_rename_reaches_old_name (Fixture *f, gconstpointer unused)
{
  Subscriber old_name = { 0 };
  const char *const expected[] = { "old:alice/Projects#0", NULL };
  PosthornEvent *event = posthorn_event_new (POSTHORN_EVENT_MAILBOX_RENAMED, "alice", "Projects");
  guint id = subscribe (&old_name, f, "old", "alice", "Work");

  posthorn_event_set_old_mailbox (event, "Work");
  posthorn_event_publish (event);
  run_until_seen (f, 1);
  assert_seen (f, expected);
  posthorn_event_unsubscribe (id);
}

static void
test_event_fields (void)
{
  static int origin;
  PosthornEvent *event = posthorn_event_new (POSTHORN_EVENT_FLAGS_CHANGED, "alice", "INBOX");

  posthorn_event_set_uid (event, 9);
  posthorn_event_set_modseq (event, G_GUINT64_CONSTANT (1) << 40);
  posthorn_event_set_origin (event, &origin);
  g_assert_cmpint (posthorn_event_get_kind (event), ==, POSTHORN_EVENT_FLAGS_CHANGED);
  g_assert_cmpstr (posthorn_event_get_user (event), ==, "alice");
  g_assert_cmpstr (posthorn_event_get_mailbox (event), ==, "INBOX");
  g_assert_null (posthorn_event_get_old_mailbox (event));
  g_assert_cmpuint (posthorn_event_get_uid (event), ==, 9);
  g_assert_cmpuint (posthorn_event_get_modseq (event), ==, G_GUINT64_CONSTANT (1) << 40);
  g_assert_true (posthorn_event_get_origin (event) == &origin);
  g_assert_true (posthorn_event_ref (event) == event);
  posthorn_event_unref (event);
  posthorn_event_unref (event);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  main_thread = g_thread_self ();
  g_test_add ("/core/events/user-and-mailbox", Fixture, NULL, fixture_set_up,
              test_user_and_mailbox, fixture_tear_down);
  g_test_add ("/core/events/from-thread-in-order", Fixture, NULL, fixture_set_up,
              test_from_thread_in_order, fixture_tear_down);
  g_test_add ("/core/events/unsubscribe-in-callback", Fixture, NULL, fixture_set_up,
              test_unsubscribe_in_callback, fixture_tear_down);
  g_test_add ("/core/events/rename-reaches-old-name", Fixture, NULL, fixture_set_up,
              test_rename_reaches_old_name, fixture_tear_down);
  g_test_add_func ("/core/events/fields", test_event_fields);
  return g_test_run ();
}
