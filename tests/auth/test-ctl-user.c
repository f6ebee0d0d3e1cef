/* posthornctl user add|passwd|del|list round trips on a users file: the
 * written hashes verify with the plugin's format module, every other line,
 * comment and extra field stays byte for byte.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "passwd-file.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pty.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char initial[] =
  "# Users of example.org\n"
  "\n"
  "bob@example.org:{PLAIN}pw-bob:1000:1000::/home/bob::userdb_quota_rule=*:storage=1G\n"
  "# disabled: eve@example.org:{PLAIN}x\n"
  "dave@example.org:{PLAIN}pw-dave::::::k=v posthorn_scram_sha256=4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= z=1\n";

typedef struct {
  char *dir;
  char *users;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("posthorn-ctl-XXXXXX", &error);
  g_assert_no_error (error);
  f->users = g_build_filename (f->dir, "users", NULL);
  g_file_set_contents (f->users, initial, -1, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->users);
}

/* Runs posthornctl with @args (NULL-terminated) and @input on stdin;
 * returns its exit status, stdout in @out. */
static int
ctl (const char *input, char **out, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) g_getenv ("POSTHORNCTL"));
  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                               | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  if (!g_subprocess_communicate_utf8 (process, input != NULL ? input : "", NULL, &stdout_text,
                                      &stderr_text, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
    {
      /* It refused before reading its stdin: only the exit status counts. */
      g_clear_error (&error);
      g_subprocess_wait (process, NULL, &error);
    }
  g_assert_no_error (error);
  if (stderr_text != NULL && *stderr_text != '\0')
    g_test_message ("posthornctl: %s", stderr_text);
  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  return g_subprocess_get_exit_status (process);
}

static PfTable *
read_users (Fixture *f, char **text_out)
{
  g_autofree char *text = NULL;
  gsize length;
  g_autoptr(GPtrArray) problems = NULL;
  PfTable *table;

  g_assert_true (g_file_get_contents (f->users, &text, &length, NULL));
  table = pf_table_parse (text, length, &problems);
  g_assert_null (problems);
  if (text_out != NULL)
    *text_out = g_steal_pointer (&text);
  return table;
}

static const char *
line_of (const char *text, const char *user, char **buffer)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], user) && lines[i][strlen (user)] == ':')
      return *buffer = g_strdup (lines[i]);
  return NULL;
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autofree char *text = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *line = NULL;
  g_autoptr(PfTable) table = NULL;
  const PfEntry *entry;

  /* add with the default scheme: {CRYPT} yescrypt */
  g_assert_cmpint (ctl ("s3cret one\n", NULL, "user", "add", "Alice@Example.org",
                        "--file", f->users, "--stdin", NULL), ==, 0);
  table = read_users (f, &text);
  entry = pf_table_lookup (table, "alice@example.org");
  g_assert_nonnull (entry);
  g_assert_null (entry->scram);
  g_assert_true (g_str_has_prefix (entry->secret, "$y$"));
  g_assert_nonnull (line_of (text, "alice@example.org", &line));
  g_assert_true (g_str_has_prefix (line, "alice@example.org:{CRYPT}$y$"));
  g_assert_true (pf_entry_verify (entry, "s3cret one"));
  g_assert_false (pf_entry_verify (entry, "s3cret two"));
  /* everything that was there is still there, unchanged, in order */
  g_assert_true (g_str_has_prefix (text, initial));
  g_clear_pointer (&table, pf_table_unref);
  g_clear_pointer (&text, g_free);

  /* list */
  g_assert_cmpint (ctl (NULL, &listing, "user", "list", "--file", f->users, NULL), ==, 0);
  g_assert_cmpstr (listing, ==,
                   "bob@example.org\tPLAIN\n"
                   "dave@example.org\tPLAIN +SCRAM-SHA-256\n"
                   "alice@example.org\tCRYPT\n");

  /* passwd with another scheme and a SCRAM secret */
  g_assert_cmpint (ctl ("s3cret two\n", NULL, "user", "passwd", "alice@example.org",
                        "--file", f->users, "--stdin", "--scheme", "SHA512-CRYPT", "--scram",
                        NULL), ==, 0);
  table = read_users (f, &text);
  entry = pf_table_lookup (table, "alice@example.org");
  g_assert_true (g_str_has_prefix (entry->secret, "$6$"));
  g_assert_true (pf_entry_verify (entry, "s3cret two"));
  g_assert_false (pf_entry_verify (entry, "s3cret one"));
  g_assert_nonnull (entry->scram);
  g_assert_cmpuint (entry->scram->iterations, >=, PF_SCRAM_MIN_ITERATIONS);
  {
    guint8 stored[32], server[32];
    gsize salt_size;
    const guint8 *salt = g_bytes_get_data (entry->scram->salt, &salt_size);

    pf_scram_sha256_keys ("s3cret two", salt, salt_size, entry->scram->iterations, stored, server);
    g_assert_cmpmem (stored, 32, entry->scram->stored_key, 32);
    g_assert_cmpmem (server, 32, entry->scram->server_key, 32);
  }
  g_assert_true (g_str_has_prefix (text, initial));
  g_clear_pointer (&table, pf_table_unref);
  g_clear_pointer (&text, g_free);

  /* passwd on a line with uid/gid/home and extra fields: all kept */
  g_assert_cmpint (ctl ("pw-bob-2\n", NULL, "user", "passwd", "BOB@example.org",
                        "--file", f->users, "--stdin", "--scheme", "PLAIN", NULL), ==, 0);
  table = read_users (f, &text);
  g_clear_pointer (&line, g_free);
  g_assert_nonnull (line_of (text, "bob@example.org", &line));
  g_assert_cmpstr (line, ==,
                   "bob@example.org:{PLAIN}pw-bob-2:1000:1000::/home/bob::"
                   "userdb_quota_rule=*:storage=1G");
  /* dave's SCRAM secret is dropped when his password changes without
   * --scram (it would still accept the old password), other fields stay */
  g_assert_cmpint (ctl ("pw-dave-2\n", NULL, "user", "passwd", "dave@example.org",
                        "--file", f->users, "--stdin", "--scheme", "PLAIN", NULL), ==, 0);
  g_clear_pointer (&table, pf_table_unref);
  g_clear_pointer (&text, g_free);
  table = read_users (f, &text);
  g_clear_pointer (&line, g_free);
  g_assert_nonnull (line_of (text, "dave@example.org", &line));
  g_assert_cmpstr (line, ==, "dave@example.org:{PLAIN}pw-dave-2::::::k=v z=1");
  g_assert_true (strstr (text, "# disabled: eve@example.org:{PLAIN}x\n") != NULL);
  g_clear_pointer (&table, pf_table_unref);
  g_clear_pointer (&text, g_free);

  /* del */
  g_assert_cmpint (ctl (NULL, NULL, "user", "del", "alice@example.org", "--file", f->users,
                        NULL), ==, 0);
  table = read_users (f, &text);
  g_assert_null (pf_table_lookup (table, "alice@example.org"));
  g_assert_cmpuint (pf_table_size (table), ==, 2);
  g_assert_true (g_str_has_prefix (text, "# Users of example.org\n\nbob@example.org:"));
}

