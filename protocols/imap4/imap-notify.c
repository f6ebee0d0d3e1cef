/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NOTIFY (RFC 5465): one connection watches several mailboxes.
 *
 * NOTIFY SET subscribes the session to all of the user's events on the
 * core event bus (the selected mailbox keeps its own subscription,
 * imap-cmd-select.c). Each event is matched against the event groups:
 *
 * - the selected mailbox: only a SELECTED or SELECTED-DELAYED group
 *   applies. Its message events are pushed without a command: a view sync
 *   (EXISTS, FETCH FLAGS, EXPUNGE / VANISHED; SELECTED-DELAYED keeps
 *   expunges for the next command that may report them), then, for
 *   MessageNew (fetch-att ...), an internal FETCH of the new messages
 *   (never setting \Seen), and every FETCH of a flag change carries the
 *   UID. Without such a group nothing is pushed for the selected mailbox,
 *   during IDLE neither (RFC 5465 3.1, 4): its changes come at the end
 *   of commands, as base IMAP has them. NOTIFY SET itself implies a NOOP.
 * - any other mailbox: the first group (in the client's order) whose
 *   filter matches decides; message events become STATUS responses
 *   (MESSAGES UIDNEXT UIDVALIDITY UNSEEN, and HIGHESTMODSEQ under
 *   CONDSTORE), MailboxName and SubscriptionChange LIST responses.
 *
 * Notifications are queued in order; STATUS needs a store round trip and
 * several events for one mailbox waiting in the queue become one STATUS.
 * They are written as soon as no command runs (or during IDLE), else held
 * and written before the running command's tagged reply. When more than
 * [imap4] notify_max_pending are waiting, the session gets
 * "* OK [NOTIFICATIONOVERFLOW]" and NOTIFY is off, as after NOTIFY NONE.
 *
 * Changes this session makes itself are not notified (it knows them);
 * messages it APPENDs or COPies into the selected mailbox get their
 * EXISTS but no MessageNew fetch-att FETCH (RFC 5465 5.2). */
#include "imap-notify.h"

#include <string.h>

ImapNotify *
imap_notify_ref (ImapNotify *n)
{
  n->ref++;
  return n;
}

void
imap_notify_job_free (ImapNotifyJob *job)
{
  g_free (job->mailbox);
  g_free (job->old);
  g_free (job);
}

static void
groups_free (GPtrArray *groups)
{
  for (guint k = 0; groups != NULL && k < groups->len; k++)
    {
      ImapNotifyGroup *g = g_ptr_array_index (groups, k);

      g_strfreev (g->mailboxes);
      g_clear_pointer (&g->message_new_items, g_ptr_array_unref);
    }
  g_clear_pointer (&groups, g_ptr_array_unref);
}

void
imap_notify_unref (ImapNotify *n)
{
  if (--n->ref > 0)
    return;
  g_queue_clear_full (&n->jobs, (GDestroyNotify) imap_notify_job_free);
  groups_free (n->groups);
  g_clear_pointer (&n->subscribed, g_hash_table_unref);
  g_clear_pointer (&n->own_new, g_array_unref);
  g_free (n->rename_old);
  g_free (n->rename_new);
  g_string_free (n->held, TRUE);
  g_free (n);
}

void
imap_notify_stop (ImapNotify *n)
{
  if (n->event_sub != 0)
    posthorn_event_unsubscribe (n->event_sub);
  n->event_sub = 0;
  g_clear_handle_id (&n->jobs_source, g_source_remove);
  g_queue_clear_full (&n->jobs, (GDestroyNotify) imap_notify_job_free);
  n->session = NULL;
  imap_notify_unref (n);
}

/* ---- matching ---- */

static gboolean
name_in_subtree (const char *root, const char *name)
{
  gsize len = strlen (root);

  return strncmp (root, name, len) == 0 && (name[len] == '\0' || name[len] == '/');
}

static gboolean
group_matches (ImapNotify *n, const ImapNotifyGroup *g, const char *name)
{
  switch (g->filter)
    {
    case IMAP_NOTIFY_INBOXES:
      return strcmp (name, "INBOX") == 0;
    case IMAP_NOTIFY_PERSONAL:
      return TRUE;
    case IMAP_NOTIFY_SUBSCRIBED:
      return n->subscribed != NULL && g_hash_table_contains (n->subscribed, name);
    case IMAP_NOTIFY_SUBTREE:
      for (guint k = 0; g->mailboxes[k] != NULL; k++)
        if (name_in_subtree (g->mailboxes[k], name))
          return TRUE;
      return FALSE;
    case IMAP_NOTIFY_MAILBOXES:
      return g_strv_contains ((const char *const *) g->mailboxes, name);
    case IMAP_NOTIFY_SELECTED:
    case IMAP_NOTIFY_SELECTED_DELAYED:
    default:
      return FALSE;
    }
}

/* The events wanted for a mailbox other than the selected one. */
guint
imap_notify_events_for (ImapNotify *n, const char *name)
{
  for (guint k = 0; k < n->groups->len; k++)
    {
      const ImapNotifyGroup *g = g_ptr_array_index (n->groups, k);

      if (group_matches (n, g, name))
        return g->events;
    }
  return 0;
}

/* ---- events ---- */

static gboolean
name_wanted (ImapNotify *n, const char *name)
{
  return (imap_notify_events_for (n, name) & IMAP_NOTIFY_MAILBOX_NAME) != 0;
}

/* TRUE if renaming @old to @name is the rename of a child that came with
 * the last one (the store sends a child's right after its parent's). */
static gboolean
is_renamed_child (ImapNotify *n, const char *old, const char *name)
{
  gsize len = n->rename_old != NULL ? strlen (n->rename_old) : 0;

  return n->rename_old != NULL && strncmp (old, n->rename_old, len) == 0 && old[len] == '/'
         && g_str_has_prefix (name, n->rename_new)
         && strcmp (name + strlen (n->rename_new), old + len) == 0;
}

/* MailboxName (RFC 5465 5.4): a LIST for each affected name, with the
 * attributes a LIST shows (read from the store when the job runs):
 * - created or deleted: the mailbox (\NonExistent when deleted) and its
 *   direct parent, existing or not;
 * - renamed: the new name with OLDNAME, nothing for the children renamed
 *   with it, nothing for the new INBOX a rename of INBOX leaves. */
static void
mailbox_name_event (ImapNotify *n, PosthornEventKind kind, const char *mailbox, const char *old,
                    gboolean own)
{
  gboolean child = FALSE;
  const char *slash;

  if (kind == POSTHORN_EVENT_MAILBOX_RENAMED && old != NULL)
    {
      /* a rename takes the subscription along (one event per name) */
      if (n->subscribed != NULL && g_hash_table_remove (n->subscribed, old))
        g_hash_table_add (n->subscribed, g_strdup (mailbox));
      child = is_renamed_child (n, old, mailbox);
      if (!child)
        {
          g_free (n->rename_old);
          g_free (n->rename_new);
          n->rename_old = g_strdup (old);
          n->rename_new = g_strdup (mailbox);
        }
    }
  else
    {
      gboolean new_inbox = kind == POSTHORN_EVENT_MAILBOX_CREATED && n->rename_old != NULL
                           && strcmp (n->rename_old, "INBOX") == 0 && strcmp (mailbox, "INBOX") == 0;

      g_clear_pointer (&n->rename_old, g_free);
      g_clear_pointer (&n->rename_new, g_free);
      if (new_inbox)
        return;
    }
  if (own || child)
    return;
  if ((name_wanted (n, mailbox) || (old != NULL && name_wanted (n, old)))
      && !imap_notify_queue_list (n, mailbox, kind == POSTHORN_EVENT_MAILBOX_RENAMED ? old : NULL,
                                  kind == POSTHORN_EVENT_MAILBOX_DELETED ? IMAP_NOTIFY_LIST_GONE
                                                                         : IMAP_NOTIFY_LIST_EXISTS))
    return;   /* overflowed: @n may be gone */
  if (kind != POSTHORN_EVENT_MAILBOX_RENAMED && (slash = strrchr (mailbox, '/')) != NULL)
    {
      g_autofree char *parent = g_strndup (mailbox, (gsize) (slash - mailbox));

      if (name_wanted (n, parent))
        imap_notify_queue_list (n, parent, NULL, IMAP_NOTIFY_LIST_AS_IS);
    }
}

static void
on_event (const PosthornEvent *event, gpointer user_data)
{
  ImapNotify *n = user_data;
  ImapSession *s = n->session;
  PosthornEventKind kind = posthorn_event_get_kind (event);
  const char *mailbox = posthorn_event_get_mailbox (event);
  const char *old = posthorn_event_get_old_mailbox (event);
  gboolean own = posthorn_event_get_origin (event) == s;

  if (s == NULL || n->overflowed || imap_session_is_closed (s) || s->state == IMAP_STATE_LOGOUT
      || mailbox == NULL)
    return;
  if (kind != POSTHORN_EVENT_MAILBOX_CREATED && kind != POSTHORN_EVENT_MAILBOX_RENAMED)
    {
      g_clear_pointer (&n->rename_old, g_free);
      g_clear_pointer (&n->rename_new, g_free);
    }
  switch (kind)
    {
    case POSTHORN_EVENT_MESSAGE_NEW:
    case POSTHORN_EVENT_MESSAGE_EXPUNGED:
    case POSTHORN_EVENT_FLAGS_CHANGED:
      if (own && kind == POSTHORN_EVENT_MESSAGE_NEW && s->selected != NULL
          && strcmp (mailbox, s->selected) == 0 && n->selected != NULL
          && n->selected->message_new_items != NULL)
        {
          guint32 uid = posthorn_event_get_uid (event);
          g_array_append_val (n->own_new, uid);
        }
      if (own)
        return;
      if (s->selected != NULL && strcmp (mailbox, s->selected) == 0)
        {
          imap_notify_selected_event (n, kind);
          return;
        }
      if ((imap_notify_events_for (n, mailbox) & NOTIFY_MESSAGE_EVENTS) != 0)
        imap_notify_queue_mailbox_job (n, IMAP_NOTIFY_JOB_STATUS, mailbox, FALSE, FALSE);
      return;
    case POSTHORN_EVENT_MAILBOX_CREATED:
    case POSTHORN_EVENT_MAILBOX_DELETED:
    case POSTHORN_EVENT_MAILBOX_RENAMED:
      mailbox_name_event (n, kind, mailbox, old, own);
      return;
    case POSTHORN_EVENT_SUBSCRIPTION_CHANGED:
      {
        gboolean wanted = !own && (imap_notify_events_for (n, mailbox) & IMAP_NOTIFY_SUBSCRIPTION_CHANGE) != 0;

        if (wanted || n->subscribed != NULL)
          imap_notify_queue_mailbox_job (n, IMAP_NOTIFY_JOB_SUBSCRIPTION, mailbox, !wanted, own);
      }
      return;
    default:
      return;
    }
}

/* ---- hooks ---- */

gboolean
imap_notify_wants_uid (ImapSession *session)
{
  return session->notify != NULL && session->notify->selected != NULL
         && !session->notify->overflowed;
}

gboolean
imap_notify_blocks_output (ImapSession *session)
{
  return session->notify != NULL && session->notify->internal != NULL;
}

gboolean
imap_notify_is_pushing (ImapSession *session)
{
  return session->notify != NULL && (session->notify->pushing || session->notify->internal != NULL);
}

void
imap_notify_free (ImapSession *session)
{
  ImapNotify *n = session->notify;

  if (n == NULL)
    return;
  session->notify = NULL;
  if (n->internal != NULL)
    {
      /* the session goes: its command is freed with it */
      if (session->cmd == n->internal)
        {
          imap_command_free (session->cmd);
          session->cmd = n->saved_cmd;
        }
      n->internal = NULL;
    }
  imap_notify_stop (n);
}

/* ---- NOTIFY ---- */

typedef struct {
  ImapSession *session;
  ImapNotify *notify;
  gboolean status;          /* SET STATUS */
} SetJob;

static void set_status_next (SetJob *job, GPtrArray *names);

static void
set_finish (SetJob *job)
{
  imap_session_finish (job->session, IMAP_SYNC_ALWAYS, "OK", NULL, "NOTIFY completed");
  imap_notify_unref (job->notify);
  imap_session_unref (job->session);
  g_free (job);
}

typedef struct {
  SetJob *job;
  GPtrArray *names;
} StatusStep;

static void
set_status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StatusStep *step = user_data;
  SetJob *job = step->job;
  GPtrArray *names = step->names;
  PosthornMailboxStatus st = { 0 };
  g_autoptr(GError) error = NULL;

  g_free (step);
  if (imap_session_is_closed (job->session))
    {
      g_ptr_array_unref (names);
      imap_notify_unref (job->notify);
      imap_session_unref (job->session);
      g_free (job);
      return;
    }
  if (posthorn_store_status_finish (result, &st, &error))
    {
      g_autoptr(GString) out = g_string_new (NULL);

      imap_notify_append_status (job->session, out, g_ptr_array_index (names, 0), &st);
      imap_session_write_string (job->session, out);
    }
  g_ptr_array_remove_index (names, 0);
  set_status_next (job, names);
}

