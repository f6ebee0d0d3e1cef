/* imap-load: the IMAP mixed-session load (one epoll loop, no threads).
 *
 * Each of --clients clients runs sessions back to back, each on a new
 * connection, as user --user-format with %u = first-user + client index:
 *
 *   connect (greeting)  LOGIN  SELECT INBOX  FETCH 1:* (FLAGS ENVELOPE)
 *   FETCH r BODY.PEEK[]  STORE r +FLAGS (\Flagged)  SEARCH SUBJECT "..."
 *   APPEND INBOX (LITERAL+)  UID STORE u +FLAGS.SILENT (\Deleted)  EXPUNGE
 *   LOGOUT
 *
 * so the mailbox keeps its size (the appended message is expunged). Every
 * tagged command is an operation; its latency runs from the write of the
 * command to its tagged reply. After --seconds the run stops and prints:
 *
 *   imap clients=N seconds=S ops=.. ops_s=.. sessions=.. errors=.. p50_us=.. p99_us=.. gen_cpu_s=..
 *   op NAME n=.. p50_us=.. p99_us=..        (one line per command)
 *
 * --seed M instead makes each client log in once and APPEND M messages
 * (2-30 KB, fixed pseudo-random content), then log out: the same start for
 * every server.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench-common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum {
  STEP_CONNECT, STEP_LOGIN, STEP_SELECT, STEP_FETCH_ENVELOPE, STEP_FETCH_BODY,
  STEP_STORE, STEP_SEARCH, STEP_APPEND, STEP_STORE_DELETED, STEP_EXPUNGE,
  STEP_LOGOUT, N_STEPS
};

static const char *const step_names[N_STEPS] = {
  "connect", "LOGIN", "SELECT", "FETCH-envelope", "FETCH-body", "STORE",
  "SEARCH", "APPEND", "UID-STORE-deleted", "EXPUNGE", "LOGOUT",
};

static int opt_port = 143;
static int opt_clients = 1;
static double opt_seconds = 10;
static int opt_first_user = 1;
static int opt_seed = 0;
static char *opt_user_format = (char *) "bench%u@example.org";
static char *opt_password = (char *) "bench";

typedef struct {
  guint index;
  BenchConn conn;
  gboolean connected;
  gboolean out_pending;
  int step;
  guint tag;
  gint64 sent_us;
  guint64 lit_remaining;
  guint exists;
  guint target;          /* a random sequence number of this session */
  guint append_uid;
  guint seeded;
  GRand *rand;
  gboolean done;
} Client;

static int epfd;
static BenchLatency *latency[N_STEPS];
static BenchLatency *latency_all;
static guint64 n_ops, n_sessions, n_errors;
static gboolean counting = TRUE;
static guint clients_done;

static GBytes *
make_message (GRand *rand, guint n, guint size)
{
  GString *s = g_string_new (NULL);
  static const char *const words[] = {
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "mail",
    "server", "posthorn", "message", "benchmark", "storage", "protocol",
  };

  g_string_append_printf (s,
      "From: Bench Sender <sender%u@example.net>\r\n"
      "To: Bench User <user@example.org>\r\n"
      "Subject: bench message %u\r\n"
      "Date: Mon, 2 Jan 2023 10:%02u:00 +0100\r\n"
      "Message-ID: <bench-%u-%u@example.net>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
      n % 17, n, n % 60, n, g_rand_int (rand));
  while (s->len < size)
    {
      for (guint w = 0; w < 12; w++)
        {
          g_string_append (s, words[g_rand_int_range (rand, 0, G_N_ELEMENTS (words))]);
          g_string_append_c (s, w == 11 ? '.' : ' ');
        }
      g_string_append (s, "\r\n");
    }
  return g_string_free_to_bytes (s);
}

static void
client_watch (Client *c)
{
  struct epoll_event ev = { .events = EPOLLIN | (c->out_pending ? EPOLLOUT : 0), .data.ptr = c };

  epoll_ctl (epfd, EPOLL_CTL_MOD, c->conn.fd, &ev);
}

static void client_start (Client *c);

