/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-session.h"

#include <string.h>

/* ---- life cycle ---- */

ImapSession *
imap_session_ref (ImapSession *session)
{
  g_atomic_int_inc (&session->ref);
  return session;
}

void
imap_session_unref (ImapSession *session)
{
  if (!g_atomic_int_dec_and_test (&session->ref))
    return;
  imap_idle_forget (session);
  imap_notify_free (session);
  imap_compress_free (session);
  imap_parser_free (&session->parser);
  g_clear_pointer (&session->cmd, imap_command_free);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_error (&session->append_error);
  posthorn_sasl_session_free (&session->sasl);
  if (session->event_sub != 0)
    posthorn_event_unsubscribe (session->event_sub);
  g_clear_pointer (&session->view, posthorn_mailbox_view_unref);
  g_clear_pointer (&session->selected, g_free);
  g_clear_pointer (&session->saved_uids, g_array_unref);
  g_clear_pointer (&session->user, posthorn_store_user_unref);
  g_clear_pointer (&session->username, g_free);
  g_clear_object (&session->cancellable);
  g_free (session);
}

gboolean
imap_session_is_closed (ImapSession *session)
{
  return session->conn == NULL;
}

/* ---- output ---- */

void
imap_session_write (ImapSession *session, const void *data, gsize length)
{
  if (session->conn == NULL || length == 0)
    return;
  if (session->deflate != NULL)
    imap_compress_write (session, data, length);
  else
    posthorn_connection_write (session->conn, data, length);
}

void
imap_session_write_string (ImapSession *session, GString *text)
{
  imap_session_write (session, text->str, text->len);
}

void
imap_session_printf (ImapSession *session, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  imap_session_write (session, text, strlen (text));
}

void
imap_session_when_drained (ImapSession *session,
                           void (*func) (ImapSession *session, gpointer user_data),
                           gpointer user_data)
{
  session->drained = func;
  session->drained_data = user_data;
  if (session->conn != NULL)
    posthorn_connection_notify_drained (session->conn);
}

/* ---- capabilities ---- */

char *
imap_session_capabilities (ImapSession *session)
{
  GString *caps = g_string_new ("IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ENABLE ID");

  if (session->state == IMAP_STATE_NOT_AUTH)
    {
      g_auto(GStrv) mechs = posthorn_auth_list_mechanisms (session->conn);

      if (session->conn != NULL && !posthorn_connection_is_tls (session->conn)
          && posthorn_connection_tls_available (session->conn))
        g_string_append (caps, " STARTTLS");
      if (!posthorn_auth_plaintext_allowed (session->conn))
        g_string_append (caps, " LOGINDISABLED");
      for (guint k = 0; mechs != NULL && mechs[k] != NULL; k++)
        g_string_append_printf (caps, " AUTH=%s", mechs[k]);
      return g_string_free (caps, FALSE);
    }
  g_string_append (caps, " NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN"
                         " SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS"
                         " ESEARCH SEARCHRES STATUS=SIZE BINARY UTF8=ACCEPT"
                         " SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT IDLE"
                         " CONDSTORE QRESYNC NOTIFY");
  if (session->deflate == NULL)
    g_string_append (caps, " COMPRESS=DEFLATE");
  if (session->settings->quota_storage > 0)
    g_string_append (caps, " QUOTA QUOTA=RES-STORAGE");
  if (session->settings->append_limit > 0)
    g_string_append_printf (caps, " APPENDLIMIT=%" G_GUINT64_FORMAT,
                            session->settings->append_limit);
  else
    g_string_append (caps, " APPENDLIMIT");
  if (posthorn_store_can_append_multi ())
    g_string_append (caps, " MULTIAPPEND");
  return g_string_free (caps, FALSE);
}

/* ---- names ---- */

char *
imap_session_mailbox_from_client (ImapSession *session, const char *name, GError **error)
{
  g_autofree char *utf8 = NULL;

  if (session->utf8_accept)
    {
      if (!g_utf8_validate (name, -1, NULL))
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "Mailbox name is not valid UTF-8");
          return NULL;
        }
      utf8 = g_strdup (name);
    }
  else
    {
      g_autoptr(GError) local = NULL;

      utf8 = imap_utf7_decode (name, &local);
      if (utf8 == NULL)
        {
          g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                       "Mailbox name is not valid modified UTF-7: %s", local->message);
          return NULL;
        }
    }
  return posthorn_store_normalize_mailbox_name (utf8, error);
}

