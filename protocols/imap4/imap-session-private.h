/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the files of the session itself: imap-session.c (life cycle,
 * output, input) and imap-session-command.c (running commands). */

#include "imap-session.h"

G_BEGIN_DECLS

/* Runs @cmd (taken over): input pauses until its tagged reply. */
void imap_session_start_command (ImapSession *session, ImapCommand *cmd);

/* [imap4] max_bad_commands: after that many BAD replies in a row the
 * session says BYE and is closed; TRUE if it was. */
gboolean imap_session_check_bad_limit (ImapSession *session);

G_END_DECLS
