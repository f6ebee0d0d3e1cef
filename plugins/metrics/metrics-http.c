/* HTTP request checks and the OpenMetrics renderer: pure functions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "metrics-http.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9110 tchar */
static gboolean
metrics_is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

guint
metrics_http_check_request_line (const char *line, gsize length, gboolean *out_head)
{
  const char *end = line + length;
  const char *method = line, *method_end, *target, *target_end, *version, *path_end;
  gsize path_length;

  *out_head = FALSE;
  if (memchr (line, '\0', length) != NULL)
    return 400;

  method_end = method;
  while (method_end < end && metrics_is_tchar (*method_end))
    method_end++;
  if (method_end == method || method_end == end || *method_end != ' ')
    return 400;
  target = method_end + 1;
  target_end = memchr (target, ' ', (gsize) (end - target));
  if (target_end == NULL || target_end == target)
    return 400;
  for (const char *p = target; p < target_end; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      return 400;
  version = target_end + 1;
  if ((gsize) (end - version) != 8 || memcmp (version, "HTTP/", 5) != 0 ||
      !g_ascii_isdigit (version[5]) || version[6] != '.' || !g_ascii_isdigit (version[7]))
    return 400;
  if (memcmp (version, "HTTP/1.1", 8) != 0 && memcmp (version, "HTTP/1.0", 8) != 0)
    return 505;

  if ((gsize) (method_end - method) == 4 && memcmp (method, "HEAD", 4) == 0)
    *out_head = TRUE;
  else if (!((gsize) (method_end - method) == 3 && memcmp (method, "GET", 3) == 0))
    return 405;

  if (target[0] != '/')
    return 400;
  path_end = memchr (target, '?', (gsize) (target_end - target));
  if (path_end == NULL)
    path_end = target_end;
  path_length = (gsize) (path_end - target);
  if (path_length != strlen ("/metrics") || memcmp (target, "/metrics", path_length) != 0)
    return 404;
  return 200;
}

gboolean
metrics_http_header_is_valid (const char *line, gsize length)
{
  gsize i = 0;

  while (i < length && metrics_is_tchar (line[i]))
    i++;
  if (i == 0 || i == length || line[i] != ':')
    return FALSE;
  for (i++; i < length; i++)
    {
      guchar c = (guchar) line[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return FALSE;
    }
  return TRUE;
}

const char *
metrics_http_reason (guint status)
{
  switch (status)
    {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* ---- OpenMetrics ---- */

typedef struct {
  char *family;    /* "posthorn_logins" */
  char *area;      /* label value */
  gboolean counter;
  guint64 counter_value;
  double gauge_value;
} MetricsLine;

static void
metrics_line_clear (gpointer data)
{
  MetricsLine *line = data;

  g_free (line->family);
  g_free (line->area);
}

static int
metrics_line_compare (gconstpointer a, gconstpointer b)
{
  const MetricsLine *x = a, *y = b;
  int c = strcmp (x->family, y->family);

  return c != 0 ? c : strcmp (x->area, y->area);
}

/* Metric names take [a-zA-Z0-9_] (':' is for recording rules). */
static char *
metrics_family_name (const char *metric)
{
  char *family = g_strconcat ("posthorn_", metric, NULL);

  g_strcanon (family + strlen ("posthorn_"),
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", '_');
  return family;
}

static void
metrics_split (const char *name, char **out_area, char **out_metric)
{
  const char *dot = strchr (name, '.');

  if (dot == NULL)
    {
      *out_area = g_strdup ("");
      *out_metric = g_strdup (name);
      return;
    }
  *out_area = g_strndup (name, (gsize) (dot - name));
  *out_metric = g_strdup (dot + 1);
}

static void
metrics_append_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static void
metrics_append_double (GString *out, double value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (value))
    g_string_append (out, "NaN");
  else if (isinf (value))
    g_string_append (out, value > 0 ? "+Inf" : "-Inf");
  else if (value == floor (value) && fabs (value) < 1e15)
    g_string_append_printf (out, "%.0f", value);
  else
    g_string_append (out, g_ascii_dtostr (buffer, sizeof buffer, value));
}

void
metrics_render (GString *out, const char *version, gint64 start_time,
                const MetricsSample *counters, gsize n_counters,
                const MetricsSample *gauges, gsize n_gauges)
{
  g_autoptr (GArray) lines = g_array_new (FALSE, FALSE, sizeof (MetricsLine));
  const char *previous = NULL;

  g_array_set_clear_func (lines, metrics_line_clear);
  for (gsize i = 0; i < n_counters; i++)
    {
      MetricsLine line = { .counter = TRUE, .counter_value = counters[i].counter };
      g_autofree char *metric = NULL;

      metrics_split (counters[i].name, &line.area, &metric);
      line.family = metrics_family_name (metric);
      g_array_append_val (lines, line);
    }
  for (gsize i = 0; i < n_gauges; i++)
    {
      MetricsLine line = { .counter = FALSE, .gauge_value = gauges[i].gauge };
      g_autofree char *metric = NULL;
      gboolean clash = FALSE;

      metrics_split (gauges[i].name, &line.area, &metric);
      line.family = metrics_family_name (metric);
      for (guint j = 0; j < lines->len && !clash; j++)
        {
          MetricsLine *other = &g_array_index (lines, MetricsLine, j);
          clash = other->counter && strcmp (other->family, line.family) == 0;
        }
      clash = clash || strcmp (line.family, "posthorn_build") == 0 ||
              strcmp (line.family, "posthorn_start_time_seconds") == 0;
      if (clash)
        {
          metrics_line_clear (&line);
          continue;
        }
      g_array_append_val (lines, line);
    }
  /* Counter families named like a built-in one are renamed out of the way. */
  for (guint i = 0; i < lines->len; i++)
    {
      MetricsLine *line = &g_array_index (lines, MetricsLine, i);
      if (strcmp (line->family, "posthorn_build") == 0 ||
          strcmp (line->family, "posthorn_start_time_seconds") == 0)
        {
          char *renamed = g_strconcat (line->family, "_", NULL);
          g_free (line->family);
          line->family = renamed;
        }
    }
  g_array_sort (lines, metrics_line_compare);

  g_string_append (out, "# TYPE posthorn_build info\n# HELP posthorn_build The running posthornd.\n");
  g_string_append (out, "posthorn_build_info{version=\"");
  metrics_append_label_value (out, version);
  g_string_append (out, "\"} 1\n");
  g_string_append (out, "# TYPE posthorn_start_time_seconds gauge\n# UNIT posthorn_start_time_seconds seconds\n"
                        "# HELP posthorn_start_time_seconds When posthornd started, unix time.\n");
  g_string_append_printf (out, "posthorn_start_time_seconds %" G_GINT64_FORMAT "\n", start_time);

  for (guint i = 0; i < lines->len; i++)
    {
      MetricsLine *line = &g_array_index (lines, MetricsLine, i);

      if (previous == NULL || strcmp (previous, line->family) != 0)
        g_string_append_printf (out, "# TYPE %s %s\n", line->family,
                                line->counter ? "counter" : "gauge");
      previous = line->family;
      g_string_append_printf (out, "%s%s{service=\"", line->family, line->counter ? "_total" : "");
      metrics_append_label_value (out, line->area);
      g_string_append (out, "\"} ");
      if (line->counter)
        g_string_append_printf (out, "%" G_GUINT64_FORMAT, line->counter_value);
      else
        metrics_append_double (out, line->gauge_value);
      g_string_append_c (out, '\n');
    }
  g_string_append (out, "# EOF\n");
}
