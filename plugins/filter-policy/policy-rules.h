/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure half of filter-policy: configuration values and decisions over
 * strings, no daemon, so that they are table tested. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  POLICY_ACTION_OFF = 0,
  POLICY_ACTION_REJECT,
  POLICY_ACTION_TEMPFAIL,
  POLICY_ACTION_TAG,
} PolicyAction;

/* "off", "reject", "tempfail", "tag" (any case). FALSE for anything else. */
gboolean policy_action_parse (const char *text, PolicyAction *action);

/* One "domain:size" entry of sender_size_limits; domain "*" is the
 * default for every other domain. */
typedef struct {
  char *domain;   /* lower case, no trailing dot; "*" */
  guint64 size;   /* bytes */
} PolicySizeLimit;

/* Parses entries like "example.net:1M", "*:20M" (sizes in bytes or with
 * k, M, G = powers of 1024). Returns an array of PolicySizeLimit, or NULL
 * with @error (G_KEY_FILE_ERROR_INVALID_VALUE) naming the bad entry. */
GArray *policy_size_limits_parse (const char *const *entries, GError **error);
/* The limit for @domain: its own entry, else the "*" entry, else 0 (none). */
guint64 policy_size_limit_for (GArray *limits, const char *domain);

/* The domain of "local@domain" (after the last '@'), or "" if none. */
const char *policy_mailbox_domain (const char *mailbox);
/* TRUE if @domain is one of @domains (ASCII case-insensitive, a trailing
 * dot on either side ignored). FALSE for "" and NULL. */
gboolean policy_domain_is_local (const char *const *domains, const char *domain);

/* The first of @required (header names) that @present does not answer
 * for, or NULL when all are there. @present(name, data) says whether the
 * message has a field of that name. */
const char *policy_first_missing_header (const char *const *required,
                                         gboolean (*present) (const char *name, gpointer data),
                                         gpointer data);

G_END_DECLS
