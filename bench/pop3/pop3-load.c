/* pop3-load: a POP3 download load generator. Each of --sessions threads
 * logs in as its own user (USER/PASS), STATs and RETRs every message in
 * order, then QUITs. Reports octets, seconds, MB/s and the peak RSS of a
 * server process tree (--rss-pid: the pid and all its descendants,
 * sampled every 50 ms; a scan of /proc costs CPU the servers need), and
 * the CPU time that tree used during the run (server_cpu_s: on a shared
 * machine a steadier figure than MB/s).
 *
 *   pop3-load --port 1110 --user-format 'bench%u@example.org' \
 *             --password pw --sessions 20 --rss-pid 1234
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <glib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int opt_port = 110;
static char *opt_user_format = (char *) "bench%u@example.org";
static char *opt_password = (char *) "bench";
static int opt_sessions = 1;
static int opt_first_user = 1;
static int opt_rss_pid = 0;

typedef struct {
  guint index;
  guint64 octets;
  guint messages;
  char *error;
} Session;

typedef struct {
  int fd;
  char *buf;
  gsize len;
  gsize cap;
} Conn;

static gboolean
conn_fill (Conn *c)
{
  ssize_t n;

  if (c->cap - c->len < 65536)
    {
      c->cap = MAX (c->cap * 2, 1 << 20);
      c->buf = g_realloc (c->buf, c->cap);
    }
  do
    n = recv (c->fd, c->buf + c->len, c->cap - c->len, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return FALSE;
  c->len += (gsize) n;
  return TRUE;
}

static void
conn_consume (Conn *c, gsize n)
{
  memmove (c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* The next line (without CRLF) in @out; FALSE on EOF. */
static gboolean
conn_line (Conn *c, char *out, gsize out_size)
{
  for (;;)
    {
      char *lf = memchr (c->buf, '\n', c->len);

      if (lf != NULL)
        {
          gsize n = (gsize) (lf - c->buf) + 1;
          gsize copy = MIN (n - 1, out_size - 1);

          memcpy (out, c->buf, copy);
          out[copy] = '\0';
          if (copy > 0 && out[copy - 1] == '\r')
            out[copy - 1] = '\0';
          conn_consume (c, n);
          return TRUE;
        }
      if (!conn_fill (c))
        return FALSE;
    }
}

/* Skips a multi-line body through the final ".\r\n"; returns its size on
 * the wire, or -1 on EOF. */
static gssize
conn_body (Conn *c)
{
  gsize scanned = 0;
  gsize total = 0;

  /* The body begins at a line start: a lone ".\r\n" first means empty. */
  for (;;)
    {
      if (c->len >= 3 && scanned == 0 && total == 0 && memcmp (c->buf, ".\r\n", 3) == 0)
        {
          conn_consume (c, 3);
          return 0;
        }
      if (c->len >= 5)
        {
          char *end = memmem (c->buf + scanned, c->len - scanned, "\r\n.\r\n", 5);

          if (end != NULL)
            {
              gsize n = (gsize) (end - c->buf) + 5;
              total += n;
              conn_consume (c, n);
              return (gssize) total;
            }
          /* keep the last 4 bytes: a terminator may straddle reads */
          total += c->len - 4;
          conn_consume (c, c->len - 4);
          scanned = 0;
        }
      if (!conn_fill (c))
        return -1;
    }
}

static gboolean
conn_command (Conn *c, const char *line, char *reply, gsize reply_size)
{
  gsize n = strlen (line);

  if (send (c->fd, line, n, MSG_NOSIGNAL) != (ssize_t) n)
    return FALSE;
  return conn_line (c, reply, reply_size) && g_str_has_prefix (reply, "+OK");
}

static gpointer
session_run (gpointer data)
{
  Session *s = data;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((guint16) opt_port) };
  Conn c = { .fd = socket (AF_INET, SOCK_STREAM, 0) };
  char reply[1024];
  char line[1024];
  g_autofree char *user = g_strdup_printf (opt_user_format, s->index);
  guint count = 0;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (c.fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      s->error = g_strdup_printf ("connect: %s", g_strerror (errno));
      goto out;
    }
  if (!conn_line (&c, reply, sizeof reply))
    goto fail;
  g_snprintf (line, sizeof line, "USER %s\r\n", user);
  if (!conn_command (&c, line, reply, sizeof reply))
    goto fail;
  g_snprintf (line, sizeof line, "PASS %s\r\n", opt_password);
  if (!conn_command (&c, line, reply, sizeof reply))
    goto fail;
  if (!conn_command (&c, "STAT\r\n", reply, sizeof reply) ||
      sscanf (reply, "+OK %u", &count) != 1)
    goto fail;
  for (guint i = 1; i <= count; i++)
    {
      gssize n;

      g_snprintf (line, sizeof line, "RETR %u\r\n", i);
      if (!conn_command (&c, line, reply, sizeof reply))
        goto fail;
      n = conn_body (&c);
      if (n < 0)
        goto fail;
      s->octets += (guint64) n;
      s->messages++;
    }
  if (!conn_command (&c, "QUIT\r\n", reply, sizeof reply))
    goto fail;
  goto out;
fail:
  s->error = g_strdup_printf ("%s: %s", user, c.len > 0 || reply[0] ? reply : "connection closed");
out:
  close (c.fd);
  g_free (c.buf);
  return NULL;
}

/* RSS in KiB of @root and all its descendants and, in @cpu_ticks if not
 * NULL, the CPU time they used (user + system, including that of reaped
 * children: Dovecot's pop3 processes end with their sessions), in clock
 * ticks. */
