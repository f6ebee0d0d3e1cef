/* The mailbox event bus: published from any thread, delivered on the main
 * context in publishing order to the subscribers of that user (and
 * mailbox).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ph-private.h"

#include <string.h>

struct _PosthornEvent {
  gint ref_count;
  PosthornEventKind kind;
  char *user;
  char *mailbox;
  char *old_mailbox;
  guint32 uid;
  guint64 modseq;
  gconstpointer origin;
};

typedef struct {
  gint ref_count;
  guint id;
  char *user;
  char *mailbox;  /* NULL: every mailbox of the user */
  PosthornEventFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
  gboolean active;
} Subscription;

/* The subscriptions of one user. */
typedef struct {
  GPtrArray *any_mailbox;    /* of Subscription * */
  GHashTable *by_mailbox;    /* mailbox → GPtrArray of Subscription * */
} UserSubscriptions;

/* Publishing side: any thread. */
static GMutex queue_lock;
static GQueue queue = G_QUEUE_INIT;
static gboolean dispatch_scheduled;

/* Subscribing and dispatching side: the main loop thread. */
static GHashTable *subscriptions;  /* id → Subscription * */
static GHashTable *users;          /* user → UserSubscriptions * */
static guint next_id = 1;

PosthornEvent *
posthorn_event_new (PosthornEventKind kind, const char *user, const char *mailbox)
{
  PosthornEvent *event;

  g_return_val_if_fail (user != NULL, NULL);

  event = g_new0 (PosthornEvent, 1);
  event->ref_count = 1;
  event->kind = kind;
  event->user = g_strdup (user);
  event->mailbox = g_strdup (mailbox);
  return event;
}

void
posthorn_event_set_uid (PosthornEvent *event, guint32 uid)
{
  g_return_if_fail (event != NULL);
  event->uid = uid;
}

void
posthorn_event_set_modseq (PosthornEvent *event, guint64 modseq)
{
  g_return_if_fail (event != NULL);
  event->modseq = modseq;
}

void
posthorn_event_set_old_mailbox (PosthornEvent *event, const char *old_mailbox)
{
  g_return_if_fail (event != NULL);
  g_free (event->old_mailbox);
  event->old_mailbox = g_strdup (old_mailbox);
}

void
posthorn_event_set_origin (PosthornEvent *event, gconstpointer origin)
{
  g_return_if_fail (event != NULL);
  event->origin = origin;
}

PosthornEvent *
posthorn_event_ref (PosthornEvent *event)
{
  g_return_val_if_fail (event != NULL, NULL);
  g_atomic_int_inc (&event->ref_count);
  return event;
}

void
posthorn_event_unref (PosthornEvent *event)
{
  if (event == NULL || !g_atomic_int_dec_and_test (&event->ref_count))
    return;
  g_free (event->user);
  g_free (event->mailbox);
  g_free (event->old_mailbox);
  g_free (event);
}

PosthornEventKind
posthorn_event_get_kind (const PosthornEvent *event)
{
  return event->kind;
}

const char *
posthorn_event_get_user (const PosthornEvent *event)
{
  return event->user;
}

const char *
posthorn_event_get_mailbox (const PosthornEvent *event)
{
  return event->mailbox;
}

const char *
posthorn_event_get_old_mailbox (const PosthornEvent *event)
{
  return event->old_mailbox;
}

guint32
posthorn_event_get_uid (const PosthornEvent *event)
{
  return event->uid;
}

guint64
posthorn_event_get_modseq (const PosthornEvent *event)
{
  return event->modseq;
}

gconstpointer
posthorn_event_get_origin (const PosthornEvent *event)
{
  return event->origin;
}

/* ---- subscriptions ---- */

static Subscription *
subscription_ref (Subscription *sub)
{
  sub->ref_count++;
  return sub;
}

static void
subscription_unref (Subscription *sub)
{
  if (--sub->ref_count > 0)
    return;
  if (sub->destroy != NULL)
    sub->destroy (sub->user_data);
  g_free (sub->user);
  g_free (sub->mailbox);
  g_free (sub);
}

static void
user_subscriptions_free (UserSubscriptions *subs)
{
  g_ptr_array_unref (subs->any_mailbox);
  g_hash_table_unref (subs->by_mailbox);
  g_free (subs);
}

