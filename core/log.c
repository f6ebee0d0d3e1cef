/* The structured log writer: the journal under systemd, stderr otherwise,
 * filtered by [core] log_level.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  GLogLevelFlags shown;  /* the levels written at this setting */
} log_levels[] = {
  { "error", G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL },
  { "warning", G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING },
  { "info", G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING
            | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO },
  { "debug", G_LOG_LEVEL_MASK },
};

static gint log_shown = G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING
                        | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO;
static gboolean log_to_journal;

static const char *
log_level_label (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "ERROR";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "CRITICAL";
  if (level & G_LOG_LEVEL_WARNING)
    return "WARNING";
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return "INFO";
  return "DEBUG";
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  g_autofree char *domain = NULL;
  g_autofree char *message = NULL;
  g_autoptr(GString) line = NULL;

  if ((level & g_atomic_int_get (&log_shown) & G_LOG_LEVEL_MASK) == 0)
    return G_LOG_WRITER_HANDLED;

  if (log_to_journal
      && g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      char **slot = NULL;

      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        slot = &domain;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        slot = &message;
      if (slot != NULL && *slot == NULL)
        *slot = fields[i].length < 0 ? g_strdup (fields[i].value)
                                     : g_strndup (fields[i].value, (gsize) fields[i].length);
    }

  line = g_string_new (log_level_label (level));
  g_string_append_printf (line, " %s: %s\n", domain != NULL ? domain : "posthorn",
                          message != NULL ? message : "");
  fwrite (line->str, 1, line->len, stderr);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

gboolean
ph_log_level_is_valid (const char *level)
{
  for (gsize i = 0; level != NULL && i < G_N_ELEMENTS (log_levels); i++)
    if (strcmp (level, log_levels[i].name) == 0)
      return TRUE;
  return FALSE;
}

void
ph_log_setup (const char *level)
{
  static gsize installed;

  for (gsize i = 0; level != NULL && i < G_N_ELEMENTS (log_levels); i++)
    if (strcmp (level, log_levels[i].name) == 0)
      g_atomic_int_set (&log_shown, (gint) log_levels[i].shown);

  /* GLib allows one writer per process; later calls only change the level. */
  if (g_once_init_enter (&installed))
    {
      log_to_journal = g_log_writer_is_journald (fileno (stderr));
      g_log_set_writer_func (log_writer, NULL, NULL);
      g_once_init_leave (&installed, 1);
    }
}
