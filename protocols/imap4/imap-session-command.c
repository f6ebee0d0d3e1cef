/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running commands: the state check, dispatch to the command families,
 * the tagged reply (after the sync it may need), the BAD limit, and
 * letting the next pipelined command in. */
#include "imap-session-private.h"

#include <string.h>

static void session_next (ImapSession *session);

static void
bad (ImapSession *session, const char *text)
{
  imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "%s", text);
}

static gboolean
state_allows (ImapSession *session, ImapCommandType type)
{
  switch (type)
    {
    case IMAP_COMMAND_CAPABILITY:
    case IMAP_COMMAND_NOOP:
    case IMAP_COMMAND_LOGOUT:
    case IMAP_COMMAND_ID:
      return TRUE;
    case IMAP_COMMAND_STARTTLS:
    case IMAP_COMMAND_AUTHENTICATE:
    case IMAP_COMMAND_LOGIN:
      return session->state == IMAP_STATE_NOT_AUTH;
    case IMAP_COMMAND_CHECK:
    case IMAP_COMMAND_CLOSE:
    case IMAP_COMMAND_UNSELECT:
    case IMAP_COMMAND_EXPUNGE:
    case IMAP_COMMAND_SEARCH:
    case IMAP_COMMAND_FETCH:
    case IMAP_COMMAND_STORE:
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
    case IMAP_COMMAND_SORT:
    case IMAP_COMMAND_THREAD:
      return session->state == IMAP_STATE_SELECTED;
    default:
      return session->state == IMAP_STATE_AUTH || session->state == IMAP_STATE_SELECTED;
    }
}

static void
dispatch (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;

  if (!state_allows (session, cmd->type))
    {
      if (session->state == IMAP_STATE_NOT_AUTH)
        bad (session, "Command is not valid before login");
      else if (session->state == IMAP_STATE_SELECTED || cmd->type == IMAP_COMMAND_LOGIN
               || cmd->type == IMAP_COMMAND_AUTHENTICATE || cmd->type == IMAP_COMMAND_STARTTLS)
        bad (session, "Command is not valid in this state");
      else
        bad (session, "No mailbox selected");
      return;
    }
  switch (cmd->type)
    {
    case IMAP_COMMAND_CAPABILITY: imap_cmd_capability (session); break;
    case IMAP_COMMAND_NOOP: imap_cmd_noop (session); break;
    case IMAP_COMMAND_IDLE: imap_cmd_idle (session); break;
    case IMAP_COMMAND_COMPRESS: imap_cmd_compress (session); break;
    case IMAP_COMMAND_NOTIFY: imap_cmd_notify (session); break;
    case IMAP_COMMAND_LOGOUT: imap_cmd_logout (session); break;
    case IMAP_COMMAND_STARTTLS: imap_cmd_starttls (session); break;
    case IMAP_COMMAND_AUTHENTICATE: imap_cmd_authenticate (session); break;
    case IMAP_COMMAND_LOGIN: imap_cmd_login (session); break;
    case IMAP_COMMAND_ENABLE: imap_cmd_enable (session); break;
    case IMAP_COMMAND_ID: imap_cmd_id (session); break;
    case IMAP_COMMAND_NAMESPACE: imap_cmd_namespace (session); break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE: imap_cmd_select (session); break;
    case IMAP_COMMAND_CREATE: imap_cmd_create (session); break;
    case IMAP_COMMAND_DELETE: imap_cmd_delete (session); break;
    case IMAP_COMMAND_RENAME: imap_cmd_rename (session); break;
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE: imap_cmd_subscribe (session); break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB: imap_cmd_list (session); break;
    case IMAP_COMMAND_STATUS: imap_cmd_status (session); break;
    case IMAP_COMMAND_APPEND: imap_cmd_append (session); break;
    case IMAP_COMMAND_GETQUOTA: imap_cmd_getquota (session); break;
    case IMAP_COMMAND_GETQUOTAROOT: imap_cmd_getquotaroot (session); break;
    case IMAP_COMMAND_SETQUOTA: imap_cmd_setquota (session); break;
    case IMAP_COMMAND_CHECK: imap_cmd_check (session); break;
    case IMAP_COMMAND_CLOSE: imap_cmd_close (session); break;
    case IMAP_COMMAND_UNSELECT: imap_cmd_unselect (session); break;
    case IMAP_COMMAND_EXPUNGE: imap_cmd_expunge (session); break;
    case IMAP_COMMAND_SEARCH: imap_cmd_search (session); break;
    case IMAP_COMMAND_FETCH: imap_cmd_fetch (session); break;
    case IMAP_COMMAND_STORE: imap_cmd_store (session); break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE: imap_cmd_copy (session); break;
    case IMAP_COMMAND_SORT: imap_cmd_sort (session); break;
    case IMAP_COMMAND_THREAD: imap_cmd_thread (session); break;
    default: bad (session, "Command not supported by this server"); break;
    }
}

void
imap_session_start_command (ImapSession *session, ImapCommand *cmd)
{
  session->cmd = cmd;
  session->busy = TRUE;
  posthorn_connection_pause_input (session->conn);
  if (session->append_error != NULL && cmd->type == IMAP_COMMAND_APPEND)
    {
      const char *code = g_error_matches (session->append_error, POSTHORN_ERROR,
                                          POSTHORN_ERROR_TOO_BIG) ? "TOOBIG" : NULL;
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", code, "%s",
                           session->append_error->message);
      return;
    }
  dispatch (session);
}

