/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STORE and UID STORE: FLAGS, +FLAGS, -FLAGS and their .SILENT forms. */
#include "imap-session.h"


typedef struct {
  ImapSession *session;
  GArray *uids;
} StoreJob;

static void
store_job_free (StoreJob *job)
{
  imap_session_unref (job->session);
  g_array_unref (job->uids);
  g_free (job);
}

static void
store_synced (ImapSession *session, gpointer user_data)
{
  StoreJob *job = user_data;

  if (!imap_session_is_closed (session))
    {
      if (!session->cmd->u.store.silent && session->view != NULL)
        {
          g_autoptr(GString) out = g_string_new (NULL);
          for (guint k = 0; k < job->uids->len; k++)
            {
              guint32 uid = g_array_index (job->uids, guint32, k);
              guint seq = posthorn_mailbox_view_lookup_uid (session->view, uid);
              if (seq == 0)
                continue;
              g_string_append_printf (out, "* %u FETCH (", seq);
              if (session->cmd->uid)
                g_string_append_printf (out, "UID %u ", uid);
              g_string_append (out, "FLAGS ");
              imap_session_append_flags (session, out, seq);
              g_string_append (out, ")\r\n");
            }
          imap_session_write_string (session, out);
        }
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Store completed.");
    }
  store_job_free (job);
}

static void
store_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StoreJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (imap_session_is_closed (session))
    {
      store_job_free (job);
      return;
    }
  if (changes == NULL)
    {
      imap_session_finish_error (session, error, FALSE);
      store_job_free (job);
      return;
    }
  imap_session_sync (session, !session->cmd->uid, job->uids, store_synced, job);
}

void
imap_cmd_store (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;
  g_autoptr(GPtrArray) keywords = g_ptr_array_new ();
  guint32 flags = 0;
  char *bad = NULL;
  GArray *uids;
  StoreJob *job;
  static const PosthornFlagsMode modes[] = {
    [IMAP_STORE_REPLACE] = POSTHORN_FLAGS_REPLACE,
    [IMAP_STORE_ADD] = POSTHORN_FLAGS_ADD,
    [IMAP_STORE_REMOVE] = POSTHORN_FLAGS_REMOVE,
  };

  if (cmd->u.store.has_unchangedsince)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "CONDSTORE is not supported");
      return;
    }
  if (session->read_only)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "READ-ONLY", "Mailbox is read-only.");
      return;
    }
  if (!imap_flags_parse (cmd->u.store.flags, &flags, keywords, &bad))
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "Invalid system flag %s", bad);
      return;
    }
  g_ptr_array_add (keywords, NULL);
  uids = imap_fetch_resolve_or_reply (session, cmd->u.store.set);
  if (uids == NULL)
    return;
  if (uids->len == 0)
    {
      g_array_unref (uids);
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Store completed.");
      return;
    }
  job = g_new0 (StoreJob, 1);
  job->session = imap_session_ref (session);
  job->uids = uids;
  posthorn_store_store_flags_async (session->user, session->selected,
                                    posthorn_mailbox_view_get_uidvalidity (session->view),
                                    (const guint32 *) uids->data, uids->len,
                                    modes[cmd->u.store.mode], flags,
                                    (const char *const *) keywords->pdata, 0,
                                    session->cancellable, store_done, job);
}