void
imap_session_append_mailbox (ImapSession *session, GString *out, const char *name)
{
  if (session->utf8_accept)
    {
      imap_quote_append_astring (out, name, TRUE);
      return;
    }
  {
    g_autofree char *mutf7 = imap_utf7_encode (name, NULL);
    imap_quote_append_astring (out, mutf7 != NULL ? mutf7 : name, FALSE);
  }
}

void
imap_session_append_flags (ImapSession *session, GString *out, guint seq)
{
  static const struct { guint32 flag; const char *name; } system_flags[] = {
    { POSTHORN_MESSAGE_ANSWERED, "\\Answered" },
    { POSTHORN_MESSAGE_FLAGGED, "\\Flagged" },
    { POSTHORN_MESSAGE_DELETED, "\\Deleted" },
    { POSTHORN_MESSAGE_SEEN, "\\Seen" },
    { POSTHORN_MESSAGE_DRAFT, "\\Draft" },
    { POSTHORN_MESSAGE_RECENT, "\\Recent" },
  };
  guint32 flags = posthorn_mailbox_view_get_flags (session->view, seq);
  const char *const *names = posthorn_mailbox_view_get_keywords (session->view);
  const guint32 *kw;
  guint n_kw = 0;
  gboolean first = TRUE;

  if (session->rev2)
    flags &= ~(guint32) POSTHORN_MESSAGE_RECENT;
  g_string_append_c (out, '(');
  for (guint k = 0; k < G_N_ELEMENTS (system_flags); k++)
    if ((flags & system_flags[k].flag) != 0)
      {
        if (!first)
          g_string_append_c (out, ' ');
        g_string_append (out, system_flags[k].name);
        first = FALSE;
      }
  kw = posthorn_mailbox_view_get_message_keywords (session->view, seq, &n_kw);
  for (guint k = 0; k < n_kw; k++)
    {
      if (!first)
        g_string_append_c (out, ' ');
      g_string_append (out, names[kw[k]]);
      first = FALSE;
    }
  g_string_append_c (out, ')');
}

GArray *
imap_session_resolve_set (ImapSession *session, const ImapSeqSet *set, gboolean uid)
{
  GArray *uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint count = posthorn_mailbox_view_get_count (session->view);

  if (set->saved)
    {
      if (session->saved_uids != NULL)
        for (guint k = 0; k < session->saved_uids->len; k++)
          {
            guint32 u = g_array_index (session->saved_uids, guint32, k);
            if (posthorn_mailbox_view_lookup_uid (session->view, u) != 0)
              g_array_append_val (uids, u);
          }
      return uids;
    }
  if (uid)
    {
      guint32 max_uid = count > 0 ? posthorn_mailbox_view_get_uid (session->view, count) : 0;
      g_autoptr(ImapRangeList) list = NULL;

      /* "*" is the highest UID in use; "n:*" with n above it is just that UID */
      list = imap_seqset_resolve (set, max_uid);
      for (guint k = 0; k < list->ranges->len; k++)
        {
          ImapRange *r = &g_array_index (list->ranges, ImapRange, k);
          /* binary search for the first UID >= lo: ranges may be huge */
          guint lo = 1, hi = count + 1;
          while (lo < hi)
            {
              guint mid = lo + (hi - lo) / 2;
              if (posthorn_mailbox_view_get_uid (session->view, mid) < r->lo)
                lo = mid + 1;
              else
                hi = mid;
            }
          for (guint seq = lo; seq <= count; seq++)
            {
              guint32 u = posthorn_mailbox_view_get_uid (session->view, seq);
              if (u > r->hi)
                break;
              if (u >= r->lo)
                g_array_append_val (uids, u);
            }
        }
      return uids;
    }
  {
    g_autoptr(ImapRangeList) list = imap_seqset_resolve (set, count);
    ImapRangeIter it;
    guint32 seq;

    imap_range_iter_init (&it, list);
    while (imap_range_iter_next (&it, &seq))
      {
        guint32 u;
        if (seq > count)
          break;
        u = posthorn_mailbox_view_get_uid (session->view, seq);
        g_array_append_val (uids, u);
      }
  }
  return uids;
}

