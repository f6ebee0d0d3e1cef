/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy-rules.h"

#include <string.h>

gboolean
policy_action_parse (const char *text, PolicyAction *action)
{
  static const char *const names[] = { "off", "reject", "tempfail", "tag" };

  for (guint i = 0; text != NULL && i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (text, names[i]) == 0)
      {
        *action = (PolicyAction) i;
        return TRUE;
      }
  return FALSE;
}

static void
policy_size_limit_clear (gpointer data)
{
  g_free (((PolicySizeLimit *) data)->domain);
}

static char *
policy_domain_normalize (const char *domain, gsize length)
{
  if (length > 0 && domain[length - 1] == '.')
    length--;
  return g_ascii_strdown (domain, (gssize) length);
}

static gboolean
policy_size_parse (const char *text, guint64 *out)
{
  guint64 value = 0;
  guint64 unit = 1;
  const char *p = text;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (value > (G_MAXUINT64 - 9) / 10)
        return FALSE;
      value = value * 10 + (guint64) (*p - '0');
    }
  switch (*p)
    {
    case '\0':
      break;
    case 'k': case 'K':
      unit = 1024;
      p++;
      break;
    case 'M':
      unit = 1024 * 1024;
      p++;
      break;
    case 'G':
      unit = 1024 * 1024 * 1024;
      p++;
      break;
    default:
      return FALSE;
    }
  if (*p != '\0' || value > G_MAXUINT64 / unit)
    return FALSE;
  *out = value * unit;
  return TRUE;
}

GArray *
policy_size_limits_parse (const char *const *entries, GError **error)
{
  g_autoptr(GArray) limits = g_array_new (FALSE, TRUE, sizeof (PolicySizeLimit));

  g_array_set_clear_func (limits, policy_size_limit_clear);
  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      const char *entry = entries[i];
      const char *colon = strrchr (entry, ':');
      PolicySizeLimit limit = { 0 };

      if (colon == NULL || colon == entry || !policy_size_parse (colon + 1, &limit.size) ||
          memchr (entry, ' ', (gsize) (colon - entry)) != NULL)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "'%s' is not domain:size", entry);
          return NULL;
        }
      limit.domain = policy_domain_normalize (entry, (gsize) (colon - entry));
      g_array_append_val (limits, limit);
    }
  return g_steal_pointer (&limits);
}

guint64
policy_size_limit_for (GArray *limits, const char *domain)
{
  g_autofree char *d = domain != NULL ? policy_domain_normalize (domain, strlen (domain)) : NULL;
  guint64 fallback = 0;

  for (guint i = 0; limits != NULL && i < limits->len; i++)
    {
      const PolicySizeLimit *limit = &g_array_index (limits, PolicySizeLimit, i);

      if (d != NULL && strcmp (limit->domain, d) == 0)
        return limit->size;
      if (strcmp (limit->domain, "*") == 0)
        fallback = limit->size;
    }
  return fallback;
}

const char *
policy_mailbox_domain (const char *mailbox)
{
  const char *at = mailbox != NULL ? strrchr (mailbox, '@') : NULL;

  return at != NULL ? at + 1 : "";
}

gboolean
policy_domain_is_local (const char *const *domains, const char *domain)
{
  g_autofree char *d = NULL;

  if (domain == NULL || *domain == '\0')
    return FALSE;
  d = policy_domain_normalize (domain, strlen (domain));
  for (guint i = 0; domains != NULL && domains[i] != NULL; i++)
    {
      g_autofree char *local = policy_domain_normalize (domains[i], strlen (domains[i]));

      if (*local != '\0' && strcmp (local, d) == 0)
        return TRUE;
    }
  return FALSE;
}

const char *
policy_first_missing_header (const char *const *required,
                             gboolean (*present) (const char *name, gpointer data),
                             gpointer data)
{
  for (guint i = 0; required != NULL && required[i] != NULL; i++)
    if (!present (required[i], data))
      return required[i];
  return NULL;
}
