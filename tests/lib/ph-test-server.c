/* Running posthornd for integration tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 20000

typedef struct {
  char *service;
  char *address;
  guint16 port;
  gboolean tls;
} PortEntry;

struct _PhTestServer {
  char *dir;
  char *state_dir;
  char *config_path;
  char *ports_path;
  char *log_path;
  char *cert_path;
  char *key_path;
  char *plugins;
  GString *extra;
  GPtrArray *plugin_dirs;
  gboolean tls;
  GPid pid;
  gboolean running;
  int exit_status;
  char *ports_text;
  GArray *ports;  /* PortEntry */
  GArray *passed_fds;     /* int: systemd socket activation (not owned) */
  char *passed_names;
  gint64 passed_pid;      /* LISTEN_PID; 0: the daemon's own */
};

static void
port_entry_clear (gpointer data)
{
  PortEntry *entry = data;
  g_free (entry->service);
  g_free (entry->address);
}

PhTestServer *
ph_test_server_create (const char *plugins)
{
  PhTestServer *server = g_new0 (PhTestServer, 1);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (plugins);
  server->dir = g_dir_make_tmp ("posthorn-test-XXXXXX", &error);
  g_assert_no_error (error);
  server->state_dir = g_build_filename (server->dir, "state", NULL);
  g_assert_cmpint (g_mkdir (server->state_dir, 0700), ==, 0);
  server->config_path = g_build_filename (server->dir, "posthorn.conf", NULL);
  server->ports_path = g_build_filename (server->dir, "ports", NULL);
  server->log_path = g_build_filename (server->dir, "posthornd.log", NULL);
  server->cert_path = g_build_filename (server->dir, "cert.pem", NULL);
  server->key_path = g_build_filename (server->dir, "key.pem", NULL);
  ph_test_write_certificate ("localhost", server->cert_path, server->key_path);
  server->plugins = g_strdup (plugins);
  server->extra = g_string_new (NULL);
  server->plugin_dirs = g_ptr_array_new_with_free_func (g_free);
  server->tls = TRUE;
  server->ports = g_array_new (FALSE, TRUE, sizeof (PortEntry));
  g_array_set_clear_func (server->ports, port_entry_clear);
  return server;
}

void
ph_test_server_append_config (PhTestServer *server, const char *keyfile_text)
{
  g_assert_false (server->running);
  if (keyfile_text == NULL)
    return;
  g_string_append (server->extra, keyfile_text);
  if (server->extra->len > 0 && server->extra->str[server->extra->len - 1] != '\n')
    g_string_append_c (server->extra, '\n');
}

void
ph_test_server_add_plugin_dir (PhTestServer *server, const char *dir)
{
  g_ptr_array_add (server->plugin_dirs, g_strdup (dir));
}

void
ph_test_server_set_tls (PhTestServer *server, gboolean enabled)
{
  server->tls = enabled;
}

static void
server_write_config (PhTestServer *server)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GKeyFile) extra = g_key_file_new ();
  g_autoptr (GPtrArray) dirs = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) groups = NULL;
  g_autofree char *text = NULL;
  const char *plugin_dir = g_getenv ("POSTHORN_PLUGIN_DIR");

  if (plugin_dir != NULL)
    g_ptr_array_add (dirs, (gpointer) plugin_dir);
  for (guint i = 0; i < server->plugin_dirs->len; i++)
    g_ptr_array_add (dirs, g_ptr_array_index (server->plugin_dirs, i));

  g_key_file_set_string (config, "core", "plugins", server->plugins);
  g_key_file_set_string_list (config, "core", "plugin_dir",
                              (const char *const *) dirs->pdata, dirs->len);
  g_key_file_set_string (config, "core", "state_dir", server->state_dir);
  g_key_file_set_string (config, "core", "log_level", "debug");
  if (getuid () == 0)
    g_key_file_set_string (config, "core", "user", "root");
  if (server->tls)
    {
      g_key_file_set_string (config, "tls", "certificate", server->cert_path);
      g_key_file_set_string (config, "tls", "key", server->key_path);
    }
  g_key_file_set_string (config, "dbus", "bus", "none");

  if (!g_key_file_load_from_data (extra, server->extra->str, server->extra->len,
                                  G_KEY_FILE_NONE, &error))
    g_error ("ph_test_server: bad extra config: %s\n%s", error->message, server->extra->str);
  groups = g_key_file_get_groups (extra, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (extra, groups[i], NULL, NULL);
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        {
          g_autofree char *value = g_key_file_get_value (extra, groups[i], keys[j], NULL);
          g_key_file_set_value (config, groups[i], keys[j], value);
        }
    }

  text = g_key_file_to_data (config, NULL, NULL);
  g_file_set_contents (server->config_path, text, -1, &error);
  g_assert_no_error (error);
}

