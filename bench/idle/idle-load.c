/* idle-load: a fleet of N authenticated sessions that wait for mail (one
 * epoll loop, no threads).
 *
 * Each session connects, LOGINs (users --first-user .. + --users - 1, in
 * turn), SELECTs INBOX and asks CAPABILITY. When the server offers IDLE
 * the session sends IDLE and waits for "+"; otherwise it just stays
 * selected, doing nothing (mode=selected). At most --ramp sessions are
 * being set up at once. Once every session is set up the fleet is held
 * for --hold seconds (and, with --deliveries N, until N deliveries were
 * measured). In IDLE mode --streams K control connections, stream k
 * logged in as user --first-user + k, APPEND messages meanwhile, each to
 * its own user's INBOX and each one delivery at a time: a stream's next
 * APPEND leaves --interval-ms after its previous one, or once its
 * previous round is over (its tagged OK read and an EXISTS read by every
 * session that stream watches, or 5 s), whichever is later - so a slow
 * server's pushes never merge. Stream k watches the IDLE sessions of its
 * user; the K users receive mail at the same time, each user's
 * deliveries one at a time. The --deliveries are counted over all
 * streams (each stream sends about N / K). With --settle S the fleet is
 * held S seconds more after the last delivery, without any (a server
 * that parks idle sessions has them parked again by the end). Two push
 * latencies per watched session and delivery (the first EXISTS only;
 * rounds_timed_out counts the rounds given up after 5 s; the control
 * session's SELECT gives the INBOX's message count, so an EXISTS counts
 * for round r only if it reports at least that count + r: one of a
 * round given up, read late, counts for none):
 * - exists_ok: from the delivering client reading its tagged OK to the
 *   watcher reading "* n EXISTS" (what issue #8 asks). A server may push
 *   before the delivering client has its OK: such a push counts as 0 and
 *   is counted in exists_before_ok_n.
 * - exists (kept from before): from sending the APPEND to the EXISTS.
 *
 *   idle sessions=N established=M mode=idle|selected setup_s=.. errors=..
 *        gen_cpu_s=.. deliveries=.. streams=.. rounds_timed_out=.. watched=..
 *        exists_ok_n=.. exists_ok_p50_us=.. exists_ok_p99_us=.. exists_before_ok_n=..
 *        exists_n=.. exists_p50_us=.. exists_p99_us=..
 *
 * With --windows K the --deliveries are also split into K consecutive
 * windows of the same held fleet, each printed as it ends (before the line
 * above, keys prefixed w_ so they never match the fleet's):
 *
 *   window i/K w_deliveries=.. w_exists_ok_n=.. w_exists_ok_p50_us=..
 *        w_exists_ok_p99_us=.. w_exists_before_ok_n=.. w_exists_n=..
 *        w_exists_p50_us=.. w_exists_p99_us=..
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

enum { S_GREETING, S_LOGIN, S_SELECT, S_CAPABILITY, S_IDLE_START, S_READY, S_FAILED };

static int opt_port = 143;
static int opt_sessions = 100;
static int opt_users = 50;
static int opt_first_user = 1;
static int opt_ramp = 64;
static double opt_hold = 5;
static char *opt_user_format = (char *) "bench%u@example.org";
static char *opt_password = (char *) "bench";
static gboolean opt_no_idle = FALSE;
static int opt_deliveries = 0;
static int opt_interval_ms = 1000;
static int opt_windows = 1;
static int opt_streams = 1;
static double opt_settle = 0;

/* a round without every EXISTS is given up after this long */
#define ROUND_TIMEOUT_US (5 * G_USEC_PER_SEC)

typedef struct _Stream Stream;

