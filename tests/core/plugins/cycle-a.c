/* cycle-a and cycle-b depend on each other. */
#include <posthorn/posthorn.h>

static gboolean
cycle_a_init (PosthornPlugin *plugin, GError **error)
{
  return TRUE;
}

static const char *const cycle_a_deps[] = { "cycle-b", NULL };

POSTHORN_PLUGIN_DEFINE (cycle_a, "cycle-a", POSTHORN_PLUGIN_KIND_FILTER, "1",
                        "LGPL-2.1-or-later", "test plugin in a dependency cycle",
                        cycle_a_deps, cycle_a_init, NULL)
