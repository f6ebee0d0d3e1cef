/* RLIMIT_NOFILE at start: the soft limit goes up to the hard one, and the
 * one warning naming [core] max_connections comes only when the hard limit
 * is below what it needs. The test lowers its own limits (soft 256, hard
 * 4096) before starting posthornd, which inherits them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <string.h>
#include <sys/resource.h>

#define TEST_SOFT 256
#define TEST_HARD 4096

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

static PhTestServer *
echo_server_new (guint max_connections)
{
  PhTestServer *server = ph_test_server_create ("test-echo");
  g_autofree char *config = g_strdup_printf ("[core]\nmax_connections=%u\n", max_connections);

  ph_test_server_add_plugin_dir (server, TEST_ECHO_PLUGIN_DIR);
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

static void
test_soft_raised_quietly (void)
{
  g_autoptr (PhTestServer) server = echo_server_new (1000);
  g_autofree char *log = NULL;
  guint64 soft = 0, hard = 0;

  assert_served (server);
  daemon_fd_limits (server, &soft, &hard);
  g_assert_cmpuint (hard, ==, TEST_HARD);
  g_assert_cmpuint (soft, ==, TEST_HARD);
  log = ph_test_server_get_log (server);
  g_assert_null (strstr (log, "max_connections"));
  g_assert_null (strstr (log, "RLIMIT_NOFILE"));
}

static void
test_hard_limit_too_low (void)
{
  g_autoptr (PhTestServer) server = echo_server_new (10000);
  g_autofree char *log = NULL;
  guint64 soft = 0, hard = 0;

  assert_served (server);
  daemon_fd_limits (server, &soft, &hard);
  g_assert_cmpuint (soft, ==, TEST_HARD);
  log = ph_test_server_get_log (server);
  g_assert_cmpuint (count_occurrences (log, "RLIMIT_NOFILE"), ==, 1);
  g_assert_cmpuint (count_occurrences (log, "[core] max_connections=10000 needs about"), ==, 1);
}

int
main (int argc, char **argv)
{
  struct rlimit limit = { TEST_SOFT, TEST_HARD };
  struct rlimit current;

  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &current), ==, 0);
  if (current.rlim_max != RLIM_INFINITY && current.rlim_max < TEST_HARD)
    {
      g_test_skip ("the hard RLIMIT_NOFILE is below 4096 already");
      return g_test_run ();
    }
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limit), ==, 0);
  g_test_add_func ("/net/fd-limit/soft-raised-to-hard-quietly", test_soft_raised_quietly);
  g_test_add_func ("/net/fd-limit/hard-limit-too-low-one-warning", test_hard_limit_too_low);
  return g_test_run ();
}
