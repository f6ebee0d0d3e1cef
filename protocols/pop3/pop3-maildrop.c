/* The maildrop: the user's INBOX as a snapshot taken at login (message
 * numbers and sizes are fixed for the session), the TRANSACTION commands
 * over it, and the UPDATE state that QUIT enters.
 *
 * The snapshot comes from a read-only mailbox view, so a POP3 login
 * claims no \Recent (an IMAP client still sees new mail as recent) and
 * changes no flag: mail left on the server stays exactly as it was.
 * DELE only marks the message in the session; QUIT sets \Deleted on the
 * marked UIDs and expunges those UIDs alone, never messages an IMAP client
 * flagged \Deleted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pop3-session.h"

/* UIDs per posthorn_store_fetch_sizes_async() round trip at login (about
 * 40 bytes of result each), and how many such round trips run at once. */
#define POP3_FETCH_BATCH 8192
#define POP3_FETCH_PARALLEL 2
/* A multi-line listing is written in pieces of about this size. */
#define POP3_LISTING_PIECE (16 * 1024)

#define POP3_SIZE_MISSING G_MAXUINT64

void
pop3_maildrop_free (Pop3Session *session)
{
  g_clear_pointer (&session->store_user, posthorn_store_user_unref);
  g_clear_pointer (&session->uids, g_free);
  g_clear_pointer (&session->sizes, g_free);
  g_clear_pointer (&session->msg_flags, g_free);
  g_clear_pointer (&session->user, g_free);
  session->n_messages = 0;
  session->total_size = 0;
  session->n_deleted = 0;
  session->deleted_size = 0;
}

static void
maildrop_open_failed (Pop3Session *session, const GError *error)
{
  if (!session->closed)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                               "cannot open the maildrop: %s", error->message);
      pop3_session_reply (session, "-ERR [SYS/TEMP] Cannot open the maildrop: %s",
                          error->message);
      posthorn_connection_set_user (session->conn, NULL);
    }
  pop3_session_unlock (session);
  pop3_maildrop_free (session);
  pop3_session_end_async (session);
}

static void
maildrop_open_done (Pop3Session *session)
{
  guint kept = 0;

  /* Drop what was expunged between the view and the fetch. */
  for (guint i = 0; i < session->n_messages; i++)
    if (session->sizes[i] != POP3_SIZE_MISSING)
      {
        session->uids[kept] = session->uids[i];
        session->sizes[kept] = session->sizes[i];
        session->msg_flags[kept] = session->msg_flags[i];
        session->total_size += session->sizes[i];
        kept++;
      }
  session->n_messages = kept;
  if (!session->closed)
    {
      /* The core's auth counted the login ("logins") already. */
      pop3_session_set_state (session, POP3_STATE_TRANSACTION);
      posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO,
                               "logged in: %u messages, %" G_GUINT64_FORMAT " octets",
                               session->n_messages, session->total_size);
      pop3_session_reply (session, "+OK Logged in, %u messages (%" G_GUINT64_FORMAT " octets)",
                          session->n_messages, session->total_size);
    }
  pop3_session_end_async (session);
}

static void maildrop_fetch_pump (Pop3Session *session);

static void
maildrop_fetch_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Session *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreFetch) fetch = posthorn_store_fetch_finish (result, &error);
  guint j = 0;

  session->fetch_pending--;
  if (fetch == NULL)
    {
      if (session->fetch_error == NULL)
        session->fetch_error = g_steal_pointer (&error);
      maildrop_fetch_pump (session);
      return;
    }
  /* Results are ascending by UID, as the snapshot is: merge. A UID
   * expunged meanwhile is missing and keeps POP3_SIZE_MISSING. */
  for (guint i = 0; i < posthorn_store_fetch_get_count (fetch); i++)
    {
      const PosthornStoreMessageMeta *meta = posthorn_store_fetch_get (fetch, i);

      while (j < session->n_messages && session->uids[j] < meta->uid)
        j++;
      if (j < session->n_messages && session->uids[j] == meta->uid)
        session->sizes[j] = meta->size;
    }
  maildrop_fetch_pump (session);
}

/* Fetches the sizes (only: no message info is decoded) in batches, on
 * worker threads, then finishes the login. */
static void
maildrop_fetch_pump (Pop3Session *session)
{
  while (session->fetch_pending < POP3_FETCH_PARALLEL &&
         session->fetch_next < session->n_messages &&
         session->fetch_error == NULL && !session->closed)
    {
      guint start = session->fetch_next;
      guint n = MIN (session->n_messages - start, POP3_FETCH_BATCH);

      session->fetch_next = start + n;
      session->fetch_pending++;
      posthorn_store_fetch_sizes_async (session->store_user, "INBOX", session->uidvalidity,
                                        session->uids + start, n, session->cancellable,
                                        maildrop_fetch_done, session);
    }
  if (session->fetch_pending > 0)
    return;
  if (session->fetch_error != NULL)
    {
      g_autoptr(GError) error = g_steal_pointer (&session->fetch_error);
      maildrop_open_failed (session, error);
    }
  else if (session->closed)
    {
      g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "connection closed");
      maildrop_open_failed (session, error);
    }
  else
    maildrop_open_done (session);
}

