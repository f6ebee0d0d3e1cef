/* The outbound queue in the real daemon, against a loopback test MX (a
 * small scripted SMTP sink on a thread) and a second posthornd: temporary
 * failure then success, permanent failure with a DSN in the sender's
 * INBOX, opportunistic STARTTLS, and a queue that survives kill -9.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <signal.h>
#include <sys/wait.h>
#include <string.h>

/* ---- the sink ---- */

typedef enum {
  SINK_ACCEPT,        /* take every message */
  SINK_TEMPFAIL_RCPT, /* 451 at RCPT */
  SINK_PERMFAIL_RCPT, /* 550 5.1.1 at RCPT */
} SinkMode;

typedef struct {
  GSocketListener *listener;
  guint16 port;
  GThread *thread;
  GMutex lock;
  SinkMode mode;            /* for the next session */
  SinkMode then;            /* after one session in @mode */
  guint sessions;
  GPtrArray *messages;      /* "MAIL FROM:<..>\nRCPT TO:<..>\n\nDATA" */
  gboolean stop;
} Sink;

static char *
sink_read_line (GDataInputStream *in)
{
  gsize len;
  char *line = g_data_input_stream_read_line (in, &len, NULL, NULL);

  if (line != NULL && len > 0 && line[len - 1] == '\r')
    line[len - 1] = '\0';
  return line;
}

static void
sink_write (GOutputStream *out, const char *text)
{
  g_output_stream_write_all (out, text, strlen (text), NULL, NULL, NULL);
}

static void
sink_session (Sink *sink, GSocketConnection *conn)
{
  GInputStream *raw = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (raw);
  g_autoptr(GString) envelope = g_string_new (NULL);
  SinkMode mode;

  g_mutex_lock (&sink->lock);
  mode = sink->mode;
  sink->mode = sink->then;
  sink->sessions++;
  g_mutex_unlock (&sink->lock);

  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  sink_write (out, "220 sink.test ESMTP\r\n");
  for (;;)
    {
      g_autofree char *line = sink_read_line (in);

      if (line == NULL)
        return;
      if (g_ascii_strncasecmp (line, "EHLO", 4) == 0)
        sink_write (out, "250-sink.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
      else if (g_ascii_strncasecmp (line, "MAIL", 4) == 0)
        {
          g_string_append_printf (envelope, "%s\n", line);
          sink_write (out, "250 2.1.0 ok\r\n");
        }
      else if (g_ascii_strncasecmp (line, "RCPT", 4) == 0)
        {
          if (mode == SINK_TEMPFAIL_RCPT)
            sink_write (out, "451 4.3.0 try later\r\n");
          else if (mode == SINK_PERMFAIL_RCPT)
            sink_write (out, "550 5.1.1 no such user here\r\n");
          else
            {
              g_string_append_printf (envelope, "%s\n", line);
              sink_write (out, "250 2.1.5 ok\r\n");
            }
        }
      else if (g_ascii_strcasecmp (line, "DATA") == 0)
        {
          g_autoptr(GString) data = g_string_new (NULL);

          sink_write (out, "354 go\r\n");
          for (;;)
            {
              g_autofree char *l = sink_read_line (in);
              if (l == NULL)
                return;
              if (strcmp (l, ".") == 0)
                break;
              g_string_append_printf (data, "%s\n", l);
            }
          g_mutex_lock (&sink->lock);
          g_ptr_array_add (sink->messages, g_strdup_printf ("%s\n%s", envelope->str, data->str));
          g_mutex_unlock (&sink->lock);
          sink_write (out, "250 2.0.0 queued\r\n");
        }
      else if (g_ascii_strcasecmp (line, "QUIT") == 0)
        {
          sink_write (out, "221 bye\r\n");
          return;
        }
      else
        sink_write (out, "250 ok\r\n");
    }
}

static gpointer
sink_thread (gpointer data)
{
  Sink *sink = data;

  for (;;)
    {
      g_autoptr(GSocketConnection) conn = g_socket_listener_accept (sink->listener, NULL, NULL, NULL);

      if (conn == NULL || sink->stop)
        return NULL;
      sink_session (sink, conn);
    }
}

static Sink *
sink_new (SinkMode mode, SinkMode then)
{
  Sink *sink = g_new0 (Sink, 1);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  sink->listener = g_socket_listener_new ();
  g_assert_true (g_socket_listener_add_address (sink->listener, addr, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, NULL));
  sink->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_mutex_init (&sink->lock);
  sink->mode = mode;
  sink->then = then;
  sink->messages = g_ptr_array_new_with_free_func (g_free);
  sink->thread = g_thread_new ("sink", sink_thread, sink);
  return sink;
}

static void
sink_free (Sink *sink)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) wake = NULL;

  sink->stop = TRUE;
  wake = g_socket_client_connect_to_host (client, "127.0.0.1", sink->port, NULL, NULL);
  g_thread_join (sink->thread);
  g_socket_listener_close (sink->listener);
  g_object_unref (sink->listener);
  g_ptr_array_unref (sink->messages);
  g_mutex_clear (&sink->lock);
  g_free (sink);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sink, sink_free)

