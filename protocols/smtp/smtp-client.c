/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-client.h"

#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#define SMTP_CLIENT_LINE_MAX 4096

typedef struct {
  GSocketConnection *socket;
  int fd;
  gnutls_session_t tls;
  gnutls_certificate_credentials_t cred;
  char buf[8192];
  gsize start, end;
  /* EHLO capabilities */
  gboolean esmtp, starttls, pipelining, eightbit, chunking, binarymime, smtputf8, dsn, auth_plain;
  guint64 size_limit;
} SmtpClientConn;

static void
conn_close (SmtpClientConn *conn)
{
  if (conn->tls != NULL)
    {
      gnutls_bye (conn->tls, GNUTLS_SHUT_WR);
      gnutls_deinit (conn->tls);
      conn->tls = NULL;
    }
  if (conn->cred != NULL)
    {
      gnutls_certificate_free_credentials (conn->cred);
      conn->cred = NULL;
    }
  if (conn->socket != NULL)
    {
      g_io_stream_close (G_IO_STREAM (conn->socket), NULL, NULL);
      g_clear_object (&conn->socket);
    }
}

static gssize
conn_recv (SmtpClientConn *conn, void *buf, gsize n)
{
  guint again = 0;

  for (;;)
    {
      gssize r = conn->tls != NULL ? gnutls_record_recv (conn->tls, buf, n)
                                   : recv (conn->fd, buf, n, 0);
      if (conn->tls != NULL && r == GNUTLS_E_INTERRUPTED)
        continue;
      /* a TLS 1.3 post-handshake message (session ticket) carries no
       * data; a real timeout repeats, so give up after a few */
      if (conn->tls != NULL && r == GNUTLS_E_AGAIN && ++again < 4)
        continue;
      if (conn->tls == NULL && r < 0 && errno == EINTR)
        continue;
      return r;
    }
}

