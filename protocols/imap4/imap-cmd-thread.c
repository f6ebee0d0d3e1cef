/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* THREAD=REFERENCES, THREAD=REFS and THREAD=ORDEREDSUBJECT (RFC 5256,
 * draft-ietf-morg-inthread) over the messages a search selected. */
#include "imap-sort-item.h"
#include "imap-search-run.h"

#include <string.h>

typedef struct _Node Node;
struct _Node {
  Node *parent;
  Node *child;       /* first child */
  Node *next;        /* next sibling */
  ImapSortItem *item;    /* NULL for a dummy */
  gboolean dummy_root; /* took the place of a dummy root with only this child */
};

static gint64
node_date (Node *n, guint *seq)
{
  /* a dummy sorts by its first child (children are sorted first) */
  while (n->item == NULL && n->child != NULL)
    n = n->child;
  *seq = n->item != NULL ? n->item->seq : 0;
  return n->item != NULL ? n->item->date : 0;
}

static int
node_compare (gconstpointer pa, gconstpointer pb)
{
  Node *a = *(Node **) pa, *b = *(Node **) pb;
  guint sa = 0, sb = 0;
  gint64 da = node_date (a, &sa), db = node_date (b, &sb);

  if (da != db)
    return da < db ? -1 : 1;
  return sa < sb ? -1 : sa > sb;
}

/* Sorts a sibling list by date (children first); returns the new head. */
static Node *
sort_siblings (Node *head)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new ();
  Node *prev = NULL;

  for (Node *n = head; n != NULL; n = n->next)
    {
      n->child = sort_siblings (n->child);
      g_ptr_array_add (list, n);
    }
  g_ptr_array_sort (list, node_compare);
  head = NULL;
  for (guint k = 0; k < list->len; k++)
    {
      Node *n = g_ptr_array_index (list, k);
      n->next = NULL;
      if (prev == NULL)
        head = n;
      else
        prev->next = n;
      prev = n;
    }
  return head;
}

static void
node_unlink (Node *n)
{
  Node **pp;

  if (n->parent == NULL)
    return;
  for (pp = &n->parent->child; *pp != NULL; pp = &(*pp)->next)
    if (*pp == n)
      {
        *pp = n->next;
        break;
      }
  n->next = NULL;
  n->parent = NULL;
}

static void
node_add_child (Node *parent, Node *child)
{
  Node **pp = &parent->child;

  while (*pp != NULL)
    pp = &(*pp)->next;
  *pp = child;
  child->parent = parent;
  child->next = NULL;
}

static gboolean
node_is_ancestor (Node *ancestor, Node *n)
{
  for (; n != NULL; n = n->parent)
    if (n == ancestor)
      return TRUE;
  return FALSE;
}

/* The msg-ids "<...>" of a header value, in order. */
static GPtrArray *
msg_ids (const char *value)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  const char *p = value;

  while (p != NULL && (p = strchr (p, '<')) != NULL)
    {
      const char *end = strchr (p, '>');
      if (end == NULL)
        break;
      if (end > p + 1)
        g_ptr_array_add (ids, g_strndup (p, (gsize) (end - p + 1)));
      p = end + 1;
    }
  return ids;
}

static void
write_node (GString *out, Node *n, gboolean uid)
{
  if (n->item != NULL)
    g_string_append_printf (out, "%u", uid ? n->item->uid : n->item->seq);
  if (n->child == NULL)
    return;
  if (n->item != NULL && n->child->next == NULL)
    {
      g_string_append_c (out, ' ');
      write_node (out, n->child, uid);
      return;
    }
  if (n->item != NULL)
    g_string_append_c (out, ' ');
  for (Node *c = n->child; c != NULL; c = c->next)
    {
      g_string_append_c (out, '(');
      write_node (out, c, uid);
      g_string_append_c (out, ')');
    }
}

/* Removes dummies (RFC 5256 REFERENCES step 3) from the sibling list
 * *@head under @parent (NULL: the root set). */
static void
prune (Node **head, Node *parent)
{
  Node **pp = head;

  while (*pp != NULL)
    {
      Node *n = *pp;

      prune (&n->child, n);
      if (n->item == NULL && n->child == NULL)
        {
          *pp = n->next;
          continue;
        }
      if (n->item == NULL && (parent != NULL || n->child->next == NULL))
        {
          /* promote the children into n's place */
          Node *first = n->child, *last = first;

          if (parent == NULL)
            first->dummy_root = TRUE;
          for (Node *c = first; c != NULL; c = c->next)
            {
              c->parent = parent;
              last = c;
            }
          last->next = n->next;
          *pp = first;
          n->child = NULL;
          continue;
        }
      pp = &n->next;
    }
}

/* RFC 5256 REFERENCES steps 1 to 3: the parent/child links of
 * Message-ID, References and In-Reply-To, and the root set without
 * dummies (a dummy root with several children stays), unsorted. */
