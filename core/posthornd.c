/* posthornd: the Posthorn mail server daemon.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <stdio.h>
#include <sys/stat.h>

static int
fail (const char *message)
{
  g_autofree char *line = g_strdup (message);

  /* The reason is always one line, whatever a plugin put in it. */
  g_strdelimit (line, "\r\n", ' ');
  fprintf (stderr, "posthornd: %s\n", line);
  return 1;
}

static void
print_check_config (void)
{
  g_auto(GStrv) listeners = ph_net_describe_listeners ();
  g_autoptr(GArray) plugins = ph_plugins_list ();

  for (gsize i = 0; listeners != NULL && listeners[i] != NULL; i++)
    printf ("%s\n", listeners[i]);
  for (guint i = 0; i < plugins->len; i++)
    {
      const PhPluginInfo *info = &g_array_index (plugins, PhPluginInfo, i);
      printf ("plugin %s %s %s\n", info->name, info->version, info->kind);
    }
}

int
main (int argc, char **argv)
{
  g_autofree char *config_file = NULL;
  g_autofree char *ports_file = NULL;
  g_autofree char *log_level = NULL;
  gboolean version = FALSE, check_config = FALSE, foreground = FALSE;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *description = NULL;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
      "The configuration file (default: see below)", "FILE" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config,
      "Load the configuration and every plugin, print listeners and plugins, and exit", NULL },
    { "foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
      "Accepted for compatibility: posthornd never forks", NULL },
    { "ports-file", 0, 0, G_OPTION_ARG_FILENAME, &ports_file,
      "Write the bound listener ports to FILE (for tests)", "FILE" },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level,
      "Override [core] log_level: error, warning, info or debug", "LEVEL" },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
      "Print the version and the plugin ABI, and exit", NULL },
    { NULL }
  };
  int status;

  g_set_prgname ("posthornd");
  /* Mail is private: whatever a library asks for, what posthornd creates
   * is 0600 (files) or 0700 (folders). */
  umask (0077);
  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    "The Posthorn mail server. It never forks and runs in the foreground\n"
    "(for systemd, Type=notify); it logs to the journal or to stderr.\n"
    "SIGTERM or SIGINT stop it gracefully, SIGHUP reloads certificates\n"
    "and what plugins can re-read.");
  g_option_context_add_main_entries (context, entries, NULL);
  description = g_strdup_printf ("Without -c it reads %s.", ph_daemon_default_config_file ());
  g_option_context_set_description (context, description);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return fail (error->message);
  if (argc > 1)
    {
      g_autofree char *message = g_strdup_printf ("unexpected argument '%s'", argv[1]);
      return fail (message);
    }

  /* Before any thread exists: this unsets $LISTEN_FDS and friends. */
  ph_net_take_listen_fds ();

  if (version)
    {
      printf ("posthornd %s (plugin ABI %d.%d)\n", POSTHORN_VERSION,
              POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR);
      return 0;
    }
  if (log_level != NULL && !ph_log_level_is_valid (log_level))
    {
      g_autofree char *message =
        g_strdup_printf ("--log-level: '%s' is not one of error, warning, info, debug", log_level);
      return fail (message);
    }
  /* --check-config prints its result on stdout and only problems on stderr. */
  if (log_level == NULL && check_config)
    log_level = g_strdup ("warning");
  ph_daemon_set_log_level (log_level);
  ph_daemon_set_check_only (check_config);
  if (config_file == NULL)
    config_file = g_strdup (ph_daemon_default_config_file ());

  if (!ph_daemon_load (config_file, ports_file, &error))
    return fail (error->message);

  if (check_config)
    {
      print_check_config ();
      ph_daemon_unload ();
      return 0;
    }

  if (!ph_daemon_start (&error))
    {
      ph_daemon_unload ();
      return fail (error->message);
    }
  status = ph_daemon_run ();
  ph_daemon_unload ();
  return status;
}
