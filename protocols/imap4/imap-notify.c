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
#include "imap-session.h"

#include <string.h>

#define NOTIFY_SUPPORTED_EVENTS \
  (IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE \
   | IMAP_NOTIFY_MAILBOX_NAME | IMAP_NOTIFY_SUBSCRIPTION_CHANGE)
#define NOTIFY_MESSAGE_EVENTS \
  (IMAP_NOTIFY_MESSAGE_NEW | IMAP_NOTIFY_MESSAGE_EXPUNGE | IMAP_NOTIFY_FLAG_CHANGE)

typedef enum {
  JOB_LINE,           /* a ready response */
  JOB_STATUS,         /* STATUS of @mailbox */
  JOB_SUBSCRIPTION,   /* LIST of @mailbox with its subscription state */
} JobKind;

typedef struct {
  JobKind kind;
  char *mailbox;
  char *line;
  gboolean silent;    /* JOB_SUBSCRIPTION: only refresh the subscribed set */
  gboolean own;       /* JOB_SUBSCRIPTION: this session's change */
} Job;

struct _ImapNotify {
  gint ref;
  ImapSession *session;          /* NULL once the notify is off */
  GPtrArray *groups;             /* of ImapNotifyGroup, from the command */
  const ImapNotifyGroup *selected; /* the SELECTED(-DELAYED) group, or NULL */
  gboolean uses_subscribed;
  GHashTable *subscribed;        /* store names, when uses_subscribed */
  guint event_sub;

  GQueue jobs;                   /* of Job */
  gboolean job_running;
  guint jobs_source;             /* idle source that runs the queue */
  GString *held;                 /* written before the next tagged reply */
  guint held_lines;

  /* the selected mailbox */
  PosthornMailboxView *view;     /* whose UIDs reported_uid refers to */
  guint32 reported_uid;          /* highest UID whose MessageNew was sent */
  GArray *own_new;               /* UIDs this session added to it itself */
  gboolean push_wanted;          /* an event for it waits for a push */
  gboolean pushing;              /* a push runs (input paused) */
  ImapCommand *internal;         /* the internal FETCH running, or NULL */
  ImapCommand *saved_cmd;        /* the command it replaced (IDLE) */
  gboolean saved_read_only;

  gboolean overflowed;           /* NOTIFICATIONOVERFLOW sent or held */
};

static ImapNotify *
notify_ref (ImapNotify *n)
{
  n->ref++;
  return n;
}

