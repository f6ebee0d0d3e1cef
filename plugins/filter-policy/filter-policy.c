/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* filter-policy: envelope and header rules every small mail server wants,
 * as a filter plugin (posthorn-filter.h). See README.md. */
#include <posthorn/posthorn.h>

#include "policy-rules.h"

#include <string.h>

typedef struct {
  GStrv local_domains;
  PolicyAction local_sender_action;
  GStrv require_headers;
  GArray *size_limits;           /* of PolicySizeLimit */
  gboolean add_header;
} FilterPolicy;

static void
filter_policy_free (FilterPolicy *policy)
{
  g_strfreev (policy->local_domains);
  g_strfreev (policy->require_headers);
  g_clear_pointer (&policy->size_limits, g_array_unref);
  g_free (policy);
}

/* Spoofing rules apply to sessions without AUTH, except LMTP (its client
 * is the trusted MTA in front of us). */
static gboolean
filter_policy_unauthenticated (PosthornFilterContext *ctx)
{
  return posthorn_filter_context_get_user (ctx) == NULL &&
         g_strcmp0 (posthorn_filter_context_get_service (ctx), "lmtp") != 0;
}

static gboolean
filter_policy_spoofed (FilterPolicy *policy, PosthornFilterContext *ctx, const char *domain)
{
  return policy->local_sender_action != POLICY_ACTION_OFF &&
         filter_policy_unauthenticated (ctx) &&
         policy_domain_is_local ((const char *const *) policy->local_domains, domain);
}

/* Completes with the configured spoofing action (not for "tag"). */
static void
filter_policy_refuse_spoof (FilterPolicy *policy, PosthornFilterContext *ctx, const char *what,
                            const char *domain)
{
  g_autofree char *reply = NULL;

  if (policy->local_sender_action == POLICY_ACTION_TEMPFAIL)
    {
      reply = g_strdup_printf ("451 4.7.1 %s in local domain %s needs authentication", what,
                               domain);
      posthorn_filter_context_complete (ctx, POSTHORN_FILTER_TEMPFAIL, reply);
      return;
    }
  reply = g_strdup_printf ("550 5.7.1 %s in local domain %s needs authentication", what, domain);
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, reply);
}

static gboolean
filter_policy_size_ok (FilterPolicy *policy, PosthornFilterContext *ctx, const char *domain)
{
  guint64 limit = policy_size_limit_for (policy->size_limits, domain);
  guint64 size = posthorn_filter_context_get_size (ctx);
  g_autofree char *reply = NULL;

  if (limit == 0 || size <= limit)
    return TRUE;
  reply = g_strdup_printf ("552 5.3.4 Message too big for sender domain %s (max %"
                           G_GUINT64_FORMAT ")", *domain != '\0' ? domain : "<>", limit);
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, reply);
  return FALSE;
}

