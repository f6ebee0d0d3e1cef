/* Services, listeners, the ports file and the per-service counters.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#define NET_LISTEN_BACKLOG 511
#define NET_ACCEPT_BATCH 32

static GPtrArray *net_services;   /* PosthornService * */
static GPtrArray *net_listeners;  /* NetListener * */
static GHashTable *net_counters;  /* "service.counter" -> guint64 * */
static GPtrArray *net_passed;     /* NetPassedSocket *: from systemd, not yet used */

static void
service_free (PosthornService *service)
{
  g_free (service->name);
  g_free (service->refusal_line);
  g_free (service);
}

static void
listener_close (NetListener *listener)
{
  if (listener->retry_source != NULL)
    {
      g_source_destroy (listener->retry_source);
      g_clear_pointer (&listener->retry_source, g_source_unref);
    }
  if (listener->source != NULL)
    {
      g_source_destroy (listener->source);
      g_clear_pointer (&listener->source, g_source_unref);
    }
  if (listener->fd >= 0)
    {
      close (listener->fd);
      listener->fd = -1;
      /* A socket file systemd made stays: the socket unit still listens. */
      if (listener->address.family == PH_LISTEN_UNIX && !listener->passed)
        unlink (listener->address.address);
    }
}

static void
listener_free (NetListener *listener)
{
  listener_close (listener);
  ph_listen_address_clear (&listener->address);
  g_free (listener->key);
  g_free (listener->configured);
  g_free (listener);
}

static void
net_ensure_init (void)
{
  if (net_services != NULL)
    return;
  net_services = g_ptr_array_new_with_free_func ((GDestroyNotify) service_free);
  net_listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) listener_free);
  net_counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static PosthornService *
service_lookup (const char *name)
{
  if (net_services == NULL)
    return NULL;
  for (guint i = 0; i < net_services->len; i++)
    {
      PosthornService *service = g_ptr_array_index (net_services, i);
      if (strcmp (service->name, name) == 0)
        return service;
    }
  return NULL;
}

PosthornService *
posthorn_service_new (PosthornPlugin *plugin,
                      const char *name,
                      const PosthornServiceVTable *vtable,
                      gpointer user_data)
{
  PosthornService *service;

  g_return_val_if_fail (plugin != NULL, NULL);
  g_return_val_if_fail (name != NULL && name[0] != '\0', NULL);
  g_return_val_if_fail (vtable != NULL && vtable->accept != NULL, NULL);
  g_return_val_if_fail (vtable->struct_size >= G_STRUCT_OFFSET (PosthornServiceVTable, accept)
                        + sizeof vtable->accept, NULL);

  net_ensure_init ();
  if (service_lookup (name) != NULL)
    {
      g_critical ("plugin %s: a service named '%s' is already registered",
                  posthorn_plugin_get_name (plugin), name);
      return NULL;
    }

  service = g_new0 (PosthornService, 1);
  service->plugin = plugin;
  service->name = g_strdup (name);
  memcpy (&service->vtable, vtable, MIN (vtable->struct_size, sizeof service->vtable));
  service->vtable.struct_size = sizeof service->vtable;
  service->user_data = user_data;
  service->max_line_length = NET_DEFAULT_MAX_LINE;
  service->idle_timeout = NET_DEFAULT_IDLE_TIMEOUT;
  service->refusal_line = g_strdup ("Too many connections\r\n");
  g_ptr_array_add (net_services, service);
  return service;
}

const char *
posthorn_service_get_name (PosthornService *service)
{
  g_return_val_if_fail (service != NULL, NULL);
  return service->name;
}

PosthornPlugin *
posthorn_service_get_plugin (PosthornService *service)
{
  g_return_val_if_fail (service != NULL, NULL);
  return service->plugin;
}

void
posthorn_service_set_defaults (PosthornService *service,
                               gsize max_line_length,
                               guint idle_timeout)
{
  g_return_if_fail (service != NULL);
  g_return_if_fail (max_line_length > 0);
  service->max_line_length = max_line_length;
  service->idle_timeout = idle_timeout;
}

void
posthorn_service_set_refusal_line (PosthornService *service, const char *line)
{
  g_return_if_fail (service != NULL);
  g_return_if_fail (line != NULL);
  g_free (service->refusal_line);
  service->refusal_line = g_strdup (line);
}

