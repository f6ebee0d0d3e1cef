/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

gint64
bench_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

double
bench_self_cpu_seconds (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

guint64
bench_raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit (RLIMIT_NOFILE, &rl);
  getrlimit (RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

/* ---- latencies ---- */

struct _BenchLatency {
  char *name;
  GArray *us;      /* gint64 */
  gboolean sorted;
};

BenchLatency *
bench_latency_new (const char *name)
{
  BenchLatency *lat = g_new0 (BenchLatency, 1);

  lat->name = g_strdup (name);
  lat->us = g_array_sized_new (FALSE, FALSE, sizeof (gint64), 1024);
  return lat;
}

void
bench_latency_free (BenchLatency *lat)
{
  if (lat == NULL)
    return;
  g_array_unref (lat->us);
  g_free (lat->name);
  g_free (lat);
}

void
bench_latency_add (BenchLatency *lat, gint64 us)
{
  g_array_append_val (lat->us, us);
  lat->sorted = FALSE;
}

void
bench_latency_merge (BenchLatency *into, const BenchLatency *from)
{
  g_array_append_vals (into->us, from->us->data, from->us->len);
  into->sorted = FALSE;
}

guint
bench_latency_count (const BenchLatency *lat)
{
  return lat->us->len;
}

const char *
bench_latency_name (const BenchLatency *lat)
{
  return lat->name;
}

static gint
compare_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

gint64
bench_latency_percentile (BenchLatency *lat, double p)
{
  guint n = lat->us->len;
  guint rank;

  if (n == 0)
    return 0;
  if (!lat->sorted)
    {
      g_array_sort (lat->us, compare_i64);
      lat->sorted = TRUE;
    }
  /* nearest rank: the smallest value with at least p% of samples <= it */
  rank = (guint) (p / 100.0 * n + 0.999999);
  rank = CLAMP (rank, 1, n);
  return g_array_index (lat->us, gint64, rank - 1);
}

/* ---- connections ---- */

int
bench_connect_loopback (guint16 port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };
  int one = 1;
  int fd;

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0 && errno != EINPROGRESS)
    {
      int saved = errno;

      close (fd);
      errno = saved;
      return -1;
    }
  return fd;
}

void
bench_conn_init (BenchConn *conn, int fd)
{
  conn->fd = fd;
  conn->in = g_byte_array_sized_new (4096);
  conn->in_pos = 0;
  conn->out = g_string_sized_new (256);
  conn->out_pos = 0;
}

void
bench_conn_clear (BenchConn *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
  g_clear_pointer (&conn->in, g_byte_array_unref);
  if (conn->out != NULL)
    g_string_free (conn->out, TRUE);
  conn->out = NULL;
}

gboolean
bench_conn_read (BenchConn *conn)
{
  for (;;)
    {
      guint8 buf[65536];
      ssize_t n = recv (conn->fd, buf, sizeof buf, 0);

      if (n > 0)
        {
          if (conn->in_pos > 0 && conn->in_pos == conn->in->len)
            {
              g_byte_array_set_size (conn->in, 0);
              conn->in_pos = 0;
            }
          else if (conn->in_pos > 65536)
            {
              g_byte_array_remove_range (conn->in, 0, conn->in_pos);
              conn->in_pos = 0;
            }
          g_byte_array_append (conn->in, buf, n);
          if ((gsize) n < sizeof buf)
            return TRUE;
          continue;
        }
      if (n == 0)
        {
          errno = 0;
          return FALSE;
        }
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

void
bench_conn_queue (BenchConn *conn, const void *data, gsize len)
{
  g_string_append_len (conn->out, data, len);
}

void
bench_conn_queue_printf (BenchConn *conn, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  g_string_append_vprintf (conn->out, format, ap);
  va_end (ap);
}

gboolean
bench_conn_flush (BenchConn *conn, gboolean *pending)
{
  while (conn->out_pos < conn->out->len)
    {
      ssize_t n = send (conn->fd, conn->out->str + conn->out_pos,
                        conn->out->len - conn->out_pos, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              *pending = TRUE;
              return TRUE;
            }
          return FALSE;
        }
      conn->out_pos += n;
    }
  g_string_truncate (conn->out, 0);
  conn->out_pos = 0;
  *pending = FALSE;
  return TRUE;
}

const char *
bench_conn_line (BenchConn *conn, gsize *len)
{
  guint8 *start = conn->in->data + conn->in_pos;
  gsize avail = conn->in->len - conn->in_pos;
  guint8 *lf = memchr (start, '\n', avail);
  gsize n;

  if (lf == NULL)
    return NULL;
  n = lf - start;
  conn->in_pos += n + 1;
  if (n > 0 && start[n - 1] == '\r')
    n--;
  start[n] = '\0';
  if (len != NULL)
    *len = n;
  return (const char *) start;
}

gsize
bench_conn_skip (BenchConn *conn, gsize n)
{
  gsize avail = conn->in->len - conn->in_pos;

  n = MIN (n, avail);
  conn->in_pos += n;
  return n;
}
