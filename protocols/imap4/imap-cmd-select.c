/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The selected state: SELECT EXAMINE (CONDSTORE, QRESYNC) CLOSE UNSELECT
 * CHECK EXPUNGE and UID EXPUNGE (UIDPLUS). */
#include "imap-session.h"

static void
on_mailbox_event (const PosthornEvent *event, gpointer user_data)
{
  ImapSession *session = user_data;

  /* the data comes from the view sync; the event only says one is due.
   * Our own changes were synced when they were made. */
  if (posthorn_event_get_origin (event) == session)
    return;
  switch (posthorn_event_get_kind (event))
    {
    case POSTHORN_EVENT_MESSAGE_NEW:
    case POSTHORN_EVENT_FLAGS_CHANGED:
    case POSTHORN_EVENT_MESSAGE_EXPUNGED:
    case POSTHORN_EVENT_MAILBOX_DELETED:
    case POSTHORN_EVENT_MAILBOX_RENAMED:
      session->sync_wanted = TRUE;
      imap_idle_mailbox_changed (session);
      break;
    default:
      break;
    }
}

void
imap_session_subscribe_selected (ImapSession *session)
{
  if (session->event_sub != 0)
    posthorn_event_unsubscribe (session->event_sub);
  session->event_sub = posthorn_event_subscribe (posthorn_store_user_get_name (session->user),
                                                 session->selected, on_mailbox_event,
                                                 session, NULL);
}

static void
select_finish (ImapSession *session)
{
  imap_session_finish (session, IMAP_SYNC_NONE, "OK",
                       session->read_only ? "READ-ONLY" : "READ-WRITE", "%s completed.",
                       session->cmd->name);
}

/* SELECT (QRESYNC ...): what vanished since the client's MODSEQ (among
 * its known UIDs, if it gave them), then every message changed since. */
static void
qresync_vanished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) vanished = posthorn_store_vanished_finish (result, &error);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GArray) shown = g_array_new (FALSE, FALSE, sizeof (guint32));
  const ImapSeqSet *known = session->cmd != NULL ? session->cmd->u.select.known_uids : NULL;
  guint64 since = session->cmd != NULL ? session->cmd->u.select.modseq : 0;
  PosthornMailboxView *view = session->view;

  if (imap_session_is_closed (session) || view == NULL)
    {
      imap_session_unref (session);
      return;
    }
  if (vanished == NULL)
    {
      imap_session_finish_error (session, error, FALSE);
      imap_session_unref (session);
      return;
    }
  {
    guint32 uidnext = posthorn_mailbox_view_get_uidnext (view);
    g_autoptr(ImapRangeList) known_list =
      known != NULL ? imap_seqset_resolve (known, uidnext > 0 ? uidnext - 1 : 0) : NULL;

    for (guint k = 0; k < vanished->len; k++)
      {
        guint32 uid = g_array_index (vanished, guint32, k);
        if (known_list == NULL || imap_range_list_contains (known_list, uid))
          g_array_append_val (shown, uid);
      }
  }
  imap_session_append_vanished (out, (const guint32 *) shown->data, shown->len, TRUE);
  for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
    {
      guint64 modseq = posthorn_mailbox_view_get_modseq (view, seq);

      if (modseq <= since)
        continue;
      g_string_append_printf (out, "* %u FETCH (UID %u FLAGS ", seq,
                              posthorn_mailbox_view_get_uid (view, seq));
      imap_session_append_flags (session, out, seq);
      g_string_append_printf (out, " MODSEQ (%" G_GUINT64_FORMAT "))\r\n", modseq);
    }
  imap_session_write_string (session, out);
  select_finish (session);
  imap_session_unref (session);
}

