/* systemd socket activation: posthornd started the way systemd starts it
 * (listening sockets at fd 3, 4, ..., LISTEN_FDS, LISTEN_FDNAMES and
 * LISTEN_PID = its own pid, through `sh -c 'LISTEN_PID=$$ ... exec'`)
 * serves IMAP, POP3, SMTP and LMTP on the sockets it was given, binds the
 * listeners nobody passed itself, and warns about and closes what matches
 * no listener.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PLUGINS "auth-passwd-file;storage-sqlite;pop3;imap4;smtp"

/* A listening TCP socket on @address (numeric) with an ephemeral port, as
 * a socket unit's ListenStream= makes it; -1 if the family is missing. */
static int
listen_tcp (int family, const char *address, gboolean v6only, guint16 *out_port)
{
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } addr;
  socklen_t len = family == AF_INET ? sizeof addr.in4 : sizeof addr.in6;
  int one = 1;
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset (&addr, 0, sizeof addr);
  addr.sa.sa_family = (sa_family_t) family;
  if (family == AF_INET)
    g_assert_cmpint (inet_pton (AF_INET, address, &addr.in4.sin_addr), ==, 1);
  else
    {
      int v6 = v6only ? 1 : 0;

      g_assert_cmpint (inet_pton (AF_INET6, address, &addr.in6.sin6_addr), ==, 1);
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
    }
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, &addr.sa, len) != 0 || listen (fd, 16) != 0)
    {
      close (fd);
      return -1;
    }
  len = sizeof addr;
  g_assert_cmpint (getsockname (fd, &addr.sa, &len), ==, 0);
  *out_port = g_ntohs (family == AF_INET ? addr.in4.sin_port : addr.in6.sin6_port);
  return fd;
}

static int
listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  return fd;
}

static gboolean
connect_refused (const char *host, guint16 port)
{
  g_autoptr (GError) error = NULL;
  PhTestClient *client = ph_test_client_new (host, port, FALSE, NULL, &error);

  if (client != NULL)
    {
      ph_test_client_free (client);
      return FALSE;
    }
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static PhTestServer *
server_create (const char *listen_config)
{
  PhTestServer *server = ph_test_server_create (PLUGINS);
  g_autofree char *users = g_build_filename (ph_test_server_get_dir (server), "users", NULL);
  g_autofree char *config = NULL;

  g_assert_true (g_file_set_contents (users, "alice@example.org:{PLAIN}pw\n", -1, NULL));
  config = g_strdup_printf ("[auth-passwd-file]\npath=%s\n"
                            "[smtp]\nhostname=mx.example.org\ndomains=example.org\n%s",
                            users, listen_config);
  ph_test_server_append_config (server, config);
  ph_test_server_set_tls (server, FALSE);
  return server;
}

static char *
expect_prefix (PhTestClient *client, const char *prefix)
{
  return ph_test_client_expect_line_prefix (client, prefix);
}

/* Sends @command and reads up to the line starting with @done_prefix. */
static char *
exchange (PhTestClient *client, const char *command, const char *done_prefix)
{
  g_assert_true (ph_test_client_sendf (client, "%s\r\n", command));
  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, done_prefix))
        return line;
      if (line[0] != '*' && !g_ascii_isdigit (line[0]))
        g_error ("'%s': expected '%s...', got '%s'", command, done_prefix, line);
      g_free (line);
    }
}

/* SMTP delivers to alice; POP3 and IMAP read it back: every passed socket
 * carries its protocol. */
