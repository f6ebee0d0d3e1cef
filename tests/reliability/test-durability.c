/* Crash durability: a delivery storm (SMTP to the MX and IMAP APPEND at
 * the same time, into the same mailboxes) while posthornd is killed with
 * SIGKILL at random moments, several times, and restarted on the same
 * state. Afterwards, with the daemon stopped, the store is read
 * in-process and:
 *
 *  - every message the server acknowledged (250 after DATA, OK to APPEND)
 *    is there exactly once, byte-exact (an SMTP message after the trace
 *    fields we add at its top);
 *  - a message in flight at the kill is there at most once, and whole;
 *  - nothing else is there (no half-written message is visible);
 *  - an acknowledged APPEND has the UID its APPENDUID said, and a UID
 *    handed out after a restart is above every one handed out before it.
 *
 * Run with --store NAME for another storage plugin (skipped when that
 * plugin is not built).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>

#include "ph-test.h"
#include "store-test-util.h"

#define N_USERS 2
#define SMTP_WORKERS 3
#define IMAP_WORKERS 3
#define KILL_ROUNDS 4

static const char *const users[N_USERS] = { "alice@example.org", "bob@example.org" };

typedef enum {
  MSG_IN_FLIGHT,   /* its end went out; no answer seen */
  MSG_ACKED,
  MSG_REFUSED,     /* an answer that was not success: must not be stored */
} MsgState;

typedef struct {
  char *id;
  const char *user;
  gboolean smtp;
  GBytes *content;   /* what the store must hold (SMTP: its tail) */
  MsgState state;
  guint round;
  guint32 uid;       /* APPENDUID */
} Msg;

typedef struct {
  GMutex lock;
  GPtrArray *msgs;         /* Msg */
  guint round;
  guint counter;
  gint stop;               /* workers finish their message and leave */
  guint16 smtp_port;
  guint16 imap_port;
} Storm;

static void
msg_free (gpointer p)
{
  Msg *m = p;

  g_free (m->id);
  g_bytes_unref (m->content);
  g_free (m);
}

static Msg *
storm_new_msg (Storm *storm, const char *user, gboolean smtp, guint worker)
{
  Msg *m = g_new0 (Msg, 1);
  g_autoptr(GString) text = g_string_new (NULL);
  guint n, lines;

  g_mutex_lock (&storm->lock);
  n = storm->counter++;
  m->round = storm->round;
  g_mutex_unlock (&storm->lock);

  m->id = g_strdup_printf ("r%u-%s%u-%u", m->round, smtp ? "s" : "i", worker, n);
  m->user = user;
  m->smtp = smtp;
  g_string_append_printf (text,
                          "From: storm@remote.example\r\n"
                          "To: <%s>\r\n"
                          "Subject: storm %s\r\n"
                          "Message-ID: <%s@storm.example>\r\n"
                          "\r\n", user, m->id, m->id);
  /* from a few hundred bytes to ~48 KiB, so that a kill can land mid-write */
  lines = 1 + (g_random_int_range (0, 4) == 0 ? (guint) g_random_int_range (200, 600)
                                               : (guint) g_random_int_range (0, 8));
  for (guint i = 0; i < lines; i++)
    g_string_append_printf (text, "line %u of %s: the quick brown fox jumps over the lazy dog\r\n",
                            i, m->id);
  m->content = g_bytes_new (text->str, text->len);
  return m;
}

static void
storm_record (Storm *storm, Msg *m)
{
  g_mutex_lock (&storm->lock);
  g_ptr_array_add (storm->msgs, m);
  g_mutex_unlock (&storm->lock);
}

static void
storm_set_state (Storm *storm, Msg *m, MsgState state, guint32 uid)
{
  g_mutex_lock (&storm->lock);
  m->state = state;
  m->uid = uid;
  g_mutex_unlock (&storm->lock);
}

/* ---- SMTP client (MX), tolerant of the server vanishing ---- */

static guint
smtp_reply (PhTestClient *client)
{
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);

      if (line == NULL || strlen (line) < 3)
        return 0;
      if (line[3] != '-')
        return (guint) g_ascii_strtoull (line, NULL, 10);
    }
}

static guint
smtp_cmd (PhTestClient *client, const char *line)
{
  if (!ph_test_client_sendf (client, "%s\r\n", line))
    return 0;
  return smtp_reply (client);
}

