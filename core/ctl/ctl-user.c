/* posthornctl user add|passwd|del|list: edits the passwd-file that the
 * auth-passwd-file plugin serves, in place and atomically, keeping every
 * other line, comment and extra field as it was.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"
#include "ctl/ctl.h"
#include "auth/auth-private.h"
#include "../../plugins/auth-passwd-file/passwd-file.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* Dovecot's default (doveadm pw -s SCRAM-SHA-256), and the count the core
 * shows for unknown users: one count for everyone tells no one apart. */
#define CTL_SCRAM_ITERATIONS 4096

typedef struct {
  char *path;
  GPtrArray *lines;           /* char*, without terminators */
  gboolean crlf;              /* the file used CR LF */
  gboolean final_newline;
  gboolean exists;
  struct stat st;
} UsersFile;

static void
users_file_free (UsersFile *file)
{
  g_free (file->path);
  g_ptr_array_unref (file->lines);
  g_free (file);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsersFile, users_file_free)

static UsersFile *
users_file_read (const char *path, gboolean may_be_missing, GError **error)
{
  g_autoptr(UsersFile) file = g_new0 (UsersFile, 1);
  g_autofree char *text = NULL;
  gsize length;
  g_auto(GStrv) lines = NULL;
  guint n;

  file->path = g_strdup (path);
  file->lines = g_ptr_array_new_with_free_func (g_free);
  file->final_newline = TRUE;
  if (stat (path, &file->st) != 0)
    {
      int saved_errno = errno;
      if (saved_errno == ENOENT && may_be_missing)
        return g_steal_pointer (&file);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "%s: %s", path, g_strerror (saved_errno));
      return NULL;
    }
  file->exists = TRUE;
  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  if (strlen (text) != length)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: contains NUL bytes", path);
      return NULL;
    }
  lines = g_strsplit (text, "\n", -1);
  n = g_strv_length (lines);
  /* "a\nb\n" splits into a, b, "": the last piece is the final newline */
  file->final_newline = length == 0 || (n > 0 && lines[n - 1][0] == '\0');
  if (n > 0 && lines[n - 1][0] == '\0')
    n--;
  for (guint i = 0; i < n; i++)
    {
      gsize len = strlen (lines[i]);
      if (len > 0 && lines[i][len - 1] == '\r')
        {
          lines[i][len - 1] = '\0';
          file->crlf = TRUE;
        }
      g_ptr_array_add (file->lines, g_strdup (lines[i]));
    }
  return g_steal_pointer (&file);
}

static gint
users_file_find (UsersFile *file, const char *user)
{
  for (guint i = 0; i < file->lines->len; i++)
    {
      g_autofree char *name = pf_line_get_user (g_ptr_array_index (file->lines, i));
      if (name != NULL && strcmp (name, user) == 0)
        return (gint) i;
    }
  return -1;
}

static gboolean
write_all (int fd, const char *data, gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (fd, data, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      length -= (gsize) n;
    }
  return TRUE;
}

/* Writes a temporary file beside the target, fsyncs it, renames it over
 * the target and fsyncs the directory: readers see the old or the new
 * file, never a mix, and a crash leaves one of them. */
static gboolean
users_file_write (UsersFile *file, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *dir = g_path_get_dirname (file->path);
  g_autofree char *base = g_path_get_basename (file->path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  const char *eol = file->crlf ? "\r\n" : "\n";
  int fd, dir_fd;

  for (guint i = 0; i < file->lines->len; i++)
    {
      g_string_append (text, g_ptr_array_index (file->lines, i));
      if (i + 1 < file->lines->len || file->final_newline)
        g_string_append (text, eol);
    }

  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, file->exists ? (file->st.st_mode & 07777) : 0640);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot create a file in %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }
  /* the old file's mode and owner (owner only when we may: root) */
  if (fchmod (fd, file->exists ? (file->st.st_mode & 07777) : 0640) != 0)
    g_debug ("fchmod %s: %s", tmp, g_strerror (errno));
  if (file->exists && fchown (fd, file->st.st_uid, file->st.st_gid) != 0)
    g_debug ("fchown %s: %s", tmp, g_strerror (errno));
  if (!write_all (fd, text->str, text->len) || fsync (fd) != 0)
    {
      int saved_errno = errno;
      close (fd);
      unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot write %s: %s", tmp, g_strerror (saved_errno));
      return FALSE;
    }
  if (close (fd) != 0 || rename (tmp, file->path) != 0)
    {
      int saved_errno = errno;
      unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot replace %s: %s", file->path, g_strerror (saved_errno));
      return FALSE;
    }
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }
  return TRUE;
}

