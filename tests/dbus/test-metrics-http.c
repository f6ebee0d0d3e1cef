/* The metrics plugin's pure parts: request checks and the renderer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "metrics-http.h"

#include <string.h>

static void
test_request_lines (void)
{
  static const struct {
    const char *line;
    guint status;
    gboolean head;
  } cases[] = {
    { "GET /metrics HTTP/1.1", 200, FALSE },
    { "GET /metrics HTTP/1.0", 200, FALSE },
    { "HEAD /metrics HTTP/1.1", 200, TRUE },
    { "GET /metrics?name[]=x HTTP/1.1", 200, FALSE },
    { "GET / HTTP/1.1", 404, FALSE },
    { "GET /metrics/ HTTP/1.1", 404, FALSE },
    { "GET /metricsx HTTP/1.1", 404, FALSE },
    { "GET /Metrics HTTP/1.1", 404, FALSE },
    { "POST /metrics HTTP/1.1", 405, FALSE },
    { "DELETE / HTTP/1.1", 405, FALSE },
    { "get /metrics HTTP/1.1", 405, FALSE },
    { "GET /metrics HTTP/2.0", 505, FALSE },
    { "GET /metrics HTTP/1.2", 505, FALSE },
    { "GET /metrics HTTP/1", 400, FALSE },
    { "GET /metrics http/1.1", 400, FALSE },
    { "GET /metrics HTTP/1.1 ", 400, FALSE },
    { "GET  /metrics HTTP/1.1", 400, FALSE },
    { "GET /metrics", 400, FALSE },
    { "GET", 400, FALSE },
    { "", 400, FALSE },
    { " GET /metrics HTTP/1.1", 400, FALSE },
    { "GET http://x/metrics HTTP/1.1", 400, FALSE },
    { "GET /met\x01rics HTTP/1.1", 400, FALSE },
    { "GET /m\xc3\xa9trics HTTP/1.1", 400, FALSE },
    { "G(T /metrics HTTP/1.1", 400, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean head = !cases[i].head;
      guint status = metrics_http_check_request_line (cases[i].line, strlen (cases[i].line), &head);

      g_test_message ("%s", cases[i].line);
      g_assert_cmpuint (status, ==, cases[i].status);
      if (status == 200)
        g_assert_cmpint (head, ==, cases[i].head);
    }
}

static void
test_request_line_nul (void)
{
  static const char line[] = "GET /metrics\0 HTTP/1.1";
  gboolean head;

  g_assert_cmpuint (metrics_http_check_request_line (line, sizeof line - 1, &head), ==, 400);
}

static void
test_headers (void)
{
  static const struct {
    const char *line;
    gboolean valid;
  } cases[] = {
    { "Host: localhost:9625", TRUE },
    { "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5", TRUE },
    { "X-Empty:", TRUE },
    { "X-Tab:\ta", TRUE },
    { "User-Agent: Prometheus/2.45.0", TRUE },
    { ": value", FALSE },
    { "Host : localhost", FALSE },
    { "Host", FALSE },
    { "Ho st: x", FALSE },
    { "Host: a\rb", FALSE },
    { "Host: a\x7f", FALSE },
    { " Host: folded", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].line);
      g_assert_cmpint (metrics_http_header_is_valid (cases[i].line, strlen (cases[i].line)), ==,
                       cases[i].valid);
    }
}

static void
test_reasons (void)
{
  g_assert_cmpstr (metrics_http_reason (200), ==, "OK");
  g_assert_cmpstr (metrics_http_reason (404), ==, "Not Found");
  g_assert_cmpstr (metrics_http_reason (405), ==, "Method Not Allowed");
  g_assert_cmpstr (metrics_http_reason (431), ==, "Request Header Fields Too Large");
  g_assert_cmpstr (metrics_http_reason (999), ==, "Error");
}

static void
test_render (void)
{
  static const MetricsSample counters[] = {
    { "imap4.connections", 12, 0 },
    { "imap4.logins", 3, 0 },
    { "pop3.logins", 1, 0 },
    { "smtp.messages_delivered", 40, 0 },
    { "weird.name-with.dots", 2, 0 },
  };
  static const MetricsSample gauges[] = {
    { "imap4.sessions", 0, 2 },
    { "imap4.logins", 0, 9 },           /* clashes with a counter: left out */
    { "smtp.queue_length", 0, 5 },
    { "smtp.load", 0, 0.25 },
    { "x.start_time_seconds", 0, 1 },   /* clashes with a built-in: left out */
  };
  g_autoptr (GString) out = g_string_new (NULL);

  metrics_render (out, "1.2.\"3\"", 1700000000, counters, G_N_ELEMENTS (counters),
                  gauges, G_N_ELEMENTS (gauges));
  g_assert_cmpstr (out->str, ==,
    "# TYPE posthorn_build info\n"
    "# HELP posthorn_build The running posthornd.\n"
    "posthorn_build_info{version=\"1.2.\\\"3\\\"\"} 1\n"
    "# TYPE posthorn_start_time_seconds gauge\n"
    "# UNIT posthorn_start_time_seconds seconds\n"
    "# HELP posthorn_start_time_seconds When posthornd started, unix time.\n"
    "posthorn_start_time_seconds 1700000000\n"
    "# TYPE posthorn_connections counter\n"
    "posthorn_connections_total{service=\"imap4\"} 12\n"
    "# TYPE posthorn_load gauge\n"
    "posthorn_load{service=\"smtp\"} 0.25\n"
    "# TYPE posthorn_logins counter\n"
    "posthorn_logins_total{service=\"imap4\"} 3\n"
    "posthorn_logins_total{service=\"pop3\"} 1\n"
    "# TYPE posthorn_messages_delivered counter\n"
    "posthorn_messages_delivered_total{service=\"smtp\"} 40\n"
    "# TYPE posthorn_name_with_dots counter\n"
    "posthorn_name_with_dots_total{service=\"weird\"} 2\n"
    "# TYPE posthorn_queue_length gauge\n"
    "posthorn_queue_length{service=\"smtp\"} 5\n"
    "# TYPE posthorn_sessions gauge\n"
    "posthorn_sessions{service=\"imap4\"} 2\n"
    "# EOF\n");
}

static void
test_render_empty (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  metrics_render (out, "0.1.0", 0, NULL, 0, NULL, 0);
  g_assert_true (g_str_has_prefix (out->str, "# TYPE posthorn_build info\n"));
  g_assert_true (g_str_has_suffix (out->str, "posthorn_start_time_seconds 0\n# EOF\n"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/http/request-lines", test_request_lines);
  g_test_add_func ("/metrics/http/request-line-nul", test_request_line_nul);
  g_test_add_func ("/metrics/http/headers", test_headers);
  g_test_add_func ("/metrics/http/reasons", test_reasons);
  g_test_add_func ("/metrics/render/families", test_render);
  g_test_add_func ("/metrics/render/empty", test_render_empty);
  return g_test_run ();
}
