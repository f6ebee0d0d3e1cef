/* What the "good" test plugin read from its [good] group; test-config looks
 * at it through posthorn_plugin_get_data(). */
#pragma once

#include <glib.h>

typedef struct {
  char *greeting;      /* greeting: string, default "hello"; re-read on reload */
  guint64 count;       /* count: number with size suffix, 0..1G, default 7 */
  gboolean enabled;    /* enabled: boolean, default TRUE */
  guint64 interval;    /* interval: duration in seconds, default 90 */
  char *file;          /* file: path, parent must exist, default NULL */
  char **tags;         /* tags: list, default { "a", "b" } */
  guint reloads;       /* times the reload function ran */
} GoodConfig;