/* STATUS of each name in turn, written before the tagged OK. */
static void
set_status_next (SetJob *job, GPtrArray *names)
{
  StatusStep *step;

  if (names->len == 0 || job->notify->session == NULL)
    {
      g_ptr_array_unref (names);
      set_finish (job);
      return;
    }
  step = g_new0 (StatusStep, 1);
  step->job = job;
  step->names = names;
  posthorn_store_status_async (job->session->user, g_ptr_array_index (names, 0),
                               job->session->cancellable, set_status_done, step);
}

static void
set_listed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SetJob *job = user_data;
  ImapNotify *n = job->notify;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxList) list = posthorn_store_list_finish (result, &error);
  GPtrArray *names;

  if (imap_session_is_closed (job->session) || list == NULL)
    {
      if (!imap_session_is_closed (job->session))
        imap_session_finish_error (job->session, error, FALSE);
      imap_notify_unref (job->notify);
      imap_session_unref (job->session);
      g_free (job);
      return;
    }
  names = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
    {
      const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);

      if (n->subscribed != NULL && e->subscribed)
        g_hash_table_add (n->subscribed, g_strdup (e->name));
    }
  if (job->status && n->session != NULL)
    for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
      {
        const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);

        if (!e->exists || (job->session->selected != NULL
                           && strcmp (e->name, job->session->selected) == 0))
          continue;
        if ((imap_notify_events_for (n, e->name) & NOTIFY_MESSAGE_EVENTS) != 0)
          g_ptr_array_add (names, g_strdup (e->name));
      }
  set_status_next (job, names);
}