/* ---- untagged updates ---- */

typedef struct {
  ImapSession *session;
  gboolean no_expunge;
  GArray *quiet_uids;
  ImapSyncDoneFunc done;
  gpointer user_data;
} SyncJob;

static gboolean
uid_in (const GArray *uids, guint32 uid)
{
  if (uids == NULL)
    return FALSE;
  for (guint k = 0; k < uids->len; k++)
    if (g_array_index (uids, guint32, k) == uid)
      return TRUE;
  return FALSE;
}

static void
write_flags_line (ImapSession *session)
{
  g_autoptr(GString) out = g_string_new ("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
  const char *const *kw = posthorn_mailbox_view_get_keywords (session->view);

  for (guint k = 0; kw != NULL && kw[k] != NULL; k++)
    g_string_append_printf (out, " %s", kw[k]);
  g_string_append (out, ")\r\n");
  if (session->read_only)
    g_string_append (out, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
  else
    {
      g_string_append (out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
      for (guint k = 0; kw != NULL && kw[k] != NULL; k++)
        g_string_append_printf (out, " %s", kw[k]);
      g_string_append (out, " \\*)] Flags permitted.\r\n");
    }
  imap_session_write_string (session, out);
}

void
imap_session_write_flags (ImapSession *session)
{
  write_flags_line (session);
}

static void
sync_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornViewChanges) changes = NULL;

  session->sync_running = FALSE;
  if (session->view != NULL)
    changes = posthorn_mailbox_view_sync_finish (session->view, result, &error);
  if (imap_session_is_closed (session))
    goto out;
  if (session->view == NULL)
    ;
  else if (changes == NULL)
    {
      if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND))
        {
          imap_session_write_literal (session, "* BYE Selected mailbox was deleted.\r\n");
          posthorn_connection_close (session->conn);
          session->state = IMAP_STATE_LOGOUT;
        }
    }
  else if (!posthorn_view_changes_is_empty (changes))
    {
      g_autoptr(GString) out = g_string_new (NULL);
      const guint *seqs;
      const guint32 *changed;
      guint n_exp = 0, n_new, n_changed = 0;

      if (session->qresync)
        {
          const guint32 *gone = posthorn_view_changes_get_expunged_uids (changes, &n_exp);
          imap_session_append_vanished (out, gone, n_exp, FALSE);
        }
      else
        {
          seqs = posthorn_view_changes_get_expunged_seqs (changes, &n_exp);
          for (guint k = 0; k < n_exp; k++)
            g_string_append_printf (out, "* %u EXPUNGE\r\n", seqs[k]);
        }
      n_new = posthorn_view_changes_get_new_count (changes);
      if (posthorn_view_changes_get_keywords_changed (changes))
        {
          imap_session_write_string (session, out);
          g_string_truncate (out, 0);
          write_flags_line (session);
        }
      if (n_new > 0 || n_exp > 0)
        g_string_append_printf (out, "* %u EXISTS\r\n",
                                posthorn_mailbox_view_get_count (session->view));
      if (n_new > 0 && !session->rev2)
        g_string_append_printf (out, "* %u RECENT\r\n",
                                posthorn_mailbox_view_get_recent_count (session->view));
      changed = posthorn_view_changes_get_changed_uids (changes, &n_changed);
      for (guint k = 0; k < n_changed; k++)
        {
          guint seq = posthorn_mailbox_view_lookup_uid (session->view, changed[k]);
          if (seq == 0 || uid_in (job->quiet_uids, changed[k]))
            continue;
          g_string_append_printf (out, "* %u FETCH (", seq);
          /* QRESYNC: flag changes always carry the UID (RFC 7162 3.2.4),
           * so do NOTIFY's (RFC 5465 5.1) */
          if ((session->cmd != NULL && session->cmd->uid) || session->qresync
              || imap_notify_wants_uid (session))
            g_string_append_printf (out, "UID %u ", changed[k]);
          g_string_append (out, "FLAGS ");
          imap_session_append_flags (session, out, seq);
          if (session->condstore)
            g_string_append_printf (out, " MODSEQ (%" G_GUINT64_FORMAT ")",
                                    posthorn_mailbox_view_get_modseq (session->view, seq));
          g_string_append (out, ")\r\n");
        }
      imap_session_write_string (session, out);
    }
