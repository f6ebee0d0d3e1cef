/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Mailbox names (modified UTF-7 or UTF-8), flag lists and message sets
 * as the client writes and reads them. */
#include "imap-session.h"

char *
imap_session_mailbox_from_client (ImapSession *session, const char *name, GError **error)
{
  g_autofree char *utf8 = NULL;

  if (session->utf8_accept)
    {
      if (!g_utf8_validate (name, -1, NULL))
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "Mailbox name is not valid UTF-8");
          return NULL;
        }
      utf8 = g_strdup (name);
    }
  else
    {
      g_autoptr(GError) local = NULL;

      utf8 = imap_utf7_decode (name, &local);
      if (utf8 == NULL)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "Mailbox name is not valid modified UTF-7: %s", local->message);
          return NULL;
        }
    }
  return posthorn_store_normalize_mailbox_name (utf8, error);
}

void
imap_session_append_mailbox (ImapSession *session, GString *out, const char *name)
{
  if (session->utf8_accept)
    {
      imap_quote_append_astring (out, name, TRUE);
      return;
    }
  {
    g_autofree char *mutf7 = imap_utf7_encode (name, NULL);
    imap_quote_append_astring (out, mutf7 != NULL ? mutf7 : name, FALSE);
  }
}

void
imap_session_append_flags (ImapSession *session, GString *out, guint seq)
{
  static const struct { guint32 flag; const char *name; } system_flags[] = {
    { POSTHORN_MESSAGE_ANSWERED, "\\Answered" },
    { POSTHORN_MESSAGE_FLAGGED, "\\Flagged" },
    { POSTHORN_MESSAGE_DELETED, "\\Deleted" },
    { POSTHORN_MESSAGE_SEEN, "\\Seen" },
    { POSTHORN_MESSAGE_DRAFT, "\\Draft" },
    { POSTHORN_MESSAGE_RECENT, "\\Recent" },
  };
  guint32 flags = posthorn_mailbox_view_get_flags (session->view, seq);
  const char *const *names = posthorn_mailbox_view_get_keywords (session->view);
  const guint32 *kw;
  guint n_kw = 0;
  gboolean first = TRUE;

  if (session->rev2)
    flags &= ~(guint32) POSTHORN_MESSAGE_RECENT;
  g_string_append_c (out, '(');
  for (guint k = 0; k < G_N_ELEMENTS (system_flags); k++)
    if ((flags & system_flags[k].flag) != 0)
      {
        if (!first)
          g_string_append_c (out, ' ');
        g_string_append (out, system_flags[k].name);
        first = FALSE;
      }
  kw = posthorn_mailbox_view_get_message_keywords (session->view, seq, &n_kw);
  for (guint k = 0; k < n_kw; k++)
    {
      if (!first)
        g_string_append_c (out, ' ');
      g_string_append (out, names[kw[k]]);
      first = FALSE;
    }
  g_string_append_c (out, ')');
}

GArray *
imap_session_resolve_set (ImapSession *session, const ImapSeqSet *set, gboolean uid)
{
  GArray *uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint count = posthorn_mailbox_view_get_count (session->view);

  if (set->saved)
    {
      if (session->saved_uids != NULL)
        for (guint k = 0; k < session->saved_uids->len; k++)
          {
            guint32 u = g_array_index (session->saved_uids, guint32, k);
            if (posthorn_mailbox_view_lookup_uid (session->view, u) != 0)
              g_array_append_val (uids, u);
          }
      return uids;
    }
  if (uid)
    {
      guint32 max_uid = count > 0 ? posthorn_mailbox_view_get_uid (session->view, count) : 0;
      g_autoptr(ImapRangeList) list = NULL;

      /* "*" is the highest UID in use; "n:*" with n above it is just that UID */
      list = imap_seqset_resolve (set, max_uid);
      for (guint k = 0; k < list->ranges->len; k++)
        {
          ImapRange *r = &g_array_index (list->ranges, ImapRange, k);
          /* binary search for the first UID >= lo: ranges may be huge */
          guint lo = 1, hi = count + 1;
          while (lo < hi)
            {
              guint mid = lo + (hi - lo) / 2;
              if (posthorn_mailbox_view_get_uid (session->view, mid) < r->lo)
                lo = mid + 1;
              else
                hi = mid;
            }
          for (guint seq = lo; seq <= count; seq++)
            {
              guint32 u = posthorn_mailbox_view_get_uid (session->view, seq);
              if (u > r->hi)
                break;
              if (u >= r->lo)
                g_array_append_val (uids, u);
            }
        }
      return uids;
    }
  {
    g_autoptr(ImapRangeList) list = imap_seqset_resolve (set, count);
    ImapRangeIter it;
    guint32 seq;

    imap_range_iter_init (&it, list);
    while (imap_range_iter_next (&it, &seq))
      {
        guint32 u;
        if (seq > count)
          break;
        u = posthorn_mailbox_view_get_uid (session->view, seq);
        g_array_append_val (uids, u);
      }
  }
  return uids;
}
