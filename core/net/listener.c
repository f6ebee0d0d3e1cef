/* Listeners: the listen keys (posthorn_service_listen_config()), binding
 * (IPv4, IPv6 with IPV6_V6ONLY, unix sockets with stale-socket removal)
 * or taking the socket systemd passed, --ports-file, accepting and
 * refusing connections over the limits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#define NET_LISTEN_BACKLOG 511
#define NET_ACCEPT_BATCH 32

static GPtrArray *net_listeners;  /* NetListener * */

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
listeners_ensure (void)
{
  if (net_listeners == NULL)
    net_listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) listener_free);
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

  listeners_ensure ();
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

gboolean
ph_net_start (GError **error)
{
  const PhSettings *settings = ph_settings ();

  listeners_ensure ();
  net_fd_limit_raise (settings->max_connections > 0 ? settings->max_connections : 20000,
                      net_listeners->len);
  net_passed_assign (net_listeners);
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
net_listeners_close_all (void)
{
  for (guint i = 0; net_listeners != NULL && i < net_listeners->len; i++)
    listener_close (g_ptr_array_index (net_listeners, i));
}

void
net_listeners_free (void)
{
  g_clear_pointer (&net_listeners, g_ptr_array_unref);
}