typedef struct {
  Storm *storm;
  guint index;
} Worker;

static gpointer
smtp_worker (gpointer data)
{
  Worker *w = data;
  Storm *storm = w->storm;
  g_autoptr(PhTestClient) client = ph_test_client_new ("127.0.0.1", storm->smtp_port, FALSE, NULL, NULL);

  if (client == NULL)
    return NULL;
  ph_test_client_set_timeout (client, 4000);
  if (smtp_reply (client) != 220 || smtp_cmd (client, "EHLO storm.example") != 250)
    return NULL;
  while (!g_atomic_int_get (&storm->stop))
    {
      const char *user = users[g_random_int_range (0, N_USERS)];
      g_autofree char *rcpt = g_strdup_printf ("RCPT TO:<%s>", user);
      Msg *m;
      guint code;

      if (smtp_cmd (client, "MAIL FROM:<storm@remote.example>") != 250
          || smtp_cmd (client, rcpt) != 250
          || smtp_cmd (client, "DATA") != 354)
        return NULL;
      m = storm_new_msg (storm, user, TRUE, w->index);
      storm_record (storm, m);  /* in flight from the first byte on */
      if (!ph_test_client_send (client, g_bytes_get_data (m->content, NULL),
                                (gssize) g_bytes_get_size (m->content))
          || !ph_test_client_send (client, ".\r\n", 3))
        return NULL;
      code = smtp_reply (client);
      if (code == 0)
        return NULL;
      storm_set_state (storm, m, code == 250 ? MSG_ACKED : MSG_REFUSED, 0);
    }
  smtp_cmd (client, "QUIT");
  return NULL;
}

/* ---- IMAP client ---- */

/* Reads up to the tagged reply of @tag; returns it (g_free) or NULL. */
static char *
imap_tagged (PhTestClient *client, const char *tag)
{
  gsize tag_len = strlen (tag);

  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      if (line == NULL)
        return NULL;
      if (strncmp (line, tag, tag_len) == 0 && line[tag_len] == ' ')
        return line;
      g_free (line);
    }
}

static gpointer
imap_worker (gpointer data)
{
  Worker *w = data;
  Storm *storm = w->storm;
  const char *user = users[w->index % N_USERS];
  g_autoptr(PhTestClient) client = ph_test_client_new ("127.0.0.1", storm->imap_port, FALSE, NULL, NULL);
  g_autofree char *greeting = NULL;
  g_autofree char *login = NULL;
  guint tag = 0;

  if (client == NULL)
    return NULL;
  ph_test_client_set_timeout (client, 4000);
  greeting = ph_test_client_read_line (client);
  if (greeting == NULL || !ph_test_client_sendf (client, "l LOGIN %s pw\r\n", user))
    return NULL;
  login = imap_tagged (client, "l");
  if (login == NULL || !g_str_has_prefix (login, "l OK"))
    return NULL;
  while (!g_atomic_int_get (&storm->stop))
    {
      Msg *m = storm_new_msg (storm, user, FALSE, w->index);
      g_autofree char *t = g_strdup_printf ("a%u", tag++);
      g_autofree char *reply = NULL;
      const char *uidplus;
      gsize size = g_bytes_get_size (m->content);

      storm_record (storm, m);
      if (!ph_test_client_sendf (client, "%s APPEND INBOX {%" G_GSIZE_FORMAT "+}\r\n", t, size)
          || !ph_test_client_send (client, g_bytes_get_data (m->content, NULL), (gssize) size)
          || !ph_test_client_send (client, "\r\n", 2))
        return NULL;
      reply = imap_tagged (client, t);
      if (reply == NULL)
        return NULL;
      uidplus = strstr (reply, "[APPENDUID ");
      if (strncmp (reply + strlen (t), " OK", 3) == 0)
        {
          guint32 uid = 0;

          g_assert_nonnull (uidplus);
          uidplus = strchr (uidplus + strlen ("[APPENDUID "), ' ');
          g_assert_nonnull (uidplus);
          uid = (guint32) g_ascii_strtoull (uidplus + 1, NULL, 10);
          g_assert_cmpuint (uid, >, 0);
          storm_set_state (storm, m, MSG_ACKED, uid);
        }
      else
        storm_set_state (storm, m, MSG_REFUSED, 0);
    }
  if (ph_test_client_send (client, "z LOGOUT\r\n", -1))
    g_free (imap_tagged (client, "z"));
  return NULL;
}