out:
  job->done (session, job->user_data);
  g_clear_pointer (&job->quiet_uids, g_array_unref);
  imap_session_unref (session);
  g_free (job);
}

void
imap_session_sync (ImapSession *session, gboolean no_expunge, const GArray *quiet_uids,
                   ImapSyncDoneFunc done, gpointer user_data)
{
  SyncJob *job = g_new0 (SyncJob, 1);

  job->session = imap_session_ref (session);
  job->no_expunge = no_expunge;
  job->done = done;
  job->user_data = user_data;
  if (quiet_uids != NULL)
    {
      job->quiet_uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), quiet_uids->len);
      g_array_append_vals (job->quiet_uids, quiet_uids->data, quiet_uids->len);
    }
  if (!no_expunge)
    session->sync_wanted = FALSE;
  session->sync_running = TRUE;
  posthorn_mailbox_view_sync_async (session->view,
                                    no_expunge ? POSTHORN_VIEW_SYNC_NO_EXPUNGE
                                               : POSTHORN_VIEW_SYNC_DEFAULT,
                                    NULL, sync_done, job);
}

/* ---- finishing commands ---- */

static void session_next (ImapSession *session);

static gboolean
command_forbids_expunge (const ImapCommand *cmd)
{
  if (cmd == NULL || cmd->uid)
    return FALSE;
  switch (cmd->type)
    {
    case IMAP_COMMAND_FETCH:
    case IMAP_COMMAND_STORE:
    case IMAP_COMMAND_SEARCH:
    case IMAP_COMMAND_SORT:
    case IMAP_COMMAND_THREAD:
      return TRUE;
    default:
      return FALSE;
    }
}

/* [imap4] max_bad_commands: after that many BAD replies in a row the
 * session is closed (a client stuck in a loop, or someone probing). */
static gboolean
imap_session_check_bad_limit (ImapSession *session)
{
  if (session->settings->max_bad_commands == 0
      || session->bad_commands < session->settings->max_bad_commands
      || session->state == IMAP_STATE_LOGOUT || imap_session_is_closed (session))
    return FALSE;
  imap_session_write_literal (session, "* BYE Too many invalid commands\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (session->conn);
  return TRUE;
}

static void
finish_tagged (ImapSession *session, gpointer user_data)
{
  char *line = user_data;

  if (imap_notify_internal_finished (session))
    {
      g_free (line);
      return;
    }
  imap_notify_flush (session);
  imap_session_write (session, line, strlen (line));
  g_free (line);
  imap_session_check_bad_limit (session);
  session_next (session);
}

void
imap_session_finish (ImapSession *session, ImapSyncMode sync, const char *status,
                     const char *code, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  char *line;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  session->bad_commands = strcmp (status, "BAD") == 0 ? session->bad_commands + 1 : 0;
  line = g_strdup_printf ("%s %s %s%s%s%s\r\n",
                          session->cmd != NULL ? session->cmd->tag : "*", status,
                          code != NULL ? "[" : "", code != NULL ? code : "",
                          code != NULL ? "] " : "", text);
  if (session->state == IMAP_STATE_SELECTED && session->view != NULL
      && !imap_session_is_closed (session)
      && (sync == IMAP_SYNC_ALWAYS || (sync == IMAP_SYNC_WANTED && session->sync_wanted)))
    {
      imap_session_sync (session, command_forbids_expunge (session->cmd), NULL,
                         finish_tagged, line);
      return;
    }
  finish_tagged (session, line);
}

static const char *
error_code (const GError *error, gboolean trycreate)
{
  if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_CANCELLED)
    return NULL;
  if (error->domain != POSTHORN_ERROR)
    return "SERVERBUG";
  switch (error->code)
    {
    case POSTHORN_ERROR_NOT_FOUND: return trycreate ? "TRYCREATE" : "NONEXISTENT";
    case POSTHORN_ERROR_EXISTS: return "ALREADYEXISTS";
    case POSTHORN_ERROR_INVALID: return "CANNOT";
    case POSTHORN_ERROR_AUTH_FAILED: return "AUTHENTICATIONFAILED";
    case POSTHORN_ERROR_TEMPORARY: return "UNAVAILABLE";
    case POSTHORN_ERROR_TOO_BIG: return "TOOBIG";
    case POSTHORN_ERROR_OVER_QUOTA: return "OVERQUOTA";
    case POSTHORN_ERROR_PERMISSION: return "CANNOT";
    case POSTHORN_ERROR_IN_USE: return "INUSE";
    case POSTHORN_ERROR_LIMIT: return "LIMIT";
    case POSTHORN_ERROR_UNSUPPORTED: return "CANNOT";
    default: return "SERVERBUG";
    }
}

