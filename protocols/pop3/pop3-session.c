/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pop3-session.h"

#include <stdarg.h>

/* Canonical user → the session holding that maildrop. One daemon serves
 * a store, so a process-wide table is the maildrop lock. */
static GHashTable *pop3_locks;

static const char *
state_word (Pop3State state)
{
  switch (state)
    {
    case POP3_STATE_TRANSACTION: return "transaction";
    case POP3_STATE_UPDATE: return "update";
    case POP3_STATE_AUTHORIZATION:
    default: return "authorization";
    }
}

void
pop3_session_set_state (Pop3Session *session, Pop3State state)
{
  session->state = state;
  posthorn_connection_set_state (session->conn, state_word (state));
}

Pop3Session *
pop3_session_ref (Pop3Session *session)
{
  g_atomic_int_inc (&session->ref_count);
  return session;
}

void
pop3_session_unref (Pop3Session *session)
{
  if (!g_atomic_int_dec_and_test (&session->ref_count))
    return;
  pop3_session_unlock (session);
  g_clear_pointer (&session->retr, pop3_retr_free);
  pop3_prefetch_drop (session);
  pop3_maildrop_free (session);
  posthorn_sasl_session_free (&session->sasl);
  g_free (session->user_name);
  g_clear_object (&session->cancellable);
  posthorn_connection_unref (session->conn);
  g_free (session);
}

void
pop3_session_begin_async (Pop3Session *session)
{
  posthorn_connection_pause_input (session->conn);
  pop3_session_ref (session);
}

void
pop3_session_end_async (Pop3Session *session)
{
  posthorn_connection_resume_input (session->conn);
  pop3_session_unref (session);
}

void
pop3_session_reply (Pop3Session *session, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  posthorn_connection_printf (session->conn, "%s\r\n", text);
}

gboolean
pop3_session_lock (Pop3Session *session, const char *user)
{
  g_assert (!session->locked);
  if (pop3_locks == NULL)
    pop3_locks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (g_hash_table_contains (pop3_locks, user))
    return FALSE;
  g_hash_table_insert (pop3_locks, g_strdup (user), session);
  session->user = g_strdup (user);
  session->locked = TRUE;
  return TRUE;
}

void
pop3_session_unlock (Pop3Session *session)
{
  if (!session->locked)
    return;
  g_hash_table_remove (pop3_locks, session->user);
  session->locked = FALSE;
  if (g_hash_table_size (pop3_locks) == 0)
    g_clear_pointer (&pop3_locks, g_hash_table_unref);
}

guint
pop3_session_check_msg (Pop3Session *session, guint32 msg)
{
  if (msg > session->n_messages)
    {
      pop3_session_reply (session, "-ERR There is no message %u (the maildrop has %u)",
                          msg, session->n_messages);
      return 0;
    }
  if (session->msg_flags[msg - 1] & POP3_MSG_DELETED)
    {
      pop3_session_reply (session, "-ERR Message %u is already deleted", msg);
      return 0;
    }
  return msg;
}

void
pop3_session_format_uidl (Pop3Session *session, guint index, char out[17])
{
  /* Dovecot's default pop3_uidl_format %08Xu%08Xv: UID then UIDVALIDITY,
   * so a maildrop migrated from Dovecot keeps its UIDLs. */
  g_snprintf (out, 17, "%08X%08X", session->uids[index], session->uidvalidity);
}

static void
session_dispatch (Pop3Session *session, Pop3Command *cmd)
{
  switch (cmd->kind)
    {
    case POP3_CMD_CAPA: pop3_auth_capa (session); break;
    case POP3_CMD_USER: pop3_auth_user (session, cmd); break;
    case POP3_CMD_PASS: pop3_auth_pass (session, cmd); break;
    case POP3_CMD_AUTH: pop3_auth_auth (session, cmd); break;
    case POP3_CMD_STLS: pop3_auth_stls (session); break;
    case POP3_CMD_APOP:
      pop3_session_reply (session, "-ERR APOP is not supported; use AUTH or USER/PASS");
      break;
    case POP3_CMD_QUIT:
      if (session->state == POP3_STATE_AUTHORIZATION)
        {
          pop3_session_reply (session, "+OK Bye");
          posthorn_connection_close (session->conn);
        }
      else
        pop3_maildrop_quit (session);
      break;
    case POP3_CMD_STAT: pop3_maildrop_stat (session); break;
    case POP3_CMD_LIST: pop3_maildrop_list (session, cmd); break;
    case POP3_CMD_UIDL: pop3_maildrop_uidl (session, cmd); break;
    case POP3_CMD_DELE: pop3_maildrop_dele (session, cmd); break;
    case POP3_CMD_RSET: pop3_maildrop_rset (session); break;
    case POP3_CMD_NOOP: pop3_session_reply (session, "+OK"); break;
    case POP3_CMD_RETR:
    case POP3_CMD_TOP:
      pop3_retr_start (session, cmd);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Counts one invalid command (unknown, bad arguments, wrong state, line
 * too long). The [pop3] max_bad_commands-th in a row (0: no limit) is
 * answered "-ERR Too many invalid commands" instead of its own error and
 * closes the connection: returns TRUE, the caller sends nothing more. */
static gboolean
session_bad_command (Pop3Session *session)
{
  if (session->settings->max_bad_commands == 0 ||
      ++session->bad_commands < session->settings->max_bad_commands)
    return FALSE;
  pop3_session_reply (session, "-ERR Too many invalid commands");
  posthorn_connection_count (session->conn, "too_many_errors", 1);
  posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO,
                           "closing after %u invalid commands in a row",
                           session->bad_commands);
  pop3_session_unlock (session);
  posthorn_connection_close (session->conn);
  return TRUE;
}

/* Counts one command line before login. The command after [pop3]
 * max_preauth_commands of them (0: no limit) is answered "-ERR Too many
 * commands before login" and closes the connection: returns TRUE. */
static gboolean
session_preauth_command (Pop3Session *session)
{
  if (session->state != POP3_STATE_AUTHORIZATION || session->settings->max_preauth_commands == 0 ||
      ++session->preauth_commands <= session->settings->max_preauth_commands)
    return FALSE;
  pop3_session_reply (session, "-ERR Too many commands before login");
  posthorn_connection_count (session->conn, "too_many_preauth_commands", 1);
  posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO,
                           "closing after %u commands without a login",
                           session->preauth_commands - 1);
  posthorn_connection_close (session->conn);
  return TRUE;
}

