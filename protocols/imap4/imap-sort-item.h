/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The messages SORT (imap-cmd-sort.c) and THREAD (imap-cmd-thread.c)
 * order, and how they compare. imap_base_subject() (RFC 5256 section 2.1)
 * is declared in imap-session.h. */

#include "imap-session.h"

G_BEGIN_DECLS

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
} ImapSortItem;

/* Frees what @item holds (a clear function for a GArray of items). */
void imap_sort_item_clear (ImapSortItem *item);

/* Appends to @items (of ImapSortItem) one item per UID of @uids, from the
 * PosthornStoreMessageMeta in @meta (by UID); info stays owned by @meta. */
void imap_sort_items_fill (ImapSession *session, GArray *uids, GHashTable *meta, GArray *items);

/* Sorts @items (of ImapSortItem) by @criteria (of ImapSortCriterion), then
 * by sequence number. Main loop only. */
void imap_sort_items_sort (GArray *items, GArray *criteria);

G_END_DECLS
