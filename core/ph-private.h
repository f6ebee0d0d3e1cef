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
  gboolean max_connections_set; /* the key is in the file (else the default
                                 * gives way to RLIMIT_NOFILE, see net/) */
  guint max_connections_per_ip; /* [core] max_connections_per_ip (default 100) */
  guint max_sessions_per_user;  /* [core] max_sessions_per_user: authenticated
                                 * sessions of one user, all protocols
                                 * (default 100, 0 = no limit) */
  guint max_sessions_per_user_ip; /* [core] max_sessions_per_user_ip: the same
                                   * from one client address (default 50) */
  guint shutdown_grace;         /* [core] shutdown_grace seconds (default 10) */
  guint worker_threads;         /* [core] worker_threads (0 = automatic) */
  char *tls_certificate;        /* [tls] certificate; NULL = no TLS */
  char *tls_key;                /* [tls] key */
  char *tls_priority;           /* [tls] priority (GnuTLS priority string, checked;
                                 * NULL = the TLS layer's default) */
  char *auth_allow_plaintext;   /* [auth] allow_plaintext: tls|always (default tls:
                                 * plaintext mechanisms only over TLS or loopback) */
  guint auth_failure_delay_ms;     /* [auth] failure_delay (first delay, default 500 ms) */
  guint auth_failure_delay_max_ms; /* [auth] failure_delay_max (cap, default 15 s) */
  guint auth_max_failures;         /* [auth] max_failures per connection before it is
                                    * closed (default 5) */
  char *dbus_bus;               /* [dbus] bus: system|session|none */
  char *ports_file;             /* posthornd --ports-file (tests) */
} PhSettings;

/* The daemon's settings; valid after ph_daemon_load() (before it, every
 * field is 0 or NULL). */
const PhSettings *ph_settings (void);

/* Reads @config_file (relative paths in it resolve against its directory),
 * checks [core], [tls], [auth] and [dbus] into ph_settings(), creates
 * state_dir and rejects unknown groups (a group that is neither a core one
 * nor an enabled plugin's name). Plugins are not loaded: their groups are
 * read later through posthorn_config_*(). On failure @error
 * (POSTHORN_ERROR_CONFIG) is the one line "FILE: [GROUP] KEY: PROBLEM". */
gboolean ph_settings_load (const char *config_file, const char *ports_file, GError **error);
/* Reads the same file again (SIGHUP, D-Bus Reload()). On success the
 * plugins' getters see the new values, and so do ph_settings()'s log
 * level, connection limits, shutdown grace, [tls] and [auth]; a changed
 * [core] plugins, plugin_dir, state_dir, user, worker_threads or [dbus]
 * bus only logs a warning (it takes a restart) and keeps its old value.
 * On failure (bad file, or a plugin group key no plugin declared) nothing
 * changes and @error is the one-line reason. Strings ph_settings() handed
 * out before stay valid until ph_settings_clear(). */
gboolean ph_settings_reload (GError **error);
/* Forgets the loaded configuration and settings. */
void ph_settings_clear (void);

/* Fails with "FILE: [GROUP] KEY: unknown key" for the first key of @group
 * that no posthorn_config_*() getter read or declared. */
gboolean ph_config_check_declared (const char *group, GError **error);

/* Sets @error (POSTHORN_ERROR_CONFIG) to "FILE: [GROUP] KEY: PROBLEM", or
 * "FILE: [GROUP]: PROBLEM" when @key is NULL. */
void ph_config_set_error (GError **error, const char *group, const char *key,
                          const char *format, ...) G_GNUC_PRINTF (4, 5);

/* The value parsers behind the getters: pure, for table tests. A number is
 * decimal digits, optionally followed (when @allow_size_suffix) by k, M or G
 * (powers of 1024). A duration is a decimal number with an optional
 * fraction and a unit ms, s, m, h or d (no unit: seconds), e.g. "500ms",
 * "0.5s", "15m". A boolean is true|false|yes|no|on|off|1|0. */
gboolean ph_config_parse_uint64 (const char *text, gboolean allow_size_suffix,
                                 guint64 *out_value);
