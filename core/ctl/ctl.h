/* posthornctl subcommands. Each returns the process exit status. */
#pragma once

/* posthornctl user add|passwd|del|list ... (core/ctl/ctl-user.c) */
int ctl_user_main (int argc, char **argv);

/* posthornctl status|plugins|sessions|reload|kick over D-Bus
 * (core/ctl/ctl-status.c) */
int ctl_status_main (int argc, char **argv);
int ctl_plugins_main (int argc, char **argv);
int ctl_sessions_main (int argc, char **argv);
int ctl_reload_main (int argc, char **argv);
int ctl_kick_main (int argc, char **argv);

/* posthornctl queue list|flush|delete (core/ctl/ctl-queue.c) */
int ctl_queue_main (int argc, char **argv);
