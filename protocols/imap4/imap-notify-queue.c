/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NOTIFY (RFC 5465): the notification queue. Notifications are queued in
 * order; STATUS needs a store round trip and several events for one
 * mailbox waiting in the queue become one STATUS. They are written as
 * soon as no command runs (or during IDLE), else held and written before
 * the running command's tagged reply. More than [imap4]
 * notify_max_pending waiting: "* OK [NOTIFICATIONOVERFLOW]" and NOTIFY is
 * off, as after NOTIFY NONE (RFC 5465 5.8). */
#include "imap-notify.h"

#include <string.h>

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
      imap_notify_stop (n);
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
  g_queue_clear_full (&n->jobs, (GDestroyNotify) imap_notify_job_free);
  n->job_running = FALSE;
  g_string_truncate (n->held, 0);
  n->held_lines = 0;
  g_string_append (n->held, "* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off\r\n");
  if (notify_can_write (n) && !n->pushing)
    imap_notify_flush (n->session);
}

/* ---- the queue ---- */

static gboolean
jobs_run_cb (gpointer user_data)
{
  ImapNotify *n = user_data;

  n->jobs_source = 0;
  imap_notify_jobs_run (n);
  return G_SOURCE_REMOVE;
}

static void
jobs_schedule (ImapNotify *n)
{
  if (n->jobs_source == 0 && !n->job_running)
    n->jobs_source = g_idle_add (jobs_run_cb, n);
}

/* A job of the same kind for the same mailbox still waiting (its store
 * call not started), or NULL. */
static ImapNotifyJob *
jobs_find_waiting (ImapNotify *n, const ImapNotifyJob *job)
{
  for (GList *l = n->jobs.head; l != NULL; l = l->next)
    {
      ImapNotifyJob *other = l->data;

      if (other->kind == job->kind && !other->running && other->old == NULL
          && strcmp (other->mailbox, job->mailbox) == 0)
        return other;
    }
  return NULL;
}

/* Adds @job; FALSE when that overflowed (and @n is gone). */
static gboolean
jobs_push (ImapNotify *n, ImapNotifyJob *job)
{
  ImapNotifyJob *other;

  /* one STATUS tells every change still waiting; one LIST (read when it
   * runs) the mailbox as it is then, existing as the latest event says */
  if ((job->kind == IMAP_NOTIFY_JOB_STATUS || (job->kind == IMAP_NOTIFY_JOB_LIST && job->old == NULL))
      && (other = jobs_find_waiting (n, job)) != NULL)
    {
      if (job->hint != IMAP_NOTIFY_LIST_AS_IS)
        other->hint = job->hint;
      imap_notify_job_free (job);
      return TRUE;
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

gboolean
imap_notify_queue_list (ImapNotify *n, const char *mailbox, const char *old,
                        ImapNotifyListHint hint)
{
  ImapNotifyJob *job = g_new0 (ImapNotifyJob, 1);

  job->kind = IMAP_NOTIFY_JOB_LIST;
  job->mailbox = g_strdup (mailbox);
  job->old = g_strdup (old);
  job->hint = hint;
  return jobs_push (n, job);
}

void
imap_notify_queue_mailbox_job (ImapNotify *n, ImapNotifyJobKind kind, const char *mailbox,
                               gboolean silent, gboolean own)
{
  ImapNotifyJob *job = g_new0 (ImapNotifyJob, 1);

  job->kind = kind;
  job->mailbox = g_strdup (mailbox);
  job->silent = silent;
  job->own = own;
  jobs_push (n, job);
}

void
imap_notify_append_status (ImapSession *s, GString *out, const char *name,
                           const PosthornMailboxStatus *st)
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
  imap_notify_job_free (g_queue_pop_head (&n->jobs));
  imap_notify_jobs_run (n);
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
          ImapNotifyJob *job = g_queue_peek_head (&n->jobs);
          g_autoptr(GString) out = g_string_new (NULL);

          imap_notify_append_status (n->session, out, job->mailbox, &st);
          notify_emit (n, out->str);
        }
      /* a mailbox gone meanwhile: its MailboxName event tells */
      job_done (n);
    }
  imap_notify_unref (n);
}

/* "* LIST (attributes) "/" name": the attributes a LIST-EXTENDED LIST
 * with RETURN (SUBSCRIBED CHILDREN) would show (RFC 5465 5.4, 5.5). */
