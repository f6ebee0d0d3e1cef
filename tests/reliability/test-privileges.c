/* Privileges: started as root, posthornd binds its ports (a privileged
 * one too), then becomes [core] user (setgroups/setgid/setuid) for good;
 * without [core] user it refuses to run as root, with user=root it runs
 * and says so; what it creates in the state dir is the user's and 0600 /
 * 0700. Needs root (skipped otherwise).
 *
 * Run with --store NAME for another storage plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ph-test.h"
#include "store-test-util.h"

#define DROP_USER "nobody"

static gboolean
need_root (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root (posthornd started as root drops privileges)");
      return FALSE;
    }
  if (getpwnam (DROP_USER) == NULL)
    {
      g_test_skip ("no user '" DROP_USER "'");
      return FALSE;
    }
  return TRUE;
}

/* A free port below 1024 on 127.0.0.1, or 0. */
static guint16
free_privileged_port (void)
{
  for (guint16 port = 700 + (guint16) g_random_int_range (0, 200); port < 1000; port++)
    {
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
      int one = 1;
      gboolean ok;

      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      ok = bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
      close (fd);
      if (ok)
        return port;
    }
  return 0;
}

static PhTestServer *
server_create (const char *user_line, const char *extra)
{
  const char *store = store_test_plugin_name ();
  g_autofree char *plugins = g_strdup_printf ("auth-passwd-file;%s;smtp;imap4", store);
  PhTestServer *server = ph_test_server_create (plugins);
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (users, "alice@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[core]\n%s\n"
                            "[auth-passwd-file]\npath=%s\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org\nlisten=127.0.0.1:0\n"
                            "[imap4]\nlisten=127.0.0.1:0\n%s",
                            user_line, users, extra != NULL ? extra : "");
  ph_test_server_append_config (server, config);
  ph_test_server_set_tls (server, FALSE);
  return server;
}

/* "Uid:" / "Gid:" / "Groups:" / "CapEff:" line of /proc/PID/status. */
static char *
proc_status_field (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], field) && lines[i][strlen (field)] == ':')
      return g_strstrip (g_strdup (lines[i] + strlen (field) + 1));
  return NULL;
}

static void
check_tree (const char *path, uid_t uid, guint *n_files, guint *n_dirs, GString *problems)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (child, &st), ==, 0);
      if (S_ISLNK (st.st_mode))
        continue;
      if (st.st_uid != uid)
        g_string_append_printf (problems, "\n%s belongs to uid %u, not %u",
                                child, (guint) st.st_uid, (guint) uid);
      if ((st.st_mode & 0077) != 0)
        g_string_append_printf (problems, "\n%s has mode %04o: group or others may access it",
                                child, st.st_mode & 07777);
      if (S_ISDIR (st.st_mode))
        {
          (*n_dirs)++;
          check_tree (child, uid, n_files, n_dirs, problems);
        }
      else
        (*n_files)++;
    }
}

static char *
imap_command (PhTestClient *client, const char *tag, const char *command)
{
  g_assert_true (ph_test_client_sendf (client, "%s %s\r\n", tag, command));
  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, tag) && line[strlen (tag)] == ' ')
        return line;
      g_free (line);
    }
}

