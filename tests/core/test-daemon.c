/* posthornd's life as systemd sees it: READY=1 after start, RELOADING=1
 * and READY=1 around SIGHUP, STOPPING=1 and exit status 0 on SIGTERM, and
 * the switch to [core] user when started as root.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  char *dir;
  char *config;
  GSocket *notify;    /* our end of $NOTIFY_SOCKET */
  char *notify_path;
  GPid pid;
  int err_fd;         /* posthornd's stderr */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  f->dir = g_dir_make_tmp ("posthorn-daemon-XXXXXX", &error);
  g_assert_no_error (error);
  /* Others (the user posthornd becomes) must reach the socket inside. */
  g_assert_cmpint (g_chmod (f->dir, 0755), ==, 0);
  f->config = g_build_filename (f->dir, "posthorn.conf", NULL);
  f->notify_path = g_build_filename (f->dir, "notify", NULL);
  f->notify = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                            G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  address = g_unix_socket_address_new (f->notify_path);
  g_socket_bind (f->notify, address, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (f->notify_path, 0777), ==, 0);
  g_socket_set_timeout (f->notify, 10);
  f->err_fd = -1;
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  if (f->pid > 0)
    {
      kill (f->pid, SIGKILL);
      waitpid (f->pid, NULL, 0);
    }
  if (f->err_fd >= 0)
    close (f->err_fd);
  g_clear_object (&f->notify);
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->config);
  g_free (f->notify_path);
}

static void
write_config (Fixture *f, const char *extra)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("[core]\nplugins=\nplugin_dir=%s\nstate_dir=%s/state\n"
                                           "shutdown_grace=2s\n%s\n[dbus]\nbus=none\n",
                                           TEST_PLUGIN_DIR, f->dir, extra);

  g_file_set_contents (f->config, text, -1, &error);
  g_assert_no_error (error);
}

static void
start_posthornd (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  const char *argv[] = { g_getenv ("POSTHORND"), "-c", f->config, NULL };

  g_assert_nonnull (argv[0]);
  envp = g_environ_setenv (envp, "NOTIFY_SOCKET", f->notify_path, TRUE);
  g_spawn_async_with_pipes (NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &f->pid, NULL, NULL, &f->err_fd, &error);
  g_assert_no_error (error);
}

/* The next sd_notify datagram. */
static char *
next_notification (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  char buffer[512];
  gssize n;

  n = g_socket_receive (f->notify, buffer, sizeof buffer - 1, NULL, &error);
  g_assert_no_error (error);
  buffer[n] = '\0';
  return g_strdup (buffer);
}

static int
wait_exit (Fixture *f)
{
  int status;

  g_assert_cmpint (waitpid (f->pid, &status, 0), ==, f->pid);
  f->pid = 0;
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static char *
read_stderr (Fixture *f)
{
  g_autoptr(GString) text = g_string_new (NULL);
  char buffer[4096];
  gssize n;

  while ((n = read (f->err_fd, buffer, sizeof buffer)) > 0)
    g_string_append_len (text, buffer, n);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The real uid of @pid, from /proc. */
static guint
process_uid (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  line = strstr (status, "\nUid:");
  g_assert_nonnull (line);
  return (guint) g_ascii_strtoull (line + 5, NULL, 10);
}

static void
test_lifecycle (Fixture *f, gconstpointer unused)
{
  g_autofree char *ready = NULL;
  g_autofree char *reloading = NULL;
  g_autofree char *ready_again = NULL;
  g_autofree char *stopping = NULL;
  struct passwd *nobody = getpwnam ("nobody");
  gboolean drop = geteuid () == 0 && nobody != NULL;

  /* As root, become nobody; as anyone else the key is ignored. */
  write_config (f, drop ? "user=nobody" : "user=nobody-at-all");
  start_posthornd (f);

  ready = next_notification (f);
  g_assert_cmpstr (ready, ==, "READY=1");
  if (drop)
    g_assert_cmpuint (process_uid (f->pid), ==, nobody->pw_uid);
  else
    g_test_message ("not root: privilege drop not exercised");

  kill (f->pid, SIGHUP);
  reloading = next_notification (f);
  g_assert_true (g_str_has_prefix (reloading, "RELOADING=1\nMONOTONIC_USEC="));
  ready_again = next_notification (f);
  g_assert_cmpstr (ready_again, ==, "READY=1");

  kill (f->pid, SIGTERM);
  stopping = next_notification (f);
  g_assert_cmpstr (stopping, ==, "STOPPING=1");
  g_assert_cmpint (wait_exit (f), ==, 0);
}

static void
test_root_needs_user (Fixture *f, gconstpointer unused)
{
  g_autofree char *err = NULL;
  g_autofree char *expected = NULL;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root: only root is refused without [core] user");
      return;
    }
  /* Only the refusal on stderr, not what the layers warn about on the way. */
  write_config (f, "log_level=error");
  start_posthornd (f);
  g_assert_cmpint (wait_exit (f), ==, 1);
  err = read_stderr (f);
  expected = g_strdup_printf ("posthornd: %s: [core] user: not set, and posthornd will not keep "
                              "running as root (name the user to switch to, or user=root to "
                              "insist)\n", f->config);
  g_assert_cmpstr (err, ==, expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/core/daemon/lifecycle", Fixture, NULL, fixture_set_up, test_lifecycle,
              fixture_tear_down);
  g_test_add ("/core/daemon/root-needs-user", Fixture, NULL, fixture_set_up,
              test_root_needs_user, fixture_tear_down);
  return g_test_run ();
}