gboolean ph_config_parse_duration_ms (const char *text, guint64 *out_ms);
gboolean ph_config_parse_boolean (const char *text, gboolean *out_value);

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
/* SIGHUP / D-Bus Reload(): the config file (ph_settings_reload()), TLS
 * credentials and every plugin's reload. On failure @error is one line,
 * "reload failed: ..." naming each part that failed (and it is logged). */
gboolean ph_daemon_reload (GError **error);
/* POSTHORN_SYSCONFDIR/posthorn/posthorn.conf: where posthornd looks without -c. */
const char *ph_daemon_default_config_file (void);
/* posthornd --check-config: ph_daemon_load() then switches to [core] user
 * (when started as root and the key names another user) after reading the
 * config and TLS files and before the plugins initialise, so that nothing
 * they create is left owned by root. Call before ph_daemon_load(). */
void ph_daemon_set_check_only (gboolean enabled);
/* posthornd --log-level: overrides [core] log_level; call before
 * ph_daemon_load(). NULL removes the override. */
void ph_daemon_set_log_level (const char *level);

/* log.c: installs the structured log writer (journald when stderr is the
 * journal, else "LEVEL DOMAIN: message" lines on stderr) and sets the
 * level: error|warning|info|debug. May be called again to change it. */
void ph_log_setup (const char *level);
/* TRUE for error, warning, info and debug. */
gboolean ph_log_level_is_valid (const char *level);

/* worker.c: waits for running and queued work items and frees the pools
 * (the next posthorn_worker_run() creates a new one). */
void ph_worker_shutdown (void);
/* Like posthorn_worker_run() (finish with posthorn_worker_finish()), on a
 * second pool of the same size kept for work that waits on a store's
 * write lock: writers queued behind one commit never hold every thread
 * while reads (FETCH, SELECT, SEARCH) wait for one. */
void ph_worker_run_write (PosthornWorkerFunc func, gpointer data, GDestroyNotify data_free,
                          GDestroyNotify result_free, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);

/* ---- networking (net/) ---- */

/* Loads the [tls] credentials (no-op without a certificate). */
gboolean ph_tls_setup (GError **error);
/* Loads them again; on failure the old ones stay and @error says why. */
gboolean ph_tls_reload (GError **error);
gboolean ph_tls_available (void);
void ph_tls_teardown (void);

/* systemd socket activation (sd_listen_fds(3), without libsystemd): when
 * $LISTEN_PID is this process, takes the $LISTEN_FDS listening sockets from
 * fd 3 on (named by $LISTEN_FDNAMES) and unsets the three variables. Call
 * once, early in main(), before any thread starts (it changes the
 * environment). ph_net_start() uses a passed socket instead of binding a
 * listener whose address it is bound to, and warns about and closes the
 * passed sockets no listener matches. */
void ph_net_take_listen_fds (void);
/* Binds every listener the services asked for (or takes the socket systemd
 * passed for it); writes --ports-file. */
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

/* One listener address as written in a listen key: "127.0.0.1:143",
 * "[::1]:993", "*:25" (every IPv4 and IPv6 address) or "unix:/run/x.sock".
 * ph_listen_address_parse() is a pure parser (no name lookups, no I/O);
 * on failure it returns FALSE and sets @error_message to a short reason
 * ("'143x' is not a port number"). */
typedef enum {
  PH_LISTEN_INET4,
  PH_LISTEN_INET6,
  PH_LISTEN_ANY,
  PH_LISTEN_UNIX,
} PhListenFamily;

typedef struct {
  PhListenFamily family;
  char *address;  /* normalised: "127.0.0.1", "::1", "*" or the socket path */
  guint16 port;   /* 0 for unix sockets (and ephemeral TCP ports) */
} PhListenAddress;

gboolean ph_listen_address_parse (const char *text,
                                  PhListenAddress *out,
                                  char **error_message);
void ph_listen_address_clear (PhListenAddress *address);
/* TRUE if both cannot be bound at once: the same address and port, or a
 * wildcard ("*", "0.0.0.0", "::") and an address of its family on the same
 * port, or the same unix path. Port 0 never conflicts. */
gboolean ph_listen_address_conflicts (const PhListenAddress *a,
                                      const PhListenAddress *b);
/* "127.0.0.1:143", "[::1]:993", "*:25", "unix:/path" (free with g_free). */
char *ph_listen_address_to_string (const PhListenAddress *address);