/* ---- passwords ---- */

static char *
read_line_from (FILE *in)
{
  g_autoptr(GString) line = g_string_new (NULL);
  int c;

  while ((c = fgetc (in)) != EOF && c != '\n')
    g_string_append_c (line, (char) c);
  if (c == EOF && line->len == 0)
    return NULL;
  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static char *
read_password_tty (const char *prompt)
{
  struct termios saved, quiet;
  char *password;
  gboolean tty = tcgetattr (STDIN_FILENO, &saved) == 0;

  /* echo off first (dropping typeahead), then the prompt: what is typed
   * after the prompt is never shown */
  if (tty)
    {
      quiet = saved;
      quiet.c_lflag &= ~(tcflag_t) ECHO;
      quiet.c_lflag |= ECHONL;
      tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
    }
  fputs (prompt, stderr);
  fflush (stderr);
  password = read_line_from (stdin);
  if (tty)
    tcsetattr (STDIN_FILENO, TCSANOW, &saved);
  return password;
}

static void
password_free (char *password)
{
  if (password != NULL)
    explicit_bzero (password, strlen (password));
  g_free (password);
}

static char *
read_new_password (gboolean from_stdin, GError **error)
{
  char *password;
  char *again;

  if (from_stdin)
    password = read_line_from (stdin);
  else
    {
      if (!isatty (STDIN_FILENO))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "stdin is not a terminal; use --stdin to read the password from it");
          return NULL;
        }
      password = read_password_tty ("New password: ");
      again = read_password_tty ("Retype new password: ");
      if (password != NULL && (again == NULL || strcmp (password, again) != 0))
        {
          password_free (again);
          password_free (password);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "the passwords do not match");
          return NULL;
        }
      password_free (again);
    }
  if (password == NULL || *password == '\0')
    {
      password_free (password);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty password");
      return NULL;
    }
  return password;
}

/* "{SCHEME}hash" for the password field. */
static char *
hash_password (const char *scheme, const char *password, GError **error)
{
  static const struct {
    const char *scheme;
    const char *prefix;
  } crypt_schemes[] = {
    { "CRYPT", "$y$" },
    { "SHA512-CRYPT", "$6$" },
    { "SHA256-CRYPT", "$5$" },
    { "BLF-CRYPT", "$2y$" },
  };
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  struct crypt_data *data;
  char *field = NULL;

  if (g_ascii_strcasecmp (scheme, "PLAIN") == 0)
    {
      if (strpbrk (password, ":\r\n") != NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "a {PLAIN} password cannot contain ':' or line breaks");
          return NULL;
        }
      return g_strconcat ("{PLAIN}", password, NULL);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (crypt_schemes); i++)
    {
      if (g_ascii_strcasecmp (scheme, crypt_schemes[i].scheme) != 0)
        continue;
      if (crypt_gensalt_rn (crypt_schemes[i].prefix, 0, NULL, 0, setting, sizeof setting) == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot make a %s salt: %s",
                       crypt_schemes[i].scheme, g_strerror (errno));
          return NULL;
        }
      data = g_new0 (struct crypt_data, 1);
      if (crypt_rn (password, setting, data, sizeof *data) != NULL && data->output[0] != '*')
        field = g_strdup_printf ("{%s}%s", crypt_schemes[i].scheme, data->output);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot hash with %s: %s",
                     crypt_schemes[i].scheme, g_strerror (errno));
      explicit_bzero (data, sizeof *data);
      g_free (data);
      return field;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "unknown scheme '%s' (SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, CRYPT, PLAIN)",
               scheme);
  return NULL;
}