void
imap_session_finish_error (ImapSession *session, const GError *error, gboolean trycreate)
{
  imap_session_finish (session, IMAP_SYNC_WANTED, "NO", error_code (error, trycreate),
                       "%s", error->message);
}

void
imap_session_enable_condstore (ImapSession *session, gboolean quiet)
{
  if (session->condstore)
    return;
  session->condstore = TRUE;
  if (!quiet && session->state == IMAP_STATE_SELECTED && session->view != NULL)
    imap_session_printf (session, "* OK [HIGHESTMODSEQ %" G_GUINT64_FORMAT "] Highest\r\n",
                         posthorn_mailbox_view_get_highestmodseq (session->view));
}

void
imap_session_append_vanished (GString *out, const guint32 *uids, guint n, gboolean earlier)
{
  g_autoptr(ImapRangeList) list = imap_range_list_new ();
  g_autofree char *set = NULL;

  if (n == 0)
    return;
  for (guint k = 0; k < n; k++)
    imap_range_list_add (list, uids[k], uids[k]);
  set = imap_range_list_to_string (list);
  g_string_append_printf (out, "* VANISHED %s%s\r\n", earlier ? "(EARLIER) " : "", set);
}

void
imap_session_unselect (ImapSession *session)
{
  if (session->event_sub != 0)
    posthorn_event_unsubscribe (session->event_sub);
  session->event_sub = 0;
  g_clear_pointer (&session->view, posthorn_mailbox_view_unref);
  g_clear_pointer (&session->selected, g_free);
  g_clear_pointer (&session->saved_uids, g_array_unref);
  session->sync_wanted = FALSE;
  if (session->state == IMAP_STATE_SELECTED)
    session->state = IMAP_STATE_AUTH;
  if (session->conn != NULL)
    posthorn_connection_set_state (session->conn, "auth");
}

/* ---- input ---- */

static void
bad (ImapSession *session, const char *text)
{
  imap_session_finish (session, IMAP_SYNC_NONE, "BAD", NULL, "%s", text);
}

static gboolean
state_allows (ImapSession *session, ImapCommandType type)
{
  switch (type)
    {
    case IMAP_COMMAND_CAPABILITY:
    case IMAP_COMMAND_NOOP:
    case IMAP_COMMAND_LOGOUT:
    case IMAP_COMMAND_ID:
      return TRUE;
    case IMAP_COMMAND_STARTTLS:
    case IMAP_COMMAND_AUTHENTICATE:
    case IMAP_COMMAND_LOGIN:
      return session->state == IMAP_STATE_NOT_AUTH;
    case IMAP_COMMAND_CHECK:
    case IMAP_COMMAND_CLOSE:
    case IMAP_COMMAND_UNSELECT:
    case IMAP_COMMAND_EXPUNGE:
    case IMAP_COMMAND_SEARCH:
    case IMAP_COMMAND_FETCH:
    case IMAP_COMMAND_STORE:
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
    case IMAP_COMMAND_SORT:
    case IMAP_COMMAND_THREAD:
      return session->state == IMAP_STATE_SELECTED;
    default:
      return session->state == IMAP_STATE_AUTH || session->state == IMAP_STATE_SELECTED;
    }
}