static void
talk_all (guint16 smtp_port, guint16 pop3_port, guint16 imap_port)
{
  g_autoptr (PhTestClient) smtp = ph_test_client_new ("127.0.0.1", smtp_port, FALSE, NULL, NULL);
  g_autoptr (PhTestClient) pop3 = NULL;
  g_autoptr (PhTestClient) imap = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);

  g_assert_nonnull (smtp);
  g_free (expect_prefix (smtp, "220 "));
  g_free (exchange (smtp, "EHLO activation.example", "250 "));
  g_free (exchange (smtp, "MAIL FROM:<x@remote.example>", "250 "));
  g_free (exchange (smtp, "RCPT TO:<alice@example.org>", "250 "));
  g_free (exchange (smtp, "DATA", "354 "));
  g_free (exchange (smtp, "Subject: passed\r\n\r\nthrough a socket systemd made\r\n.", "250 "));

  pop3 = ph_test_client_new ("127.0.0.1", pop3_port, FALSE, NULL, NULL);
  g_assert_nonnull (pop3);
  g_free (expect_prefix (pop3, "+OK"));
  g_free (exchange (pop3, "USER alice@example.org", "+OK"));
  g_free (exchange (pop3, "PASS pw", "+OK"));
  {
    g_autofree char *stat = exchange (pop3, "STAT", "+OK");
    g_assert_true (g_str_has_prefix (stat, "+OK 1 "));
  }
  g_free (exchange (pop3, "QUIT", "+OK"));

  imap = ph_test_client_new ("127.0.0.1", imap_port, FALSE, NULL, NULL);
  g_assert_nonnull (imap);
  g_free (expect_prefix (imap, "* OK"));
  g_free (exchange (imap, "a LOGIN alice@example.org pw", "a OK"));
  g_assert_true (ph_test_client_send (imap, "b SELECT INBOX\r\n", -1));
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (imap);

      g_assert_nonnull (line);
      g_string_append_printf (seen, "%s\n", line);
      if (g_str_has_prefix (line, "b "))
        {
          g_assert_true (g_str_has_prefix (line, "b OK"));
          break;
        }
    }
  g_assert_nonnull (strstr (seen->str, "* 1 EXISTS"));
  g_free (exchange (imap, "c LOGOUT", "c OK"));
}