static void
client_close (Client *c)
{
  if (c->conn.fd >= 0)
    epoll_ctl (epfd, EPOLL_CTL_DEL, c->conn.fd, NULL);
  bench_conn_clear (&c->conn);
  c->connected = FALSE;
}

static void
client_fail (Client *c, const char *what)
{
  n_errors++;
  if (n_errors <= 5)
    fprintf (stderr, "imap-load: client %u step %s: %s\n", c->index, step_names[c->step], what);
  client_close (c);
  if (counting && !c->done)
    client_start (c);
}

static void
client_send (Client *c, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
client_send (Client *c, const char *format, ...)
{
  va_list ap;
  gboolean pending;

  c->tag++;
  bench_conn_queue_printf (&c->conn, "a%u ", c->tag);
  va_start (ap, format);
  g_string_append_vprintf (c->conn.out, format, ap);
  va_end (ap);
  c->sent_us = bench_now_us ();
  if (!bench_conn_flush (&c->conn, &pending))
    {
      client_fail (c, g_strerror (errno));
      return;
    }
  if (pending != c->out_pending)
    {
      c->out_pending = pending;
      client_watch (c);
    }
}

static void
client_append (Client *c, guint size)
{
  g_autoptr (GBytes) msg = make_message (c->rand, g_rand_int_range (c->rand, 0, 1000000), size);
  gsize len;
  const char *data = g_bytes_get_data (msg, &len);

  c->tag++;
  bench_conn_queue_printf (&c->conn, "a%u APPEND INBOX (\\Seen) {%" G_GSIZE_FORMAT "+}\r\n", c->tag, len);
  bench_conn_queue (&c->conn, data, len);
  bench_conn_queue (&c->conn, "\r\n", 2);
  c->sent_us = bench_now_us ();
  {
    gboolean pending;

    if (!bench_conn_flush (&c->conn, &pending))
      {
        client_fail (c, g_strerror (errno));
        return;
      }
    c->out_pending = pending;
    client_watch (c);
  }
}

/* --user-format with %u replaced by this client's user number. */
static char *
client_user (Client *c)
{
  GString *s = g_string_new (NULL);

  for (const char *p = opt_user_format; *p; p++)
    if (p[0] == '%' && p[1] == 'u')
      {
        g_string_append_printf (s, "%u", opt_first_user + c->index);
        p++;
      }
    else
      g_string_append_c (s, *p);
  return g_string_free (s, FALSE);
}

/* Sends the command of c->step (skipping those that do not apply). */
static void
client_next_command (Client *c)
{
  for (;;)
    {
      switch (c->step)
        {
        case STEP_LOGIN:
          {
            g_autofree char *user = client_user (c);

            client_send (c, "LOGIN \"%s\" \"%s\"\r\n", user, opt_password);
          }
          return;
        case STEP_SELECT:
          if (opt_seed > 0)
            {
              c->step = STEP_APPEND;
              continue;
            }
          client_send (c, "SELECT INBOX\r\n");
          return;
        case STEP_FETCH_ENVELOPE:
          if (c->exists == 0)
            {
              c->step = STEP_SEARCH;
              continue;
            }
          c->target = g_rand_int_range (c->rand, 1, c->exists + 1);
          client_send (c, "FETCH 1:* (FLAGS ENVELOPE)\r\n");
          return;
        case STEP_FETCH_BODY:
          client_send (c, "FETCH %u BODY.PEEK[]\r\n", c->target);
          return;
        case STEP_STORE:
          client_send (c, "STORE %u +FLAGS (\\Flagged)\r\n", c->target);
          return;
        case STEP_SEARCH:
          client_send (c, "SEARCH SUBJECT \"message %u\"\r\n", g_rand_int_range (c->rand, 0, 100));
          return;
        case STEP_APPEND:
          if (opt_seed > 0 && c->seeded >= (guint) opt_seed)
            {
              c->step = STEP_LOGOUT;
              continue;
            }
          client_append (c, opt_seed > 0 ? g_rand_int_range (c->rand, 2000, 30000) : 4000);
          return;
        case STEP_STORE_DELETED:
          if (c->append_uid == 0)
            {
              c->step = STEP_LOGOUT;
              continue;
            }
          client_send (c, "UID STORE %u +FLAGS.SILENT (\\Deleted)\r\n", c->append_uid);
          return;
        case STEP_EXPUNGE:
          client_send (c, "EXPUNGE\r\n");
          return;
        case STEP_LOGOUT:
          client_send (c, "LOGOUT\r\n");
          return;
        default:
          g_assert_not_reached ();
        }
    }
}

static void
client_tagged (Client *c, const char *line)
{
  const char *status = strchr (line, ' ');
  gint64 us = bench_now_us () - c->sent_us;
  gboolean ok = status != NULL && g_ascii_strncasecmp (status + 1, "OK", 2) == 0;

  if (!ok)
    {
      n_errors++;
      if (n_errors <= 5)
        fprintf (stderr, "imap-load: client %u %s: %s\n", c->index, step_names[c->step], line);
    }
  if (counting)
    {
      n_ops++;
      bench_latency_add (latency[c->step], us);
      bench_latency_add (latency_all, us);
    }
  if (c->step == STEP_APPEND)
    {
      const char *a = strstr (line, "[APPENDUID ");

      c->append_uid = 0;
      if (a != NULL)
        sscanf (a, "[APPENDUID %*u %u]", &c->append_uid);
      if (opt_seed > 0)
        {
          c->seeded++;
          client_next_command (c);
          return;
        }
    }
  if (c->step == STEP_LOGOUT)
    {
      if (counting)
        n_sessions++;
      client_close (c);
      if (opt_seed > 0)
        {
          c->done = TRUE;
          clients_done++;
          return;
        }
      if (counting)
        client_start (c);
      return;
    }
  c->step++;
  client_next_command (c);
}

static void
client_untagged (Client *c, const char *line)
{
  guint n;

  /* "* 0 RECENT" would match a bare "* %u" */
  if (c->step == STEP_SELECT && g_str_has_suffix (line, " EXISTS") &&
      sscanf (line, "* %u EXISTS", &n) == 1)
    c->exists = n;
}

static void
client_readable (Client *c)
{
  char tag[16];
  gsize taglen;

  if (!bench_conn_read (&c->conn))
    {
      client_fail (c, errno ? g_strerror (errno) : "connection closed");
      return;
    }
  taglen = g_snprintf (tag, sizeof tag, "a%u ", c->tag);
  for (;;)
    {
      const char *line;
      gsize len;

      if (c->lit_remaining > 0)
        {
          c->lit_remaining -= bench_conn_skip (&c->conn, c->lit_remaining);
          if (c->lit_remaining > 0)
            return;
        }
      line = bench_conn_line (&c->conn, &len);
      if (line == NULL)
        return;
      if (len > 2 && line[len - 1] == '}')
        {
          const char *open = strrchr (line, '{');

          if (open != NULL)
            c->lit_remaining = g_ascii_strtoull (open + 1, NULL, 10);
        }
      if (c->step == STEP_CONNECT)
        {
          if (strncmp (line, "* OK", 4) != 0)
            {
              client_fail (c, line);
              return;
            }
          if (counting)
            bench_latency_add (latency[STEP_CONNECT], bench_now_us () - c->sent_us);
          c->step = STEP_LOGIN;
          client_next_command (c);
          if (!c->connected)
            return;
          taglen = g_snprintf (tag, sizeof tag, "a%u ", c->tag);
        }
      else if (c->lit_remaining == 0 && len >= taglen && memcmp (line, tag, taglen) == 0)
        {
          client_tagged (c, line);
          if (!c->connected)
            return;
          taglen = g_snprintf (tag, sizeof tag, "a%u ", c->tag);
        }
      else if (line[0] == '*')
        client_untagged (c, line);
    }
}

static void
client_start (Client *c)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
  int fd = bench_connect_loopback (opt_port);

  if (fd < 0)
    {
      n_errors++;
      fprintf (stderr, "imap-load: connect: %s\n", g_strerror (errno));
      c->done = TRUE;
      clients_done++;
      return;
    }
  bench_conn_init (&c->conn, fd);
  c->connected = TRUE;
  c->out_pending = FALSE;
  c->step = STEP_CONNECT;
  c->tag = 0;
  c->lit_remaining = 0;
  c->exists = 0;
  c->append_uid = 0;
  c->sent_us = bench_now_us ();
  epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "IMAP port on 127.0.0.1", "PORT" },
    { "clients", 'c', 0, G_OPTION_ARG_INT, &opt_clients, "concurrent clients", "N" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "length of the run", "S" },
    { "first-user", 0, 0, G_OPTION_ARG_INT, &opt_first_user, "number of the first user", "N" },
    { "user-format", 0, 0, G_OPTION_ARG_STRING, &opt_user_format, "user name, %u = number", "FMT" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &opt_password, "password of every user", "PW" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &opt_seed, "append M messages per user and exit", "M" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- IMAP mixed-session load");
  g_autoptr (GError) error = NULL;
  g_autofree Client *clients = NULL;
  struct epoll_event events[256];
  gint64 start, deadline, end;
  double cpu0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "imap-load: %s\n", error->message);
      return 2;
    }
  bench_raise_fd_limit ();
  for (int i = 0; i < N_STEPS; i++)
    latency[i] = bench_latency_new (step_names[i]);
  latency_all = bench_latency_new ("all");
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  clients = g_new0 (Client, opt_clients);
  cpu0 = bench_self_cpu_seconds ();
  start = bench_now_us ();
  deadline = opt_seed > 0 ? G_MAXINT64 : start + (gint64) (opt_seconds * G_USEC_PER_SEC);
  for (int i = 0; i < opt_clients; i++)
    {
      clients[i].index = i;
      clients[i].conn.fd = -1;
      clients[i].rand = g_rand_new_with_seed (1939 + i);
      client_start (&clients[i]);
    }
  while (clients_done < (guint) opt_clients)
    {
      gint64 now = bench_now_us ();
      int timeout = deadline == G_MAXINT64 ? 1000 : (int) MAX (0, (deadline - now) / 1000);
      int n;

      if (now >= deadline)
        break;
      n = epoll_wait (epfd, events, G_N_ELEMENTS (events), MIN (timeout, 1000));
      for (int i = 0; i < n; i++)
        {
          Client *c = events[i].data.ptr;

          if (!c->connected)
            continue;
          if (events[i].events & EPOLLOUT)
            {
              gboolean pending;

              if (!bench_conn_flush (&c->conn, &pending))
                {
                  client_fail (c, g_strerror (errno));
                  continue;
                }
              if (!pending)
                {
                  c->out_pending = FALSE;
                  client_watch (c);
                }
            }
          if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            client_readable (c);
        }
    }
  end = bench_now_us ();
  counting = FALSE;
  for (int i = 0; i < opt_clients; i++)
    {
      client_close (&clients[i]);
      g_rand_free (clients[i].rand);
    }

  {
    double secs = (end - start) / 1e6;

    printf ("imap clients=%d seconds=%.2f ops=%" G_GUINT64_FORMAT " ops_s=%.1f sessions=%" G_GUINT64_FORMAT
            " errors=%" G_GUINT64_FORMAT " p50_us=%" G_GINT64_FORMAT " p99_us=%" G_GINT64_FORMAT " gen_cpu_s=%.2f\n",
            opt_clients, secs, n_ops, n_ops / secs, n_sessions, n_errors,
            bench_latency_percentile (latency_all, 50), bench_latency_percentile (latency_all, 99),
            bench_self_cpu_seconds () - cpu0);
    for (int i = 0; i < N_STEPS; i++)
      if (bench_latency_count (latency[i]) > 0)
        printf ("op %s n=%u p50_us=%" G_GINT64_FORMAT " p99_us=%" G_GINT64_FORMAT "\n",
                step_names[i], bench_latency_count (latency[i]),
                bench_latency_percentile (latency[i], 50), bench_latency_percentile (latency[i], 99));
  }
  for (int i = 0; i < N_STEPS; i++)
    bench_latency_free (latency[i]);
  bench_latency_free (latency_all);
  close (epfd);
  return n_errors > 0 && n_ops == 0 ? 1 : 0;
}
