/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-session-private.h"

#include <string.h>

/* ---- life cycle ---- */

ImapSession *
imap_session_ref (ImapSession *session)
{
  g_atomic_int_inc (&session->ref);
  return session;
}

void
imap_session_unref (ImapSession *session)
{
  if (!g_atomic_int_dec_and_test (&session->ref))
    return;
  imap_idle_forget (session);
  imap_notify_free (session);
  imap_compress_free (session);
  imap_parser_free (&session->parser);
  g_clear_pointer (&session->cmd, imap_command_free);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_error (&session->append_error);
  posthorn_sasl_session_free (&session->sasl);
  if (session->event_sub != 0)
    posthorn_event_unsubscribe (session->event_sub);
  g_clear_pointer (&session->view, posthorn_mailbox_view_unref);
  g_clear_pointer (&session->selected, g_free);
  g_clear_pointer (&session->saved_uids, g_array_unref);
  g_clear_pointer (&session->user, posthorn_store_user_unref);
  g_clear_pointer (&session->username, g_free);
  g_clear_object (&session->cancellable);
  g_free (session);
}

gboolean
imap_session_is_closed (ImapSession *session)
{
  return session->conn == NULL;
}

/* ---- output ---- */

void
imap_session_write (ImapSession *session, const void *data, gsize length)
{
  if (session->conn == NULL || length == 0)
    return;
  if (session->deflate != NULL)
    imap_compress_write (session, data, length);
  else
    posthorn_connection_write (session->conn, data, length);
}

void
imap_session_write_string (ImapSession *session, GString *text)
{
  imap_session_write (session, text->str, text->len);
}

void
imap_session_printf (ImapSession *session, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  imap_session_write (session, text, strlen (text));
}

void
imap_session_when_drained (ImapSession *session,
                           void (*func) (ImapSession *session, gpointer user_data),
                           gpointer user_data)
{
  session->drained = func;
  session->drained_data = user_data;
  if (session->conn != NULL)
    posthorn_connection_notify_drained (session->conn);
}

/* ---- capabilities ---- */

char *
imap_session_capabilities (ImapSession *session)
{
  GString *caps = g_string_new ("IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE ID");

  if (session->state == IMAP_STATE_NOT_AUTH)
    {
      g_auto(GStrv) mechs = posthorn_auth_list_mechanisms (session->conn);

      if (session->conn != NULL && !posthorn_connection_is_tls (session->conn)
          && posthorn_connection_tls_available (session->conn))
        g_string_append (caps, " STARTTLS");
      if (!posthorn_auth_plaintext_allowed (session->conn))
        g_string_append (caps, " LOGINDISABLED");
      for (guint k = 0; mechs != NULL && mechs[k] != NULL; k++)
        g_string_append_printf (caps, " AUTH=%s", mechs[k]);
      return g_string_free (caps, FALSE);
    }
  g_string_append (caps, " NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN"
                         " SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS"
                         " ESEARCH SEARCHRES STATUS=SIZE BINARY UTF8=ACCEPT"
                         " SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT IDLE"
                         " CONDSTORE QRESYNC NOTIFY");
  if (session->deflate == NULL)
    g_string_append (caps, " COMPRESS=DEFLATE");
  if (session->settings->quota_storage > 0)
    g_string_append (caps, " QUOTA QUOTA=RES-STORAGE");
  if (session->settings->append_limit > 0)
    g_string_append_printf (caps, " APPENDLIMIT=%" G_GUINT64_FORMAT,
                            session->settings->append_limit);
  else
    g_string_append (caps, " APPENDLIMIT");
  if (posthorn_store_can_append_multi ())
    g_string_append (caps, " MULTIAPPEND");
  return g_string_free (caps, FALSE);
}

/* ---- input ---- */

static void
reply_parse_error (ImapSession *session)
{
  const ImapParseError *err = imap_parser_get_error (session->parser);
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out, "%s %s ", err->tag != NULL ? err->tag : "*",
                          err->no ? "NO" : "BAD");
  if (err->code != NULL)
    g_string_append_printf (out, "[%s] ", err->code);
  g_string_append_printf (out, "%s\r\n", err->text);
  imap_session_write_string (session, out);
  session->bad_commands = err->no ? 0 : session->bad_commands + 1;
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_error (&session->append_error);
}

static void
imap_session_reset_parser (ImapSession *session)
{
  ImapParserLimits limits = { 0 };

  limits.max_line_length = session->settings->max_line_length;
  limits.max_literal_size = session->settings->max_literal_size;
  limits.max_append_size = session->settings->append_limit;
  imap_parser_free (&session->parser);
  session->parser = imap_parser_new (&limits, session->utf8_accept ? IMAP_PARSER_UTF8_ACCEPT : 0);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_error (&session->append_error);
}

static void
start_literal (ImapSession *session)
{
  const ImapLiteralInfo *lit = imap_parser_get_literal (session->parser);

  if (lit->role == IMAP_LITERAL_APPEND_MESSAGE)
    {
      if (lit->synchronizing
          && (session->state == IMAP_STATE_NOT_AUTH || session->state == IMAP_STATE_LOGOUT))
        {
          /* refuse before "+": the client sends no data; start afresh */
          imap_session_printf (session, "%s BAD Command is not valid before login\r\n",
                               lit->tag != NULL ? lit->tag : "*");
          imap_session_reset_parser (session);
          return;
        }
      if (session->state == IMAP_STATE_NOT_AUTH || session->state == IMAP_STATE_LOGOUT)
        {
          if (session->append_error == NULL)
            g_set_error (&session->append_error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                         "Not logged in");
        }
      else if (session->append_error == NULL)
        session->append_writer = posthorn_message_writer_new (NULL, 0);
    }
  if (lit->synchronizing && lit->role != IMAP_LITERAL_DISCARD)
    imap_session_write_literal (session, "+ Ready for literal data\r\n");
  posthorn_connection_read_bytes (session->conn, lit->size);
}