/* ---- the test ---- */

static void
storm_run (Storm *storm, PhTestServer *server, gboolean kill_it)
{
  GThread *threads[SMTP_WORKERS + IMAP_WORKERS];
  Worker workers[SMTP_WORKERS + IMAP_WORKERS];
  guint ms = (guint) g_random_int_range (150, 900);

  storm->smtp_port = ph_test_server_get_port (server, "smtp", FALSE);
  storm->imap_port = ph_test_server_get_port (server, "imap4", FALSE);
  g_atomic_int_set (&storm->stop, 0);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      workers[i].storm = storm;
      workers[i].index = i;
      threads[i] = g_thread_new ("storm", i < SMTP_WORKERS ? smtp_worker : imap_worker, &workers[i]);
    }
  g_usleep (ms * 1000);
  if (kill_it)
    {
      int status = 0;

      g_test_message ("round %u: SIGKILL after %u ms", storm->round, ms);
      ph_test_server_signal (server, SIGKILL);
      g_assert_true (ph_test_server_wait (server, 10000, &status));
      g_assert_cmpint (status, ==, 128 + SIGKILL);
    }
  g_atomic_int_set (&storm->stop, 1);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
}

static gboolean
bytes_has_suffix (GBytes *whole, GBytes *suffix)
{
  gsize n, k;
  const guint8 *a = g_bytes_get_data (whole, &n);
  const guint8 *b = g_bytes_get_data (suffix, &k);

  return n >= k && memcmp (a + n - k, b, k) == 0;
}

/* The storm id in a stored message's Subject, or NULL. */
static char *
stored_id (GBytes *bytes)
{
  gsize n;
  const char *data = g_bytes_get_data (bytes, &n);
  const char *s = g_strstr_len (data, (gssize) n, "\r\nSubject: storm ");
  const char *end;

  if (s == NULL)
    return NULL;
  s += strlen ("\r\nSubject: storm ");
  end = g_strstr_len (s, (gssize) (n - (gsize) (s - data)), "\r\n");
  return end != NULL ? g_strndup (s, (gsize) (end - s)) : NULL;
}

static void
verify_user (Storm *storm, const char *user)
{
  g_autoptr(GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreUser) u = store_test_open_user (user);
  g_autoptr(PosthornMailboxView) view = store_test_open_view (u, "INBOX", POSTHORN_VIEW_READ_ONLY, &error);
  guint32 prev_uid = 0, count;
  guint acked = 0, in_flight_stored = 0;
  guint32 max_acked_before[KILL_ROUNDS + 2] = { 0 };

  g_assert_no_error (error);
  for (guint i = 0; i < storm->msgs->len; i++)
    {
      Msg *m = storm->msgs->pdata[i];

      if (m->user == user)
        g_hash_table_insert (by_id, m->id, m);
    }

  count = posthorn_mailbox_view_get_count (view);
  for (guint seq = 1; seq <= count; seq++)
    {
      guint32 uid = posthorn_mailbox_view_get_uid (view, seq);
      g_autoptr(GBytes) bytes = store_test_read_all (u, "INBOX", posthorn_mailbox_view_get_uidvalidity (view),
                                                     uid, 65536, &error);
      g_autofree char *id = NULL;
      Msg *m;

      g_assert_no_error (error);
      g_assert_cmpuint (uid, >, prev_uid);
      prev_uid = uid;
      id = stored_id (bytes);
      g_assert_nonnull (id);
      m = g_hash_table_lookup (by_id, id);
      if (m == NULL)
        g_error ("%s: stored message %s (UID %u) was never sent", user, id, uid);
      if (g_hash_table_contains (seen, id))
        g_error ("%s: message %s is stored twice", user, id);
      g_hash_table_add (seen, g_strdup (id));
      if (m->state == MSG_REFUSED)
        g_error ("%s: refused message %s is stored", user, id);
      if (m->smtp ? !bytes_has_suffix (bytes, m->content) : !g_bytes_equal (bytes, m->content))
        g_error ("%s: message %s (UID %u, %s) is not byte-exact: %" G_GSIZE_FORMAT " bytes stored, %"
                 G_GSIZE_FORMAT " sent", user, id, uid, m->state == MSG_ACKED ? "acknowledged" : "in flight",
                 g_bytes_get_size (bytes), g_bytes_get_size (m->content));
      if (m->state == MSG_ACKED && !m->smtp)
        g_assert_cmpuint (uid, ==, m->uid);
      if (m->state == MSG_IN_FLIGHT)
        in_flight_stored++;
    }

  for (guint i = 0; i < storm->msgs->len; i++)
    {
      Msg *m = storm->msgs->pdata[i];

      if (m->user != user || m->state != MSG_ACKED)
        continue;
      acked++;
      if (!g_hash_table_contains (seen, m->id))
        g_error ("%s: acknowledged message %s (%s, round %u) is lost", user, m->id,
                 m->smtp ? "SMTP" : "APPEND", m->round);
      if (!m->smtp)
        for (guint r = m->round + 1; r < G_N_ELEMENTS (max_acked_before); r++)
          max_acked_before[r] = MAX (max_acked_before[r], m->uid);
    }
  /* UIDs never go backwards across a crash */
  for (guint i = 0; i < storm->msgs->len; i++)
    {
      Msg *m = storm->msgs->pdata[i];

      if (m->user == user && m->state == MSG_ACKED && !m->smtp && m->round < G_N_ELEMENTS (max_acked_before))
        if (m->uid <= max_acked_before[m->round])
          g_error ("%s: APPENDUID %u in round %u is not above %u from an earlier round",
                   user, m->uid, m->round, max_acked_before[m->round]);
    }
  g_test_message ("%s: %u stored, %u acknowledged, %u in flight at a kill and stored",
                  user, count, acked, in_flight_stored);
  g_assert_cmpuint (acked, >, 0);
}