static Node *
thread_link (GArray *items, GPtrArray *nodes)
{
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Node *roots = NULL, **tail = &roots;

  for (guint k = 0; k < items->len; k++)
    {
      ImapSortItem *item = &g_array_index (items, ImapSortItem, k);
      g_autoptr(GPtrArray) own = msg_ids (posthorn_message_info_get_message_id (item->info));
      g_autoptr(GPtrArray) refs = msg_ids (posthorn_message_info_get_references (item->info));
      Node *node = NULL;
      Node *prev = NULL;

      if (own->len > 0)
        {
          node = g_hash_table_lookup (ids, g_ptr_array_index (own, 0));
          if (node != NULL && node->item != NULL)
            node = NULL;  /* duplicate Message-ID: a message of its own */
          else if (node == NULL)
            {
              node = g_new0 (Node, 1);
              g_ptr_array_add (nodes, node);
              g_hash_table_insert (ids, g_strdup (g_ptr_array_index (own, 0)), node);
            }
        }
      if (node == NULL)
        {
          node = g_new0 (Node, 1);
          g_ptr_array_add (nodes, node);
        }
      node->item = item;

      if (refs->len == 0)
        {
          g_ptr_array_unref (refs);
          refs = msg_ids (posthorn_message_info_get_in_reply_to (item->info));
          if (refs->len > 1)
            g_ptr_array_set_size (refs, 1);
        }
      for (guint r = 0; r < refs->len; r++)
        {
          const char *id = g_ptr_array_index (refs, r);
          Node *ref = g_hash_table_lookup (ids, id);

          if (ref == NULL)
            {
              ref = g_new0 (Node, 1);
              g_ptr_array_add (nodes, ref);
              g_hash_table_insert (ids, g_strdup (id), ref);
            }
          if (prev != NULL && ref->parent == NULL && ref != prev
              && !node_is_ancestor (ref, prev))
            node_add_child (prev, ref);
          prev = ref;
        }
      /* the message's own parent is its last reference */
      if (prev != NULL && (prev == node || node_is_ancestor (node, prev)))
        prev = NULL;
      if (node->parent != prev)
        {
          node_unlink (node);
          if (prev != NULL)
            node_add_child (prev, node);
        }
    }
  for (guint k = 0; k < nodes->len; k++)
    {
      Node *n = g_ptr_array_index (nodes, k);
      if (n->parent == NULL)
        {
          n->next = NULL;
          *tail = n;
          tail = &n->next;
        }
    }
  prune (&roots, NULL);
  return roots;
}

static Node *
thread_references (GArray *items, GPtrArray *nodes)
{
  Node *roots = sort_siblings (thread_link (items, nodes));

  /* step 5: group the root set by base subject */
  {
    g_autoptr(GHashTable) subjects = g_hash_table_new (g_str_hash, g_str_equal);
    Node **pp;

    for (Node *n = roots; n != NULL; n = n->next)
      {
        ImapSortItem *it = n->item != NULL ? n->item : n->child->item;
        Node *old;

        if (it == NULL || it->subject[0] == '\0')
          continue;
        old = g_hash_table_lookup (subjects, it->subject_key);
        if (old == NULL
            || (n->item == NULL && old->item != NULL)
            || (old->item != NULL && old->item->refwd && n->item != NULL && !n->item->refwd))
          g_hash_table_insert (subjects, it->subject_key, n);
      }
    pp = &roots;
    while (*pp != NULL)
      {
        Node *n = *pp;
        ImapSortItem *it = n->item != NULL ? n->item : n->child->item;
        Node *keep;

        if (it == NULL || it->subject[0] == '\0'
            || (keep = g_hash_table_lookup (subjects, it->subject_key)) == NULL || keep == n)
          {
            pp = &n->next;
            continue;
          }
        *pp = n->next;
        n->next = NULL;
        if (keep->item == NULL && n->item == NULL)
          {
            Node *c = n->child;
            while (c != NULL)
              {
                Node *next = c->next;
                node_add_child (keep, c);
                c = next;
              }
            n->child = NULL;
          }
        else if (keep->item == NULL)
          node_add_child (keep, n);
        else if (n->item != NULL && n->item->refwd && !keep->item->refwd)
          node_add_child (keep, n);
        else
          {
            /* a new dummy holding both, in keep's place */
            Node *dummy = g_new0 (Node, 1);
            Node **kp;
            g_ptr_array_add (nodes, dummy);
            for (kp = &roots; *kp != keep; kp = &(*kp)->next)
              ;
            dummy->next = keep->next;
            *kp = dummy;
            if (pp == &keep->next)
              pp = &dummy->next;
            keep->next = NULL;
            node_add_child (dummy, keep);
            node_add_child (dummy, n);
            g_hash_table_insert (subjects, it->subject_key, dummy);
          }
      }
  }
  /* step 6: children by date (the root set keeps the step 4 order) */
  for (Node *n = roots; n != NULL; n = n->next)
    n->child = sort_siblings (n->child);
  return roots;
}

/* THREAD=REFS as Dovecot implements it (draft-ietf-morg-inthread): the
 * links of REFERENCES without the subject grouping of its step 5, every
 * sibling list by date (sent date, else internal date) then arrival
 * order, and the threads by the LATEST date found anywhere in them, ties
 * by the root's arrival order, where a root that was a dummy counts as
 * earliest. */