static void
select_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  PosthornMailboxView *view = posthorn_mailbox_view_open_finish (result, &error);
  g_autoptr(GString) out = g_string_new (NULL);
  guint unseen;

  if (imap_session_is_closed (session))
    {
      g_clear_pointer (&view, posthorn_mailbox_view_unref);
      imap_session_unref (session);
      return;
    }
  if (view == NULL)
    {
      imap_session_finish_error (session, error, FALSE);
      imap_session_unref (session);
      return;
    }
  session->view = view;
  session->selected = g_strdup (posthorn_mailbox_view_get_name (view));
  session->read_only = session->cmd->type == IMAP_COMMAND_EXAMINE;
  session->state = IMAP_STATE_SELECTED;
  if (session->cmd->u.select.condstore)
    imap_session_enable_condstore (session, TRUE);
  imap_session_subscribe_selected (session);
  posthorn_connection_set_state (session->conn, "selected");

  imap_session_write_flags (session);
  g_string_append_printf (out, "* %u EXISTS\r\n", posthorn_mailbox_view_get_count (view));
  if (!session->rev2)
    g_string_append_printf (out, "* %u RECENT\r\n", posthorn_mailbox_view_get_recent_count (view));
  unseen = posthorn_mailbox_view_get_first_unseen (view);
  if (unseen > 0 && !session->rev2)
    g_string_append_printf (out, "* OK [UNSEEN %u] First unseen.\r\n", unseen);
  g_string_append_printf (out, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
                          posthorn_mailbox_view_get_uidvalidity (view));
  g_string_append_printf (out, "* OK [UIDNEXT %u] Predicted next UID\r\n",
                          posthorn_mailbox_view_get_uidnext (view));
  /* every mailbox of the store keeps MODSEQs: never NOMODSEQ */
  if (session->condstore)
    g_string_append_printf (out, "* OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest\r\n",
                            posthorn_mailbox_view_get_highestmodseq (view));
  if (session->rev2)
    {
      g_string_append (out, "* LIST () \"/\" ");
      imap_session_append_mailbox (session, out, session->selected);
      g_string_append (out, "\r\n");
    }
  imap_session_write_string (session, out);
  if (session->cmd->u.select.qresync
      && session->cmd->u.select.uidvalidity == posthorn_mailbox_view_get_uidvalidity (view))
    {
      posthorn_store_vanished_async (session->user, session->selected,
                                     posthorn_mailbox_view_get_uidvalidity (view),
                                     session->cmd->u.select.modseq, session->cancellable,
                                     qresync_vanished, session);
      return;
    }
  select_finish (session);
  imap_session_unref (session);
}

void
imap_cmd_select (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = imap_session_mailbox_from_client (session,
                                                            session->cmd->u.select.mailbox,
                                                            &error);

  if (session->cmd->u.select.qresync && !session->qresync)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "QRESYNC is not enabled");
      return;
    }
  if (session->state == IMAP_STATE_SELECTED)
    {
      imap_session_unselect (session);
      if (session->rev2 || session->qresync)
        imap_session_write_literal (session, "* OK [CLOSED] Previous mailbox closed.\r\n");
    }
  if (name == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", "CANNOT", "%s", error->message);
      return;
    }
  posthorn_mailbox_view_open_async (session->user, name,
                                    session->cmd->type == IMAP_COMMAND_EXAMINE
                                      ? POSTHORN_VIEW_READ_ONLY : POSTHORN_VIEW_READ_WRITE,
                                    session->cancellable, select_opened,
                                    imap_session_ref (session));
}

static void
close_expunged (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (!imap_session_is_closed (session))
    {
      imap_session_unselect (session);
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Close completed.");
    }
  imap_session_unref (session);
}

void
imap_cmd_close (ImapSession *session)
{
  if (session->read_only)
    {
      imap_session_unselect (session);
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Close completed.");
      return;
    }
  posthorn_store_expunge_async (session->user, session->selected,
                                posthorn_mailbox_view_get_uidvalidity (session->view),
                                NULL, 0, session->cancellable, close_expunged,
                                imap_session_ref (session));
}

void
imap_cmd_unselect (ImapSession *session)
{
  imap_session_unselect (session);
  imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Unselect completed.");
}

void
imap_cmd_check (ImapSession *session)
{
  imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "Check completed.");
}

static void
expunge_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (!imap_session_is_closed (session))
    {
      if (changes == NULL)
        imap_session_finish_error (session, error, FALSE);
      else
        imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "Expunge completed.");
    }
  imap_session_unref (session);
}

void
imap_cmd_expunge (ImapSession *session)
{
  g_autoptr(GArray) uids = NULL;

  if (session->read_only)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "READ-ONLY", "Mailbox is read-only.");
      return;
    }
  if (session->cmd->uid)
    {
      uids = imap_session_resolve_set (session, session->cmd->u.expunge.set, TRUE);
      if (uids->len == 0)
        {
          imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "Expunge completed.");
          return;
        }
    }
  posthorn_store_expunge_async (session->user, session->selected,
                                posthorn_mailbox_view_get_uidvalidity (session->view),
                                uids != NULL ? (const guint32 *) uids->data : NULL,
                                uids != NULL ? uids->len : 0, session->cancellable,
                                expunge_done, imap_session_ref (session));
}
