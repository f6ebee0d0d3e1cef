/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NOTIFY (RFC 5465): the selected mailbox. Only a SELECTED or
 * SELECTED-DELAYED group applies to it; its message events are pushed
 * without a command (a view sync), then, for MessageNew (fetch-att ...),
 * an internal FETCH of the new messages that never sets \Seen. */
#include "imap-notify.h"

#include <string.h>

guint32
imap_notify_view_max_uid (PosthornMailboxView *view)
{
  guint count = view != NULL ? posthorn_mailbox_view_get_count (view) : 0;

  return count > 0 ? posthorn_mailbox_view_get_uid (view, count) : 0;
}

/* Forgets what was reported when another mailbox (view) is selected. */
void
imap_notify_track_view (ImapNotify *n)
{
  ImapSession *s = n->session;

  if (n->view == s->view)
    return;
  n->view = s->view;
  n->reported_uid = imap_notify_view_max_uid (s->view);
  g_array_set_size (n->own_new, 0);
}


/* ---- the selected mailbox ---- */

static void push_start (ImapNotify *n);
static void push_end (ImapNotify *n);

/* A NOTIFY client waits for notifications with no command running, often
 * without IDLE: once nothing runs, its COMPRESS zlib states are released
 * as IDLE releases them (imap-cmd-compress.c), and come back with the
 * next command. */
static void
release_compress (ImapSession *s)
{
  ImapNotify *n = s->notify;

  if (n != NULL && s->deflate != NULL && !s->busy && !s->idling && !n->pushing
      && n->internal == NULL && !imap_session_is_closed (s))
    imap_compress_release (s);
}

/* The UIDs above reported_uid as a sequence range of the view, or FALSE. */
static gboolean
new_messages (ImapNotify *n, guint *first, guint *last)
{
  ImapSession *s = n->session;
  guint count = posthorn_mailbox_view_get_count (s->view);
  guint seq = count;

  while (seq > 0 && posthorn_mailbox_view_get_uid (s->view, seq) > n->reported_uid)
    seq--;
  if (seq == count)
    return FALSE;
  *first = seq + 1;
  *last = count;
  return TRUE;
}

/* Sends the MessageNew fetch attributes of the messages that arrived
 * since the last time, with an internal FETCH; FALSE if there is none. */
static gboolean
fetch_new_start (ImapNotify *n)
{
  ImapSession *s = n->session;
  ImapCommand *cmd;
  g_autoptr(ImapRangeList) seqs = imap_range_list_new ();
  g_autofree char *set = NULL;
  guint first, last;

  if (s->view == NULL || n->selected == NULL || n->selected->message_new_items == NULL
      || s->state != IMAP_STATE_SELECTED)
    return FALSE;
  imap_notify_track_view (n);
  if (!new_messages (n, &first, &last))
    return FALSE;
  n->reported_uid = imap_notify_view_max_uid (s->view);
  /* not for what this session APPENDed or COPied itself (RFC 5465 5.2) */
  for (guint seq = first; seq <= last; seq++)
    {
      guint32 uid = posthorn_mailbox_view_get_uid (s->view, seq);
      gboolean own = FALSE;

      for (guint k = 0; k < n->own_new->len && !own; k++)
        own = g_array_index (n->own_new, guint32, k) == uid;
      if (!own)
        imap_range_list_add (seqs, seq, seq);
    }
  g_array_set_size (n->own_new, 0);
  if (imap_range_list_is_empty (seqs))
    return FALSE;
  set = imap_range_list_to_string (seqs);
  cmd = g_new0 (ImapCommand, 1);
  cmd->name = g_strdup ("FETCH");
  cmd->type = IMAP_COMMAND_FETCH;
  cmd->u.fetch.set = imap_seqset_parse (set, -1, FALSE, NULL);
  cmd->u.fetch.items = g_ptr_array_ref (n->selected->message_new_items);
  n->internal = cmd;
  n->saved_cmd = s->cmd;
  n->saved_read_only = s->read_only;
  /* notifications never set \Seen: the FETCH runs as on a read-only view */
  s->read_only = TRUE;
  s->cmd = cmd;
  imap_cmd_fetch (s);
  return TRUE;
}

gboolean
imap_notify_internal_finished (ImapSession *session)
{
  ImapNotify *n = session->notify;

  if (n == NULL || n->internal == NULL || session->cmd != n->internal)
    return FALSE;
  imap_command_free (session->cmd);
  session->cmd = n->saved_cmd;
  session->read_only = n->saved_read_only;
  n->saved_cmd = NULL;
  n->internal = NULL;
  push_end (n);
  return TRUE;
}

