/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One running FETCH, shared by the command (imap-cmd-fetch.c: store reads,
 * streaming, \Seen, VANISHED) and the response writer (imap-fetch-render.c). */

#include "imap-session.h"

G_BEGIN_DECLS

typedef struct {
  GString *text;        /* bytes to write, or NULL for a store range */
  guint64 offset;
  guint64 length;
} ImapFetchSegment;

typedef struct {
  ImapSession *session;
  GPtrArray *items;           /* of ImapFetchItem */
  gboolean want_uid, want_flags, want_modseq;
  gboolean needs_meta, needs_bytes, sets_seen;
  GArray *uids;
  GArray *seen_set;           /* UIDs that got \Seen from this FETCH */
  PosthornStoreFetch *meta;
  guint meta_index;
  guint index;
  gboolean some_expunged;
  gboolean unknown_cte;
  /* the message being written */
  guint32 uid;
  const PosthornStoreMessageMeta *m;
  GBytes *whole;              /* the whole message, if it was read at once */
  GQueue segments;            /* of ImapFetchSegment, to write in order */
  ImapFetchSegment *current;  /* a store range being streamed */
} ImapFetchJob;

/* TRUE if @item returns message bytes (RFC822*, BODY[...], BINARY[...]). */
gboolean imap_fetch_item_is_body (const ImapFetchItem *item);
/* TRUE if @item sets \Seen (a non-PEEK body item). */
gboolean imap_fetch_item_sets_seen (const ImapFetchItem *item);
/* The bytes of the message an item reads (before partial), FALSE if it
 * reads none. */
gboolean imap_fetch_item_range (PosthornMessageInfo *info, guint64 size, const ImapFetchItem *item,
                                guint64 *offset, guint64 *length);
/* TRUE if @item needs its bytes in memory (HEADER.FIELDS, BINARY). */
gboolean imap_fetch_item_needs_memory (const ImapFetchItem *item);

/* Queues on job->segments the whole "* n FETCH (...)\r\n" of message
 * job->uid (metadata job->m, bytes job->whole when read at once); the
 * caller streams the segments. */
void imap_fetch_render_message (ImapFetchJob *job);

G_END_DECLS
