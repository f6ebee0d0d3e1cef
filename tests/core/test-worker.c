/* The worker pool: work runs off the loop thread, results come back on it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

static GThread *main_thread;

typedef struct {
  GMainLoop *loop;
  guint pending;        /* callbacks still expected */
  gint data_freed;
  gint running;         /* items in func right now */
  gint max_running;
  guint64 sum;
  GPtrArray *errors;    /* messages, in callback order */
  GPtrArray *results;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->loop = g_main_loop_new (NULL, FALSE);
  f->errors = g_ptr_array_new_with_free_func (g_free);
  f->results = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  ph_worker_shutdown ();
  g_main_loop_unref (f->loop);
  g_ptr_array_unref (f->errors);
  g_ptr_array_unref (f->results);
}

static gboolean
give_up (gpointer unused)
{
  g_error ("timed out waiting for worker callbacks");
  return G_SOURCE_REMOVE;
}

static void
run_until_done (Fixture *f)
{
  guint timeout = g_timeout_add_seconds (20, give_up, NULL);

  while (f->pending > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
}

/* A task's data goes with its last reference, which the pool thread may
 * drop a moment after the callback ran. */
static void
wait_data_freed (Fixture *f, gint count)
{
  for (guint i = 0; i < 5000 && g_atomic_int_get (&f->data_freed) < count; i++)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&f->data_freed), ==, count);
}

typedef struct {
  Fixture *f;
  guint number;
  gboolean fail;
  gboolean wait_for_cancel;
} Item;

static void
item_free (gpointer data)
{
  Item *item = data;

  g_atomic_int_inc (&item->f->data_freed);
  g_free (item);
}

static void
result_free (gpointer result)
{
  g_free (result);
}

static gpointer
item_func (gpointer data, GCancellable *cancellable, GError **error)
{
  Item *item = data;
  gint now;

  g_assert_true (g_thread_self () != main_thread);
  now = g_atomic_int_add (&item->f->running, 1) + 1;
  for (gint max = g_atomic_int_get (&item->f->max_running);
       now > max && !g_atomic_int_compare_and_exchange (&item->f->max_running, max, now);
       max = g_atomic_int_get (&item->f->max_running))
    ;
  g_usleep (2000);
  if (item->wait_for_cancel)
    {
      for (guint i = 0; i < 5000 && !g_cancellable_is_cancelled (cancellable); i++)
        g_usleep (1000);
    }
  g_atomic_int_add (&item->f->running, -1);

  if (item->fail)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_TEMPORARY, "item %u failed", item->number);
      return NULL;
    }
  return g_strdup_printf ("%u", item->number);
}

static void
item_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr(GError) error = NULL;
  char *value;

  g_assert_true (g_thread_self () == main_thread);
  value = posthorn_worker_finish (result, &error);
  if (value == NULL)
    {
      g_assert_nonnull (error);
      g_ptr_array_add (f->errors, g_strdup (error->message));
    }
  else
    {
      g_assert_no_error (error);
      f->sum += g_ascii_strtoull (value, NULL, 10);
      g_ptr_array_add (f->results, value);
    }
  f->pending--;
}

static void
run_item (Fixture *f, guint number, gboolean fail, GCancellable *cancellable,
          gboolean wait_for_cancel, GAsyncReadyCallback callback)
{
  Item *item = g_new0 (Item, 1);

  item->f = f;
  item->number = number;
  item->fail = fail;
  item->wait_for_cancel = wait_for_cancel;
  f->pending++;
  posthorn_worker_run (item_func, item, item_free, result_free, cancellable, callback, f);
}

static void
test_result_on_loop_thread (Fixture *f, gconstpointer unused)
{
  run_item (f, 42, FALSE, NULL, FALSE, item_done);
  run_until_done (f);
  g_assert_cmpuint (f->results->len, ==, 1);
  g_assert_cmpstr (f->results->pdata[0], ==, "42");
  wait_data_freed (f, 1);
}