static void
filter_policy_mail (PosthornFilterContext *ctx, gpointer data)
{
  FilterPolicy *policy = data;
  const char *domain = policy_mailbox_domain (posthorn_filter_context_get_sender (ctx));

  if (filter_policy_spoofed (policy, ctx, domain) &&
      policy->local_sender_action != POLICY_ACTION_TAG)
    {
      filter_policy_refuse_spoof (policy, ctx, "Sender address", domain);
      return;
    }
  if (!filter_policy_size_ok (policy, ctx, domain))
    return;
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static gboolean
filter_policy_has_header (const char *name, gpointer data)
{
  return posthorn_message_info_lookup_header (data, name) != NULL;
}

static void
filter_policy_data (PosthornFilterContext *ctx, gpointer data)
{
  FilterPolicy *policy = data;
  PosthornMessageInfo *info = posthorn_filter_context_get_message_info (ctx);
  const char *sender_domain = policy_mailbox_domain (posthorn_filter_context_get_sender (ctx));
  const char *from_domain = NULL;
  const char *missing;

  if (!filter_policy_size_ok (policy, ctx, sender_domain))
    return;
  missing = policy_first_missing_header ((const char *const *) policy->require_headers,
                                         filter_policy_has_header, info);
  if (missing != NULL)
    {
      g_autofree char *reply = g_strdup_printf ("550 5.6.0 Message lacks a %s header field",
                                                missing);
      posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, reply);
      return;
    }
  if (!posthorn_message_info_get_first_address (info, "from", NULL, NULL, &from_domain))
    from_domain = NULL;
  if (from_domain != NULL && filter_policy_spoofed (policy, ctx, from_domain) &&
      policy->local_sender_action != POLICY_ACTION_TAG)
    {
      filter_policy_refuse_spoof (policy, ctx, "From: address", from_domain);
      return;
    }

  if (filter_policy_spoofed (policy, ctx, sender_domain))
    {
      g_autofree char *value = g_strdup_printf ("envelope sender in local domain %s without authentication",
                                                sender_domain);
      posthorn_filter_context_add_header (ctx, "X-Posthorn-Spoofed", value);
    }
  else if (from_domain != NULL && filter_policy_spoofed (policy, ctx, from_domain))
    {
      g_autofree char *value = g_strdup_printf ("From: address in local domain %s without authentication",
                                                from_domain);
      posthorn_filter_context_add_header (ctx, "X-Posthorn-Spoofed", value);
    }
  if (policy->add_header)
    {
      g_autofree char *value = g_strdup_printf ("pass (service=%s; authenticated=%s; tls=%s)",
                                                posthorn_filter_context_get_service (ctx),
                                                posthorn_filter_context_get_user (ctx) != NULL
                                                  ? "yes" : "no",
                                                posthorn_filter_context_is_tls (ctx) ? "yes" : "no");
      posthorn_filter_context_add_header (ctx, "X-Posthorn-Policy", value);
    }
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static const PosthornFilterVTable filter_policy_vtable = {
  .struct_size = sizeof (PosthornFilterVTable),
  .mail = filter_policy_mail,
  .data = filter_policy_data,
};

static gboolean
filter_policy_init (PosthornPlugin *plugin, GError **error)
{
  static const char *const default_headers[] = { "From", "Date", NULL };
  FilterPolicy *policy = g_new0 (FilterPolicy, 1);
  g_autofree char *action = NULL;
  g_auto (GStrv) limits = NULL;
  g_autoptr(GError) local = NULL;

  posthorn_plugin_set_data (plugin, policy, (GDestroyNotify) filter_policy_free);
  if (!posthorn_config_get_string_list (plugin, "local_domains", NULL, &policy->local_domains,
                                        error) ||
      !posthorn_config_get_string (plugin, "local_sender_action", "reject", &action, error) ||
      !posthorn_config_get_string_list (plugin, "require_headers", default_headers,
                                        &policy->require_headers, error) ||
      !posthorn_config_get_string_list (plugin, "sender_size_limits", NULL, &limits, error) ||
      !posthorn_config_get_boolean (plugin, "add_header", TRUE, &policy->add_header, error))
    return FALSE;
  if (!policy_action_parse (action, &policy->local_sender_action))
    {
      posthorn_config_set_error (plugin, "local_sender_action", error,
                                 "'%s' is not one of reject, tempfail, tag, off", action);
      return FALSE;
    }
  policy->size_limits = policy_size_limits_parse ((const char *const *) limits, &local);
  if (policy->size_limits == NULL)
    {
      posthorn_config_set_error (plugin, "sender_size_limits", error, "%s", local->message);
      return FALSE;
    }
  return posthorn_filter_register (plugin, &filter_policy_vtable, policy, error);
}

static void
filter_policy_shutdown (PosthornPlugin *plugin)
{
  posthorn_filter_unregister (plugin);
}

POSTHORN_PLUGIN_DEFINE (filter_policy, "filter-policy", POSTHORN_PLUGIN_KIND_FILTER, "1.0",
                        "LGPL-2.1-or-later",
                        "Anti-spoofing, required header fields and per-domain size limits",
                        NULL, filter_policy_init, filter_policy_shutdown)