static void
job_free (Job *job)
{
  g_free (job->mailbox);
  g_free (job->line);
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

static void
notify_unref (ImapNotify *n)
{
  if (--n->ref > 0)
    return;
  g_queue_clear_full (&n->jobs, (GDestroyNotify) job_free);
  groups_free (n->groups);
  g_clear_pointer (&n->subscribed, g_hash_table_unref);
  g_clear_pointer (&n->own_new, g_array_unref);
  g_string_free (n->held, TRUE);
  g_free (n);
}

/* Turns @n off: no more events; callbacks in flight see n->session NULL. */
static void
notify_stop (ImapNotify *n)
{
  if (n->event_sub != 0)
    posthorn_event_unsubscribe (n->event_sub);
  n->event_sub = 0;
  g_clear_handle_id (&n->jobs_source, g_source_remove);
  g_queue_clear_full (&n->jobs, (GDestroyNotify) job_free);
  n->session = NULL;
  notify_unref (n);
}

static guint32
view_max_uid (PosthornMailboxView *view)
{
  guint count = view != NULL ? posthorn_mailbox_view_get_count (view) : 0;

  return count > 0 ? posthorn_mailbox_view_get_uid (view, count) : 0;
}

/* Forgets what was reported when another mailbox (view) is selected. */
static void
notify_track_view (ImapNotify *n)
{
  ImapSession *s = n->session;

  if (n->view == s->view)
    return;
  n->view = s->view;
  n->reported_uid = view_max_uid (s->view);
  g_array_set_size (n->own_new, 0);
}

/* ---- output ---- */

static gboolean
notify_can_write (ImapNotify *n)
{
  ImapSession *s = n->session;

  return n->internal == NULL && (!s->busy || s->idling);
}

static void
notify_emit (ImapNotify *n, const char *text)
{
  if (notify_can_write (n))
    imap_session_write (n->session, text, strlen (text));
  else
    {
      g_string_append (n->held, text);
      n->held_lines++;
    }
}

/* Writes what was held; after an overflow, NOTIFY ends here. */
void
imap_notify_flush (ImapSession *session)
{
  ImapNotify *n = session->notify;

  if (n == NULL)
    return;
  if (n->held->len > 0)
    {
      imap_session_write (session, n->held->str, n->held->len);
      n->held_lines = 0;
      /* a burst's buffer is not kept for the session's life */
      if (n->held->allocated_len > 4096)
        {
          g_string_free (n->held, TRUE);
          n->held = g_string_new (NULL);
        }
      else
        g_string_truncate (n->held, 0);
    }
  if (n->overflowed && !n->pushing && n->internal == NULL)
    {
      session->notify = NULL;
      notify_stop (n);
    }
}

/* RFC 5465 5.8: tell the client and behave as after NOTIFY NONE (once the
 * untagged OK is out). */
static void
notify_overflow (ImapNotify *n)
{
  n->overflowed = TRUE;
  if (n->event_sub != 0)
    posthorn_event_unsubscribe (n->event_sub);
  n->event_sub = 0;
  g_clear_handle_id (&n->jobs_source, g_source_remove);
  /* a store call in flight sees n->overflowed and drops its result */
  g_queue_clear_full (&n->jobs, (GDestroyNotify) job_free);
  n->job_running = FALSE;
  g_string_truncate (n->held, 0);
  n->held_lines = 0;
  g_string_append (n->held, "* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off\r\n");
  if (notify_can_write (n) && !n->pushing)
    imap_notify_flush (n->session);
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
static guint
events_for (ImapNotify *n, const char *name)
{
  for (guint k = 0; k < n->groups->len; k++)
    {
      const ImapNotifyGroup *g = g_ptr_array_index (n->groups, k);

      if (group_matches (n, g, name))
        return g->events;
    }
  return 0;
}

/* ---- the queue ---- */

static void jobs_run (ImapNotify *n);

static gboolean
jobs_run_cb (gpointer user_data)
{
  ImapNotify *n = user_data;

  n->jobs_source = 0;
  jobs_run (n);
  return G_SOURCE_REMOVE;
}

static void
jobs_schedule (ImapNotify *n)
{
  if (n->jobs_source == 0 && !n->job_running)
    n->jobs_source = g_idle_add (jobs_run_cb, n);
}

/* Adds @job; FALSE when that overflowed (and @n is gone). */
static gboolean
jobs_push (ImapNotify *n, Job *job)
{
  if (job->kind == JOB_STATUS)
    {
      /* one STATUS tells every change still waiting */
      for (GList *l = n->jobs.head; l != NULL; l = l->next)
        {
          Job *other = l->data;

          if (other->kind == JOB_STATUS && strcmp (other->mailbox, job->mailbox) == 0
              && !(n->job_running && l == n->jobs.head))
            {
              job_free (job);
              return TRUE;
            }
        }
    }
  g_queue_push_tail (&n->jobs, job);
  if (n->jobs.length + n->held_lines > n->session->settings->notify_max_pending)
    {
      notify_overflow (n);
      return FALSE;
    }
  jobs_schedule (n);
  return TRUE;
}

static void
queue_line (ImapNotify *n, GString *line)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_LINE;
  job->line = g_strdup (line->str);
  jobs_push (n, job);
}

static void
queue_mailbox_job (ImapNotify *n, JobKind kind, const char *mailbox, gboolean silent,
                   gboolean own)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->mailbox = g_strdup (mailbox);
  job->silent = silent;
  job->own = own;
  jobs_push (n, job);
}

static void
append_status (ImapSession *s, GString *out, const char *name, const PosthornMailboxStatus *st)
{
  g_string_append (out, "* STATUS ");
  imap_session_append_mailbox (s, out, name);
  g_string_append_printf (out, " (MESSAGES %u UIDNEXT %u UIDVALIDITY %u UNSEEN %u",
                          st->messages, st->uidnext, st->uidvalidity, st->unseen);
  if (s->condstore)
    g_string_append_printf (out, " HIGHESTMODSEQ %" G_GUINT64_FORMAT, st->highestmodseq);
  g_string_append (out, ")\r\n");
}

