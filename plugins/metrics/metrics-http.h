/* The metrics plugin's pure parts: the HTTP request head checks and the
 * OpenMetrics text renderer. No I/O; table-tested in tests/dbus/.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Longest request or header line accepted (without CRLF), most header
 * lines and most header bytes in one request. */
#define METRICS_HTTP_MAX_LINE 4096
#define METRICS_HTTP_MAX_HEADERS 64
#define METRICS_HTTP_MAX_HEAD_BYTES 16384

/* Checks a request line "METHOD SP TARGET SP HTTP/1.x" (@line need not be
 * NUL-terminated) and returns the status to answer: 200 for GET or HEAD of
 * /metrics (a query string is ignored), 400 for a malformed line, 505 for
 * an HTTP version other than 1.0 and 1.1, 405 for another method, 404 for
 * another path. @out_head is TRUE for HEAD. */
guint metrics_http_check_request_line (const char *line, gsize length, gboolean *out_head);

/* TRUE if @line is a well-formed header field "NAME: VALUE" (NAME a token,
 * no NUL, CR or other control byte except tab in VALUE). */
gboolean metrics_http_header_is_valid (const char *line, gsize length);

/* The reason phrase of @status ("Not Found"); "Error" if unknown. */
const char *metrics_http_reason (guint status);

typedef struct {
  const char *name;   /* "AREA.METRIC", as posthorn_status_foreach_*() gives */
  guint64 counter;    /* for counters */
  double gauge;       /* for gauges */
} MetricsSample;

/* Appends the OpenMetrics 1.0 exposition of @counters and @gauges (each
 * sorted by name) to @out: posthorn_build_info{version}, the start time,
 * then one family per METRIC ("posthorn_" + METRIC; counters with the
 * _total sample suffix) with a label service="AREA", families in name
 * order, and the "# EOF" line. A gauge whose family would collide with a
 * counter's or a built-in one is left out. */
void metrics_render (GString *out,
                     const char *version,
                     gint64 start_time,
                     const MetricsSample *counters, gsize n_counters,
                     const MetricsSample *gauges, gsize n_gauges);

G_END_DECLS