typedef struct {
  guint index;
  BenchConn conn;
  int state;
  gboolean control;      /* the APPENDing connection of its stream */
  gboolean watched;      /* an IDLE session of its stream's user */
  Stream *stream;        /* control and watched sessions: their stream */
  gint64 append_sent_us; /* control: when the last APPEND was sent */
  gint64 append_ok_us;   /* control: when its tagged OK was read, 0 before */
  guint append_seq;      /* control: APPENDs sent; others: the last one seen */
  guint64 selected_exists; /* the INBOX's EXISTS at SELECT */
  gboolean append_busy;
  gint64 exists_us;      /* watched: when the EXISTS of append_seq was read */
} Session;

/* One delivery stream: a control session APPENDing to its own user's
 * INBOX, one delivery at a time, and that user's IDLE sessions. */
struct _Stream {
  guint number;          /* 0 .. --streams - 1: user --first-user + number */
  Session control;
  gboolean ready;        /* the control session is logged in and selected */
  guint n_watched;       /* watched sessions ready */
  guint round_seen;      /* watched sessions with this round's EXISTS */
  GPtrArray *round_early; /* of Session: EXISTS read before the OK */
  gint64 next_append;
};

static int epfd;
static guint n_ready, n_failed, n_in_setup, n_started;
static guint64 n_errors;
static gboolean server_has_idle;
static gboolean any_idle;
static BenchLatency *exists_latency;     /* from sending the APPEND */
static BenchLatency *exists_ok_latency;  /* from the APPEND's tagged OK */
static guint n_before_ok;                /* EXISTS read before that OK */
static guint n_watched;                  /* watched sessions ready, all streams */
static guint n_deliveries;               /* rounds measured, all streams */
static guint n_busy;                     /* rounds in flight, all streams */
static guint n_timed_out;                /* rounds given up: an EXISTS missing after 5 s */
static Stream *streams;                  /* --streams of them */
/* the same, for the current --windows window */
static BenchLatency *w_exists_latency, *w_exists_ok_latency;
static guint w_before_ok, w_deliveries, w_index;

static char *
user_name (guint number)
{
  GString *s = g_string_new (NULL);

  for (const char *p = opt_user_format; *p; p++)
    if (p[0] == '%' && p[1] == 'u')
      {
        g_string_append_printf (s, "%u", number);
        p++;
      }
    else
      g_string_append_c (s, *p);
  return g_string_free (s, FALSE);
}

static void
session_send (Session *s, const char *text)
{
  gboolean pending;

  bench_conn_queue (&s->conn, text, strlen (text));
  if (!bench_conn_flush (&s->conn, &pending) || pending)
    {
      /* a few hundred bytes into an empty socket buffer: never pending */
      n_errors++;
      s->state = S_FAILED;
    }
}

static void
session_failed (Session *s, const char *why)
{
  n_errors++;
  if (n_errors <= 5)
    fprintf (stderr, "idle-load: session %u (state %d): %s\n", s->index, s->state, why);
  if (s->state != S_READY)
    n_in_setup--;
  else if (!s->control)
    n_ready--;
  /* a lost watched session is no longer waited for: otherwise every
   * later round would end only at its 5 s timeout (it counts in errors) */
  if (s->watched && s->state == S_READY)
    {
      Stream *st = s->stream;

      s->watched = FALSE;
      n_watched--;
      st->n_watched--;
      if (st->ready && s->append_seq == st->control.append_seq && st->round_seen > 0)
        st->round_seen--;
      g_ptr_array_remove (st->round_early, s);
    }
  s->state = S_FAILED;
  n_failed++;
  epoll_ctl (epfd, EPOLL_CTL_DEL, s->conn.fd, NULL);
  bench_conn_clear (&s->conn);
}

static void
session_ready (Session *s)
{
  s->state = S_READY;
  if (s->control)
    return;
  n_in_setup--;
  n_ready++;
}