/* ---- the command ---- */

static char *
users_path_from_config (const char *config_file, GError **error)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;

  if (!g_key_file_load_from_file (keyfile, config_file, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", config_file);
      return NULL;
    }
  path = g_key_file_get_string (keyfile, "auth-passwd-file", "path", NULL);
  if (path == NULL)
    {
      /* the plugin's default: users beside the installed config */
      g_autofree char *etc = g_path_get_dirname (ph_daemon_default_config_file ());
      return g_build_filename (etc, "users", NULL);
    }
  g_strstrip (path);
  if (g_path_is_absolute (path))
    return g_steal_pointer (&path);
  dir = g_path_get_dirname (config_file);
  return g_build_filename (dir, path, NULL);
}

static gboolean
user_name_valid (const char *user)
{
  if (*user == '\0' || *user == '#' || !pf_user_name_check (user, NULL))
    return FALSE;
  for (const char *p = user; *p != '\0'; p++)
    if (*p == ':' || g_ascii_isspace (*p) || g_ascii_iscntrl (*p))
      return FALSE;
  return TRUE;
}

static char *
scheme_of_line (const char *line)
{
  g_autoptr(PfEntry) entry = pf_entry_parse_line (line, 0, NULL);
  const char *field;
  const char *name;

  if (entry == NULL)
    return g_strdup ("(malformed)");
  field = strchr (line, ':') + 1;
  switch (entry->scheme)
    {
    case PF_SCHEME_NONE:
      name = "(no password)";
      break;
    case PF_SCHEME_PLAIN:
      name = "PLAIN";
      break;
    case PF_SCHEME_SCRAM_SHA256:
      name = "SCRAM-SHA-256";
      break;
    case PF_SCHEME_CRYPT:
    default:
      if (*field == '{')
        return g_strdup_printf ("%.*s%s", (int) (strchr (field, '}') - field - 1), field + 1,
                                entry->scram != NULL ? " +SCRAM-SHA-256" : "");
      name = "CRYPT";
      break;
    }
  return g_strdup_printf ("%s%s", name,
                          entry->scram != NULL && entry->scheme != PF_SCHEME_SCRAM_SHA256
                            ? " +SCRAM-SHA-256" : "");
}