guint
posthorn_event_subscribe (const char *user, const char *mailbox, PosthornEventFunc func,
                          gpointer user_data, GDestroyNotify destroy)
{
  UserSubscriptions *subs;
  Subscription *sub;

  g_return_val_if_fail (user != NULL && func != NULL, 0);

  if (subscriptions == NULL)
    {
      subscriptions = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                             (GDestroyNotify) subscription_unref);
      users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) user_subscriptions_free);
    }

  sub = g_new0 (Subscription, 1);
  sub->ref_count = 1;
  sub->id = next_id++;
  sub->user = g_strdup (user);
  sub->mailbox = g_strdup (mailbox);
  sub->func = func;
  sub->user_data = user_data;
  sub->destroy = destroy;
  sub->active = TRUE;
  g_hash_table_insert (subscriptions, GUINT_TO_POINTER (sub->id), sub);

  subs = g_hash_table_lookup (users, user);
  if (subs == NULL)
    {
      subs = g_new0 (UserSubscriptions, 1);
      subs->any_mailbox = g_ptr_array_new ();
      subs->by_mailbox = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) g_ptr_array_unref);
      g_hash_table_insert (users, g_strdup (user), subs);
    }
  if (mailbox == NULL)
    g_ptr_array_add (subs->any_mailbox, sub);
  else
    {
      GPtrArray *list = g_hash_table_lookup (subs->by_mailbox, mailbox);

      if (list == NULL)
        {
          list = g_ptr_array_new ();
          g_hash_table_insert (subs->by_mailbox, g_strdup (mailbox), list);
        }
      g_ptr_array_add (list, sub);
    }
  return sub->id;
}

void
posthorn_event_unsubscribe (guint id)
{
  Subscription *sub;
  UserSubscriptions *subs;

  if (subscriptions == NULL)
    return;
  sub = g_hash_table_lookup (subscriptions, GUINT_TO_POINTER (id));
  g_return_if_fail (sub != NULL);

  sub->active = FALSE;
  subs = g_hash_table_lookup (users, sub->user);
  if (sub->mailbox == NULL)
    g_ptr_array_remove (subs->any_mailbox, sub);
  else
    {
      GPtrArray *list = g_hash_table_lookup (subs->by_mailbox, sub->mailbox);

      g_ptr_array_remove (list, sub);
      if (list->len == 0)
        g_hash_table_remove (subs->by_mailbox, sub->mailbox);
    }
  if (subs->any_mailbox->len == 0 && g_hash_table_size (subs->by_mailbox) == 0)
    g_hash_table_remove (users, sub->user);
  /* A dispatch in progress may hold a reference: destroy runs after it. */
  g_hash_table_remove (subscriptions, GUINT_TO_POINTER (id));
}

/* ---- dispatch ---- */

static gint
subscription_compare (gconstpointer a, gconstpointer b)
{
  const Subscription *sa = *(Subscription *const *) a;
  const Subscription *sb = *(Subscription *const *) b;

  return sa->id < sb->id ? -1 : sa->id > sb->id ? 1 : 0;
}

static void
collect (GPtrArray *into, GPtrArray *from)
{
  for (guint i = 0; from != NULL && i < from->len; i++)
    if (!g_ptr_array_find (into, from->pdata[i], NULL))
      g_ptr_array_add (into, subscription_ref (from->pdata[i]));
}

/* Calls the subscribers of @event's user: those of every mailbox and those
 * of the event's mailbox (and, for a rename, of the old name), in the
 * order they subscribed. */
static void
deliver (PosthornEvent *event)
{
  g_autoptr(GPtrArray) targets = NULL;
  UserSubscriptions *subs;

  if (users == NULL || (subs = g_hash_table_lookup (users, event->user)) == NULL)
    return;

  targets = g_ptr_array_new_with_free_func ((GDestroyNotify) subscription_unref);
  collect (targets, subs->any_mailbox);
  if (event->mailbox != NULL)
    collect (targets, g_hash_table_lookup (subs->by_mailbox, event->mailbox));
  if (event->old_mailbox != NULL)
    collect (targets, g_hash_table_lookup (subs->by_mailbox, event->old_mailbox));
  g_ptr_array_sort (targets, subscription_compare);

  for (guint i = 0; i < targets->len; i++)
    {
      Subscription *sub = targets->pdata[i];

      if (sub->active)
        sub->func (event, sub->user_data);
    }
}

static gboolean
dispatch (gpointer unused)
{
  GQueue pending = G_QUEUE_INIT;
  PosthornEvent *event;

  g_mutex_lock (&queue_lock);
  pending = queue;
  g_queue_init (&queue);
  dispatch_scheduled = FALSE;
  g_mutex_unlock (&queue_lock);

  while ((event = g_queue_pop_head (&pending)) != NULL)
    {
      deliver (event);
      posthorn_event_unref (event);
    }
  return G_SOURCE_REMOVE;
}

void
posthorn_event_publish (PosthornEvent *event)
{
  gboolean schedule;

  g_return_if_fail (event != NULL);

  g_mutex_lock (&queue_lock);
  g_queue_push_tail (&queue, event);
  schedule = !dispatch_scheduled;
  dispatch_scheduled = TRUE;
  g_mutex_unlock (&queue_lock);

  if (schedule)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, dispatch, NULL, NULL);
      g_source_set_static_name (source, "posthorn event dispatch");
      g_source_attach (source, g_main_context_default ());
      g_source_unref (source);
    }
}
