/* The daemon's life: load, start (bind, drop privileges, tell systemd),
 * run until a stop signal, reload on SIGHUP, unload.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char *log_level_override;
static gboolean check_only;
static GMainLoop *loop;
static guint signal_sources[3];
static guint drain_source;
static gboolean stopping;
static gint64 stop_deadline;

const char *
ph_daemon_default_config_file (void)
{
  return POSTHORN_SYSCONFDIR "/posthorn/posthorn.conf";
}

void
ph_daemon_set_check_only (gboolean enabled)
{
  check_only = enabled;
}

void
ph_daemon_set_log_level (const char *level)
{
  g_free (log_level_override);
  log_level_override = g_strdup (level);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path,
 * or '@' for the abstract namespace). Without it this does nothing. */
static void
daemon_notify (const char *state)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gsize length;
  int fd;

  if (path == NULL || (path[0] != '/' && path[0] != '@'))
    return;
  length = strlen (path);
  if (length >= sizeof addr.sun_path)
    return;
  memcpy (addr.sun_path, path, length);
  if (path[0] == '@')
    addr.sun_path[0] = '\0';

  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  if (sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &addr,
              (socklen_t) (offsetof (struct sockaddr_un, sun_path) + length)) < 0)
    g_debug ("sd_notify %s: %s", state, g_strerror (errno));
  close (fd);
}

static gboolean daemon_drop_privileges (GError **error);

static gboolean
daemon_load_all (const char *config_file, const char *ports_file, GError **error)
{
  const PhSettings *s;

  if (!ph_settings_load (config_file, ports_file, error))
    return FALSE;
  s = ph_settings ();
  ph_log_setup (log_level_override != NULL ? log_level_override : s->log_level);

  if (!ph_tls_setup (error))
    return FALSE;
  /* --check-config binds nothing, so it can become [core] user before the
   * plugins initialise: what they create (a database, the queue folder)
   * is then that user's, as after a real start, never root's. */
  if (check_only && !daemon_drop_privileges (error))
    return FALSE;
  if (!ph_plugins_load (error))
    return FALSE;
  for (gsize i = 0; s->plugins[i] != NULL; i++)
    if (!ph_config_check_declared (s->plugins[i], error))
      return FALSE;
  return TRUE;
}

gboolean
ph_daemon_load (const char *config_file, const char *ports_file, GError **error)
{
  ph_log_setup (log_level_override != NULL ? log_level_override : "info");
  if (!daemon_load_all (config_file, ports_file, error))
    {
      ph_daemon_unload ();
      return FALSE;
    }
  return TRUE;
}

/* Plugins initialise as root when posthornd starts as root: what they
 * created in state_dir then (a database, the queue folder) goes to the
 * user the daemon becomes, or it could not write there afterwards. Only
 * root-owned folders and regular files with one link are given away
 * (never through a symlink, never a hard link to something else), and
 * only root-owned folders (and state_dir itself, @top) are descended into:
 * the rest the user made. */