static void
dispatch (ImapSession *session)
{
  ImapCommand *cmd = session->cmd;

  if (!state_allows (session, cmd->type))
    {
      if (session->state == IMAP_STATE_NOT_AUTH)
        bad (session, "Command is not valid before login");
      else if (session->state == IMAP_STATE_SELECTED || cmd->type == IMAP_COMMAND_LOGIN
               || cmd->type == IMAP_COMMAND_AUTHENTICATE || cmd->type == IMAP_COMMAND_STARTTLS)
        bad (session, "Command is not valid in this state");
      else
        bad (session, "No mailbox selected");
      return;
    }
  switch (cmd->type)
    {
    case IMAP_COMMAND_CAPABILITY: imap_cmd_capability (session); break;
    case IMAP_COMMAND_NOOP: imap_cmd_noop (session); break;
    case IMAP_COMMAND_IDLE: imap_cmd_idle (session); break;
    case IMAP_COMMAND_COMPRESS: imap_cmd_compress (session); break;
    case IMAP_COMMAND_NOTIFY: imap_cmd_notify (session); break;
    case IMAP_COMMAND_LOGOUT: imap_cmd_logout (session); break;
    case IMAP_COMMAND_STARTTLS: imap_cmd_starttls (session); break;
    case IMAP_COMMAND_AUTHENTICATE: imap_cmd_authenticate (session); break;
    case IMAP_COMMAND_LOGIN: imap_cmd_login (session); break;
    case IMAP_COMMAND_ENABLE: imap_cmd_enable (session); break;
    case IMAP_COMMAND_ID: imap_cmd_id (session); break;
    case IMAP_COMMAND_NAMESPACE: imap_cmd_namespace (session); break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE: imap_cmd_select (session); break;
    case IMAP_COMMAND_CREATE: imap_cmd_create (session); break;
    case IMAP_COMMAND_DELETE: imap_cmd_delete (session); break;
    case IMAP_COMMAND_RENAME: imap_cmd_rename (session); break;
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE: imap_cmd_subscribe (session); break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB: imap_cmd_list (session); break;
    case IMAP_COMMAND_STATUS: imap_cmd_status (session); break;
    case IMAP_COMMAND_APPEND: imap_cmd_append (session); break;
    case IMAP_COMMAND_GETQUOTA: imap_cmd_getquota (session); break;
    case IMAP_COMMAND_GETQUOTAROOT: imap_cmd_getquotaroot (session); break;
    case IMAP_COMMAND_SETQUOTA: imap_cmd_setquota (session); break;
    case IMAP_COMMAND_CHECK: imap_cmd_check (session); break;
    case IMAP_COMMAND_CLOSE: imap_cmd_close (session); break;
    case IMAP_COMMAND_UNSELECT: imap_cmd_unselect (session); break;
    case IMAP_COMMAND_EXPUNGE: imap_cmd_expunge (session); break;
    case IMAP_COMMAND_SEARCH: imap_cmd_search (session); break;
    case IMAP_COMMAND_FETCH: imap_cmd_fetch (session); break;
    case IMAP_COMMAND_STORE: imap_cmd_store (session); break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE: imap_cmd_copy (session); break;
    case IMAP_COMMAND_SORT: imap_cmd_sort (session); break;
    case IMAP_COMMAND_THREAD: imap_cmd_thread (session); break;
    default: bad (session, "Command not supported by this server"); break;
    }
}

/* The running command ended: let the next one in. */
static void
session_next (ImapSession *session)
{
  if (session->cmd != NULL && session->cmd->type == IMAP_COMMAND_AUTHENTICATE
      && session->conn != NULL)
    posthorn_connection_set_line_mode (session->conn, session->settings->max_line_length,
                                       POSTHORN_LINE_DEFAULT);
  g_clear_pointer (&session->cmd, imap_command_free);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_error (&session->append_error);
  if (session->busy)
    {
      session->busy = FALSE;
      if (session->conn != NULL)
        posthorn_connection_resume_input (session->conn);
    }
  imap_notify_command_ended (session);
}

static void
start_command (ImapSession *session, ImapCommand *cmd)
{
  session->cmd = cmd;
  session->busy = TRUE;
  posthorn_connection_pause_input (session->conn);
  if (session->append_error != NULL && cmd->type == IMAP_COMMAND_APPEND)
    {
      const char *code = g_error_matches (session->append_error, POSTHORN_ERROR,
                                          POSTHORN_ERROR_TOO_BIG) ? "TOOBIG" : NULL;
      imap_session_finish (session, IMAP_SYNC_NONE, "NO", code, "%s",
                           session->append_error->message);
      return;
    }
  dispatch (session);
}

