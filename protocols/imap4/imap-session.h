/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <posthorn/posthorn.h>

#include "imap-parser.h"
#include "imap-quote.h"
#include "imap-utf7.h"

G_BEGIN_DECLS

/* The imap4 plugin's settings ([imap4] in the config). */
typedef struct {
  gsize max_line_length;     /* max_line_length, default 65536 */
  gsize max_literal_size;    /* max_literal_size: buffered argument literals */
  guint64 append_limit;      /* append_limit: APPENDLIMIT and NO [TOOBIG] */
  guint idle_timeout;        /* idle_timeout: after login, default 30 min */
  guint login_timeout;       /* login_timeout: before login, default 60 s */
  guint64 quota_storage;     /* quota_storage: bytes, 0 = no QUOTA limit */
  guint max_bad_commands;    /* max_bad_commands: consecutive BADs before BYE, 0 = none, default 20 */
  guint max_preauth_commands; /* max_preauth_commands: commands before login, 0 = none, default 30 */
  guint idle_keepalive;      /* idle_keepalive: "* OK Still here" period in IDLE, default 2 min */
  guint notify_max_pending;  /* notify_max_pending: NOTIFICATIONOVERFLOW past it, default 1000 */
} ImapSettings;

typedef enum {
  IMAP_STATE_NOT_AUTH,
  IMAP_STATE_AUTH,
  IMAP_STATE_SELECTED,
  IMAP_STATE_LOGOUT,
} ImapState;

/* One IMAP connection. Reference counted: asynchronous store calls hold a
 * reference and look at imap_session_is_closed() when they return. */
typedef struct _ImapSession ImapSession;
typedef struct _ImapNotify ImapNotify;
struct _ImapSession {
  gint ref;
  PosthornConnection *conn;        /* NULL once the connection is gone */
  const ImapSettings *settings;
  ImapState state;
  ImapParser *parser;
  GCancellable *cancellable;

  /* the command running now (input is paused while it runs) */
  ImapCommand *cmd;
  gboolean busy;

  /* limits: tagged BADs in a row, commands before login */
  guint bad_commands;
  guint preauth_commands;

  /* APPEND literals streamed into the message writer */
  PosthornMessageWriter *append_writer;
  GPtrArray *append_messages;      /* of PosthornMessage, by message index */
  GError *append_error;

  /* AUTHENTICATE */
  PosthornSaslSession *sasl;
  gboolean sasl_waiting;           /* a "+ " challenge is out */
  gboolean sasl_final;             /* the final server data was sent as "+ " */

  /* ENABLE */
  gboolean rev2;
  gboolean utf8_accept;
  gboolean condstore;              /* RFC 7162: MODSEQ in FETCH, HIGHESTMODSEQ */
  gboolean qresync;                /* RFC 7162: VANISHED instead of EXPUNGE */

  /* authenticated */
  char *username;
  PosthornStoreUser *user;

  /* selected */
  PosthornMailboxView *view;
  char *selected;                  /* UTF-8 store name */
  gboolean read_only;
  guint event_sub;
  gboolean sync_wanted;            /* another session changed the mailbox */
  gboolean sync_running;
  GArray *saved_uids;              /* SEARCHRES "$": UIDs (guint32), or NULL */

  /* IDLE (imap-cmd-idle.c): the IDLE command stays session->cmd */
  gboolean idling;
  gboolean idle_done;              /* DONE (or a bad line) came while a sync ran */
  const char *idle_end_status;     /* "OK" or "BAD" for idle_done */
  GList idle_link;                 /* in the shared keepalive list */

  /* COMPRESS=DEFLATE (imap-cmd-compress.c): its output side, or NULL */
  gpointer deflate;

  /* NOTIFY (imap-notify.c), or NULL */
  ImapNotify *notify;

  /* output backpressure: called once when the output queue drained */
  void (*drained) (ImapSession *session, gpointer user_data);
  gpointer drained_data;
};

ImapSession *imap_session_new (PosthornConnection *conn, const ImapSettings *settings);
ImapSession *imap_session_ref (ImapSession *session);
void imap_session_unref (ImapSession *session);
/* TRUE once the connection is gone; replies are dropped then. */
gboolean imap_session_is_closed (ImapSession *session);

/* ---- the one writer every byte to the client goes through ---- */

void imap_session_write (ImapSession *session, const void *data, gsize length);
void imap_session_write_string (ImapSession *session, GString *text);
#define imap_session_write_literal(session, text) \
  imap_session_write ((session), (text), sizeof (text) - 1)