static void
maildrop_view_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Session *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) view = posthorn_mailbox_view_open_finish (result, &error);
  guint n;

  if (view == NULL)
    {
      maildrop_open_failed (session, error);
      return;
    }
  n = posthorn_mailbox_view_get_count (view);
  session->uidvalidity = posthorn_mailbox_view_get_uidvalidity (view);
  session->n_messages = n;
  session->uids = g_new (guint32, MAX (n, 1));
  session->sizes = g_new (guint64, MAX (n, 1));
  session->msg_flags = g_new0 (guint8, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      session->uids[i] = posthorn_mailbox_view_get_uid (view, i + 1);
      session->sizes[i] = POP3_SIZE_MISSING;
      if (posthorn_mailbox_view_get_flags (view, i + 1) & POSTHORN_MESSAGE_DELETED)
        session->msg_flags[i] |= POP3_MSG_WAS_DELETED;
    }
  session->fetch_next = 0;
  maildrop_fetch_pump (session);
}

static void
maildrop_user_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Session *session = user_data;
  g_autoptr(GError) error = NULL;

  session->store_user = posthorn_store_user_open_finish (result, &error);
  if (session->store_user == NULL)
    {
      maildrop_open_failed (session, error);
      return;
    }
  posthorn_mailbox_view_open_async (session->store_user, "INBOX", POSTHORN_VIEW_READ_ONLY,
                                    session->cancellable, maildrop_view_done, session);
}

void
pop3_maildrop_open (Pop3Session *session, const char *user)
{
  if (session->closed)
    {
      pop3_session_end_async (session);
      return;
    }
  if (!pop3_session_lock (session, user))
    {
      /* the core set the user when it accepted the password: this
       * session never owned the maildrop, so it stops counting as one */
      posthorn_connection_set_user (session->conn, NULL);
      posthorn_connection_count (session->conn, "logins_in_use", 1);
      pop3_session_reply (session, "-ERR [IN-USE] Mailbox is locked by another POP3 session");
      pop3_session_end_async (session);
      return;
    }
  posthorn_connection_set_user (session->conn, user);
  posthorn_store_user_open_async (user, session, session->cancellable, maildrop_user_done,
                                  session);
}

void
pop3_maildrop_stat (Pop3Session *session)
{
  pop3_session_reply (session, "+OK %u %" G_GUINT64_FORMAT,
                      session->n_messages - session->n_deleted,
                      session->total_size - session->deleted_size);
}

void
pop3_maildrop_listing_continue (Pop3Session *session)
{
  g_autoptr(GString) piece = g_string_sized_new (POP3_LISTING_PIECE + 64);

  while (session->listing_next < session->n_messages &&
         !posthorn_connection_output_is_full (session->conn))
    {
      guint i = session->listing_next++;

      if (session->msg_flags[i] & POP3_MSG_DELETED)
        continue;
      if (session->listing_kind == POP3_CMD_LIST)
        g_string_append_printf (piece, "%u %" G_GUINT64_FORMAT "\r\n", i + 1, session->sizes[i]);
      else
        {
          char uidl[17];

          pop3_session_format_uidl (session, i, uidl);
          g_string_append_printf (piece, "%u %s\r\n", i + 1, uidl);
        }
      if (piece->len >= POP3_LISTING_PIECE)
        {
          posthorn_connection_write (session->conn, piece->str, piece->len);
          g_string_truncate (piece, 0);
        }
    }
  if (session->listing_next >= session->n_messages)
    g_string_append (piece, ".\r\n");
  posthorn_connection_write (session->conn, piece->str, piece->len);
  if (session->listing_next < session->n_messages)
    {
      posthorn_connection_notify_drained (session->conn);
      return;
    }
  session->listing = FALSE;
  pop3_session_end_async (session);
}

static void
maildrop_listing_start (Pop3Session *session, Pop3CommandKind kind, const char *first_line)
{
  pop3_session_reply (session, "%s", first_line);
  session->listing = TRUE;
  session->listing_kind = kind;
  session->listing_next = 0;
  pop3_session_begin_async (session);
  pop3_maildrop_listing_continue (session);
}

void
pop3_maildrop_list (Pop3Session *session, Pop3Command *cmd)
{
  g_autofree char *first = NULL;

  if (cmd->has_msg)
    {
      guint msg = pop3_session_check_msg (session, cmd->msg);

      if (msg != 0)
        pop3_session_reply (session, "+OK %u %" G_GUINT64_FORMAT, msg, session->sizes[msg - 1]);
      return;
    }
  first = g_strdup_printf ("+OK %u messages (%" G_GUINT64_FORMAT " octets)",
                           session->n_messages - session->n_deleted,
                           session->total_size - session->deleted_size);
  maildrop_listing_start (session, POP3_CMD_LIST, first);
}

