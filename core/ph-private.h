/* Internal interfaces between the core's modules. Never installed.
 *
 * Symbols named ph_* are exported from libposthorn-1.so in the
 * POSTHORN_PRIVATE version node for posthornd, posthornctl and the test
 * suite only; they are not part of the plugin ABI and may change at any
 * time. Everything a plugin may call is posthorn_* and declared in
 * include/posthorn/.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#ifndef POSTHORN_COMPILATION
#define POSTHORN_COMPILATION
#endif
#include <posthorn/posthorn.h>

G_BEGIN_DECLS

/* ---- settings (config.c): [core], [tls], [auth] and [dbus] ---- */

typedef struct {
  char *config_file;            /* absolute path of the keyfile */
  char *state_dir;              /* [core] state_dir */
  char *user;                   /* [core] user, NULL = do not drop */
  char **plugins;               /* [core] plugins */
  char **plugin_dirs;           /* [core] plugin_dir */
  char *log_level;              /* [core] log_level: error|warning|info|debug */
  guint max_connections;        /* [core] max_connections (default 20000) */
  guint max_connections_per_ip; /* [core] max_connections_per_ip (default 100) */
  guint shutdown_grace;         /* [core] shutdown_grace seconds (default 10) */
  guint worker_threads;         /* [core] worker_threads (0 = automatic) */
  char *tls_certificate;        /* [tls] certificate; NULL = no TLS */
  char *tls_key;                /* [tls] key */
  char *tls_priority;           /* [tls] priority (GnuTLS priority string) */
  char *auth_allow_plaintext;   /* [auth] allow_plaintext: tls|always (default tls:
                                 * plaintext mechanisms only over TLS or loopback) */
  guint auth_failure_delay_ms;     /* [auth] failure_delay (first delay, default 500 ms) */
  guint auth_failure_delay_max_ms; /* [auth] failure_delay_max (cap, default 15 s) */
  guint auth_max_failures;         /* [auth] max_failures per connection before it is
                                    * closed (default 5) */
  char *dbus_bus;               /* [dbus] bus: system|session|none */
  char *ports_file;             /* posthornd --ports-file (tests) */
} PhSettings;

/* The daemon's settings; valid after ph_daemon_load(). */
const PhSettings *ph_settings (void);

/* ---- the daemon (daemon.c) ---- */

/* Reads @config_file, sets up logging, TLS credentials, loads and inits
 * every plugin in dependency order and rejects unknown keys. Nothing
 * listens yet. On failure @error holds the one-line reason. */
gboolean ph_daemon_load (const char *config_file, const char *ports_file, GError **error);
/* Binds every listener, drops privileges, tells systemd it is ready. */
gboolean ph_daemon_start (GError **error);
/* Runs the main loop until SIGTERM/SIGINT and a graceful shutdown. */
int ph_daemon_run (void);
/* Shuts plugins down (reverse order) and frees everything. */
void ph_daemon_unload (void);
/* SIGHUP / D-Bus Reload(): TLS credentials and every plugin's reload. */
gboolean ph_daemon_reload (GError **error);

/* ---- networking (net/) ---- */

/* Loads the [tls] credentials (no-op without a certificate). */
gboolean ph_tls_setup (GError **error);
/* Loads them again; on failure the old ones stay and @error says why. */
gboolean ph_tls_reload (GError **error);
gboolean ph_tls_available (void);
void ph_tls_teardown (void);

/* Binds every listener the services asked for; writes --ports-file. */
gboolean ph_net_start (GError **error);
/* "imap4 127.0.0.1:143 plain" lines for --check-config (free with g_strfreev). */
char **ph_net_describe_listeners (void);
/* Stops accepting; asks every connection to shut down. */
void ph_net_begin_shutdown (void);
guint ph_net_connection_count (void);
/* Aborts every connection still open. */
void ph_net_abort_all (void);
/* Frees services and listeners (after plugins shut down). */
void ph_net_teardown (void);

/* ---- plugins (plugin-loader.c) ---- */

typedef struct _PhPluginInfo {
  const char *name;
  const char *kind;     /* "protocol", "storage", "auth", "filter" */
  const char *version;
  const char *state;    /* "loaded", "running", "failed" */
} PhPluginInfo;

/* The loaded plugins in load order (array of PhPluginInfo, owned). */
GArray *ph_plugins_list (void);

G_END_DECLS
