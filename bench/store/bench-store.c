/* Store benchmark: durable appends (one client, 8 concurrent clients), and
 * opening / listing a big mailbox, through the public async store API with
 * the real plugin loaded by the daemon loader. Not run by CI; see run.sh.
 *
 *   bench-store [--store NAME] [--set group.key=value] [--appends N]
 *               [--size BYTES] [--big N] [--dir DIR] [--random-text]
 *               [--seed-files]
 *
 * --seed-files (storage-maildir only, with its default path): the big
 * mailbox is filled by writing its message files straight into the
 * folder's cur/ (the same bytes the appends would store, Maildir names
 * with ,S= and ,W=), as another program delivering into the Maildir
 * would; the store's own folder scan indexes them at the first (untimed)
 * open after the restart. Only a faster seed: the timed open and listing
 * are the same as after a fill through the store API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "store-test-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static guint n_appends = 10000;
static guint message_size = 10 * 1024;
static guint big_mailbox = 100000;
static char *state_dir;
static gboolean random_text;   /* --random-text: the body is random bytes (not UTF-8) labelled text/plain */
static gboolean seed_files;    /* --seed-files: fill the big Maildir folder by writing files */

static GBytes *
make_message (guint i, guint size)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "From: Bench <bench@example.org>\r\nTo: alice@example.org\r\n"
                             "Subject: benchmark message %u\r\n"
                             "Message-ID: <bench-%u@example.org>\r\n"
                             "Date: Mon, 2 Jan 2023 10:00:00 +0100\r\n%s\r\n", i, i,
                          random_text ? "Content-Type: text/plain\r\n" : "");
  if (random_text)
    {
      guint32 state = i + 1;

      while (s->len < size)
        {
          state = state * 1103515245u + 12345u;
          g_string_append_c (s, s->len % 100 == 98 ? '\r' : s->len % 100 == 99 ? '\n'
                                                  : (char) (1 + (state >> 16) % 255));
        }
    }
  while (s->len + 80 < size)
    g_string_append_printf (s, "Line %06" G_GSIZE_FORMAT " of message %u: the quick brown fox jumps.\r\n",
                            s->len, i);
  return g_string_free_to_bytes (s);
}

typedef struct {
  PosthornStoreUser *user;
  const char *mailbox;
  guint next;
  guint total;
  guint in_flight;
  guint done;
  guint size;
} AppendRun;

static void append_next (AppendRun *run);

static void
append_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AppendRun *run = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (changes == NULL)
    g_error ("append: %s", error->message);
  run->in_flight--;
  run->done++;
  append_next (run);
}

static void
append_next (AppendRun *run)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(PosthornMessage) msg = NULL;

  if (run->next >= run->total)
    return;
  bytes = make_message (run->next++, run->size);
  msg = posthorn_message_new_from_bytes (bytes);
  run->in_flight++;
  posthorn_store_append_async (run->user, run->mailbox, msg, 0, NULL, 0, NULL, append_done, run);
}

/* Appends @total messages with @clients in flight at any time; returns
 * seconds. Every append is durable when its callback runs. */
static double
bench_append (PosthornStoreUser *user, const char *mailbox, guint total, guint clients, guint size)
{
  AppendRun run = { user, mailbox, 0, total, 0, 0, size };
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < clients; i++)
    append_next (&run);
  while (run.done < total)
    g_main_context_iteration (NULL, TRUE);
  return (g_get_monotonic_time () - start) / 1e6;
}

/* --seed-files: @count messages of @size bytes, numbered from @first, as
 * files in the cur/ of the Maildir folder "Big" of alice@example.org
 * (storage-maildir's default path under the state directory). The names
 * sort in message order, so the scan gives them UIDs in that order. */