static void
test_schemes (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *scheme;
    const char *prefix;
  } cases[] = {
    { "CRYPT", "{CRYPT}$y$" },
    { "SHA512-CRYPT", "{SHA512-CRYPT}$6$" },
    { "SHA256-CRYPT", "{SHA256-CRYPT}$5$" },
    { "BLF-CRYPT", "{BLF-CRYPT}$2y$" },
    { "plain", "{PLAIN}pw-" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *user = g_strdup_printf ("u%zu@example.org", i);
      g_autofree char *password = g_strdup_printf ("pw-%zu", i);
      g_autofree char *input = g_strconcat (password, "\n", NULL);
      g_autofree char *text = NULL;
      g_autofree char *line = NULL;
      g_autoptr(PfTable) table = NULL;

      g_assert_cmpint (ctl (input, NULL, "user", "add", user, "--file", f->users, "--stdin",
                            "--scheme", cases[i].scheme, NULL), ==, 0);
      table = read_users (f, &text);
      g_assert_nonnull (line_of (text, user, &line));
      g_assert_true (g_str_has_prefix (line + strlen (user) + 1, cases[i].prefix));
      g_assert_true (pf_entry_verify (pf_table_lookup (table, user), password));
    }
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);

  g_assert_true (g_file_get_contents (f->users, &before, NULL, NULL));
  /* exists already / no such user */
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "bob@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 1);
  g_assert_cmpint (ctl ("x\n", NULL, "user", "passwd", "nobody@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 1);
  g_assert_cmpint (ctl (NULL, NULL, "user", "del", "nobody@example.org", "--file", f->users,
                        NULL), ==, 1);
  /* bad input */
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "new@example.org", "--file", f->users,
                        "--stdin", "--scheme", "MD4", NULL), ==, 1);
  g_assert_cmpint (ctl ("\n", NULL, "user", "add", "new@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 1);
  g_assert_cmpint (ctl ("a:b\n", NULL, "user", "add", "new@example.org", "--file", f->users,
                        "--stdin", "--scheme", "PLAIN", NULL), ==, 1);
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "new:user@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 2);
  /* names the daemon would refuse (they could name another folder) */
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "../evil@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 2);
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "a/b@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 2);
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "a\\b@example.org", "--file", f->users,
                        "--stdin", NULL), ==, 2);
  /* without --stdin the password must come from a terminal */
  g_assert_cmpint (ctl ("x\n", NULL, "user", "add", "new@example.org", "--file", f->users, NULL),
                   ==, 1);
  g_assert_cmpint (ctl (NULL, NULL, "user", "frobnicate", "x", "--file", f->users, NULL), ==, 2);
  g_assert_cmpint (ctl (NULL, NULL, "user", "list", "--file", missing, NULL), ==, 1);
  /* nothing was written */
  g_assert_true (g_file_get_contents (f->users, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
}

static void
test_config_and_mode (Fixture *f, gconstpointer data)
{
  g_autofree char *config = g_build_filename (f->dir, "posthorn.conf", NULL);
  g_autofree char *fresh = g_build_filename (f->dir, "fresh-users", NULL);
  g_autofree char *text = NULL;
  struct stat st;

  g_assert_true (g_file_set_contents (config, "[core]\nplugins=auth-passwd-file\n"
                                              "[auth-passwd-file]\npath=users\n", -1, NULL));
  g_assert_cmpint (g_chmod (f->users, 0600), ==, 0);
  g_assert_cmpint (ctl ("pw-carol\n", NULL, "user", "add", "carol@example.org", "-c", config,
                        "--stdin", NULL), ==, 0);
  g_assert_cmpint (g_stat (f->users, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_true (g_file_get_contents (f->users, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\ncarol@example.org:{CRYPT}$y$"));

  /* add creates a missing file (0640) */
  g_assert_cmpint (ctl ("pw-first\n", NULL, "user", "add", "first@example.org", "--file", fresh,
                        "--stdin", "--scheme", "PLAIN", NULL), ==, 0);
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (fresh, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "first@example.org:{PLAIN}pw-first\n");
  g_assert_cmpint (g_stat (fresh, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0640);
}

/* Reads from the pty until @expected has appeared (or 5 s passed); returns
 * everything read. */
static char *
pty_read_until (int fd, const char *expected, GString *seen)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (strstr (seen->str, expected) == NULL && g_get_monotonic_time () < deadline)
    {
      char buf[256];
      GPollFD pfd = { fd, G_IO_IN, 0 };
      ssize_t n;

      if (g_poll (&pfd, 1, 100) <= 0)
        continue;
      n = read (fd, buf, sizeof buf);
      if (n <= 0)
        break;
      g_string_append_len (seen, buf, n);
    }
  return strstr (seen->str, expected);
}

/* Waits for @prompt; if it never comes, the child is killed before the
 * test fails, so nothing is left hanging. */
static void
expect_prompt (int fd, pid_t pid, const char *prompt, GString *seen)
{
  if (pty_read_until (fd, prompt, seen) != NULL)
    return;
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  g_test_message ("terminal: %s", seen->str);
  g_assert_not_reached ();
}

/* Without --stdin the password comes from the terminal, asked twice,
 * never echoed. */
static void
test_terminal (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) seen = g_string_new (NULL);
  g_autoptr(PfTable) table = NULL;
  const char *ctl_path = g_getenv ("POSTHORNCTL");
  int fd = -1;
  int status = 0;
  pid_t pid = forkpty (&fd, NULL, NULL, NULL);

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      execl (ctl_path, ctl_path, "user", "add", "tty@example.org", "--file", f->users,
             "--scheme", "SHA256-CRYPT", (char *) NULL);
      _exit (127);
    }
  expect_prompt (fd, pid, "New password: ", seen);
  g_assert_cmpint (write (fd, "Hidden Words\n", 13), ==, 13);
  expect_prompt (fd, pid, "Retype new password: ", seen);
  g_assert_cmpint (write (fd, "Hidden Words\n", 13), ==, 13);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  pty_read_until (fd, "\n\n", seen);  /* drain */
  close (fd);
  g_test_message ("terminal: %s", seen->str);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_null (strstr (seen->str, "Hidden"));

  table = read_users (f, NULL);
  g_assert_true (pf_entry_verify (pf_table_lookup (table, "tty@example.org"), "Hidden Words"));
}

int
main (int argc, char **argv)
{
  /* posthornctl may exit before reading all of the stdin a case gives it
   * (on a refused command); the write must fail with EPIPE, which
   * GSubprocess ignores, not kill the test. */
  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("POSTHORNCTL") == NULL)
    g_error ("POSTHORNCTL is not set (run through meson test)");
  g_test_add ("/auth/ctl/user/round-trip", Fixture, NULL, fixture_set_up, test_round_trip,
              fixture_tear_down);
  g_test_add ("/auth/ctl/user/schemes", Fixture, NULL, fixture_set_up, test_schemes,
              fixture_tear_down);
  g_test_add ("/auth/ctl/user/errors-leave-file-alone", Fixture, NULL, fixture_set_up,
              test_errors, fixture_tear_down);
  g_test_add ("/auth/ctl/user/config-path-and-mode", Fixture, NULL, fixture_set_up,
              test_config_and_mode, fixture_tear_down);
  g_test_add ("/auth/ctl/user/terminal-without-echo", Fixture, NULL, fixture_set_up,
              test_terminal, fixture_tear_down);
  return g_test_run ();
}
