/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The messages SORT and THREAD order (RFC 5256, DISPLAYFROM/DISPLAYTO of
 * RFC 5957): their dates, size, base subject and address keys, read from
 * the metadata a search returned, and the comparison by sort criteria. */
#include "imap-sort-item.h"

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
void
imap_sort_item_clear (ImapSortItem *item)
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

void
imap_sort_items_fill (ImapSession *session, GArray *uids, GHashTable *meta, GArray *items)
{
  for (guint k = 0; k < uids->len; k++)
    {
      guint32 uid = g_array_index (uids, guint32, k);
      const PosthornStoreMessageMeta *m = g_hash_table_lookup (meta, GUINT_TO_POINTER (uid));
      ImapSortItem item = { 0 };
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
item_key (ImapSortItem *item, ImapSortKey key)
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
  ImapSortItem *a = (ImapSortItem *) pa, *b = (ImapSortItem *) pb;

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


void
imap_sort_items_sort (GArray *items, GArray *criteria)
{
  sort_criteria = criteria;
  g_array_sort (items, sort_compare);
  sort_criteria = NULL;
}
