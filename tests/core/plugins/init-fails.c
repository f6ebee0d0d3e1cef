/* Its init refuses to work. */
#include <posthorn/posthorn.h>

static gboolean
init_fails_init (PosthornPlugin *plugin, GError **error)
{
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_FAILED, "database is on fire");
  return FALSE;
}

POSTHORN_PLUGIN_DEFINE (init_fails, "init-fails", POSTHORN_PLUGIN_KIND_STORAGE, "1",
                        "LGPL-2.1-or-later", "test plugin whose init fails",
                        NULL, init_fails_init, NULL)
