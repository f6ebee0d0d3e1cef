/* Local delivery under load, in the real daemon: many sessions at once
 * share group commits (and every 250 still means "durable"), a SIGKILL in
 * the middle of a batch loses no acknowledged message, and a recipient
 * the store cannot hold is refused at RCPT, not after DATA.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define N_SESSIONS 24
#define N_MESSAGES 8

static gboolean
plugin_built (const char *name)
{
  const char *dir = g_getenv ("POSTHORN_PLUGIN_DIR");
  g_autofree char *file = g_strconcat (name, ".so", NULL);
  g_autofree char *path = g_build_filename (dir != NULL ? dir : ".", file, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* A server whose users also include "a/b@example.org" (from the
 * test-auth-users backend: auth-passwd-file refuses such a name). */
static PhTestServer *
server_with_slash_user (const char *store)
{
  g_autofree char *extra = g_strdup_printf ("[core]\nplugins=auth-passwd-file;test-auth-users;%s;smtp\n"
                                            "[test-auth-users]\nusers=a/b@example.org\n", store);
  PhTestServer *server = smtp_test_server_create (extra);

  ph_test_server_add_plugin_dir (server, TEST_AUTH_PLUGIN_DIR);
  ph_test_server_start_or_die (server);
  return server;
}

/* storage-maildir cannot name a folder after "a/b": 550 5.1.3 at RCPT;
 * the other recipient still gets the message. */
static void
test_rcpt_store_cannot_hold (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autoptr(PhTestClient) client = NULL;
  g_autofree char *refused = NULL;

  if (!plugin_built ("storage-maildir"))
    {
      g_test_skip ("storage-maildir is not built");
      return;
    }
  server = server_with_slash_user ("storage-maildir");
  client = smtp_test_connect (server, "smtp");
  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<sender@remote.example>", 250));
  refused = smtp_test_expect (client, "RCPT TO:<a/b@example.org>", 550);
  g_test_message ("RCPT reply: %s", refused);
  g_assert_true (g_str_has_prefix (refused, "550 5.1.3 "));
  g_free (smtp_test_expect (client, "RCPT TO:<alice@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: slash\r\n\r\nhello\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  /* Only that recipient: no transaction at all. */
  g_free (smtp_test_expect (client, "MAIL FROM:<sender@remote.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<a/b@example.org>", 550));
  g_free (smtp_test_expect (client, "DATA", 554));
  g_free (smtp_test_expect (client, "QUIT", 221));
}

/* storage-sqlite can hold any name: the same recipient is accepted and
 * the message stored. */
static void
test_rcpt_sqlite_holds_slash (void)
{
  g_autoptr(PhTestServer) server = server_with_slash_user ("storage-sqlite");
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "smtp");
  g_autoptr(GPtrArray) inbox = NULL;

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, "MAIL FROM:<sender@remote.example>", 250));
  g_free (smtp_test_expect (client, "RCPT TO:<a/b@example.org>", 250));
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, "Subject: slash\r\n\r\nhello\r\n", -1));
  g_free (smtp_test_expect (client, ".", 250));
  g_free (smtp_test_expect (client, "QUIT", 221));
  g_clear_pointer (&client, ph_test_client_free);
  inbox = smtp_test_stop_and_read_inbox (server, "a/b@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "Subject: slash\r\n"));
}

/* ---- many sessions at once ---- */

typedef struct {
  guint16 port;
  guint index;
  gint *stop;            /* atomic: stop sending */
  GMutex *lock;
  GHashTable *acked;     /* subject -> user, under lock */
  guint sent;
} Sender;

static gpointer
sender_run (gpointer data)
{
  Sender *s = data;
  g_autoptr(PhTestClient) client = ph_test_client_new ("127.0.0.1", s->port, FALSE, NULL, NULL);
  g_autofree char *user = g_strdup_printf ("u%u@example.org", s->index);
  g_autofree char *greeting = NULL;

  if (client == NULL)
    return NULL;
  ph_test_client_set_timeout (client, 20000);
  greeting = ph_test_client_read_line (client);
  if (greeting == NULL || smtp_test_command (client, "EHLO client.example", NULL) != 250)
    return NULL;
  for (guint i = 0; i < N_MESSAGES || s->stop != NULL; i++)
    {
      g_autofree char *rcpt = g_strdup_printf ("RCPT TO:<%s>", user);
      g_autofree char *subject = g_strdup_printf ("s%u-m%u", s->index, i);
      g_autofree char *body = NULL;

      if (s->stop != NULL && g_atomic_int_get (s->stop))
        break;
      if (smtp_test_command (client, "MAIL FROM:<sender@remote.example>", NULL) != 250 ||
          smtp_test_command (client, rcpt, NULL) != 250 ||
          smtp_test_command (client, "DATA", NULL) != 354)
        break;
      body = g_strdup_printf ("Subject: %s\r\n\r\n%s\r\n", subject,
                              "a line of text to make the message a little longer");
      if (!ph_test_client_send (client, body, -1))
        break;
      s->sent++;
      if (smtp_test_command (client, ".", NULL) != 250)
        break;
      g_mutex_lock (s->lock);
      g_hash_table_insert (s->acked, g_steal_pointer (&subject), g_strdup (user));
      g_mutex_unlock (s->lock);
    }
  return NULL;
}