static int
decode_status (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

static gboolean
server_reap (PhTestServer *server)
{
  int status;
  pid_t r;

  if (!server->running)
    return TRUE;
  do
    r = waitpid (server->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == server->pid)
    {
      server->running = FALSE;
      server->exit_status = decode_status (status);
      g_spawn_close_pid (server->pid);
      return TRUE;
    }
  return FALSE;
}

static gboolean
server_parse_ports (PhTestServer *server, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  g_array_set_size (server->ports, 0);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = NULL;
      PortEntry entry;
      guint64 port;

      if (lines[i][0] == '\0')
        continue;
      fields = g_strsplit (lines[i], " ", -1);
      if (g_strv_length (fields) != 4 ||
          !g_ascii_string_to_unsigned (fields[2], 10, 0, 65535, &port, NULL) ||
          (strcmp (fields[3], "tls") != 0 && strcmp (fields[3], "plain") != 0))
        return FALSE;
      entry.service = g_strdup (fields[0]);
      entry.address = g_strdup (fields[1]);
      entry.port = (guint16) port;
      entry.tls = strcmp (fields[3], "tls") == 0;
      g_array_append_val (server->ports, entry);
    }
  return TRUE;
}

/* In the child: if the test process dies (a failed assertion aborts it,
 * meson kills it on a timeout), the daemon must not linger. */
static void
server_child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

gboolean
ph_test_server_start (PhTestServer *server, GError **error)
{
  const char *posthornd = g_getenv ("POSTHORND");
  const char *argv[8];
  gint64 deadline;
  int log_fd;
  gboolean ok;

  g_assert_false (server->running);
  g_assert_nonnull (posthornd);
  server_write_config (server);
  g_unlink (server->ports_path);

  log_fd = open (server->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  argv[0] = posthornd;
  argv[1] = "-c";
  argv[2] = server->config_path;
  argv[3] = "--ports-file";
  argv[4] = server->ports_path;
  argv[5] = "--foreground";
  argv[6] = NULL;
  if (server->passed_fds != NULL)
    {
      /* The shell's pid is the daemon's after exec: LISTEN_PID=$$. */
      g_autofree char *script = NULL;
      g_autofree int *targets = g_new (int, server->passed_fds->len);
      g_autofree char *pid = server->passed_pid > 0
                             ? g_strdup_printf ("%" G_GINT64_FORMAT, server->passed_pid)
                             : g_strdup ("$$");
      g_autofree char *names = g_shell_quote (server->passed_names != NULL
                                              ? server->passed_names : "");
      const char *wrapped[10] = { "/bin/sh", "-c", NULL, posthornd, "-c", server->config_path,
                                  "--ports-file", server->ports_path, "--foreground", NULL };

      script = g_strdup_printf ("LISTEN_PID=%s LISTEN_FDS=%u LISTEN_FDNAMES=%s; "
                                "export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec \"$0\" \"$@\"",
                                pid, server->passed_fds->len, names);
      wrapped[2] = script;
      for (guint i = 0; i < server->passed_fds->len; i++)
        targets[i] = 3 + (int) i;
      ok = g_spawn_async_with_pipes_and_fds (NULL, wrapped, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                             server_child_setup, NULL, -1, log_fd, log_fd,
                                             (const int *) server->passed_fds->data, targets,
                                             server->passed_fds->len,
                                             &server->pid, NULL, NULL, NULL, error);
    }
  else
    ok = g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           server_child_setup, NULL, -1, log_fd, log_fd, NULL, NULL, 0,
                                           &server->pid, NULL, NULL, NULL, error);
  close (log_fd);
  if (!ok)
    return FALSE;
  server->running = TRUE;

  deadline = g_get_monotonic_time () + START_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (server->ports_path, &text, NULL, NULL) &&
          server_parse_ports (server, text))
        {
          g_free (server->ports_text);
          server->ports_text = g_steal_pointer (&text);
          return TRUE;
        }
      if (server_reap (server))
        {
          g_autofree char *log = ph_test_server_get_log (server);
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                       "posthornd exited with status %d: %s", server->exit_status, log);
          return FALSE;
        }
      g_usleep (10 * 1000);
    }
  {
    g_autofree char *log = ph_test_server_get_log (server);
    g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                 "posthornd wrote no ports file within %d ms: %s", START_TIMEOUT_MS, log);
  }
  ph_test_server_stop (server);
  return FALSE;
}

void
ph_test_server_pass_sockets (PhTestServer *server, const int *fds, guint n_fds,
                             const char *names, gint64 listen_pid)
{
  g_clear_pointer (&server->passed_fds, g_array_unref);
  g_clear_pointer (&server->passed_names, g_free);
  server->passed_fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_array_append_vals (server->passed_fds, fds, n_fds);
  server->passed_names = g_strdup (names);
  server->passed_pid = listen_pid;
}

