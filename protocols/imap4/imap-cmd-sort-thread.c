/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SORT and THREAD (RFC 5256: REFERENCES and ORDEREDSUBJECT; SORT keys of
 * RFC 5256 plus DISPLAYFROM/DISPLAYTO of RFC 5957), over the messages a
 * search selected, with the decoded header values of PosthornMessageInfo. */
#include "imap-session.h"
#include "imap-search-run.h"

#include <string.h>

/* ---- RFC 5256 section 2.1: base subject ---- */

static gboolean
is_wsp (char c)
{
  return c == ' ' || c == '\t';
}

/* Length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at @s, or 0. */
static gsize
blob_len (const char *s)
{
  gsize n = 1;

  if (*s != '[')
    return 0;
  while (s[n] != '\0' && s[n] != '[' && s[n] != ']')
    n++;
  if (s[n] != ']')
    return 0;
  n++;
  while (is_wsp (s[n]))
    n++;
  return n;
}

/* Length of a subj-refwd (("re" / ("fw" ["d"])) *WSP [subj-blob] ":") at @s, or 0. */
static gsize
refwd_len (const char *s)
{
  gsize n;

  if (g_ascii_strncasecmp (s, "re", 2) == 0)
    n = 2;
  else if (g_ascii_strncasecmp (s, "fwd", 3) == 0)
    n = 3;
  else if (g_ascii_strncasecmp (s, "fw", 2) == 0)
    n = 2;
  else
    return 0;
  while (is_wsp (s[n]))
    n++;
  n += blob_len (s + n);
  if (s[n] != ':')
    return 0;
  return n + 1;
}

char *
imap_base_subject (const char *subject, gboolean *reply_or_forward)
{
  GString *s = g_string_new (NULL);
  gboolean refwd = FALSE;

  /* (1) whitespace runs become one space */
  for (const char *p = subject != NULL ? subject : ""; *p != '\0'; p++)
    {
      char c = (*p == '\t' || *p == '\r' || *p == '\n') ? ' ' : *p;
      if (c == ' ' && s->len > 0 && s->str[s->len - 1] == ' ')
        continue;
      g_string_append_c (s, c);
    }
  for (;;)
    {
      gboolean changed;
      gsize p = 0;

      /* (2) trailing "(fwd)" and whitespace */
      for (;;)
        {
          if (s->len > 0 && is_wsp (s->str[s->len - 1]))
            g_string_truncate (s, s->len - 1);
          else if (s->len >= 5 && g_ascii_strcasecmp (s->str + s->len - 5, "(fwd)") == 0)
            {
              g_string_truncate (s, s->len - 5);
              refwd = TRUE;
            }
          else
            break;
        }
      /* (3)+(4) leaders and blobs */
      do
        {
          changed = FALSE;
          for (;;)
            {
              gsize q = p, b, r;
              if (is_wsp (s->str[p]))
                {
                  p++;
                  changed = TRUE;
                  continue;
                }
              while ((b = blob_len (s->str + q)) > 0)
                q += b;
              r = refwd_len (s->str + q);
              if (r == 0)
                break;
              p = q + r;
              refwd = TRUE;
              changed = TRUE;
            }
          {
            gsize b = blob_len (s->str + p);
            if (b > 0 && s->str[p + b] != '\0')
              {
                p += b;
                changed = TRUE;
              }
          }
        }
      while (changed);
      g_string_erase (s, 0, (gssize) p);
      /* (5) "[fwd:" ... "]" */
      if (s->len >= 6 && g_ascii_strncasecmp (s->str, "[fwd:", 5) == 0
          && s->str[s->len - 1] == ']')
        {
          g_string_truncate (s, s->len - 1);
          g_string_erase (s, 0, 5);
          refwd = TRUE;
          continue;
        }
      break;
    }
  if (reply_or_forward != NULL)
    *reply_or_forward = refwd;
  return g_string_free (s, FALSE);
}

