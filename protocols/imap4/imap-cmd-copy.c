/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COPY, MOVE (RFC 6851) and their UID forms, with COPYUID (UIDPLUS). */
#include "imap-session.h"
#include "imap-sequence.h"

#include <string.h>

GArray *imap_fetch_resolve_or_reply (ImapSession *session, const ImapSeqSet *set);

static void
copy_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  gboolean move = session->cmd != NULL && session->cmd->type == IMAP_COMMAND_MOVE;
  g_autoptr(GString) src = g_string_new (NULL);
  g_autoptr(GString) dst = g_string_new (NULL);
  g_autofree char *code = NULL;
  guint32 uidvalidity = 0;

  if (imap_session_is_closed (session))
    {
      imap_session_unref (session);
      return;
    }
  if (changes == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "TRYCREATE",
                             "Mailbox does not exist.");
      else
        imap_session_finish_error (session, error, FALSE);
      imap_session_unref (session);
      return;
    }
  /* COPYUID lists source and destination UIDs in matching order */
  for (guint k = 0; k < posthorn_store_changes_get_count (changes); k++)
    {
      const PosthornStoreChange *c = posthorn_store_changes_get (changes, k);
      if (c->kind != POSTHORN_EVENT_MESSAGE_NEW)
        continue;
      uidvalidity = c->uidvalidity;
      g_string_append_printf (src, "%s%u", src->len > 0 ? "," : "", c->src_uid);
      g_string_append_printf (dst, "%s%u", dst->len > 0 ? "," : "", c->uid);
    }
  if (src->len > 0)
    code = g_strdup_printf ("COPYUID %u %s %s", uidvalidity, src->str, dst->str);
  if (move)
    {
      if (code != NULL)
        imap_session_printf (session, "* OK [%s] Moved UIDs.\r\n", code);
      imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "Move completed.");
    }
  else
    imap_session_finish (session, IMAP_SYNC_WANTED, "OK", code, "Copy completed.");
  imap_session_unref (session);
}

void
imap_cmd_copy (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = imap_session_mailbox_from_client (session, cmd->u.copy.mailbox, &error);
  g_autoptr(GArray) uids = NULL;

  if (dest == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
      return;
    }
  if (cmd->type == IMAP_COMMAND_MOVE && session->read_only)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "READ-ONLY", "Mailbox is read-only.");
      return;
    }
  uids = imap_fetch_resolve_or_reply (session, cmd->u.copy.set);
  if (uids == NULL)
    return;
  if (uids->len == 0)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "No messages to %s.",
                           cmd->type == IMAP_COMMAND_MOVE ? "move" : "copy");
      return;
    }
  posthorn_store_copy_async (session->user, session->selected,
                             posthorn_mailbox_view_get_uidvalidity (session->view),
                             (const guint32 *) uids->data, uids->len, dest,
                             cmd->type == IMAP_COMMAND_MOVE, session->cancellable,
                             copy_done, imap_session_ref (session));
}
