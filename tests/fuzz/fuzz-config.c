/* libFuzzer target: the config keyfile as posthornd reads it at start-up
 * (ph_settings_load() over a file: the core's groups, their values, the
 * unknown-group check), and the value parsers behind every getter. A
 * config is either accepted or refused with one line naming the file.
 *
 * [core] state_dir is forced to a temporary folder (appended last, the
 * last key wins) so that no input makes the target create folders
 * elsewhere.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>

#include "ph-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static char *work_dir;
static char *config_path;
static int config_fd = -1;
static char *state_dir;

static void
remove_work_dir (void)
{
  g_rmdir (state_dir);
  g_rmdir (work_dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  work_dir = g_dir_make_tmp ("posthorn-fuzz-config-XXXXXX", NULL);
  g_assert_nonnull (work_dir);
  config_fd = memfd_create ("posthorn.conf", MFD_CLOEXEC);
  g_assert_cmpint (config_fd, >=, 0);
  config_path = g_strdup_printf ("/proc/%d/fd/%d", (int) getpid (), config_fd);
  state_dir = g_build_filename (work_dir, "state", NULL);
  atexit (remove_work_dir);
  return 0;
}

static void
check_value_parsers (const char *text)
{
  guint64 value = 0;
  gboolean flag = FALSE;

  if (ph_config_parse_uint64 (text, FALSE, &value))
    {
      g_autofree char *printed = g_strdup_printf ("%" G_GUINT64_FORMAT, value);
      guint64 again = 0;

      g_assert_true (ph_config_parse_uint64 (printed, FALSE, &again));
      g_assert_cmpuint (again, ==, value);
    }
  if (ph_config_parse_uint64 (text, TRUE, &value))
    g_assert_true (text[0] >= '0' && text[0] <= '9');
  (void) ph_config_parse_duration_ms (text, &value);
  if (ph_config_parse_boolean (text, &flag))
    g_assert_true (flag == TRUE || flag == FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GString) text = g_string_new_len ((const char *) data, (gssize) size);
  g_autoptr(GError) error = NULL;
  g_autofree char *value = g_strndup ((const char *) data, size);

  if (work_dir == NULL)
    LLVMFuzzerInitialize (NULL, NULL);
  check_value_parsers (value);

  g_string_append_printf (text, "\n[core]\nstate_dir=%s\n", state_dir);
  /* a memfd: rewriting a file on disk (fsync, O_TRUNC) would dominate */
  g_assert_cmpint (ftruncate (config_fd, 0), ==, 0);
  g_assert_cmpint (pwrite (config_fd, text->str, text->len, 0), ==, (gssize) text->len);
  if (ph_settings_load (config_path, NULL, &error))
    {
      g_assert_no_error (error);
      g_assert_cmpstr (ph_settings ()->state_dir, ==, state_dir);
    }
  else
    {
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, config_path));
      g_assert_null (strchr (error->message, '\n'));
    }
  ph_settings_clear ();
  return 0;
}