static void
test_drop_to_user (void)
{
  g_autoptr(PhTestServer) server = NULL;
  struct passwd *pw;
  uid_t uid;
  gid_t gid;
  guint16 low_port;
  g_autofree char *extra = NULL;
  g_autofree char *expect_uid = NULL;
  g_autofree char *expect_gid = NULL;
  guint n_files = 0, n_dirs = 0;
  g_autoptr(GString) problems = g_string_new (NULL);

  if (!need_root ())
    return;
  pw = getpwnam (DROP_USER);
  uid = pw->pw_uid;
  gid = pw->pw_gid;
  low_port = free_privileged_port ();
  g_assert_cmpuint (low_port, >, 0);
  extra = g_strdup_printf ("listen=127.0.0.1:0;127.0.0.1:%u\n", low_port);
  server = server_create ("user=" DROP_USER, extra);
  /* the user must reach its state dir: the server folder is root's 0700 */
  g_assert_cmpint (g_chmod (ph_test_server_get_dir (server), 0711), ==, 0);
  g_assert_cmpint (chown (ph_test_server_get_state_dir (server), uid, gid), ==, 0);
  g_assert_cmpint (g_chmod (ph_test_server_get_state_dir (server), 0700), ==, 0);
  ph_test_server_start_or_die (server);

  /* bound below 1024, then dropped: real, effective, saved, fs ids */
  g_assert_cmpuint (ph_test_server_find_port (server, "imap4", "127.0.0.1", FALSE), >, 0);
  expect_uid = g_strdup_printf ("%u\t%u\t%u\t%u", (guint) uid, (guint) uid, (guint) uid, (guint) uid);
  expect_gid = g_strdup_printf ("%u\t%u\t%u\t%u", (guint) gid, (guint) gid, (guint) gid, (guint) gid);
  /* the ports file is written when the listeners are bound, just before
   * the switch: wait for it */
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *uids = proc_status_field (ph_test_server_get_pid (server), "Uid");

      if (g_strcmp0 (uids, expect_uid) == 0)
        break;
      g_usleep (10000);
    }
  {
    g_autofree char *uids = proc_status_field (ph_test_server_get_pid (server), "Uid");
    g_autofree char *gids = proc_status_field (ph_test_server_get_pid (server), "Gid");
    g_autofree char *groups = proc_status_field (ph_test_server_get_pid (server), "Groups");
    g_autofree char *caps = proc_status_field (ph_test_server_get_pid (server), "CapEff");
    g_auto(GStrv) group_list = g_strsplit (groups, " ", -1);

    g_assert_cmpstr (uids, ==, expect_uid);
    g_assert_cmpstr (gids, ==, expect_gid);
    for (guint i = 0; group_list[i] != NULL; i++)
      g_assert_cmpstr (group_list[i], !=, "0");   /* root's group is gone (setgroups) */
    g_assert_cmpstr (caps, ==, "0000000000000000");
  }

  /* it serves on the privileged port, and writes as the user */
  {
    g_autoptr(PhTestClient) client = ph_test_client_new ("127.0.0.1", low_port, FALSE, NULL, NULL);
    g_autofree char *greeting = NULL;
    g_autofree char *login = NULL;
    g_autofree char *append = NULL;

    g_assert_nonnull (client);
    greeting = ph_test_client_read_line (client);
    g_assert_true (g_str_has_prefix (greeting, "* OK"));
    login = imap_command (client, "l", "LOGIN alice@example.org pw");
    g_assert_true (g_str_has_prefix (login, "l OK"));
    append = imap_command (client, "a", "APPEND INBOX {20+}\r\nSubject: x\r\n\r\nbody\r\n");
    g_assert_true (g_str_has_prefix (append, "a OK"));
    g_free (imap_command (client, "c", "CREATE Sub/Folder"));
  }
  {
    g_autoptr(PhTestClient) client = ph_test_client_connect (server, "smtp", FALSE);
    const char *const script[] = { "EHLO t.example", "MAIL FROM:<x@remote.example>",
                                   "RCPT TO:<alice@example.org>", "DATA" };
    g_autofree char *line = ph_test_client_read_line (client);

    for (guint i = 0; i < G_N_ELEMENTS (script); i++)
      {
        ph_test_client_sendf (client, "%s\r\n", script[i]);
        do
          {
            g_clear_pointer (&line, g_free);
            line = ph_test_client_read_line (client);
            g_assert_nonnull (line);
          }
        while (line[3] == '-');
      }
    g_assert_true (g_str_has_prefix (line, "354"));
    ph_test_client_send (client, "Subject: y\r\n\r\nvia smtp\r\n.\r\n", -1);
    g_clear_pointer (&line, g_free);
    line = ph_test_client_read_line (client);
    g_assert_true (g_str_has_prefix (line, "250"));
  }
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);

  check_tree (ph_test_server_get_state_dir (server), uid, &n_files, &n_dirs, problems);
  if (problems->len > 0)
    g_error ("state dir:%s", problems->str);
  g_test_message ("state dir: %u files, %u folders, all uid %u and 0600/0700", n_files, n_dirs, (guint) uid);
  g_assert_cmpuint (n_files, >, 0);
}

/* Starts a server that must refuse to run; returns its output. The ports
 * file is written when the listeners are bound, before the switch of
 * user, so the refusal may come just after the harness saw it. */
static char *
start_refused (PhTestServer *server)
{
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!ph_test_server_start (server, &error))
    return g_strdup (error->message);
  g_assert_true (ph_test_server_wait (server, 10000, &status));
  g_assert_cmpint (status, !=, 0);
  return ph_test_server_get_log (server);
}

static void
test_root_refused (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *output = NULL;

  if (!need_root ())
    return;
  server = server_create ("user=", NULL);
  output = start_refused (server);
  g_assert_nonnull (strstr (output, "[core] user"));
  g_assert_nonnull (strstr (output, "will not keep running as root"));
}