static char *
sink_wait_message (Sink *sink, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      char *msg = NULL;

      g_mutex_lock (&sink->lock);
      if (sink->messages->len > 0)
        msg = g_strdup (sink->messages->pdata[0]);
      g_mutex_unlock (&sink->lock);
      if (msg != NULL)
        return msg;
      g_usleep (50 * 1000);
    }
  return NULL;
}

/* ---- helpers ---- */

static PhTestServer *
server_with_transport (guint16 port, const char *extra)
{
  g_autofree char *config = g_strdup_printf ("[smtp]\ntransport=remote.example:127.0.0.1:%u\n"
                                             "retry_min=1s\nretry_max=2s\noutbound_timeout=5s\n%s",
                                             port, extra != NULL ? extra : "");
  return smtp_test_server_new (config);
}

static void
submit_as_alice (PhTestServer *server, const char *const *rcpts, const char *body)
{
  g_autoptr(PhTestClient) client = smtp_test_connect (server, "submission");
  g_autofree char *plain = g_base64_encode ((const guchar *) "\0alice@example.org\0alice-pw", 27);
  g_autofree char *auth = g_strdup_printf ("AUTH PLAIN %s", plain);

  g_free (smtp_test_ehlo (client));
  g_free (smtp_test_expect (client, auth, 235));
  g_free (smtp_test_expect (client, "MAIL FROM:<alice@example.org>", 250));
  for (guint i = 0; rcpts[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf ("RCPT TO:<%s>", rcpts[i]);
      g_free (smtp_test_expect (client, line, 250));
    }
  g_free (smtp_test_expect (client, "DATA", 354));
  g_assert_true (ph_test_client_send (client, body, -1));
  g_free (smtp_test_expect (client, ".", 250));
  g_free (smtp_test_expect (client, "QUIT", 221));
}

static guint
count_spool (PhTestServer *server)
{
  g_autofree char *dir = g_build_filename (ph_test_server_get_state_dir (server), "smtp-queue", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".env"))
      n++;
  return n;
}

/* ---- tests ---- */

static void
test_tempfail_then_success (void)
{
  g_autoptr(Sink) sink = sink_new (SINK_TEMPFAIL_RCPT, SINK_ACCEPT);
  g_autoptr(PhTestServer) server = server_with_transport (sink->port, NULL);
  const char *rcpts[] = { "dest@remote.example", "other@Remote.Example", "bob@example.org", NULL };
  g_autofree char *got = NULL;
  g_autoptr(GPtrArray) bob = NULL;

  submit_as_alice (server, rcpts, "Subject: out\r\n\r\n..leading dot\r\nbody\r\n");
  got = sink_wait_message (sink, 10000);
  if (got == NULL)
    g_error ("nothing arrived: %s", ph_test_server_get_log (server));
  if (sink->sessions != 2)
    g_error ("%u sessions: %s", sink->sessions, ph_test_server_get_log (server));
  /* one attempt for the domain, both recipients batched */
  g_assert_nonnull (strstr (got, "MAIL FROM:<alice@example.org>"));
  g_assert_nonnull (strstr (got, "RCPT TO:<dest@remote.example>\nRCPT TO:<other@Remote.Example>\n"));
  g_assert_nonnull (strstr (got, "Received: from client.example"));
  g_assert_null (strstr (got, "Return-Path:"));
  g_assert_nonnull (strstr (got, "\n..leading dot\nbody\n"));  /* stuffed again */
  /* the local recipient got its copy at once, with Return-Path */
  for (int i = 0; i < 50 && count_spool (server) > 0; i++)
    g_usleep (100 * 1000);
  if (count_spool (server) != 0)
    g_error ("still queued: %s", ph_test_server_get_log (server));
  bob = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (bob->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (bob->pdata[0], "Return-Path: <alice@example.org>\r\n"));
}