void
ph_test_server_start_or_die (PhTestServer *server)
{
  g_autoptr (GError) error = NULL;

  if (!ph_test_server_start (server, &error))
    g_error ("ph_test_server_start: %s", error->message);
}

PhTestServer *
ph_test_server_new (const char *plugins, const char *extra_config)
{
  PhTestServer *server = ph_test_server_create (plugins);

  ph_test_server_append_config (server, extra_config);
  ph_test_server_start_or_die (server);
  return server;
}

guint16
ph_test_server_find_port (PhTestServer *server, const char *service,
                          const char *address, gboolean tls)
{
  for (guint i = 0; i < server->ports->len; i++)
    {
      PortEntry *entry = &g_array_index (server->ports, PortEntry, i);
      if (strcmp (entry->service, service) == 0 && entry->tls == tls &&
          (address == NULL || strcmp (entry->address, address) == 0))
        return entry->port;
    }
  return 0;
}

guint16
ph_test_server_get_port (PhTestServer *server, const char *service, gboolean tls)
{
  guint16 port = ph_test_server_find_port (server, service, NULL, tls);

  if (port == 0)
    g_error ("no %s listener for service %s in the ports file:\n%s",
             tls ? "tls" : "plain", service, server->ports_text);
  return port;
}

const char *
ph_test_server_get_ports_text (PhTestServer *server)
{
  return server->ports_text;
}

const char *
ph_test_server_get_dir (PhTestServer *server)
{
  return server->dir;
}

const char *
ph_test_server_get_state_dir (PhTestServer *server)
{
  return server->state_dir;
}

const char *
ph_test_server_get_config_path (PhTestServer *server)
{
  return server->config_path;
}

const char *
ph_test_server_get_cert_path (PhTestServer *server)
{
  return server->cert_path;
}

const char *
ph_test_server_get_key_path (PhTestServer *server)
{
  return server->key_path;
}

GPid
ph_test_server_get_pid (PhTestServer *server)
{
  return server->pid;
}

gboolean
ph_test_server_is_running (PhTestServer *server)
{
  return !server_reap (server);
}

char *
ph_test_server_get_log (PhTestServer *server)
{
  char *text = NULL;

  if (!g_file_get_contents (server->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

guint64
ph_test_server_get_rss_kb (PhTestServer *server)
{
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  const char *line;

  if (!ph_test_server_is_running (server))
    return 0;
  path = g_strdup_printf ("/proc/%d/status", (int) server->pid);
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  line = strstr (text, "\nVmRSS:");
  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
}

void
ph_test_server_signal (PhTestServer *server, int signo)
{
  g_assert_true (server->running);
  g_assert_cmpint (kill (server->pid, signo), ==, 0);
}

gboolean
ph_test_server_wait (PhTestServer *server, guint timeout_ms, int *exit_status)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;)
    {
      if (server_reap (server))
        {
          if (exit_status != NULL)
            *exit_status = server->exit_status;
          return TRUE;
        }
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (5 * 1000);
    }
}

int
ph_test_server_stop (PhTestServer *server)
{
  int status = 0;

  if (!server->running)
    return server->exit_status;
  kill (server->pid, SIGTERM);
  if (ph_test_server_wait (server, STOP_TIMEOUT_MS, &status))
    return status;
  g_printerr ("ph_test_server_stop: posthornd did not exit on SIGTERM; killing it\n");
  kill (server->pid, SIGKILL);
  ph_test_server_wait (server, STOP_TIMEOUT_MS, &status);
  return status;
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
        }
    }
  g_rmdir (path);
}

void
ph_test_server_free (PhTestServer *server)
{
  if (server == NULL)
    return;
  ph_test_server_stop (server);
  if (g_test_failed () || g_getenv ("PH_TEST_KEEP") != NULL)
    {
      g_autofree char *log = ph_test_server_get_log (server);
      g_printerr ("---- posthornd log (%s) ----\n%s---- end of log ----\n", server->dir, log);
    }
  if (g_getenv ("PH_TEST_KEEP") == NULL)
    remove_tree (server->dir);
  g_free (server->dir);
  g_free (server->state_dir);
  g_free (server->config_path);
  g_free (server->ports_path);
  g_free (server->log_path);
  g_free (server->cert_path);
  g_free (server->key_path);
  g_free (server->plugins);
  g_string_free (server->extra, TRUE);
  g_ptr_array_unref (server->plugin_dirs);
  g_free (server->ports_text);
  g_array_unref (server->ports);
  g_clear_pointer (&server->passed_fds, g_array_unref);
  g_free (server->passed_names);
  g_free (server);
}
