/* Mailbox and user names can never leave the store's root: "..", "/",
 * NUL and their encoded forms (modified UTF-7 "&AC4ALgAv-" is "../"),
 * through the store API and through IMAP CREATE / SELECT / RENAME /
 * APPEND, and user names with '/' or ".." through LOGIN and SMTP RCPT. The
 * server's folder (outside the state dir) and the state dir's top level are
 * compared before and after: nothing new may appear outside the store.
 *
 * Run with --store NAME for another storage plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "ph-test.h"
#include "store-test-util.h"

/* ---- the store API ---- */

static void
test_store_api_names (void)
{
  static const char *const bad[] = {
    "..", ".", "../x", "a/../b", "a/..", "./a", "a/./b", "/x", "/etc/passwd", "a//b", "a/",
    "x\001y", "x\ny", "x\x7fy", "x\xc2\x80y", "a/%", "*", "\xff\xfe", "",
  };
  static const char *const good[][2] = {
    { "a..b", "a..b" }, { "...", "..." }, { "inbox/x", "INBOX/x" }, { ".hidden", ".hidden" },
    { "a\\b", "a\\b" }, { "Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe" },
  };
  g_autofree char *long_name = g_strnfill (1025, 'x');

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *normal = posthorn_store_normalize_mailbox_name (bad[i], &error);

      if (normal != NULL)
        g_error ("'%s' was accepted as '%s'", g_strescape (bad[i], NULL), normal);
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
  g_assert_null (posthorn_store_normalize_mailbox_name (long_name, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *normal = posthorn_store_normalize_mailbox_name (good[i][0], NULL);

      g_assert_cmpstr (normal, ==, good[i][1]);
    }
}

/* ---- through the daemon ---- */

typedef struct {
  PhTestServer *server;
  GHashTable *outside_before;   /* paths outside the state dir */
} Fixture;

static void
list_tree (const char *root, const char *skip, const char *prefix, GHashTable *out)
{
  g_autoptr(GDir) dir = g_dir_open (root, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (root, name, NULL);
      g_autofree char *rel = g_build_filename (prefix, name, NULL);

      if (skip != NULL && strcmp (path, skip) == 0)
        continue;
      if (g_str_has_prefix (name, "posthornd.log"))
        continue;
      g_hash_table_add (out, g_strdup (rel));
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        list_tree (path, skip, rel, out);
    }
}

/* Every path outside the state dir: the server's folder and its parent. */
static GHashTable *
outside_paths (Fixture *f)
{
  GHashTable *paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *parent = g_path_get_dirname (ph_test_server_get_dir (f->server));
  g_autoptr(GDir) dir = g_dir_open (parent, 0, NULL);
  const char *name;

  list_tree (ph_test_server_get_dir (f->server), ph_test_server_get_state_dir (f->server), "server", paths);
  /* the parent (e.g. /tmp) is shared with other tests: only names an
   * escape here would make */
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (strcmp (name, "x") == 0 || strcmp (name, "b") == 0 || strcmp (name, "etc") == 0
        || strcmp (name, "evil") == 0 || strcmp (name, "escaped") == 0)
      g_hash_table_add (paths, g_strdup_printf ("parent/%s", name));
  return paths;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const char *store = store_test_plugin_name ();
  g_autofree char *plugins = g_strdup_printf ("auth-passwd-file;%s;smtp;imap4", store);
  g_autofree char *users = NULL;
  g_autofree char *config = NULL;

  f->server = ph_test_server_create (plugins);
  users = g_build_filename (ph_test_server_get_dir (f->server), "users", NULL);
  g_assert_true (g_file_set_contents (users,
                                      "alice@example.org:{PLAIN}pw\n"
                                      "../evil@example.org:{PLAIN}pw\n"
                                      "a/b@example.org:{PLAIN}pw\n"
                                      "..@example.org:{PLAIN}pw\n"
                                      "x@..:{PLAIN}pw\n"
                                      "..:{PLAIN}pw\n"
                                      "/etc@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[auth]\nfailure_delay=10ms\nfailure_delay_max=20ms\nmax_failures=100\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org\nlisten=127.0.0.1:0\n"
                            "[imap4]\nlisten=127.0.0.1:0\n", users);
  ph_test_server_append_config (f->server, config);
  ph_test_server_set_tls (f->server, FALSE);
  ph_test_server_start_or_die (f->server);
  f->outside_before = outside_paths (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->outside_before, g_hash_table_unref);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
assert_nothing_outside (Fixture *f)
{
  g_autoptr(GHashTable) after = outside_paths (f);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (f->outside_before, key))
      g_error ("'%s' appeared outside the state dir", (char *) key);
}

static char *
imap_command (PhTestClient *client, const char *tag, const char *command)
{
  g_assert_true (ph_test_client_sendf (client, "%s %s\r\n", tag, command));
  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, tag) && line[strlen (tag)] == ' ')
        return line;
      g_free (line);
    }
}