/* i;ascii-casemap */
static int
casemap_cmp (const char *a, const char *b)
{
  for (;; a++, b++)
    {
      guchar ca = (guchar) g_ascii_toupper (*a), cb = (guchar) g_ascii_toupper (*b);
      if (ca != cb || ca == '\0')
        return (int) ca - (int) cb;
    }
}

/* ---- per-message sort data ---- */

typedef struct {
  guint32 uid;
  guint seq;
  gint64 arrival;
  gint64 date;              /* sent date, or the internal date */
  guint64 size;
  char *subject;            /* base subject */
  char *subject_key;        /* upper case, for grouping threads */
  gboolean refwd;
  char *keys[4];            /* from, to, cc, displayfrom/displayto computed on demand */
  PosthornMessageInfo *info;
} SortItem;

static void
sort_item_clear (SortItem *item)
{
  g_free (item->subject);
  g_free (item->subject_key);
  for (guint k = 0; k < G_N_ELEMENTS (item->keys); k++)
    g_free (item->keys[k]);
}

/* Reads one IMAP string/NIL/atom at *@p into @out (NULL for NIL);
 * skips a list. FALSE at the end of the enclosing list. */
static gboolean
env_token (const char **p, char **out, gboolean *is_list)
{
  const char *s = *p;

  *out = NULL;
  *is_list = FALSE;
  while (*s == ' ')
    s++;
  if (*s == '\0' || *s == ')')
    {
      *p = s;
      return FALSE;
    }
  if (*s == '(')
    {
      *is_list = TRUE;
      *p = s + 1;
      return TRUE;
    }
  if (*s == '"')
    {
      GString *v = g_string_new (NULL);
      for (s++; *s != '\0' && *s != '"'; s++)
        {
          if (*s == '\\' && s[1] != '\0')
            s++;
          g_string_append_c (v, *s);
        }
      *out = g_string_free (v, FALSE);
      *p = *s == '"' ? s + 1 : s;
      return TRUE;
    }
  if (*s == '{')
    {
      char *end = NULL;
      guint64 n = g_ascii_strtoull (s + 1, &end, 10);
      const char *data = strchr (s, '\n');
      if (data == NULL)
        return FALSE;
      data++;
      n = MIN (n, (guint64) strlen (data));
      *out = g_strndup (data, (gsize) n);
      *p = data + n;
      return TRUE;
    }
  {
    const char *start = s;
    while (*s != '\0' && *s != ' ' && *s != ')' && *s != '(')
      s++;
    if (!(s - start == 3 && g_ascii_strncasecmp (start, "NIL", 3) == 0))
      *out = g_strndup (start, (gsize) (s - start));
    *p = s;
    return TRUE;
  }
}

/* Skips the rest of a list after its "(". */
static void
env_skip_list (const char **p)
{
  char *v;
  gboolean list;

  while (env_token (p, &v, &list))
    {
      g_free (v);
      if (list)
        env_skip_list (p);
    }
  if (**p == ')')
    (*p)++;
}

/* The first address of ENVELOPE field @field (2 from, 5 to, 6 cc) as
 * name, mailbox, host (any may be NULL). A group start gives the group
 * name as mailbox, as RFC 3501 writes it. FALSE if there is none. */
static gboolean
envelope_first_address (PosthornMessageInfo *info, guint field, char **name,
                        char **mailbox, char **host)
{
  const char *p = posthorn_message_info_get_envelope (info);
  char *v;
  gboolean list;

  *name = *mailbox = *host = NULL;
  if (p == NULL || *p != '(')
    return FALSE;
  p++;
  for (guint k = 0; k < field; k++)
    {
      if (!env_token (&p, &v, &list))
        return FALSE;
      g_free (v);
      if (list)
        env_skip_list (&p);
    }
  if (!env_token (&p, &v, &list) || !list)
    {
      g_free (v);
      return FALSE;
    }
  if (!env_token (&p, &v, &list) || !list)
    {
      g_free (v);
      return FALSE;
    }
  {
    char *parts[4] = { NULL, NULL, NULL, NULL };
    for (guint k = 0; k < 4; k++)
      if (!env_token (&p, &parts[k], &list) || list)
        break;
    *name = parts[0];
    g_free (parts[1]);
    *mailbox = parts[2];
    *host = parts[3];
  }
  return TRUE;
}