static gboolean
conn_send (SmtpClientConn *conn, const void *data, gsize length)
{
  const char *p = data;

  while (length > 0)
    {
      gssize r = conn->tls != NULL ? gnutls_record_send (conn->tls, p, length)
                                   : send (conn->fd, p, length, MSG_NOSIGNAL);
      if (conn->tls != NULL && r == GNUTLS_E_INTERRUPTED)
        continue;
      if (conn->tls == NULL && r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      p += r;
      length -= (gsize) r;
    }
  return TRUE;
}

/* One line without CRLF, or NULL on error/timeout/close. */
static char *
conn_read_line (SmtpClientConn *conn)
{
  g_autoptr(GString) line = g_string_new (NULL);

  for (;;)
    {
      char *lf;

      if (conn->start == conn->end)
        {
          gssize r = conn_recv (conn, conn->buf, sizeof conn->buf);
          if (r <= 0)
            return NULL;
          conn->start = 0;
          conn->end = (gsize) r;
        }
      lf = memchr (conn->buf + conn->start, '\n', conn->end - conn->start);
      if (lf == NULL)
        {
          g_string_append_len (line, conn->buf + conn->start, conn->end - conn->start);
          conn->start = conn->end;
          if (line->len > SMTP_CLIENT_LINE_MAX)
            return NULL;
          continue;
        }
      g_string_append_len (line, conn->buf + conn->start, lf - (conn->buf + conn->start));
      conn->start = (gsize) (lf - conn->buf) + 1;
      if (line->len > 0 && line->str[line->len - 1] == '\r')
        g_string_truncate (line, line->len - 1);
      return g_string_free (g_steal_pointer (&line), FALSE);
    }
}

/* Reads a reply: its code (0 on a broken connection), its text (all
 * lines, "code text" joined by spaces) and the lines after the code. */
static guint
conn_read_reply (SmtpClientConn *conn, char **text, GPtrArray *lines)
{
  g_autoptr(GString) all = g_string_new (NULL);
  guint code = 0;

  for (;;)
    {
      g_autofree char *line = conn_read_line (conn);
      guint c;

      if (line == NULL || strlen (line) < 3 || !g_ascii_isdigit (line[0]) ||
          !g_ascii_isdigit (line[1]) || !g_ascii_isdigit (line[2]) ||
          (line[3] != '\0' && line[3] != ' ' && line[3] != '-'))
        {
          if (text != NULL)
            *text = line == NULL ? g_strdup ("connection lost or timed out")
                                 : g_strdup_printf ("bad reply line '%.40s'", line);
          return 0;
        }
      c = (guint) ((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
      if (code != 0 && c != code)
        return 0;
      code = c;
      if (lines != NULL)
        g_ptr_array_add (lines, g_strdup (line[3] != '\0' ? line + 4 : ""));
      if (all->len > 0)
        g_string_append_c (all, ' ');
      g_string_append (all, all->len == 0 ? line : (line[3] != '\0' ? line + 4 : ""));
      if (line[3] != '-')
        break;
    }
  for (char *p = all->str; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || (guchar) *p == 0x7f)
      *p = ' ';
  if (text != NULL)
    *text = g_strdup (all->str);
  return code;
}

static guint
conn_command (SmtpClientConn *conn, const char *line, char **text, GPtrArray *lines)
{
  g_autofree char *crlf = g_strconcat (line, "\r\n", NULL);

  if (!conn_send (conn, crlf, strlen (crlf)))
    {
      if (text != NULL)
        *text = g_strdup ("connection lost");
      return 0;
    }
  return conn_read_reply (conn, text, lines);
}

/* "x.y.z" from a reply text after the code, else the class default. */
static char *
reply_status (guint code, const char *text)
{
  const char *p = text != NULL && strlen (text) > 4 ? text + 4 : "";
  int a, b, c, n = 0;

  if (sscanf (p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && n > 0 &&
      (p[n] == ' ' || p[n] == '\0') && a == (int) (code / 100))
    return g_strndup (p, (gsize) n);
  return g_strdup_printf ("%u.0.0", code >= 200 && code < 600 ? code / 100 : 4);
}

static void
set_result (SmtpClientRcpt *r, guint code, const char *status, const char *diagnostic)
{
  r->code = code;
  g_free (r->status);
  r->status = status != NULL ? g_strdup (status) : reply_status (code, diagnostic);
  g_free (r->diagnostic);
  r->diagnostic = g_strdup (diagnostic);
}

/* Sets every recipient without a final result yet. */
static void
set_all (SmtpClientJob *job, guint code, const char *status, const char *diagnostic)
{
  for (guint i = 0; i < job->rcpts->len; i++)
    {
      SmtpClientRcpt *r = &g_array_index (job->rcpts, SmtpClientRcpt, i);
      if (r->code == 0 || (r->code >= 200 && r->code < 300 && r->status == NULL))
        set_result (r, code, status, diagnostic);
    }
}

static void
parse_ehlo (SmtpClientConn *conn, GPtrArray *lines)
{
  conn->esmtp = TRUE;
  for (guint i = 1; i < lines->len; i++)
    {
      const char *l = lines->pdata[i];

      if (g_ascii_strcasecmp (l, "STARTTLS") == 0)
        conn->starttls = TRUE;
      else if (g_ascii_strcasecmp (l, "PIPELINING") == 0)
        conn->pipelining = TRUE;
      else if (g_ascii_strcasecmp (l, "8BITMIME") == 0)
        conn->eightbit = TRUE;
      else if (g_ascii_strcasecmp (l, "CHUNKING") == 0)
        conn->chunking = TRUE;
      else if (g_ascii_strcasecmp (l, "BINARYMIME") == 0)
        conn->binarymime = TRUE;
      else if (g_ascii_strcasecmp (l, "SMTPUTF8") == 0)
        conn->smtputf8 = TRUE;
      else if (g_ascii_strcasecmp (l, "DSN") == 0)
        conn->dsn = TRUE;
      else if (g_ascii_strncasecmp (l, "SIZE", 4) == 0)
        conn->size_limit = g_ascii_strtoull (l + 4, NULL, 10);
      else if (g_ascii_strncasecmp (l, "AUTH ", 5) == 0 || g_ascii_strncasecmp (l, "AUTH=", 5) == 0)
        {
          g_auto(GStrv) mechs = g_strsplit (l + 5, " ", -1);
          for (guint m = 0; mechs[m] != NULL; m++)
            if (g_ascii_strcasecmp (mechs[m], "PLAIN") == 0)
              conn->auth_plain = TRUE;
        }
    }
}

static gboolean
conn_ehlo (SmtpClientConn *conn, const char *helo, char **text)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *cmd = g_strdup_printf ("EHLO %s", helo);
  guint code;

  conn->esmtp = conn->starttls = conn->pipelining = conn->eightbit = FALSE;
  conn->chunking = conn->binarymime = conn->smtputf8 = conn->dsn = conn->auth_plain = FALSE;
  code = conn_command (conn, cmd, text, lines);
  if (code == 250)
    {
      parse_ehlo (conn, lines);
      return TRUE;
    }
  if (code == 0)
    return FALSE;
  g_clear_pointer (text, g_free);
  g_free (cmd);
  cmd = g_strdup_printf ("HELO %s", helo);
  return conn_command (conn, cmd, text, NULL) == 250;
}

static gboolean
conn_start_tls (SmtpClientConn *conn, const char *host)
{
  int r;

  if (gnutls_certificate_allocate_credentials (&conn->cred) < 0 ||
      gnutls_init (&conn->tls, GNUTLS_CLIENT) < 0)
    return FALSE;
  gnutls_set_default_priority (conn->tls);
  gnutls_credentials_set (conn->tls, GNUTLS_CRD_CERTIFICATE, conn->cred);
  if (!g_hostname_is_ip_address (host))
    gnutls_server_name_set (conn->tls, GNUTLS_NAME_DNS, host, strlen (host));
  gnutls_transport_set_int (conn->tls, conn->fd);
  do
    r = gnutls_handshake (conn->tls);
  while (r == GNUTLS_E_INTERRUPTED || (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal (r)));
  if (r < 0)
    {
      g_message ("TLS handshake with %s failed: %s", host, gnutls_strerror (r));
      gnutls_deinit (conn->tls);
      conn->tls = NULL;
      return FALSE;
    }
  conn->start = conn->end = 0;
  return TRUE;
}

typedef struct {
  char *host;
  guint16 port;
} SmtpHost;

static void
smtp_host_clear (SmtpHost *h)
{
  g_free (h->host);
}

static gint
compare_mx (gconstpointer a, gconstpointer b)
{
  guint16 pa, pb;

  g_variant_get (*(GVariant *const *) a, "(q&s)", &pa, NULL);
  g_variant_get (*(GVariant *const *) b, "(q&s)", &pb, NULL);
  return (gint) pa - (gint) pb;
}

/* The hosts to try, or NULL with every recipient failed (null MX, DNS). */
static GArray *
smtp_client_route (SmtpClientJob *job)
{
  GArray *hosts = g_array_new (FALSE, TRUE, sizeof (SmtpHost));
  g_autoptr(GResolver) resolver = NULL;
  g_autoptr(GError) error = NULL;
  GList *records;
  g_autoptr(GPtrArray) sorted = NULL;
  SmtpHost h;

  g_array_set_clear_func (hosts, (GDestroyNotify) smtp_host_clear);
  if (job->route_host != NULL)
    {
      h.host = g_strdup (job->route_host);
      h.port = job->route_port;
      g_array_append_val (hosts, h);
      return hosts;
    }
  resolver = g_resolver_get_default ();
  records = g_resolver_lookup_records (resolver, job->domain, G_RESOLVER_RECORD_MX, NULL, &error);
  if (records == NULL)
    {
      if (!g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
        {
          g_autofree char *why = g_strdup_printf ("MX lookup of %s failed: %s", job->domain,
                                                  error->message);
          set_all (job, 451, "4.4.3", why);
          g_array_unref (hosts);
          return NULL;
        }
      /* no MX: the domain itself (A/AAAA) */
      h.host = g_strdup (job->domain);
      h.port = 25;
      g_array_append_val (hosts, h);
      return hosts;
    }
  sorted = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  for (GList *l = records; l != NULL; l = l->next)
    g_ptr_array_add (sorted, l->data);
  g_list_free (records);
  g_ptr_array_sort (sorted, compare_mx);
  for (guint i = 0; i < sorted->len; i++)
    {
      const char *name;
      guint16 pref;

      g_variant_get (sorted->pdata[i], "(q&s)", &pref, &name);
      if (name[0] == '\0' || strcmp (name, ".") == 0)
        {
          /* RFC 7505 null MX */
          set_all (job, 556, "5.1.10", "Domain does not accept mail (null MX)");
          g_array_unref (hosts);
          return NULL;
        }
      h.host = g_strdup (name);
      h.port = 25;
      g_array_append_val (hosts, h);
    }
  return hosts;
}

/* GSocket keeps its fd non-blocking; this client uses plain blocking
 * calls with kernel timeouts instead. */
static void
set_timeouts (int fd, guint seconds)
{
  struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };
  int flags = fcntl (fd, F_GETFL);

  if (flags >= 0)
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Connects, reads the greeting, EHLO, STARTTLS, AUTH. FALSE with *@why
 * when this host cannot be used (then the next is tried). */
static gboolean
smtp_client_open (SmtpClientJob *job, SmtpClientConn *conn, const SmtpHost *host,
                  guint *fail_code, char **why)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  guint code;

  g_socket_client_set_timeout (client, job->timeout);
  conn->socket = g_socket_client_connect_to_host (client, host->host, host->port, NULL, &error);
  if (conn->socket == NULL)
    {
      *why = g_strdup_printf ("connect to %s port %u: %s", host->host, host->port, error->message);
      return FALSE;
    }
  conn->fd = g_socket_get_fd (g_socket_connection_get_socket (conn->socket));
  set_timeouts (conn->fd, job->timeout);
  g_free (job->remote_mta);
  job->remote_mta = g_strdup (host->host);

  code = conn_read_reply (conn, &text, NULL);
  if (code != 220)
    {
      *fail_code = code >= 500 && code < 600 ? code : 0;
      *why = g_strdup_printf ("%s said: %s", host->host, text);
      return FALSE;
    }
  g_clear_pointer (&text, g_free);
  if (!conn_ehlo (conn, job->helo, &text))
    {
      *why = g_strdup_printf ("%s refused EHLO/HELO: %s", host->host, text);
      return FALSE;
    }
  if (conn->starttls)
    {
      g_clear_pointer (&text, g_free);
      if (conn_command (conn, "STARTTLS", &text, NULL) == 220)
        {
          if (!conn_start_tls (conn, host->host))
            {
              *why = g_strdup_printf ("TLS handshake with %s failed", host->host);
              return FALSE;
            }
          g_clear_pointer (&text, g_free);
          if (!conn_ehlo (conn, job->helo, &text))
            {
              *why = g_strdup_printf ("%s refused EHLO after STARTTLS: %s", host->host, text);
              return FALSE;
            }
        }
    }
  if (job->auth_user != NULL)
    {
      gsize ul = strlen (job->auth_user), pl = strlen (job->auth_password);
      g_autofree char *raw = g_malloc0 (ul + pl + 2);
      g_autofree char *b64 = NULL;
      g_autofree char *cmd = NULL;

      if (conn->tls == NULL || !conn->auth_plain)
        {
          *why = g_strdup_printf ("%s offers no AUTH PLAIN over TLS", host->host);
          return FALSE;
        }
      memcpy (raw + 1, job->auth_user, ul);
      memcpy (raw + 2 + ul, job->auth_password, pl);
      b64 = g_base64_encode ((const guchar *) raw, ul + pl + 2);
      cmd = g_strdup_printf ("AUTH PLAIN %s", b64);
      g_clear_pointer (&text, g_free);
      if (conn_command (conn, cmd, &text, NULL) != 235)
        {
          *why = g_strdup_printf ("authentication at %s failed: %s", host->host, text);
          return FALSE;
        }
    }
  return TRUE;
}

/* Sends the message: DATA with dot-stuffing, or one BDAT LAST chunk. */
static gboolean
smtp_client_send_message (SmtpClientConn *conn, const char *path, gboolean bdat)
{
  g_autoptr(GMappedFile) file = g_mapped_file_new (path, FALSE, NULL);
  const char *data;
  gsize size;

  if (file == NULL)
    return FALSE;
  data = g_mapped_file_get_contents (file);
  size = g_mapped_file_get_length (file);
  if (bdat)
    {
      g_autofree char *cmd = g_strdup_printf ("BDAT %" G_GSIZE_FORMAT " LAST\r\n", size);
      return conn_send (conn, cmd, strlen (cmd)) && (size == 0 || conn_send (conn, data, size));
    }
  {
    gsize start = 0;
    gboolean line_start = TRUE;

    for (gsize i = 0; i < size; i++)
      {
        if (line_start && data[i] == '.')
          {
            if (!conn_send (conn, data + start, i - start) || !conn_send (conn, ".", 1))
              return FALSE;
            start = i;
          }
        line_start = data[i] == '\n';
      }
    if (!conn_send (conn, data + start, size - start))
      return FALSE;
    if (size > 0 && !(size >= 2 && data[size - 2] == '\r' && data[size - 1] == '\n'))
      if (!conn_send (conn, "\r\n", 2))
        return FALSE;
    return conn_send (conn, ".\r\n", 3);
  }
}

static void
append_dsn_rcpt_params (GString *cmd, const SmtpSpoolRcpt *rcpt)
{
  if (rcpt->notify != SMTP_NOTIFY_NONE)
    {
      g_string_append (cmd, " NOTIFY=");
      if (rcpt->notify & SMTP_NOTIFY_NEVER)
        g_string_append (cmd, "NEVER");
      else
        {
          gboolean first = TRUE;
          static const struct { SmtpNotify bit; const char *name; } names[] = {
            { SMTP_NOTIFY_SUCCESS, "SUCCESS" }, { SMTP_NOTIFY_FAILURE, "FAILURE" },
            { SMTP_NOTIFY_DELAY, "DELAY" } };
          for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
            if (rcpt->notify & names[i].bit)
              {
                g_string_append_printf (cmd, "%s%s", first ? "" : ",", names[i].name);
                first = FALSE;
              }
        }
    }
  if (rcpt->orcpt != NULL && rcpt->orcpt_type != NULL)
    {
      g_autofree char *x = smtp_xtext_encode (rcpt->orcpt, strlen (rcpt->orcpt));
      g_string_append_printf (cmd, " ORCPT=%s;%s", rcpt->orcpt_type, x);
    }
}

static void
smtp_client_transaction (SmtpClientJob *job, SmtpClientConn *conn, guint64 size)
{
  const SmtpEnvelope *env = job->env;
  g_autoptr(GString) cmd = g_string_new (NULL);
  g_autofree char *text = NULL;
  gboolean bdat = env->body == SMTP_BODY_BINARYMIME;
  guint accepted = 0;
  guint code;

  if (bdat && !(conn->chunking && conn->binarymime))
    {
      set_all (job, 554, "5.6.3", "The next hop does not accept binary MIME (BINARYMIME)");
      return;
    }
  if (env->smtputf8 && !conn->smtputf8)
    {
      set_all (job, 553, "5.6.7", "The next hop does not support SMTPUTF8");
      return;
    }
  if (conn->size_limit > 0 && size > conn->size_limit)
    {
      set_all (job, 552, "5.3.4", "Message too big for the next hop");
      return;
    }

  g_string_printf (cmd, "MAIL FROM:<%s>", env->sender);
  if (conn->esmtp)
    g_string_append_printf (cmd, " SIZE=%" G_GUINT64_FORMAT, size);
  if (env->body == SMTP_BODY_8BITMIME && conn->eightbit)
    g_string_append (cmd, " BODY=8BITMIME");
  else if (bdat)
    g_string_append (cmd, " BODY=BINARYMIME");
  if (env->smtputf8)
    g_string_append (cmd, " SMTPUTF8");
  if (conn->dsn)
    {
      if (env->ret != SMTP_RET_NONE)
        g_string_append (cmd, env->ret == SMTP_RET_FULL ? " RET=FULL" : " RET=HDRS");
      if (env->envid != NULL)
        {
          g_autofree char *x = smtp_xtext_encode (env->envid, strlen (env->envid));
          g_string_append_printf (cmd, " ENVID=%s", x);
        }
    }
  code = conn_command (conn, cmd->str, &text, NULL);
  if (code != 250)
    {
      set_all (job, code != 0 ? code : 451, code != 0 ? NULL : "4.4.2", text);
      return;
    }

  for (guint i = 0; i < job->rcpts->len; i++)
    {
      SmtpClientRcpt *r = &g_array_index (job->rcpts, SmtpClientRcpt, i);

      g_string_printf (cmd, "RCPT TO:<%s>", r->rcpt->mailbox);
      if (conn->dsn)
        append_dsn_rcpt_params (cmd, r->rcpt);
      g_clear_pointer (&text, g_free);
      code = conn_command (conn, cmd->str, &text, NULL);
      if (code == 0)
        {
          set_all (job, 451, "4.4.2", text);
          return;
        }
      if (code == 250 || code == 251)
        {
          accepted++;
          continue;   /* final result after the data */
        }
      set_result (r, code, NULL, text);
    }
  if (accepted == 0)
    {
      conn_command (conn, "QUIT", NULL, NULL);
      return;
    }

  g_clear_pointer (&text, g_free);
  if (!bdat)
    {
      code = conn_command (conn, "DATA", &text, NULL);
      if (code != 354)
        {
          set_all (job, code != 0 ? code : 451, code != 0 ? NULL : "4.4.2", text);
          return;
        }
      g_clear_pointer (&text, g_free);
    }
  if (!smtp_client_send_message (conn, job->message_path, bdat))
    {
      set_all (job, 451, "4.4.2", "connection lost while sending the message");
      return;
    }
  code = conn_read_reply (conn, &text, NULL);
  set_all (job, code != 0 ? code : 451, code != 0 ? NULL : "4.4.2", text);
  conn_command (conn, "QUIT", NULL, NULL);
}

void
smtp_client_deliver (SmtpClientJob *job)
{
  g_autoptr(GArray) hosts = smtp_client_route (job);
  g_autofree char *last_why = NULL;
  guint64 size = 0;
  guint perm_code = 0;
  struct stat st;

  if (hosts == NULL)
    return;
  if (stat (job->message_path, &st) == 0)
    size = (guint64) st.st_size;
  for (guint i = 0; i < hosts->len; i++)
    {
      SmtpClientConn conn = { 0 };
      g_autofree char *why = NULL;
      guint fail_code = 0;

      if (!smtp_client_open (job, &conn, &g_array_index (hosts, SmtpHost, i), &fail_code, &why))
        {
          conn_close (&conn);
          g_free (last_why);
          last_why = g_steal_pointer (&why);
          if (fail_code != 0)
            perm_code = fail_code;
          continue;
        }
      smtp_client_transaction (job, &conn, size);
      conn_close (&conn);
      return;
    }
  /* no host could be used: temporary, unless every one refused us with 5xx */
  if (perm_code != 0 && hosts->len == 1)
    set_all (job, perm_code, NULL, last_why);
  else
    set_all (job, 451, "4.4.1", last_why != NULL ? last_why : "no host to deliver to");
}

gboolean
smtp_client_parse_hostport (const char *text, char **host, guint16 *port)
{
  const char *colon;
  guint64 p;
  char *end = NULL;

  if (text == NULL || *text == '\0')
    return FALSE;
  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL || close[1] != ':')
        return FALSE;
      *host = g_strndup (text + 1, (gsize) (close - text - 1));
      colon = close + 1;
    }
  else
    {
      colon = strrchr (text, ':');
      if (colon == NULL || colon == text)
        return FALSE;
      *host = g_strndup (text, (gsize) (colon - text));
    }
  p = g_ascii_strtoull (colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || p == 0 || p > 65535)
    {
      g_clear_pointer (host, g_free);
      return FALSE;
    }
  *port = (guint16) p;
  return TRUE;
}
