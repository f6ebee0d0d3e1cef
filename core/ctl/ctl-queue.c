/* posthornctl queue list|flush|delete: the smtp plugin's outbound spool,
 * <state_dir>/smtp-queue/ID.msg + ID.env (protocols/smtp/smtp-spool.h),
 * read directly. flush and delete reach the running daemon through its
 * directory monitor: a "flush" file, and ID.env renamed to
 * ID.env.deleted (atomic; the runner removes the files once no delivery
 * attempt uses them, or at its next start).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"
#include "ctl/ctl.h"
#include "ctl/ctl-paths.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_DIR_NAME "smtp-queue"
#define QUEUE_DELETED_SUFFIX ".env.deleted"

/* A value as the daemon's config reader sees it: " # comment" cut off. */
static char *
queue_config_value (GKeyFile *keyfile, const char *group, const char *key)
{
  char *value = g_key_file_get_string (keyfile, group, key, NULL);

  for (char *p = value; p != NULL && *p != '\0'; p++)
    if (*p == '#' && p > value && (p[-1] == ' ' || p[-1] == '\t'))
      {
        *p = '\0';
        break;
      }
  if (value != NULL)
    g_strstrip (value);
  return value;
}

static char *
queue_dir_from_config (const char *config_file, GError **error)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *state_dir = NULL;
  g_autofree char *base = NULL;

  if (!g_key_file_load_from_file (keyfile, config_file, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", config_file);
      return NULL;
    }
  state_dir = queue_config_value (keyfile, "core", "state_dir");
  if (state_dir == NULL || *state_dir == '\0')
    {
      g_free (state_dir);
      state_dir = g_strdup (CTL_LOCALSTATEDIR "/lib/posthorn");
    }
  if (g_path_is_absolute (state_dir))
    return g_build_filename (state_dir, QUEUE_DIR_NAME, NULL);
  base = g_path_get_dirname (config_file);
  return g_build_filename (base, state_dir, QUEUE_DIR_NAME, NULL);
}

/* 16 upper-case hex digits, as the spool names messages. */
static gboolean
queue_id_valid (const char *id)
{
  if (strlen (id) != 16)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_islower (*p))
      return FALSE;
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
queue_list_ids (const char *dir, GError **error)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, error);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL)
    return NULL;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *id = NULL;

      if (!g_str_has_suffix (name, ".env"))
        continue;
      id = g_strndup (name, strlen (name) - 4);
      if (queue_id_valid (id))
        g_ptr_array_add (ids, g_steal_pointer (&id));
    }
  g_ptr_array_sort (ids, compare_strings);
  return g_steal_pointer (&ids);
}

static void
json_string (GString *out, const char *value)
{
  if (value == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) value; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (out, "\\%c", *p);
      else if (*p < 0x20)
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  g_string_append_c (out, '"');
}

static char *
queue_time_text (gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (t);

  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
}

/* One message: its envelope file and its size. A message removed between
 * the directory listing and the read (delivered meanwhile) is skipped. */
