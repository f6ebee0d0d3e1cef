/* Shared code of the Posthorn load generators (bench/imap, bench/idle):
 * a monotonic clock, latency recorders with percentiles, non-blocking
 * loopback connections with a read buffer, and the generator's own CPU.
 *
 * The generators are single-threaded epoll loops: one process drives
 * every client, so its own CPU time (bench_self_cpu_seconds()) says
 * whether it could have been the bottleneck.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Microseconds of CLOCK_MONOTONIC. */
gint64 bench_now_us (void);

/* User + system CPU seconds this process used so far. */
double bench_self_cpu_seconds (void);

/* Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
guint64 bench_raise_fd_limit (void);

/* ---- latencies ---- */

typedef struct _BenchLatency BenchLatency;

/* A recorder of latencies (microseconds) named @name ("FETCH body"). */
BenchLatency *bench_latency_new (const char *name);
void bench_latency_free (BenchLatency *lat);
void bench_latency_add (BenchLatency *lat, gint64 us);
/* Adds every sample of @from to @into. */
void bench_latency_merge (BenchLatency *into, const BenchLatency *from);
guint bench_latency_count (const BenchLatency *lat);
const char *bench_latency_name (const BenchLatency *lat);
/* The @p-th percentile (0..100, nearest rank) in microseconds; 0 when empty.
 * Sorts the samples (no further adds expected). */
gint64 bench_latency_percentile (BenchLatency *lat, double p);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BenchLatency, bench_latency_free)

/* ---- connections ---- */

typedef struct {
  int fd;
  GByteArray *in;       /* received, not yet consumed */
  gsize in_pos;         /* consumed prefix of @in */
  GString *out;         /* queued, not yet written */
  gsize out_pos;
} BenchConn;

/* Starts a non-blocking TCP connection to 127.0.0.1:@port (TCP_NODELAY).
 * Returns the fd, or -1 with errno. */
int bench_connect_loopback (guint16 port);

void bench_conn_init (BenchConn *conn, int fd);
/* Closes the fd (if open) and frees the buffers. */
void bench_conn_clear (BenchConn *conn);
/* Reads what the socket has. Returns FALSE on EOF or error (errno set,
 * 0 for EOF); TRUE otherwise (EAGAIN included). */
gboolean bench_conn_read (BenchConn *conn);
/* Appends to the output queue; bench_conn_flush() writes it. */
void bench_conn_queue (BenchConn *conn, const void *data, gsize len);
void bench_conn_queue_printf (BenchConn *conn, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Writes as much as the socket takes. FALSE on error; *@pending set when
 * bytes are left (wait for EPOLLOUT). */
gboolean bench_conn_flush (BenchConn *conn, gboolean *pending);
/* The next complete line (without CRLF) or NULL; valid until the next read.
 * The line is consumed. */
const char *bench_conn_line (BenchConn *conn, gsize *len);
/* Consumes up to @n buffered bytes; returns how many it consumed. */
gsize bench_conn_skip (BenchConn *conn, gsize n);

G_END_DECLS
