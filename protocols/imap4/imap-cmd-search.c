/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SEARCH and UID SEARCH: every RFC 3501 / 9051 key, CHARSET (converted
 * by the parser), ESEARCH RETURN (MIN MAX ALL COUNT SAVE) and SEARCHRES
 * "$". Flags come from the mailbox view; header, date and size keys from
 * the PosthornMessageInfo of each message (decoded header values); TEXT
 * and BODY from the store's text index (posthorn_store_search_text_async).
 * The same engine selects the messages of SORT and THREAD. */
#include "imap-session.h"
#include "imap-search-run.h"

#include <string.h>

typedef struct {
  ImapSession *session;
  const ImapSearchKey *program;
  gboolean want_meta;
  ImapSearchRunDone done;
  gpointer user_data;
  GPtrArray *text_keys;          /* TEXT/BODY keys, in tree order */
  GPtrArray *text_results;       /* GHashTable sets of UIDs, parallel */
  guint text_index;
  PosthornStoreFetch *meta;
  GHashTable *meta_by_uid;       /* uid -> PosthornStoreMessageMeta* */
} SearchRun;

static void
search_run_free (SearchRun *run)
{
  imap_session_unref (run->session);
  g_clear_pointer (&run->text_keys, g_ptr_array_unref);
  g_clear_pointer (&run->text_results, g_ptr_array_unref);
  g_clear_pointer (&run->meta_by_uid, g_hash_table_unref);
  g_clear_pointer (&run->meta, posthorn_store_fetch_free);
  g_free (run);
}

static gboolean
key_needs_meta (const ImapSearchKey *key)
{
  switch (key->type)
    {
    case IMAP_SEARCH_BCC: case IMAP_SEARCH_CC: case IMAP_SEARCH_FROM:
    case IMAP_SEARCH_SUBJECT: case IMAP_SEARCH_TO: case IMAP_SEARCH_HEADER:
    case IMAP_SEARCH_BEFORE: case IMAP_SEARCH_ON: case IMAP_SEARCH_SINCE:
    case IMAP_SEARCH_SENTBEFORE: case IMAP_SEARCH_SENTON: case IMAP_SEARCH_SENTSINCE:
    case IMAP_SEARCH_LARGER: case IMAP_SEARCH_SMALLER:
      return TRUE;
    default:
      break;
    }
  for (guint k = 0; key->children != NULL && k < key->children->len; k++)
    if (key_needs_meta (g_ptr_array_index (key->children, k)))
      return TRUE;
  return FALSE;
}

static void
collect_text_keys (const ImapSearchKey *key, GPtrArray *out)
{
  if (key->type == IMAP_SEARCH_TEXT || key->type == IMAP_SEARCH_BODY)
    g_ptr_array_add (out, (gpointer) key);
  for (guint k = 0; key->children != NULL && k < key->children->len; k++)
    collect_text_keys (g_ptr_array_index (key->children, k), out);
}

/* ---- matching ---- */

/* Header values are compared case-insensitively with whitespace runs
 * (unfolded tabs) as one space, like Dovecot. */
static char *
fold_for_search (const char *text)
{
  GString *out = g_string_new (NULL);
  g_autofree char *folded = NULL;

  for (const char *p = text; *p != '\0'; p++)
    {
      char c = (*p == '\t' || *p == '\r' || *p == '\n') ? ' ' : *p;
      if (c == ' ' && out->len > 0 && out->str[out->len - 1] == ' ')
        continue;
      g_string_append_c (out, c);
    }
  folded = g_utf8_casefold (out->str, -1);
  g_string_free (out, TRUE);
  return g_steal_pointer (&folded);
}

static gboolean
contains_casefold (const char *haystack, const char *needle)
{
  g_autofree char *h = NULL;
  g_autofree char *n = NULL;

  if (haystack == NULL)
    return FALSE;
  if (needle == NULL || *needle == '\0')
    return TRUE;
  h = fold_for_search (haystack);
  n = fold_for_search (needle);
  return strstr (h, n) != NULL;
}