static void
test_permfail_dsn (void)
{
  g_autoptr(Sink) sink = sink_new (SINK_PERMFAIL_RCPT, SINK_PERMFAIL_RCPT);
  g_autoptr(PhTestServer) server = server_with_transport (sink->port, NULL);
  const char *rcpts[] = { "nobody@remote.example", NULL };
  g_autoptr(GPtrArray) inbox = NULL;
  GBytes *dsn;

  submit_as_alice (server, rcpts, "Subject: doomed\r\nMessage-ID: <doomed@example.org>\r\n\r\nx\r\n");
  for (int i = 0; i < 100 && count_spool (server) > 0; i++)
    g_usleep (100 * 1000);
  g_assert_cmpuint (count_spool (server), ==, 0);
  g_usleep (500 * 1000);  /* the report is stored right after */
  inbox = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  dsn = inbox->pdata[0];
  g_assert_true (smtp_test_bytes_contain (dsn, "multipart/report"));
  g_assert_true (smtp_test_bytes_contain (dsn, "report-type=delivery-status"));
  g_assert_true (smtp_test_bytes_contain (dsn, "Final-Recipient: rfc822; nobody@remote.example"));
  g_assert_true (smtp_test_bytes_contain (dsn, "Status: 5.1.1"));
  g_assert_true (smtp_test_bytes_contain (dsn, "no such user here"));
  g_assert_true (smtp_test_bytes_contain (dsn, "Message-ID: <doomed@example.org>"));
}

/* A second posthornd is the remote MX: delivery over opportunistic
 * STARTTLS into its store. */
static void
test_to_second_posthornd (void)
{
  g_autoptr(PhTestServer) remote = ph_test_server_create ("auth-passwd-file;storage-sqlite;smtp");
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (remote), "users", NULL);
  g_autofree char *config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n[smtp]\n"
                                             "hostname=mx.remote.example\ndomains=remote.example\n"
                                             "listen=127.0.0.1:0\n", users);
  g_autoptr(PhTestServer) server = NULL;
  const char *rcpts[] = { "dest@remote.example", NULL };
  g_autoptr(GPtrArray) inbox = NULL;

  g_assert_true (g_file_set_contents (users, "dest@remote.example:{PLAIN}x\n", -1, NULL));
  ph_test_server_append_config (remote, config);
  ph_test_server_start_or_die (remote);
  server = server_with_transport (ph_test_server_get_port (remote, "smtp", FALSE), NULL);
  submit_as_alice (server, rcpts, "Subject: across\r\n\r\nhello remote\r\n");
  for (int i = 0; i < 100 && count_spool (server) > 0; i++)
    g_usleep (100 * 1000);
  if (count_spool (server) != 0)
    g_error ("still queued: %s", ph_test_server_get_log (server));
  inbox = smtp_test_stop_and_read_inbox (remote, "dest@remote.example");
  g_assert_cmpuint (inbox->len, ==, 1);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "Return-Path: <alice@example.org>"));
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "by mx.remote.example"));
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with ESMTPS"));
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "hello remote"));
}

static void
test_survives_restart (void)
{
  g_autoptr(Sink) sink = sink_new (SINK_TEMPFAIL_RCPT, SINK_TEMPFAIL_RCPT);
  g_autoptr(PhTestServer) server = server_with_transport (sink->port, "retry_min=1h\n");
  const char *rcpts[] = { "dest@remote.example", NULL };
  g_autofree char *got = NULL;
  int status;

  submit_as_alice (server, rcpts, "Subject: durable\r\n\r\nstill here\r\n");
  g_assert_cmpuint (count_spool (server), ==, 1);
  ph_test_server_signal (server, SIGKILL);
  g_assert_true (ph_test_server_wait (server, 5000, &status));
  g_mutex_lock (&sink->lock);
  sink->mode = sink->then = SINK_ACCEPT;
  g_mutex_unlock (&sink->lock);
  ph_test_server_start_or_die (server);
  got = sink_wait_message (sink, 10000);
  g_assert_nonnull (got);
  g_assert_nonnull (strstr (got, "still here"));
}

