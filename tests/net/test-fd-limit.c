/* RLIMIT_NOFILE at start: the soft limit goes up to the hard one. With
 * [core] max_connections set, one warning comes only when the hard limit
 * is below what it needs, and says which key to lower and which limit to
 * raise. Unset, the default (20000) gives way to the limit: no warning at a
 * hard limit of 20000, and under a lower one the daemon refuses what its
 * descriptors cannot hold. Each test lowers the test's own limits before
 * starting posthornd, which inherits them; limits only go down, so the tests
 * run from the highest hard limit to the lowest.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <string.h>
#include <sys/resource.h>

#define TEST_SOFT 256
#define TEST_HARD 4096
#define TEST_HARD_DEFAULT 20000   /* the default max_connections */
#define TEST_HARD_LOW 300

/* Lowers this process's limits to @soft and @hard; FALSE (the test is
 * skipped) when the hard limit is below @hard already. */
static gboolean
limit_fds (rlim_t soft, rlim_t hard)
{
  struct rlimit current;
  struct rlimit wanted = { soft, hard };

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &current), ==, 0);
  if (current.rlim_max != RLIM_INFINITY && current.rlim_max < hard)
    {
      g_autofree char *why = g_strdup_printf ("the hard RLIMIT_NOFILE is below %lu already",
                                              (unsigned long) hard);
      g_test_skip (why);
      return FALSE;
    }
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &wanted), ==, 0);
  return TRUE;
}

/* "Max open files  SOFT  HARD  files" of /proc/PID/limits. */
static void
daemon_fd_limits (PhTestServer *server, guint64 *soft, guint64 *hard)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/limits", (int) ph_test_server_get_pid (server));
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "Max open files"))
      {
        g_auto (GStrv) fields = g_strsplit_set (lines[i] + strlen ("Max open files"), " ", -1);
        guint n = 0;

        for (guint j = 0; fields[j] != NULL; j++)
          if (fields[j][0] != '\0')
            {
              if (n == 0)
                *soft = g_ascii_strtoull (fields[j], NULL, 10);
              else if (n == 1)
                *hard = g_ascii_strtoull (fields[j], NULL, 10);
              n++;
            }
        return;
      }
  g_assert_not_reached ();
}

static guint
count_occurrences (const char *text, const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (text, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* Log lines ("LEVEL DOMAIN: message") at @level that contain @needle. */
static guint
count_log_lines (const char *log, const char *level, const char *needle)
{
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], level) && strstr (lines[i], needle) != NULL)
      n++;
  return n;
}

/* max_connections 0: the key is left out. */
static PhTestServer *
echo_server_new (guint max_connections)
{
  PhTestServer *server = ph_test_server_create ("test-echo");
  g_autofree char *config = g_strdup_printf ("[core]\nmax_connections=%u\n", max_connections);

  ph_test_server_add_plugin_dir (server, TEST_ECHO_PLUGIN_DIR);
  if (max_connections > 0)
    ph_test_server_append_config (server, config);
  ph_test_server_start_or_die (server);
  return server;
}

static void
assert_served (PhTestServer *server)
{
  g_autoptr (PhTestClient) client = ph_test_client_connect (server, "echo", FALSE);
  g_autofree char *greeting = ph_test_client_read_line (client);

  g_assert_cmpstr (greeting, ==, "+OK echo ready");
}

/* The default config where the hard limit is 20000: not a word. */
static void
test_default_config_quiet (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autofree char *log = NULL;
  guint64 soft = 0, hard = 0;

  if (!limit_fds (TEST_SOFT, TEST_HARD_DEFAULT))
    return;
  server = echo_server_new (0);
  assert_served (server);
  daemon_fd_limits (server, &soft, &hard);
  g_assert_cmpuint (soft, ==, TEST_HARD_DEFAULT);
  log = ph_test_server_get_log (server);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "RLIMIT_NOFILE"), ==, 0);
  g_assert_cmpuint (count_log_lines (log, "INFO", "RLIMIT_NOFILE"), ==, 0);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "max_connections"), ==, 0);
}

