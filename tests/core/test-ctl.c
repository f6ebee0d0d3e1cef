/* posthornctl's command dispatch.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <string.h>
#include <sys/wait.h>

typedef struct {
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_free (run->out);
  g_free (run->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_posthornctl (Run *run, const char *first_arg, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *posthornctl = g_getenv ("POSTHORNCTL");
  int wait_status;
  va_list args;

  g_assert_nonnull (posthornctl);
  g_ptr_array_add (argv, (char *) posthornctl);
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                &run->out, &run->err, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  run->status = WEXITSTATUS (wait_status);
}

static void
test_version (void)
{
  g_auto(Run) run = { 0 };
  g_autofree char *expected = g_strdup_printf ("posthornctl %s (plugin ABI %d.%d)\n",
                                               POSTHORN_VERSION, POSTHORN_ABI_MAJOR,
                                               POSTHORN_ABI_MINOR);

  run_posthornctl (&run, "--version", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.out, ==, expected);
}

static void
test_help_lists_commands (void)
{
  static const char *const commands[] = { "user", "status", "plugins", "sessions", "reload", NULL };
  g_auto(Run) run = { 0 };

  run_posthornctl (&run, "help", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_str_has_prefix (run.out, "Usage: posthornctl COMMAND"));
  for (gsize i = 0; commands[i] != NULL; i++)
    {
      g_autofree char *line = g_strdup_printf ("\n  %s ", commands[i]);
      g_assert_nonnull (strstr (run.out, line));
    }
}

static void
test_dbus_commands (void)
{
  static const char *const commands[] = { "status", "plugins", "sessions", "reload", NULL };

  /* No bus there: each D-Bus command says so (tests/dbus/ runs them
   * against a daemon). */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/posthorn-test-bus", TRUE);
  for (gsize i = 0; commands[i] != NULL; i++)
    {
      g_auto(Run) run = { 0 };

      run_posthornctl (&run, commands[i], NULL);
      g_assert_cmpint (run.status, ==, 1);
      g_assert_cmpstr (run.out, ==, "");
      g_assert_true (g_str_has_prefix (run.err, "posthornctl: cannot connect to the system bus: "));
    }
}

static void
test_unknown_command (void)
{
  g_auto(Run) run = { 0 };

  run_posthornctl (&run, "frobnicate", NULL);
  g_assert_cmpint (run.status, ==, 2);
  g_assert_cmpstr (run.err, ==, "posthornctl: unknown command 'frobnicate' (try 'posthornctl help')\n");
}

static void
test_no_command (void)
{
  g_auto(Run) run = { 0 };

  run_posthornctl (&run, NULL);
  g_assert_cmpint (run.status, ==, 2);
  g_assert_true (g_str_has_prefix (run.out, "Usage: posthornctl COMMAND"));
}

static void
test_user_dispatch (void)
{
  g_auto(Run) run = { 0 };

  /* The user command's own option parser answers. */
  run_posthornctl (&run, "user", "--help", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_str_has_prefix (run.out, "Usage:"));
  g_assert_nonnull (strstr (run.out, "add"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/posthornctl/version", test_version);
  g_test_add_func ("/core/posthornctl/help", test_help_lists_commands);
  g_test_add_func ("/core/posthornctl/dbus-commands", test_dbus_commands);
  g_test_add_func ("/core/posthornctl/unknown-command", test_unknown_command);
  g_test_add_func ("/core/posthornctl/no-command", test_no_command);
  g_test_add_func ("/core/posthornctl/user-dispatch", test_user_dispatch);
  return g_test_run ();
}
