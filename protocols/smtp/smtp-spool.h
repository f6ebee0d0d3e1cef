/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The durable outbound spool: one message is two files in the queue
 * directory, ID.msg (the canonical message bytes) and ID.env (the
 * envelope, a GKeyFile). ID.env is written last (temporary file, fsync,
 * rename, fsync of the directory): a message exists exactly when its
 * ID.env does. Everything here but the (de)serialisers blocks; the queue
 * runs it on the worker pool. `posthornctl queue` reads the same files. */
#pragma once

#include <glib.h>

#include "smtp-command.h"

G_BEGIN_DECLS

typedef enum {
  SMTP_RCPT_PENDING = 0,   /* still to deliver */
  SMTP_RCPT_DELIVERED,     /* accepted by the next hop */
  SMTP_RCPT_FAILED,        /* permanent failure (or expired); DSN due/sent */
} SmtpRcptState;

typedef struct {
  char *mailbox;           /* "local@domain" */
  SmtpNotify notify;       /* RFC 3461 NOTIFY= (SMTP_NOTIFY_NONE: not given) */
  char *orcpt_type;        /* ORCPT= type and address, or NULL */
  char *orcpt;
  SmtpRcptState state;
  char *status;            /* last enhanced status, "4.4.1" */
  char *diagnostic;        /* last reply or local explanation */
  char *remote_mta;        /* the host that answered, or NULL */
  gboolean reported;       /* FAILED: the failure DSN was sent */
} SmtpSpoolRcpt;

typedef struct {
  char *id;
  char *sender;            /* mailbox, "" for the null reverse-path */
  SmtpBody body;
  gboolean smtputf8;
  SmtpRet ret;
  char *envid;             /* decoded ENVID=, or NULL */
  gint64 arrival;          /* unix seconds */
  gint64 next_attempt;     /* unix seconds; 0: now */
  guint attempts;
  gboolean delay_warned;   /* the delay DSN was sent */
  GPtrArray *rcpts;        /* of SmtpSpoolRcpt */
} SmtpEnvelope;

SmtpEnvelope *smtp_envelope_new (const char *id);
void smtp_envelope_free (SmtpEnvelope *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpEnvelope, smtp_envelope_free)
SmtpSpoolRcpt *smtp_envelope_add_rcpt (SmtpEnvelope *env, const char *mailbox);
/* The domain part of @mailbox (after the last '@'), or "" */
const char *smtp_mailbox_domain (const char *mailbox);

/* Envelope <-> keyfile text. Parsing is strict: a missing key, a bad
 * value or an unknown state fails with POSTHORN-style G_KEY_FILE errors. */
char *smtp_envelope_serialize (const SmtpEnvelope *env, gsize *length);
SmtpEnvelope *smtp_envelope_parse (const char *id, const char *text, gsize length,
                                   GError **error);

/* A new random queue id (16 upper-case hex digits). */
char *smtp_spool_new_id (void);
/* TRUE if @id looks like one (so that a file name from the directory or
 * the command line can never name a path elsewhere). */
gboolean smtp_spool_id_valid (const char *id);

/* ---- blocking file operations ---- */

/* Creates the queue directory (mode 0700) if needed. */
gboolean smtp_spool_ensure_dir (const char *dir, GError **error);
/* Writes @path's content durably: temporary file, fsync, rename, fsync
 * of the directory. */
gboolean smtp_spool_write_file (const char *dir, const char *name, const void *data,
                                gsize length, GError **error);
/* Writes and syncs the envelope (ID.env). */
gboolean smtp_spool_write_envelope (const char *dir, const SmtpEnvelope *env, GError **error);
/* Reads ID.env. */
SmtpEnvelope *smtp_spool_read_envelope (const char *dir, const char *id, GError **error);
/* `posthornctl queue delete ID` renames ID.env to ID.env.deleted (one
 * atomic step, so it never races with the runner): the message is gone
 * for the runner's directory monitor, and the runner removes the files
 * once no delivery attempt uses them (at the next start if it is down). */
#define SMTP_SPOOL_DELETED_SUFFIX ".deleted"

/* Removes ID.env, ID.env.deleted, then ID.msg (missing files are fine). */
gboolean smtp_spool_remove (const char *dir, const char *id, GError **error);
/* TRUE if ID.env.deleted exists: the envelope must not be written again. */
gboolean smtp_spool_is_deleted (const char *dir, const char *id);
/* Removes every message whose ID.env.deleted exists, and a left-over
 * "flush" file (at start, before the spool is loaded). */
gboolean smtp_spool_purge_deleted (const char *dir, GError **error);
/* The ids of every ID.env in @dir, sorted. */
GPtrArray *smtp_spool_list (const char *dir, GError **error);
/* The path of ID.msg. */
char *smtp_spool_message_path (const char *dir, const char *id);

G_END_DECLS
