/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SMTP/submission/LMTP session: settings shared by the plugin's
 * services, the per-connection state machine and the command families
 * (smtp-session.c: greeting, EHLO, RSET, NOOP, VRFY, QUIT, STARTTLS;
 * smtp-cmd-auth.c: AUTH; smtp-cmd-mail.c: MAIL, RCPT; smtp-cmd-data.c:
 * DATA, BDAT and the hand-off to the store and the queue). */
#pragma once

#include <posthorn/posthorn.h>

#include "smtp-command.h"
#include "smtp-data.h"
#include "smtp-reply.h"

G_BEGIN_DECLS

typedef struct _SmtpQueue SmtpQueue;

typedef enum {
  SMTP_ROLE_MX,          /* [smtp] listen: local domains only, no AUTH */
  SMTP_ROLE_SUBMISSION,  /* [smtp] submission, submission_tls: AUTH first */
  SMTP_ROLE_LMTP,        /* [smtp] lmtp: RFC 2033, per-recipient replies */
} SmtpRole;

/* Everything read from [smtp]; lives as long as the plugin. */
typedef struct {
  PosthornPlugin *plugin;
  char *hostname;                /* greeting, Received:, DSNs */
  GStrv domains;                 /* local domains */
  guint64 max_message_size;      /* canonical bytes; 0 = unlimited */
  guint max_recipients;
  guint max_bad_commands;        /* then 421 and close */
  guint max_junk_commands;       /* RSET NOOP VRFY EXPN HELP EHLO without a
                                  * message accepted, then 421 and close */
  guint max_received;            /* Received: fields before "too many hops" */
  SmtpBareNewline bare_newline;
  gboolean allow_sender_mismatch;
  guint filter_timeout;          /* seconds a filter may take to answer */
  SmtpQueue *queue;              /* NULL until the queue is set up */
} SmtpSettings;

/* The user data of one service. */
typedef struct {
  SmtpSettings *settings;
  SmtpRole role;
} SmtpServiceInfo;

/* One accepted recipient. */
typedef struct {
  char *mailbox;        /* "local@domain" as the client sent it */
  char *user;           /* the canonical local user; NULL for remote */
  SmtpNotify notify;    /* RFC 3461 NOTIFY= */
  char *orcpt_type;     /* ORCPT= type, decoded address; NULL if none */
  char *orcpt;
} SmtpRecipient;

void smtp_recipient_free (SmtpRecipient *rcpt);

typedef struct _SmtpSession SmtpSession;

struct _SmtpSession {
  gint ref;
  PosthornConnection *conn;      /* NULL once the connection closed */
  const SmtpServiceInfo *info;
  const SmtpSettings *settings;
  GCancellable *cancellable;     /* cancelled when the connection closes */

  char *helo;                    /* EHLO/HELO/LHLO argument; NULL before */
  gboolean esmtp;
  char *user;                    /* authenticated user; NULL before AUTH */
  guint bad_commands;
  guint junk_commands;           /* since the last accepted message */

  /* AUTH exchange */
  PosthornSaslSession *sasl;
  gboolean sasl_waiting;         /* a "334" was sent: the next line answers it */
  gboolean sasl_final;           /* that "334" carried the final server data */

  /* the mail transaction */
  gboolean in_transaction;       /* MAIL was accepted */
  SmtpPath *sender;
  SmtpBody body;
  gboolean smtputf8;
  SmtpRet ret;
  char *envid;
  GPtrArray *rcpts;              /* of SmtpRecipient */
  char *txn_id;

  /* DATA / BDAT */
  gboolean in_data;              /* lines are message data */
  gboolean in_bdat;              /* BDAT chunks follow (until LAST) */
  gboolean bdat_discard;         /* this BDAT transaction already failed */
  gboolean bdat_last;            /* the chunk being read is LAST */
  guint64 bdat_total;            /* chunk bytes received in the transaction */
  GError *bdat_error;            /* the reply for a refused BDAT transaction */
  SmtpData *data;
  PosthornMessageWriter *writer;
  GError *write_error;
  guint64 filter_header_offset;  /* where filter header fields go: after Return-Path: */
};

