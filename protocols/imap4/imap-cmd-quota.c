/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QUOTA (RFC 9208): one root "" per user with the STORAGE resource; the
 * usage is the sum of every mailbox's size, the limit [imap4]
 * quota_storage. Limits come from the config, so SETQUOTA is refused. */
#include "imap-session.h"

#include <string.h>

typedef struct {
  ImapSession *session;
  PosthornMailboxList *list;
  guint index;
  guint64 used;
  void (*done) (ImapSession *, guint64, gpointer);
  gpointer user_data;
} UsageJob;


static void usage_next (UsageJob *job);

static void
usage_finish (UsageJob *job)
{
  job->done (job->session, job->used, job->user_data);
  g_clear_pointer (&job->list, posthorn_mailbox_list_free);
  imap_session_unref (job->session);
  g_free (job);
}

static void
usage_status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UsageJob *job = user_data;
  PosthornMailboxStatus st = { 0 };

  if (posthorn_store_status_finish (result, &st, NULL))
    job->used += st.size;
  job->index++;
  usage_next (job);
}

static void
usage_next (UsageJob *job)
{
  while (job->list != NULL && job->index < posthorn_mailbox_list_get_count (job->list)
         && !imap_session_is_closed (job->session))
    {
      const PosthornMailboxEntry *e = posthorn_mailbox_list_get (job->list, job->index);
      if (e->exists)
        {
          posthorn_store_status_async (job->session->user, e->name, job->session->cancellable,
                                       usage_status_done, job);
          return;
        }
      job->index++;
    }
  usage_finish (job);
}

static void
usage_list_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UsageJob *job = user_data;

  job->list = posthorn_store_list_finish (result, NULL);
  usage_next (job);
}

void
imap_quota_usage_async (ImapSession *session, void (*done) (ImapSession *, guint64, gpointer),
                        gpointer user_data)
{
  UsageJob *job = g_new0 (UsageJob, 1);

  job->session = imap_session_ref (session);
  job->done = done;
  job->user_data = user_data;
  posthorn_store_list_async (session->user, session->cancellable, usage_list_done, job);
}

static void
quota_reply (ImapSession *session, guint64 used, gpointer user_data)
{
  char *root_line = user_data;

  if (!imap_session_is_closed (session))
    {
      if (root_line != NULL)
        imap_session_write (session, root_line, strlen (root_line));
      /* STORAGE is counted in units of 1024 octets */
      imap_session_printf (session, "* QUOTA \"\" (STORAGE %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT ")\r\n",
                           (used + 1023) / 1024, session->settings->quota_storage / 1024);
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "%s completed.",
                           session->cmd->name);
    }
  g_free (root_line);
}

static gboolean
quota_enabled (ImapSession *session)
{
  if (session->settings->quota_storage > 0)
    return TRUE;
  imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL, "QUOTA is not enabled");
  return FALSE;
}

void
imap_cmd_getquota (ImapSession *session)
{
  if (!quota_enabled (session))
    return;
  if (session->cmd->u.quota.root == NULL || session->cmd->u.quota.root[0] != '\0')
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "NONEXISTENT", "No such quota root.");
      return;
    }
  imap_quota_usage_async (session, quota_reply, NULL);
}

void
imap_cmd_getquotaroot (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GString) line = g_string_new ("* QUOTAROOT ");

  if (!quota_enabled (session))
    return;
  name = imap_session_mailbox_from_client (session, session->cmd->u.mailbox.mailbox, &error);
  if (name == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
      return;
    }
  imap_session_append_mailbox (session, line, name);
  g_string_append (line, " \"\"\r\n");
  imap_quota_usage_async (session, quota_reply, g_string_free (g_steal_pointer (&line), FALSE));
}

void
imap_cmd_setquota (ImapSession *session)
{
  if (!quota_enabled (session))
    return;
  imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT",
                       "Quota limits are set in the server configuration.");
}
