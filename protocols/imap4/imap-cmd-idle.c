/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* IDLE (RFC 2177): "+ idling", then the untagged updates of the selected
 * mailbox as other sessions (or deliveries) change it, until DONE.
 *
 * An idling session costs no timer of its own: one shared timer sends
 * "* OK Still here" to every idling session each [imap4] idle_keepalive,
 * and stops when nobody idles. Updates come from the event bus
 * subscription of the selected mailbox (imap-cmd-select.c), which asks
 * for a view sync; the sync writes EXISTS / FETCH (FLAGS) / EXPUNGE. */
#include "imap-session.h"

#include <string.h>

/* The RFC lets a server log out a client after 30 minutes without a
 * command; clients re-IDLE every 29. Keep IDLE open somewhat longer. */
#define IMAP_IDLE_MIN_TIMEOUT (31 * 60)

static GQueue idlers = G_QUEUE_INIT;   /* of ImapSession, via idle_link */
static guint keepalive_source;
static guint keepalive_period;

static gboolean
keepalive_tick (gpointer user_data)
{
  for (GList *l = idlers.head; l != NULL; l = l->next)
    if (!imap_notify_blocks_output (l->data))
      imap_session_write_literal ((ImapSession *) l->data, "* OK Still here\r\n");
  return G_SOURCE_CONTINUE;
}

static void
keepalive_join (ImapSession *session)
{
  guint period = MAX (session->settings->idle_keepalive, 1);

  session->idle_link.data = session;
  g_queue_push_tail_link (&idlers, &session->idle_link);
  if (keepalive_source != 0 && keepalive_period != period)
    g_clear_handle_id (&keepalive_source, g_source_remove);
  if (keepalive_source == 0)
    {
      keepalive_period = period;
      keepalive_source = g_timeout_add_seconds (period, keepalive_tick, NULL);
    }
}

static void
keepalive_leave (ImapSession *session)
{
  if (session->idle_link.data == NULL)
    return;
  g_queue_unlink (&idlers, &session->idle_link);
  session->idle_link.data = NULL;
  if (idlers.length == 0)
    g_clear_handle_id (&keepalive_source, g_source_remove);
}

static void
idle_end (ImapSession *session, const char *status)
{
  keepalive_leave (session);
  session->idling = FALSE;
  session->idle_done = FALSE;
  if (session->conn != NULL)
    {
      posthorn_connection_set_idle_timeout (session->conn, session->settings->idle_timeout);
      posthorn_connection_set_state (session->conn,
                                     session->state == IMAP_STATE_SELECTED ? "selected" : "auth");
    }
  if (strcmp (status, "OK") == 0)
    imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Idle completed.");
  else
    imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "Expected DONE");
}

static void idle_sync (ImapSession *session);

static void
idle_synced (ImapSession *session, gpointer user_data)
{
  if (imap_session_is_closed (session) || session->state == IMAP_STATE_LOGOUT)
    return;
  if (session->idle_done)
    idle_end (session, session->idle_end_status);
  else if (session->idling)
    {
      /* NOTIFY MessageNew (fetch-att): the new messages' data; under
       * NOTIFY it also decides whether to sync again */
      if (session->notify != NULL)
        imap_notify_idle_synced (session);
      else if (session->sync_wanted)
        idle_sync (session);
    }
}

static void
idle_sync (ImapSession *session)
{
  if (session->sync_running || session->view == NULL || imap_session_is_closed (session)
      || imap_notify_is_pushing (session))
    return;
  imap_session_sync (session, FALSE, NULL, idle_synced, NULL);
}

void
imap_cmd_idle (ImapSession *session)
{
  guint timeout = MAX (session->settings->idle_timeout, IMAP_IDLE_MIN_TIMEOUT);

  session->idling = TRUE;
  imap_session_write_literal (session, "+ idling\r\n");
  posthorn_connection_set_idle_timeout (session->conn, timeout);
  posthorn_connection_set_state (session->conn, "idle");
  keepalive_join (session);
  imap_compress_release (session);
  /* the command stays running (session->cmd); input flows for DONE */
  posthorn_connection_resume_input (session->conn);
  /* under NOTIFY only its SELECTED group makes IDLE push (RFC 5465 4) */
  if (session->state == IMAP_STATE_SELECTED && session->sync_wanted && session->notify == NULL)
    idle_sync (session);
}

void
imap_cmd_idle_line (ImapSession *session, const char *line, gsize length)
{
  if (!session->idling || session->idle_done)
    return;
  session->idle_end_status = imap_parser_line_is_done (line, length) ? "OK" : "BAD";
  /* balances the resume of imap_cmd_idle(); session_next resumes, so
   * commands pipelined after DONE wait for the tagged reply */
  posthorn_connection_pause_input (session->conn);
  if (session->sync_running)
    {
      /* the sync's untagged lines come first; idle_synced ends IDLE */
      session->idle_done = TRUE;
      keepalive_leave (session);
      return;
    }
  idle_end (session, session->idle_end_status);
}

void
imap_idle_mailbox_changed (ImapSession *session)
{
  /* under NOTIFY, imap-notify.c decides (imap_idle_notify_push) */
  if (session->notify == NULL && session->idling && !session->idle_done)
    idle_sync (session);
}

void
imap_idle_notify_push (ImapSession *session)
{
  if (session->idling && !session->idle_done)
    idle_sync (session);
}

void
imap_idle_forget (ImapSession *session)
{
  keepalive_leave (session);
  session->idling = FALSE;
}
