/* Depends on "good": must be initialised after it whatever the config order. */
#include <posthorn/posthorn.h>

static gboolean
needs_good_init (PosthornPlugin *plugin, GError **error)
{
  return TRUE;
}

static const char *const needs_good_deps[] = { "good", NULL };

POSTHORN_PLUGIN_DEFINE (needs_good, "needs-good", POSTHORN_PLUGIN_KIND_PROTOCOL, "0.1",
                        "LGPL-2.1-or-later", "test plugin that needs good",
                        needs_good_deps, needs_good_init, NULL)