static gboolean
queue_show_one (const char *dir, const char *id, gboolean json, gboolean first, GString *out)
{
  g_autofree char *env_name = g_strconcat (id, ".env", NULL);
  g_autofree char *msg_name = g_strconcat (id, ".msg", NULL);
  g_autofree char *env_path = g_build_filename (dir, env_name, NULL);
  g_autofree char *msg_path = g_build_filename (dir, msg_name, NULL);
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *sender = NULL;
  GStatBuf st;
  gint64 size = -1;
  gint64 arrival, next_attempt;
  guint64 attempts;

  if (!g_key_file_load_from_file (kf, env_path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  if (g_stat (msg_path, &st) == 0)
    size = (gint64) st.st_size;
  sender = g_key_file_get_string (kf, "envelope", "sender", NULL);
  arrival = g_key_file_get_int64 (kf, "envelope", "arrival", NULL);
  next_attempt = g_key_file_get_int64 (kf, "envelope", "next_attempt", NULL);
  attempts = g_key_file_get_uint64 (kf, "envelope", "attempts", NULL);

  if (json)
    {
      g_string_append (out, first ? "\n  {" : ",\n  {");
      g_string_append (out, "\"id\": ");
      json_string (out, id);
      g_string_append_printf (out, ", \"size\": %" G_GINT64_FORMAT ", \"arrival\": %" G_GINT64_FORMAT
                              ", \"next_attempt\": %" G_GINT64_FORMAT ", \"attempts\": %"
                              G_GUINT64_FORMAT ", \"sender\": ", size, arrival, next_attempt,
                              attempts);
      json_string (out, sender != NULL ? sender : "");
      g_string_append (out, ", \"recipients\": [");
    }
  else
    {
      g_autofree char *when = queue_time_text (arrival);

      g_string_append_printf (out, "%s  %8" G_GINT64_FORMAT "  %s  <%s>  attempts=%" G_GUINT64_FORMAT "\n",
                              id, size, when, sender != NULL ? sender : "", attempts);
    }
  for (guint i = 0;; i++)
    {
      g_autofree char *group = g_strdup_printf ("rcpt %u", i);
      g_autofree char *mailbox = NULL;
      g_autofree char *state = NULL;
      g_autofree char *status = NULL;
      g_autofree char *diagnostic = NULL;

      if (!g_key_file_has_group (kf, group))
        break;
      mailbox = g_key_file_get_string (kf, group, "mailbox", NULL);
      state = g_key_file_get_string (kf, group, "state", NULL);
      status = g_key_file_get_string (kf, group, "status", NULL);
      diagnostic = g_key_file_get_string (kf, group, "diagnostic", NULL);
      if (json)
        {
          g_string_append (out, i == 0 ? "{\"address\": " : ", {\"address\": ");
          json_string (out, mailbox);
          g_string_append (out, ", \"state\": ");
          json_string (out, state);
          g_string_append (out, ", \"status\": ");
          json_string (out, status);
          g_string_append (out, ", \"diagnostic\": ");
          json_string (out, diagnostic);
          g_string_append_c (out, '}');
        }
      else
        g_string_append_printf (out, "    %-9s <%s>%s%s%s%s\n", state != NULL ? state : "?",
                                mailbox != NULL ? mailbox : "",
                                status != NULL ? "  " : "", status != NULL ? status : "",
                                diagnostic != NULL ? "  " : "", diagnostic != NULL ? diagnostic : "");
    }
  if (json)
    g_string_append (out, "]}");
  return TRUE;
}

static int
queue_list (const char *dir, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  guint shown = 0;

  ids = queue_list_ids (dir, &error);
  if (ids == NULL)
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        ids = g_ptr_array_new ();
      else
        {
          fprintf (stderr, "posthornctl queue: %s\n", error->message);
          return 1;
        }
    }
  if (json)
    g_string_append_c (out, '[');
  for (guint i = 0; i < ids->len; i++)
    if (queue_show_one (dir, ids->pdata[i], json, shown == 0, out))
      shown++;
  if (json)
    g_string_append (out, shown > 0 ? "\n]\n" : "]\n");
  else
    g_string_append_printf (out, "%u message(s) in the queue\n", shown);
  fputs (out->str, stdout);
  return 0;
}

static int
queue_flush (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "flush", NULL);
  int fd;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      fprintf (stderr, "posthornctl queue: %s: no queue directory\n", dir);
      return 1;
    }
  /* the monitor reacts to a new file: never reuse a left-over one */
  g_unlink (path);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      fprintf (stderr, "posthornctl queue: cannot create %s: %s\n", path, g_strerror (errno));
      return 1;
    }
  close (fd);
  printf ("flush requested\n");
  return 0;
}

static int
queue_delete (const char *dir, char **ids, int n_ids)
{
  int status = 0;

  for (int i = 0; i < n_ids; i++)
    {
      g_autofree char *name = g_strconcat (ids[i], ".env", NULL);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *deleted = g_strconcat (dir, G_DIR_SEPARATOR_S, ids[i],
                                              QUEUE_DELETED_SUFFIX, NULL);

      if (!queue_id_valid (ids[i]))
        {
          fprintf (stderr, "posthornctl queue: '%s' is not a queue id\n", ids[i]);
          status = 1;
          continue;
        }
      if (g_rename (path, deleted) != 0)
        {
          if (errno == ENOENT)
            fprintf (stderr, "posthornctl queue: %s: no such message (delivered already?)\n",
                     ids[i]);
          else
            fprintf (stderr, "posthornctl queue: cannot delete %s: %s\n", ids[i],
                     g_strerror (errno));
          status = 1;
          continue;
        }
      printf ("%s: deleted\n", ids[i]);
    }
  return status;
}

int
ctl_queue_main (int argc, char **argv)
{
  g_autofree char *config_file = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *dir = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
      "Use the state directory of this config (default: the installed posthorn.conf)", "FILE" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
      "Use this state directory", "DIR" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "list: print JSON", NULL },
    { NULL },
  };
  g_autoptr(GOptionContext) context =
    g_option_context_new ("list | flush | delete ID... - the outbound SMTP queue");
  g_autoptr(GError) error = NULL;
  const char *action;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "list    the queued messages and each recipient's state\n"
    "flush   ask the running daemon to retry every message now\n"
    "delete  remove messages (after a delivery attempt in progress)");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "posthornctl queue: %s\n", error->message);
      return 2;
    }
  if (argc < 2)
    {
      fprintf (stderr, "posthornctl queue: missing action (list, flush, delete)\n");
      return 2;
    }
  action = argv[1];
  if ((strcmp (action, "list") == 0 || strcmp (action, "flush") == 0) ? argc != 2
      : strcmp (action, "delete") != 0 || argc < 3)
    {
      fprintf (stderr, "posthornctl queue: usage: list [--json] | flush | delete ID...\n");
      return 2;
    }

  if (state_dir != NULL)
    dir = g_build_filename (state_dir, QUEUE_DIR_NAME, NULL);
  else
    {
      dir = queue_dir_from_config (config_file != NULL ? config_file
                                                       : ph_daemon_default_config_file (),
                                   &error);
      if (dir == NULL)
        {
          fprintf (stderr, "posthornctl queue: %s\n", error->message);
          return 1;
        }
    }

  if (strcmp (action, "list") == 0)
    return queue_list (dir, json);
  if (strcmp (action, "flush") == 0)
    return queue_flush (dir);
  return queue_delete (dir, argv + 2, argc - 2);
}
