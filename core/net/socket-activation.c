/* systemd socket activation (sd_listen_fds(3)), without libsystemd:
 * taking the sockets systemd passed and giving each to the listener
 * configured at its address.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NET_LISTEN_FDS_START 3

typedef struct {
  int fd;                     /* -1 once handed to a listener or closed */
  char *name;                 /* its $LISTEN_FDNAMES entry ("unknown" without) */
  PhListenAddress address;    /* where it is bound (family PH_LISTEN_* ) */
  gboolean dual_stack;        /* [::] without IPV6_V6ONLY: IPv4 reaches it too */
  NetListener *listener;      /* the listener that took it */
} NetPassedSocket;

static GPtrArray *net_passed;     /* NetPassedSocket *: from systemd, not yet used */

static void
passed_socket_free (NetPassedSocket *passed)
{
  if (passed->fd >= 0)
    close (passed->fd);
  ph_listen_address_clear (&passed->address);
  g_free (passed->name);
  g_free (passed);
}

void
ph_net_take_listen_fds (void)
{
  const char *pid_text = g_getenv ("LISTEN_PID");
  const char *fds_text = g_getenv ("LISTEN_FDS");
  const char *names_text = g_getenv ("LISTEN_FDNAMES");
  g_auto (GStrv) names = NULL;
  guint64 pid = 0, count = 0;

  if (pid_text != NULL && fds_text != NULL
      && g_ascii_string_to_unsigned (pid_text, 10, 1, G_MAXINT, &pid, NULL)
      && (pid_t) pid == getpid ()
      && g_ascii_string_to_unsigned (fds_text, 10, 0, G_MAXINT - NET_LISTEN_FDS_START,
                                     &count, NULL))
    {
      if (names_text != NULL)
        names = g_strsplit (names_text, ":", -1);
      g_clear_pointer (&net_passed, g_ptr_array_unref);
      net_passed = g_ptr_array_new_with_free_func ((GDestroyNotify) passed_socket_free);
      for (guint i = 0; i < count; i++)
        {
          NetPassedSocket *passed = g_new0 (NetPassedSocket, 1);

          passed->fd = NET_LISTEN_FDS_START + (int) i;
          passed->name = g_strdup (names != NULL && i < g_strv_length (names) && names[i][0] != '\0'
                                   ? names[i] : "unknown");
          /* Ours alone: nothing posthornd might start inherits it. */
          fcntl (passed->fd, F_SETFD, FD_CLOEXEC);
          g_ptr_array_add (net_passed, passed);
        }
    }
  /* As sd_listen_fds (unset_environment=1) does, whoever they were for. */
  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");
}

/* Whether @passed is a listening stream socket, and where it is bound;
 * otherwise @why says what it is instead. */
static gboolean
passed_socket_inspect (NetPassedSocket *passed, const char **why)
{
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage storage;
  } addr;
  socklen_t len = sizeof addr;
  socklen_t opt_len;
  char text[INET6_ADDRSTRLEN];
  struct stat st;
  int type = 0, listening = 0, v6only = 1;

  if (fstat (passed->fd, &st) != 0)
    return (*why = "is not open"), FALSE;
  if (!S_ISSOCK (st.st_mode))
    return (*why = "is not a socket"), FALSE;
  opt_len = sizeof type;
  if (getsockopt (passed->fd, SOL_SOCKET, SO_TYPE, &type, &opt_len) != 0 || type != SOCK_STREAM)
    return (*why = "is not a stream socket (ListenStream=)"), FALSE;
  opt_len = sizeof listening;
  if (getsockopt (passed->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) != 0 || !listening)
    return (*why = "is not listening (Accept=yes is not supported)"), FALSE;
  memset (&addr, 0, sizeof addr);
  if (getsockname (passed->fd, &addr.sa, &len) != 0)
    return (*why = "has no address"), FALSE;

  switch (addr.sa.sa_family)
    {
    case AF_INET:
      passed->address.family = PH_LISTEN_INET4;
      passed->address.address = g_strdup (inet_ntop (AF_INET, &addr.in4.sin_addr, text, sizeof text));
      passed->address.port = g_ntohs (addr.in4.sin_port);
      return TRUE;
    case AF_INET6:
      passed->address.family = PH_LISTEN_INET6;
      passed->address.address = g_strdup (inet_ntop (AF_INET6, &addr.in6.sin6_addr, text, sizeof text));
      passed->address.port = g_ntohs (addr.in6.sin6_port);
      opt_len = sizeof v6only;
      getsockopt (passed->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &opt_len);
      passed->dual_stack = !v6only && IN6_IS_ADDR_UNSPECIFIED (&addr.in6.sin6_addr);
      return TRUE;
    case AF_UNIX:
      if (len <= offsetof (struct sockaddr_un, sun_path) || addr.un.sun_path[0] == '\0')
        return (*why = "is an unnamed or abstract unix socket"), FALSE;
      passed->address.family = PH_LISTEN_UNIX;
      passed->address.address = g_strndup (addr.un.sun_path, sizeof addr.un.sun_path);
      return TRUE;
    default:
      return (*why = "is of an unsupported address family"), FALSE;
    }
}

