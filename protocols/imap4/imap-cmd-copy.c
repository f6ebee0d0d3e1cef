/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COPY, MOVE (RFC 6851) and their UID forms, with COPYUID (UIDPLUS). */
#include "imap-session.h"
#include "imap-sequence.h"

#include <string.h>


typedef struct {
  ImapSession *session;
  GArray *uids;
  char *dest;
  guint64 used;
} CopyJob;

static void
copy_job_free (CopyJob *job)
{
  imap_session_unref (job->session);
  g_array_unref (job->uids);
  g_free (job->dest);
  g_free (job);
}

static void
copy_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  gboolean move = session->cmd != NULL && session->cmd->type == IMAP_COMMAND_MOVE;
  g_autoptr(GString) src = g_string_new (NULL);
  g_autoptr(GString) dst = g_string_new (NULL);
  g_autofree char *code = NULL;
  guint32 uidvalidity = 0;

  if (imap_session_is_closed (session))
    {
      imap_session_unref (session);
      return;
    }
  if (changes != NULL && !move)
    for (guint k = 0; k < posthorn_store_changes_get_count (changes); k++)
      {
        const PosthornStoreChange *c = posthorn_store_changes_get (changes, k);
        /* copies into the selected mailbox: EXISTS at completion */
        if (c->kind == POSTHORN_EVENT_MESSAGE_NEW && session->selected != NULL
            && g_strcmp0 (c->mailbox, session->selected) == 0)
          session->sync_wanted = TRUE;
      }
  if (changes == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "TRYCREATE",
                             "Mailbox does not exist.");
      else
        imap_session_finish_error (session, error, FALSE);
      imap_session_unref (session);
      return;
    }
  /* COPYUID lists source and destination UIDs in matching order */
  for (guint k = 0; k < posthorn_store_changes_get_count (changes); k++)
    {
      const PosthornStoreChange *c = posthorn_store_changes_get (changes, k);
      if (c->kind != POSTHORN_EVENT_MESSAGE_NEW)
        continue;
      uidvalidity = c->uidvalidity;
      g_string_append_printf (src, "%s%u", src->len > 0 ? "," : "", c->src_uid);
      g_string_append_printf (dst, "%s%u", dst->len > 0 ? "," : "", c->uid);
    }
  if (src->len > 0)
    code = g_strdup_printf ("COPYUID %u %s %s", uidvalidity, src->str, dst->str);
  if (move)
    {
      if (code != NULL)
        imap_session_printf (session, "* OK [%s] Moved UIDs.\r\n", code);
      imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "Move completed.");
    }
  else
    imap_session_finish (session, IMAP_SYNC_WANTED, "OK", code, "Copy completed.");
  imap_session_unref (session);
}

static void
copy_start (ImapSession *session, GArray *uids, const char *dest)
{
  posthorn_store_copy_async (session->user, session->selected,
                             posthorn_mailbox_view_get_uidvalidity (session->view),
                             (const guint32 *) uids->data, uids->len, dest,
                             session->cmd->type == IMAP_COMMAND_MOVE, session->cancellable,
                             copy_done, imap_session_ref (session));
}

static void
copy_sizes_known (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CopyJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreFetch) meta = posthorn_store_fetch_finish (result, &error);
  guint64 total = job->used;

  if (!imap_session_is_closed (job->session))
    {
      if (meta == NULL)
        imap_session_finish_error (job->session, error, FALSE);
      else
        {
          for (guint k = 0; k < posthorn_store_fetch_get_count (meta); k++)
            total += posthorn_store_fetch_get (meta, k)->size;
          if (total > job->session->settings->quota_storage)
            imap_session_finish (job->session, IMAP_SYNC_WANTED, "NO", "OVERQUOTA",
                                 "Quota exceeded.");
          else
            copy_start (job->session, job->uids, job->dest);
        }
    }
  copy_job_free (job);
}

static void
copy_quota_known (ImapSession *session, guint64 used, gpointer user_data)
{
  CopyJob *job = user_data;

  if (imap_session_is_closed (session))
    {
      copy_job_free (job);
      return;
    }
  job->used = used;
  posthorn_store_fetch_async (session->user, session->selected,
                              posthorn_mailbox_view_get_uidvalidity (session->view),
                              (const guint32 *) job->uids->data, job->uids->len,
                              session->cancellable, copy_sizes_known, job);
}

void
imap_cmd_copy (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = imap_session_mailbox_from_client (session, cmd->u.copy.mailbox, &error);
  g_autoptr(GArray) uids = NULL;

  if (dest == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
      return;
    }
  if (cmd->type == IMAP_COMMAND_MOVE && session->read_only)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "READ-ONLY", "Mailbox is read-only.");
      return;
    }
  uids = imap_fetch_resolve_or_reply (session, cmd->u.copy.set);
  if (uids == NULL)
    return;
  if (uids->len == 0)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "No messages to %s.",
                           cmd->type == IMAP_COMMAND_MOVE ? "move" : "copy");
      return;
    }
  if (cmd->type == IMAP_COMMAND_COPY && session->settings->quota_storage > 0)
    {
      CopyJob *job = g_new0 (CopyJob, 1);
      job->session = imap_session_ref (session);
      job->uids = g_steal_pointer (&uids);
      job->dest = g_steal_pointer (&dest);
      imap_quota_usage_async (session, copy_quota_known, job);
      return;
    }
  copy_start (session, uids, dest);
}