static gboolean
daemon_give_to_user (int parent_fd, const char *name, gboolean top, const char *user,
                     uid_t uid, gid_t gid, GError **error)
{
  int fd = openat (parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  gboolean ok = TRUE;
  struct stat st;

  if (fd < 0)
    return TRUE;
  if (fstat (fd, &st) != 0 || (st.st_uid != 0 && !top)
      || !(S_ISDIR (st.st_mode) || (S_ISREG (st.st_mode) && st.st_nlink == 1)))
    {
      close (fd);
      return TRUE;
    }
  if (st.st_uid == 0 && fchownat (fd, "", uid, gid, AT_EMPTY_PATH) != 0)
    {
      int saved = errno;
      ph_config_set_error (error, "core", "user", "cannot give '%s' in the state dir to user %s: %s",
                           name, user, g_strerror (saved));
      close (fd);
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      int dir_fd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      DIR *dir = dir_fd >= 0 ? fdopendir (dir_fd) : NULL;
      struct dirent *entry;

      while (ok && dir != NULL && (entry = readdir (dir)) != NULL)
        if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
          ok = daemon_give_to_user (dirfd (dir), entry->d_name, FALSE, user, uid, gid, error);
      if (dir != NULL)
        closedir (dir);
      else if (dir_fd >= 0)
        close (dir_fd);
    }
  close (fd);
  return ok;
}

static gboolean
daemon_drop_privileges (GError **error)
{
  const PhSettings *s = ph_settings ();
  struct passwd *pw;
  uid_t uid;
  gid_t gid;

  if (geteuid () != 0)
    {
      if (s->user != NULL)
        g_debug ("not started as root: [core] user=%s does not apply", s->user);
      return TRUE;
    }
  /* --check-config as root on a config that would not start as root (or
   * insists on root): it runs as root and says nothing, so that any config
   * can be checked; the start reports the problem. */
  if (check_only && (s->user == NULL || strcmp (s->user, "root") == 0))
    return TRUE;
  if (s->user == NULL)
    {
      ph_config_set_error (error, "core", "user",
                           "not set, and posthornd will not keep running as root "
                           "(name the user to switch to, or user=root to insist)");
      return FALSE;
    }
  if (strcmp (s->user, "root") == 0)
    {
      g_warning ("running as root, as [core] user=root asks");
      return TRUE;
    }

  pw = getpwnam (s->user);
  if (pw == NULL)
    {
      ph_config_set_error (error, "core", "user", "no such user '%s'", s->user);
      return FALSE;
    }
  uid = pw->pw_uid;
  gid = pw->pw_gid;
  if (!daemon_give_to_user (AT_FDCWD, s->state_dir, TRUE, s->user, uid, gid, error))
    return FALSE;
  if (initgroups (s->user, gid) != 0 || setgid (gid) != 0 || setuid (uid) != 0)
    {
      int saved = errno;
      ph_config_set_error (error, "core", "user", "cannot switch to user '%s': %s",
                           s->user, g_strerror (saved));
      return FALSE;
    }
  if (setuid (0) == 0 || geteuid () == 0 || getuid () == 0 || getegid () == 0)
    {
      ph_config_set_error (error, "core", "user",
                           "switched to user '%s' but could still regain root", s->user);
      return FALSE;
    }
  g_debug ("running as user %s (uid %u, gid %u)", s->user, (guint) uid, (guint) gid);
  return TRUE;
}

static void
daemon_quit (void)
{
  g_clear_handle_id (&drain_source, g_source_remove);
  if (loop != NULL)
    g_main_loop_quit (loop);
}

static gboolean
daemon_drain_check (gpointer unused)
{
  guint open = ph_net_connection_count ();

  if (open == 0)
    {
      drain_source = 0;
      daemon_quit ();
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () >= stop_deadline)
    {
      g_warning ("%u connection(s) still open after shutdown_grace; closing them", open);
      ph_net_abort_all ();
      drain_source = 0;
      daemon_quit ();
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
daemon_on_stop_signal (gpointer unused)
{
  if (stopping)
    {
      g_message ("second stop signal: closing every connection now");
      ph_net_abort_all ();
      daemon_quit ();
      return G_SOURCE_CONTINUE;
    }

  stopping = TRUE;
  daemon_notify ("STOPPING=1");
  g_message ("stopping: %u connection(s) open, waiting up to %us",
             ph_net_connection_count (), ph_settings ()->shutdown_grace);
  ph_net_begin_shutdown ();
  stop_deadline = g_get_monotonic_time () + (gint64) ph_settings ()->shutdown_grace * G_USEC_PER_SEC;
  if (daemon_drain_check (NULL) == G_SOURCE_CONTINUE)
    drain_source = g_timeout_add (50, daemon_drain_check, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
daemon_on_hangup (gpointer unused)
{
  g_autoptr(GError) error = NULL;

  ph_daemon_reload (&error);
  return G_SOURCE_CONTINUE;
}

gboolean
ph_daemon_start (GError **error)
{
  /* Writes to a peer that went away must fail with EPIPE, not kill us. */
  signal (SIGPIPE, SIG_IGN);

  if (!ph_net_start (error))
    return FALSE;
  if (!daemon_drop_privileges (error))
    return FALSE;

  stopping = FALSE;
  signal_sources[0] = g_unix_signal_add (SIGTERM, daemon_on_stop_signal, NULL);
  signal_sources[1] = g_unix_signal_add (SIGINT, daemon_on_stop_signal, NULL);
  signal_sources[2] = g_unix_signal_add (SIGHUP, daemon_on_hangup, NULL);

  ph_dbus_start ();
  daemon_notify ("READY=1");
  g_message ("posthornd %s ready", POSTHORN_VERSION);
  return TRUE;
}

int
ph_daemon_run (void)
{
  loop = g_main_loop_new (NULL, FALSE);
  g_main_loop_run (loop);
  g_clear_pointer (&loop, g_main_loop_unref);
  g_message ("stopped");
  return 0;
}

gboolean
ph_daemon_reload (GError **error)
{
  g_autoptr(GString) failures = g_string_new (NULL);
  g_autoptr(GError) config_error = NULL;
  g_autoptr(GError) tls_error = NULL;
  g_autoptr(GError) plugins_error = NULL;
  g_autofree char *reloading = NULL;

  reloading = g_strdup_printf ("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT,
                               g_get_monotonic_time ());
  daemon_notify (reloading);

  /* A config that would not start does not half-apply either. */
  if (!ph_settings_reload (&config_error))
    {
      daemon_notify ("READY=1");
      g_warning ("reload failed, the old state stays: %s", config_error->message);
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG, "reload failed: %s",
                   config_error->message);
      return FALSE;
    }
  ph_log_setup (log_level_override != NULL ? log_level_override : ph_settings ()->log_level);

  if (!ph_tls_reload (&tls_error))
    g_string_append_printf (failures, "tls: %s", tls_error->message);
  if (!ph_plugins_reload (&plugins_error))
    g_string_append_printf (failures, "%s%s", failures->len > 0 ? "; " : "",
                            plugins_error->message);

  daemon_notify ("READY=1");
  if (failures->len > 0)
    {
      g_warning ("reload failed, the old state stays: %s", failures->str);
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "reload failed: %s", failures->str);
      return FALSE;
    }
  g_message ("reloaded");
  return TRUE;
}

void
ph_daemon_unload (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (signal_sources); i++)
    g_clear_handle_id (&signal_sources[i], g_source_remove);
  g_clear_handle_id (&drain_source, g_source_remove);

  /* Work in flight may still use plugin state: let it finish first. */
  ph_worker_shutdown ();
  ph_plugins_shutdown ();
  ph_dbus_stop ();
  ph_net_teardown ();
  ph_tls_teardown ();
  ph_plugins_unload ();
  ph_core_set_hostname (NULL);
  ph_settings_clear ();
}