int
ctl_user_main (int argc, char **argv)
{
  g_autofree char *config_file = NULL;
  g_autofree char *users_path = NULL;
  g_autofree char *scheme = NULL;
  gboolean from_stdin = FALSE;
  gboolean scram = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
      "Take the users file from this config's [auth-passwd-file] path "
      "(default: the installed posthorn.conf)", "FILE" },
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &users_path, "Edit this users file", "FILE" },
    { "scheme", 's', 0, G_OPTION_ARG_STRING, &scheme,
      "Hash new passwords with SCHEME: CRYPT (yescrypt, the default), SHA512-CRYPT, "
      "SHA256-CRYPT, BLF-CRYPT or PLAIN", "SCHEME" },
    { "scram", 0, 0, G_OPTION_ARG_NONE, &scram,
      "Also store a SCRAM-SHA-256 secret (extra field " PF_SCRAM_EXTRA_FIELD ")", NULL },
    { "stdin", 0, 0, G_OPTION_ARG_NONE, &from_stdin,
      "Read the password from the first line of stdin", NULL },
    { NULL },
  };
  g_autoptr(GOptionContext) context =
    g_option_context_new ("add|passwd|del|list [USER] - manage passwd-file users");
  g_autoptr(GError) error = NULL;
  g_autoptr(UsersFile) file = NULL;
  g_autofree char *user = NULL;
  const char *action;
  gint index = -1;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Users log in with their full address; names are stored lowercased.\n"
    "The file is rewritten atomically; other lines and fields are kept.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "posthornctl user: %s\n", error->message);
      return 2;
    }
  if (argc < 2)
    {
      fprintf (stderr, "posthornctl user: missing action (add, passwd, del, list)\n");
      return 2;
    }
  action = argv[1];
  if (strcmp (action, "list") == 0 ? argc != 2
      : (strcmp (action, "add") != 0 && strcmp (action, "passwd") != 0
         && strcmp (action, "del") != 0) || argc != 3)
    {
      fprintf (stderr, "posthornctl user: usage: add|passwd|del USER, or list\n");
      return 2;
    }
  if (argc == 3)
    {
      if (!user_name_valid (argv[2]))
        {
          fprintf (stderr, "posthornctl user: '%s' is not a valid user name\n", argv[2]);
          return 2;
        }
      user = g_ascii_strdown (argv[2], -1);
    }

  if (users_path == NULL)
    {
      users_path = users_path_from_config (config_file != NULL ? config_file : ph_daemon_default_config_file (),
                                           &error);
      if (users_path == NULL)
        {
          fprintf (stderr, "posthornctl user: %s\n", error->message);
          return 1;
        }
    }

  file = users_file_read (users_path, strcmp (action, "add") == 0, &error);
  if (file == NULL)
    {
      fprintf (stderr, "posthornctl user: %s\n", error->message);
      return 1;
    }
  if (user != NULL)
    index = users_file_find (file, user);

  if (strcmp (action, "list") == 0)
    {
      for (guint i = 0; i < file->lines->len; i++)
        {
          const char *line = g_ptr_array_index (file->lines, i);
          g_autofree char *name = pf_line_get_user (line);
          g_autofree char *kind = NULL;
          if (name == NULL)
            continue;
          kind = scheme_of_line (line);
          printf ("%s\t%s\n", name, kind);
        }
      return 0;
    }

  if (strcmp (action, "del") == 0)
    {
      if (index < 0)
        {
          fprintf (stderr, "posthornctl user: %s: no such user in %s\n", user, users_path);
          return 1;
        }
      g_ptr_array_remove_index (file->lines, (guint) index);
    }
  else
    {
      char *password;
      g_autofree char *field = NULL;
      g_autofree char *secret = NULL;

      if (strcmp (action, "add") == 0 && index >= 0)
        {
          fprintf (stderr, "posthornctl user: %s already exists in %s\n", user, users_path);
          return 1;
        }
      if (strcmp (action, "passwd") == 0 && index < 0)
        {
          fprintf (stderr, "posthornctl user: %s: no such user in %s\n", user, users_path);
          return 1;
        }
      password = read_new_password (from_stdin, &error);
      if (password == NULL)
        {
          fprintf (stderr, "posthornctl user: %s\n", error->message);
          return 1;
        }
      field = hash_password (scheme != NULL ? scheme : "CRYPT", password, &error);
      if (field != NULL && scram)
        secret = ph_auth_scram_sha256_secret_new (password, CTL_SCRAM_ITERATIONS, &error);
      password_free (password);
      if (field == NULL || (scram && secret == NULL))
        {
          fprintf (stderr, "posthornctl user: %s\n", error->message);
          return 1;
        }
      if (index >= 0)
        {
          char *line = pf_line_set_password (g_ptr_array_index (file->lines, (guint) index),
                                             field, secret);
          g_free (g_ptr_array_index (file->lines, (guint) index));
          g_ptr_array_index (file->lines, (guint) index) = line;
        }
      else
        {
          g_autofree char *bare = g_strconcat (user, ":", NULL);
          g_ptr_array_add (file->lines, pf_line_set_password (bare, field, secret));
        }
    }

  if (!users_file_write (file, &error))
    {
      fprintf (stderr, "posthornctl user: %s\n", error->message);
      return 1;
    }
  return 0;
}
