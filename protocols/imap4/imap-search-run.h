/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "imap-session.h"

G_BEGIN_DECLS

/* The matches of a search, as UIDs ascending; @meta_by_uid maps UID to
 * its PosthornStoreMessageMeta when metadata was read (else NULL). Both
 * are valid during the call only. */
typedef void (*ImapSearchRunDone) (ImapSession *session, GArray *uids,
                                   GHashTable *meta_by_uid, gpointer user_data);

/* Evaluates @program over the selected mailbox. @want_meta reads the
 * metadata even if no key needs it (SORT, THREAD). On a store error the
 * running command is answered and @done is not called. */
void imap_search_run (ImapSession *session, const ImapSearchKey *program, gboolean want_meta,
                      ImapSearchRunDone done, gpointer user_data);

/* Replies BAD and returns FALSE for keys this server does not offer. */
gboolean imap_search_check (ImapSession *session, const ImapSearchKey *program);

G_END_DECLS
