/* posthornctl: the administrator's command line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>

static int ctl_help_main (int argc, char **argv);

static int
ctl_version_main (int argc, char **argv)
{
  printf ("posthornctl %s (plugin ABI %d.%d)\n", POSTHORN_VERSION,
          POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);
  return 0;
}

static const struct {
  const char *name;
  int (*main) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "user", ctl_user_main, "add, change, remove and list users of the passwd-file" },
  { "status", ctl_status_main, "show the running daemon's version, listeners and counters" },
  { "plugins", ctl_plugins_main, "list the running daemon's plugins" },
  { "sessions", ctl_sessions_main, "list open sessions" },
  { "reload", ctl_reload_main, "reload certificates and what plugins can re-read" },
  { "kick", ctl_kick_main, "close every session of a user" },
  { "queue", ctl_queue_main, "list, flush or delete messages in the outbound SMTP queue" },
  { "version", ctl_version_main, "print the version" },
  { "help", ctl_help_main, "show this help" },
};

static int
ctl_help_main (int argc, char **argv)
{
  printf ("Usage: posthornctl COMMAND [ARGUMENT...]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    printf ("  %-10s %s\n", commands[i].name, commands[i].summary);
  printf ("\n'posthornctl COMMAND --help' describes a command's arguments.\n");
  return 0;
}

int
main (int argc, char **argv)
{
  const char *name;

  g_set_prgname ("posthornctl");
  if (argc < 2)
    {
      ctl_help_main (argc, argv);
      return 2;
    }
  name = argv[1];
  if (strcmp (name, "--version") == 0 || strcmp (name, "-V") == 0)
    name = "version";
  else if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0)
    name = "help";

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (commands[i].name, name) == 0)
      return commands[i].main (argc - 1, argv + 1);

  fprintf (stderr, "posthornctl: unknown command '%s' (try 'posthornctl help')\n", argv[1]);
  return 2;
}