static void
test_root_explicit (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *uids = NULL;
  g_autofree char *log = NULL;

  if (!need_root ())
    return;
  server = server_create ("user=root", NULL);
  ph_test_server_start_or_die (server);
  uids = proc_status_field (ph_test_server_get_pid (server), "Uid");
  g_assert_cmpstr (uids, ==, "0\t0\t0\t0");
  log = ph_test_server_get_log (server);
  g_assert_nonnull (strstr (log, "running as root"));
}

static void
test_unknown_user (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *output = NULL;

  if (!need_root ())
    return;
  server = server_create ("user=no-such-user-posthorn", NULL);
  output = start_refused (server);
  g_assert_nonnull (strstr (output, "no such user"));
}

static void
remove_children (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        {
          remove_children (child);
          g_assert_cmpint (g_rmdir (child), ==, 0);
        }
      else
        g_assert_cmpint (g_unlink (child), ==, 0);
    }
}

static void
run_check_config (PhTestServer *server)
{
  const char *argv[] = { g_getenv ("POSTHORND"), "--check-config", "-c",
                         ph_test_server_get_config_path (server), NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("posthornd --check-config failed: %s%s", out, err);
  g_assert_nonnull (strstr (out, "plugin auth-passwd-file "));
  g_assert_nonnull (strstr (out, "imap4 127.0.0.1:0 plain"));
}

/* posthornd --check-config run as root with [core] user set becomes that
 * user before the plugins initialise: whatever they create in the state
 * dir (the database, the queue folder) is never root's, whether the state
 * dir was there (tmpfiles.d) or not. */
static void
test_check_config_as_root (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *users = NULL;
  const char *state;
  struct passwd *pw;
  struct stat st;
  guint n_files = 0, n_dirs = 0;
  g_autoptr(GString) problems = g_string_new (NULL);

  if (!need_root ())
    return;
  pw = getpwnam (DROP_USER);
  server = server_create ("user=" DROP_USER, NULL);
  state = ph_test_server_get_state_dir (server);
  users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  /* the user reads what it reads after the switch: the users file */
  g_assert_cmpint (g_chmod (ph_test_server_get_dir (server), 0711), ==, 0);
  g_assert_cmpint (g_chmod (users, 0644), ==, 0);
  g_assert_cmpint (chown (state, pw->pw_uid, pw->pw_gid), ==, 0);
  /* a start writes the config; its files go, the state dir stays */
  ph_test_server_start_or_die (server);
  {
    /* served: the switch of user and the signal handlers are in place */
    g_autoptr(PhTestClient) client = ph_test_client_connect (server, "imap4", FALSE);
    g_autofree char *greeting = ph_test_client_read_line (client);

    g_assert_true (g_str_has_prefix (greeting, "* OK"));
  }
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  remove_children (state);

  run_check_config (server);
  check_tree (state, pw->pw_uid, &n_files, &n_dirs, problems);
  if (problems->len > 0)
    g_error ("after --check-config in an existing state dir:%s", problems->str);
  g_test_message ("--check-config left %u files, %u folders, all uid %u", n_files, n_dirs,
                  (guint) pw->pw_uid);

  /* no state dir at all: it is made for the user, and so is its content */
  remove_children (state);
  g_assert_cmpint (g_rmdir (state), ==, 0);
  run_check_config (server);
  g_assert_cmpint (stat (state, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, pw->pw_uid);
  n_files = n_dirs = 0;
  check_tree (state, pw->pw_uid, &n_files, &n_dirs, problems);
  if (problems->len > 0)
    g_error ("after --check-config without a state dir:%s", problems->str);

  /* and the real start afterwards is fine with what it finds */
  ph_test_server_start_or_die (server);
  {
    g_autoptr(PhTestClient) client = ph_test_client_connect (server, "imap4", FALSE);
    g_autofree char *greeting = ph_test_client_read_line (client);
    g_autofree char *login = NULL;

    g_assert_true (g_str_has_prefix (greeting, "* OK"));
    login = imap_command (client, "l", "LOGIN alice@example.org pw");
    g_assert_true (g_str_has_prefix (login, "l OK"));
  }
}

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/reliability/privileges/drop-to-user", test_drop_to_user);
  g_test_add_func ("/reliability/privileges/root-refused-without-user", test_root_refused);
  g_test_add_func ("/reliability/privileges/root-explicit", test_root_explicit);
  g_test_add_func ("/reliability/privileges/unknown-user", test_unknown_user);
  g_test_add_func ("/reliability/privileges/check-config-as-root", test_check_config_as_root);
  return g_test_run ();
}