static void
emit_list (ImapNotify *n, const PosthornMailboxEntry *entry, const char *old)
{
  g_autoptr(GString) attrs = g_string_new (NULL);
  g_autoptr(GString) out = g_string_new ("* LIST (");

  imap_list_append_attributes (attrs, entry, TRUE, FALSE, TRUE);
  g_string_append_len (out, attrs->str, (gssize) attrs->len);
  g_string_append (out, ") \"/\" ");
  imap_session_append_mailbox (n->session, out, entry->name);
  if (old != NULL)
    {
      /* RFC 5465 5.4 and RFC 5258 OLDNAME */
      g_string_append (out, " (\"OLDNAME\" (");
      imap_session_append_mailbox (n->session, out, old);
      g_string_append (out, "))");
    }
  g_string_append (out, "\r\n");
  notify_emit (n, out->str);
}

/* The store's entry for @name, or one for a name it does not know. */
static PosthornMailboxEntry
list_entry (const PosthornMailboxList *list, const char *name)
{
  const PosthornMailboxEntry *e = posthorn_mailbox_list_lookup (list, name);
  PosthornMailboxEntry entry = { 0 };

  if (e != NULL)
    entry = *e;
  entry.name = name;
  return entry;
}

static void
job_list (ImapNotify *n, const PosthornMailboxList *list, ImapNotifyJob *job)
{
  PosthornMailboxEntry entry = list_entry (list, job->mailbox);

  if (job->hint != IMAP_NOTIFY_LIST_AS_IS)
    entry.exists = job->hint == IMAP_NOTIFY_LIST_EXISTS;
  emit_list (n, &entry, job->old);
}

static void
job_subscription (ImapNotify *n, const PosthornMailboxList *list, ImapNotifyJob *job)
{
  PosthornMailboxEntry entry = list_entry (list, job->mailbox);

  if (n->subscribed != NULL)
    {
      if (entry.subscribed)
        g_hash_table_add (n->subscribed, g_strdup (job->mailbox));
      else
        g_hash_table_remove (n->subscribed, job->mailbox);
    }
  /* the "subscribed" filter matches by the state before (at the
   * event) or after (now) the change */
  if (job->silent && !job->own
      && (imap_notify_events_for (n, job->mailbox) & IMAP_NOTIFY_SUBSCRIPTION_CHANGE) != 0)
    job->silent = FALSE;
  if (!job->silent)
    emit_list (n, &entry, NULL);
}

/* The LIST jobs at the head of the queue when the store list started. */
static void
job_list_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapNotify *n = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxList) list = posthorn_store_list_finish (result, &error);

  if (n->session != NULL && !n->overflowed && !imap_session_is_closed (n->session))
    {
      ImapNotifyJob *job;

      g_assert (n->job_running);
      n->job_running = FALSE;
      while ((job = g_queue_peek_head (&n->jobs)) != NULL && job->running)
        {
          g_queue_pop_head (&n->jobs);
          if (list != NULL && job->kind == IMAP_NOTIFY_JOB_LIST)
            job_list (n, list, job);
          else if (list != NULL)
            job_subscription (n, list, job);
          imap_notify_job_free (job);
        }
      imap_notify_jobs_run (n);
    }
  imap_notify_unref (n);
}

void
imap_notify_jobs_run (ImapNotify *n)
{
  ImapSession *s = n->session;
  ImapNotifyJob *job;

  if (s == NULL || imap_session_is_closed (s) || n->job_running
      || (job = g_queue_peek_head (&n->jobs)) == NULL)
    return;
  n->job_running = TRUE;
  job->running = TRUE;
  if (job->kind == IMAP_NOTIFY_JOB_STATUS)
    {
      posthorn_store_status_async (s->user, job->mailbox, NULL, job_status_done,
                                   imap_notify_ref (n));
      return;
    }
  /* one store list for every LIST job waiting at the head */
  for (GList *l = n->jobs.head->next; l != NULL; l = l->next)
    {
      ImapNotifyJob *next = l->data;

      if (next->kind == IMAP_NOTIFY_JOB_STATUS)
        break;
      next->running = TRUE;
    }
  posthorn_store_list_async (s->user, NULL, job_list_done, imap_notify_ref (n));
}