/* Any field @name of the top header contains @needle. */
static gboolean
header_contains (PosthornMessageInfo *info, const char *name, const char *needle)
{
  if (info == NULL)
    return FALSE;
  for (guint k = 0; k < posthorn_message_info_get_n_headers (info); k++)
    {
      const char *field = NULL, *value = NULL;
      posthorn_message_info_get_header (info, k, &field, &value);
      if (g_ascii_strcasecmp (field, name) == 0
          && contains_casefold (value != NULL ? value : "", needle))
        return TRUE;
    }
  return FALSE;
}

static int
day_number (gint64 unix_time)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (unix_time);

  if (dt == NULL)
    return 0;
  return g_date_time_get_year (dt) * 10000 + g_date_time_get_month (dt) * 100
         + g_date_time_get_day_of_month (dt);
}

static gboolean
range_has (ImapSession *session, const ImapSeqSet *set, guint32 value, guint32 max, guint32 uid)
{
  if (set->saved)
    {
      if (session->saved_uids == NULL)
        return FALSE;
      for (guint k = 0; k < session->saved_uids->len; k++)
        if (g_array_index (session->saved_uids, guint32, k) == uid)
          return TRUE;
      return FALSE;
    }
  {
    g_autoptr(ImapRangeList) list = imap_seqset_resolve (set, max);
    return list != NULL && imap_range_list_contains (list, value);
  }
}

