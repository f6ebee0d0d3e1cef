/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* APPEND and MULTIAPPEND (RFC 3502; UIDPLUS APPENDUID, APPENDLIMIT,
 * BINARY literal8, UTF8=ACCEPT "UTF8 (~{n})"). The message literals were
 * streamed into a PosthornMessageWriter while they arrived
 * (imap-session.c), so a big message is never held whole in memory; the
 * messages of one command are stored atomically. */
#include "imap-session.h"
#include "imap-sequence.h"

#include <string.h>

typedef struct {
  ImapSession *session;
  char *mailbox;
  guint64 quota_used;
} AppendJob;

static void
append_job_free (AppendJob *job)
{
  imap_session_unref (job->session);
  g_free (job->mailbox);
  g_free (job);
}

gboolean
imap_flags_parse (char **names, guint32 *flags, GPtrArray *keywords, char **bad)
{
  static const struct { const char *name; guint32 flag; } system_flags[] = {
    { "\\Seen", POSTHORN_MESSAGE_SEEN },
    { "\\Answered", POSTHORN_MESSAGE_ANSWERED },
    { "\\Flagged", POSTHORN_MESSAGE_FLAGGED },
    { "\\Deleted", POSTHORN_MESSAGE_DELETED },
    { "\\Draft", POSTHORN_MESSAGE_DRAFT },
    { "\\Recent", 0 },
  };

  *flags = 0;
  for (guint k = 0; names != NULL && names[k] != NULL; k++)
    {
      if (names[k][0] == '\\')
        {
          guint j;
          for (j = 0; j < G_N_ELEMENTS (system_flags); j++)
            if (g_ascii_strcasecmp (names[k], system_flags[j].name) == 0)
              break;
          if (j == G_N_ELEMENTS (system_flags))
            {
              *bad = names[k];
              return FALSE;
            }
          *flags |= system_flags[j].flag;
          continue;
        }
      if (keywords != NULL)
        {
          gboolean dup = FALSE;
          for (guint j = 0; j < keywords->len; j++)
            if (g_ascii_strcasecmp (g_ptr_array_index (keywords, j), names[k]) == 0)
              dup = TRUE;
          if (!dup)
            g_ptr_array_add (keywords, names[k]);
        }
    }
  return TRUE;
}

static void
append_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AppendJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  g_autoptr(ImapRangeList) uids = imap_range_list_new ();
  g_autofree char *set = NULL;
  g_autofree char *code = NULL;
  guint32 uidvalidity = 0;
  gboolean selected;

  if (imap_session_is_closed (session))
    {
      append_job_free (job);
      return;
    }
  if (changes == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "TRYCREATE",
                             "Mailbox does not exist.");
      else
        imap_session_finish_error (session, error, FALSE);
      append_job_free (job);
      return;
    }
  for (guint k = 0; k < posthorn_store_changes_get_count (changes); k++)
    {
      const PosthornStoreChange *c = posthorn_store_changes_get (changes, k);
      if (c->kind == POSTHORN_EVENT_MESSAGE_NEW)
        {
          uidvalidity = c->uidvalidity;
          imap_range_list_add (uids, c->uid, c->uid);
        }
    }
  set = imap_range_list_to_string (uids);
  selected = session->selected != NULL && strcmp (session->selected, job->mailbox) == 0;
  code = g_strdup_printf ("APPENDUID %u %s", uidvalidity, set);
  imap_session_finish (session, selected ? IMAP_SYNC_ALWAYS : IMAP_SYNC_WANTED, "OK",
                       code, "Append completed.");
  append_job_free (job);
}

/* The @index-th message of the command: streamed by the session, or
 * buffered by the parser. */
static PosthornMessage *
append_message_get (ImapSession *session, guint index)
{
  ImapAppendMessage *m = g_ptr_array_index (session->cmd->u.append.messages, index);
  PosthornMessage *msg = session->append_messages != NULL && index < session->append_messages->len
                           ? g_ptr_array_index (session->append_messages, index) : NULL;

  if (msg == NULL && m->data != NULL)
    {
      if (session->append_messages == NULL)
        session->append_messages =
          g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_message_unref);
      while (session->append_messages->len < index)
        g_ptr_array_add (session->append_messages, NULL);
      if (session->append_messages->len == index)
        g_ptr_array_add (session->append_messages, NULL);
      msg = posthorn_message_new_from_bytes (m->data);
      g_ptr_array_index (session->append_messages, index) = msg;
    }
  return msg;
}

/* MULTIAPPEND (RFC 3502) and APPEND: every message is checked first and
 * then all of them go to the store in one atomic call, so a refusal of
 * any message (size, flags, quota) stores none. */
static void
append_all (AppendJob *job)
{
  ImapSession *session = job->session;
  GPtrArray *messages = session->cmd->u.append.messages;
  g_autofree PosthornStoreAppendItem *items = g_new0 (PosthornStoreAppendItem, messages->len);
  g_autoptr(GPtrArray) keyword_lists = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  guint64 quota_used = job->quota_used;

  for (guint i = 0; i < messages->len; i++)
    {
      ImapAppendMessage *m = g_ptr_array_index (messages, i);
      PosthornMessage *msg = append_message_get (session, i);
      GPtrArray *keywords = g_ptr_array_new ();
      char *bad = NULL;

      g_ptr_array_add (keyword_lists, keywords);
      if (msg == NULL)
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "SERVERBUG", "Message data missing.");
          append_job_free (job);
          return;
        }
      if (m->utf8 && !session->utf8_accept)
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL,
                               "APPEND UTF8 needs ENABLE UTF8=ACCEPT");
          append_job_free (job);
          return;
        }
      if (posthorn_message_get_size (msg) == 0)
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "NO", NULL, "Can't save a zero byte message.");
          append_job_free (job);
          return;
        }
      if (session->settings->append_limit > 0
          && posthorn_message_get_size (msg) > session->settings->append_limit)
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "TOOBIG", "Message too big.");
          append_job_free (job);
          return;
        }
      if (session->settings->quota_storage > 0)
        {
          quota_used += posthorn_message_get_size (msg);
          if (quota_used > session->settings->quota_storage)
            {
              imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "OVERQUOTA", "Quota exceeded.");
              append_job_free (job);
              return;
            }
        }
      if (!imap_flags_parse (m->flags, &items[i].flags, keywords, &bad))
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL, "Invalid system flag %s", bad);
          append_job_free (job);
          return;
        }
      g_ptr_array_add (keywords, NULL);
      items[i].message = msg;
      items[i].keywords = (const char *const *) keywords->pdata;
      items[i].internal_date = m->has_date ? m->date : 0;
    }
  posthorn_store_append_multi_async (session->user, job->mailbox, items, messages->len,
                                     session->cancellable, append_done, job);
}

static void
append_quota_known (ImapSession *session, guint64 used, gpointer user_data)
{
  AppendJob *job = user_data;

  if (imap_session_is_closed (session))
    {
      append_job_free (job);
      return;
    }
  job->quota_used = used;
  append_all (job);
}

void
imap_cmd_append (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  char *name = imap_session_mailbox_from_client (session, session->cmd->u.append.mailbox, &error);
  AppendJob *job;

  if (name == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
      return;
    }
  job = g_new0 (AppendJob, 1);
  job->session = imap_session_ref (session);
  job->mailbox = name;
  if (session->settings->quota_storage > 0)
    {
      imap_quota_usage_async (session, append_quota_known, job);
      return;
    }
  append_all (job);
}