/* For the D-Bus status interface.
 *
 * ph_net_counters(): every per-service counter, keys "SERVICE.COUNTER"
 * ("imap4.connections", "pop3.logins_failed"), values guint64 * (owned by
 * the net area, valid until ph_net_teardown(); do not modify). The core
 * keeps "connections" (accepted), "connections_refused" (over a limit) and
 * "tls_handshakes_failed"; plugins add theirs with
 * posthorn_connection_count().
 *
 * ph_net_sessions(): a new array of the open sessions (a reference on each,
 * released by the array's free function), in no particular order; connections
 * still in their implicit-TLS handshake are not listed. Read them with the
 * posthorn_connection_get_*() accessors plus the two below. */
GHashTable *ph_net_counters (void);
GPtrArray *ph_net_sessions (void);
/* The word set with posthorn_connection_set_state() (initially "new"). */
const char *ph_net_connection_get_state (PosthornConnection *conn);
/* When the connection was accepted, in unix seconds. */
gint64 ph_net_connection_get_start_time (PosthornConnection *conn);
/* Whether @conn may become a session of @user ([core] max_sessions_per_user
 * and max_sessions_per_user_ip): counts the open connections whose user is
 * @user (posthorn_connection_set_user()), @conn itself not included; if
 * not, @reason names the key that was reached. */
gboolean ph_net_user_sessions_allow (PosthornConnection *conn, const char *user,
                                     const char **reason);
/* Asks one connection to close the way daemon shutdown does: its
 * handler's shutdown callback (the protocol's goodbye), or a close. */
void ph_net_connection_shutdown (PosthornConnection *conn);

/* ---- plugins (plugin-loader.c) ---- */

typedef struct _PhPluginInfo {
  const char *name;
  const char *kind;     /* "protocol", "storage", "auth", "filter" */
  const char *version;
  const char *state;    /* "loaded", "running", "failed" */
} PhPluginInfo;

/* The loaded plugins in load order (array of PhPluginInfo; free the array
 * with g_array_unref(), the strings belong to the loader). */
GArray *ph_plugins_list (void);

/* Loads every [core] plugins entry from the [core] plugin_dir folders,
 * checks descriptors and dependencies, and calls each init in dependency
 * order. On failure @error (POSTHORN_ERROR_PLUGIN, or the plugin's
 * POSTHORN_ERROR_CONFIG error as is) is one line "plugin 'NAME': ...";
 * plugins already initialised stay loaded until ph_plugins_unload(). */
gboolean ph_plugins_load (GError **error);
/* Calls every initialised plugin's shutdown in reverse order, then frees
 * the data attached with posthorn_plugin_set_data(). */
void ph_plugins_shutdown (void);
/* Closes the modules and forgets every plugin (after ph_plugins_shutdown()
 * and after whatever points into plugin code is gone). */
void ph_plugins_unload (void);
/* Calls every plugin's reload function in load order; on failures @error
 * names each plugin that failed and why. */
gboolean ph_plugins_reload (GError **error);
/* The loaded plugin named @name, or NULL. */
PosthornPlugin *ph_plugin_lookup (const char *name);

/* ---- messages (mime/) ---- */

/* posthorn_message_extract_search_text() with at most @max bytes of body
 * text and of header text: a part is decoded only as far as the room
 * left needs, so the work is bounded however big the message is.
 * *@complete (may be NULL) is FALSE when something was left out. */
gboolean ph_mime_extract_search_text (PosthornMessage *msg, PosthornMessageInfo *info, gsize max,
                                      char **body_text, char **all_text, gboolean *complete,
                                      GError **error);

/* ---- the status interface (dbus/) ---- */

/* Records the start time and, unless [dbus] bus=none, connects to the bus
 * and owns org.posthorn.Posthorn1 in the background. Never fails: when the
 * bus or the name is unavailable it logs one warning and mail goes on. */
void ph_dbus_start (void);
/* Leaves the bus and forgets the status state (plugin properties, core
 * counters). */
void ph_dbus_stop (void);

/* Sets what posthorn_core_get_hostname() returns (the smtp plugin's
 * [smtp] hostname); NULL goes back to the system host name. */
void ph_core_set_hostname (const char *hostname);

G_END_DECLS