static void
reply_parse_error (ImapSession *session)
{
  const ImapParseError *err = imap_parser_get_error (session->parser);
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out, "%s %s ", err->tag != NULL ? err->tag : "*",
                          err->no ? "NO" : "BAD");
  if (err->code != NULL)
    g_string_append_printf (out, "[%s] ", err->code);
  g_string_append_printf (out, "%s\r\n", err->text);
  imap_session_write_string (session, out);
  session->bad_commands = err->no ? 0 : session->bad_commands + 1;
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_error (&session->append_error);
}

static void
imap_session_reset_parser (ImapSession *session)
{
  ImapParserLimits limits = { 0 };

  limits.max_line_length = session->settings->max_line_length;
  limits.max_literal_size = session->settings->max_literal_size;
  limits.max_append_size = session->settings->append_limit;
  imap_parser_free (&session->parser);
  session->parser = imap_parser_new (&limits, session->utf8_accept ? IMAP_PARSER_UTF8_ACCEPT : 0);
  g_clear_pointer (&session->append_messages, g_ptr_array_unref);
  g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
  g_clear_error (&session->append_error);
}

static void
start_literal (ImapSession *session)
{
  const ImapLiteralInfo *lit = imap_parser_get_literal (session->parser);

  if (lit->role == IMAP_LITERAL_APPEND_MESSAGE)
    {
      if (lit->synchronizing
          && (session->state == IMAP_STATE_NOT_AUTH || session->state == IMAP_STATE_LOGOUT))
        {
          /* refuse before "+": the client sends no data; start afresh */
          imap_session_printf (session, "%s BAD Command is not valid before login\r\n",
                               lit->tag != NULL ? lit->tag : "*");
          imap_session_reset_parser (session);
          return;
        }
      if (session->state == IMAP_STATE_NOT_AUTH || session->state == IMAP_STATE_LOGOUT)
        {
          if (session->append_error == NULL)
            g_set_error (&session->append_error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION,
                         "Not logged in");
        }
      else if (session->append_error == NULL)
        session->append_writer = posthorn_message_writer_new (NULL, 0);
    }
  if (lit->synchronizing && lit->role != IMAP_LITERAL_DISCARD)
    imap_session_write_literal (session, "+ Ready for literal data\r\n");
  posthorn_connection_read_bytes (session->conn, lit->size);
}

/* [imap4] max_preauth_commands: a connection that does not log in
 * within that many commands is closed. */
static gboolean
preauth_limit_hit (ImapSession *session, ImapParseResult result)
{
  if (session->state != IMAP_STATE_NOT_AUTH || session->settings->max_preauth_commands == 0
      || (result != IMAP_PARSE_COMMAND && result != IMAP_PARSE_ERROR))
    return FALSE;
  if (++session->preauth_commands <= session->settings->max_preauth_commands)
    return FALSE;
  imap_session_write_literal (session, "* BYE Too many commands before authentication\r\n");
  session->state = IMAP_STATE_LOGOUT;
  imap_session_reset_parser (session);
  posthorn_connection_close (session->conn);
  return TRUE;
}

static void
handle_parse_result (ImapSession *session, ImapParseResult result)
{
  if (preauth_limit_hit (session, result))
    return;
  switch (result)
    {
    case IMAP_PARSE_COMMAND:
      start_command (session, imap_parser_take_command (session->parser));
      break;
    case IMAP_PARSE_NEED_LITERAL:
      start_literal (session);
      break;
    case IMAP_PARSE_ERROR:
      reply_parse_error (session);
      if (imap_session_check_bad_limit (session))
        break;
      if (imap_parser_get_literal (session->parser) != NULL)
        posthorn_connection_read_bytes (session->conn,
                                        imap_parser_get_literal (session->parser)->size);
      break;
    case IMAP_PARSE_NOTHING:
    default:
      break;
    }
}

