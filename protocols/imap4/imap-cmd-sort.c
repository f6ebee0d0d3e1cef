/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SORT and UID SORT (RFC 5256, SORT=DISPLAY of RFC 5957) over the
 * messages a search selected; the ordering is imap-sort-item.c's. */
#include "imap-sort-item.h"
#include "imap-search-run.h"

static void
sort_done (ImapSession *session, GArray *uids, GHashTable *meta, gpointer user_data)
{
  g_autoptr(GArray) items = g_array_new (FALSE, TRUE, sizeof (ImapSortItem));
  g_autoptr(GString) out = g_string_new ("* SORT");

  g_array_set_clear_func (items, (GDestroyNotify) imap_sort_item_clear);
  imap_sort_items_fill (session, uids, meta, items);
  imap_sort_items_sort (items, session->cmd->u.sort.criteria);
  for (guint k = 0; k < items->len; k++)
    {
      ImapSortItem *item = &g_array_index (items, ImapSortItem, k);
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