static gboolean
imap_ok (const char *reply)
{
  const char *sp = strchr (reply, ' ');

  return sp != NULL && g_str_has_prefix (sp, " OK");
}

static PhTestClient *
imap_login (Fixture *f, const char *user)
{
  PhTestClient *client = ph_test_client_connect (f->server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_read_line (client);
  g_autofree char *command = g_strdup_printf ("LOGIN \"%s\" pw", user);
  g_autofree char *reply = imap_command (client, "l", command);

  if (!imap_ok (reply))
    {
      ph_test_client_free (client);
      return NULL;
    }
  return client;
}

static void
test_imap_mailbox_names (Fixture *f, gconstpointer data)
{
  static const char *const names[] = {
    "\"../x\"", "\"a/../b\"", "\"..\"", "\"/x\"", "\"/etc/escaped\"", "\"a//b\"",
    "\"&AC4ALgAv-x\"",            /* "../x" */
    "\"&AC4ALgAv-&AC4ALgAv-etc\"",/* "../../etc" */
    "\"&AC8-etc\"",               /* "/etc" */
    "\"a&AC8ALgAuAC8-b\"",        /* "a/../b" */
    "\"&AC4ALg-\"",               /* ".." */
    "\"&AAA-x\"",                 /* NUL x */
    "\"x&AAo-y\"",                /* x LF y */
    "{4}\r\n../x",                /* a literal */
  };
  g_autoptr(PhTestClient) client = imap_login (f, "alice@example.org");
  guint tag = 0;

  g_assert_nonnull (client);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      static const char *const verbs[] = { "CREATE", "SELECT", "DELETE", "SUBSCRIBE", "STATUS" };

      for (guint v = 0; v < G_N_ELEMENTS (verbs); v++)
        {
          g_autofree char *t = g_strdup_printf ("t%u", tag++);
          g_autofree char *command = g_strdup_printf ("%s %s%s", verbs[v], names[i],
                                                      v == 4 ? " (MESSAGES)" : "");
          g_autofree char *reply = NULL;

          /* literals: send in one piece, and the '+' continuation is skipped */
          reply = imap_command (client, t, command);
          if (imap_ok (reply))
            g_error ("%s %s was accepted: %s", verbs[v], g_strescape (names[i], NULL), reply);
        }
      {
        g_autofree char *t = g_strdup_printf ("t%u", tag++);
        g_autofree char *command = g_strdup_printf ("RENAME INBOX %s", names[i]);
        g_autofree char *reply = imap_command (client, t, command);

        g_assert_false (imap_ok (reply));
      }
      {
        g_autofree char *t = g_strdup_printf ("t%u", tag++);
        g_autofree char *command = g_strdup_printf ("APPEND %s {3+}\r\nx\r\n", names[i]);
        g_autofree char *reply = imap_command (client, t, command);

        g_assert_false (imap_ok (reply));
      }
    }
  /* a NUL in a literal8 name */
  {
    static const char create_nul[] = "n1 CREATE ~{5}\r\n..\0/x\r\n";
    g_autofree char *reply = NULL;

    g_assert_true (ph_test_client_send (client, create_nul, sizeof create_nul - 1));
    while ((reply = ph_test_client_read_line (client)) != NULL && !g_str_has_prefix (reply, "n1 "))
      g_clear_pointer (&reply, g_free);
    g_assert_nonnull (reply);
    g_assert_false (imap_ok (reply));
  }
  /* the session still works */
  {
    g_autofree char *reply = imap_command (client, "ok1", "CREATE \"a..b/c\"");

    g_assert_true (imap_ok (reply));
  }
  g_assert_true (ph_test_server_is_running (f->server));
  assert_nothing_outside (f);
}