/* ---- posthornctl queue ---- */

static int
run_ctl (PhTestServer *server, char **out, const char *action, const char *arg)
{
  const char *ctl = g_getenv ("POSTHORNCTL");
  const char *argv[] = { ctl, "queue", "-c", ph_test_server_get_config_path (server), action,
                         arg, NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_assert_nonnull (ctl);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL,
                               out == NULL ? G_SPAWN_STDOUT_TO_DEV_NULL : G_SPAWN_DEFAULT,
                               NULL, NULL, out,
                               &err, &status, &error));
  g_assert_no_error (error);
  if (err != NULL && *err != '\0')
    g_test_message ("posthornctl queue %s: %s", action, g_strchomp (err));
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static GPtrArray *
spool_ids (PhTestServer *server)
{
  g_autofree char *dir = g_build_filename (ph_test_server_get_state_dir (server), "smtp-queue", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".env"))
      g_ptr_array_add (ids, g_strndup (name, strlen (name) - 4));
  return ids;
}

static gboolean
spool_has_file (PhTestServer *server, const char *id, const char *suffix)
{
  g_autofree char *name = g_strconcat (id, suffix, NULL);
  g_autofree char *path = g_build_filename (ph_test_server_get_state_dir (server), "smtp-queue",
                                            name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static void
test_ctl_queue (void)
{
  g_autoptr(Sink) sink = sink_new (SINK_TEMPFAIL_RCPT, SINK_TEMPFAIL_RCPT);
  g_autoptr(PhTestServer) server = server_with_transport (sink->port, "retry_min=1h\n");
  const char *first[] = { "dest@remote.example", NULL };
  const char *second[] = { "other@remote.example", NULL };
  g_autoptr(GPtrArray) ids = NULL;
  g_autofree char *json = NULL;
  g_autofree char *text = NULL;
  g_autofree char *got = NULL;
  g_autofree char *deleted_out = NULL;
  g_autofree char *again = NULL;
  const char *keep, *drop;

  submit_as_alice (server, first, "Subject: first\r\n\r\ngoes away\r\n");
  submit_as_alice (server, second, "Subject: second\r\n\r\nstays\r\n");
  /* both were tried once and deferred for an hour */
  for (int i = 0; i < 100 && sink->sessions < 2; i++)
    g_usleep (50 * 1000);
  g_assert_cmpuint (sink->sessions, ==, 2);
  g_usleep (300 * 1000);  /* the deferral is written after the attempt */
  ids = spool_ids (server);
  g_assert_cmpuint (ids->len, ==, 2);

  g_assert_cmpint (run_ctl (server, &text, "list", NULL), ==, 0);
  g_assert_nonnull (strstr (text, "2 message(s) in the queue"));
  g_assert_nonnull (strstr (text, "<alice@example.org>"));
  g_assert_nonnull (strstr (text, "pending   <dest@remote.example>"));
  g_assert_nonnull (strstr (text, ids->pdata[0]));
  g_assert_cmpint (run_ctl (server, &json, "list", "--json"), ==, 0);
  g_assert_true (g_str_has_prefix (json, "[\n  {\"id\": \""));
  g_assert_nonnull (strstr (json, "\"sender\": \"alice@example.org\""));
  g_assert_nonnull (strstr (json, "{\"address\": \"other@remote.example\", \"state\": \"pending\""));
  g_assert_nonnull (strstr (json, "\"attempts\": 1"));

  /* delete the message to dest@, flush: only the other one goes out */
  {
    g_autofree char *path = NULL;
    g_autofree char *bytes = NULL;

    drop = ids->pdata[0];
    keep = ids->pdata[1];
    path = g_build_filename (ph_test_server_get_state_dir (server), "smtp-queue", NULL);
    bytes = g_strconcat (path, "/", drop, ".msg", NULL);
    g_assert_true (g_file_get_contents (bytes, &got, NULL, NULL));
    if (strstr (got, "goes away") == NULL)
      {
        drop = ids->pdata[1];
        keep = ids->pdata[0];
      }
    g_clear_pointer (&got, g_free);
  }
  g_assert_cmpint (run_ctl (server, &deleted_out, "delete", drop), ==, 0);
  g_assert_false (spool_has_file (server, drop, ".env"));
  for (int i = 0; i < 100 && spool_has_file (server, drop, ".msg"); i++)
    g_usleep (50 * 1000);
  g_assert_false (spool_has_file (server, drop, ".msg"));
  g_assert_false (spool_has_file (server, drop, ".env.deleted"));
  g_assert_cmpint (run_ctl (server, &again, "delete", drop), ==, 1);
  g_assert_cmpint (run_ctl (server, NULL, "delete", "not-an-id"), ==, 1);

  g_mutex_lock (&sink->lock);
  sink->mode = sink->then = SINK_ACCEPT;
  g_mutex_unlock (&sink->lock);
  g_assert_cmpint (run_ctl (server, NULL, "flush", NULL), ==, 0);
  got = sink_wait_message (sink, 10000);
  if (got == NULL)
    g_error ("flush delivered nothing: %s", ph_test_server_get_log (server));
  g_assert_nonnull (strstr (got, "stays"));
  for (int i = 0; i < 100 && spool_has_file (server, keep, ".env"); i++)
    g_usleep (50 * 1000);
  g_assert_false (spool_has_file (server, keep, ".env"));
  g_usleep (200 * 1000);
  g_mutex_lock (&sink->lock);
  g_assert_cmpuint (sink->messages->len, ==, 1);
  g_mutex_unlock (&sink->lock);
  g_clear_pointer (&text, g_free);
  g_assert_cmpint (run_ctl (server, &text, "list", NULL), ==, 0);
  g_assert_nonnull (strstr (text, "0 message(s) in the queue"));
}

/* A delete while the daemon is down is finished at the next start. */
static void
test_ctl_delete_offline (void)
{
  g_autoptr(Sink) sink = sink_new (SINK_TEMPFAIL_RCPT, SINK_TEMPFAIL_RCPT);
  g_autoptr(PhTestServer) server = server_with_transport (sink->port, "retry_min=1h\n");
  const char *rcpts[] = { "dest@remote.example", NULL };
  g_autoptr(GPtrArray) ids = NULL;
  g_autofree char *text = NULL;

  submit_as_alice (server, rcpts, "Subject: offline\r\n\r\nx\r\n");
  for (int i = 0; i < 100 && sink->sessions < 1; i++)
    g_usleep (50 * 1000);
  g_usleep (300 * 1000);
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  ids = spool_ids (server);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpint (run_ctl (server, NULL, "delete", ids->pdata[0]), ==, 0);
  g_assert_true (spool_has_file (server, ids->pdata[0], ".env.deleted"));
  ph_test_server_start_or_die (server);
  g_assert_false (spool_has_file (server, ids->pdata[0], ".env.deleted"));
  g_assert_false (spool_has_file (server, ids->pdata[0], ".msg"));
  g_assert_cmpint (run_ctl (server, &text, "list", NULL), ==, 0);
  g_assert_nonnull (strstr (text, "0 message(s) in the queue"));
  g_assert_cmpuint (sink->sessions, ==, 1);
}

int
main (int argc, char **argv)
{
  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/queue/tempfail-then-success", test_tempfail_then_success);
  g_test_add_func ("/smtp/queue/permfail-dsn-to-sender", test_permfail_dsn);
  g_test_add_func ("/smtp/queue/starttls-to-second-posthornd", test_to_second_posthornd);
  g_test_add_func ("/smtp/queue/survives-kill-and-restart", test_survives_restart);
  g_test_add_func ("/smtp/queue/posthornctl-list-delete-flush", test_ctl_queue);
  g_test_add_func ("/smtp/queue/posthornctl-delete-offline", test_ctl_delete_offline);
  return g_test_run ();
}