static guint64
tree_usage (int root, guint64 *cpu_ticks)
{
  g_autoptr(GHashTable) parents = g_hash_table_new (NULL, NULL);
  g_autoptr(GHashTable) ticks = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint64 total = 0;

  if (cpu_ticks != NULL)
    *cpu_ticks = 0;
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *stat = NULL;
      const char *close_paren;
      int ppid = 0;
      unsigned long long utime = 0, stime = 0, cutime = 0, cstime = 0;
      guint64 *t;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      /* fields after the name: state ppid pgrp session tty tpgid flags
       * minflt cminflt majflt cmajflt utime stime cutime cstime */
      if (!g_file_get_contents (path, &stat, NULL, NULL) ||
          (close_paren = strrchr (stat, ')')) == NULL ||
          sscanf (close_paren + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
                  &ppid, &utime, &stime, &cutime, &cstime) != 5)
        continue;
      g_hash_table_insert (parents, GINT_TO_POINTER (atoi (name)), GINT_TO_POINTER (ppid));
      t = g_new (guint64, 1);
      *t = utime + stime + cutime + cstime;
      g_hash_table_insert (ticks, GINT_TO_POINTER (atoi (name)), t);
    }
  {
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init (&iter, parents);
    while (g_hash_table_iter_next (&iter, &key, &value))
      {
        int pid = GPOINTER_TO_INT (key);
        int p = pid;
        g_autofree char *path = NULL;
        g_autofree char *status = NULL;
        const char *vm;

        for (guint depth = 0; p > 1 && p != root && depth < 64; depth++)
          p = GPOINTER_TO_INT (g_hash_table_lookup (parents, GINT_TO_POINTER (p)));
        if (p != root)
          continue;
        if (cpu_ticks != NULL)
          *cpu_ticks += *(guint64 *) g_hash_table_lookup (ticks, key);
        path = g_strdup_printf ("/proc/%d/status", pid);
        if (g_file_get_contents (path, &status, NULL, NULL) &&
            (vm = strstr (status, "VmRSS:")) != NULL)
          total += g_ascii_strtoull (vm + 6, NULL, 10);
      }
  }
  return total;
}

static guint64
tree_rss_kb (int root)
{
  return tree_usage (root, NULL);
}

static volatile gboolean sampling = TRUE;
static guint64 peak_rss_kb;

static gpointer
sampler_run (gpointer data)
{
  (void) data;
  while (sampling)
    {
      guint64 rss = tree_rss_kb (opt_rss_pid);

      peak_rss_kb = MAX (peak_rss_kb, rss);
      g_usleep (50000);
    }
  return NULL;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "POP3 port on 127.0.0.1", "PORT" },
    { "user-format", 'u', 0, G_OPTION_ARG_STRING, &opt_user_format,
      "user name, %u is the session number", "FORMAT" },
    { "password", 'w', 0, G_OPTION_ARG_STRING, &opt_password, "password", "PW" },
    { "sessions", 's', 0, G_OPTION_ARG_INT, &opt_sessions, "parallel sessions", "N" },
    { "first-user", 'f', 0, G_OPTION_ARG_INT, &opt_first_user, "first user number", "N" },
    { "rss-pid", 'r', 0, G_OPTION_ARG_INT, &opt_rss_pid, "server pid (tree) to sample", "PID" },
    { NULL },
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- POP3 download load");
  g_autoptr(GError) error = NULL;
  g_autofree Session *sessions = NULL;
  g_autofree GThread **threads = NULL;
  GThread *sampler = NULL;
  guint64 octets = 0;
  guint messages = 0;
  gint64 start;
  double seconds;
  int failed = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  sessions = g_new0 (Session, opt_sessions);
  threads = g_new0 (GThread *, opt_sessions);
  guint64 start_ticks = 0, end_ticks = 0;
  guint64 start_rss_kb = opt_rss_pid > 0 ? tree_usage (opt_rss_pid, &start_ticks) : 0;

  if (opt_rss_pid > 0)
    sampler = g_thread_new ("rss", sampler_run, NULL);
  start = g_get_monotonic_time ();
  for (int i = 0; i < opt_sessions; i++)
    {
      sessions[i].index = (guint) (opt_first_user + i);
      threads[i] = g_thread_new ("session", session_run, &sessions[i]);
    }
  for (int i = 0; i < opt_sessions; i++)
    {
      g_thread_join (threads[i]);
      octets += sessions[i].octets;
      messages += sessions[i].messages;
      if (sessions[i].error != NULL)
        {
          g_printerr ("session %d: %s\n", i, sessions[i].error);
          failed++;
        }
    }
  seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
  sampling = FALSE;
  if (sampler != NULL)
    g_thread_join (sampler);
  if (opt_rss_pid > 0)
    {
      /* Dovecot's master reaps the pop3 processes a moment after they end */
      g_usleep (200000);
      tree_usage (opt_rss_pid, &end_ticks);
    }
  printf ("sessions=%d messages=%u octets=%" G_GUINT64_FORMAT " seconds=%.3f MB/s=%.1f "
          "start_rss_kb=%" G_GUINT64_FORMAT " peak_rss_kb=%" G_GUINT64_FORMAT
          " server_cpu_s=%.2f failed=%d\n",
          opt_sessions, messages, octets, seconds, (double) octets / seconds / 1e6,
          start_rss_kb, peak_rss_kb,
          (double) (end_ticks - MIN (end_ticks, start_ticks)) / (double) sysconf (_SC_CLK_TCK),
          failed);
  return failed > 0 ? 1 : 0;
}
