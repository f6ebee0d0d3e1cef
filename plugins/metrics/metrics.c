/* metrics: the daemon's counters and gauges as OpenMetrics text over
 * HTTP/1.1 (GET /metrics), for Prometheus. Built on the public plugin ABI
 * only (posthorn-status.h), like any third-party protocol plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

#include "metrics-http.h"

#include <string.h>

#define METRICS_DEFAULT_LISTEN "127.0.0.1:9625"
#define METRICS_IDLE_TIMEOUT 10
#define METRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

typedef struct {
  PosthornConnection *conn;
  guint status;           /* of the request line; 0 until it came */
  gboolean head;
  guint headers;
  gsize head_bytes;
  gboolean answered;
} MetricsSession;

static void
metrics_collect_counter (const char *name, guint64 value, gpointer user_data)
{
  MetricsSample sample = { .name = g_strdup (name), .counter = value };

  g_array_append_val ((GArray *) user_data, sample);
}

static void
metrics_collect_gauge (const char *name, double value, gpointer user_data)
{
  MetricsSample sample = { .name = g_strdup (name), .gauge = value };

  g_array_append_val ((GArray *) user_data, sample);
}

static void
metrics_sample_clear (gpointer data)
{
  g_free ((char *) ((MetricsSample *) data)->name);
}

static GString *
metrics_body (void)
{
  g_autoptr (GArray) counters = g_array_new (FALSE, FALSE, sizeof (MetricsSample));
  g_autoptr (GArray) gauges = g_array_new (FALSE, FALSE, sizeof (MetricsSample));
  GString *body = g_string_sized_new (4096);

  g_array_set_clear_func (counters, metrics_sample_clear);
  g_array_set_clear_func (gauges, metrics_sample_clear);
  posthorn_status_foreach_counter (metrics_collect_counter, counters);
  posthorn_status_foreach_gauge (metrics_collect_gauge, gauges);
  metrics_render (body, posthorn_core_get_version (), posthorn_core_get_start_time (),
                  (const MetricsSample *) counters->data, counters->len,
                  (const MetricsSample *) gauges->data, gauges->len);
  return body;
}

static void
metrics_answer (MetricsSession *session, guint status)
{
  g_autoptr (GString) body = NULL;
  const char *type = METRICS_CONTENT_TYPE;

  session->answered = TRUE;
  if (status == 200)
    body = metrics_body ();
  else
    {
      body = g_string_new (metrics_http_reason (status));
      g_string_append_c (body, '\n');
      type = "text/plain; charset=utf-8";
    }
  posthorn_connection_printf (session->conn,
                              "HTTP/1.1 %u %s\r\n"
                              "Content-Type: %s\r\n"
                              "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                              "%s"
                              "Cache-Control: no-store\r\n"
                              "Connection: close\r\n"
                              "\r\n",
                              status, metrics_http_reason (status), type, body->len,
                              status == 405 ? "Allow: GET, HEAD\r\n" : "");
  if (!session->head)
    posthorn_connection_write (session->conn, body->str, body->len);
  posthorn_connection_set_state (session->conn, "answered");
  posthorn_connection_close (session->conn);
}

static void
metrics_line (PosthornConnection *conn, const char *line, gsize length,
              PosthornLineEnd end, gpointer user_data)
{
  MetricsSession *session = user_data;

  if (session->answered)
    return;
  session->head_bytes += length + 2;
  if (session->status == 0)
    {
      if (length == 0)
        return;  /* RFC 9112 2.2: ignore empty lines before the request line */
      session->status = metrics_http_check_request_line (line, length, &session->head);
      posthorn_connection_set_state (conn, "request");
      return;
    }
  if (length == 0)
    {
      metrics_answer (session, session->status);
      return;
    }
  if (++session->headers > METRICS_HTTP_MAX_HEADERS ||
      session->head_bytes > METRICS_HTTP_MAX_HEAD_BYTES)
    {
      metrics_answer (session, 431);
      return;
    }
  if (!metrics_http_header_is_valid (line, length))
    metrics_answer (session, 400);
}

static void
metrics_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  MetricsSession *session = user_data;

  if (!session->answered)
    metrics_answer (session, session->status == 0 ? 414 : 431);
}

static void
metrics_closed (PosthornConnection *conn, gpointer user_data)
{
}

static const PosthornConnectionHandler metrics_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = metrics_line,
  .line_too_long = metrics_line_too_long,
  .closed = metrics_closed,
};

static void
metrics_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  MetricsSession *session = g_new0 (MetricsSession, 1);

  session->conn = conn;
  posthorn_connection_set_handler (conn, &metrics_handler, session, g_free);
  posthorn_connection_set_state (conn, "wait");
}

static const PosthornServiceVTable metrics_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = metrics_accept,
};

static gboolean
metrics_init (PosthornPlugin *plugin, GError **error)
{
  PosthornService *service = posthorn_service_new (plugin, "metrics", &metrics_vtable, NULL);

  if (service == NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "cannot register service 'metrics'");
      return FALSE;
    }
  posthorn_service_set_defaults (service, METRICS_HTTP_MAX_LINE, METRICS_IDLE_TIMEOUT);
  posthorn_service_set_refusal_line (service,
                                     "HTTP/1.1 503 Service Unavailable\r\n"
                                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
  return posthorn_service_listen_config (service, "listen", METRICS_DEFAULT_LISTEN,
                                         POSTHORN_LISTEN_PLAIN, error);
}

POSTHORN_PLUGIN_DEFINE (metrics, "metrics", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "0.1.0", "LGPL-2.1-or-later",
                        "OpenMetrics (Prometheus) exposition of counters and gauges over HTTP",
                        NULL, metrics_init, NULL)
