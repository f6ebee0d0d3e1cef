/* Shared between the files of the configuration (config.c,
 * config-parse.c, config-getters.c, config-settings.c). Never installed;
 * the config_* symbols stay local to libposthorn-1.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

G_BEGIN_DECLS

/* The loaded configuration file. */
typedef struct {
  char *file;            /* absolute */
  char *dir;             /* the file's folder, for relative paths */
  GKeyFile *keyfile;
  GHashTable *declared;  /* group → set of keys a getter read */
} PhConfig;

/* The loaded file (config.c); NULL before ph_settings_load() and after
 * ph_settings_clear(). */
extern PhConfig *config_current;

/* config.c: reading keys of the loaded file. Each read declares the key;
 * errors name the file, group and key. */
void config_free (PhConfig *cfg);
void config_set_error_valist (GError **error, const char *group, const char *key,
                              const char *format, va_list args);
void config_declare (const char *group, const char *key);
gboolean config_lookup_string (const char *group, const char *key, char **out_value, GError **error);
gboolean config_lookup_list (const char *group, const char *key, GStrv *out_value, GError **error);
gboolean config_get_uint64 (const char *group, const char *key, guint64 default_value,
                            guint64 min, guint64 max, gboolean allow_size_suffix,
                            guint64 *out_value, GError **error);
gboolean config_get_uint (const char *group, const char *key, guint default_value,
                          guint min, guint max, guint *out_value, GError **error);
gboolean config_get_duration_ms (const char *group, const char *key, guint64 default_ms,
                                 guint64 max_ms, guint64 *out_ms, GError **error);
gboolean config_get_choice (const char *group, const char *key, const char *default_value,
                            const char *const *choices, char **out_value, GError **error);
char *config_resolve_path (const char *value);
gboolean config_check_path (const char *group, const char *key, const char *path,
                            PosthornPathCheck check, GError **error);
gboolean config_get_path (const char *group, const char *key, const char *default_value,
                          PosthornPathCheck check, char **out_value, GError **error);
G_END_DECLS
