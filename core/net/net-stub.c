/* TEMPORARY placeholder so the daemon links while the networking layer is
 * being written in this same session. The net area deletes this file (and
 * its line in core/net/meson.build) when its real implementation lands. */
#include "ph-private.h"

gboolean ph_tls_setup (GError **error) { return TRUE; }
gboolean ph_tls_reload (GError **error) { return TRUE; }
gboolean ph_tls_available (void) { return FALSE; }
void ph_tls_teardown (void) { }
gboolean ph_net_start (GError **error) { return TRUE; }
char **ph_net_describe_listeners (void) { return g_new0 (char *, 1); }
void ph_net_begin_shutdown (void) { }
guint ph_net_connection_count (void) { return 0; }
void ph_net_abort_all (void) { }
void ph_net_teardown (void) { }
