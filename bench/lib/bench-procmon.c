/* bench-procmon: runs a load generator and measures server process trees
 * while it runs.
 *
 *   bench-procmon --pid SERVER_PID [--pid PID2 ...] [--interval-ms 100] -- CMD ARGS...
 *
 * Every interval it walks /proc for the trees rooted at each --pid and sums
 * their resident memory (RSS, and PSS from smaps_rollup, which counts a
 * page shared by N processes as 1/N: fair to multi-process servers); the
 * peaks of those sums are reported. CPU seconds of the trees are
 * utime+stime+cutime+cstime of every live process at the end minus the
 * same at the start: children that exited in between are counted through
 * their parent's cutime/cstime once reaped. The generator's own CPU comes
 * from wait4(). CMD's stdout and stderr pass through; the result is one
 * line on stderr (or --out FILE):
 *
 *   procmon wall_s=.. server_cpu_s=.. server_peak_rss_kb=.. server_peak_pss_kb=..
 *           server_last_rss_kb=.. server_last_pss_kb=.. server_procs=.. samples=.. gen_cpu_s=.. monitor_cpu_s=.. gen_status=..
 *
 * Samples are spaced out to at least 4x the time one takes, so with
 * thousands of processes the monitor stays near 20% of a core
 * (monitor_cpu_s says what it used). server_last_* is the last sample
 * taken while CMD still ran (a fleet's steady state, after set-up).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench-common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  int pid, ppid;
  guint64 cpu_ticks;     /* utime + stime + cutime + cstime */
  guint64 rss_pages;
} ProcInfo;

static gboolean
read_stat (int pid, ProcInfo *info)
{
  char path[64], buf[1024];
  FILE *f;
  size_t n;
  char *p;
  unsigned long utime, stime;
  long cutime, cstime, rss;
  int ppid;

  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  f = fopen (path, "re");
  if (f == NULL)
    return FALSE;
  n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  p = strrchr (buf, ')');
  if (p == NULL)
    return FALSE;
  /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
   * cmajflt utime stime cutime cstime priority nice threads itreal start vsize rss */
  if (sscanf (p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld %*d %*d %*d %*d %*u %*u %ld",
              &ppid, &utime, &stime, &cutime, &cstime, &rss) != 6)
    return FALSE;
  info->pid = pid;
  info->ppid = ppid;
  info->cpu_ticks = utime + stime + (guint64) MAX (cutime, 0) + (guint64) MAX (cstime, 0);
  info->rss_pages = rss > 0 ? rss : 0;
  return TRUE;
}

static guint64
read_pss_kb (int pid)
{
  char path[64], line[256];
  FILE *f;
  guint64 kb = 0;

  snprintf (path, sizeof path, "/proc/%d/smaps_rollup", pid);
  f = fopen (path, "re");
  if (f == NULL)
    return 0;
  while (fgets (line, sizeof line, f) != NULL)
    if (strncmp (line, "Pss:", 4) == 0)
      {
        kb = g_ascii_strtoull (line + 4, NULL, 10);
        break;
      }
  fclose (f);
  return kb;
}

/* Every process of the trees rooted at @roots. */
static GArray *
collect_trees (GArray *roots)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (ProcInfo));
  GArray *tree = g_array_new (FALSE, FALSE, sizeof (ProcInfo));
  GHashTable *in_tree = g_hash_table_new (NULL, NULL);
  DIR *d = opendir ("/proc");
  struct dirent *e;
  gboolean grew;

  while (d != NULL && (e = readdir (d)) != NULL)
    {
      ProcInfo info;
      int pid;

      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      pid = atoi (e->d_name);
      if (read_stat (pid, &info))
        g_array_append_val (all, info);
    }
  if (d != NULL)
    closedir (d);
  for (guint i = 0; i < roots->len; i++)
    g_hash_table_add (in_tree, GINT_TO_POINTER (g_array_index (roots, int, i)));
  /* a few passes: a child may be listed before its parent */
  do
    {
      grew = FALSE;
      for (guint i = 0; i < all->len; i++)
        {
          ProcInfo *p = &g_array_index (all, ProcInfo, i);

          if (!g_hash_table_contains (in_tree, GINT_TO_POINTER (p->pid)) &&
              g_hash_table_contains (in_tree, GINT_TO_POINTER (p->ppid)))
            {
              g_hash_table_add (in_tree, GINT_TO_POINTER (p->pid));
              grew = TRUE;
            }
        }
    }
  while (grew);
  for (guint i = 0; i < all->len; i++)
    {
      ProcInfo *p = &g_array_index (all, ProcInfo, i);

      if (g_hash_table_contains (in_tree, GINT_TO_POINTER (p->pid)))
        g_array_append_val (tree, *p);
    }
  g_hash_table_unref (in_tree);
  g_array_unref (all);
  return tree;
}

