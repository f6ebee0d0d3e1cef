/* Real clients against the real daemon: swaks (AUTH PLAIN after STARTTLS
 * on submission; PIPELINING on the MX), msmtp (STARTTLS + AUTH), Python's
 * smtplib (starttls, login, several recipients) and curl (smtp:// with
 * --ssl-reqd). Each message must land in the recipients' INBOX byte for
 * byte as sent, after our Return-Path: and Received: fields. A client
 * that is not installed skips its case.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "smtp-test-util.h"

#include <string.h>
#include <sys/wait.h>

/* From and Date present (msmtp adds them when missing), a line that
 * needs dot-stuffing, a long line, UTF-8. */
static char *
interop_message (const char *subject)
{
  GString *msg = g_string_new (NULL);

  g_string_append_printf (msg, "From: Alice <alice@example.org>\r\n"
                               "To: Bob <bob@example.org>\r\n"
                               "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                               "Message-ID: <interop-%s@example.org>\r\n"
                               "Subject: %s\r\n"
                               "MIME-Version: 1.0\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Transfer-Encoding: 8bit\r\n"
                               "\r\n"
                               "Grüße aus dem Test.\r\n"
                               ".a line that starts with a dot\r\n"
                               "..and one with two\r\n", subject, subject);
  for (int i = 0; i < 90; i++)
    g_string_append (msg, "0123456789");
  g_string_append (msg, "\r\nlast line\r\n");
  return g_string_free (msg, FALSE);
}

static char *
write_message (PhTestServer *server, const char *text)
{
  char *path = g_build_filename (ph_test_server_get_dir (server), "message.eml", NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

/* swaks always sends CR LF "." CR LF after the data, so its file leaves
 * out the last line's CR LF. */
static char *
write_swaks_message (PhTestServer *server, const char *text)
{
  g_autofree char *trimmed = g_strndup (text, strlen (text) - 2);

  g_assert_true (g_str_has_suffix (text, "\r\n"));
  return write_message (server, trimmed);
}

static gboolean
have_program (const char *name)
{
  g_autofree char *path = g_find_program_in_path (name);

  if (path == NULL)
    {
      g_autofree char *why = g_strdup_printf ("%s is not installed", name);
      g_test_skip (why);
      return FALSE;
    }
  return TRUE;
}

/* Runs @argv (stdin from @input_path if not NULL); fails the test with
 * the client's output unless it exits 0. */
static void
run_client (const char *const *argv, const char *input_path, PhTestServer *server)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  if (input_path != NULL)
    g_subprocess_launcher_set_stdin_file_path (launcher, input_path);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0)
    g_error ("%s failed:\n%s\n--- daemon log ---\n%s", argv[0], out,
             ph_test_server_get_log (server));
}

/* The stored message without the leading Return-Path: and Received:
 * fields must equal @sent. */
static void
assert_stored_exactly (GBytes *stored, const char *sender, const char *sent)
{
  gsize size;
  const char *data = g_bytes_get_data (stored, &size);
  g_autofree char *copy = g_strndup (data, size);
  g_autofree char *return_path = g_strdup_printf ("Return-Path: <%s>\r\n", sender);
  const char *p = copy;

  g_assert_cmpuint (strlen (copy), ==, size);
  g_assert_true (g_str_has_prefix (p, return_path));
  p += strlen (return_path);
  g_assert_true (g_str_has_prefix (p, "Received: "));
  do
    {
      p = strstr (p, "\r\n");
      g_assert_nonnull (p);
      p += 2;
    }
  while (*p == ' ' || *p == '\t');
  g_assert_cmpstr (p, ==, sent);
}

static PhTestServer *
interop_server (void)
{
  return smtp_test_server_new ("[auth]\nallow_plaintext=tls\n");
}

static void
test_swaks_submission (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *msg = interop_message ("swaks-submission");
  g_autofree char *path = NULL;
  g_autofree char *server_arg = NULL;
  g_autoptr(GPtrArray) inbox = NULL;

  if (!have_program ("swaks"))
    return;
  server = interop_server ();
  path = write_swaks_message (server, msg);
  server_arg = g_strdup_printf ("127.0.0.1:%u", ph_test_server_get_port (server, "submission", FALSE));
  {
    g_autofree char *data_arg = g_strdup_printf ("@%s", path);
    const char *argv[] = { "swaks", "--server", server_arg, "--tls", "--auth", "PLAIN",
                           "--auth-user", "alice@example.org", "--auth-password", "alice-pw",
                           "--from", "alice@example.org", "--to", "bob@example.org",
                           "--helo", "swaks.example", "--data", data_arg, NULL };
    run_client (argv, NULL, server);
  }
  inbox = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  assert_stored_exactly (inbox->pdata[0], "alice@example.org", msg);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "with ESMTPSA"));
}