static gboolean
command_forbids_expunge (const ImapCommand *cmd)
{
  if (cmd == NULL || cmd->uid)
    return FALSE;
  switch (cmd->type)
    {
    case IMAP_COMMAND_FETCH:
    case IMAP_COMMAND_STORE:
    case IMAP_COMMAND_SEARCH:
    case IMAP_COMMAND_SORT:
    case IMAP_COMMAND_THREAD:
      return TRUE;
    default:
      return FALSE;
    }
}

/* [imap4] max_bad_commands: after that many BAD replies in a row the
 * session is closed (a client stuck in a loop, or someone probing). */
gboolean
imap_session_check_bad_limit (ImapSession *session)
{
  if (session->settings->max_bad_commands == 0
      || session->bad_commands < session->settings->max_bad_commands
      || session->state == IMAP_STATE_LOGOUT || imap_session_is_closed (session))
    return FALSE;
  imap_session_write_literal (session, "* BYE Too many invalid commands\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (session->conn);
  return TRUE;
}

static void
finish_tagged (ImapSession *session, gpointer user_data)
{
  char *line = user_data;

  if (imap_notify_internal_finished (session))
    {
      g_free (line);
      return;
    }
  imap_notify_flush (session);
  imap_session_write (session, line, strlen (line));
  g_free (line);
  imap_session_check_bad_limit (session);
  session_next (session);
}

void
imap_session_finish (ImapSession *session, ImapSyncMode sync, const char *status,
                     const char *code, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  char *line;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  session->bad_commands = strcmp (status, "BAD") == 0 ? session->bad_commands + 1 : 0;
  line = g_strdup_printf ("%s %s %s%s%s%s\r\n",
                          session->cmd != NULL ? session->cmd->tag : "*", status,
                          code != NULL ? "[" : "", code != NULL ? code : "",
                          code != NULL ? "] " : "", text);
  if (session->state == IMAP_STATE_SELECTED && session->view != NULL
      && !imap_session_is_closed (session)
      && (sync == IMAP_SYNC_ALWAYS || (sync == IMAP_SYNC_WANTED && session->sync_wanted)))
    {
      imap_session_sync (session, command_forbids_expunge (session->cmd), NULL,
                         finish_tagged, line);
      return;
    }
  finish_tagged (session, line);
}

static const char *
error_code (const GError *error, gboolean trycreate)
{
  if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_CANCELLED)
    return NULL;
  if (error->domain != POSTHORN_ERROR)
    return "SERVERBUG";
  switch (error->code)
    {
    case POSTHORN_ERROR_NOT_FOUND: return trycreate ? "TRYCREATE" : "NONEXISTENT";
    case POSTHORN_ERROR_EXISTS: return "ALREADYEXISTS";
    case POSTHORN_ERROR_INVALID: return "CANNOT";
    case POSTHORN_ERROR_AUTH_FAILED: return "AUTHENTICATIONFAILED";
    case POSTHORN_ERROR_TEMPORARY: return "UNAVAILABLE";
    case POSTHORN_ERROR_TOO_BIG: return "TOOBIG";
    case POSTHORN_ERROR_OVER_QUOTA: return "OVERQUOTA";
    case POSTHORN_ERROR_PERMISSION: return "CANNOT";
    case POSTHORN_ERROR_IN_USE: return "INUSE";
    case POSTHORN_ERROR_LIMIT: return "LIMIT";
    case POSTHORN_ERROR_UNSUPPORTED: return "CANNOT";
    default: return "SERVERBUG";
    }
}

void
imap_session_finish_error (ImapSession *session, const GError *error, gboolean trycreate)
{
  imap_session_finish (session, IMAP_SYNC_WANTED, "NO", error_code (error, trycreate),
                       "%s", error->message);
}

/* The running command ended: let the next one in. */
static void
session_next (ImapSession *session)
{
  if (session->cmd != NULL && session->cmd->type == IMAP_COMMAND_AUTHENTICATE
      && session->conn != NULL)
    posthorn_connection_set_line_mode (session->conn, session->settings->max_line_length,
                                       POSTHORN_LINE_DEFAULT);
  g_clear_pointer (&session->cmd, imap_command_free);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_error (&session->append_error);
  if (session->busy)
    {
      session->busy = FALSE;
      if (session->conn != NULL)
        posthorn_connection_resume_input (session->conn);
    }
  imap_notify_command_ended (session);
}

void
imap_session_unselect (ImapSession *session)
{
  if (session->event_sub != 0)
    posthorn_event_unsubscribe (session->event_sub);
  session->event_sub = 0;
  g_clear_pointer (&session->view, posthorn_mailbox_view_unref);
  g_clear_pointer (&session->selected, g_free);
  g_clear_pointer (&session->saved_uids, g_array_unref);
  session->sync_wanted = FALSE;
  if (session->state == IMAP_STATE_SELECTED)
    session->state = IMAP_STATE_AUTH;
  if (session->conn != NULL)
    posthorn_connection_set_state (session->conn, "auth");
}
