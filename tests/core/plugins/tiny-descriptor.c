/* Claims a descriptor of only the three guarding fields. */
#include <posthorn/posthorn.h>

POSTHORN_PLUGIN_EXPORT extern const PosthornPluginDescriptor posthorn_plugin_tiny_descriptor;
POSTHORN_PLUGIN_EXPORT const PosthornPluginDescriptor posthorn_plugin_tiny_descriptor = {
  POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR, 3 * sizeof (guint32),
  "tiny-descriptor", POSTHORN_PLUGIN_KIND_FILTER, "1", "LGPL-2.1-or-later",
  "test plugin with a short descriptor", NULL, NULL, NULL,
};
