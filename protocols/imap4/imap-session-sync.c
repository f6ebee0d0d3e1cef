/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Untagged updates: what the mailbox view sync reports (EXPUNGE or
 * VANISHED, EXISTS, RECENT, FLAGS, FETCH of flag changes), and
 * CONDSTORE's HIGHESTMODSEQ announcement. */
#include "imap-session.h"

typedef struct {
  ImapSession *session;
  gboolean no_expunge;
  GArray *quiet_uids;
  ImapSyncDoneFunc done;
  gpointer user_data;
} SyncJob;

static gboolean
uid_in (const GArray *uids, guint32 uid)
{
  if (uids == NULL)
    return FALSE;
  for (guint k = 0; k < uids->len; k++)
    if (g_array_index (uids, guint32, k) == uid)
      return TRUE;
  return FALSE;
}

static void
write_flags_line (ImapSession *session)
{
  g_autoptr(GString) out = g_string_new ("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
  const char *const *kw = posthorn_mailbox_view_get_keywords (session->view);

  for (guint k = 0; kw != NULL && kw[k] != NULL; k++)
    g_string_append_printf (out, " %s", kw[k]);
  g_string_append (out, ")\r\n");
  if (session->read_only)
    g_string_append (out, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
  else
    {
      g_string_append (out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
      for (guint k = 0; kw != NULL && kw[k] != NULL; k++)
        g_string_append_printf (out, " %s", kw[k]);
      g_string_append (out, " \\*)] Flags permitted.\r\n");
    }
  imap_session_write_string (session, out);
}

void
imap_session_write_flags (ImapSession *session)
{
  write_flags_line (session);
}

static void
sync_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornViewChanges) changes = NULL;

  session->sync_running = FALSE;
  if (session->view != NULL)
    changes = posthorn_mailbox_view_sync_finish (session->view, result, &error);
  if (imap_session_is_closed (session))
    goto out;
  if (session->view == NULL)
    ;
  else if (changes == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        {
          imap_session_write_literal (session, "* BYE Selected mailbox was deleted.\r\n");
          posthorn_connection_close (session->conn);
          session->state = IMAP_STATE_LOGOUT;
        }
    }
  else if (!posthorn_view_changes_is_empty (changes))
    {
      g_autoptr(GString) out = g_string_new (NULL);
      const guint *seqs;
      const guint32 *changed;
      guint n_exp = 0, n_new, n_changed = 0;

      if (session->qresync)
        {
          const guint32 *gone = posthorn_view_changes_get_expunged_uids (changes, &n_exp);
          imap_session_append_vanished (out, gone, n_exp, FALSE);
        }
      else
        {
          seqs = posthorn_view_changes_get_expunged_seqs (changes, &n_exp);
          for (guint k = 0; k < n_exp; k++)
            g_string_append_printf (out, "* %u EXPUNGE\r\n", seqs[k]);
        }
      n_new = posthorn_view_changes_get_new_count (changes);
      if (posthorn_view_changes_get_keywords_changed (changes))
        {
          imap_session_write_string (session, out);
          g_string_truncate (out, 0);
          write_flags_line (session);
        }
      /* each EXPUNGE already lowered the count (RFC 3501 7.4.1): EXISTS
       * only when messages were added, the count being above what the
       * expunges left; VANISHED is followed by the new count as before */
      if (n_new > 0 || (n_exp > 0 && session->qresync))
        g_string_append_printf (out, "* %u EXISTS\r\n",
                                posthorn_mailbox_view_get_count (session->view));
      if (n_new > 0 && !session->rev2)
        g_string_append_printf (out, "* %u RECENT\r\n",
                                posthorn_mailbox_view_get_recent_count (session->view));
      changed = posthorn_view_changes_get_changed_uids (changes, &n_changed);
      for (guint k = 0; k < n_changed; k++)
        {
          guint seq = posthorn_mailbox_view_lookup_uid (session->view, changed[k]);
          if (seq == 0 || uid_in (job->quiet_uids, changed[k]))
            continue;
          g_string_append_printf (out, "* %u FETCH (", seq);
          /* QRESYNC: flag changes always carry the UID (RFC 7162 3.2.4),
           * so do NOTIFY's (RFC 5465 5.1) */
          if ((session->cmd != NULL && session->cmd->uid) || session->qresync
              || imap_notify_wants_uid (session))
            g_string_append_printf (out, "UID %u ", changed[k]);
          g_string_append (out, "FLAGS ");
          imap_session_append_flags (session, out, seq);
          if (session->condstore)
            g_string_append_printf (out, " MODSEQ (%" G_GUINT64_FORMAT ")",
                                    posthorn_mailbox_view_get_modseq (session->view, seq));
          g_string_append (out, ")\r\n");
        }
      imap_session_write_string (session, out);
    }
out:
  job->done (session, job->user_data);
  g_clear_pointer (&job->quiet_uids, g_array_unref);
  imap_session_unref (session);
  g_free (job);
}

void
imap_session_sync (ImapSession *session, gboolean no_expunge, const GArray *quiet_uids,
                   ImapSyncDoneFunc done, gpointer user_data)
{
  SyncJob *job = g_new0 (SyncJob, 1);

  job->session = imap_session_ref (session);
  job->no_expunge = no_expunge;
  job->done = done;
  job->user_data = user_data;
  if (quiet_uids != NULL)
    {
      job->quiet_uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), quiet_uids->len);
      g_array_append_vals (job->quiet_uids, quiet_uids->data, quiet_uids->len);
    }
  if (!no_expunge)
    session->sync_wanted = FALSE;
  session->sync_running = TRUE;
  posthorn_mailbox_view_sync_async (session->view,
                                    no_expunge ? POSTHORN_VIEW_SYNC_NO_EXPUNGE
                                               : POSTHORN_VIEW_SYNC_DEFAULT,
                                    NULL, sync_done, job);
}

void
imap_session_enable_condstore (ImapSession *session, gboolean quiet)
{
  if (session->condstore)
    return;
  session->condstore = TRUE;
  if (!quiet && session->state == IMAP_STATE_SELECTED && session->view != NULL)
    imap_session_printf (session, "* OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest\r\n",
                         posthorn_mailbox_view_get_highestmodseq (session->view));
}

void
imap_session_append_vanished (GString *out, const guint32 *uids, guint n, gboolean earlier)
{
  g_autoptr(ImapRangeList) list = imap_range_list_new ();
  g_autofree char *set = NULL;

  if (n == 0)
    return;
  for (guint k = 0; k < n; k++)
    imap_range_list_add (list, uids[k], uids[k]);
  set = imap_range_list_to_string (list);
  g_string_append_printf (out, "* VANISHED %s%s\r\n", earlier ? "(EARLIER) " : "", set);
}