void
pop3_maildrop_uidl (Pop3Session *session, Pop3Command *cmd)
{
  if (cmd->has_msg)
    {
      guint msg = pop3_session_check_msg (session, cmd->msg);
      char uidl[17];

      if (msg == 0)
        return;
      pop3_session_format_uidl (session, msg - 1, uidl);
      pop3_session_reply (session, "+OK %u %s", msg, uidl);
      return;
    }
  maildrop_listing_start (session, POP3_CMD_UIDL, "+OK Unique-ID listing follows");
}

void
pop3_maildrop_dele (Pop3Session *session, Pop3Command *cmd)
{
  guint msg = pop3_session_check_msg (session, cmd->msg);

  if (msg == 0)
    return;
  session->msg_flags[msg - 1] |= POP3_MSG_DELETED;
  session->n_deleted++;
  session->deleted_size += session->sizes[msg - 1];
  pop3_session_reply (session, "+OK Message %u deleted", msg);
}

void
pop3_maildrop_rset (Pop3Session *session)
{
  for (guint i = 0; i < session->n_messages; i++)
    session->msg_flags[i] &= (guint8) ~POP3_MSG_DELETED;
  session->n_deleted = 0;
  session->deleted_size = 0;
  pop3_session_reply (session, "+OK Maildrop has %u messages (%" G_GUINT64_FORMAT " octets)",
                      session->n_messages, session->total_size);
}

/* ---- UPDATE ---- */

typedef struct {
  Pop3Session *session;
  GArray *uids;          /* DELE'd UIDs, ascending */
  GArray *undo_uids;     /* those that had no \Deleted before */
} Pop3Update;

static void
update_free (Pop3Update *update)
{
  g_array_unref (update->uids);
  g_array_unref (update->undo_uids);
  g_free (update);
}

static void
update_finish (Pop3Update *update, const GError *error)
{
  Pop3Session *session = update->session;

  pop3_session_unlock (session);
  if (error == NULL)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO, "QUIT: %u messages deleted",
                               update->uids->len);
      pop3_session_reply (session, "+OK Logging out, %u messages deleted", update->uids->len);
    }
  else
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_WARNING,
                               "QUIT: deleting messages failed: %s", error->message);
      pop3_session_reply (session, "-ERR [SYS/TEMP] Deleting messages failed, none deleted: %s",
                          error->message);
    }
  posthorn_connection_close (session->conn);
  pop3_session_end_async (session);
  update_free (update);
}

typedef struct {
  Pop3Update *update;
  GError *error;
} Pop3Undo;

static void
update_undo_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Undo *undo = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (changes == NULL)
    posthorn_connection_log (undo->update->session->conn, G_LOG_LEVEL_WARNING,
                             "QUIT: could not remove \\Deleted again: %s", error->message);
  update_finish (undo->update, undo->error);
  g_error_free (undo->error);
  g_free (undo);
}

static void
update_expunge_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Update *update = user_data;
  Pop3Session *session = update->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  Pop3Undo *undo;

  if (changes != NULL || update->undo_uids->len == 0)
    {
      update_finish (update, error);
      return;
    }
  /* Leave no \Deleted behind that POP3 set: an IMAP EXPUNGE would
   * otherwise remove messages this session failed to delete. */
  undo = g_new0 (Pop3Undo, 1);
  undo->update = update;
  undo->error = g_steal_pointer (&error);
  posthorn_store_store_flags_async (session->store_user, "INBOX", session->uidvalidity,
                                    (const guint32 *) update->undo_uids->data,
                                    update->undo_uids->len, POSTHORN_FLAGS_REMOVE,
                                    POSTHORN_MESSAGE_DELETED, NULL, 0, NULL,
                                    update_undo_done, undo);
}

static void
update_flags_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pop3Update *update = user_data;
  Pop3Session *session = update->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (changes == NULL)
    {
      update_finish (update, error);
      return;
    }
  /* Not cancellable: the client said QUIT, the deletion goes through
   * even if the connection drops now. */
  posthorn_store_expunge_async (session->store_user, "INBOX", session->uidvalidity,
                                (const guint32 *) update->uids->data, update->uids->len,
                                NULL, update_expunge_done, update);
}

void
pop3_maildrop_quit (Pop3Session *session)
{
  Pop3Update *update;

  pop3_session_set_state (session, POP3_STATE_UPDATE);
  if (session->n_deleted == 0)
    {
      pop3_session_unlock (session);
      pop3_session_reply (session, "+OK Logging out");
      posthorn_connection_close (session->conn);
      return;
    }
  update = g_new0 (Pop3Update, 1);
  update->session = session;
  update->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), session->n_deleted);
  update->undo_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (guint i = 0; i < session->n_messages; i++)
    if (session->msg_flags[i] & POP3_MSG_DELETED)
      {
        g_array_append_val (update->uids, session->uids[i]);
        if (!(session->msg_flags[i] & POP3_MSG_WAS_DELETED))
          g_array_append_val (update->undo_uids, session->uids[i]);
      }
  pop3_session_begin_async (session);
  posthorn_store_store_flags_async (session->store_user, "INBOX", session->uidvalidity,
                                    (const guint32 *) update->uids->data, update->uids->len,
                                    POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0,
                                    NULL, update_flags_done, update);
}
