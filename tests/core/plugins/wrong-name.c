/* Exported as wrong-name's symbol, but its descriptor says another name. */
#include <posthorn/posthorn.h>

static gboolean
wrong_name_init (PosthornPlugin *plugin, GError **error)
{
  return TRUE;
}

POSTHORN_PLUGIN_DEFINE (wrong_name, "right-name", POSTHORN_PLUGIN_KIND_FILTER, "1",
                        "LGPL-2.1-or-later", "test plugin with the wrong name",
                        NULL, wrong_name_init, NULL)
