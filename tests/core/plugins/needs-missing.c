/* Depends on a plugin that is not enabled. */
#include <posthorn/posthorn.h>

static gboolean
needs_missing_init (PosthornPlugin *plugin, GError **error)
{
  return TRUE;
}

static const char *const needs_missing_deps[] = { "absent", NULL };

POSTHORN_PLUGIN_DEFINE (needs_missing, "needs-missing", POSTHORN_PLUGIN_KIND_AUTH, "1",
                        "LGPL-2.1-or-later", "test plugin with a missing dependency",
                        needs_missing_deps, needs_missing_init, NULL)