static double
seed_maildir_files (guint first, guint count, guint size)
{
  g_autofree char *cur = g_build_filename (state_dir, "maildir", "example.org", "alice", ".Big", "cur", NULL);
  gint64 start = g_get_monotonic_time ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *host = g_strdup (g_get_host_name ());

  if (strcmp (store_test_plugin_name (), "storage-maildir") != 0)
    g_error ("--seed-files needs --store storage-maildir");
  if (!g_file_test (cur, G_FILE_TEST_IS_DIR))
    g_error ("--seed-files: %s is not there (storage-maildir's path is not the default?)", cur);
  g_strdelimit (host, "/:,", '_');
  for (guint i = first; i < first + count; i++)
    {
      g_autoptr(GBytes) bytes = make_message (i, size);
      gsize len = g_bytes_get_size (bytes);
      g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT ".M%06uP%dQ%07u.%s,S=%" G_GSIZE_FORMAT
                                               ",W=%" G_GSIZE_FORMAT ":2,", now, i % 1000000,
                                               (int) getpid (), i, host, len, len);
      g_autofree char *path = g_build_filename (cur, name, NULL);
      g_autoptr(GError) error = NULL;

      if (!g_file_set_contents (path, g_bytes_get_data (bytes, NULL), (gssize) len, &error))
        g_error ("--seed-files: %s", error->message);
    }
  return (g_get_monotonic_time () - start) / 1e6;
}

/* CPU seconds of the whole process (all threads): on a busy machine the
 * wall clock also counts waiting for a CPU. */
static double
cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static gsize
rss_kib (void)
{
  g_autofree char *status = NULL;
  char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "VmRSS:");
  return line != NULL ? (gsize) g_ascii_strtoull (line + 6, NULL, 10) : 0;
}

static void
create (PosthornStoreUser *user, const char *name)
{
  GAsyncResult *res = NULL;
  g_autoptr(GError) error = NULL;

  posthorn_store_create_async (user, name, 0, NULL, store_test_result_cb, &res);
  if (!store_test_mailbox_op_wait (&res, &error) &&
      !g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_EXISTS))
    g_error ("create %s: %s", name, error->message);
}

