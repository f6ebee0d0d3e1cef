/* Built for a newer ABI minor than ours: it may use what we lack. */
#include <posthorn/posthorn.h>

POSTHORN_PLUGIN_EXPORT extern const PosthornPluginDescriptor posthorn_plugin_newer_minor;
POSTHORN_PLUGIN_EXPORT const PosthornPluginDescriptor posthorn_plugin_newer_minor = {
  POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR + 1, (guint32) sizeof (PosthornPluginDescriptor),
  "newer-minor", POSTHORN_PLUGIN_KIND_FILTER, "1", "LGPL-2.1-or-later",
  "test plugin for a newer minor", NULL, NULL, NULL,
};
