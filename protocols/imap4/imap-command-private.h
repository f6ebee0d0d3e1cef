/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the files of the command builder, never by the session:
 * imap-command.c (the command table, dispatch, freeing),
 * imap-command-args.c (reading arguments, the grammar's name tables),
 * imap-command-build.c (one builder per command family),
 * imap-fetch-item.c (the FETCH attribute grammar) and
 * imap-command-dump.c (the canonical dump). */

#include "imap-command.h"
#include "imap-quote.h"

G_BEGIN_DECLS

/* ---- the grammar's names, indexed by the enums of imap-command.h ---- */

#define IMAP_COMMAND_N_STATUS_ITEMS 10
#define IMAP_COMMAND_N_NOTIFY_EVENTS 8

typedef struct {
  const char *name;
  ImapStatusItems item;
} ImapStatusItemName;

extern const ImapStatusItemName imap_command_status_items[IMAP_COMMAND_N_STATUS_ITEMS];
extern const char *const imap_command_sort_keys[IMAP_SORT_DISPLAYTO + 1];
extern const char *const imap_command_thread_algorithms[IMAP_THREAD_REFS + 1];
extern const char *const imap_command_notify_filters[IMAP_NOTIFY_MAILBOXES + 1];
/* Bit i of ImapNotifyEvents is imap_command_notify_events[i]. */
extern const char *const imap_command_notify_events[IMAP_COMMAND_N_NOTIFY_EVENTS];

/* ---- reading arguments (imap-command-args.c) ---- */

/* Sets a BAD IMAP_COMMAND_ERROR (unless one is set) and returns FALSE. */
gboolean imap_command_bad (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* The argument at @i, or NULL past the end. */
const ImapArg *imap_command_arg_at (GPtrArray *args, guint i);
/* A copy of @name, with "INBOX" in any case as "INBOX". */
char *imap_command_mailbox_dup (const char *name);
gboolean imap_command_get_mailbox (GPtrArray *args, guint i, char **out, GError **error);
/* TRUE when @args has nothing at @i or after it. */
gboolean imap_command_no_more_args (GPtrArray *args, guint i, GError **error);
gboolean imap_command_get_seqset (GPtrArray *args, guint i, gboolean uid, ImapSeqSet **out,
                                  GError **error);
/* An atom of ATOM-CHARs only. */
gboolean imap_command_is_atom (const ImapArg *arg);
/* A flag a client may set (not \Recent). */
gboolean imap_command_is_flag (const ImapArg *arg);
gboolean imap_command_get_flag_list (const ImapArg *list, char ***out, GError **error);
/* The index in @names of the atom @arg (any case). */
gboolean imap_command_lookup (const char *const *names, guint n, const ImapArg *arg, guint *out);
gboolean imap_command_get_status_items (const ImapArg *list, ImapStatusItems *out, GError **error);
/* CHARSET for SEARCH (optional) and SORT/THREAD (required), upper case. */
gboolean imap_command_get_charset (const ImapArg *a, char **out, GError **error);
/* The search program from @args[@i] on; BADCHARSET gives a NO with *@code. */
gboolean imap_command_parse_program (GPtrArray *args, guint i, const char *charset,
                                     ImapSearchKey **out, char **code, GError **error);

/* ---- FETCH attributes (imap-fetch-item.c) ---- */

/* A fetch-att list, a single item, or (when @macros) ALL / FAST / FULL. */
gboolean imap_command_get_fetch_items (const ImapArg *arg, gboolean macros, GPtrArray **out,
                                       GError **error);

/* ---- the builders (imap-command-build.c): fill cmd->u from @args ---- */

gboolean imap_command_build_authenticate (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_login (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_enable (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_id (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_select (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_create (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_mailbox (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_rename (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_list (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_status (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_append (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_notify (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_getquota (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_search (ImapCommand *cmd, GPtrArray *args, char **code, GError **error);
gboolean imap_command_build_fetch (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_store (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_copy (ImapCommand *cmd, GPtrArray *args, GError **error);
gboolean imap_command_build_sort (ImapCommand *cmd, GPtrArray *args, char **code, GError **error);
gboolean imap_command_build_thread (ImapCommand *cmd, GPtrArray *args, char **code, GError **error);

G_END_DECLS