static char *
address_key (PosthornMessageInfo *info, const char *field, gboolean display)
{
  guint index = strcmp (field, "from") == 0 ? 2 : strcmp (field, "to") == 0 ? 5 : 6;
  g_autofree char *name = NULL;
  g_autofree char *mailbox = NULL;
  g_autofree char *host = NULL;

  if (info == NULL || !envelope_first_address (info, index, &name, &mailbox, &host))
    return g_strdup ("");
  if (display)
    {
      const char *decoded = NULL;
      /* the display name decoded (RFC 2047) when it is that address */
      if (name != NULL && host != NULL
          && posthorn_message_info_get_first_address (info, field, &decoded, NULL, NULL)
          && decoded != NULL && *decoded != '\0')
        return g_strdup (decoded);
      if (name != NULL && *name != '\0')
        return g_strdup (name);
      if (host == NULL)
        return g_strdup (mailbox != NULL ? mailbox : "");
      return g_strdup_printf ("%s@%s", mailbox != NULL ? mailbox : "", host);
    }
  return g_strdup (mailbox != NULL ? mailbox : "");
}

static void
sort_items_fill (ImapSession *session, GArray *uids, GHashTable *meta, GArray *items)
{
  for (guint k = 0; k < uids->len; k++)
    {
      guint32 uid = g_array_index (uids, guint32, k);
      const PosthornStoreMessageMeta *m = g_hash_table_lookup (meta, GUINT_TO_POINTER (uid));
      SortItem item = { 0 };
      gint64 t = 0;
      int tz = 0;

      item.uid = uid;
      item.seq = posthorn_mailbox_view_lookup_uid (session->view, uid);
      item.info = m->info;
      item.arrival = m->internal_date;
      item.size = m->size;
      item.date = posthorn_message_info_get_date (m->info, &t, &tz) ? t : m->internal_date;
      item.subject = imap_base_subject (posthorn_message_info_get_subject (m->info), &item.refwd);
      item.subject_key = g_ascii_strup (item.subject, -1);
      g_array_append_val (items, item);
    }
}

static const char *
item_key (SortItem *item, ImapSortKey key)
{
  switch (key)
    {
    case IMAP_SORT_FROM:
      if (item->keys[0] == NULL) item->keys[0] = address_key (item->info, "from", FALSE);
      return item->keys[0];
    case IMAP_SORT_TO:
      if (item->keys[1] == NULL) item->keys[1] = address_key (item->info, "to", FALSE);
      return item->keys[1];
    case IMAP_SORT_CC:
      if (item->keys[2] == NULL) item->keys[2] = address_key (item->info, "cc", FALSE);
      return item->keys[2];
    case IMAP_SORT_DISPLAYFROM:
      if (item->keys[3] == NULL) item->keys[3] = address_key (item->info, "from", TRUE);
      return item->keys[3];
    case IMAP_SORT_DISPLAYTO:
      if (item->keys[3] == NULL) item->keys[3] = address_key (item->info, "to", TRUE);
      return item->keys[3];
    default:
      return "";
    }
}

static int
cmp_i64 (gint64 a, gint64 b)
{
  return a < b ? -1 : a > b ? 1 : 0;
}

static GArray *sort_criteria;  /* set around g_array_sort; main loop only */