static void
test_durability_storm (void)
{
  const char *store = store_test_plugin_name ();
  g_autofree char *module = g_strconcat (store, ".so", NULL);
  g_autofree char *plugin_path = g_build_filename (g_getenv ("POSTHORN_PLUGIN_DIR"), module, NULL);
  g_autofree char *plugins = g_strdup_printf ("auth-passwd-file;%s;smtp;imap4", store);
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *users_path = NULL;
  g_autofree char *config = NULL;
  Storm storm = { 0 };
  guint acked = 0, in_flight = 0;

  if (!g_file_test (plugin_path, G_FILE_TEST_EXISTS))
    {
      g_test_skip_printf ("storage plugin %s is not built", store);
      return;
    }
  server = ph_test_server_create (plugins);
  users_path = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_assert_true (g_file_set_contents (users_path,
                                      "alice@example.org:{PLAIN}pw\nbob@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[core]\nlog_level=info\n"
                            "[auth-passwd-file]\npath=%s\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org\nlisten=127.0.0.1:0\n"
                            "[imap4]\nlisten=127.0.0.1:0\n", users_path);
  ph_test_server_append_config (server, config);
  ph_test_server_set_tls (server, FALSE);

  g_mutex_init (&storm.lock);
  storm.msgs = g_ptr_array_new_with_free_func (msg_free);
  for (storm.round = 0; storm.round <= KILL_ROUNDS; storm.round++)
    {
      ph_test_server_start_or_die (server);
      storm_run (&storm, server, storm.round < KILL_ROUNDS);
    }
  {
    int status = ph_test_server_stop (server);

    if (status != 0)
      {
        g_autofree char *log = ph_test_server_get_log (server);
        gsize len = strlen (log);

        g_test_message ("posthornd log (end):\n%s", log + (len > 6000 ? len - 6000 : 0));
        g_error ("posthornd did not stop cleanly after the last round: status %d", status);
      }
  }

  for (guint i = 0; i < storm.msgs->len; i++)
    {
      Msg *m = storm.msgs->pdata[i];

      acked += m->state == MSG_ACKED;
      in_flight += m->state == MSG_IN_FLIGHT;
    }
  g_test_message ("%u messages sent, %u acknowledged, %u in flight at a kill",
                  storm.msgs->len, acked, in_flight);

  store_test_load (ph_test_server_get_state_dir (server));
  for (guint i = 0; i < N_USERS; i++)
    verify_user (&storm, users[i]);
  store_test_unload ();

  g_ptr_array_unref (storm.msgs);
  g_mutex_clear (&storm.lock);
}

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/reliability/durability/kill-9-storm", test_durability_storm);
  return g_test_run ();
}