static void
test_error (Fixture *f, gconstpointer unused)
{
  run_item (f, 7, TRUE, NULL, FALSE, item_done);
  run_until_done (f);
  g_assert_cmpuint (f->results->len, ==, 0);
  g_assert_cmpuint (f->errors->len, ==, 1);
  g_assert_cmpstr (f->errors->pdata[0], ==, "item 7 failed");
}

static void
test_cancelled_before (Fixture *f, gconstpointer unused)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  g_cancellable_cancel (cancellable);
  run_item (f, 1, FALSE, cancellable, FALSE, item_done);
  run_until_done (f);
  g_assert_cmpuint (f->errors->len, ==, 1);
  g_assert_cmpuint (f->results->len, ==, 0);
  wait_data_freed (f, 1);
}

static gboolean
cancel_later (gpointer cancellable)
{
  g_cancellable_cancel (cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_cancelled_while_running (Fixture *f, gconstpointer unused)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;

  /* The item notices the cancellation and still returns a result; the
   * caller gets G_IO_ERROR_CANCELLED and the result is freed for it. */
  run_item (f, 5, FALSE, cancellable, TRUE, item_done);
  g_timeout_add (20, cancel_later, cancellable);
  run_until_done (f);
  g_assert_cmpuint (f->results->len, ==, 0);
  g_assert_cmpuint (f->errors->len, ==, 1);
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  g_assert_cmpstr (f->errors->pdata[0], ==, error->message);
}

static void
test_many (Fixture *f, gconstpointer unused)
{
  const guint count = 200;

  for (guint i = 1; i <= count; i++)
    run_item (f, i, i % 10 == 0, NULL, FALSE, item_done);
  run_until_done (f);
  g_assert_cmpuint (f->results->len, ==, count - count / 10);
  g_assert_cmpuint (f->errors->len, ==, count / 10);
  /* 1..200 without the multiples of 10. */
  g_assert_cmpuint (f->sum, ==, count * (count + 1) / 2 - 10 * (count / 10) * (count / 10 + 1) / 2);
  wait_data_freed (f, (gint) count);
  g_assert_cmpint (f->max_running, >=, 2);
}

static void
ignore_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;

  f->pending--;
}

static gint results_freed;

static void
count_result_free (gpointer result)
{
  g_atomic_int_inc (&results_freed);
  g_free (result);
}

static void
test_result_freed_if_not_taken (Fixture *f, gconstpointer unused)
{
  Item *item = g_new0 (Item, 1);

  item->f = f;
  f->pending++;
  posthorn_worker_run (item_func, item, item_free, count_result_free, NULL, ignore_result, f);
  run_until_done (f);
  /* The task (and with it the result) goes once the callback returned. */
  wait_data_freed (f, 1);
  for (guint i = 0; i < 5000 && g_atomic_int_get (&results_freed) < 1; i++)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&results_freed), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  main_thread = g_thread_self ();
  g_test_add ("/core/worker/result-on-loop-thread", Fixture, NULL, fixture_set_up,
              test_result_on_loop_thread, fixture_tear_down);
  g_test_add ("/core/worker/error", Fixture, NULL, fixture_set_up, test_error, fixture_tear_down);
  g_test_add ("/core/worker/cancelled-before", Fixture, NULL, fixture_set_up,
              test_cancelled_before, fixture_tear_down);
  g_test_add ("/core/worker/cancelled-while-running", Fixture, NULL, fixture_set_up,
              test_cancelled_while_running, fixture_tear_down);
  g_test_add ("/core/worker/many", Fixture, NULL, fixture_set_up, test_many, fixture_tear_down);
  g_test_add ("/core/worker/result-freed-if-not-taken", Fixture, NULL, fixture_set_up,
              test_result_freed_if_not_taken, fixture_tear_down);
  return g_test_run ();
}