static void
on_line (PosthornConnection *conn, const char *line, gsize length,
         PosthornLineEnd end, gpointer user_data)
{
  ImapSession *session = user_data;

  if (session->state == IMAP_STATE_LOGOUT)
    return;
  if (session->sasl_waiting)
    {
      imap_cmd_authenticate_line (session, line);
      return;
    }
  if (session->idling)
    {
      imap_cmd_idle_line (session, line, length);
      return;
    }
  if (session->busy)
    {
      /* cannot happen while input is paused; be safe */
      return;
    }
  handle_parse_result (session, imap_parser_feed_line (session->parser, line, length));
}

static void
on_bytes (PosthornConnection *conn, const guint8 *data, gsize length,
          gboolean last, gpointer user_data)
{
  ImapSession *session = user_data;
  const ImapLiteralInfo *lit = imap_parser_get_literal (session->parser);

  if (lit == NULL)
    return;
  if (lit->role == IMAP_LITERAL_APPEND_MESSAGE)
    {
      if (session->append_writer != NULL && length > 0)
        {
          g_autoptr(GError) error = NULL;
          if (!posthorn_message_writer_write (session->append_writer, data, length, &error))
            {
              g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
              if (session->append_error == NULL)
                session->append_error = g_steal_pointer (&error);
            }
        }
      if (last)
        {
          if (session->append_writer != NULL)
            {
              g_autoptr(GError) error = NULL;
              PosthornMessage *msg = posthorn_message_writer_finish (session->append_writer, &error);

              g_clear_pointer (&session->append_writer, posthorn_message_writer_free);
              if (msg == NULL && session->append_error == NULL)
                session->append_error = g_steal_pointer (&error);
              if (msg != NULL)
                {
                  if (session->append_messages == NULL)
                    session->append_messages =
                      g_ptr_array_new_with_free_func ((GDestroyNotify) posthorn_message_unref);
                  g_ptr_array_add (session->append_messages, msg);
                }
            }
          imap_parser_literal_consumed (session->parser);
        }
      return;
    }
  if (length > 0)
    imap_parser_feed_literal (session->parser, data, length);
  else if (last && imap_parser_get_literal (session->parser) != NULL)
    imap_parser_literal_consumed (session->parser);
}

static void
on_line_too_long (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE [TOOBIG] Command line too long\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_drained (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;
  void (*func) (ImapSession *, gpointer) = session->drained;

  session->drained = NULL;
  if (func != NULL)
    func (session, session->drained_data);
}

static void
on_idle_timeout (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE Disconnected for inactivity.\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_shutdown (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  imap_session_write_literal (session, "* BYE Server shutting down.\r\n");
  session->state = IMAP_STATE_LOGOUT;
  posthorn_connection_close (conn);
}

static void
on_closed (PosthornConnection *conn, gpointer user_data)
{
  ImapSession *session = user_data;

  void (*drained) (ImapSession *, gpointer) = session->drained;

  g_cancellable_cancel (session->cancellable);
  imap_idle_forget (session);
  if (session->sasl != NULL)
    posthorn_sasl_session_free (&session->sasl);
  session->conn = NULL;
  session->drained = NULL;
  /* a writer waiting for the output to drain learns that it never will */
  if (drained != NULL)
    drained (session, session->drained_data);
}

static const PosthornConnectionHandler session_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = on_line,
  .line_too_long = on_line_too_long,
  .bytes = on_bytes,
  .drained = on_drained,
  .idle_timeout = on_idle_timeout,
  .shutdown = on_shutdown,
  .closed = on_closed,
};

ImapSession *
imap_session_new (PosthornConnection *conn, const ImapSettings *settings)
{
  ImapSession *session = g_new0 (ImapSession, 1);
  g_autofree char *caps = NULL;

  session->ref = 1;
  session->conn = conn;
  session->settings = settings;
  session->cancellable = g_cancellable_new ();
  imap_session_reset_parser (session);
  posthorn_connection_set_handler (conn, &session_handler, session,
                                   (GDestroyNotify) imap_session_unref);
  posthorn_connection_set_line_mode (conn, settings->max_line_length, POSTHORN_LINE_DEFAULT);
  posthorn_connection_set_idle_timeout (conn, settings->login_timeout);
  posthorn_connection_set_state (conn, "login");
  caps = imap_session_capabilities (session);
  imap_session_printf (session, "* OK [CAPABILITY %s] Posthorn ready.\r\n", caps);
  return session;
}
