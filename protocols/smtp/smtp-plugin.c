/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The smtp protocol plugin: [smtp] settings and the three services —
 * "smtp" (MX, [smtp] listen), "submission" ([smtp] submission with
 * STARTTLS, submission_tls with implicit TLS) and "lmtp" ([smtp] lmtp). */
#include "smtp-session.h"
#include "smtp-client.h"
#include "smtp-queue.h"

#include <string.h>

typedef struct {
  SmtpSettings settings;
  SmtpServiceInfo services[3];
} SmtpPlugin;

static void
smtp_plugin_free (SmtpPlugin *smtp)
{
  g_clear_pointer (&smtp->settings.queue, smtp_queue_free);
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
  if (!posthorn_config_get_uint64 (plugin, "max_junk_commands", 100, 1, 100000, FALSE,
                                   &value, error))
    return FALSE;
  settings->max_junk_commands = (guint) value;
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
  if (!posthorn_config_get_duration (plugin, "filter_timeout", 30, &value, error))
    return FALSE;
  if (value == 0 || value > 3600)
    {
      posthorn_config_set_error (plugin, "filter_timeout", error,
                                 "must be between 1 s and 1 h");
      return FALSE;
    }
  settings->filter_timeout = (guint) value;
  return posthorn_config_get_boolean (plugin, "allow_sender_mismatch", FALSE,
                                      &settings->allow_sender_mismatch, error);
}

/* relayhost_auth: "user:password", or the path of a file (mode 0600
 * advised) holding that on its first line. */
static gboolean
smtp_read_relay_auth (PosthornPlugin *plugin, SmtpQueueConfig *config, GError **error)
{
  g_autofree char *value = NULL;
  g_autofree char *content = NULL;
  const char *pair;
  const char *colon;

  if (!posthorn_config_get_string (plugin, "relayhost_auth", "", &value, error))
    return FALSE;
  if (value == NULL || *value == '\0')
    return TRUE;
  pair = value;
  if (value[0] == '/')
    {
      g_autoptr(GError) local = NULL;
      char *nl;

      if (!g_file_get_contents (value, &content, NULL, &local))
        {
          posthorn_config_set_error (plugin, "relayhost_auth", error, "%s", local->message);
          return FALSE;
        }
      if ((nl = strchr (content, '\n')) != NULL)
        *nl = '\0';
      pair = content;
    }
  colon = strchr (pair, ':');
  if (colon == NULL || colon == pair)
    {
      posthorn_config_set_error (plugin, "relayhost_auth", error,
                                 "expected user:password (or a file holding that)");
      return FALSE;
    }
  config->relayhost_user = g_strndup (pair, (gsize) (colon - pair));
  config->relayhost_password = g_strdup (colon + 1);
  return TRUE;
}

static gboolean
smtp_read_queue_config (PosthornPlugin *plugin, SmtpQueueConfig *config, GError **error)
{
  g_auto (GStrv) transport = NULL;
  guint64 value;

  config->dir = g_build_filename (posthorn_core_get_state_dir (), "smtp-queue", NULL);
  config->transport = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!posthorn_config_get_string (plugin, "relayhost", "", &config->relayhost, error))
    return FALSE;
  if (config->relayhost != NULL && *config->relayhost == '\0')
    g_clear_pointer (&config->relayhost, g_free);
  if (config->relayhost != NULL)
    {
      g_autofree char *host = NULL;
      guint16 port;

      if (!smtp_client_parse_hostport (config->relayhost, &host, &port))
        {
          posthorn_config_set_error (plugin, "relayhost", error, "'%s' is not host:port",
                                     config->relayhost);
          return FALSE;
        }
    }
  if (!smtp_read_relay_auth (plugin, config, error))
    return FALSE;
  if (!posthorn_config_get_string_list (plugin, "transport", NULL, &transport, error))
    return FALSE;
  for (guint i = 0; transport != NULL && transport[i] != NULL; i++)
    {
      const char *colon = strchr (transport[i], ':');
      g_autofree char *host = NULL;
      guint16 port;

      if (colon == NULL || colon == transport[i] ||
          !smtp_client_parse_hostport (colon + 1, &host, &port))
        {
          posthorn_config_set_error (plugin, "transport", error,
                                     "'%s' is not domain:host:port", transport[i]);
          return FALSE;
        }
      g_hash_table_insert (config->transport,
                           g_ascii_strdown (transport[i], (gssize) (colon - transport[i])),
                           g_strdup (colon + 1));
    }
  if (!posthorn_config_get_duration (plugin, "queue_lifetime", 5 * 24 * 3600,
                                     &config->lifetime, error) ||
      !posthorn_config_get_duration (plugin, "delay_warning", 4 * 3600,
                                     &config->delay_warning, error) ||
      !posthorn_config_get_duration (plugin, "retry_min", 5 * 60, &config->retry_min, error) ||
      !posthorn_config_get_duration (plugin, "retry_max", 3600, &config->retry_max, error))
    return FALSE;
  config->retry_min = MAX (config->retry_min, 1);
  config->retry_max = MAX (config->retry_max, config->retry_min);
  if (!posthorn_config_get_uint64 (plugin, "outbound_concurrency", 20, 1, 1000, FALSE,
                                   &value, error))
    return FALSE;
  config->concurrency = (guint) value;
  if (!posthorn_config_get_uint64 (plugin, "destination_concurrency", 5, 1, 1000, FALSE,
                                   &value, error))
    return FALSE;
  config->domain_concurrency = (guint) value;
  if (!posthorn_config_get_duration (plugin, "outbound_timeout", 60, &value, error))
    return FALSE;
  config->timeout = (guint) CLAMP (value, 1, 3600);
  /* what submission may fill the queue with (0: no limit); DSNs always fit */
  if (!posthorn_config_get_uint64 (plugin, "queue_max_messages", 100000, 0, G_MAXUINT32, FALSE,
                                   &config->max_messages, error) ||
      !posthorn_config_get_uint64 (plugin, "queue_max_size", G_GUINT64_CONSTANT (4) << 30, 0,
                                   G_MAXUINT64, TRUE, &config->max_bytes, error))
    return FALSE;
  return TRUE;
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
  {
    SmtpQueueConfig config = { 0 };

    if (!smtp_read_queue_config (plugin, &config, error))
      {
        g_hash_table_unref (config.transport);
        g_free (config.dir);
        g_free (config.relayhost);
        g_free (config.relayhost_user);
        g_free (config.relayhost_password);
        return FALSE;
      }
    smtp->settings.queue = smtp_queue_new (&smtp->settings, &config, error);
    if (smtp->settings.queue == NULL)
      return FALSE;
    smtp_queue_start (smtp->settings.queue);
  }

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