static void
test_soft_raised_quietly (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autofree char *log = NULL;
  guint64 soft = 0, hard = 0;

  if (!limit_fds (TEST_SOFT, TEST_HARD))
    return;
  server = echo_server_new (1000);
  assert_served (server);
  daemon_fd_limits (server, &soft, &hard);
  g_assert_cmpuint (hard, ==, TEST_HARD);
  g_assert_cmpuint (soft, ==, TEST_HARD);
  log = ph_test_server_get_log (server);
  g_assert_null (strstr (log, "max_connections"));
  g_assert_null (strstr (log, "RLIMIT_NOFILE"));
}

/* The warning names the file, the key, the limit and both ways out. */
static void
test_hard_limit_too_low (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autofree char *log = NULL;
  guint64 soft = 0, hard = 0;

  if (!limit_fds (TEST_SOFT, TEST_HARD))
    return;
  server = echo_server_new (10000);
  assert_served (server);
  daemon_fd_limits (server, &soft, &hard);
  g_assert_cmpuint (soft, ==, TEST_HARD);
  log = ph_test_server_get_log (server);
  g_assert_cmpuint (count_occurrences (log, "RLIMIT_NOFILE"), ==, 1);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "[core] max_connections=10000 needs about"), ==, 1);
  g_assert_cmpuint (count_log_lines (log, "WARNING", ph_test_server_get_config_path (server)), ==, 1);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "but RLIMIT_NOFILE is 4096: raise the hard limit "
                                                     "(LimitNOFILE= in posthorn.service"), ==, 1);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "or lower [core] max_connections to at most "), ==, 1);
}

/* max_connections unset and a hard limit below the default: one line at
 * INFO saying how many connections fit, and the next one is refused with
 * the service's refusal line, not left to fail in accept(). */
static void
test_default_gives_way (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autoptr (GPtrArray) clients = NULL;
  g_autoptr (PhTestClient) refused = NULL;
  g_autofree char *log = NULL;
  g_autofree char *refusal = NULL;
  const char *line;
  guint64 fit;

  if (!limit_fds (TEST_SOFT, TEST_HARD_LOW))
    return;
  server = echo_server_new (0);
  log = ph_test_server_get_log (server);
  g_assert_cmpuint (count_log_lines (log, "WARNING", "RLIMIT_NOFILE"), ==, 0);
  g_assert_cmpuint (count_log_lines (log, "INFO", "[core] max_connections is not set and "
                                                  "RLIMIT_NOFILE is 300: at most "), ==, 1);
  line = strstr (log, "RLIMIT_NOFILE is 300: at most ");
  fit = g_ascii_strtoull (line + strlen ("RLIMIT_NOFILE is 300: at most "), NULL, 10);
  g_assert_cmpuint (fit, >, 0);
  g_assert_cmpuint (fit, <, TEST_HARD_LOW - 256);

  clients = g_ptr_array_new_with_free_func ((GDestroyNotify) ph_test_client_free);
  for (guint i = 0; i < fit; i++)
    {
      PhTestClient *client = ph_test_client_connect (server, "echo", FALSE);
      g_autofree char *greeting = ph_test_client_read_line (client);

      g_assert_cmpstr (greeting, ==, "+OK echo ready");
      g_ptr_array_add (clients, client);
    }
  refused = ph_test_client_connect (server, "echo", FALSE);
  refusal = ph_test_client_read_line (refused);
  g_assert_cmpstr (refusal, ==, "-ERR too many connections");
  g_clear_pointer (&log, g_free);
  log = ph_test_server_get_log (server);
  g_assert_nonnull (strstr (log, "echo: refused a connection from 127.0.0.1: RLIMIT_NOFILE"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* from the highest hard limit to the lowest */
  g_test_add_func ("/net/fd-limit/default-config-quiet-at-20000", test_default_config_quiet);
  g_test_add_func ("/net/fd-limit/soft-raised-to-hard-quietly", test_soft_raised_quietly);
  g_test_add_func ("/net/fd-limit/hard-limit-too-low-one-warning", test_hard_limit_too_low);
  g_test_add_func ("/net/fd-limit/default-gives-way-to-a-low-limit", test_default_gives_way);
  return g_test_run ();
}
