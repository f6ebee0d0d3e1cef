/* The file descriptor limit (RLIMIT_NOFILE) at start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "net-private.h"

#include <errno.h>
#include <sys/resource.h>

/* Every connection is a file descriptor, and some need more (outbound
 * SMTP, a store's files): the soft limit (often 1024) goes up to the hard
 * one at start. Only a hard limit below what [core] max_connections needs
 * is worth a warning: the administrator has to raise it (LimitNOFILE=). */
#define NET_FD_RESERVE 256

void
net_fd_limit_raise (guint max_connections, guint listeners)
{
  struct rlimit limit;
  rlim_t wanted = (rlim_t) max_connections + listeners + NET_FD_RESERVE;

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