static NetListener *
listener_new (PosthornService *service, const char *key, const char *configured,
              PhListenFamily family, const char *address, guint16 port, gboolean tls)
{
  NetListener *listener = g_new0 (NetListener, 1);

  listener->service = service;
  listener->key = g_strdup (key);
  listener->configured = g_strdup (configured);
  listener->address.family = family;
  listener->address.address = g_strdup (address);
  listener->address.port = port;
  listener->tls = tls;
  listener->follow_port_of = -1;
  listener->fd = -1;
  return listener;
}

gboolean
posthorn_service_listen_config (PosthornService *service,
                                const char *key,
                                const char *default_value,
                                PosthornListenFlags flags,
                                GError **error)
{
  g_auto (GStrv) defaults = NULL;
  g_auto (GStrv) entries = NULL;
  g_autoptr (GPtrArray) added = NULL;
  gboolean tls = (flags & POSTHORN_LISTEN_IMPLICIT_TLS) != 0;
  PosthornPlugin *plugin;

  g_return_val_if_fail (service != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  plugin = service->plugin;
  if (default_value != NULL)
    defaults = g_strsplit (default_value, ";", -1);
  if (!posthorn_config_get_string_list (plugin, key, (const char *const *) defaults,
                                        &entries, error))
    return FALSE;

  added = g_ptr_array_new_with_free_func ((GDestroyNotify) listener_free);
  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      const char *entry = g_strstrip (entries[i]);
      PhListenAddress parsed;
      g_autofree char *reason = NULL;

      if (entry[0] == '\0')
        continue;
      if (!ph_listen_address_parse (entry, &parsed, &reason))
        {
          posthorn_config_set_error (plugin, key, error, "%s", reason);
          return FALSE;
        }

      for (guint j = 0; j < net_listeners->len + added->len; j++)
        {
          NetListener *other = j < net_listeners->len
                               ? g_ptr_array_index (net_listeners, j)
                               : g_ptr_array_index (added, j - net_listeners->len);
          if (ph_listen_address_conflicts (&parsed, &other->address))
            {
              posthorn_config_set_error (plugin, key, error,
                                         "'%s' is already used by service %s ([%s] %s = %s)",
                                         entry, other->service->name,
                                         posthorn_plugin_get_name (other->service->plugin),
                                         other->key, other->configured);
              ph_listen_address_clear (&parsed);
              return FALSE;
            }
        }

      if (tls && !ph_tls_available ())
        {
          posthorn_config_set_error (plugin, key, error,
                                     "'%s' is an implicit-TLS listener but [tls] certificate is not set",
                                     entry);
          ph_listen_address_clear (&parsed);
          return FALSE;
        }

      if (parsed.family == PH_LISTEN_ANY)
        {
          NetListener *v4 = listener_new (service, key, entry, PH_LISTEN_INET4, "0.0.0.0",
                                          parsed.port, tls);
          NetListener *v6 = listener_new (service, key, entry, PH_LISTEN_INET6, "::",
                                          parsed.port, tls);
          v6->optional = TRUE;
          v6->follow_port_of = (int) (net_listeners->len + added->len);
          g_ptr_array_add (added, v4);
          g_ptr_array_add (added, v6);
        }
      else
        {
          g_ptr_array_add (added, listener_new (service, key, entry, parsed.family,
                                                parsed.address, parsed.port, tls));
        }
      ph_listen_address_clear (&parsed);
    }

  for (guint i = 0; i < added->len; i++)
    g_ptr_array_add (net_listeners, g_steal_pointer (&g_ptr_array_index (added, i)));
  g_ptr_array_set_free_func (added, NULL);
  return TRUE;
}

/* ---- binding ---- */

static gboolean
listener_fail (NetListener *listener, const char *what, int err, GError **error)
{
  g_autofree char *where = ph_listen_address_to_string (&listener->address);
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_CONFIG,
               "%s: [%s] %s: cannot %s %s: %s", ph_settings ()->config_file,
               posthorn_plugin_get_name (listener->service->plugin), listener->key,
               what, where, g_strerror (err));
  return FALSE;
}

