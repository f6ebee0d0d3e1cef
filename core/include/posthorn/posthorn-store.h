/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>
#include <posthorn/posthorn-plugin.h>
#include <posthorn/posthorn-events.h>
#include <posthorn/posthorn-message.h>

G_BEGIN_DECLS

/* The mail store.
 *
 * Two sides, like Dovecot's foo.h / foo-private.h:
 *
 *   PART 1  what protocol plugins (IMAP, POP3, SMTP) CALL: asynchronous
 *           functions. Each runs the store's blocking work on the core
 *           worker pool and calls back on the caller's main loop thread;
 *           the result comes from the matching _finish(). Every change made
 *           through them is published on the event bus (posthorn-events.h)
 *           after it is committed.
 *
 *   PART 2  what a storage plugin IMPLEMENTS: PosthornStoreVTable, a table
 *           of BLOCKING, thread-safe functions the core calls on worker
 *           threads, registered with posthorn_store_register().
 *
 * Exactly one storage plugin serves every user of a daemon. Enabling two is
 * a start-up error: the second posthorn_store_register() fails with
 * POSTHORN_ERROR_CONFIG naming both plugins.
 *
 * Names. Mailbox names are UTF-8, hierarchy separator '/'. The core checks
 * every name a client gives before a store sees it (see
 * posthorn_store_normalize_mailbox_name()): no control characters (C0,
 * DEL, C1), no empty component, no "." or ".." component, no '*' or '%',
 * at most 1024 bytes; "INBOX" is case-insensitive and always spelled "INBOX" once
 * normalized (also as the first component: "inbox/x" is "INBOX/x"). A bad
 * name fails with POSTHORN_ERROR_INVALID and nothing is touched. Modified
 * UTF-7 is IMAP's business, not the store's.
 *
 * Identity. A mailbox is addressed by (user, name). Calls that act on the
 * messages of a mailbox also take the UIDVALIDITY the caller knows (0: do
 * not check); if the mailbox was deleted and re-created in between, the
 * call fails with POSTHORN_ERROR_NOT_FOUND instead of touching the wrong
 * messages.
 *
 * UIDs are strictly ascending in a mailbox and never reused: UIDNEXT is
 * kept by the store, not computed as max(uid)+1, also after the highest
 * UID was expunged and the daemon restarted. UIDVALIDITY of a name changes
 * only when the mailbox is deleted and created again. Renaming keeps UIDs
 * and UIDVALIDITY. Every change to a message (append, flags, expunge) gets
 * a new MODSEQ, greater than every MODSEQ the mailbox had before
 * (RFC 7162 CONDSTORE/QRESYNC); an expunged UID leaves a tombstone with its
 * expunge MODSEQ, so QRESYNC can answer VANISHED (EARLIER).
 *
 * Users are named as the auth backend names them (the full address);
 * a store keeps no passwords and never checks that a user exists.
 *
 * Typical use:
 *
 *   login      posthorn_store_user_open_async (user, session, ...)
 *   LIST/LSUB  posthorn_store_list_async -> entries (filter by pattern)
 *   SELECT     posthorn_mailbox_view_open_async -> view: EXISTS, UIDNEXT,
 *              UIDVALIDITY, HIGHESTMODSEQ, FLAGS (view keywords)
 *   FETCH      sequence numbers -> UIDs with the view; flags and MODSEQ
 *              from the view; ENVELOPE, BODYSTRUCTURE, sections from
 *              posthorn_store_fetch_async (one call for the whole set);
 *              bytes with posthorn_store_read_async in pieces
 *   STORE      posthorn_store_store_flags_async, then a view sync
 *   APPEND     posthorn_store_append_async -> APPENDUID from the change
 *   NOOP/IDLE  posthorn_event_subscribe (user, mailbox) wakes the session;
 *              posthorn_mailbox_view_sync_async tells it what to send
 *   SMTP/LMTP  posthorn_store_deliver_async (all recipients at once) and
 *              "250" only after its callback reports success
 *   POP3       a read-only view of INBOX; RETR with read_async; DELE as
 *              \Deleted flags; QUIT expunges them
 *
 * \Recent (IMAP4rev1 only; IMAP4rev2 dropped it) follows Dovecot: a
 * message is recent for exactly one session, the first read-write
 * SELECT/resync of its mailbox that sees it (the store keeps a per-mailbox
 * "first not yet claimed UID"). EXAMINE never claims. STATUS RECENT counts
 * messages nobody has claimed yet.
 */

/* ------------------------------------------------------------------ */
/* Common types                                                        */
/* ------------------------------------------------------------------ */

/* System flags of a message. POSTHORN_MESSAGE_RECENT is never stored; a
 * mailbox view reports it for the messages it claimed. */
typedef enum {
  POSTHORN_MESSAGE_SEEN = 1 << 0,
  POSTHORN_MESSAGE_ANSWERED = 1 << 1,
  POSTHORN_MESSAGE_FLAGGED = 1 << 2,
  POSTHORN_MESSAGE_DELETED = 1 << 3,
  POSTHORN_MESSAGE_DRAFT = 1 << 4,
  POSTHORN_MESSAGE_RECENT = 1 << 5,
} PosthornMessageFlags;