static void
bad_event_reply (ImapSession *session)
{
  imap_session_finish (session, IMAP_SYNC_WANTED, "NO",
                       "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"
                       " SubscriptionChange)",
                       "Unsupported NOTIFY event");
}

void
imap_cmd_notify (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;
  ImapNotify *n;
  SetJob *job;

  if (cmd->u.notify.none)
    {
      imap_notify_free (session);
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "NOTIFY completed");
      return;
    }
  /* RFC 5465 6.1: only message events with SELECTED(-DELAYED) */
  for (guint k = 0; k < cmd->u.notify.groups->len; k++)
    {
      ImapNotifyGroup *g = g_ptr_array_index (cmd->u.notify.groups, k);

      if ((g->filter == IMAP_NOTIFY_SELECTED || g->filter == IMAP_NOTIFY_SELECTED_DELAYED)
          && (g->events & ~(guint) (NOTIFY_MESSAGE_EVENTS | IMAP_NOTIFY_ANNOTATION_CHANGE)) != 0)
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL,
                               "Only message events go with SELECTED or SELECTED-DELAYED");
          return;
        }
    }
  for (guint k = 0; k < cmd->u.notify.groups->len; k++)
    {
      ImapNotifyGroup *g = g_ptr_array_index (cmd->u.notify.groups, k);

      if ((g->events & ~(guint) NOTIFY_SUPPORTED_EVENTS) != 0)
        {
          bad_event_reply (session);
          return;
        }
    }
  n = g_new0 (ImapNotify, 1);
  n->ref = 1;
  n->session = session;
  n->held = g_string_new (NULL);
  n->own_new = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_queue_init (&n->jobs);
  for (guint k = 0; k < cmd->u.notify.groups->len; k++)
    {
      ImapNotifyGroup *g = g_ptr_array_index (cmd->u.notify.groups, k);

      if (g->filter == IMAP_NOTIFY_SELECTED || g->filter == IMAP_NOTIFY_SELECTED_DELAYED)
        {
          if (n->selected != NULL)
            {
              n->session = NULL;
              imap_notify_unref (n);
              imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL,
                                   "Only one SELECTED or SELECTED-DELAYED event group");
              return;
            }
          n->selected = g;
        }
      if (g->filter == IMAP_NOTIFY_SUBSCRIBED)
        n->uses_subscribed = TRUE;
      /* names from the client: mUTF-7 (or UTF-8), normalized like the store's */
      for (guint m = 0; g->mailboxes != NULL && g->mailboxes[m] != NULL; m++)
        {
          g_autoptr(GError) error = NULL;
          char *name = imap_session_mailbox_from_client (session, g->mailboxes[m], &error);

          if (name == NULL)
            {
              n->session = NULL;
              imap_notify_unref (n);
              imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL, "%s", error->message);
              return;
            }
          g_free (g->mailboxes[m]);
          g->mailboxes[m] = name;
        }
      if (g->message_new_items != NULL)
        for (guint m = 0; m < g->message_new_items->len; m++)
          {
            ImapFetchItem *item = g_ptr_array_index (g->message_new_items, m);

            if (item->type == IMAP_FETCH_BODY_SECTION || item->type == IMAP_FETCH_BINARY)
              item->peek = TRUE;
          }
    }
  n->groups = g_steal_pointer (&cmd->u.notify.groups);
  if (n->uses_subscribed)
    n->subscribed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* replace the previous NOTIFY */
  imap_notify_free (session);
  session->notify = n;
  n->event_sub = posthorn_event_subscribe (posthorn_store_user_get_name (session->user), NULL,
                                           on_event, n, NULL);
  n->view = session->view;
  n->reported_uid = imap_notify_view_max_uid (session->view);

  /* NOTIFY SET implies a NOOP (RFC 5465 3.1) */
  if (!cmd->u.notify.status && n->subscribed == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "NOTIFY completed");
      return;
    }
  job = g_new0 (SetJob, 1);
  job->session = imap_session_ref (session);
  job->notify = imap_notify_ref (n);
  job->status = cmd->u.notify.status;
  posthorn_store_list_async (session->user, session->cancellable, set_listed, job);
}