static int
sort_compare (gconstpointer pa, gconstpointer pb)
{
  SortItem *a = (SortItem *) pa, *b = (SortItem *) pb;

  for (guint k = 0; k < sort_criteria->len; k++)
    {
      const ImapSortCriterion *c = &g_array_index (sort_criteria, ImapSortCriterion, k);
      int r;

      switch (c->key)
        {
        case IMAP_SORT_ARRIVAL: r = cmp_i64 (a->arrival, b->arrival); break;
        case IMAP_SORT_DATE: r = cmp_i64 (a->date, b->date); break;
        case IMAP_SORT_SIZE: r = a->size < b->size ? -1 : a->size > b->size; break;
        case IMAP_SORT_SUBJECT: r = casemap_cmp (a->subject, b->subject); break;
        default: r = casemap_cmp (item_key (a, c->key), item_key (b, c->key)); break;
        }
      if (r != 0)
        return c->reverse ? -r : r;
    }
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
sort_done (ImapSession *session, GArray *uids, GHashTable *meta, gpointer user_data)
{
  g_autoptr(GArray) items = g_array_new (FALSE, TRUE, sizeof (SortItem));
  g_autoptr(GString) out = g_string_new ("* SORT");

  g_array_set_clear_func (items, (GDestroyNotify) sort_item_clear);
  sort_items_fill (session, uids, meta, items);
  sort_criteria = session->cmd->u.sort.criteria;
  g_array_sort (items, sort_compare);
  sort_criteria = NULL;
  for (guint k = 0; k < items->len; k++)
    {
      SortItem *item = &g_array_index (items, SortItem, k);
      g_string_append_printf (out, " %u", session->cmd->uid ? item->uid : item->seq);
    }
  g_string_append (out, "\r\n");
  imap_session_write_string (session, out);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Sort completed.");
}

void
imap_cmd_sort (ImapSession *session)
{
  if (!imap_search_check (session, session->cmd->u.sort.program))
    return;
  imap_search_run (session, session->cmd->u.sort.program, TRUE, sort_done, NULL);
}

/* ---- THREAD ---- */

typedef struct _Node Node;
struct _Node {
  Node *parent;
  Node *child;       /* first child */
  Node *next;        /* next sibling */
  SortItem *item;    /* NULL for a dummy */
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
      SortItem *item = &g_array_index (items, SortItem, k);
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
        SortItem *it = n->item != NULL ? n->item : n->child->item;
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
        SortItem *it = n->item != NULL ? n->item : n->child->item;
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
    g_ptr_array_add (sorted, &g_array_index (items, SortItem, k));
  {
    static const ImapSortCriterion by_subject_date[] = {
      { IMAP_SORT_SUBJECT, FALSE }, { IMAP_SORT_DATE, FALSE },
    };
    g_autoptr(GArray) crit = g_array_new (FALSE, FALSE, sizeof (ImapSortCriterion));
    g_autoptr(GArray) tmp = g_array_new (FALSE, FALSE, sizeof (SortItem));

    g_array_append_vals (crit, by_subject_date, G_N_ELEMENTS (by_subject_date));
    g_array_append_vals (tmp, items->data, items->len);
    sort_criteria = crit;
    g_array_sort (tmp, sort_compare);
    sort_criteria = NULL;
    g_ptr_array_set_size (sorted, 0);
    for (guint k = 0; k < tmp->len; k++)
      for (guint j = 0; j < items->len; j++)
        if (g_array_index (items, SortItem, j).uid == g_array_index (tmp, SortItem, k).uid)
          g_ptr_array_add (sorted, &g_array_index (items, SortItem, j));
  }
  for (guint k = 0; k < sorted->len; k++)
    {
      SortItem *it = g_ptr_array_index (sorted, k);
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
  g_autoptr(GArray) items = g_array_new (FALSE, TRUE, sizeof (SortItem));
  g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) out = g_string_new ("* THREAD ");
  Node *roots;

  g_array_set_clear_func (items, (GDestroyNotify) sort_item_clear);
  sort_items_fill (session, uids, meta, items);
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