static void
test_swaks_mx_pipelining (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *msg = interop_message ("swaks-mx");
  g_autofree char *path = NULL;
  g_autofree char *server_arg = NULL;
  g_autoptr(GPtrArray) alice = NULL;
  g_autoptr(GPtrArray) bob = NULL;

  if (!have_program ("swaks"))
    return;
  server = interop_server ();
  path = write_swaks_message (server, msg);
  server_arg = g_strdup_printf ("127.0.0.1:%u", ph_test_server_get_port (server, "smtp", FALSE));
  {
    g_autofree char *data_arg = g_strdup_printf ("@%s", path);
    const char *argv[] = { "swaks", "--server", server_arg, "--pipeline",
                           "--from", "sender@remote.example",
                           "--to", "alice@example.org,bob@example.org",
                           "--helo", "mx.remote.example", "--data", data_arg, NULL };
    run_client (argv, NULL, server);
  }
  alice = smtp_test_stop_and_read_inbox (server, "alice@example.org");
  bob = smtp_test_read_mailbox (server, "bob@example.org", "INBOX");
  g_assert_cmpuint (alice->len, ==, 1);
  g_assert_cmpuint (bob->len, ==, 1);
  assert_stored_exactly (alice->pdata[0], "sender@remote.example", msg);
  assert_stored_exactly (bob->pdata[0], "sender@remote.example", msg);
}

static void
test_msmtp (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *msg = interop_message ("msmtp");
  g_autofree char *path = NULL;
  g_autofree char *port = NULL;
  g_autoptr(GPtrArray) inbox = NULL;

  if (!have_program ("msmtp"))
    return;
  server = interop_server ();
  path = write_message (server, msg);
  port = g_strdup_printf ("--port=%u", ph_test_server_get_port (server, "submission", FALSE));
  {
    const char *argv[] = { "msmtp", "--host=127.0.0.1", port, "--tls=on", "--tls-starttls=on",
                           "--tls-certcheck=off", "--auth=plain", "--user=alice@example.org",
                           "--passwordeval=echo alice-pw", "--from=alice@example.org",
                           "--domain=msmtp.example", "bob@example.org", NULL };
    run_client (argv, path, server);
  }
  inbox = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  assert_stored_exactly (inbox->pdata[0], "alice@example.org", msg);
}

static void
test_python_smtplib (void)
{
  static const char script[] =
    "import smtplib, ssl, sys\n"
    "ctx = ssl.create_default_context()\n"
    "ctx.check_hostname = False\n"
    "ctx.verify_mode = ssl.CERT_NONE\n"
    "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='python.example')\n"
    "s.starttls(context=ctx)\n"
    "s.login('alice@example.org', 'alice-pw')\n"
    "refused = s.sendmail('alice@example.org', ['bob@example.org', 'alice@example.org', 'u7@example.org'],\n"
    "                     open(sys.argv[2], 'rb').read())\n"
    "assert not refused, refused\n"
    "s.quit()\n";
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *msg = interop_message ("python");
  g_autofree char *path = NULL;
  g_autofree char *port = NULL;
  g_autoptr(GPtrArray) bob = NULL;

  if (!have_program ("python3"))
    return;
  server = interop_server ();
  path = write_message (server, msg);
  port = g_strdup_printf ("%u", ph_test_server_get_port (server, "submission", FALSE));
  {
    const char *argv[] = { "python3", "-c", script, port, path, NULL };
    run_client (argv, NULL, server);
  }
  bob = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (bob->len, ==, 1);
  assert_stored_exactly (bob->pdata[0], "alice@example.org", msg);
  {
    g_autoptr(GPtrArray) alice = smtp_test_read_mailbox (server, "alice@example.org", "INBOX");
    g_autoptr(GPtrArray) u7 = smtp_test_read_mailbox (server, "u7@example.org", "INBOX");

    g_assert_cmpuint (alice->len, ==, 1);
    g_assert_cmpuint (u7->len, ==, 1);
    g_assert_true (g_bytes_equal (alice->pdata[0], bob->pdata[0]));
    g_assert_true (g_bytes_equal (u7->pdata[0], bob->pdata[0]));
  }
}

static void
test_curl (void)
{
  g_autoptr(PhTestServer) server = NULL;
  g_autofree char *msg = interop_message ("curl");
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GPtrArray) inbox = NULL;

  if (!have_program ("curl"))
    return;
  server = interop_server ();
  path = write_message (server, msg);
  url = g_strdup_printf ("smtp://127.0.0.1:%u/curl.example",
                         ph_test_server_get_port (server, "submission", FALSE));
  {
    const char *argv[] = { "curl", "--silent", "--show-error", "--ssl-reqd", "--insecure",
                           url, "--user", "alice@example.org:alice-pw",
                           "--mail-from", "alice@example.org", "--mail-rcpt", "bob@example.org",
                           "--upload-file", path, NULL };
    run_client (argv, NULL, server);
  }
  inbox = smtp_test_stop_and_read_inbox (server, "bob@example.org");
  g_assert_cmpuint (inbox->len, ==, 1);
  assert_stored_exactly (inbox->pdata[0], "alice@example.org", msg);
  g_assert_true (smtp_test_bytes_contain (inbox->pdata[0], "from curl.example"));
}

int
main (int argc, char **argv)
{
  smtp_test_init (&argc, &argv);
  g_test_add_func ("/smtp/interop/swaks/submission-starttls-auth-plain", test_swaks_submission);
  g_test_add_func ("/smtp/interop/swaks/mx-pipelining", test_swaks_mx_pipelining);
  g_test_add_func ("/smtp/interop/msmtp/submission-starttls-auth", test_msmtp);
  g_test_add_func ("/smtp/interop/python-smtplib/starttls-login-recipients", test_python_smtplib);
  g_test_add_func ("/smtp/interop/curl/ssl-reqd-upload", test_curl);
  return g_test_run ();
}
