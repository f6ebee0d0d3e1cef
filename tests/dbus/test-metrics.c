/* The metrics plugin in a running posthornd: OpenMetrics over HTTP.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dbus-test-util.h"

#include <string.h>

typedef struct {
  PhTestServer *server;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = dbus_test_server_new ("none");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->server, ph_test_server_free);
}

typedef struct {
  char *status_line;
  GHashTable *headers;  /* lower-case name -> value */
  char *body;
} Response;

static void
response_clear (Response *response)
{
  g_free (response->status_line);
  g_clear_pointer (&response->headers, g_hash_table_unref);
  g_free (response->body);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

/* Sends @request and reads the response up to the server's close. */
static void
http_exchange (Fixture *f, const char *request, Response *response)
{
  g_autoptr (PhTestClient) client = ph_test_client_connect (f->server, "metrics", FALSE);
  const char *length_text;
  guint64 length = 0;

  g_assert_true (ph_test_client_send (client, request, -1));
  response->status_line = ph_test_client_read_line (client);
  g_assert_nonnull (response->status_line);
  response->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);
      char *colon;

      g_assert_nonnull (line);
      if (line[0] == '\0')
        break;
      colon = strchr (line, ':');
      g_assert_nonnull (colon);
      *colon = '\0';
      g_hash_table_insert (response->headers, g_ascii_strdown (line, -1),
                           g_strdup (g_strchug (colon + 1)));
    }
  length_text = g_hash_table_lookup (response->headers, "content-length");
  g_assert_nonnull (length_text);
  g_assert_true (g_ascii_string_to_unsigned (length_text, 10, 0, 1 << 24, &length, NULL));
  if (g_str_has_prefix (request, "HEAD "))
    response->body = g_strdup ("");
  else
    {
      g_autoptr (GBytes) body = ph_test_client_read_exact (client, length);
      g_assert_nonnull (body);
      response->body = g_strndup (g_bytes_get_data (body, NULL), length);
    }
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

static void
test_scrape (Fixture *f, gconstpointer data)
{
  g_autoptr (PhTestClient) alice = dbus_test_imap_login (f->server, "alice@example.org");
  g_autoptr (PhTestClient) status = ph_test_client_connect (f->server, "test-status", FALSE);
  g_auto (Response) response = { 0 };
  g_auto (GStrv) lines = NULL;

  g_free (ph_test_client_expect_line_prefix (status, "+OK"));
  dbus_test_status_command (status, "SET queue_length 4");
  dbus_test_status_command (status, "COUNT messages_bounced 2");

  http_exchange (f, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
                    "Accept: application/openmetrics-text;version=1.0.0\r\n\r\n", &response);
  g_assert_cmpstr (response.status_line, ==, "HTTP/1.1 200 OK");
  g_assert_cmpstr (g_hash_table_lookup (response.headers, "content-type"), ==,
                   "application/openmetrics-text; version=1.0.0; charset=utf-8");
  g_assert_true (g_str_has_suffix (response.body, "\n# EOF\n"));
  g_assert_nonnull (strstr (response.body, "posthorn_build_info{version=\"" POSTHORN_VERSION "\"} 1\n"));
  g_assert_true (g_regex_match_simple ("\\n# TYPE posthorn_logins counter\\n"
                                       "posthorn_logins_total\\{service=\"imap4\"\\} 1\\n",
                                       response.body, 0, 0));
  g_assert_nonnull (strstr (response.body, "posthorn_connections_total{service=\"imap4\"} 1\n"));
  g_assert_nonnull (strstr (response.body, "posthorn_messages_bounced_total{service=\"test_status\"} 2\n"));
  g_assert_nonnull (strstr (response.body, "# TYPE posthorn_sessions gauge\n"));
  g_assert_nonnull (strstr (response.body, "posthorn_sessions{service=\"imap4\"} 1\n"));
  /* This request's own connection is open while the page is made. */
  g_assert_nonnull (strstr (response.body, "posthorn_sessions{service=\"metrics\"} 1\n"));
  g_assert_nonnull (strstr (response.body, "# TYPE posthorn_queue_length gauge\n"
                                           "posthorn_queue_length{service=\"test_status\"} 4\n"));
  g_assert_true (g_regex_match_simple ("\\nposthorn_bytes_in_total\\{service=\"imap4\"\\} [1-9]\\d*\\n",
                                       response.body, 0, 0));

  /* Every line is a comment or a sample with a value. */
  lines = g_strsplit (response.body, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    g_assert_true (g_regex_match_simple ("^(# (TYPE|UNIT|HELP) posthorn_\\w+ .+|# EOF|"
                                         "posthorn_\\w+(\\{service=\"[a-z0-9_-]*\"\\}|\\{version=\"[^\"]*\"\\})? "
                                         "[0-9.e+-]+)$", lines[i], 0, 0));
}

static void
test_head (Fixture *f, gconstpointer data)
{
  g_auto (Response) response = { 0 };

  http_exchange (f, "HEAD /metrics HTTP/1.0\r\n\r\n", &response);
  g_assert_cmpstr (response.status_line, ==, "HTTP/1.1 200 OK");
  g_assert_cmpstr (response.body, ==, "");
  g_assert_cmpstr (g_hash_table_lookup (response.headers, "content-length"), !=, "0");
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *request;
    const char *status_line;
  } cases[] = {
    { "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found" },
    { "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found" },
    { "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed" },
    { "GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported" },
    { "garbage\r\n\r\n", "HTTP/1.1 400 Bad Request" },
    { "GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n", "HTTP/1.1 400 Bad Request" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (Response) response = { 0 };

      http_exchange (f, cases[i].request, &response);
      g_assert_cmpstr (response.status_line, ==, cases[i].status_line);
      g_assert_cmpstr (g_hash_table_lookup (response.headers, "content-type"), ==,
                       "text/plain; charset=utf-8");
      if (strstr (cases[i].status_line, "405") != NULL)
        g_assert_cmpstr (g_hash_table_lookup (response.headers, "allow"), ==, "GET, HEAD");
    }
}

static void
test_limits (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) long_target = g_string_new ("GET /");
  g_autoptr (GString) many_headers = g_string_new ("GET /metrics HTTP/1.1\r\n");
  g_auto (Response) too_long = { 0 };
  g_auto (Response) too_many = { 0 };

  for (guint i = 0; i < 5000; i++)
    g_string_append_c (long_target, 'a');
  g_string_append (long_target, " HTTP/1.1\r\n\r\n");
  http_exchange (f, long_target->str, &too_long);
  g_assert_cmpstr (too_long.status_line, ==, "HTTP/1.1 414 URI Too Long");

  for (guint i = 0; i < 100; i++)
    g_string_append_printf (many_headers, "X-Header-%u: %u\r\n", i, i);
  g_string_append (many_headers, "\r\n");
  http_exchange (f, many_headers->str, &too_many);
  g_assert_cmpstr (too_many.status_line, ==, "HTTP/1.1 431 Request Header Fields Too Large");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/metrics/scrape/openmetrics", Fixture, NULL, fixture_set_up, test_scrape, fixture_tear_down);
  g_test_add ("/metrics/scrape/head", Fixture, NULL, fixture_set_up, test_head, fixture_tear_down);
  g_test_add ("/metrics/scrape/errors", Fixture, NULL, fixture_set_up, test_errors, fixture_tear_down);
  g_test_add ("/metrics/scrape/limits", Fixture, NULL, fixture_set_up, test_limits, fixture_tear_down);
  return g_test_run ();
}
