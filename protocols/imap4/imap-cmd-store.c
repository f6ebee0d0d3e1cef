/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STORE and UID STORE: FLAGS, +FLAGS, -FLAGS and their .SILENT forms,
 * CONDSTORE's UNCHANGEDSINCE with [MODIFIED set]. */
#include "imap-session.h"


typedef struct {
  ImapSession *session;
  GArray *uids;
  GArray *modified;     /* UIDs UNCHANGEDSINCE refused, ascending */
  GArray *changed;      /* UIDs whose flags changed */
} StoreJob;

static void
store_job_free (StoreJob *job)
{
  imap_session_unref (job->session);
  g_array_unref (job->uids);
  g_array_unref (job->modified);
  g_array_unref (job->changed);
  g_free (job);
}

static gboolean
uid_listed (const GArray *uids, guint32 uid)
{
  for (guint k = 0; k < uids->len; k++)
    if (g_array_index (uids, guint32, k) == uid)
      return TRUE;
  return FALSE;
}

static void
store_reply (StoreJob *job)
{
  ImapSession *session = job->session;
  g_autoptr(ImapRangeList) list = imap_range_list_new ();
  g_autofree char *set = NULL;

  if (job->modified->len == 0)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Store completed.");
      return;
    }
  for (guint k = 0; k < job->modified->len; k++)
    {
      guint32 uid = g_array_index (job->modified, guint32, k);
      guint32 v = session->cmd->uid ? uid : posthorn_mailbox_view_lookup_uid (session->view, uid);
      if (v != 0)
        imap_range_list_add (list, v, v);
    }
  set = imap_range_list_to_string (list);
  {
    g_autofree char *code = g_strdup_printf ("MODIFIED %s", set);
    imap_session_finish (session, IMAP_SYNC_NONE, "OK", code, "Conditional STORE failed");
  }
}

static void
store_synced (ImapSession *session, gpointer user_data)
{
  StoreJob *job = user_data;

  if (!imap_session_is_closed (session))
    {
      gboolean silent = session->cmd->u.store.silent;

      /* .SILENT under CONDSTORE still reports the new MODSEQs (RFC 7162 3.1.3) */
      if ((!silent || session->condstore) && session->view != NULL)
        {
          g_autoptr(GString) out = g_string_new (NULL);
          for (guint k = 0; k < job->uids->len; k++)
            {
              guint32 uid = g_array_index (job->uids, guint32, k);
              guint seq = posthorn_mailbox_view_lookup_uid (session->view, uid);
              if (seq == 0 || uid_listed (job->modified, uid)
                  || (silent && !uid_listed (job->changed, uid)))
                continue;
              g_string_append_printf (out, "* %u FETCH (", seq);
              if (session->cmd->uid || session->qresync)
                g_string_append_printf (out, "UID %u ", uid);
              if (!silent)
                {
                  g_string_append (out, "FLAGS ");
                  imap_session_append_flags (session, out, seq);
                  if (session->condstore)
                    g_string_append_c (out, ' ');
                }
              if (session->condstore)
                g_string_append_printf (out, "MODSEQ (%" G_GUINT64_FORMAT ")",
                                        posthorn_mailbox_view_get_modseq (session->view, seq));
              g_string_append (out, ")\r\n");
            }
          imap_session_write_string (session, out);
        }
      store_reply (job);
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
  {
    guint n = 0;
    const guint32 *modified = posthorn_store_changes_get_modified (changes, &n);

    g_array_append_vals (job->modified, modified, n);
    for (guint k = 0; k < posthorn_store_changes_get_count (changes); k++)
      {
        const PosthornStoreChange *change = posthorn_store_changes_get (changes, k);
        if (change->kind == POSTHORN_EVENT_FLAGS_CHANGED)
          g_array_append_val (job->changed, change->uid);
      }
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
  job->modified = g_array_new (FALSE, FALSE, sizeof (guint32));
  job->changed = g_array_new (FALSE, FALSE, sizeof (guint32));
  if (cmd->u.store.has_unchangedsince)
    {
      imap_session_enable_condstore (session, FALSE);
      if (cmd->u.store.unchangedsince == 0)
        {
          /* every MODSEQ is greater than 0: nothing may change */
          g_array_append_vals (job->modified, uids->data, uids->len);
          store_reply (job);
          store_job_free (job);
          return;
        }
    }
  posthorn_store_store_flags_async (session->user, session->selected,
                                    posthorn_mailbox_view_get_uidvalidity (session->view),
                                    (const guint32 *) uids->data, uids->len,
                                    modes[cmd->u.store.mode], flags,
                                    (const char *const *) keywords->pdata,
                                    cmd->u.store.has_unchangedsince ? cmd->u.store.unchangedsince : 0,
                                    session->cancellable, store_done, job);
}
