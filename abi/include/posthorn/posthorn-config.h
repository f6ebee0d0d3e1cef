/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <glib.h>
#include <posthorn/posthorn-plugin.h>

G_BEGIN_DECLS

/* A plugin's configuration is the keyfile group named like the plugin
 * ([imap4], [storage-sqlite]). Each getter reads one key of that group and
 * thereby declares it: after every plugin's init the core refuses to start
 * if the group holds a key no getter asked for. A missing key yields the
 * default. A bad value fails with POSTHORN_ERROR_CONFIG and a message that
 * names the file, the group, the key and the problem, e.g.
 *
 *   /etc/posthorn/posthorn.conf: [smtp] max_message_size: 'ten' is not a number
 *
 * A value may be followed by a comment: " # ..." (a '#' after a space or
 * tab) ends it. Strings are unescaped like GKeyFile does (\s \n \t \r \\).
 *
 * The getters are meant for init (and for reload); they are not thread-safe. */

gboolean posthorn_config_get_string (PosthornPlugin *plugin,
                                     const char *key,
                                     const char *default_value,
                                     char **out_value,
                                     GError **error);

/* A ';'-separated list. An empty value gives an empty list (not the default). */
gboolean posthorn_config_get_string_list (PosthornPlugin *plugin,
                                          const char *key,
                                          const char *const *default_value,
                                          GStrv *out_value,
                                          GError **error);

gboolean posthorn_config_get_boolean (PosthornPlugin *plugin,
                                      const char *key,
                                      gboolean default_value,
                                      gboolean *out_value,
                                      GError **error);

/* A decimal number within [@min, @max]. Size suffixes k, M, G (powers of
 * 1024) are accepted when @allow_size_suffix is TRUE. */
gboolean posthorn_config_get_uint64 (PosthornPlugin *plugin,
                                     const char *key,
                                     guint64 default_value,
                                     guint64 min,
                                     guint64 max,
                                     gboolean allow_size_suffix,
                                     guint64 *out_value,
                                     GError **error);

/* A duration in seconds: "90", "90s", "15m", "2h", "5d" (also "1.5m" or
 * "2000ms" when the result is whole seconds). */
gboolean posthorn_config_get_duration (PosthornPlugin *plugin,
                                       const char *key,
                                       guint64 default_seconds,
                                       guint64 *out_seconds,
                                       GError **error);

typedef enum {
  POSTHORN_PATH_ANY = 0,
  POSTHORN_PATH_FILE_EXISTS = 1 << 0,  /* a readable regular file */
  POSTHORN_PATH_DIR_EXISTS = 1 << 1,   /* a directory */
  POSTHORN_PATH_PARENT_EXISTS = 1 << 2 /* the containing directory exists */
} PosthornPathCheck;

/* An absolute path (relative ones are resolved against the config file's
 * directory), checked as @check says. A key set to an empty value means
 * "none": *@out_value is NULL and nothing is checked. */
gboolean posthorn_config_get_path (PosthornPlugin *plugin,
                                   const char *key,
                                   const char *default_value,
                                   PosthornPathCheck check,
                                   char **out_value,
                                   GError **error);

/* Declares a key the plugin reads some other way, so it is not "unknown". */
void posthorn_config_declare_key (PosthornPlugin *plugin, const char *key);

/* TRUE if the plugin's group sets @key. */
gboolean posthorn_config_has_key (PosthornPlugin *plugin, const char *key);

/* Sets @error to a config error about @key in the plugin's group, in the
 * same one-line form as the getters use, for checks only the plugin can do. */
void posthorn_config_set_error (PosthornPlugin *plugin,
                                const char *key,
                                GError **error,
                                const char *format,
                                ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