static void
test_protocols_on_passed_sockets (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autofree char *config = NULL;
  g_autofree char *lmtp_path = NULL;
  g_autofree char *log = NULL;
  guint16 imap_port, pop3_port, smtp_port, stray_port;
  int fds[6];
  int pipe_fds[2];
  struct stat st;

  fds[0] = listen_tcp (AF_INET, "127.0.0.1", TRUE, &imap_port);
  fds[1] = listen_tcp (AF_INET, "127.0.0.1", TRUE, &pop3_port);
  fds[2] = listen_tcp (AF_INET, "127.0.0.1", TRUE, &smtp_port);
  fds[4] = listen_tcp (AF_INET, "127.0.0.1", TRUE, &stray_port);  /* no listener for it */
  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  fds[5] = pipe_fds[0];                                         /* not a socket */

  server = server_create ("");
  lmtp_path = g_build_filename (ph_test_server_get_dir (server), "lmtp.sock", NULL);
  fds[3] = listen_unix (lmtp_path);
  config = g_strdup_printf ("[imap4]\nlisten=127.0.0.1:%u\n"
                            "[pop3]\nlisten=127.0.0.1:%u\n"
                            "[smtp]\nlisten=127.0.0.1:%u\nlmtp=unix:%s\n"
                            /* nobody passes this one: the daemon binds it */
                            "submission=127.0.0.1:0\n",
                            imap_port, pop3_port, smtp_port, lmtp_path);
  ph_test_server_append_config (server, config);
  ph_test_server_pass_sockets (server, fds, G_N_ELEMENTS (fds),
                               "imap:pop3:smtp:lmtp:stray:pipe", 0);
  ph_test_server_start_or_die (server);
  /* What systemd would keep holds nothing here: only the daemon's copies
   * are left open. */
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);
  close (pipe_fds[1]);

  g_assert_cmpuint (ph_test_server_get_port (server, "imap4", FALSE), ==, imap_port);
  g_assert_cmpuint (ph_test_server_get_port (server, "pop3", FALSE), ==, pop3_port);
  g_assert_cmpuint (ph_test_server_get_port (server, "smtp", FALSE), ==, smtp_port);
  g_assert_cmpuint (ph_test_server_get_port (server, "submission", FALSE), !=, 0);
  talk_all (smtp_port, pop3_port, imap_port);

  {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhTestClient) lmtp = ph_test_client_new_unix (lmtp_path, &error);

    g_assert_no_error (error);
    g_free (expect_prefix (lmtp, "220 "));
    g_free (exchange (lmtp, "LHLO activation.example", "250 "));
    g_free (exchange (lmtp, "QUIT", "221 "));
  }
  {
    g_autoptr (PhTestClient) submission = ph_test_client_connect (server, "submission", FALSE);
    g_free (expect_prefix (submission, "220 "));
  }

  /* The stray socket was closed: nobody listens on its port any more. */
  g_assert_true (connect_refused ("127.0.0.1", stray_port));
  log = ph_test_server_get_log (server);
  g_assert_nonnull (strstr (log, "using the socket systemd passed (imap, 127.0.0.1:"));
  g_assert_nonnull (strstr (log, "using the socket systemd passed (lmtp, unix:"));
  g_assert_nonnull (strstr (log, "systemd passed a socket on 127.0.0.1:"));
  g_assert_nonnull (strstr (log, "(fd 7, stray) that no listener in"));
  g_assert_nonnull (strstr (log, "systemd passed fd 8 (pipe), which is not a socket; closing it"));

  /* The socket file is systemd's: the daemon leaves it when it stops. */
  g_assert_cmpint (ph_test_server_stop (server), ==, 0);
  g_assert_cmpint (lstat (lmtp_path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
}

/* LISTEN_PID names another process: the sockets are not for posthornd,
 * which binds the address itself (and fails: the test holds it). */
static void
test_other_pid_ignored (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  guint16 imap_port;
  int fd = listen_tcp (AF_INET, "127.0.0.1", TRUE, &imap_port);

  server = server_create ("listen=127.0.0.1:0\n");
  config = g_strdup_printf ("[imap4]\nlisten=127.0.0.1:%u\n[pop3]\nlisten=127.0.0.1:0\n",
                            imap_port);
  ph_test_server_append_config (server, config);
  ph_test_server_pass_sockets (server, &fd, 1, "imap", 1);
  g_assert_false (ph_test_server_start (server, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "[imap4] listen: cannot listen on 127.0.0.1:"));
  g_assert_null (strstr (error->message, "systemd passed"));
  close (fd);
}

/* ListenStream=PORT makes one dual-stack [::]:PORT socket: it serves both
 * halves of listen=*:PORT (IPv4 and IPv6). */
static void
test_dual_stack_wildcard (void)
{
  g_autoptr (PhTestServer) server = NULL;
  g_autofree char *config = NULL;
  guint16 port;
  int fd = listen_tcp (AF_INET6, "::", FALSE, &port);

  if (fd < 0)
    {
      g_test_skip ("no IPv6 on this host");
      return;
    }
  server = server_create ("listen=127.0.0.1:0\n");
  config = g_strdup_printf ("[imap4]\nlisten=*:%u\n[pop3]\nlisten=127.0.0.1:0\n", port);
  ph_test_server_append_config (server, config);
  ph_test_server_pass_sockets (server, &fd, 1, "imap", 0);
  ph_test_server_start_or_die (server);
  close (fd);

  {
    g_autoptr (PhTestClient) v4 = ph_test_client_new ("127.0.0.1", port, FALSE, NULL, NULL);
    g_assert_nonnull (v4);
    g_free (expect_prefix (v4, "* OK"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (PhTestClient) v6 = ph_test_client_new ("::1", port, FALSE, NULL, &error);
    if (v6 != NULL)
      g_free (expect_prefix (v6, "* OK"));
    else
      g_test_message ("no ::1: %s", error->message);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/socket-activation/protocols-on-passed-sockets",
                   test_protocols_on_passed_sockets);
  g_test_add_func ("/net/socket-activation/other-pid-ignored", test_other_pid_ignored);
  g_test_add_func ("/net/socket-activation/dual-stack-wildcard", test_dual_stack_wildcard);
  return g_test_run ();
}
