/* cycle-a and cycle-b depend on each other. */
#include <posthorn/posthorn.h>

static gboolean
cycle_b_init (PosthornPlugin *plugin, GError **error)
{
  return TRUE;
}

static const char *const cycle_b_deps[] = { "cycle-a", NULL };

POSTHORN_PLUGIN_DEFINE (cycle_b, "cycle-b", POSTHORN_PLUGIN_KIND_FILTER, "1",
                        "LGPL-2.1-or-later", "test plugin in a dependency cycle",
                        cycle_b_deps, cycle_b_init, NULL)