static void
job_done (ImapNotify *n)
{
  g_assert (n->job_running);
  n->job_running = FALSE;
  job_free (g_queue_pop_head (&n->jobs));
  jobs_run (n);
}

static void
job_status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapNotify *n = user_data;
  PosthornMailboxStatus st = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean ok = posthorn_store_status_finish (result, &st, &error);

  if (n->session != NULL && !n->overflowed && !imap_session_is_closed (n->session))
    {
      if (ok)
        {
          Job *job = g_queue_peek_head (&n->jobs);
          g_autoptr(GString) out = g_string_new (NULL);

          append_status (n->session, out, job->mailbox, &st);
          notify_emit (n, out->str);
        }
      /* a mailbox gone meanwhile: its MailboxName event tells */
      job_done (n);
    }
  notify_unref (n);
}

static void
job_list_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapNotify *n = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxList) list = posthorn_store_list_finish (result, &error);

  if (n->session != NULL && !n->overflowed && !imap_session_is_closed (n->session))
    {
      Job *job = g_queue_peek_head (&n->jobs);
      const PosthornMailboxEntry *e = list != NULL ? posthorn_mailbox_list_lookup (list, job->mailbox) : NULL;
      gboolean subscribed = e != NULL && e->subscribed;

      if (list != NULL && n->subscribed != NULL)
        {
          if (subscribed)
            g_hash_table_add (n->subscribed, g_strdup (job->mailbox));
          else
            g_hash_table_remove (n->subscribed, job->mailbox);
        }
      /* the "subscribed" filter matches by the state before (at the
       * event) or after (now) the change */
      if (job->silent && !job->own
          && (events_for (n, job->mailbox) & IMAP_NOTIFY_SUBSCRIPTION_CHANGE) != 0)
        job->silent = FALSE;
      if (list != NULL && !job->silent)
        {
          g_autoptr(GString) out = g_string_new ("* LIST (");

          if (subscribed)
            g_string_append (out, "\\Subscribed");
          if (e == NULL || !e->exists)
            g_string_append (out, subscribed ? " \\NonExistent" : "\\NonExistent");
          g_string_append (out, ") \"/\" ");
          imap_session_append_mailbox (n->session, out, job->mailbox);
          g_string_append (out, "\r\n");
          notify_emit (n, out->str);
        }
      job_done (n);
    }
  notify_unref (n);
}

static void
jobs_run (ImapNotify *n)
{
  ImapSession *s = n->session;

  if (s == NULL || imap_session_is_closed (s))
    return;
  while (!n->job_running && n->jobs.length > 0)
    {
      Job *job = g_queue_peek_head (&n->jobs);

      switch (job->kind)
        {
        case JOB_LINE:
          notify_emit (n, job->line);
          job_free (g_queue_pop_head (&n->jobs));
          break;
        case JOB_STATUS:
          n->job_running = TRUE;
          posthorn_store_status_async (s->user, job->mailbox, NULL, job_status_done,
                                       notify_ref (n));
          return;
        case JOB_SUBSCRIPTION:
        default:
          n->job_running = TRUE;
          posthorn_store_list_async (s->user, NULL, job_list_done, notify_ref (n));
          return;
        }
    }
}

/* ---- the selected mailbox ---- */

static void push_start (ImapNotify *n);
static void push_end (ImapNotify *n);

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
  notify_track_view (n);
  if (!new_messages (n, &first, &last))
    return FALSE;
  n->reported_uid = view_max_uid (s->view);
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
  notify_unref (n);
}

/* Pushes the selected mailbox's changes now, no command running. */
static void
push_start (ImapNotify *n)
{
  ImapSession *s = n->session;

  n->push_wanted = FALSE;
  n->pushing = TRUE;
  notify_track_view (n);
  posthorn_connection_pause_input (s->conn);
  if (s->sync_running)
    {
      /* a sync in flight (our own) will report the change */
      push_synced (s, notify_ref (n));
      return;
    }
  imap_session_sync (s, n->selected->filter == IMAP_NOTIFY_SELECTED_DELAYED, NULL,
                     push_synced, notify_ref (n));
}