/* Subject -> how often it is in @user's INBOX. */
static void
count_subjects (PhTestServer *server, const char *user, GHashTable *counts)
{
  g_autoptr(GPtrArray) inbox = smtp_test_read_mailbox (server, user, "INBOX");

  for (guint i = 0; inbox != NULL && i < inbox->len; i++)
    {
      gsize len;
      const char *data = g_bytes_get_data (inbox->pdata[i], &len);
      g_autofree char *text = g_strndup (data, len);
      const char *subject = strstr (text, "\r\nSubject: ");
      const char *end;
      g_autofree char *key = NULL;

      /* a torn message would have no subject or the wrong bytes */
      g_assert_nonnull (subject);
      subject += strlen ("\r\nSubject: ");
      end = strstr (subject, "\r\n");
      g_assert_nonnull (end);
      g_assert_true (g_str_has_suffix (text, "a line of text to make the message a little longer\r\n"));
      key = g_strndup (subject, (gsize) (end - subject));
      {
        guint n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, key));

        g_hash_table_insert (counts, g_steal_pointer (&key), GUINT_TO_POINTER (n + 1));
      }
    }
}

static void
run_senders (PhTestServer *server, gint *stop, guint kill_after_ms, GHashTable *acked, guint *sent)
{
  GThread *threads[N_SESSIONS];
  Sender senders[N_SESSIONS];
  GMutex lock;

  g_mutex_init (&lock);
  for (guint i = 0; i < N_SESSIONS; i++)
    {
      senders[i] = (Sender) { ph_test_server_get_port (server, "smtp", FALSE), i, stop, &lock, acked, 0 };
      threads[i] = g_thread_new ("sender", sender_run, &senders[i]);
    }
  if (kill_after_ms > 0)
    {
      int status = 0;

      g_usleep (kill_after_ms * 1000);
      ph_test_server_signal (server, SIGKILL);
      g_assert_true (ph_test_server_wait (server, 10000, &status));
      g_atomic_int_set (stop, 1);
    }
  *sent = 0;
  for (guint i = 0; i < N_SESSIONS; i++)
    {
      g_thread_join (threads[i]);
      *sent += senders[i].sent;
    }
  g_mutex_clear (&lock);
}

/* 24 sessions deliver to 24 users at once: every 250 is there exactly
 * once, and the store shared its commits (fewer commits than messages). */
static void
test_group_commit_parallel (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new ("[core]\nlog_level=info\n");
  g_autoptr(GHashTable) acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *log = NULL;
  const char *line;
  guint64 appends, commits;
  guint sent;

  run_senders (server, NULL, 0, acked, &sent);
  g_assert_cmpuint (g_hash_table_size (acked), ==, N_SESSIONS * N_MESSAGES);
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  for (guint i = 0; i < N_SESSIONS; i++)
    {
      g_autofree char *user = g_strdup_printf ("u%u@example.org", i);

      count_subjects (server, user, counts);
    }
  g_assert_cmpuint (g_hash_table_size (counts), ==, N_SESSIONS * N_MESSAGES);
  {
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init (&iter, counts);
    while (g_hash_table_iter_next (&iter, &key, &value))
      {
        g_assert_true (g_hash_table_contains (acked, key));
        g_assert_cmpuint (GPOINTER_TO_UINT (value), ==, 1);
      }
  }
  /* "...: N writes in M group commits" when the store closed (appends,
   * flag changes and expunges share the group commit; here all appends) */
  log = ph_test_server_get_log (server);
  line = strstr (log, " group commits");
  g_assert_nonnull (line);
  while (line > log && line[-1] != ':')
    line--;
  g_assert_cmpint (sscanf (line, " %" G_GUINT64_FORMAT " writes in %" G_GUINT64_FORMAT, &appends, &commits), ==, 2);
  g_test_message ("%" G_GUINT64_FORMAT " appends in %" G_GUINT64_FORMAT " commits", appends, commits);
  g_assert_cmpuint (appends, >=, N_SESSIONS * N_MESSAGES);
  g_assert_cmpuint (commits, <, appends);
}

/* SIGKILL while 24 sessions deliver: every message that got its 250 is
 * there exactly once and whole; one in flight is there at most once. */
static void
test_group_commit_kill (void)
{
  g_autoptr(PhTestServer) server = smtp_test_server_new (NULL);
  g_autoptr(GHashTable) acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key, value;
  gint stop = 0;
  guint sent;

  run_senders (server, &stop, (guint) g_random_int_range (300, 700), acked, &sent);
  g_test_message ("%u messages sent, %u acknowledged before the kill", sent, g_hash_table_size (acked));
  g_assert_cmpuint (g_hash_table_size (acked), >, 0);
  for (guint i = 0; i < N_SESSIONS; i++)
    {
      g_autofree char *user = g_strdup_printf ("u%u@example.org", i);

      count_subjects (server, user, counts);
    }
  g_hash_table_iter_init (&iter, acked);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (counts, key)), ==, 1);
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_assert_cmpuint (GPOINTER_TO_UINT (value), ==, 1);
  /* nothing stored that was never sent: at most one in flight a session */
  g_assert_cmpuint (g_hash_table_size (counts), <=, g_hash_table_size (acked) + N_SESSIONS);
}

int
main (int argc, char **argv)
{
  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/delivery/rcpt-store-cannot-hold", test_rcpt_store_cannot_hold);
  g_test_add_func ("/smtp/delivery/rcpt-sqlite-holds-slash", test_rcpt_sqlite_holds_slash);
  g_test_add_func ("/smtp/delivery/group-commit-parallel", test_group_commit_parallel);
  g_test_add_func ("/smtp/delivery/group-commit-kill", test_group_commit_kill);
  return g_test_run ();
}
