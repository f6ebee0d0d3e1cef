/* The file descriptor limit (RLIMIT_NOFILE) at start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <sys/resource.h>

/* Every connection is a file descriptor; beside them the daemon holds its
 * listeners and a reserve for the rest (outbound SMTP, a store's files,
 * the log, D-Bus). The soft limit (often 1024) goes up to the hard one at
 * start. With [core] max_connections set, a hard limit below what it needs
 * is worth a warning: the administrator has to raise the limit or lower
 * the key. Unset, the default (20000) gives way to the limit: the daemon
 * accepts what the descriptors allow and refuses the rest with the
 * service's refusal line, instead of failing accept() with EMFILE. */
#define NET_FD_RESERVE 256

/* What the descriptors allow; G_MAXUINT before net_fd_limit_raise(). */
static guint net_fd_connections_max = G_MAXUINT;

void
net_fd_limit_raise (guint max_connections, guint listeners)
{
  const PhSettings *settings = ph_settings ();
  struct rlimit limit;
  rlim_t overhead = (rlim_t) listeners + NET_FD_RESERVE;
  rlim_t wanted = (rlim_t) max_connections + overhead;
  rlim_t room;

  net_fd_connections_max = G_MAXUINT;
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
  if (limit.rlim_cur >= wanted)
    return;

  room = limit.rlim_cur > overhead ? limit.rlim_cur - overhead : 1;
  if (settings->max_connections_set)
    {
      g_warning ("%s: [core] max_connections=%u needs about %lu file descriptors (%u listeners "
                 "and %u in reserve included), but RLIMIT_NOFILE is %lu: raise the hard limit "
                 "(LimitNOFILE= in posthorn.service, or ulimit -Hn) to at least %lu, or lower "
                 "[core] max_connections to at most %lu",
                 settings->config_file, max_connections, (unsigned long) wanted, listeners,
                 (guint) NET_FD_RESERVE, (unsigned long) limit.rlim_cur, (unsigned long) wanted,
                 (unsigned long) room);
      return;
    }
  net_fd_connections_max = (guint) room;
  /* Only a hard limit below the default itself is news; one at about the
   * default (20000 on many systems) takes off just the reserve. */
  if (limit.rlim_cur < max_connections)
    g_message ("[core] max_connections is not set and RLIMIT_NOFILE is %lu: at most %u "
               "connections (set max_connections, or raise the hard limit: LimitNOFILE= in "
               "posthorn.service, or ulimit -Hn)",
               (unsigned long) limit.rlim_cur, net_fd_connections_max);
  else
    g_debug ("[core] max_connections is not set: at most %u connections (RLIMIT_NOFILE is %lu)",
             net_fd_connections_max, (unsigned long) limit.rlim_cur);
}

guint
net_fd_limit_connections (void)
{
  return net_fd_connections_max;
}