static gboolean
unix_remove_stale (NetListener *listener, GError **error)
{
  const char *path = listener->address.address;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;
  int r;

  if (lstat (path, &st) != 0)
    return errno == ENOENT ? TRUE : listener_fail (listener, "inspect", errno, error);
  if (!S_ISSOCK (st.st_mode))
    return listener_fail (listener, "replace (not a socket)", EEXIST, error);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return listener_fail (listener, "create a socket for", errno, error);
  g_strlcpy (sun.sun_path, path, sizeof sun.sun_path);
  r = connect (fd, (struct sockaddr *) &sun, sizeof sun);
  close (fd);
  if (r == 0)
    return listener_fail (listener, "bind (another process listens on it)", EADDRINUSE, error);
  if (unlink (path) != 0 && errno != ENOENT)
    return listener_fail (listener, "remove the stale socket", errno, error);
  return TRUE;
}

static gboolean listener_accept_cb (gint fd, GIOCondition condition, gpointer user_data);

static void
listener_watch (NetListener *listener)
{
  listener->source = g_unix_fd_source_new (listener->fd, G_IO_IN);
  g_source_set_callback (listener->source, G_SOURCE_FUNC (listener_accept_cb), listener, NULL);
  g_source_set_static_name (listener->source, "posthorn listener");
  g_source_attach (listener->source, NULL);
}

static gboolean
listener_bind (NetListener *listener, GError **error)
{
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage storage;
  } addr;
  socklen_t len;
  int domain;
  int one = 1;
  int fd;

  memset (&addr, 0, sizeof addr);
  switch (listener->address.family)
    {
    case PH_LISTEN_INET4:
      domain = AF_INET;
      addr.in4.sin_family = AF_INET;
      addr.in4.sin_port = g_htons (listener->address.port);
      inet_pton (AF_INET, listener->address.address, &addr.in4.sin_addr);
      len = sizeof addr.in4;
      break;
    case PH_LISTEN_INET6:
      domain = AF_INET6;
      addr.in6.sin6_family = AF_INET6;
      addr.in6.sin6_port = g_htons (listener->address.port);
      inet_pton (AF_INET6, listener->address.address, &addr.in6.sin6_addr);
      len = sizeof addr.in6;
      break;
    case PH_LISTEN_UNIX:
      domain = AF_UNIX;
      addr.un.sun_family = AF_UNIX;
      g_strlcpy (addr.un.sun_path, listener->address.address, sizeof addr.un.sun_path);
      len = sizeof addr.un;
      if (!unix_remove_stale (listener, error))
        return FALSE;
      break;
    case PH_LISTEN_ANY:
    default:
      g_assert_not_reached ();
    }

  fd = socket (domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return listener_fail (listener, "create a socket for", errno, error);
  if (domain != AF_UNIX)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (domain == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, &addr.sa, len) != 0 || listen (fd, NET_LISTEN_BACKLOG) != 0)
    {
      int saved = errno;
      close (fd);
      return listener_fail (listener, "listen on", saved, error);
    }

  if (domain != AF_UNIX)
    {
      len = sizeof addr;
      if (getsockname (fd, &addr.sa, &len) == 0)
        listener->bound_port = g_ntohs (domain == AF_INET ? addr.in4.sin_port : addr.in6.sin6_port);
    }
  listener->fd = fd;
  listener_watch (listener);
  return TRUE;
}

/* ---- systemd socket activation (sd_listen_fds(3)) ---- */

#define NET_LISTEN_FDS_START 3

typedef struct {
  int fd;                     /* -1 once handed to a listener or closed */
  char *name;                 /* its $LISTEN_FDNAMES entry ("unknown" without) */
  PhListenAddress address;    /* where it is bound (family PH_LISTEN_* ) */
  gboolean dual_stack;        /* [::] without IPV6_V6ONLY: IPv4 reaches it too */
  NetListener *listener;      /* the listener that took it */
} NetPassedSocket;

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
static void
net_passed_assign (void)
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
  for (guint i = 0; i < net_listeners->len; i++)
    for (guint j = 0; j < net_passed->len; j++)
      {
        NetListener *listener = g_ptr_array_index (net_listeners, i);
        NetPassedSocket *passed = g_ptr_array_index (net_passed, j);

        if (listener->fd < 0 && passed_socket_matches (passed, listener))
          passed_socket_take (passed, listener);
      }
  for (guint i = 0; i < net_listeners->len; i++)
    {
      NetListener *listener = g_ptr_array_index (net_listeners, i);

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

static gboolean
ports_file_write (const char *path, GError **error)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; i < net_listeners->len; i++)
    {
      NetListener *listener = g_ptr_array_index (net_listeners, i);
      if (listener->fd < 0)
        continue;
      g_string_append_printf (text, "%s %s %u %s\n", listener->service->name,
                              listener->address.address, listener->bound_port,
                              listener->tls ? "tls" : "plain");
    }
  /* g_file_set_contents() writes a temporary file and renames it. */
  if (!g_file_set_contents (path, text->str, (gssize) text->len, error))
    {
      g_prefix_error (error, "--ports-file: ");
      return FALSE;
    }
  return TRUE;
}