/* Starts a push if one is due and nothing else runs. */
static void
push_maybe (ImapNotify *n)
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
      notify_track_view (n);
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
  jobs_run (n);
  push_maybe (n);
}

static void
selected_event (ImapNotify *n, PosthornEventKind kind)
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
  push_maybe (n);
}

/* ---- events ---- */

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
          selected_event (n, kind);
          return;
        }
      if ((events_for (n, mailbox) & NOTIFY_MESSAGE_EVENTS) != 0)
        queue_mailbox_job (n, JOB_STATUS, mailbox, FALSE, FALSE);
      return;
    case POSTHORN_EVENT_MAILBOX_CREATED:
    case POSTHORN_EVENT_MAILBOX_DELETED:
    case POSTHORN_EVENT_MAILBOX_RENAMED:
      {
        gboolean wanted = !own && ((events_for (n, mailbox) & IMAP_NOTIFY_MAILBOX_NAME) != 0
                                   || (old != NULL && (events_for (n, old) & IMAP_NOTIFY_MAILBOX_NAME) != 0));

        /* a rename takes the subscription along (one event per name) */
        if (kind == POSTHORN_EVENT_MAILBOX_RENAMED && old != NULL && n->subscribed != NULL
            && g_hash_table_remove (n->subscribed, old))
          g_hash_table_add (n->subscribed, g_strdup (mailbox));
        if (!wanted)
          return;
      }
      {
        g_autoptr(GString) line = g_string_new (kind == POSTHORN_EVENT_MAILBOX_DELETED
                                                ? "* LIST (\\NonExistent) \"/\" "
                                                : "* LIST () \"/\" ");

        imap_session_append_mailbox (s, line, mailbox);
        if (kind == POSTHORN_EVENT_MAILBOX_RENAMED && old != NULL)
          {
            /* RFC 5465 5.4 and RFC 5258 OLDNAME */
            g_string_append (line, " (\"OLDNAME\" (");
            imap_session_append_mailbox (s, line, old);
            g_string_append (line, "))");
          }
        g_string_append (line, "\r\n");
        queue_line (n, line);
      }
      return;
    case POSTHORN_EVENT_SUBSCRIPTION_CHANGED:
      {
        gboolean wanted = !own && (events_for (n, mailbox) & IMAP_NOTIFY_SUBSCRIPTION_CHANGE) != 0;

        if (wanted || n->subscribed != NULL)
          queue_mailbox_job (n, JOB_SUBSCRIPTION, mailbox, !wanted, own);
      }
      return;
    default:
      return;
    }
}

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
    push_maybe (n);
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
      notify_track_view (n);
      if (new_messages (n, &first, &last))
        {
          n->pushing = TRUE;
          posthorn_connection_pause_input (session->conn);
          if (!fetch_new_start (n))
            push_end (n);
          return;
        }
    }
  push_maybe (n);
}

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
  notify_stop (n);
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
  notify_unref (job->notify);
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
      notify_unref (job->notify);
      imap_session_unref (job->session);
      g_free (job);
      return;
    }
  if (posthorn_store_status_finish (result, &st, &error))
    {
      g_autoptr(GString) out = g_string_new (NULL);

      append_status (job->session, out, g_ptr_array_index (names, 0), &st);
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
      notify_unref (job->notify);
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
        if ((events_for (n, e->name) & NOTIFY_MESSAGE_EVENTS) != 0)
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
              notify_unref (n);
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
              notify_unref (n);
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
  n->reported_uid = view_max_uid (session->view);

  /* NOTIFY SET implies a NOOP (RFC 5465 3.1) */
  if (!cmd->u.notify.status && n->subscribed == NULL)
    {
      imap_session_finish (session, IMAP_SYNC_ALWAYS, "OK", NULL, "NOTIFY completed");
      return;
    }
  job = g_new0 (SetJob, 1);
  job->session = imap_session_ref (session);
  job->notify = notify_ref (n);
  job->status = cmd->u.notify.status;
  posthorn_store_list_async (session->user, session->cancellable, set_listed, job);
}
