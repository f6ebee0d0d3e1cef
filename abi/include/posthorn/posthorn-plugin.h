/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  POSTHORN_PLUGIN_KIND_PROTOCOL = 1,
  POSTHORN_PLUGIN_KIND_STORAGE = 2,
  POSTHORN_PLUGIN_KIND_AUTH = 3,
  POSTHORN_PLUGIN_KIND_FILTER = 4,
} PosthornPluginKind;

/* The core's handle for one loaded plugin. Opaque. */
typedef struct _PosthornPlugin PosthornPlugin;

/* Called once, in dependency order, after every plugin's descriptor was
 * checked and before anything listens. The plugin reads its configuration
 * group with posthorn_config_*() (reading a key declares it: a key nobody
 * read is an "unknown key" start-up error), registers what it provides
 * (services, stores, auth backends, filters) and returns FALSE with @error
 * set if it cannot work. */
typedef gboolean (*PosthornPluginInitFunc) (PosthornPlugin *plugin,
                                            GError **error);

/* Called once at exit, in reverse dependency order, after every connection
 * is closed. */
typedef void (*PosthornPluginShutdownFunc) (PosthornPlugin *plugin);

/* The descriptor a plugin exports as `posthorn_plugin_NAME` (NAME is the
 * file name without ".so", '-' replaced by '_'). The first three fields
 * protect the rest: the loader reads nothing else before checking them.
 * Later ABI minors may append fields; struct_size tells which exist. */
typedef struct {
  guint32 abi_major;
  guint32 abi_minor;
  guint32 struct_size;
  const char *name;                     /* "storage-sqlite"; equals the file name */
  PosthornPluginKind kind;
  const char *version;                  /* the plugin's own release */
  const char *license;                  /* SPDX identifier */
  const char *description;              /* one line */
  const char *const *dependencies;      /* NULL-terminated plugin names, or NULL */
  PosthornPluginInitFunc init;
  PosthornPluginShutdownFunc shutdown;  /* may be NULL */
} PosthornPluginDescriptor;

#define POSTHORN_PLUGIN_EXPORT __attribute__ ((visibility ("default")))

/* Defines the descriptor. @c_name is the plugin name with '-' as '_':
 *
 *   static const char *const deps[] = { "storage-sqlite", NULL };
 *   POSTHORN_PLUGIN_DEFINE (pop3, "pop3", POSTHORN_PLUGIN_KIND_PROTOCOL,
 *                           "1.0", "LGPL-2.1-or-later", "POP3 server",
 *                           NULL, pop3_init, pop3_shutdown)
 */
#define POSTHORN_PLUGIN_DEFINE(c_name, name, kind, version, license,         \
                               description, dependencies, init, shutdown)    \
  POSTHORN_PLUGIN_EXPORT extern const PosthornPluginDescriptor               \
    posthorn_plugin_##c_name;                                                \
  POSTHORN_PLUGIN_EXPORT const PosthornPluginDescriptor                      \
    posthorn_plugin_##c_name = {                                             \
      POSTHORN_ABI_MAJOR, POSTHORN_ABI_MINOR,                                \
      (guint32) sizeof (PosthornPluginDescriptor),                           \
      name, kind, version, license, description, dependencies,               \
      init, shutdown,                                                        \
    };

/* The plugin's name, as in its descriptor. */
const char *posthorn_plugin_get_name (PosthornPlugin *plugin);

/* Attaches the plugin's private state; @destroy runs after shutdown. */
void posthorn_plugin_set_data (PosthornPlugin *plugin,
                               gpointer data,
                               GDestroyNotify destroy);
gpointer posthorn_plugin_get_data (PosthornPlugin *plugin);

/* Called on SIGHUP and D-Bus Reload(): re-read what the plugin can re-read
 * without dropping sessions (users file, certificates). Return FALSE with
 * @error set to keep the old state and report why. */
typedef gboolean (*PosthornPluginReloadFunc) (PosthornPlugin *plugin, GError **error);
void posthorn_plugin_set_reload_func (PosthornPlugin *plugin,
                                      PosthornPluginReloadFunc reload);

/* The daemon's state directory ([core] state_dir), an absolute path that
 * exists and is writable by the daemon. Plugins keep their files under it
 * unless configured otherwise. */
const char *posthorn_core_get_state_dir (void);

/* The name this host calls itself (SMTP greeting, Received: lines):
 * [smtp] hostname if set, else the system host name. */
const char *posthorn_core_get_hostname (void);

/* The release version of the running core, e.g. "0.1.0". */
const char *posthorn_core_get_version (void);

G_END_DECLS