/* The same address: family, address and port (a configured port 0 never
 * matches: systemd cannot have bound "any port" for us). */
static gboolean
passed_socket_matches (const NetPassedSocket *passed, const NetListener *listener)
{
  const PhListenAddress *want = &listener->address;
  guint8 a[sizeof (struct in6_addr)], b[sizeof (struct in6_addr)];
  int af;

  if (passed->fd < 0 || passed->listener != NULL || passed->address.family != want->family)
    return FALSE;
  if (want->family == PH_LISTEN_UNIX)
    return strcmp (passed->address.address, want->address) == 0;
  if (want->port == 0 || passed->address.port != want->port)
    return FALSE;
  af = want->family == PH_LISTEN_INET4 ? AF_INET : AF_INET6;
  return inet_pton (af, want->address, a) == 1 && inet_pton (af, passed->address.address, b) == 1
         && memcmp (a, b, af == AF_INET ? sizeof (struct in_addr) : sizeof (struct in6_addr)) == 0;
}

static void
passed_socket_take (NetPassedSocket *passed, NetListener *listener)
{
  g_autofree char *where = ph_listen_address_to_string (&passed->address);
  int flags = fcntl (passed->fd, F_GETFL);

  /* systemd passes blocking sockets unless NonBlocking=yes. */
  if (flags >= 0)
    fcntl (passed->fd, F_SETFL, flags | O_NONBLOCK);
  listener->fd = passed->fd;
  listener->passed = TRUE;
  listener->bound_port = passed->address.port;
  passed->fd = -1;
  passed->listener = listener;
  g_message ("%s: [%s] %s = %s: using the socket systemd passed (%s, %s)",
             listener->service->name, posthorn_plugin_get_name (listener->service->plugin),
             listener->key, listener->configured, passed->name, where);
}

/* Hands each socket systemd passed to the listener bound to the same
 * address; a dual-stack [::]:PORT also stands for 0.0.0.0:PORT. The rest
 * are closed with a warning each. */
void
net_passed_assign (GPtrArray *listeners)
{
  if (net_passed == NULL)
    return;

  for (guint i = 0; i < net_passed->len; i++)
    {
      NetPassedSocket *passed = g_ptr_array_index (net_passed, i);
      const char *why = NULL;

      if (!passed_socket_inspect (passed, &why))
        {
          g_warning ("systemd passed fd %d (%s), which %s; closing it", passed->fd, passed->name, why);
          close (passed->fd);
          passed->fd = -1;
        }
    }
  for (guint i = 0; i < listeners->len; i++)
    for (guint j = 0; j < net_passed->len; j++)
      {
        NetListener *listener = g_ptr_array_index (listeners, i);
        NetPassedSocket *passed = g_ptr_array_index (net_passed, j);

        if (listener->fd < 0 && passed_socket_matches (passed, listener))
          passed_socket_take (passed, listener);
      }
  for (guint i = 0; i < listeners->len; i++)
    {
      NetListener *listener = g_ptr_array_index (listeners, i);

      if (listener->fd >= 0 || listener->address.family != PH_LISTEN_INET4
          || strcmp (listener->address.address, "0.0.0.0") != 0 || listener->address.port == 0)
        continue;
      for (guint j = 0; j < net_passed->len; j++)
        {
          NetPassedSocket *passed = g_ptr_array_index (net_passed, j);

          if (!passed->dual_stack || passed->address.port != listener->address.port)
            continue;
          if (passed->listener == NULL && passed->fd >= 0)
            passed_socket_take (passed, listener);
          else if (passed->listener != NULL)
            {
              listener->covered = TRUE;
              listener->bound_port = listener->address.port;
            }
          break;
        }
    }
  for (guint i = 0; i < net_passed->len; i++)
    {
      NetPassedSocket *passed = g_ptr_array_index (net_passed, i);
      g_autofree char *where = NULL;

      if (passed->fd < 0)
        continue;
      where = ph_listen_address_to_string (&passed->address);
      g_warning ("systemd passed a socket on %s (fd %d, %s) that no listener in %s is "
                 "configured for; closing it", where, passed->fd, passed->name,
                 ph_settings ()->config_file);
      close (passed->fd);
      passed->fd = -1;
    }
  g_clear_pointer (&net_passed, g_ptr_array_unref);
}

void
net_passed_clear (void)
{
  g_clear_pointer (&net_passed, g_ptr_array_unref);
}