static guint64
tree_cpu_ticks (GArray *tree)
{
  guint64 sum = 0;

  for (guint i = 0; i < tree->len; i++)
    sum += g_array_index (tree, ProcInfo, i).cpu_ticks;
  return sum;
}

int
main (int argc, char **argv)
{
  g_autoptr (GArray) roots = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree char *out_path = NULL;
  int interval_ms = 100;
  int cmd_index = -1;
  long page_kb = sysconf (_SC_PAGESIZE) / 1024;
  double ticks = sysconf (_SC_CLK_TCK);
  guint64 cpu_start, cpu_end = 0;
  guint64 peak_rss_kb = 0, peak_pss_kb = 0, last_rss_kb = 0, last_pss_kb = 0;
  guint peak_procs = 0;
  guint sample = 0;
  gint64 sample_cost_us;
  gint64 t0, t1;
  struct rusage ru;
  int status = 0;
  pid_t child;
  FILE *out;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--") == 0)
        {
          cmd_index = i + 1;
          break;
        }
      if (strcmp (argv[i], "--pid") == 0 && i + 1 < argc)
        {
          int pid = atoi (argv[++i]);
          g_array_append_val (roots, pid);
        }
      else if (strcmp (argv[i], "--interval-ms") == 0 && i + 1 < argc)
        interval_ms = MAX (10, atoi (argv[++i]));
      else if (strcmp (argv[i], "--out") == 0 && i + 1 < argc)
        out_path = g_strdup (argv[++i]);
      else
        {
          fprintf (stderr, "usage: bench-procmon --pid PID... [--interval-ms MS] [--out FILE] -- CMD ARGS...\n");
          return 2;
        }
    }
  if (cmd_index < 0 || cmd_index >= argc || roots->len == 0)
    {
      fprintf (stderr, "bench-procmon: need --pid and a command after --\n");
      return 2;
    }

  {
    g_autoptr (GArray) tree = collect_trees (roots);
    cpu_start = tree_cpu_ticks (tree);
  }
  t0 = bench_now_us ();
  child = fork ();
  if (child < 0)
    {
      perror ("fork");
      return 1;
    }
  if (child == 0)
    {
      execvp (argv[cmd_index], argv + cmd_index);
      fprintf (stderr, "bench-procmon: %s: %s\n", argv[cmd_index], g_strerror (errno));
      _exit (127);
    }
  for (;;)
    {
      gint64 sample_start = bench_now_us ();
      g_autoptr (GArray) tree = NULL;
      guint64 rss = 0, pss = 0;
      pid_t done;

      /* only samples taken while the load still runs count */
      done = wait4 (child, &status, WNOHANG, &ru);
      if (done == child)
        {
          g_autoptr (GArray) last = collect_trees (roots);
          cpu_end = tree_cpu_ticks (last);
          break;
        }
      if (done < 0 && errno != EINTR)
        {
          perror ("wait4");
          return 1;
        }
      tree = collect_trees (roots);

      for (guint i = 0; i < tree->len; i++)
        rss += g_array_index (tree, ProcInfo, i).rss_pages * page_kb;
      /* smaps_rollup walks page tables: every sample for small trees,
       * every tenth for big ones (thousands of processes) */
      if (tree->len <= 200 || sample % 10 == 0)
        {
          for (guint i = 0; i < tree->len; i++)
            pss += read_pss_kb (g_array_index (tree, ProcInfo, i).pid);
          peak_pss_kb = MAX (peak_pss_kb, pss);
        }
      peak_rss_kb = MAX (peak_rss_kb, rss);
      last_rss_kb = rss;
      if (pss > 0)
        last_pss_kb = pss;
      peak_procs = MAX (peak_procs, tree->len);
      sample++;
      /* a walk of thousands of processes is not free: keep this monitor
       * under about 20% of a core by spacing the samples out */
      sample_cost_us = bench_now_us () - sample_start;
      g_usleep (MAX ((gint64) interval_ms * 1000, 4 * sample_cost_us));
    }
  t1 = bench_now_us ();

  out = out_path != NULL ? fopen (out_path, "w") : stderr;
  if (out == NULL)
    {
      perror (out_path);
      return 1;
    }
  fprintf (out, "procmon wall_s=%.3f server_cpu_s=%.2f server_peak_rss_kb=%" G_GUINT64_FORMAT
                " server_peak_pss_kb=%" G_GUINT64_FORMAT " server_last_rss_kb=%" G_GUINT64_FORMAT
                " server_last_pss_kb=%" G_GUINT64_FORMAT " server_procs=%u samples=%u gen_cpu_s=%.2f"
                " monitor_cpu_s=%.2f gen_status=%d\n",
           (t1 - t0) / 1e6,
           cpu_end >= cpu_start ? (cpu_end - cpu_start) / ticks : 0.0,
           peak_rss_kb, peak_pss_kb, last_rss_kb, last_pss_kb, peak_procs, sample,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           bench_self_cpu_seconds (),
           WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
  if (out != stderr)
    fclose (out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}