static gboolean
match (SearchRun *run, const ImapSearchKey *key, guint seq, guint32 uid,
       const PosthornStoreMessageMeta *m)
{
  ImapSession *session = run->session;
  PosthornMailboxView *view = session->view;
  guint32 flags = posthorn_mailbox_view_get_flags (view, seq);
  PosthornMessageInfo *info = m != NULL ? m->info : NULL;

  switch (key->type)
    {
    case IMAP_SEARCH_AND:
      for (guint k = 0; k < key->children->len; k++)
        if (!match (run, g_ptr_array_index (key->children, k), seq, uid, m))
          return FALSE;
      return TRUE;
    case IMAP_SEARCH_OR:
      return match (run, g_ptr_array_index (key->children, 0), seq, uid, m)
             || match (run, g_ptr_array_index (key->children, 1), seq, uid, m);
    case IMAP_SEARCH_NOT:
      return !match (run, g_ptr_array_index (key->children, 0), seq, uid, m);
    case IMAP_SEARCH_ALL: return TRUE;
    case IMAP_SEARCH_ANSWERED: return (flags & POSTHORN_MESSAGE_ANSWERED) != 0;
    case IMAP_SEARCH_DELETED: return (flags & POSTHORN_MESSAGE_DELETED) != 0;
    case IMAP_SEARCH_DRAFT: return (flags & POSTHORN_MESSAGE_DRAFT) != 0;
    case IMAP_SEARCH_FLAGGED: return (flags & POSTHORN_MESSAGE_FLAGGED) != 0;
    case IMAP_SEARCH_SEEN: return (flags & POSTHORN_MESSAGE_SEEN) != 0;
    case IMAP_SEARCH_RECENT: return (flags & POSTHORN_MESSAGE_RECENT) != 0;
    case IMAP_SEARCH_NEW:
      return (flags & POSTHORN_MESSAGE_RECENT) != 0 && (flags & POSTHORN_MESSAGE_SEEN) == 0;
    case IMAP_SEARCH_OLD: return (flags & POSTHORN_MESSAGE_RECENT) == 0;
    case IMAP_SEARCH_UNANSWERED: return (flags & POSTHORN_MESSAGE_ANSWERED) == 0;
    case IMAP_SEARCH_UNDELETED: return (flags & POSTHORN_MESSAGE_DELETED) == 0;
    case IMAP_SEARCH_UNDRAFT: return (flags & POSTHORN_MESSAGE_DRAFT) == 0;
    case IMAP_SEARCH_UNFLAGGED: return (flags & POSTHORN_MESSAGE_FLAGGED) == 0;
    case IMAP_SEARCH_UNSEEN: return (flags & POSTHORN_MESSAGE_SEEN) == 0;
    case IMAP_SEARCH_KEYWORD:
    case IMAP_SEARCH_UNKEYWORD:
      {
        const char *const *names = posthorn_mailbox_view_get_keywords (view);
        guint n = 0;
        const guint32 *kw = posthorn_mailbox_view_get_message_keywords (view, seq, &n);
        gboolean has = FALSE;

        for (guint k = 0; k < n; k++)
          if (g_ascii_strcasecmp (names[kw[k]], key->value) == 0)
            has = TRUE;
        return key->type == IMAP_SEARCH_KEYWORD ? has : !has;
      }
    case IMAP_SEARCH_BCC: return header_contains (info, "Bcc", key->value);
    case IMAP_SEARCH_CC: return header_contains (info, "Cc", key->value);
    case IMAP_SEARCH_FROM: return header_contains (info, "From", key->value);
    case IMAP_SEARCH_TO: return header_contains (info, "To", key->value);
    case IMAP_SEARCH_SUBJECT: return header_contains (info, "Subject", key->value);
    case IMAP_SEARCH_HEADER: return header_contains (info, key->header, key->value);
    case IMAP_SEARCH_BEFORE:
    case IMAP_SEARCH_ON:
    case IMAP_SEARCH_SINCE:
    case IMAP_SEARCH_SENTBEFORE:
    case IMAP_SEARCH_SENTON:
    case IMAP_SEARCH_SENTSINCE:
      {
        int want = (int) (key->year * 10000 + key->month * 100 + key->day);
        int day;

        if (m == NULL)
          return FALSE;
        if (key->type == IMAP_SEARCH_BEFORE || key->type == IMAP_SEARCH_ON
            || key->type == IMAP_SEARCH_SINCE)
          day = day_number (m->internal_date);
        else
          {
            gint64 t = 0;
            int tz = 0;
            /* no or unparseable Date: 1970, as Dovecot */
            if (!posthorn_message_info_get_date (info, &t, &tz))
              t = 0, tz = 0;
            day = day_number (t + (gint64) tz * 60);
          }
        if (key->type == IMAP_SEARCH_BEFORE || key->type == IMAP_SEARCH_SENTBEFORE)
          return day < want;
        if (key->type == IMAP_SEARCH_ON || key->type == IMAP_SEARCH_SENTON)
          return day == want;
        return day >= want;
      }
    case IMAP_SEARCH_LARGER: return m != NULL && m->size > key->number;
    case IMAP_SEARCH_SMALLER: return m != NULL && m->size < key->number;
    case IMAP_SEARCH_UID:
      {
        guint count = posthorn_mailbox_view_get_count (view);
        guint32 max = count > 0 ? posthorn_mailbox_view_get_uid (view, count) : 0;
        return range_has (session, key->set, uid, max, uid);
      }
    case IMAP_SEARCH_SEQSET:
      return range_has (session, key->set, seq, posthorn_mailbox_view_get_count (view), uid);
    case IMAP_SEARCH_TEXT:
    case IMAP_SEARCH_BODY:
      for (guint k = 0; k < run->text_keys->len; k++)
        if (g_ptr_array_index (run->text_keys, k) == key)
          return g_hash_table_contains (g_ptr_array_index (run->text_results, k),
                                        GUINT_TO_POINTER (uid));
      return FALSE;
    case IMAP_SEARCH_MODSEQ:
      /* the entry name and type are ignored: one MODSEQ per message */
      return posthorn_mailbox_view_get_modseq (view, seq) >= key->number;
    default:
      return FALSE;
    }
}

