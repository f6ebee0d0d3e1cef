/* posthornctl subcommands. Each returns the process exit status. */
#pragma once

/* posthornctl user add|passwd|del|list ... (core/ctl/ctl-user.c) */
int ctl_user_main (int argc, char **argv);