static void
session_line (Session *s, const char *line)
{
  gboolean tagged_ok = g_str_has_prefix (line, "a ") && g_ascii_strncasecmp (line + 2, "OK", 2) == 0;
  gboolean tagged = g_str_has_prefix (line, "a ");
  g_autofree char *user = NULL;

  if (tagged && !tagged_ok && !s->control)
    {
      session_failed (s, line);
      return;
    }
  switch (s->state)
    {
    case S_GREETING:
      if (strncmp (line, "* OK", 4) != 0)
        {
          session_failed (s, line);
          return;
        }
      user = user_name (opt_first_user + (s->control ? s->stream->number : s->index % opt_users));
      {
        g_autofree char *cmd = g_strdup_printf ("a LOGIN \"%s\" \"%s\"\r\n", user, opt_password);
        session_send (s, cmd);
      }
      s->state = S_LOGIN;
      break;
    case S_LOGIN:
      if (tagged)
        {
          session_send (s, "a SELECT INBOX\r\n");
          s->state = S_SELECT;
        }
      break;
    case S_SELECT:
      if (g_str_has_prefix (line, "* ") && g_str_has_suffix (line, " EXISTS"))
        s->selected_exists = g_ascii_strtoull (line + 2, NULL, 10);
      if (tagged)
        {
          session_send (s, "a CAPABILITY\r\n");
          s->state = S_CAPABILITY;
        }
      break;
    case S_CAPABILITY:
      if (g_str_has_prefix (line, "* CAPABILITY "))
        {
          g_auto (GStrv) caps = g_strsplit (line + 13, " ", -1);
          server_has_idle = g_strv_contains ((const char *const *) caps, "IDLE");
        }
      else if (tagged)
        {
          if (server_has_idle && !opt_no_idle && !s->control)
            {
              session_send (s, "a IDLE\r\n");
              s->state = S_IDLE_START;
            }
          else
            session_ready (s);
        }
      break;
    case S_IDLE_START:
      if (line[0] == '+')
        {
          any_idle = TRUE;
          s->watched = s->index % opt_users < (guint) opt_streams;
          if (s->watched)
            {
              s->stream = &streams[s->index % opt_users];
              s->stream->n_watched++;
              n_watched++;
            }
          session_ready (s);
        }
      break;
    case S_READY:
      if (s->control && tagged)
        {
          Stream *st = s->stream;

          s->append_ok_us = bench_now_us ();
          if (!tagged_ok)
            n_errors++;
          /* pushes that beat the OK: latency 0 */
          for (guint k = 0; k < st->round_early->len; k++)
            {
              bench_latency_add (exists_ok_latency, 0);
              bench_latency_add (w_exists_ok_latency, 0);
              n_before_ok++;
              w_before_ok++;
            }
          g_ptr_array_set_size (st->round_early, 0);
        }
      else if (s->watched && s->stream->ready && s->stream->control.append_seq > s->append_seq &&
               g_str_has_prefix (line, "* ") && g_str_has_suffix (line, " EXISTS") &&
               /* only the EXISTS of the round in flight: one of a round
                * given up earlier, read late, counts for none */
               g_ascii_strtoull (line + 2, NULL, 10)
                 >= s->stream->control.selected_exists + s->stream->control.append_seq)
        {
          Session *c = &s->stream->control;

          s->append_seq = c->append_seq;
          s->exists_us = bench_now_us ();
          s->stream->round_seen++;
          bench_latency_add (exists_latency, s->exists_us - c->append_sent_us);
          bench_latency_add (w_exists_latency, s->exists_us - c->append_sent_us);
          if (c->append_ok_us != 0)
            {
              bench_latency_add (exists_ok_latency, s->exists_us - c->append_ok_us);
              bench_latency_add (w_exists_ok_latency, s->exists_us - c->append_ok_us);
            }
          else
            g_ptr_array_add (s->stream->round_early, s);
        }
      break;
    default:
      break;
    }
}

static void
session_readable (Session *s)
{
  if (!bench_conn_read (&s->conn))
    {
      session_failed (s, errno ? g_strerror (errno) : "connection closed");
      return;
    }
  for (;;)
    {
      const char *line = bench_conn_line (&s->conn, NULL);

      if (line == NULL || s->state == S_FAILED)
        return;
      session_line (s, line);
    }
}