static void
push_synced (ImapSession *session, gpointer user_data)
{
  ImapNotify *n = user_data;

  if (n->session == NULL || imap_session_is_closed (session))
    ;   /* the session is gone */
  else if (session->state == IMAP_STATE_LOGOUT)
    n->pushing = FALSE;
  else if (n->overflowed || !fetch_new_start (n))
    push_end (n);
  imap_notify_unref (n);
}

/* Pushes the selected mailbox's changes now, no command running. */
static void
push_start (ImapNotify *n)
{
  ImapSession *s = n->session;

  n->push_wanted = FALSE;
  n->pushing = TRUE;
  imap_notify_track_view (n);
  posthorn_connection_pause_input (s->conn);
  if (s->sync_running)
    {
      /* a sync in flight (our own) will report the change */
      push_synced (s, imap_notify_ref (n));
      return;
    }
  imap_session_sync (s, n->selected->filter == IMAP_NOTIFY_SELECTED_DELAYED, NULL,
                     push_synced, imap_notify_ref (n));
}

/* Starts a push if one is due and nothing else runs. */
void
imap_notify_push_maybe (ImapNotify *n)
{
  ImapSession *s = n->session;

  if (n->pushing || n->internal != NULL || imap_session_is_closed (s)
      || s->state != IMAP_STATE_SELECTED || s->view == NULL || n->selected == NULL)
    return;
  if (s->idling)
    {
      if (n->push_wanted)
        {
          n->push_wanted = FALSE;
          imap_idle_notify_push (s);
        }
      return;
    }
  if (s->busy)
    return;   /* the command's end reports it */
  if (n->push_wanted)
    push_start (n);
  else if (n->selected->message_new_items != NULL)
    {
      /* MessageNew data of messages a command's end reported */
      imap_notify_track_view (n);
      {
        guint first, last;
        if (new_messages (n, &first, &last))
          {
            n->pushing = TRUE;
            posthorn_connection_pause_input (s->conn);
            if (!fetch_new_start (n))
              push_end (n);
          }
      }
    }
}

static void
push_end (ImapNotify *n)
{
  ImapSession *s = n->session;

  if (!n->pushing)
    return;
  n->pushing = FALSE;
  if (imap_session_is_closed (s))
    return;
  posthorn_connection_resume_input (s->conn);
  if (n->overflowed)
    {
      imap_notify_flush (s);   /* ends NOTIFY */
      return;
    }
  imap_notify_flush (s);
  imap_notify_jobs_run (n);
  imap_notify_push_maybe (n);
  release_compress (s);
}

void
imap_notify_selected_event (ImapNotify *n, PosthornEventKind kind)
{
  guint bit;

  switch (kind)
    {
    case POSTHORN_EVENT_MESSAGE_NEW: bit = IMAP_NOTIFY_MESSAGE_NEW; break;
    case POSTHORN_EVENT_MESSAGE_EXPUNGED: bit = IMAP_NOTIFY_MESSAGE_EXPUNGE; break;
    case POSTHORN_EVENT_FLAGS_CHANGED: bit = IMAP_NOTIFY_FLAG_CHANGE; break;
    default: return;
    }
  if (n->selected == NULL || (n->selected->events & bit) == 0)
    return;
  n->session->sync_wanted = TRUE;
  n->push_wanted = TRUE;
  imap_notify_push_maybe (n);
}

/* ---- hooks ---- */

/* ---- hooks ---- */

void
imap_notify_command_ended (ImapSession *session)
{
  ImapNotify *n = session->notify;

  if (n == NULL || imap_session_is_closed (session))
    return;
  imap_notify_flush (session);
  n = session->notify;
  if (n != NULL)
    imap_notify_push_maybe (n);
  release_compress (session);
}

void
imap_notify_idle_synced (ImapSession *session)
{
  ImapNotify *n = session->notify;
  guint first, last;

  if (n == NULL || n->pushing || n->internal != NULL)
    return;
  if (n->selected != NULL && n->selected->message_new_items != NULL && session->view != NULL)
    {
      imap_notify_track_view (n);
      if (new_messages (n, &first, &last))
        {
          n->pushing = TRUE;
          posthorn_connection_pause_input (session->conn);
          if (!fetch_new_start (n))
            push_end (n);
          return;
        }
    }
  imap_notify_push_maybe (n);
}