void imap_session_printf (ImapSession *session, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Calls @func once the output queue is below the low-water mark. */
void imap_session_when_drained (ImapSession *session,
                                void (*func) (ImapSession *session, gpointer user_data),
                                gpointer user_data);

/* ---- finishing a command ---- */

typedef enum {
  IMAP_SYNC_NONE,      /* no untagged updates */
  IMAP_SYNC_WANTED,    /* sync the selected mailbox if something changed */
  IMAP_SYNC_ALWAYS,    /* NOOP, CHECK, our own changes */
} ImapSyncMode;

/* Ends the running command: untagged updates of the selected mailbox
 * (as @sync says; EXPUNGE only where RFC 3501 7.4.1 allows), then
 * "TAG @status [code] text", then input flows again. @status is "OK",
 * "NO" or "BAD"; @code may be NULL. */
void imap_session_finish (ImapSession *session, ImapSyncMode sync, const char *status,
                          const char *code, const char *format, ...) G_GNUC_PRINTF (5, 6);

/* Ends the running command with an error mapped to a response code
 * (NONEXISTENT, ALREADYEXISTS, TRYCREATE when @trycreate, ...). */
void imap_session_finish_error (ImapSession *session, const GError *error,
                                gboolean trycreate);

/* Syncs the selected mailbox now and sends the untagged updates, then
 * calls @done (the session is referenced meanwhile). @no_expunge keeps
 * expunged messages in the view. */
typedef void (*ImapSyncDoneFunc) (ImapSession *session, gpointer user_data);
void imap_session_sync (ImapSession *session, gboolean no_expunge,
                        const GArray *quiet_uids, ImapSyncDoneFunc done, gpointer user_data);

/* Writes "* FLAGS (...)" and the PERMANENTFLAGS line for the view. */
void imap_session_write_flags (ImapSession *session);

/* The capability list for this session's state (without "CAPABILITY"). */
char *imap_session_capabilities (ImapSession *session);

/* Turns CONDSTORE on (a CONDSTORE enabling command, RFC 7162 3.1); with a
 * mailbox selected the first time, also "* OK [HIGHESTMODSEQ n]" unless
 * @quiet (SELECT sends it itself). */
void imap_session_enable_condstore (ImapSession *session, gboolean quiet);

/* Appends "* VANISHED [(EARLIER) ]set\r\n" for @n ascending UIDs (nothing
 * when @n is 0). */
void imap_session_append_vanished (GString *out, const guint32 *uids, guint n, gboolean earlier);

/* Leaves the selected state (no untagged output). */
void imap_session_unselect (ImapSession *session);

/* Mailbox names: from the client (mUTF-7 unless UTF8=ACCEPT, then
 * normalized for the store) and to the client. */
char *imap_session_mailbox_from_client (ImapSession *session, const char *name, GError **error);
void imap_session_append_mailbox (ImapSession *session, GString *out, const char *name);

/* Writes "(\Seen \Flagged kw ...)" for message @seq of the view. */
void imap_session_append_flags (ImapSession *session, GString *out, guint seq);

/* Resolves a sequence set (or "$") of the running command to UIDs in
 * the view, ascending; @uid says whether it holds UIDs. */
GArray *imap_session_resolve_set (ImapSession *session, const ImapSeqSet *set, gboolean uid);

/* ---- helpers shared by the command families ---- */

/* (Re)subscribes to the event bus for the selected mailbox. */
void imap_session_subscribe_selected (ImapSession *session);

/* Resolves the running command's set to UIDs in the view, replying BAD
 * for sequence numbers past the end; NULL if the command was answered. */
GArray *imap_fetch_resolve_or_reply (ImapSession *session, const ImapSeqSet *set);

/* Splits IMAP flag names into system flags and keywords (added to
 * @keywords, which may be NULL); FALSE and *@bad for an unknown system
 * flag. */
gboolean imap_flags_parse (char **names, guint32 *flags, GPtrArray *keywords, char **bad);

/* The user's storage in use (the sum of every mailbox's size), for QUOTA. */
void imap_quota_usage_async (ImapSession *session,
                             void (*done) (ImapSession *session, guint64 used, gpointer user_data),
                             gpointer user_data);

/* RFC 5256 section 2.1 base subject; *@reply_or_forward says whether a
 * Re:/Fwd: leader or (fwd) trailer was removed. */
char *imap_base_subject (const char *subject, gboolean *reply_or_forward);

/* ---- command families (imap-cmd-*.c) ---- */

void imap_cmd_capability (ImapSession *session);
void imap_cmd_noop (ImapSession *session);
void imap_cmd_logout (ImapSession *session);
void imap_cmd_starttls (ImapSession *session);
void imap_cmd_login (ImapSession *session);
void imap_cmd_authenticate (ImapSession *session);
void imap_cmd_authenticate_line (ImapSession *session, const char *line);
void imap_cmd_enable (ImapSession *session);
void imap_cmd_id (ImapSession *session);
void imap_cmd_namespace (ImapSession *session);

void imap_cmd_create (ImapSession *session);
void imap_cmd_delete (ImapSession *session);
void imap_cmd_rename (ImapSession *session);
void imap_cmd_subscribe (ImapSession *session);
void imap_cmd_list (ImapSession *session);
/* The name attributes of a LIST response for @e, space-separated, appended
 * to @attrs: \NonExistent (\Noselect for LSUB or without @extended),
 * \HasChildren or \HasNoChildren (not for LSUB), \Subscribed (when
 * @subscribed and it is), the special-use attributes. NOTIFY's LIST
 * notifications use it too. */
void imap_list_append_attributes (GString *attrs, const PosthornMailboxEntry *e,
                                  gboolean extended, gboolean lsub, gboolean subscribed);
void imap_cmd_status (ImapSession *session);

void imap_cmd_select (ImapSession *session);
void imap_cmd_close (ImapSession *session);
void imap_cmd_unselect (ImapSession *session);
void imap_cmd_check (ImapSession *session);
void imap_cmd_expunge (ImapSession *session);

void imap_cmd_append (ImapSession *session);

void imap_cmd_fetch (ImapSession *session);
void imap_cmd_store (ImapSession *session);
void imap_cmd_copy (ImapSession *session);

void imap_cmd_search (ImapSession *session);
void imap_cmd_sort (ImapSession *session);
void imap_cmd_thread (ImapSession *session);

void imap_cmd_idle (ImapSession *session);
/* A line arrived while idling: DONE ends IDLE with OK, anything else
 * with BAD. */
void imap_cmd_idle_line (ImapSession *session, const char *line, gsize length);
/* Another session changed the selected mailbox: push the updates now if
 * idling (otherwise they wait for the next command). */
void imap_idle_mailbox_changed (ImapSession *session);
/* NOTIFY's SELECTED group wants the changes pushed now (if idling). */
void imap_idle_notify_push (ImapSession *session);
/* The connection is gone: leave the keepalive list. */
void imap_idle_forget (ImapSession *session);

void imap_cmd_compress (ImapSession *session);
/* Deflates @data into the output (Z_SYNC_FLUSH); only with session->deflate. */
void imap_compress_write (ImapSession *session, const void *data, gsize length);
void imap_compress_free (ImapSession *session);
/* The session goes idle: frees the zlib states that can be rebuilt
 * (the deflater; the inflater, keeping its history) until the next use. */
void imap_compress_release (ImapSession *session);

void imap_cmd_notify (ImapSession *session);
/* NOTIFY NONE, or the session goes. */
void imap_notify_free (ImapSession *session);
/* Writes the notifications held while a command ran (before its tagged
 * reply). */
void imap_notify_flush (ImapSession *session);
/* TRUE if the command that ended was NOTIFY's internal FETCH (MessageNew
 * fetch-att): no tagged reply then. */
gboolean imap_notify_internal_finished (ImapSession *session);
/* A command ended: pushes what NOTIFY holds for the selected mailbox. */
void imap_notify_command_ended (ImapSession *session);
/* IDLE's sync wrote new EXISTS: MessageNew fetch-att for them. */
void imap_notify_idle_synced (ImapSession *session);
/* TRUE while NOTIFY's internal FETCH writes (nothing else may). */
gboolean imap_notify_blocks_output (ImapSession *session);
/* TRUE while NOTIFY pushes (syncs or fetches) for the selected mailbox. */
gboolean imap_notify_is_pushing (ImapSession *session);
/* TRUE when NOTIFY has a SELECTED(-DELAYED) group: every FETCH reporting
 * a flag change then carries the UID (RFC 5465 5.1). */
gboolean imap_notify_wants_uid (ImapSession *session);

void imap_cmd_getquota (ImapSession *session);
void imap_cmd_getquotaroot (ImapSession *session);
void imap_cmd_setquota (ImapSession *session);

G_END_DECLS