/* The flags a store keeps (everything but RECENT). */
#define POSTHORN_MESSAGE_STORED_FLAGS 0x1fu

/* SPECIAL-USE attributes (RFC 6154). The store creates one mailbox of each
 * ("Sent", "Drafts", "Trash", "Junk", "Archive") the first time a user is
 * opened. */
typedef enum {
  POSTHORN_SPECIAL_USE_NONE = 0,
  POSTHORN_SPECIAL_USE_SENT = 1 << 0,
  POSTHORN_SPECIAL_USE_DRAFTS = 1 << 1,
  POSTHORN_SPECIAL_USE_TRASH = 1 << 2,
  POSTHORN_SPECIAL_USE_JUNK = 1 << 3,
  POSTHORN_SPECIAL_USE_ARCHIVE = 1 << 4,
} PosthornSpecialUse;

/* How posthorn_store_store_flags() combines the given flags with the
 * message's (IMAP STORE FLAGS, +FLAGS, -FLAGS). */
typedef enum {
  POSTHORN_FLAGS_REPLACE = 0,
  POSTHORN_FLAGS_ADD = 1,
  POSTHORN_FLAGS_REMOVE = 2,
} PosthornFlagsMode;

/* Which text SEARCH looks in: TEXT is header and body, BODY the body only. */
typedef enum {
  POSTHORN_SEARCH_TEXT = 0,
  POSTHORN_SEARCH_BODY = 1,
} PosthornSearchField;

/* The counts of IMAP STATUS. Filled by the store; later ABI minors may
 * only append fields (the core always allocates it). */
typedef struct {
  guint32 messages;
  guint32 recent;
  guint32 unseen;
  guint32 uidnext;
  guint32 uidvalidity;
  guint64 size;           /* sum of RFC822.SIZE */
  guint64 highestmodseq;
  gpointer _reserved[4];
} PosthornMailboxStatus;

/* One change a store operation made. Protocols read them from the
 * operation's result: APPENDUID and COPYUID (uidvalidity, uid, src_uid),
 * the new MODSEQs of STORE. The same list is what the core publishes on
 * the event bus. */
typedef struct {
  PosthornEventKind kind;
  const char *user;
  const char *mailbox;
  const char *old_mailbox;  /* MAILBOX_RENAMED: the former name; else NULL */
  guint32 uidvalidity;      /* message events: of @mailbox */
  guint32 uid;              /* message events */
  guint64 modseq;           /* message events: the message's new MODSEQ */
  guint32 src_uid;          /* MESSAGE_NEW made by copy/move: the source UID; else 0 */
  guint32 flags;            /* MESSAGE_NEW, FLAGS_CHANGED: the stored flags now */
} PosthornStoreChange;

/* The list of changes an operation made (and, for STORE with
 * UNCHANGEDSINCE, the UIDs it refused). Immutable once returned. */
typedef struct _PosthornStoreChanges PosthornStoreChanges;

PosthornStoreChanges *posthorn_store_changes_ref (PosthornStoreChanges *changes);
void posthorn_store_changes_unref (PosthornStoreChanges *changes);
guint posthorn_store_changes_get_count (const PosthornStoreChanges *changes);
/* The @index-th change, in the order the store made them. Valid while
 * @changes lives. */
const PosthornStoreChange *posthorn_store_changes_get (const PosthornStoreChanges *changes,
                                                       guint index);
/* UIDs STORE ... UNCHANGEDSINCE did not change because their MODSEQ was
 * greater (for the MODIFIED response code), ascending. */
const guint32 *posthorn_store_changes_get_modified (const PosthornStoreChanges *changes,
                                                    guint *n_uids);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornStoreChanges, posthorn_store_changes_unref)

/* Checks and normalizes a client-given mailbox name as described above.
 * Returns the normalized name or NULL with POSTHORN_ERROR_INVALID and a
 * message fit for a client ("mailbox name contains '..'"). Pure; any
 * thread. */
char *posthorn_store_normalize_mailbox_name (const char *name, GError **error);

/* TRUE once a storage plugin has registered. */
gboolean posthorn_store_available (void);

/* ================================================================== */
/* PART 1: what protocol plugins call                                  */
/* ================================================================== */
/*
 * All functions below are called on the main loop thread. The callback runs
 * on the same thread with the GAsyncResult for the _finish() function. A
 * @cancellable that fires before the work started makes it fail with
 * G_IO_ERROR_CANCELLED; once started, a change is carried out (and its
 * _finish reports it) so that nothing acknowledged is lost.
 *
 * Errors (POSTHORN_ERROR domain): NOT_FOUND (no such mailbox or message,
 * or UIDVALIDITY changed), EXISTS, INVALID (bad name or argument),
 * PERMISSION (e.g. deleting INBOX), MODIFIED, TEMPORARY (database busy),
 * TOO_BIG, FAILED (anything else, already logged).
 */

/* A user's mail, as a logged-in session sees it. Holds the user name and
 * the session's origin pointer, which is set on every event published for
 * changes made through it (so that a session can skip its own events). */
