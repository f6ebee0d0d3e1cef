/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The imap4 protocol plugin: settings from [imap4] and the "imap4"
 * service; every accepted connection becomes an ImapSession. */
#include "imap-session.h"

static void
imap4_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  imap_session_new (conn, user_data);
}

static const PosthornServiceVTable imap4_service_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = imap4_accept,
};

static gboolean
imap4_init (PosthornPlugin *plugin, GError **error)
{
  ImapSettings *settings = g_new0 (ImapSettings, 1);
  PosthornService *service;
  guint64 value;

  posthorn_plugin_set_data (plugin, settings, g_free);
  if (!posthorn_config_get_uint64 (plugin, "max_line_length", 65536, 1024, 16 * 1024 * 1024,
                                   TRUE, &value, error))
    return FALSE;
  settings->max_line_length = (gsize) value;
  if (!posthorn_config_get_uint64 (plugin, "max_literal_size", 65536, 1024, 64 * 1024 * 1024,
                                   TRUE, &value, error))
    return FALSE;
  settings->max_literal_size = (gsize) value;
  if (!posthorn_config_get_uint64 (plugin, "append_limit", 64 * 1024 * 1024, 0,
                                   G_MAXUINT32, TRUE, &settings->append_limit, error))
    return FALSE;
  if (!posthorn_config_get_duration (plugin, "idle_timeout", 30 * 60, &value, error))
    return FALSE;
  settings->idle_timeout = (guint) MIN (value, G_MAXUINT);
  if (!posthorn_config_get_duration (plugin, "login_timeout", 60, &value, error))
    return FALSE;
  settings->login_timeout = (guint) MIN (value, G_MAXUINT);
  if (!posthorn_config_get_duration (plugin, "idle_keepalive", 2 * 60, &value, error))
    return FALSE;
  if (value == 0 || value > G_MAXUINT)
    {
      posthorn_config_set_error (plugin, "idle_keepalive", error,
                                 "must be between 1s and %u seconds", G_MAXUINT);
      return FALSE;
    }
  settings->idle_keepalive = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "notify_max_pending", 1000, 1, 1000000, FALSE,
                                   &value, error))
    return FALSE;
  settings->notify_max_pending = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "quota_storage", 0, 0, G_MAXUINT64 / 2,
                                   TRUE, &settings->quota_storage, error))
    return FALSE;
  if (!posthorn_config_get_uint64 (plugin, "max_bad_commands", 20, 0, G_MAXUINT, FALSE,
                                   &value, error))
    return FALSE;
  settings->max_bad_commands = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "max_preauth_commands", 30, 0, G_MAXUINT, FALSE,
                                   &value, error))
    return FALSE;
  settings->max_preauth_commands = (guint) value;

  service = posthorn_service_new (plugin, "imap4", &imap4_service_vtable, settings);
  posthorn_service_set_defaults (service, settings->max_line_length, settings->login_timeout);
  posthorn_service_set_refusal_line (service, "* BYE Too many connections\r\n");
  if (!posthorn_service_listen_config (service, "listen", "127.0.0.1:143",
                                       POSTHORN_LISTEN_PLAIN, error))
    return FALSE;
  return posthorn_service_listen_config (service, "listen_tls", "",
                                         POSTHORN_LISTEN_IMPLICIT_TLS, error);
}

static const char *const imap4_dependencies[] = { NULL };

POSTHORN_PLUGIN_DEFINE (imap4, "imap4", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "0.1.0", "LGPL-2.1-or-later",
                        "IMAP4rev1 and IMAP4rev2 server",
                        imap4_dependencies, imap4_init, NULL)
