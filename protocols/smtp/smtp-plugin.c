/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The smtp protocol plugin: [smtp] settings and the three services —
 * "smtp" (MX, [smtp] listen), "submission" ([smtp] submission with
 * STARTTLS, submission_tls with implicit TLS) and "lmtp" ([smtp] lmtp). */
#include "smtp-session.h"

#include <string.h>

typedef struct {
  SmtpSettings settings;
  SmtpServiceInfo services[3];
} SmtpPlugin;

static void
smtp_plugin_free (SmtpPlugin *smtp)
{
  g_free (smtp->settings.hostname);
  g_strfreev (smtp->settings.domains);
  g_free (smtp);
}

static void
smtp_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  smtp_session_new (conn, user_data);
}

static const PosthornServiceVTable smtp_service_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = smtp_accept,
};

static gboolean
smtp_read_settings (PosthornPlugin *plugin, SmtpSettings *settings, GError **error)
{
  g_autofree char *bare = NULL;
  guint64 value;

  settings->plugin = plugin;
  if (!posthorn_config_get_string (plugin, "hostname", NULL, &settings->hostname, error))
    return FALSE;
  if (settings->hostname == NULL || *settings->hostname == '\0')
    {
      g_free (settings->hostname);
      settings->hostname = g_strdup (posthorn_core_get_hostname ());
    }
  if (!smtp_domain_is_valid (settings->hostname, strlen (settings->hostname), FALSE, FALSE, NULL))
    {
      posthorn_config_set_error (plugin, "hostname", error, "'%s' is not a domain name",
                                 settings->hostname);
      return FALSE;
    }

  if (!posthorn_config_get_string_list (plugin, "domains", NULL, &settings->domains, error))
    return FALSE;
  if (settings->domains == NULL || settings->domains[0] == NULL)
    {
      g_strfreev (settings->domains);
      settings->domains = g_new0 (char *, 2);
      settings->domains[0] = g_strdup (settings->hostname);
    }
  for (guint i = 0; settings->domains[i] != NULL; i++)
    {
      const char *d = settings->domains[i];
      gboolean literal;

      if (!smtp_domain_is_valid (d, strlen (d), TRUE, TRUE, &literal))
        {
          posthorn_config_set_error (plugin, "domains", error, "'%s' is not a domain name", d);
          return FALSE;
        }
    }

  if (!posthorn_config_get_uint64 (plugin, "max_message_size", 50 * 1024 * 1024, 0,
                                   G_MAXINT64, TRUE, &settings->max_message_size, error))
    return FALSE;
  if (!posthorn_config_get_uint64 (plugin, "max_recipients", 1000, 1, 100000, FALSE,
                                   &value, error))
    return FALSE;
  settings->max_recipients = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "max_bad_commands", 10, 1, 1000, FALSE,
                                   &value, error))
    return FALSE;
  settings->max_bad_commands = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "max_received", 30, 1, 1000, FALSE, &value, error))
    return FALSE;
  settings->max_received = (guint) value;
  if (!posthorn_config_get_string (plugin, "bare_newline", "normal", &bare, error))
    return FALSE;
  if (g_strcmp0 (bare, "normal") == 0)
    settings->bare_newline = SMTP_BARE_NEWLINE_NORMAL;
  else if (g_strcmp0 (bare, "strict") == 0)
    settings->bare_newline = SMTP_BARE_NEWLINE_STRICT;
  else
    {
      posthorn_config_set_error (plugin, "bare_newline", error,
                                 "'%s' is neither normal nor strict", bare);
      return FALSE;
    }
  return posthorn_config_get_boolean (plugin, "allow_sender_mismatch", FALSE,
                                      &settings->allow_sender_mismatch, error);
}

static PosthornService *
smtp_add_service (PosthornPlugin *plugin, SmtpServiceInfo *info, const char *name)
{
  PosthornService *service = posthorn_service_new (plugin, name, &smtp_service_vtable, info);

  posthorn_service_set_defaults (service, SMTP_COMMAND_LINE_MAX, 300);
  posthorn_service_set_refusal_line (service, "421 4.7.0 Too many connections\r\n");
  return service;
}

static gboolean
smtp_init (PosthornPlugin *plugin, GError **error)
{
  SmtpPlugin *smtp = g_new0 (SmtpPlugin, 1);
  PosthornService *service;

  posthorn_plugin_set_data (plugin, smtp, (GDestroyNotify) smtp_plugin_free);
  if (!smtp_read_settings (plugin, &smtp->settings, error))
    return FALSE;

  smtp->services[SMTP_ROLE_MX] = (SmtpServiceInfo) { &smtp->settings, SMTP_ROLE_MX };
  smtp->services[SMTP_ROLE_SUBMISSION] = (SmtpServiceInfo) { &smtp->settings, SMTP_ROLE_SUBMISSION };
  smtp->services[SMTP_ROLE_LMTP] = (SmtpServiceInfo) { &smtp->settings, SMTP_ROLE_LMTP };

  service = smtp_add_service (plugin, &smtp->services[SMTP_ROLE_MX], "smtp");
  if (!posthorn_service_listen_config (service, "listen", "127.0.0.1:25",
                                       POSTHORN_LISTEN_PLAIN, error))
    return FALSE;
  service = smtp_add_service (plugin, &smtp->services[SMTP_ROLE_SUBMISSION], "submission");
  if (!posthorn_service_listen_config (service, "submission", "", POSTHORN_LISTEN_PLAIN, error) ||
      !posthorn_service_listen_config (service, "submission_tls", "",
                                       POSTHORN_LISTEN_IMPLICIT_TLS, error))
    return FALSE;
  service = smtp_add_service (plugin, &smtp->services[SMTP_ROLE_LMTP], "lmtp");
  return posthorn_service_listen_config (service, "lmtp", "", POSTHORN_LISTEN_PLAIN, error);
}

static const char *const smtp_dependencies[] = { NULL };

POSTHORN_PLUGIN_DEFINE (smtp, "smtp", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "0.1.0", "LGPL-2.1-or-later",
                        "SMTP server: MX, submission and LMTP",
                        smtp_dependencies, smtp_init, NULL)