int
main (int argc, char **argv)
{
  g_autoptr(PosthornStoreUser) user = NULL;
  g_autoptr(GError) error = NULL;
  gboolean own_dir = FALSE;
  double t;

  setvbuf (stdout, NULL, _IOLBF, 0);
  store_test_parse_args (&argc, &argv);
  for (int i = 1; i < argc; i++)
    {
      const char *value = i + 1 < argc ? argv[i + 1] : NULL;

      if (strcmp (argv[i], "--random-text") == 0)
        {
          random_text = TRUE;
          continue;
        }
      if (strcmp (argv[i], "--seed-files") == 0)
        {
          seed_files = TRUE;
          continue;
        }
      if (value == NULL)
        g_error ("option %s needs a value", argv[i]);
      if (strcmp (argv[i], "--appends") == 0)
        n_appends = (guint) atoi (value);
      else if (strcmp (argv[i], "--size") == 0)
        message_size = (guint) atoi (value);
      else if (strcmp (argv[i], "--big") == 0)
        big_mailbox = (guint) atoi (value);
      else if (strcmp (argv[i], "--dir") == 0)
        state_dir = g_strdup (value);
      else
        g_error ("unknown option %s", argv[i]);
      i++;
    }
  if (state_dir == NULL)
    {
      state_dir = g_dir_make_tmp ("posthorn-bench-XXXXXX", &error);
      g_assert_no_error (error);
      own_dir = TRUE;
    }
  store_test_load (state_dir);
  user = store_test_open_user ("alice@example.org");
  printf ("store: %s, state dir: %s, worker threads: %u (0: automatic), CPUs: %u\n",
          store_test_plugin_name (), state_dir, ph_settings ()->worker_threads,
          g_get_num_processors ());

  /* 1. Durable appends of message_size bytes into one mailbox. */
  if (n_appends > 0)
    {
  create (user, "Bench1");
  t = bench_append (user, "Bench1", n_appends, 1, message_size);
  printf ("append %u x %u B, 1 client:   %.2f s, %.0f messages/s\n", n_appends, message_size, t,
          n_appends / t);
  create (user, "Bench8");
  t = bench_append (user, "Bench8", n_appends, 8, message_size);
  printf ("append %u x %u B, 8 clients:  %.2f s, %.0f messages/s\n", n_appends, message_size, t,
          n_appends / t);
    }

  /* 2. A big mailbox: fill it (64 appends in flight), restart, open it. */
  if (big_mailbox > 0)
    {
      g_autoptr(PosthornMailboxView) view = NULL;
      gint64 start;
      double open_ms, list_ms, cpu;
      gsize rss_before, rss_after, view_bytes;
      guint n;

      guint have;

      create (user, "Big");
      /* With --dir, a mailbox filled by an earlier run is reused. */
      {
        GAsyncResult *res = NULL;
        PosthornMailboxStatus status = { 0 };

        posthorn_store_status_async (user, "Big", NULL, store_test_result_cb, &res);
        if (!posthorn_store_status_finish (store_test_wait (&res), &status, &error))
          g_error ("status: %s", error->message);
        g_clear_object (&res);
        have = status.messages;
      }
      if (have < big_mailbox && seed_files)
        {
          t = seed_maildir_files (have, big_mailbox - have, 1024);
          printf ("fill %u x 1 KiB as files in cur/: %.1f s, %.0f messages/s (indexed by the next open)\n",
                  big_mailbox - have, t, (big_mailbox - have) / t);
        }
      else if (have < big_mailbox)
        {
          t = bench_append (user, "Big", big_mailbox - have, 64, 1024);
          printf ("fill %u x 1 KiB, 64 in flight: %.1f s, %.0f messages/s\n", big_mailbox - have,
                  t, (big_mailbox - have) / t);
        }

      g_clear_pointer (&user, posthorn_store_user_unref);
      store_test_unload ();
      store_test_load (state_dir);
      user = store_test_open_user ("alice@example.org");

      /* Warm the page cache as a running server would have it (after
       * --seed-files: the scan that indexes the new files). */
      start = g_get_monotonic_time ();
      view = store_test_open_view (user, "Big", POSTHORN_VIEW_READ_ONLY, &error);
      g_assert_no_error (error);
      g_clear_pointer (&view, posthorn_mailbox_view_unref);
      printf ("warm-up open (not timed):        %.1f ms\n", (g_get_monotonic_time () - start) / 1e3);

      rss_before = rss_kib ();
      cpu = cpu_seconds ();
      start = g_get_monotonic_time ();
      view = store_test_open_view (user, "Big", POSTHORN_VIEW_READ_WRITE, &error);
      g_assert_no_error (error);
      open_ms = (g_get_monotonic_time () - start) / 1e3;
      cpu = cpu_seconds () - cpu;
      rss_after = rss_kib ();
      n = posthorn_mailbox_view_get_count (view);
      view_bytes = posthorn_mailbox_view_get_memory_size (view);
      printf ("open (SELECT) %u messages:      %.1f ms (CPU %.1f ms)\n", n, open_ms, cpu * 1e3);
      printf ("view memory: %" G_GSIZE_FORMAT " B = %.1f B/message (RSS grew %" G_GSIZE_FORMAT " KiB)\n",
              view_bytes, (double) view_bytes / n, rss_after > rss_before ? rss_after - rss_before : 0);

      /* "UID FETCH 1:* (UID FLAGS)": open plus one line per message. */
      g_clear_pointer (&view, posthorn_mailbox_view_unref);
      cpu = cpu_seconds ();
      start = g_get_monotonic_time ();
      view = store_test_open_view (user, "Big", POSTHORN_VIEW_READ_ONLY, &error);
      g_assert_no_error (error);
      {
        GString *out = g_string_sized_new (n * 40);

        for (guint seq = 1; seq <= n; seq++)
          {
            guint32 flags = posthorn_mailbox_view_get_flags (view, seq);

            g_string_append_printf (out, "* %u FETCH (UID %u FLAGS (%s%s))\r\n", seq,
                                    posthorn_mailbox_view_get_uid (view, seq),
                                    (flags & POSTHORN_MESSAGE_SEEN) ? "\\Seen" : "",
                                    (flags & POSTHORN_MESSAGE_RECENT) ? " \\Recent" : "");
          }
        list_ms = (g_get_monotonic_time () - start) / 1e3;
        cpu = cpu_seconds () - cpu;
        printf ("list all UIDs and flags:         %.1f ms (CPU %.1f ms; %" G_GSIZE_FORMAT " bytes of FETCH lines)\n",
                list_ms, cpu * 1e3, out->len);
        g_string_free (out, TRUE);
      }
    }

  g_clear_pointer (&user, posthorn_store_user_unref);
  store_test_unload ();
  if (own_dir)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", state_dir);

      if (system (cmd) != 0)
        g_warning ("could not remove %s", state_dir);
    }
  return 0;
}