typedef struct {
  Node *root;
  gint64 latest;
  guint seq;           /* 0 for a former dummy */
} RefsRoot;

static gint64
subtree_latest (Node *n)
{
  gint64 latest = n->item != NULL ? n->item->date : G_MININT64;

  for (Node *c = n->child; c != NULL; c = c->next)
    latest = MAX (latest, subtree_latest (c));
  return latest;
}

static int
refs_root_compare (gconstpointer pa, gconstpointer pb)
{
  const RefsRoot *a = pa, *b = pb;

  if (a->latest != b->latest)
    return a->latest < b->latest ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static Node *
thread_refs (GArray *items, GPtrArray *nodes)
{
  g_autoptr(GArray) list = g_array_new (FALSE, FALSE, sizeof (RefsRoot));
  Node *roots = NULL, **tail = &roots;

  for (Node *n = thread_link (items, nodes); n != NULL; n = n->next)
    {
      RefsRoot r = { n, subtree_latest (n), 0 };

      if (n->item != NULL && !n->dummy_root)
        r.seq = n->item->seq;
      n->child = sort_siblings (n->child);
      g_array_append_val (list, r);
    }
  g_array_sort (list, refs_root_compare);
  for (guint k = 0; k < list->len; k++)
    {
      Node *n = g_array_index (list, RefsRoot, k).root;

      n->next = NULL;
      *tail = n;
      tail = &n->next;
    }
  return roots;
}

static Node *
thread_orderedsubject (GArray *items, GPtrArray *nodes)
{
  g_autoptr(GPtrArray) sorted = g_ptr_array_new ();
  Node *roots = NULL;
  Node *root = NULL;

  for (guint k = 0; k < items->len; k++)
    g_ptr_array_add (sorted, &g_array_index (items, ImapSortItem, k));
  {
    static const ImapSortCriterion by_subject_date[] = {
      { IMAP_SORT_SUBJECT, FALSE }, { IMAP_SORT_DATE, FALSE },
    };
    g_autoptr(GArray) crit = g_array_new (FALSE, FALSE, sizeof (ImapSortCriterion));
    g_autoptr(GArray) tmp = g_array_new (FALSE, FALSE, sizeof (ImapSortItem));

    g_array_append_vals (crit, by_subject_date, G_N_ELEMENTS (by_subject_date));
    g_array_append_vals (tmp, items->data, items->len);
    imap_sort_items_sort (tmp, crit);
    g_ptr_array_set_size (sorted, 0);
    for (guint k = 0; k < tmp->len; k++)
      for (guint j = 0; j < items->len; j++)
        if (g_array_index (items, ImapSortItem, j).uid == g_array_index (tmp, ImapSortItem, k).uid)
          g_ptr_array_add (sorted, &g_array_index (items, ImapSortItem, j));
  }
  for (guint k = 0; k < sorted->len; k++)
    {
      ImapSortItem *it = g_ptr_array_index (sorted, k);
      Node *n = g_new0 (Node, 1);

      g_ptr_array_add (nodes, n);
      n->item = it;
      if (root != NULL && strcmp (root->item->subject_key, it->subject_key) == 0)
        node_add_child (root, n);
      else
        {
          n->next = roots;
          roots = n;
          root = n;
        }
    }
  /* threads by the date of their first message; children stay in order */
  {
    g_autoptr(GPtrArray) list = g_ptr_array_new ();
    Node *prev = NULL;

    for (Node *n = roots; n != NULL; n = n->next)
      g_ptr_array_add (list, n);
    g_ptr_array_sort (list, node_compare);
    roots = NULL;
    for (guint k = 0; k < list->len; k++)
      {
        Node *n = g_ptr_array_index (list, k);
        n->next = NULL;
        if (prev == NULL)
          roots = n;
        else
          prev->next = n;
        prev = n;
      }
  }
  return roots;
}

static void
thread_done (ImapSession *session, GArray *uids, GHashTable *meta, gpointer user_data)
{
  g_autoptr(GArray) items = g_array_new (FALSE, TRUE, sizeof (ImapSortItem));
  g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) out = g_string_new ("* THREAD ");
  Node *roots;

  g_array_set_clear_func (items, (GDestroyNotify) imap_sort_item_clear);
  imap_sort_items_fill (session, uids, meta, items);
  if (session->cmd->u.thread.algorithm == IMAP_THREAD_REFERENCES)
    roots = thread_references (items, nodes);
  else if (session->cmd->u.thread.algorithm == IMAP_THREAD_REFS)
    roots = thread_refs (items, nodes);
  else
    roots = thread_orderedsubject (items, nodes);
  for (Node *n = roots; n != NULL; n = n->next)
    {
      g_string_append_c (out, '(');
      write_node (out, n, session->cmd->uid);
      g_string_append_c (out, ')');
    }
  g_string_append (out, "\r\n");
  imap_session_write_string (session, out);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Thread completed.");
}

void
imap_cmd_thread (ImapSession *session)
{
  if (!imap_search_check (session, session->cmd->u.thread.program))
    return;
  imap_search_run (session, session->cmd->u.thread.program, TRUE, thread_done, NULL);
}
