/* The registry of open connections: the limits on connections per
 * daemon and per client address, sessions per user (and per user and
 * address), the lists the status interface reads, and daemon shutdown.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "connection-private.h"

#include <string.h>

static GHashTable *conn_all;      /* PosthornConnection * -> itself, holds a ref */
static GHashTable *conn_per_ip;   /* peer address -> GUINT_TO_POINTER (count) */
static GHashTable *conn_per_user; /* user, and "user\npeer address" -> GUINT_TO_POINTER (count) */

/* ---- registry and limits ---- */

gboolean
net_connection_limits_allow (const char *peer_address, const char **reason)
{
  const PhSettings *settings = ph_settings ();
  guint total = conn_all != NULL ? g_hash_table_size (conn_all) : 0;
  guint from_ip;

  /* Unset, the default gives way to what the descriptors allow. */
  if (!settings->max_connections_set && total >= net_fd_limit_connections ())
    {
      *reason = "RLIMIT_NOFILE reached ([core] max_connections is not set)";
      return FALSE;
    }
  if (settings->max_connections > 0 && total >= settings->max_connections)
    {
      *reason = "[core] max_connections reached";
      return FALSE;
    }
  if (settings->max_connections_per_ip > 0 && conn_per_ip != NULL &&
      strcmp (peer_address, "unix") != 0)
    {
      from_ip = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, peer_address));
      if (from_ip >= settings->max_connections_per_ip)
        {
          *reason = "[core] max_connections_per_ip reached";
          return FALSE;
        }
    }
  return TRUE;
}

static void
count_adjust (GHashTable *table, const char *key, int delta)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (table, key));

  if (delta < 0 && count <= 1)
    g_hash_table_remove (table, key);
  else
    g_hash_table_insert (table, g_strdup (key), GUINT_TO_POINTER (count + (guint) delta));
}

/* Counts @conn as a session of its user, or stops counting it. */
static void
conn_user_count (PosthornConnection *conn, gboolean counted)
{
  g_autofree char *user_ip = NULL;

  if (conn->user_counted == counted)
    return;
  if (conn_per_user == NULL)
    conn_per_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  user_ip = g_strconcat (conn->user, "\n", conn->peer_address, NULL);
  count_adjust (conn_per_user, conn->user, counted ? 1 : -1);
  count_adjust (conn_per_user, user_ip, counted ? 1 : -1);
  conn->user_counted = counted;
}

gboolean
ph_net_user_sessions_allow (PosthornConnection *conn, const char *user, const char **reason)
{
  const PhSettings *settings = ph_settings ();
  gboolean self = conn->user_counted && strcmp (conn->user, user) == 0;
  g_autofree char *user_ip = NULL;
  guint count;

  if (conn_per_user == NULL)
    return TRUE;
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_user, user)) - (self ? 1 : 0);
  if (settings->max_sessions_per_user > 0 && count >= settings->max_sessions_per_user)
    {
      *reason = "[core] max_sessions_per_user reached";
      return FALSE;
    }
  if (settings->max_sessions_per_user_ip == 0 || strcmp (conn->peer_address, "unix") == 0)
    return TRUE;
  user_ip = g_strconcat (user, "\n", conn->peer_address, NULL);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_user, user_ip)) - (self ? 1 : 0);
  if (count >= settings->max_sessions_per_user_ip)
    {
      *reason = "[core] max_sessions_per_user_ip reached";
      return FALSE;
    }
  return TRUE;
}

void
conn_register (PosthornConnection *conn)
{
  guint count;

  if (conn_all == NULL)
    {
      conn_all = g_hash_table_new (g_direct_hash, g_direct_equal);
      conn_per_ip = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    }
  g_hash_table_add (conn_all, conn);  /* owns the initial reference */
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, conn->peer_address));
  g_hash_table_insert (conn_per_ip, g_strdup (conn->peer_address), GUINT_TO_POINTER (count + 1));
}

void
conn_unregister (PosthornConnection *conn)
{
  guint count;

  if (!g_hash_table_remove (conn_all, conn))
    return;
  conn_user_count (conn, FALSE);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (conn_per_ip, conn->peer_address));
  if (count <= 1)
    g_hash_table_remove (conn_per_ip, conn->peer_address);
  else
    g_hash_table_insert (conn_per_ip, g_strdup (conn->peer_address), GUINT_TO_POINTER (count - 1));
  posthorn_connection_unref (conn);
}

guint
net_connections_count (void)
{
  return conn_all != NULL ? g_hash_table_size (conn_all) : 0;
}

static GPtrArray *
conn_snapshot (gboolean accepted_only)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_connection_unref);
  GHashTableIter iter;
  gpointer key;

  if (conn_all == NULL)
    return list;
  g_hash_table_iter_init (&iter, conn_all);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      PosthornConnection *conn = key;
      if (accepted_only && (!conn->accepted || conn->life == LIFE_CLOSED))
        continue;
      g_ptr_array_add (list, posthorn_connection_ref (conn));
    }
  return list;
}

GPtrArray *
net_connections_list (void)
{
  return conn_snapshot (TRUE);
}

void
posthorn_connection_set_user (PosthornConnection *conn, const char *user)
{
  g_return_if_fail (conn != NULL);
  conn_user_count (conn, FALSE);
  g_free (conn->user);
  conn->user = g_strdup (user);
  /* Only an open, registered connection is a session of its user. */
  if (conn->user != NULL && conn_all != NULL && g_hash_table_contains (conn_all, conn))
    conn_user_count (conn, TRUE);
}

/* ---- daemon shutdown ---- */

static void
conn_shutdown (PosthornConnection *conn, const char *reason)
{
  if (conn->life != LIFE_OPEN)
    return;
  if (!conn->accepted || !conn->has_handler)
    {
      conn_finish (conn, reason);
      return;
    }
  conn_enter (conn);
  if (conn->handler.shutdown != NULL)
    conn->handler.shutdown (conn, conn->user_data);
  else
    posthorn_connection_close (conn);
  conn_leave (conn);
}

void
net_connections_begin_shutdown (void)
{
  g_autoptr (GPtrArray) list = conn_snapshot (FALSE);

  for (guint i = 0; i < list->len; i++)
    conn_shutdown (g_ptr_array_index (list, i), "shutting down");
}

void
ph_net_connection_shutdown (PosthornConnection *conn)
{
  g_return_if_fail (conn != NULL);
  conn_shutdown (conn, "closed by the administrator");
}

void
net_connections_abort_all (void)
{
  g_autoptr (GPtrArray) list = conn_snapshot (FALSE);

  for (guint i = 0; i < list->len; i++)
    {
      PosthornConnection *conn = g_ptr_array_index (list, i);
      conn_finish (conn, "aborted at shutdown");
      if (conn->depth == 0)
        conn_notify_closed (conn);
    }
}

void
net_connections_teardown (void)
{
  net_connections_abort_all ();
  if (conn_all != NULL && g_hash_table_size (conn_all) == 0)
    {
      g_clear_pointer (&conn_all, g_hash_table_unref);
      g_clear_pointer (&conn_per_ip, g_hash_table_unref);
      g_clear_pointer (&conn_per_user, g_hash_table_unref);
    }
  conn_reactor_teardown ();
}
