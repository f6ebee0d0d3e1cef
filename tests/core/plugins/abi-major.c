/* Built for the next ABI major: refused before anything else is read. */
#include <posthorn/posthorn.h>

POSTHORN_PLUGIN_EXPORT extern const PosthornPluginDescriptor posthorn_plugin_abi_major;
POSTHORN_PLUGIN_EXPORT const PosthornPluginDescriptor posthorn_plugin_abi_major = {
  POSTHORN_ABI_MAJOR + 1, 0, (guint32) sizeof (PosthornPluginDescriptor),
  "abi-major", POSTHORN_PLUGIN_KIND_FILTER, "1", "LGPL-2.1-or-later",
  "test plugin from the future", NULL, NULL, NULL,
};