static gboolean
session_start (Session *s)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
  int fd = bench_connect_loopback (opt_port);

  n_in_setup++;
  if (fd < 0)
    {
      n_errors++;
      n_failed++;
      n_in_setup--;
      s->state = S_FAILED;
      if (n_errors <= 5)
        fprintf (stderr, "idle-load: connect: %s\n", g_strerror (errno));
      return FALSE;
    }
  bench_conn_init (&s->conn, fd);
  s->state = S_GREETING;
  epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev);
  return TRUE;
}

static void
pump (int timeout_ms)
{
  struct epoll_event events[512];
  int n = epoll_wait (epfd, events, G_N_ELEMENTS (events), timeout_ms);

  for (int i = 0; i < n; i++)
    {
      Session *s = events[i].data.ptr;

      if (s->state != S_FAILED)
        session_readable (s);
    }
}

/* --windows: print the window that just ended and start the next one */
static void
window_report (void)
{
  w_index++;
  printf ("window %u/%d w_deliveries=%u w_exists_ok_n=%u w_exists_ok_p50_us=%" G_GINT64_FORMAT
          " w_exists_ok_p99_us=%" G_GINT64_FORMAT " w_exists_before_ok_n=%u w_exists_n=%u"
          " w_exists_p50_us=%" G_GINT64_FORMAT " w_exists_p99_us=%" G_GINT64_FORMAT "\n",
          w_index, opt_windows, w_deliveries, bench_latency_count (w_exists_ok_latency),
          bench_latency_percentile (w_exists_ok_latency, 50),
          bench_latency_percentile (w_exists_ok_latency, 99), w_before_ok,
          bench_latency_count (w_exists_latency), bench_latency_percentile (w_exists_latency, 50),
          bench_latency_percentile (w_exists_latency, 99));
  fflush (stdout);
  bench_latency_free (w_exists_latency);
  bench_latency_free (w_exists_ok_latency);
  w_exists_latency = bench_latency_new ("EXISTS, window");
  w_exists_ok_latency = bench_latency_new ("EXISTS after OK, window");
  w_before_ok = 0;
  w_deliveries = 0;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "IMAP port on 127.0.0.1", "PORT" },
    { "sessions", 'n', 0, G_OPTION_ARG_INT, &opt_sessions, "sessions to hold", "N" },
    { "users", 'u', 0, G_OPTION_ARG_INT, &opt_users, "users the sessions log in as, in turn", "U" },
    { "first-user", 0, 0, G_OPTION_ARG_INT, &opt_first_user, "number of the first user", "N" },
    { "user-format", 0, 0, G_OPTION_ARG_STRING, &opt_user_format, "user name, %u = number", "FMT" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &opt_password, "password of every user", "PW" },
    { "ramp", 0, 0, G_OPTION_ARG_INT, &opt_ramp, "sessions being set up at once", "N" },
    { "hold", 0, 0, G_OPTION_ARG_DOUBLE, &opt_hold, "seconds to hold the fleet", "S" },
    { "no-idle", 0, 0, G_OPTION_ARG_NONE, &opt_no_idle, "stay selected even if IDLE is offered", NULL },
    { "deliveries", 0, 0, G_OPTION_ARG_INT, &opt_deliveries, "hold until this many deliveries were measured (0: --hold only)", "N" },
    { "interval-ms", 0, 0, G_OPTION_ARG_INT, &opt_interval_ms, "at least this long between two APPENDs", "MS" },
    { "windows", 0, 0, G_OPTION_ARG_INT, &opt_windows, "also report the --deliveries in this many consecutive windows", "K" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &opt_streams, "delivery streams, each to its own user, each one delivery at a time", "K" },
    { "settle", 0, 0, G_OPTION_ARG_DOUBLE, &opt_settle, "after the deliveries, hold the fleet this many seconds more without any", "S" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- IMAP IDLE fleet");
  g_autoptr (GError) error = NULL;
  g_autofree Session *sessions = NULL;
  gint64 t0, setup_end, hold_end;
  gboolean any_stream = FALSE;
  double cpu0;
  guint64 limit;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "idle-load: %s\n", error->message);
      return 2;
    }
  limit = bench_raise_fd_limit ();
  if (limit < (guint64) opt_sessions + 64)
    {
      fprintf (stderr, "idle-load: the fd limit is %" G_GUINT64_FORMAT ", need %d (ulimit -n)\n",
               limit, opt_sessions + 64);
      return 2;
    }
  exists_latency = bench_latency_new ("EXISTS");
  exists_ok_latency = bench_latency_new ("EXISTS after OK");
  w_exists_latency = bench_latency_new ("EXISTS, window");
  w_exists_ok_latency = bench_latency_new ("EXISTS after OK, window");
  if (opt_windows < 1 || (opt_deliveries > 0 && opt_windows > opt_deliveries))
    {
      fprintf (stderr, "idle-load: --windows must be 1 to --deliveries\n");
      return 2;
    }
  if (opt_streams < 1 || opt_streams > opt_users)
    {
      fprintf (stderr, "idle-load: --streams must be 1 to --users\n");
      return 2;
    }
  streams = g_new0 (Stream, opt_streams);
  for (int k = 0; k < opt_streams; k++)
    {
      streams[k].number = k;
      streams[k].round_early = g_ptr_array_new ();
    }
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  sessions = g_new0 (Session, opt_sessions);
  cpu0 = bench_self_cpu_seconds ();
  t0 = bench_now_us ();

  /* set up: at most --ramp sessions in the handshake at a time */
  for (guint next = 0; next < (guint) opt_sessions || n_in_setup > 0;)
    {
      while (next < (guint) opt_sessions && n_in_setup < (guint) opt_ramp)
        {
          sessions[next].index = next;
          session_start (&sessions[next]);
          next++;
          n_started++;
        }
      pump (1000);
      if (bench_now_us () - t0 > 600 * G_USEC_PER_SEC)
        {
          fprintf (stderr, "idle-load: set-up did not finish in 600 s\n");
          break;
        }
    }
  setup_end = bench_now_us ();
  fprintf (stderr, "idle-load: %u sessions ready (%u failed) in %.1f s, mode %s\n",
           n_ready, n_failed, (setup_end - t0) / 1e6, any_idle ? "idle" : "selected");

  if (any_idle)
    {
      guint n_pending = 0;

      /* the control sessions, all at once */
      n_in_setup = 0;
      for (int k = 0; k < opt_streams; k++)
        {
          Session *c = &streams[k].control;

          c->index = G_MAXUINT;
          c->control = TRUE;
          c->stream = &streams[k];
          if (session_start (c))
            n_pending++;
        }
      while (n_pending > 0)
        {
          n_pending = 0;
          for (int k = 0; k < opt_streams; k++)
            if (streams[k].control.state != S_READY && streams[k].control.state != S_FAILED)
              n_pending++;
          if (n_pending > 0)
            pump (1000);
        }
      for (int k = 0; k < opt_streams; k++)
        {
          streams[k].ready = streams[k].control.state == S_READY;
          any_stream = any_stream || streams[k].ready;
          /* staggered over the first interval */
          streams[k].next_append = bench_now_us () + (gint64) opt_interval_ms * 1000 * k / opt_streams;
        }
    }
  hold_end = bench_now_us () + (gint64) (opt_hold * G_USEC_PER_SEC);
  while (bench_now_us () < hold_end || n_busy > 0
         || (any_stream && opt_deliveries > 0 && n_deliveries < (guint) opt_deliveries
             && bench_now_us () - t0 < (gint64) 3600 * G_USEC_PER_SEC))
    {
      gint64 now = bench_now_us ();
      gboolean holding = now < hold_end;

      any_stream = FALSE;
      for (int k = 0; k < opt_streams; k++)
        {
          Stream *st = &streams[k];
          Session *c = &st->control;

          if (!st->ready)
            continue;
          if (c->state == S_FAILED)
            {
              /* a lost control session ends its stream */
              st->ready = FALSE;
              if (c->append_busy)
                n_busy--;
              continue;
            }
          any_stream = TRUE;
          /* a round is over once its OK and every watched EXISTS were read */
          if (c->append_busy
              && ((c->append_ok_us != 0 && st->round_seen >= st->n_watched)
                  || now - c->append_sent_us > ROUND_TIMEOUT_US))
            {
              c->append_busy = FALSE;
              n_busy--;
              if (c->append_ok_us == 0 || st->round_seen < st->n_watched)
                n_timed_out++;
              if (c->append_ok_us != 0)
                {
                  n_deliveries++;
                  w_deliveries++;
                }
              if (opt_windows > 1 && opt_deliveries > 0 && w_index < (guint) opt_windows
                  && n_deliveries >= (guint64) opt_deliveries * (w_index + 1) / opt_windows)
                window_report ();
            }
          /* after the hold, only as many rounds as the --deliveries still need */
          if (!c->append_busy && now >= st->next_append
              && (holding || (opt_deliveries > 0 && n_deliveries + n_busy < (guint) opt_deliveries)))
            {
              static const char msg[] = "From: a@example.net\r\nSubject: push\r\n\r\nnew mail\r\n";
              g_autofree char *cmd = g_strdup_printf ("a APPEND INBOX {%zu+}\r\n%s\r\n", strlen (msg), msg);

              c->append_busy = TRUE;
              n_busy++;
              c->append_seq++;
              c->append_ok_us = 0;
              st->round_seen = 0;
              g_ptr_array_set_size (st->round_early, 0);
              c->append_sent_us = bench_now_us ();
              session_send (c, cmd);
              st->next_append = c->append_sent_us + (gint64) opt_interval_ms * 1000;
            }
        }
      if (!any_stream && n_busy == 0 && !holding)
        break;
      pump (n_busy > 0 ? 10 : 100);
    }
  /* --settle: the fleet idle again, as it is between mails */
  for (gint64 settle_end = bench_now_us () + (gint64) (opt_settle * G_USEC_PER_SEC);
       bench_now_us () < settle_end;)
    pump (100);

  printf ("idle sessions=%d established=%u mode=%s setup_s=%.2f errors=%" G_GUINT64_FORMAT
          " gen_cpu_s=%.2f deliveries=%u streams=%d rounds_timed_out=%u watched=%u exists_ok_n=%u exists_ok_p50_us=%" G_GINT64_FORMAT
          " exists_ok_p99_us=%" G_GINT64_FORMAT " exists_before_ok_n=%u exists_n=%u exists_p50_us=%"
          G_GINT64_FORMAT " exists_p99_us=%" G_GINT64_FORMAT "\n",
          opt_sessions, n_ready, any_idle ? "idle" : "selected", (setup_end - t0) / 1e6, n_errors,
          bench_self_cpu_seconds () - cpu0, n_deliveries, opt_streams, n_timed_out, n_watched,
          bench_latency_count (exists_ok_latency), bench_latency_percentile (exists_ok_latency, 50),
          bench_latency_percentile (exists_ok_latency, 99), n_before_ok,
          bench_latency_count (exists_latency),
          bench_latency_percentile (exists_latency, 50), bench_latency_percentile (exists_latency, 99));
  for (int i = 0; i < opt_sessions; i++)
    bench_conn_clear (&sessions[i].conn);
  for (int k = 0; k < opt_streams; k++)
    {
      if (streams[k].control.conn.in != NULL)
        bench_conn_clear (&streams[k].control.conn);
      g_ptr_array_unref (streams[k].round_early);
    }
  g_free (streams);
  bench_latency_free (exists_latency);
  bench_latency_free (exists_ok_latency);
  bench_latency_free (w_exists_latency);
  bench_latency_free (w_exists_ok_latency);
  close (epfd);
  return n_ready == 0 ? 1 : 0;
}
