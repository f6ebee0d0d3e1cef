/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dbus-test-util.h"

#include <glib/gstdio.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

PhTestServer *
dbus_test_server_new (const char *bus)
{
  PhTestServer *server =
    ph_test_server_create ("auth-passwd-file;storage-sqlite;imap4;metrics;test-status");
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *extra = NULL;

  g_assert_true (g_file_set_contents (users,
                                      "alice@example.org:{PLAIN}secret\n"
                                      "bob@example.org:{PLAIN}secret\n", -1, NULL));
  extra = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                           "[imap4]\nlisten=127.0.0.1:0\nlisten_tls=\n"
                           "[metrics]\nlisten=127.0.0.1:0\n"
                           "[dbus]\nbus=%s\n", users, bus);
  ph_test_server_append_config (server, extra);
  ph_test_server_add_plugin_dir (server, TEST_STATUS_PLUGIN_DIR);
  ph_test_server_add_plugin_dir (server, METRICS_PLUGIN_DIR);
  ph_test_server_start_or_die (server);
  return server;
}

PhTestClient *
dbus_test_imap_login (PhTestServer *server, const char *user)
{
  PhTestClient *client = ph_test_client_connect (server, "imap4", FALSE);

  g_free (ph_test_client_expect_line_prefix (client, "* OK"));
  ph_test_client_sendf (client, "a LOGIN %s secret\r\n", user);
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);
      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "a "))
        {
          g_assert_true (g_str_has_prefix (line, "a OK"));
          break;
        }
    }
  return client;
}

void
dbus_test_status_command (PhTestClient *client, const char *line)
{
  ph_test_client_sendf (client, "%s\r\n", line);
  g_free (ph_test_client_expect_line_prefix (client, "+OK"));
}

struct _DbusTestDaemon {
  char *dir;
  char *address;
  GPid pid;
};

DbusTestDaemon *
dbus_test_daemon_new (const char *policy)
{
  DbusTestDaemon *daemon = g_new0 (DbusTestDaemon, 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *config = NULL;
  g_autofree char *socket_path = NULL;
  const char *argv[] = { "dbus-daemon", "--nofork", "--nopidfile", NULL, NULL };
  g_autofree char *config_arg = NULL;
  gint64 deadline;

  daemon->dir = g_dir_make_tmp ("posthorn-bus-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (daemon->dir, 0755), ==, 0);
  socket_path = g_build_filename (daemon->dir, "bus", NULL);
  config_path = g_build_filename (daemon->dir, "bus.conf", NULL);
  config = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>posthorn-test</type>\n"
    "  <listen>unix:path=%s</listen>\n"
    "  <auth>EXTERNAL</auth>\n"
    "%s\n"
    "</busconfig>\n", socket_path, policy);
  g_assert_true (g_file_set_contents (config_path, config, -1, NULL));
  config_arg = g_strconcat ("--config-file=", config_path, NULL);
  argv[3] = config_arg;
  g_spawn_async (NULL, (char **) argv, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                 G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &daemon->pid, &error);
  g_assert_no_error (error);
  daemon->address = g_strconcat ("unix:path=", socket_path, NULL);

  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!g_file_test (socket_path, G_FILE_TEST_EXISTS))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
  return daemon;
}

const char *
dbus_test_daemon_get_address (DbusTestDaemon *daemon)
{
  return daemon->address;
}

void
dbus_test_daemon_free (DbusTestDaemon *daemon)
{
  int status;
  g_autoptr (GDir) dir = NULL;
  const char *name;

  kill (daemon->pid, SIGTERM);
  waitpid (daemon->pid, &status, 0);
  g_spawn_close_pid (daemon->pid);
  dir = g_dir_open (daemon->dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (daemon->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (daemon->dir);
  g_free (daemon->dir);
  g_free (daemon->address);
  g_free (daemon);
}

GDBusConnection *
dbus_test_connect (const char *address)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus =
    g_dbus_connection_new_for_address_sync (address,
                                            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                            NULL, NULL, &error);
  g_assert_no_error (error);
  return bus;
}

void
dbus_test_wait_for_daemon (GDBusConnection *bus)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr (GVariant) reply = NULL;
      gboolean has_owner = FALSE;

      reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "NameHasOwner",
                                           g_variant_new ("(s)", "org.posthorn.Posthorn1"),
                                           G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE,
                                           -1, NULL, NULL);
      g_assert_nonnull (reply);
      g_variant_get (reply, "(b)", &has_owner);
      if (has_owner)
        return;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
}

static void
ctl_become_nobody (gpointer unused)
{
  if (setgroups (0, NULL) != 0 || setgid (65534) != 0 || setuid (65534) != 0)
    _exit (125);
}

int
dbus_test_run_ctl (const char *const *argv, gboolean as_nobody,
                   char **out_stdout, char **out_stderr)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  const char *posthornctl = g_getenv ("POSTHORNCTL");
  int wait_status = 0;

  g_assert_nonnull (posthornctl);
  g_ptr_array_add (args, (char *) posthornctl);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (args, (char *) argv[i]);
  g_ptr_array_add (args, NULL);
  g_spawn_sync ("/", (char **) args->pdata, NULL, G_SPAWN_DEFAULT,
                as_nobody ? ctl_become_nobody : NULL, NULL,
                out_stdout, out_stderr, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  return WEXITSTATUS (wait_status);
}

GVariant *
dbus_test_call (GDBusConnection *bus, const char *method, GVariant *parameters,
                const GVariantType *reply_type, GError **error)
{
  return g_dbus_connection_call_sync (bus, "org.posthorn.Posthorn1", "/org/posthorn/Posthorn1",
                                      "org.posthorn.Posthorn1", method, parameters, reply_type,
                                      G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
}

GVariant *
dbus_test_get (GDBusConnection *bus, const char *property)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = g_dbus_connection_call_sync (bus, "org.posthorn.Posthorn1", "/org/posthorn/Posthorn1",
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", "org.posthorn.Posthorn1", property),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000,
                                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}