/* [imap4] max_preauth_commands: a connection that does not log in
 * within that many commands is closed. */
static gboolean
preauth_limit_hit (ImapSession *session, ImapParseResult result)
{
  if (session->state != IMAP_STATE_NOT_AUTH || session->settings->max_preauth_commands == 0
      || (result != IMAP_PARSE_COMMAND && result != IMAP_PARSE_ERROR))
    return FALSE;
  if (++session->preauth_commands <= session->settings->max_preauth_commands)
    return FALSE;
  imap_session_write_literal (session, "* BYE Too many commands before authentication\r\n");
  session->state = IMAP_STATE_LOGOUT;
  imap_session_reset_parser (session);
  posthorn_connection_close (session->conn);
  return TRUE;
}

static void
handle_parse_result (ImapSession *session, ImapParseResult result)
{
  if (preauth_limit_hit (session, result))
    return;
  switch (result)
    {
    case IMAP_PARSE_COMMAND:
      imap_session_start_command (session, imap_parser_take_command (session->parser));
      break;
    case IMAP_PARSE_NEED_LITERAL:
      start_literal (session);
      break;
    case IMAP_PARSE_ERROR:
      reply_parse_error (session);
      if (imap_session_check_bad_limit (session))
        break;
      if (imap_parser_get_literal (session->parser) != NULL)
        posthorn_connection_read_bytes (session->conn,
                                        imap_parser_get_literal (session->parser)->size);
      break;
    case IMAP_PARSE_NOTHING:
    default:
      break;
    }
}

static void
on_line (PosthornConnection *conn, const char *line, gsize length,
         PosthornLineEnd end, gpointer user_data)
{
  ImapSession *session = user_data;

  if (session->state == IMAP_STATE_LOGOUT)
    return;
  if (session->sasl_waiting)
    {
      imap_cmd_authenticate_line (session, line);
      return;
    }
  if (session->idling)
    {
      imap_cmd_idle_line (session, line, length);
      return;
    }
  if (session->busy)
    {
      /* cannot happen while input is paused; be safe */
      return;
    }
  handle_parse_result (session, imap_parser_feed_line (session->parser, line, length));
}

static void
on_bytes (PosthornConnection *conn, const guint8 *data, gsize length,
          gboolean last, gpointer user_data)
{
  ImapSession *session = user_data;
  const ImapLiteralInfo *lit = imap_parser_get_literal (session->parser);

  if (lit == NULL)
    return;
  if (lit->role == IMAP_LITERAL_APPEND_MESSAGE)
    {
      if (session->append_writer != NULL && length > 0)
        {
          g_autoptr(GError) error = NULL;
          if (!posthorn_message_writer_write (session->append_writer, data, length, &error))
            {
              g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
              if (session->append_error == NULL)
                session->append_error = g_steal_pointer (&error);
            }
        }
      if (last)
        {
          if (session->append_writer != NULL)
            {
              g_autoptr(GError) error = NULL;
              PosthornMessage *msg = posthorn_message_writer_finish (session->append_writer, &error);

              g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
              if (msg == NULL && session->append_error == NULL)
                session->append_error = g_steal_pointer (&error);
              if (msg != NULL)
                {
                  if (session->append_messages == NULL)
                    session->append_messages =
                      g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_message_unref);
                  g_ptr_array_add (session->append_messages, msg);
                }
            }
          imap_parser_literal_consumed (session->parser);
        }
      return;
    }
  if (length > 0)
    imap_parser_feed_literal (session->parser, data, length);
  else if (last && imap_parser_get_literal (session->parser) != NULL)
    imap_parser_literal_consumed (session->parser);
}

static void
on_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE [TOOBIG] Command line too long\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_drained (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;
  void (*func) (ImapSession *, gpointer) = session->drained;

  session->drained = NULL;
  if (func != NULL)
    func (session, session->drained_data);
}

static void
on_idle_timeout (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE Disconnected for inactivity.\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_shutdown (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE Server shutting down.\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_closed (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  void (*drained) (ImapSession *, gpointer) = session->drained;

  g_cancellable_cancel (session->cancellable);
  imap_idle_forget (session);
  if (session->sasl != NULL)
    posthorn_sasl_session_free (&session->sasl);
  session->conn = NULL;
  session->drained = NULL;
  /* a writer waiting for the output to drain learns that it never will */
  if (drained != NULL)
    drained (session, session->drained_data);
}

static const PosthornConnectionHandler session_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = on_line,
  .line_too_long = on_line_too_long,
  .bytes = on_bytes,
  .drained = on_drained,
  .idle_timeout = on_idle_timeout,
  .shutdown = on_shutdown,
  .closed = on_closed,
};

ImapSession *
imap_session_new (PosthornConnection *conn, const ImapSettings *settings)
{
  ImapSession *session = g_new0 (ImapSession, 1);
  g_autofree char *caps = NULL;

  session->ref = 1;
  session->conn = conn;
  session->settings = settings;
  session->cancellable = g_cancellable_new ();
  imap_session_reset_parser (session);
  posthorn_connection_set_handler (conn, &session_handler, session,
                                   (GDestroyNotify) imap_session_unref);
  posthorn_connection_set_line_mode (conn, settings->max_line_length, POSTHORN_LINE_DEFAULT);
  posthorn_connection_set_idle_timeout (conn, settings->login_timeout);
  posthorn_connection_set_state (conn, "login");
  caps = imap_session_capabilities (session);
  imap_session_printf (session, "* OK [CAPABILITY %s] Posthorn ready.\r\n", caps);
  return session;
}
