/* pop3.so: the POP3 service (RFC 1939, 2449, 2595, 5034).
 *
 * [pop3]
 *   listen=*:110        plaintext listeners (STLS offered with a certificate)
 *   listen_tls=         implicit-TLS listeners, e.g. *:995 (none by default)
 *   idle_timeout=10m    autologout timer (RFC 1939: at least 10 minutes)
 *   max_bad_commands=20 the 20th invalid command in a row is answered
 *                       "-ERR Too many invalid commands" and the
 *                       connection closed (0: no limit)
 *   max_preauth_commands=30
 *                       commands allowed before a successful login; the
 *                       next one closes the connection (0: no limit)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-session.h"

static const PosthornServiceVTable pop3_service_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = pop3_session_accept,
};

static gboolean
pop3_init (PosthornPlugin *plugin, GError **error)
{
  Pop3Settings *settings = g_new0 (Pop3Settings, 1);
  PosthornService *service;
  guint64 idle_timeout;
  guint64 value;

  posthorn_plugin_set_data (plugin, settings, g_free);
  if (!posthorn_config_get_duration (plugin, "idle_timeout", 600, &idle_timeout, error))
    return FALSE;
  if (!posthorn_config_get_uint64 (plugin, "max_bad_commands", POP3_DEFAULT_MAX_BAD_COMMANDS,
                                   0, G_MAXUINT, FALSE, &value, error))
    return FALSE;
  settings->max_bad_commands = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "max_preauth_commands",
                                   POP3_DEFAULT_MAX_PREAUTH_COMMANDS, 0, G_MAXUINT, FALSE, &value,
                                   error))
    return FALSE;
  settings->max_preauth_commands = (guint) value;
  if (idle_timeout == 0 || idle_timeout > G_MAXUINT)
    {
      posthorn_config_set_error (plugin, "idle_timeout", error,
                                 "must be between 1 second and %u seconds", G_MAXUINT);
      return FALSE;
    }
  service = posthorn_service_new (plugin, "pop3", &pop3_service_vtable, settings);
  posthorn_service_set_defaults (service, POP3_MAX_LINE, (guint) idle_timeout);
  posthorn_service_set_refusal_line (service, "-ERR [SYS/TEMP] Too many connections\r\n");
  return posthorn_service_listen_config (service, "listen", "*:110",
                                         POSTHORN_LISTEN_PLAIN, error) &&
         posthorn_service_listen_config (service, "listen_tls", NULL,
                                         POSTHORN_LISTEN_IMPLICIT_TLS, error);
}

POSTHORN_PLUGIN_DEFINE (pop3, "pop3", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        PACKAGE_VERSION, "LGPL-2.1-or-later",
                        "POP3 server (RFC 1939, CAPA, STLS, SASL AUTH)",
                        NULL, pop3_init, NULL)