/* Every connection is a file descriptor, and some need more (outbound
 * SMTP, a store's files): the soft limit (often 1024) goes up to the hard
 * one at start. Only a hard limit below what [core] max_connections needs
 * is worth a warning: the administrator has to raise it (LimitNOFILE=). */
#define NET_FD_RESERVE 256

static void
net_raise_fd_limit (guint max_connections)
{
  struct rlimit limit;
  rlim_t wanted = (rlim_t) max_connections + net_listeners->len + NET_FD_RESERVE;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur != limit.rlim_max)
    {
      struct rlimit raised = limit;

      /* RLIM_INFINITY is not a valid soft limit for file descriptors. */
      raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? MAX (limit.rlim_cur, wanted)
                                                        : limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &raised) == 0)
        limit = raised;
      else
        g_debug ("cannot raise RLIMIT_NOFILE to %lu: %s", (unsigned long) raised.rlim_cur,
                 g_strerror (errno));
    }
  if (limit.rlim_cur < wanted)
    g_warning ("[core] max_connections=%u needs about %lu file descriptors, but RLIMIT_NOFILE "
               "allows %lu (raise the hard limit, e.g. LimitNOFILE= in the unit, or lower "
               "max_connections)", max_connections, (unsigned long) wanted,
               (unsigned long) limit.rlim_cur);
}

gboolean
ph_net_start (GError **error)
{
  const PhSettings *settings = ph_settings ();

  net_ensure_init ();
  net_raise_fd_limit (settings->max_connections > 0 ? settings->max_connections : 20000);
  net_passed_assign ();
  for (guint i = 0; i < net_listeners->len; i++)
    {
      NetListener *listener = g_ptr_array_index (net_listeners, i);
      g_autoptr (GError) local_error = NULL;

      if (listener->fd >= 0)
        {
          listener_watch (listener);  /* passed by systemd */
          continue;
        }
      if (listener->covered)
        continue;
      if (listener->follow_port_of >= 0)
        {
          NetListener *leader = g_ptr_array_index (net_listeners, (guint) listener->follow_port_of);
          listener->address.port = leader->bound_port;
        }
      if (listener_bind (listener, &local_error))
        continue;
      if (listener->optional)
        {
          g_debug ("%s", local_error->message);
          continue;
        }
      g_propagate_error (error, g_steal_pointer (&local_error));
      for (guint j = 0; j < i; j++)
        listener_close (g_ptr_array_index (net_listeners, j));
      return FALSE;
    }

  if (settings->ports_file != NULL && settings->ports_file[0] != '\0')
    return ports_file_write (settings->ports_file, error);
  return TRUE;
}

char **
ph_net_describe_listeners (void)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; net_listeners != NULL && i < net_listeners->len; i++)
    {
      NetListener *listener = g_ptr_array_index (net_listeners, i);
      PhListenAddress shown = listener->address;
      g_autofree char *where = NULL;
      g_autofree char *line = NULL;

      if (listener->fd >= 0 && shown.family != PH_LISTEN_UNIX)
        shown.port = listener->bound_port;
      where = ph_listen_address_to_string (&shown);
      line = g_strdup_printf ("%s %s %s", listener->service->name, where,
                              listener->tls ? "tls" : "plain");
      g_strv_builder_add (builder, line);
    }
  return g_strv_builder_end (builder);
}

/* ---- accepting ---- */