static void
session_line (PosthornConnection *conn, const char *line, gsize length,
              PosthornLineEnd end, gpointer user_data)
{
  Pop3Session *session = user_data;
  Pop3Command cmd;
  const char *error_text = NULL;

  if (session->state == POP3_STATE_UPDATE || session->closed)
    return;
  if (session->sasl_waiting || session->sasl_final_waiting)
    {
      pop3_auth_sasl_line (session, line);
      return;
    }
  if (session_preauth_command (session))
    return;
  if (!pop3_command_parse (line, length, &cmd, &error_text))
    {
      if (!session_bad_command (session))
        pop3_session_reply (session, "-ERR %s", error_text);
      return;
    }
  if ((pop3_command_states (cmd.kind) & session->state) == 0)
    {
      if (!session_bad_command (session))
        pop3_session_reply (session, "-ERR %s is not allowed %s", pop3_command_name (cmd.kind),
                            session->state == POP3_STATE_AUTHORIZATION ? "before logging in"
                                                                       : "after logging in");
    }
  else
    {
      session->bad_commands = 0;
      session_dispatch (session, &cmd);
    }
  pop3_command_clear (&cmd);
}

static void
session_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = user_data;

  if (session->sasl_waiting || session->sasl_final_waiting)
    {
      /* A SASL answer over the limit ends the exchange. */
      posthorn_sasl_session_cancel (session->sasl);
      posthorn_sasl_session_free (&session->sasl);
      session->sasl_waiting = session->sasl_final_waiting = FALSE;
    }
  if (session->state == POP3_STATE_UPDATE || session->closed)
    return;
  if (session_preauth_command (session) || session_bad_command (session))
    return;
  pop3_session_reply (session, "-ERR Line too long (the limit is %u octets)", POP3_MAX_LINE);
}

static void
session_drained (PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = user_data;

  if (session->listing)
    pop3_maildrop_listing_continue (session);
  else if (session->retr != NULL)
    pop3_retr_continue (session);
}

static void
session_idle_timeout (PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = user_data;

  /* Like a dropped connection: no UPDATE state, nothing is deleted. */
  if (session->state == POP3_STATE_UPDATE)
    return;
  /* In the middle of a multi-line reply a -ERR line would read as data. */
  if (session->retr == NULL && !session->listing)
    pop3_session_reply (session, "-ERR Disconnected for inactivity");
  /* The maildrop is free as soon as we give up the session, not when
   * the client finally closes its end. */
  pop3_session_unlock (session);
  posthorn_connection_close (conn);
}

static void
session_shutdown (PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = user_data;

  /* Nothing is deleted; a QUIT already in UPDATE finishes first. */
  if (session->state == POP3_STATE_UPDATE)
    return;
  if (session->retr == NULL && !session->listing)
    pop3_session_reply (session, "-ERR [SYS/TEMP] Server shutting down");
  pop3_session_unlock (session);
  posthorn_connection_close (conn);
}

static void
session_closed (PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = user_data;

  session->closed = TRUE;
  g_cancellable_cancel (session->cancellable);
  if (session->sasl != NULL)
    {
      /* A step in flight will not call back: end its async step here. */
      posthorn_sasl_session_cancel (session->sasl);
      posthorn_sasl_session_free (&session->sasl);
      if (session->sasl_in_flight)
        {
          session->sasl_in_flight = FALSE;
          pop3_session_end_async (session);
        }
    }
  if (session->listing)
    {
      session->listing = FALSE;
      pop3_session_end_async (session);
    }
  pop3_retr_abandon (session);
  if (session->state != POP3_STATE_UPDATE)
    pop3_session_unlock (session);
}

static const PosthornConnectionHandler session_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = session_line,
  .line_too_long = session_line_too_long,
  .drained = session_drained,
  .idle_timeout = session_idle_timeout,
  .shutdown = session_shutdown,
  .closed = session_closed,
};

void
pop3_session_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  Pop3Session *session = g_new0 (Pop3Session, 1);

  session->ref_count = 1;
  session->conn = posthorn_connection_ref (conn);
  session->settings = user_data;
  session->cancellable = g_cancellable_new ();
  posthorn_connection_set_handler (conn, &session_handler, session,
                                   (GDestroyNotify) pop3_session_unref);
  pop3_session_set_state (session, POP3_STATE_AUTHORIZATION);
  posthorn_connection_write_string (conn, "+OK Posthorn POP3 server ready\r\n");
}