static void
search_evaluate (SearchRun *run)
{
  ImapSession *session = run->session;
  guint count = posthorn_mailbox_view_get_count (session->view);
  g_autoptr(GArray) uids = g_array_new (FALSE, FALSE, sizeof (guint32));

  for (guint seq = 1; seq <= count; seq++)
    {
      guint32 uid = posthorn_mailbox_view_get_uid (session->view, seq);
      const PosthornStoreMessageMeta *m = NULL;

      if (run->meta_by_uid != NULL)
        {
          m = g_hash_table_lookup (run->meta_by_uid, GUINT_TO_POINTER (uid));
          if (m == NULL)
            continue;  /* expunged meanwhile */
        }
      if (match (run, run->program, seq, uid, m))
        g_array_append_val (uids, uid);
    }
  run->done (session, uids, run->meta_by_uid, run->user_data);
  search_run_free (run);
}

static void
meta_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SearchRun *run = user_data;
  g_autoptr(GError) error = NULL;

  run->meta = posthorn_store_fetch_finish (result, &error);
  if (imap_session_is_closed (run->session))
    {
      search_run_free (run);
      return;
    }
  if (run->meta == NULL)
    {
      imap_session_finish_error (run->session, error, FALSE);
      search_run_free (run);
      return;
    }
  run->meta_by_uid = g_hash_table_new (NULL, NULL);
  for (guint k = 0; k < posthorn_store_fetch_get_count (run->meta); k++)
    {
      const PosthornStoreMessageMeta *m = posthorn_store_fetch_get (run->meta, k);
      g_hash_table_insert (run->meta_by_uid, GUINT_TO_POINTER (m->uid), (gpointer) m);
    }
  search_evaluate (run);
}

static void
text_next (SearchRun *run);

static void
text_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SearchRun *run = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) uids = posthorn_store_search_text_finish (result, &error);
  GHashTable *set;

  if (imap_session_is_closed (run->session))
    {
      search_run_free (run);
      return;
    }
  if (uids == NULL)
    {
      imap_session_finish_error (run->session, error, FALSE);
      search_run_free (run);
      return;
    }
  set = g_hash_table_new (NULL, NULL);
  for (guint k = 0; k < uids->len; k++)
    g_hash_table_add (set, GUINT_TO_POINTER (g_array_index (uids, guint32, k)));
  g_ptr_array_add (run->text_results, set);
  run->text_index++;
  text_next (run);
}

static void
text_next (SearchRun *run)
{
  ImapSession *session = run->session;

  if (run->text_index < run->text_keys->len)
    {
      const ImapSearchKey *key = g_ptr_array_index (run->text_keys, run->text_index);
      posthorn_store_search_text_async (session->user, session->selected,
                                        posthorn_mailbox_view_get_uidvalidity (session->view),
                                        key->type == IMAP_SEARCH_TEXT ? POSTHORN_SEARCH_TEXT
                                                                      : POSTHORN_SEARCH_BODY,
                                        key->value, session->cancellable, text_done, run);
      return;
    }
  if (run->want_meta || key_needs_meta (run->program))
    {
      guint count = posthorn_mailbox_view_get_count (session->view);
      g_autoptr(GArray) all = g_array_sized_new (FALSE, FALSE, sizeof (guint32), count);

      for (guint seq = 1; seq <= count; seq++)
        {
          guint32 uid = posthorn_mailbox_view_get_uid (session->view, seq);
          g_array_append_val (all, uid);
        }
      posthorn_store_fetch_async (session->user, session->selected,
                                  posthorn_mailbox_view_get_uidvalidity (session->view),
                                  (const guint32 *) all->data, all->len, session->cancellable,
                                  meta_done, run);
      return;
    }
  search_evaluate (run);
}

void
imap_search_run (ImapSession *session, const ImapSearchKey *program, gboolean want_meta,
                 ImapSearchRunDone done, gpointer user_data)
{
  SearchRun *run = g_new0 (SearchRun, 1);

  run->session = imap_session_ref (session);
  run->program = program;
  run->want_meta = want_meta;
  run->done = done;
  run->user_data = user_data;
  run->text_keys = g_ptr_array_new ();
  run->text_results = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  collect_text_keys (program, run->text_keys);
  text_next (run);
}

gboolean
imap_search_check (ImapSession *session, const ImapSearchKey *program)
{
  if (!imap_search_key_has (program, IMAP_SEARCH_MODSEQ))
    return TRUE;
  if (session->cmd->type != IMAP_COMMAND_SEARCH)
    {
      imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL,
                           "MODSEQ is supported in SEARCH only");
      return FALSE;
    }
  imap_session_enable_condstore (session, FALSE);
  return TRUE;
}