static gboolean
listener_retry_cb (gpointer user_data)
{
  NetListener *listener = user_data;

  g_clear_pointer (&listener->retry_source, g_source_unref);
  if (listener->fd >= 0)
    listener_watch (listener);
  return G_SOURCE_REMOVE;
}

static void
listener_refuse (NetListener *listener, int fd, const char *peer, const char *reason)
{
  PosthornService *service = listener->service;
  const char *line = service->refusal_line;
  gint64 now = g_get_monotonic_time ();

  /* A flood of refusals must not become a flood of log lines. */
  if (now - service->refusal_logged_at >= G_USEC_PER_SEC)
    {
      if (service->refusals_unlogged > 0)
        g_message ("%s: refused a connection from %s: %s (%u more refused since the last such line)",
                   service->name, peer, reason, service->refusals_unlogged);
      else
        g_message ("%s: refused a connection from %s: %s", service->name, peer, reason);
      service->refusal_logged_at = now;
      service->refusals_unlogged = 0;
    }
  else
    service->refusals_unlogged++;
  net_service_count (service, "connections_refused", 1);
  /* A fresh socket has room for one short line; a failure is not worth
   * more than the log line above. */
  if (!listener->tls && line != NULL && line[0] != '\0')
    {
      ssize_t r = send (fd, line, strlen (line), MSG_DONTWAIT | MSG_NOSIGNAL);
      (void) r;
    }
  shutdown (fd, SHUT_RDWR);
  close (fd);
}

static gboolean
listener_accept_cb (gint listen_fd, GIOCondition condition, gpointer user_data)
{
  NetListener *listener = user_data;

  for (guint i = 0; i < NET_ACCEPT_BATCH; i++)
    {
      struct sockaddr_storage peer;
      socklen_t peer_len = sizeof peer;
      const char *reason = NULL;
      g_autofree char *peer_text = NULL;
      int fd;

      fd = accept4 (listen_fd, (struct sockaddr *) &peer, &peer_len,
                    SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          g_warning ("%s: accept: %s; not accepting for a second",
                     listener->service->name, g_strerror (errno));
          g_source_destroy (listener->source);
          g_clear_pointer (&listener->source, g_source_unref);
          listener->retry_source = g_timeout_source_new_seconds (1);
          g_source_set_callback (listener->retry_source, listener_retry_cb, listener, NULL);
          g_source_attach (listener->retry_source, NULL);
          return G_SOURCE_REMOVE;
        }

      peer_text = net_sockaddr_to_string ((struct sockaddr *) &peer, peer_len, NULL);
      if (!net_connection_limits_allow (peer_text, &reason))
        {
          listener_refuse (listener, fd, peer_text, reason);
          continue;
        }
      net_connection_accept (listener, fd, (struct sockaddr *) &peer, peer_len);
    }
  return G_SOURCE_CONTINUE;
}

/* ---- shutdown ---- */

void
ph_net_begin_shutdown (void)
{
  for (guint i = 0; net_listeners != NULL && i < net_listeners->len; i++)
    listener_close (g_ptr_array_index (net_listeners, i));
  net_connections_begin_shutdown ();
}

guint
ph_net_connection_count (void)
{
  return net_connections_count ();
}

void
ph_net_abort_all (void)
{
  net_connections_abort_all ();
}

void
ph_net_teardown (void)
{
  net_connections_teardown ();
  g_clear_pointer (&net_passed, g_ptr_array_unref);
  g_clear_pointer (&net_listeners, g_ptr_array_unref);
  g_clear_pointer (&net_services, g_ptr_array_unref);
  g_clear_pointer (&net_counters, g_hash_table_unref);
}

/* ---- counters ---- */

void
net_service_count (PosthornService *service, const char *counter, guint64 delta)
{
  g_autofree char *key = NULL;
  guint64 *value;

  net_ensure_init ();
  key = g_strconcat (service->name, ".", counter, NULL);
  value = g_hash_table_lookup (net_counters, key);
  if (value == NULL)
    {
      value = g_new0 (guint64, 1);
      g_hash_table_insert (net_counters, g_steal_pointer (&key), value);
    }
  *value += delta;
}

GHashTable *
ph_net_counters (void)
{
  net_ensure_init ();
  return net_counters;
}

GPtrArray *
ph_net_sessions (void)
{
  return net_connections_list ();
}