void smtp_session_new (PosthornConnection *conn, const SmtpServiceInfo *info);
SmtpSession *smtp_session_ref (SmtpSession *session);
void smtp_session_unref (SmtpSession *session);

/* Writes bytes if the connection is still open. */
void smtp_session_write (SmtpSession *session, const char *text);
/* Writes one formatted reply (smtp_reply_format). */
void smtp_session_reply (SmtpSession *session, guint code, const char *enhanced,
                         const char *format, ...) G_GNUC_PRINTF (4, 5);
/* Writes the reply an SMTP_REPLY_ERROR (or other) error stands for. */
void smtp_session_reply_error (SmtpSession *session, const GError *error);

/* Counts a bad command; after max_bad_commands sends 421 and closes.
 * Returns TRUE if the session was closed. */
gboolean smtp_session_bad_command (SmtpSession *session);
/* Counts a command that moves no mail (RSET, NOOP, VRFY, EXPN, HELP,
 * EHLO/HELO/LHLO); past [smtp] max_junk_commands since the last accepted
 * message it answers 421 4.7.0, closes and returns TRUE. */
gboolean smtp_session_junk_command (SmtpSession *session);

/* Stop / continue reading commands while an asynchronous step runs, so
 * that pipelined commands are answered in order. */
void smtp_session_pause (SmtpSession *session);
void smtp_session_resume (SmtpSession *session);

/* Forgets the mail transaction (RSET, after DATA, EHLO, STARTTLS, AUTH). */
void smtp_session_reset_transaction (SmtpSession *session);

/* Back to command lines of at most SMTP_COMMAND_LINE_MAX. */
void smtp_session_command_mode (SmtpSession *session);

/* The command families. */
void smtp_cmd_auth (SmtpSession *session, const SmtpCommand *cmd);
void smtp_cmd_auth_line (SmtpSession *session, const char *line, gsize length);
void smtp_cmd_mail (SmtpSession *session, const SmtpCommand *cmd);
void smtp_cmd_rcpt (SmtpSession *session, const SmtpCommand *cmd);
void smtp_cmd_data (SmtpSession *session, const SmtpCommand *cmd);
void smtp_cmd_data_line (SmtpSession *session, const char *line, gsize length,
                         PosthornLineEnd end);
void smtp_cmd_bdat (SmtpSession *session, const SmtpCommand *cmd);
void smtp_cmd_bdat_bytes (SmtpSession *session, const guint8 *data, gsize length,
                          gboolean last);

/* The filter chain (smtp-filter.c) at MAIL, RCPT and the end of data.
 * @done runs once with the verdict; on REJECT/TEMPFAIL the reply was
 * already sent. At DATA, *@message is replaced by the message with the
 * header fields filters added (when they added some). */
typedef void (*SmtpFilterDone) (SmtpSession *session, gboolean accepted, gpointer user_data);
void smtp_filter_mail (SmtpSession *session, const char *sender, guint64 size,
                       SmtpFilterDone done, gpointer user_data);
void smtp_filter_rcpt (SmtpSession *session, const char *recipient,
                       SmtpFilterDone done, gpointer user_data);
typedef void (*SmtpFilterDataDone) (SmtpSession *session, PosthornMessage *message,
                                    const GError *refusal, gpointer user_data);
void smtp_filter_data (SmtpSession *session, PosthornMessage *message,
                       SmtpFilterDataDone done, gpointer user_data);

/* TRUE if @mailbox ("local@domain") may be used as MAIL FROM by @user
 * (case-insensitive domain, exact local part after lowercasing ASCII). */
gboolean smtp_sender_matches_user (const char *mailbox, const char *user);

G_END_DECLS