/* ---- SEARCH ---- */

static void
search_done (ImapSession *session, GArray *uids, GHashTable *meta, gpointer user_data)
{
  ImapCommand *cmd = session->cmd;
  gboolean uid = cmd->uid;
  ImapSearchReturn ret = cmd->u.search.ret;
  gboolean esearch = cmd->u.search.esearch || session->rev2;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(ImapRangeList) list = imap_range_list_new ();
  g_autoptr(GArray) values = g_array_new (FALSE, FALSE, sizeof (guint32));
  /* RFC 7162 3.1.5: with MODSEQ in the program, the highest MODSEQ found */
  gboolean with_modseq = imap_search_key_has (cmd->u.search.program, IMAP_SEARCH_MODSEQ);
  guint64 highest = 0;

  for (guint k = 0; k < uids->len; k++)
    {
      guint32 u = g_array_index (uids, guint32, k);
      guint seq = posthorn_mailbox_view_lookup_uid (session->view, u);
      guint32 v = uid ? u : seq;
      g_array_append_val (values, v);
      imap_range_list_add (list, v, v);
      highest = MAX (highest, posthorn_mailbox_view_get_modseq (session->view, seq));
    }
  if (esearch && ret == 0)
    ret = IMAP_SEARCH_RETURN_ALL;

  if ((ret & IMAP_SEARCH_RETURN_SAVE) != 0)
    {
      /* SAVE with only MIN and/or MAX saves just those (RFC 5182) */
      gboolean only_minmax = (ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) == 0
                             && (ret & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX)) != 0;

      g_clear_pointer (&session->saved_uids, g_array_unref);
      session->saved_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
      for (guint k = 0; k < uids->len; k++)
        if (!only_minmax
            || ((ret & IMAP_SEARCH_RETURN_MIN) != 0 && k == 0)
            || ((ret & IMAP_SEARCH_RETURN_MAX) != 0 && k == uids->len - 1))
          g_array_append_val (session->saved_uids, g_array_index (uids, guint32, k));
    }

  if (!esearch)
    {
      g_string_append (out, "* SEARCH");
      for (guint k = 0; k < values->len; k++)
        g_string_append_printf (out, " %u", g_array_index (values, guint32, k));
      if (with_modseq && values->len > 0)
        g_string_append_printf (out, " (MODSEQ %" G_GUINT64_FORMAT ")", highest);
      g_string_append (out, "\r\n");
    }
  else if ((ret & ~IMAP_SEARCH_RETURN_SAVE) != 0)
    {
      g_string_append_printf (out, "* ESEARCH (TAG \"%s\")%s", cmd->tag, uid ? " UID" : "");
      if ((ret & IMAP_SEARCH_RETURN_MIN) && values->len > 0)
        g_string_append_printf (out, " MIN %u", imap_range_list_min (list));
      if ((ret & IMAP_SEARCH_RETURN_MAX) && values->len > 0)
        g_string_append_printf (out, " MAX %u", imap_range_list_max (list));
      if ((ret & IMAP_SEARCH_RETURN_COUNT))
        g_string_append_printf (out, " COUNT %u", values->len);
      if ((ret & IMAP_SEARCH_RETURN_ALL) && values->len > 0)
        {
          g_autofree char *set = imap_range_list_to_string (list);
          g_string_append_printf (out, " ALL %s", set);
        }
      if (with_modseq && values->len > 0)
        g_string_append_printf (out, " MODSEQ %" G_GUINT64_FORMAT, highest);
      g_string_append (out, "\r\n");
    }
  imap_session_write_string (session, out);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Search completed.");
}

void
imap_cmd_search (ImapSession *session)
{
  if (!imap_search_check (session, session->cmd->u.search.program))
    return;
  imap_search_run (session, session->cmd->u.search.program, FALSE, search_done, NULL);
}
