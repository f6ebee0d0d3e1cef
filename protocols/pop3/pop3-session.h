/* One POP3 session: the state machine AUTHORIZATION → TRANSACTION →
 * UPDATE (RFC 1939 section 3) and what the command families share.
 *
 * Commands that wait for the auth engine or the store pause the
 * connection's input (pop3_session_begin_async) and resume it when they
 * have answered (pop3_session_end_async), so pipelined commands (RFC 2449
 * PIPELINING) run one after the other, in order. Every asynchronous step
 * holds a reference on the session; the connection may close meanwhile
 * (writes to it are then dropped).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <posthorn/posthorn.h>

#include "pop3-parser.h"
#include "pop3-stuff.h"

G_BEGIN_DECLS

typedef struct _Pop3Retr Pop3Retr;
typedef struct _Pop3Prefetch Pop3Prefetch;

/* [pop3] limits on what a client may send (pop3-plugin.c reads them). */
#define POP3_DEFAULT_MAX_BAD_COMMANDS 20
#define POP3_DEFAULT_MAX_PREAUTH_COMMANDS 30

typedef struct {
  guint max_bad_commands;        /* the Nth invalid one in a row closes; 0: none */
  guint max_preauth_commands;    /* commands before login, then close; 0: none */
} Pop3Settings;

/* Per-message bits of the maildrop snapshot. */
enum {
  POP3_MSG_DELETED = 1 << 0,       /* DELE'd in this session */
  POP3_MSG_WAS_DELETED = 1 << 1,   /* had \Deleted (set by IMAP) at login */
};

typedef struct {
  gint ref_count;
  PosthornConnection *conn;      /* a reference, for the session's life */
  const Pop3Settings *settings;  /* the plugin's, outlives every session */
  Pop3State state;
  guint bad_commands;            /* invalid commands in a row */
  guint preauth_commands;        /* command lines read before login */
  GCancellable *cancellable;     /* cancelled when the connection closes */
  gboolean closed;

  /* AUTHORIZATION */
  char *user_name;               /* given by USER */
  PosthornSaslSession *sasl;
  gboolean sasl_waiting;         /* a challenge is out: the next line answers */
  gboolean sasl_final_waiting;   /* success data is out: await the empty answer */
  gboolean sasl_in_flight;       /* a step runs (an async step is begun) */

  /* TRANSACTION: the maildrop, fixed at login */
  char *user;                    /* canonical name; holds the maildrop lock */
  gboolean locked;
  PosthornStoreUser *store_user;
  guint32 uidvalidity;
  guint n_messages;
  guint32 *uids;                 /* [n_messages], ascending */
  guint64 *sizes;                /* [n_messages], exact octets with CRLF */
  guint fetch_next;              /* login: the next index whose size to fetch */
  guint fetch_pending;           /* login: size fetches in flight */
  GError *fetch_error;           /* login: the first fetch that failed */
  guint8 *msg_flags;             /* [n_messages], POP3_MSG_* */
  guint64 total_size;
  guint n_deleted;
  guint64 deleted_size;

  /* A multi-line LIST or UIDL being written */
  gboolean listing;
  Pop3CommandKind listing_kind;
  guint listing_next;

  /* RETR or TOP being streamed */
  Pop3Retr *retr;
  /* first pieces of the next messages, read ahead after a RETR */
  GQueue prefetches;
} Pop3Session;

/* pop3-session.c */
void pop3_session_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data);
Pop3Session *pop3_session_ref (Pop3Session *session);
void pop3_session_unref (Pop3Session *session);
/* Pauses input and takes a reference for an asynchronous step. */
void pop3_session_begin_async (Pop3Session *session);
/* Resumes input and drops that reference. */
void pop3_session_end_async (Pop3Session *session);
void pop3_session_reply (Pop3Session *session, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Takes the maildrop lock for @user: FALSE if another POP3 session of
 * this daemon holds it ([IN-USE]). */
gboolean pop3_session_lock (Pop3Session *session, const char *user);
void pop3_session_unlock (Pop3Session *session);
void pop3_session_set_state (Pop3Session *session, Pop3State state);
/* The message at @msg (1-based) if it exists and is not deleted, else
 * replies -ERR and returns 0. Returns the 1-based number. */
guint pop3_session_check_msg (Pop3Session *session, guint32 msg);
/* The UIDL of message @index (0-based), in a buffer of 17 bytes. */
void pop3_session_format_uidl (Pop3Session *session, guint index, char out[17]);

/* pop3-auth.c: AUTHORIZATION commands */
void pop3_auth_capa (Pop3Session *session);
void pop3_auth_user (Pop3Session *session, Pop3Command *cmd);
void pop3_auth_pass (Pop3Session *session, Pop3Command *cmd);
void pop3_auth_auth (Pop3Session *session, Pop3Command *cmd);
void pop3_auth_sasl_line (Pop3Session *session, const char *line);
void pop3_auth_stls (Pop3Session *session);

/* pop3-maildrop.c: logging in and the TRANSACTION/UPDATE commands */
/* Locks and loads @user's maildrop, then answers "+OK" or "-ERR"; called
 * with an async step begun, which it ends. */
void pop3_maildrop_open (Pop3Session *session, const char *user);
void pop3_maildrop_free (Pop3Session *session);
void pop3_maildrop_stat (Pop3Session *session);
void pop3_maildrop_list (Pop3Session *session, Pop3Command *cmd);
void pop3_maildrop_uidl (Pop3Session *session, Pop3Command *cmd);
void pop3_maildrop_dele (Pop3Session *session, Pop3Command *cmd);
void pop3_maildrop_rset (Pop3Session *session);
void pop3_maildrop_quit (Pop3Session *session);
/* Continues a multi-line LIST/UIDL when the output drained. */
void pop3_maildrop_listing_continue (Pop3Session *session);

/* pop3-retr.c */
void pop3_retr_start (Pop3Session *session, Pop3Command *cmd);
void pop3_retr_continue (Pop3Session *session);
void pop3_retr_free (Pop3Retr *retr);
/* The connection closed: ends a stream that waits for output room. */
void pop3_retr_abandon (Pop3Session *session);
/* Drops the read-ahead piece (frees it now or when its read returns). */
void pop3_prefetch_drop (Pop3Session *session);

G_END_DECLS