typedef struct _PosthornStoreUser PosthornStoreUser;

/* Opens @user's mail: creates the user, INBOX and the SPECIAL-USE
 * mailboxes the first time. @origin may be NULL. */
void posthorn_store_user_open_async (const char *user,
                                     gconstpointer origin,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
PosthornStoreUser *posthorn_store_user_open_finish (GAsyncResult *result, GError **error);

PosthornStoreUser *posthorn_store_user_ref (PosthornStoreUser *user);
void posthorn_store_user_unref (PosthornStoreUser *user);
const char *posthorn_store_user_get_name (PosthornStoreUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornStoreUser, posthorn_store_user_unref)

/* ---- the mailbox tree ---- */

/* One name of LIST/LSUB. Parents that do not exist but have children are
 * listed with exists = FALSE (IMAP \NonExistent / \Noselect), subscriptions
 * of names that do not exist with exists = FALSE too. */
typedef struct {
  const char *name;
  PosthornSpecialUse special_use;
  gboolean exists;
  gboolean subscribed;
  gboolean has_children;
} PosthornMailboxEntry;

typedef struct _PosthornMailboxList PosthornMailboxList;

/* Every mailbox and subscription of the user, sorted by name (INBOX
 * first). Filtering by pattern is the protocol's business. */
void posthorn_store_list_async (PosthornStoreUser *user,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
PosthornMailboxList *posthorn_store_list_finish (GAsyncResult *result, GError **error);

guint posthorn_mailbox_list_get_count (const PosthornMailboxList *list);
const PosthornMailboxEntry *posthorn_mailbox_list_get (const PosthornMailboxList *list,
                                                       guint index);
/* The entry for @name, or NULL. */
const PosthornMailboxEntry *posthorn_mailbox_list_lookup (const PosthornMailboxList *list,
                                                          const char *name);
void posthorn_mailbox_list_free (PosthornMailboxList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornMailboxList, posthorn_mailbox_list_free)

/* Creates @name (missing parents too). EXISTS if it exists. */
void posthorn_store_create_async (PosthornStoreUser *user,
                                  const char *name,
                                  PosthornSpecialUse special_use,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);

/* Deletes @name and its messages; its children stay. INBOX cannot be
 * deleted (PERMISSION). */
void posthorn_store_delete_async (PosthornStoreUser *user,
                                  const char *name,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);

/* Renames @old_name and all its children, keeping UIDs, UIDVALIDITY, flags
 * and subscriptions. Renaming INBOX moves it (with its messages) to
 * @new_name and leaves a new, empty INBOX; INBOX's children do not move.
 * EXISTS if @new_name (or a renamed child's new name) exists; INVALID if
 * @new_name is below @old_name. */
void posthorn_store_rename_async (PosthornStoreUser *user,
                                  const char *old_name,
                                  const char *new_name,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);

/* Subscribes or unsubscribes @name (which need not exist). */
void posthorn_store_subscribe_async (PosthornStoreUser *user,
                                     const char *name,
                                     gboolean subscribe,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);

/* Finishes create, delete, rename and subscribe. */
gboolean posthorn_store_mailbox_op_finish (GAsyncResult *result, GError **error);

/* IMAP STATUS. */
void posthorn_store_status_async (PosthornStoreUser *user,
                                  const char *name,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean posthorn_store_status_finish (GAsyncResult *result,
                                       PosthornMailboxStatus *out_status,
                                       GError **error);

/* ---- adding messages ---- */

/* The message's bytes are @message's (canonical CRLF). In the worker the
 * core parses it once (PosthornMessageInfo) and extracts its search text;
 * the store keeps both, so FETCH never parses again. @keywords may be NULL.
 * @internal_date is Unix seconds (0: now). The message is durable (on disk
 * and fsync'ed) when the callback runs with success. The changes hold one
 * MESSAGE_NEW with uidvalidity, uid and modseq (APPENDUID). */
void posthorn_store_append_async (PosthornStoreUser *user,
                                  const char *mailbox,
                                  PosthornMessage *message,
                                  guint32 flags,
                                  const char *const *keywords,
                                  gint64 internal_date,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);

/* One message of posthorn_store_append_multi_async(). Callers pass an
 * array of them, so the size is fixed: zero the reserved fields (later
 * ABI minors may give them a meaning where zero keeps today's). */
typedef struct {
  PosthornMessage *message;
  guint32 flags;                 /* system flags */
  const char *const *keywords;   /* NULL-terminated or NULL */
  gint64 internal_date;          /* Unix seconds (0: now) */
  gpointer _reserved[2];
} PosthornStoreAppendItem;

/* Adds @n_items messages to @mailbox of @user at once (IMAP MULTIAPPEND,
 * RFC 3502): all or nothing, with ascending UIDs in the order given, made
 * durable and visible to other sessions together (one commit; their events
 * are published together). If any message fails (bad keyword, the mailbox
 * is missing: NOT_FOUND, ...) nothing is stored. The changes hold one
 * MESSAGE_NEW per message, in order. @items and what they point to are
 * copied/referenced before the call returns. With more than one item this
 * fails with POSTHORN_ERROR_UNSUPPORTED unless
 * posthorn_store_can_append_multi(). Added in ABI 1.1. */
void posthorn_store_append_multi_async (PosthornStoreUser *user,
                                        const char *mailbox,
                                        const PosthornStoreAppendItem *items,
                                        guint n_items,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);

/* TRUE if the registered store can add several messages atomically (its
 * vtable has append_multi); FALSE too when no store is registered. Added
 * in ABI 1.1. */
gboolean posthorn_store_can_append_multi (void);

/* Whether the registered store can hold mail for @user (its vtable's
 * check_user; TRUE when it has none). FALSE with POSTHORN_ERROR_INVALID
 * and a reason when it cannot, e.g. a name a Maildir store cannot turn
 * into a folder; FALSE with POSTHORN_ERROR_FAILED when no store is
 * registered. Non-blocking: SMTP calls it at RCPT, so that such a
 * recipient is refused there, not after DATA. Added in ABI 1.1. */
gboolean posthorn_store_check_user (const char *user, GError **error);

/* Delivers @message to several users' mailboxes at once, all or nothing
 * (for SMTP/LMTP: one transaction, then "250"). @users is NULL-terminated;
 * @mailboxes, if not NULL, has one name per user (a NULL @mailboxes means
 * every user's INBOX). A target listed twice gets two copies: remove
 * duplicate recipients first. A user who never logged in gets INBOX
 * created (MAILBOX_CREATED changes). A missing mailbox fails the whole
 * delivery with NOT_FOUND. The changes hold one MESSAGE_NEW per target,
 * in the order of @users. @origin goes into the events. */
void posthorn_store_deliver_async (const char *const *users,
                                   const char *const *mailboxes,
                                   PosthornMessage *message,
                                   gint64 internal_date,
                                   gconstpointer origin,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);

/* Finishes append, deliver, store_flags, copy, move and expunge: the
 * changes made (transfer full) or NULL with @error set. */
PosthornStoreChanges *posthorn_store_changes_finish (GAsyncResult *result, GError **error);

/* ---- changing messages ---- */

/* UID sets are arrays of UIDs in ascending order without duplicates; UIDs
 * not (or no longer) in the mailbox are skipped silently. */

/* IMAP STORE. @flags are system flags (RECENT is ignored), @keywords
 * keyword names (NULL: none): IMAP atoms of printable ASCII, at most 255
 * bytes, not starting with '\' (else INVALID); compared without regard
 * to case. With @unchangedsince > 0 (CONDSTORE) a
 * message whose MODSEQ is greater is left alone and listed in
 * posthorn_store_changes_get_modified(). The changes hold one
 * FLAGS_CHANGED per message whose flags actually changed. */
void posthorn_store_store_flags_async (PosthornStoreUser *user,
                                       const char *mailbox,
                                       guint32 uidvalidity,
                                       const guint32 *uids,
                                       guint n_uids,
                                       PosthornFlagsMode mode,
                                       guint32 flags,
                                       const char *const *keywords,
                                       guint64 unchangedsince,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);

/* COPY and MOVE (RFC 6851): the copies get new UIDs in @dest (in the order
 * of @uids) and keep flags, keywords and internal date. MESSAGE_NEW changes
 * carry src_uid (COPYUID); MOVE adds MESSAGE_EXPUNGED changes for the
 * source, in the same transaction. */
void posthorn_store_copy_async (PosthornStoreUser *user,
                                const char *mailbox,
                                guint32 uidvalidity,
                                const guint32 *uids,
                                guint n_uids,
                                const char *dest,
                                gboolean move,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);

/* Expunges the messages flagged \Deleted: all of them (@uids NULL) or
 * those of @uids (UID EXPUNGE). One MESSAGE_EXPUNGED change each. */
void posthorn_store_expunge_async (PosthornStoreUser *user,
                                   const char *mailbox,
                                   guint32 uidvalidity,
                                   const guint32 *uids,
                                   guint n_uids,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);

/* ---- reading messages ---- */

/* What FETCH needs besides the bytes. @info is the PosthornMessageInfo
 * parsed at append (deserialized in the worker). */
typedef struct {
  guint32 uid;
  gint64 internal_date;     /* Unix seconds */
  guint64 size;             /* RFC822.SIZE: the canonical CRLF bytes */
  PosthornMessageInfo *info;
} PosthornStoreMessageMeta;

typedef struct _PosthornStoreFetch PosthornStoreFetch;

/* Fetches the metadata of @uids in one worker round trip (FETCH 1:*
 * ENVELOPE is not 100,000 calls). Expunged UIDs are missing from the
 * result. Each info takes a few KB of memory: fetch a big set in batches
 * of a few hundred UIDs, sending each batch's responses before asking for
 * the next, so memory stays bounded. */
void posthorn_store_fetch_async (PosthornStoreUser *user,
                                 const char *mailbox,
                                 guint32 uidvalidity,
                                 const guint32 *uids,
                                 guint n_uids,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
PosthornStoreFetch *posthorn_store_fetch_finish (GAsyncResult *result, GError **error);
guint posthorn_store_fetch_get_count (const PosthornStoreFetch *fetch);
/* Ascending by UID. Valid while @fetch lives. */
const PosthornStoreMessageMeta *posthorn_store_fetch_get (const PosthornStoreFetch *fetch,
                                                          guint index);
void posthorn_store_fetch_free (PosthornStoreFetch *fetch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornStoreFetch, posthorn_store_fetch_free)

/* Like posthorn_store_fetch_async(), but only UID, INTERNALDATE and size:
 * every meta's @info is NULL (what POP3 needs at login, or RFC822.SIZE).
 * No info is read or decoded, so it costs a few microseconds a message and
 * little memory: a whole mailbox fits in one call. Expunged UIDs are
 * missing. The result comes from posthorn_store_fetch_finish(). Added in
 * ABI 1.1. */
void posthorn_store_fetch_sizes_async (PosthornStoreUser *user,
                                       const char *mailbox,
                                       guint32 uidvalidity,
                                       const guint32 *uids,
                                       guint n_uids,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);

/* Reads up to @length bytes of message @uid from @offset (fewer at the
 * end; an empty GBytes at or after the end). Stream a large message in
 * pieces of a few hundred KiB, driven by the connection's drained
 * callback: memory stays bounded whatever the message size. */
void posthorn_store_read_async (PosthornStoreUser *user,
                                const char *mailbox,
                                guint32 uidvalidity,
                                guint32 uid,
                                guint64 offset,
                                gsize length,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
GBytes *posthorn_store_read_finish (GAsyncResult *result, GError **error);

/* The message's bytes as a GInputStream. Its synchronous read() blocks
 * (never call it on the loop); g_input_stream_read_async() and friends run
 * it in a thread and are fine on the loop. */
GInputStream *posthorn_store_open_stream (PosthornStoreUser *user,
                                          const char *mailbox,
                                          guint32 uidvalidity,
                                          guint32 uid);

/* SEARCH TEXT / BODY from the store's full-text index: the UIDs whose
 * text contains @needle (case-insensitive substring), ascending. Only the
 * first 4 MiB of a message's decoded body text (and of its headers) are
 * indexed. */
void posthorn_store_search_text_async (PosthornStoreUser *user,
                                       const char *mailbox,
                                       guint32 uidvalidity,
                                       PosthornSearchField field,
                                       const char *needle,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
/* Returns a GArray of guint32 (transfer full). */
GArray *posthorn_store_search_text_finish (GAsyncResult *result, GError **error);

/* QRESYNC: UIDs expunged with a MODSEQ greater than @modseq, ascending.
 * (Messages changed since @modseq are those whose view MODSEQ is greater:
 * posthorn_mailbox_view_get_modseq().) */
void posthorn_store_vanished_async (PosthornStoreUser *user,
                                    const char *mailbox,
                                    guint32 uidvalidity,
                                    guint64 modseq,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
GArray *posthorn_store_vanished_finish (GAsyncResult *result, GError **error);

/* ---- the selected mailbox ---- */

/* A mailbox view is what SELECT/EXAMINE opens: a compact snapshot of the
 * mailbox's UIDs, flags, keywords and MODSEQs (about 18 bytes a message),
 * with IMAP sequence numbers (1-based, in UID order). It changes only when
 * a resync is applied (posthorn_mailbox_view_sync_finish()), so the
 * protocol decides when EXISTS, EXPUNGE and FETCH FLAGS go out and its
 * sequence numbers stay right. Views live on the loop thread; the getters
 * never block. */
typedef struct _PosthornMailboxView PosthornMailboxView;

typedef enum {
  POSTHORN_VIEW_READ_WRITE = 0,
  POSTHORN_VIEW_READ_ONLY = 1 << 0,  /* EXAMINE: claims no \Recent */
} PosthornViewFlags;

void posthorn_mailbox_view_open_async (PosthornStoreUser *user,
                                       const char *mailbox,
                                       PosthornViewFlags flags,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
PosthornMailboxView *posthorn_mailbox_view_open_finish (GAsyncResult *result,
                                                        GError **error);

PosthornMailboxView *posthorn_mailbox_view_ref (PosthornMailboxView *view);
void posthorn_mailbox_view_unref (PosthornMailboxView *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornMailboxView, posthorn_mailbox_view_unref)

PosthornStoreUser *posthorn_mailbox_view_get_user (PosthornMailboxView *view);
const char *posthorn_mailbox_view_get_name (PosthornMailboxView *view);
gboolean posthorn_mailbox_view_is_read_only (PosthornMailboxView *view);
guint32 posthorn_mailbox_view_get_uidvalidity (PosthornMailboxView *view);
guint32 posthorn_mailbox_view_get_uidnext (PosthornMailboxView *view);
/* The mailbox's HIGHESTMODSEQ as of the last sync. */
guint64 posthorn_mailbox_view_get_highestmodseq (PosthornMailboxView *view);
/* EXISTS. */
guint posthorn_mailbox_view_get_count (PosthornMailboxView *view);
/* Messages flagged \Recent in this view. */
guint posthorn_mailbox_view_get_recent_count (PosthornMailboxView *view);
/* Sequence number of the first message without \Seen, or 0. */
guint posthorn_mailbox_view_get_first_unseen (PosthornMailboxView *view);

/* Per message, by sequence number 1..count (out of range: 0 / NULL). */
guint32 posthorn_mailbox_view_get_uid (PosthornMailboxView *view, guint seq);
/* System flags, with POSTHORN_MESSAGE_RECENT for messages this view
 * claimed. */
guint32 posthorn_mailbox_view_get_flags (PosthornMailboxView *view, guint seq);
guint64 posthorn_mailbox_view_get_modseq (PosthornMailboxView *view, guint seq);
/* The keywords of message @seq as indexes into
 * posthorn_mailbox_view_get_keywords(); @n_keywords gets their number. */
const guint32 *posthorn_mailbox_view_get_message_keywords (PosthornMailboxView *view,
                                                           guint seq,
                                                           guint *n_keywords);
/* Every keyword the mailbox knows (IMAP FLAGS/PERMANENTFLAGS), in index
 * order; the list only grows. NULL-terminated, owned by the view. */
const char *const *posthorn_mailbox_view_get_keywords (PosthornMailboxView *view);

/* The sequence number of @uid, or 0 if it is not in the view. O(log n). */
guint posthorn_mailbox_view_lookup_uid (PosthornMailboxView *view, guint32 uid);

/* Bytes of memory the view's snapshot takes (for limits and benchmarks). */
gsize posthorn_mailbox_view_get_memory_size (PosthornMailboxView *view);

typedef enum {
  POSTHORN_VIEW_SYNC_DEFAULT = 0,
  /* Leave expunged messages in the view (they are reported by a later sync
   * without this flag): IMAP must not send EXPUNGE during FETCH, STORE or
   * SEARCH (RFC 3501 7.4.1). */
  POSTHORN_VIEW_SYNC_NO_EXPUNGE = 1 << 0,
} PosthornViewSyncFlags;

/* What a resync changed. */
typedef struct _PosthornViewChanges PosthornViewChanges;

/* Reads what changed since the view's last sync. At most one sync of a
 * view may be in flight. */
void posthorn_mailbox_view_sync_async (PosthornMailboxView *view,
                                       PosthornViewSyncFlags flags,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
/* Applies the changes to the view and returns them. If the mailbox is gone
 * (deleted, or re-created with another UIDVALIDITY) this fails with
 * NOT_FOUND and the view stays as it was: IMAP answers with BYE. */
PosthornViewChanges *posthorn_mailbox_view_sync_finish (PosthornMailboxView *view,
                                                        GAsyncResult *result,
                                                        GError **error);

/* Sequence numbers of the removed messages as they were before the sync,
 * in DESCENDING order: sending "* N EXPUNGE" in this order is correct
 * because no later one shifts an earlier one. */
const guint *posthorn_view_changes_get_expunged_seqs (const PosthornViewChanges *changes,
                                                      guint *n);
/* The removed UIDs, ascending (QRESYNC VANISHED). */
const guint32 *posthorn_view_changes_get_expunged_uids (const PosthornViewChanges *changes,
                                                        guint *n);
/* How many messages were added at the end (send EXISTS if > 0; each
 * EXPUNGE already lowers the client's count, RFC 3501 7.4.1). */
guint posthorn_view_changes_get_new_count (const PosthornViewChanges *changes);
/* UIDs of messages already in the view whose flags, keywords or MODSEQ
 * changed, ascending (look their sequence numbers up after the sync). */
const guint32 *posthorn_view_changes_get_changed_uids (const PosthornViewChanges *changes,
                                                       guint *n);
/* TRUE if the mailbox's keyword list grew (send FLAGS again). */
gboolean posthorn_view_changes_get_keywords_changed (const PosthornViewChanges *changes);
/* TRUE if nothing at all changed. */
gboolean posthorn_view_changes_is_empty (const PosthornViewChanges *changes);
void posthorn_view_changes_free (PosthornViewChanges *changes);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornViewChanges, posthorn_view_changes_free)

/* ================================================================== */
/* PART 2: what a storage plugin implements                            */
/* ================================================================== */
/*
 * Every function is BLOCKING and must be thread-safe: the core calls them
 * on worker threads, several at once. Names reaching the store are already
 * normalized. @data is the pointer given to posthorn_store_register().
 * Operations that change something record each change in @changes (the
 * core publishes them as events after the function returned TRUE, and
 * discards them if it returned FALSE); a failing function must have changed
 * nothing. A change acknowledged by returning TRUE must survive a crash or
 * power loss.
 */

/* Builders the store fills. */
typedef struct _PosthornStoreSync PosthornStoreSync;
typedef struct _PosthornStoreMailboxes PosthornStoreMailboxes;

/* Records one message change. @flags: the message's stored flags after the
 * change (MESSAGE_NEW, FLAGS_CHANGED). @src_uid: copy/move source or 0. */
void posthorn_store_changes_add_message (PosthornStoreChanges *changes,
                                         PosthornEventKind kind,
                                         const char *user,
                                         const char *mailbox,
                                         guint32 uidvalidity,
                                         guint32 uid,
                                         guint64 modseq,
                                         guint32 flags,
                                         guint32 src_uid);
/* Records a mailbox change (CREATED, DELETED, RENAMED with @old_mailbox,
 * SUBSCRIPTION_CHANGED). */
void posthorn_store_changes_add_mailbox (PosthornStoreChanges *changes,
                                         PosthornEventKind kind,
                                         const char *user,
                                         const char *mailbox,
                                         const char *old_mailbox);
/* STORE UNCHANGEDSINCE refused @uid. */
void posthorn_store_changes_add_modified (PosthornStoreChanges *changes, guint32 uid);

/* Mailbox state, read in the same transaction as the records. */
void posthorn_store_sync_set_state (PosthornStoreSync *sync,
                                    guint32 uidvalidity,
                                    guint32 uidnext,
                                    guint64 highestmodseq);
/* With POSTHORN_STORE_SYNC_CLAIM_RECENT: the UIDs in [@first, @last) are
 * recent for this caller (the store moved its "first unclaimed UID" from
 * @first to @last atomically). */
void posthorn_store_sync_set_recent (PosthornStoreSync *sync, guint32 first, guint32 last);
/* The mailbox's whole keyword list; a keyword's index is its position. */
void posthorn_store_sync_set_keywords (PosthornStoreSync *sync, const char *const *keywords);
/* Optional: room for @n_records records (saves reallocations). */
void posthorn_store_sync_reserve (PosthornStoreSync *sync, guint n_records);
/* One message, in ascending UID order. @keywords: indexes, ascending. */
void posthorn_store_sync_add_record (PosthornStoreSync *sync,
                                     guint32 uid,
                                     guint32 flags,
                                     guint64 modseq,
                                     const guint32 *keywords,
                                     guint n_keywords);
/* One tombstone (only asked for with since_modseq > 0), ascending UIDs. */
void posthorn_store_sync_add_expunged (PosthornStoreSync *sync, guint32 uid, guint64 modseq);

void posthorn_store_mailboxes_add (PosthornStoreMailboxes *list,
                                   const char *name,
                                   PosthornSpecialUse special_use);
void posthorn_store_mailboxes_add_subscription (PosthornStoreMailboxes *list,
                                                const char *name);

/* A message to add, as the core hands it to the store. */
typedef struct {
  PosthornMessage *message;      /* the canonical bytes: read them with
                                  * posthorn_message_read() in pieces */
  guint64 size;                  /* posthorn_message_get_size() */
  GBytes *info;                  /* serialized PosthornMessageInfo: keep it,
                                  * give it back from fetch() unchanged */
  /* Search text, each at most 4 MiB (the core cuts longer text, and
   * decodes no more than that). A store that searches only this text
   * finds the first 4 MiB of a huge text part only; storage-sqlite
   * scans the stored message for the rest. */
  const char *search_header;     /* every header, decoded (may be NULL) */
  const char *search_body;       /* the decoded text parts (may be NULL).
                                  * SEARCH BODY looks in this, SEARCH TEXT
                                  * in both */
  guint32 flags;                 /* stored system flags */
  const char *const *keywords;   /* NULL-terminated or NULL */
  gint64 internal_date;          /* Unix seconds */
} PosthornStoreNewMessage;

/* One destination of append/deliver. */
typedef struct {
  const char *user;
  const char *mailbox;
} PosthornStoreTarget;

typedef enum {
  POSTHORN_STORE_SYNC_DEFAULT = 0,
  POSTHORN_STORE_SYNC_CLAIM_RECENT = 1 << 0,  /* read-write SELECT */
  POSTHORN_STORE_SYNC_EXPUNGED_ONLY = 1 << 1, /* only tombstones (VANISHED) */
} PosthornStoreSyncFlags;

/* Sets one fetched message: the core takes a reference on @info. */
typedef struct _PosthornStoreFetchBuilder PosthornStoreFetchBuilder;
void posthorn_store_fetch_builder_add (PosthornStoreFetchBuilder *builder,
                                       guint32 uid,
                                       gint64 internal_date,
                                       guint64 size,
                                       GBytes *info);

typedef struct {
  gsize struct_size;  /* sizeof (PosthornStoreVTable) */

  /* Creates @user, INBOX and the SPECIAL-USE mailboxes on first use
   * (MAILBOX_CREATED changes); nothing if they exist. */
  gboolean (*open_user) (gpointer data, const char *user,
                         PosthornStoreChanges *changes, GError **error);

  /* Every mailbox and subscription of @user. */
  gboolean (*list) (gpointer data, const char *user,
                    PosthornStoreMailboxes *out, GError **error);

  /* As posthorn_store_create_async() etc. describe. */
  gboolean (*create) (gpointer data, const char *user, const char *name,
                      PosthornSpecialUse special_use,
                      PosthornStoreChanges *changes, GError **error);
  gboolean (*delete_mailbox) (gpointer data, const char *user, const char *name,
                              PosthornStoreChanges *changes, GError **error);
  gboolean (*rename) (gpointer data, const char *user, const char *old_name,
                      const char *new_name, PosthornStoreChanges *changes,
                      GError **error);
  gboolean (*subscribe) (gpointer data, const char *user, const char *name,
                         gboolean subscribe, PosthornStoreChanges *changes,
                         GError **error);

  gboolean (*status) (gpointer data, const char *user, const char *name,
                      PosthornMailboxStatus *out, GError **error);

  /* Reads the mailbox state and every message with MODSEQ > @since_modseq
   * (all of them for 0) in one consistent snapshot, plus tombstones with
   * MODSEQ > @since_modseq when @since_modseq > 0. @uidvalidity 0: do not
   * check. */
  gboolean (*sync) (gpointer data, const char *user, const char *name,
                    guint32 uidvalidity, guint64 since_modseq,
                    PosthornStoreSyncFlags flags, PosthornStoreSync *out,
                    GError **error);

  /* Adds @message to every target in one transaction: all or nothing,
   * durable before returning TRUE. Creates a missing user with INBOX. One
   * MESSAGE_NEW change per target, in order. */
  gboolean (*append) (gpointer data, const PosthornStoreNewMessage *message,
                      const PosthornStoreTarget *targets, guint n_targets,
                      PosthornStoreChanges *changes, GError **error);

  gboolean (*store_flags) (gpointer data, const char *user, const char *name,
                           guint32 uidvalidity, const guint32 *uids, guint n_uids,
                           PosthornFlagsMode mode, guint32 flags,
                           const char *const *keywords, guint64 unchangedsince,
                           PosthornStoreChanges *changes, GError **error);

  gboolean (*copy) (gpointer data, const char *user, const char *name,
                    guint32 uidvalidity, const guint32 *uids, guint n_uids,
                    const char *dest, gboolean move,
                    PosthornStoreChanges *changes, GError **error);

  /* @uids NULL: every message flagged \Deleted. */
  gboolean (*expunge) (gpointer data, const char *user, const char *name,
                       guint32 uidvalidity, const guint32 *uids, guint n_uids,
                       PosthornStoreChanges *changes, GError **error);

  gboolean (*fetch) (gpointer data, const char *user, const char *name,
                     guint32 uidvalidity, const guint32 *uids, guint n_uids,
                     PosthornStoreFetchBuilder *out, GError **error);

  /* pread() on a message: up to @length bytes at @offset into @buffer;
   * returns the count (0 at the end) or -1 with @error set. */
  gssize (*read) (gpointer data, const char *user, const char *name,
                  guint32 uidvalidity, guint32 uid, guint64 offset,
                  void *buffer, gsize length, GError **error);

  /* Appends matching UIDs (guint32) to @out_uids, ascending. */
  gboolean (*search_text) (gpointer data, const char *user, const char *name,
                           guint32 uidvalidity, PosthornSearchField field,
                           const char *needle, GArray *out_uids, GError **error);

  /* Optional, added in ABI 1.1 (NULL: several messages cannot be added
   * atomically; posthorn_store_can_append_multi() says FALSE). Adds the
   * @n_messages messages to the one mailbox @target (creating INBOX and
   * the user like append does) in one transaction: all or nothing, durable
   * before returning TRUE, and no reader sees any of them before all are
   * there. UIDs ascend in the given order; one MESSAGE_NEW change per
   * message, in order. */
  gboolean (*append_multi) (gpointer data, const PosthornStoreNewMessage *const *messages,
                            guint n_messages, const PosthornStoreTarget *target,
                            PosthornStoreChanges *changes, GError **error);

  /* Optional, added in ABI 1.1 (NULL: the core calls fetch and drops the
   * infos). Like fetch, but adds every message with a NULL info: reads
   * UID, INTERNALDATE and size only. */
  gboolean (*fetch_sizes) (gpointer data, const char *user, const char *name,
                           guint32 uidvalidity, const guint32 *uids, guint n_uids,
                           PosthornStoreFetchBuilder *out, GError **error);

  /* Optional, added in ABI 1.1 (NULL: every user name can be stored).
   * Whether the store can hold mail for @user at all (a Maildir store
   * cannot name a folder after "a/b@example.org"): POSTHORN_ERROR_INVALID
   * with a reason if not. Pure and quick: called on the main loop (SMTP
   * asks it at RCPT), touches nothing on disk. */
  gboolean (*check_user) (gpointer data, const char *user, GError **error);
} PosthornStoreVTable;

/* Registers @plugin as the daemon's store (call it from the plugin's
 * init). @vtable must stay valid until posthorn_store_unregister(); @data
 * is passed to every function. Fails with POSTHORN_ERROR_CONFIG if another
 * storage plugin already registered, POSTHORN_ERROR_PLUGIN if @vtable is
 * too small or lacks a function. */
gboolean posthorn_store_register (PosthornPlugin *plugin,
                                  const PosthornStoreVTable *vtable,
                                  gpointer data,
                                  GError **error);

/* Unregisters (from the plugin's shutdown); waits for calls still running
 * on workers to return. */
void posthorn_store_unregister (PosthornPlugin *plugin);

G_END_DECLS