static void
test_user_names (Fixture *f, gconstpointer data)
{
  static const char *const users[] = {
    "../evil@example.org", "a/b@example.org", "..@example.org", "x@..", "..", "/etc@example.org",
  };

  for (guint i = 0; i < G_N_ELEMENTS (users); i++)
    {
      g_autoptr(PhTestClient) client = imap_login (f, users[i]);

      if (client == NULL)
        {
          g_test_message ("LOGIN %s: refused", users[i]);
          continue;
        }
      /* logged in: the store must refuse to open it or keep it inside */
      {
        g_autofree char *r1 = imap_command (client, "c", "CREATE escaped");
        g_autofree char *r2 = imap_command (client, "a", "APPEND INBOX {3+}\r\nx\r\n");
        g_autofree char *r3 = imap_command (client, "s", "SELECT INBOX");

        g_test_message ("LOGIN %s: accepted; %s / %s / %s", users[i], r1, r2, r3);
      }
    }
  /* SMTP: RCPT for such names is refused or stays inside */
  {
    g_autoptr(PhTestClient) client = ph_test_client_connect (f->server, "smtp", FALSE);
    g_autofree char *line = NULL;

    while ((line = ph_test_client_read_line (client)) != NULL && line[3] == '-')
      g_clear_pointer (&line, g_free);
    g_clear_pointer (&line, g_free);
    ph_test_client_send (client, "EHLO t.example\r\n", -1);
    while ((line = ph_test_client_read_line (client)) != NULL && line[3] == '-')
      g_clear_pointer (&line, g_free);
    g_clear_pointer (&line, g_free);
    for (guint i = 0; i < G_N_ELEMENTS (users); i++)
      {
        ph_test_client_send (client, "MAIL FROM:<x@remote.example>\r\n", -1);
        g_free (ph_test_client_read_line (client));
        ph_test_client_sendf (client, "RCPT TO:<%s>\r\n", users[i]);
        line = ph_test_client_read_line (client);
        g_assert_nonnull (line);
        g_test_message ("RCPT %s: %s", users[i], line);
        if (g_str_has_prefix (line, "250"))
          {
            ph_test_client_send (client, "DATA\r\n", -1);
            g_free (ph_test_client_read_line (client));
            ph_test_client_send (client, "Subject: x\r\n\r\nx\r\n.\r\n", -1);
            g_clear_pointer (&line, g_free);
            line = ph_test_client_read_line (client);
            g_test_message ("DATA for %s: %s", users[i], line);
          }
        else
          {
            ph_test_client_send (client, "RSET\r\n", -1);
            g_free (ph_test_client_read_line (client));
          }
        g_clear_pointer (&line, g_free);
      }
  }
  g_assert_true (ph_test_server_is_running (f->server));
  assert_nothing_outside (f);
  {
    /* a regular user still works */
    g_autoptr(PhTestClient) client = imap_login (f, "alice@example.org");

    g_assert_nonnull (client);
  }
}

int
main (int argc, char **argv)
{
  store_test_parse_args (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/reliability/escape/store-api-names", test_store_api_names);
  g_test_add ("/reliability/escape/imap-mailbox-names", Fixture, NULL,
              fixture_set_up, test_imap_mailbox_names, fixture_tear_down);
  g_test_add ("/reliability/escape/user-names", Fixture, NULL,
              fixture_set_up, test_user_names, fixture_tear_down);
  return g_test_run ();
}
