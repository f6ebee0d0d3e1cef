/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the imap4 integration tests: a daemon with the imap4
 * plugin, a users file, and an IMAP client on PhTestClient that reads
 * whole responses (literals included). */
#pragma once

#include <ph-test.h>
#include <string.h>

#define IMAP_TEST_USER "alice@example.org"
#define IMAP_TEST_PASS "secret"

/* Starts posthornd with auth-passwd-file, storage-sqlite and imap4 (or
 * @plugins for imap_test_server_new_with()),
 * users alice@example.org and bob@example.org ({PLAIN}secret) and
 * scram@example.org (SCRAM-SHA-256, pw-scram), IMAP on
 * 127.0.0.1:0 plain and implicit TLS, plus @extra keyfile text. */
static inline PhTestServer *
imap_test_server_new_with (const char *plugins, const char *extra)
{
  PhTestServer *server = ph_test_server_create (plugins);
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (users,
                                      "alice@example.org:{PLAIN}secret\n"
                                      "bob@example.org:{PLAIN}secret\n"
                                      /* password pw-scram, as tests/auth/data/users */
                                      "scram@example.org:{SCRAM-SHA-256}4096,bV6PMTJMERSg9pEpFmyrBg==,"
                                      "TlTZPAxCWrZSjfJOHhtcOHBXfwN+IUkPeiuRZKgRLBg=,"
                                      "eyqvmzOIAYJSIP3akgLDbTeKef5KyNVevX+xcmWrooI=\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[imap4]\nlisten=127.0.0.1:0\nlisten_tls=127.0.0.1:0\n%s",
                            users, extra != NULL ? extra : "");
  ph_test_server_append_config (server, config);
  ph_test_server_start_or_die (server);
  return server;
}

static inline PhTestServer *
imap_test_server_new (const char *extra)
{
  return imap_test_server_new_with ("auth-passwd-file;storage-sqlite;imap4", extra);
}

/* Reads one response line, appending the bytes of literals it announces
 * ("{n}" / "~{n}" at the end) and the rest of the line after them, to
 * @out. The line's own CRLFs are written as "\r\n" between parts.
 * Returns FALSE on timeout/EOF. */
static inline gboolean
imap_test_read_full_line (PhTestClient *client, GString *out)
{
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);
      gsize len;
      const char *brace;
      guint64 n;
      char *end = NULL;

      if (line == NULL)
        return FALSE;
      g_string_append (out, line);
      len = strlen (line);
      if (len < 3 || line[len - 1] != '}')
        return TRUE;
      brace = strrchr (line, '{');
      if (brace == NULL)
        return TRUE;
      n = g_ascii_strtoull (brace + 1, &end, 10);
      if (end == NULL || (*end != '}' && *end != '+'))
        return TRUE;
      g_string_append (out, "\r\n");
      if (n > 0)
        {
          g_autoptr(GBytes) data = ph_test_client_read_exact (client, n);
          if (data == NULL)
            return FALSE;
          g_string_append_len (out, g_bytes_get_data (data, NULL), (gssize) n);
        }
    }
}

/* Sends "TAG command\r\n" and reads everything up to the tagged reply.
 * Returns the untagged lines (each a full line as above, without CRLF)
 * and the tagged line as the last element. */
static inline GPtrArray *
imap_test_command (PhTestClient *client, const char *tag, const char *command)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *prefix = g_strdup_printf ("%s ", tag);

  g_assert_true (ph_test_client_sendf (client, "%s %s\r\n", tag, command));
  for (;;)
    {
      GString *line = g_string_new (NULL);
      if (!imap_test_read_full_line (client, line))
        {
          g_string_free (line, TRUE);
          g_error ("no tagged reply for %s %s", tag, command);
        }
      g_ptr_array_add (lines, g_string_free (line, FALSE));
      if (g_str_has_prefix (g_ptr_array_index (lines, lines->len - 1), prefix))
        return lines;
    }
}

/* The tagged line of a response. */
static inline const char *
imap_test_tagged (GPtrArray *lines)
{
  return g_ptr_array_index (lines, lines->len - 1);
}

/* Runs a command and asserts that the tagged reply starts with
 * "TAG @status"; returns the lines. */
static inline GPtrArray *
imap_test_ok (PhTestClient *client, const char *command)
{
  static guint counter;
  g_autofree char *tag = g_strdup_printf ("T%u", ++counter);
  g_autofree char *expect = g_strdup_printf ("%s OK", tag);
  GPtrArray *lines = imap_test_command (client, tag, command);

  if (!g_str_has_prefix (imap_test_tagged (lines), expect))
    g_error ("%s %s -> %s", tag, command, imap_test_tagged (lines));
  return lines;
}

/* Runs a command expecting a NO/BAD; returns the tagged line after the tag. */
static inline char *
imap_test_fail (PhTestClient *client, const char *command)
{
  static guint counter;
  g_autofree char *tag = g_strdup_printf ("F%u", ++counter);
  g_autoptr(GPtrArray) lines = imap_test_command (client, tag, command);
  const char *tagged = imap_test_tagged (lines);

  tagged += strlen (tag) + 1;
  if (g_str_has_prefix (tagged, "OK"))
    g_error ("%s %s unexpectedly succeeded: %s", tag, command, tagged);
  return g_strdup (tagged);
}

/* The first line of @lines that contains @needle, or NULL. */
static inline const char *
imap_test_find (GPtrArray *lines, const char *needle)
{
  for (guint k = 0; k < lines->len; k++)
    if (strstr (g_ptr_array_index (lines, k), needle) != NULL)
      return g_ptr_array_index (lines, k);
  return NULL;
}

/* Connects (plain), reads the greeting and logs in as @user. */
static inline PhTestClient *
imap_test_login (PhTestServer *server, const char *user)
{
  PhTestClient *client = ph_test_client_connect (server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autofree char *cmd = g_strdup_printf ("LOGIN %s %s", user, IMAP_TEST_PASS);
  g_autoptr(GPtrArray) lines = imap_test_ok (client, cmd);

  return client;
}

/* APPENDs @data to @mailbox with a LITERAL+ literal; returns the tagged line. */
static inline char *
imap_test_append (PhTestClient *client, const char *mailbox, const char *flags_and_date,
                  const char *data, gsize length)
{
  static guint counter;
  g_autofree char *tag = g_strdup_printf ("A%u", ++counter);
  g_autofree char *prefix = g_strdup_printf ("%s ", tag);

  g_assert_true (ph_test_client_sendf (client, "%s APPEND %s %s{%" G_GSIZE_FORMAT "+}\r\n", tag,
                                       mailbox, flags_and_date != NULL ? flags_and_date : "",
                                       length));
  g_assert_true (ph_test_client_send (client, data, (gssize) length));
  g_assert_true (ph_test_client_send (client, "\r\n", 2));
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);
      g_assert_nonnull (line);
      if (g_str_has_prefix (line, prefix))
        return g_strdup (line + strlen (prefix));
    }
}
