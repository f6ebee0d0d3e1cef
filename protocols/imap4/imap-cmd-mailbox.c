/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mailbox tree: CREATE (CREATE-SPECIAL-USE) DELETE RENAME SUBSCRIBE
 * UNSUBSCRIBE LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN)
 * LSUB STATUS (STATUS=SIZE, APPENDLIMIT, DELETED). */
#include "imap-session.h"

#include <string.h>

static const struct {
  PosthornSpecialUse use;
  const char *name;
} special_uses[] = {
  { POSTHORN_SPECIAL_USE_SENT, "\\Sent" },
  { POSTHORN_SPECIAL_USE_DRAFTS, "\\Drafts" },
  { POSTHORN_SPECIAL_USE_TRASH, "\\Trash" },
  { POSTHORN_SPECIAL_USE_JUNK, "\\Junk" },
  { POSTHORN_SPECIAL_USE_ARCHIVE, "\\Archive" },
};

/* Strips one trailing hierarchy separator ("CREATE foo/"). */
static char *
client_name (ImapSession *session, const char *raw, gboolean strip_separator, GError **error)
{
  g_autofree char *copy = g_strdup (raw);
  gsize len = strlen (copy);

  if (strip_separator && len > 1 && copy[len - 1] == '/')
    copy[len - 1] = '\0';
  return imap_session_mailbox_from_client (session, copy, error);
}

static void
mailbox_op_done_error (ImapSession *session, const GError *error)
{
  if (g_error_matches (error, POSTHORN_ERROR, POSTHORN_ERROR_PERMISSION))
    imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
  else
    imap_session_finish_error (session, error, FALSE);
}

static void
mailbox_op_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  g_autoptr(GError) error = NULL;

  if (!imap_session_is_closed (session))
    {
      if (posthorn_store_mailbox_op_finish (result, &error))
        imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "%s completed.",
                             session->cmd->name);
      else
        mailbox_op_done_error (session, error);
    }
  imap_session_unref (session);
}

static gboolean
name_or_fail (ImapSession *session, char *name, GError *error)
{
  if (name != NULL)
    return TRUE;
  imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "CANNOT", "%s", error->message);
  return FALSE;
}

void
imap_cmd_create (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = client_name (session, session->cmd->u.create.mailbox, TRUE, &error);
  PosthornSpecialUse use = POSTHORN_SPECIAL_USE_NONE;
  char **uses = session->cmd->u.create.special_use;

  if (!name_or_fail (session, name, error))
    return;
  for (guint k = 0; uses != NULL && uses[k] != NULL; k++)
    {
      guint j;
      for (j = 0; j < G_N_ELEMENTS (special_uses); j++)
        if (g_ascii_strcasecmp (uses[k], special_uses[j].name) == 0)
          break;
      if (j == G_N_ELEMENTS (special_uses))
        {
          imap_session_finish (session, IMAP_SYNC_WANTED, "NO", "USEATTR",
                               "Unsupported special-use attribute %s", uses[k]);
          return;
        }
      use |= special_uses[j].use;
    }
  posthorn_store_create_async (session->user, name, use, session->cancellable,
                               mailbox_op_done, imap_session_ref (session));
}

void
imap_cmd_delete (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = client_name (session, session->cmd->u.mailbox.mailbox, FALSE, &error);

  if (!name_or_fail (session, name, error))
    return;
  if (session->selected != NULL && strcmp (session->selected, name) == 0)
    imap_session_unselect (session);
  posthorn_store_delete_async (session->user, name, session->cancellable,
                               mailbox_op_done, imap_session_ref (session));
}

/* RENAME of the selected mailbox (or a parent): the session follows it
 * under the new name. UIDs and UIDVALIDITY survive a rename, so the new
 * view replaces the old one and only what changed meanwhile is sent. */
typedef struct {
  ImapSession *session;
  char *name;
} ReselectJob;

static void
reselect_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReselectJob *job = user_data;
  ImapSession *session = job->session;
  g_autoptr(PosthornMailboxView) view = posthorn_mailbox_view_open_finish (result, NULL);

  if (imap_session_is_closed (session) || session->view == NULL)
    ;
  else if (view == NULL || posthorn_mailbox_view_get_uidvalidity (view)
                             != posthorn_mailbox_view_get_uidvalidity (session->view))
    {
      imap_session_unselect (session);
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", "CLOSED", "Rename completed.");
    }
  else
    {
      g_autoptr(GString) out = g_string_new (NULL);
      PosthornMailboxView *old = session->view;
      guint old_count = posthorn_mailbox_view_get_count (old);
      gboolean changed = FALSE;
      g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));

      for (guint seq = old_count; seq >= 1; seq--)
        {
          guint32 uid = posthorn_mailbox_view_get_uid (old, seq);

          if (posthorn_mailbox_view_lookup_uid (view, uid) != 0)
            continue;
          if (!session->qresync)
            g_string_append_printf (out, "* %u EXPUNGE\r\n", seq);
          g_array_prepend_val (gone, uid);
          changed = TRUE;
        }
      if (session->qresync)
        imap_session_append_vanished (out, (const guint32 *) gone->data, gone->len, FALSE);
      if (changed || posthorn_mailbox_view_get_count (view) != old_count)
        g_string_append_printf (out, "* %u EXISTS\r\n", posthorn_mailbox_view_get_count (view));
      session->view = g_steal_pointer (&view);
      posthorn_mailbox_view_unref (old);
      g_free (session->selected);
      session->selected = g_strdup (posthorn_mailbox_view_get_name (session->view));
      imap_session_subscribe_selected (session);
      imap_session_write_string (session, out);
      imap_session_finish (session, IMAP_SYNC_NONE, "OK", NULL, "Rename completed.");
    }
  imap_session_unref (session);
  g_free (job->name);
  g_free (job);
}

typedef struct {
  ImapSession *session;
  char *from;
  char *to;
} RenameJob;

static void
rename_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RenameJob *rj = user_data;
  ImapSession *session = rj->session;
  g_autoptr(GError) error = NULL;
  gsize from_len = strlen (rj->from);

  if (imap_session_is_closed (session))
    ;
  else if (!posthorn_store_mailbox_op_finish (result, &error))
    mailbox_op_done_error (session, error);
  else if (session->selected != NULL && strcmp (rj->from, "INBOX") != 0
           && strncmp (session->selected, rj->from, from_len) == 0
           && (session->selected[from_len] == '\0' || session->selected[from_len] == '/'))
    {
      ReselectJob *job = g_new0 (ReselectJob, 1);

      job->session = imap_session_ref (session);
      job->name = g_strconcat (rj->to, session->selected + from_len, NULL);
      posthorn_mailbox_view_open_async (session->user, job->name,
                                        session->read_only ? POSTHORN_VIEW_READ_ONLY
                                                           : POSTHORN_VIEW_READ_WRITE,
                                        session->cancellable, reselect_done, job);
    }
  else
    imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Rename completed.");
  imap_session_unref (session);
  g_free (rj->from);
  g_free (rj->to);
  g_free (rj);
}

void
imap_cmd_rename (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *from = client_name (session, session->cmd->u.rename.mailbox, FALSE, &error);
  g_autofree char *to = NULL;

  if (!name_or_fail (session, from, error))
    return;
  to = client_name (session, session->cmd->u.rename.new_mailbox, TRUE, &error);
  if (!name_or_fail (session, to, error))
    return;
  {
    RenameJob *rj = g_new0 (RenameJob, 1);
    rj->session = imap_session_ref (session);
    rj->from = g_strdup (from);
    rj->to = g_strdup (to);
    posthorn_store_rename_async (session->user, from, to, session->cancellable,
                                 rename_done, rj);
  }
}

void
imap_cmd_subscribe (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = client_name (session, session->cmd->u.mailbox.mailbox, FALSE, &error);

  if (!name_or_fail (session, name, error))
    return;
  posthorn_store_subscribe_async (session->user, name,
                                  session->cmd->type == IMAP_COMMAND_SUBSCRIBE,
                                  session->cancellable, mailbox_op_done,
                                  imap_session_ref (session));
}

/* ---- LIST / LSUB ---- */

/* Matches @name against @pattern: '*' anything, '%' anything but '/'. */
static gboolean
pattern_match (const char *pattern, const char *name)
{
  while (*pattern != '\0')
    {
      if (*pattern == '*' || *pattern == '%')
        {
          gboolean star = *pattern == '*';
          pattern++;
          for (const char *p = name;; p++)
            {
              if (pattern_match (pattern, p))
                return TRUE;
              if (*p == '\0' || (!star && *p == '/'))
                return FALSE;
            }
        }
      if (*pattern != *name)
        return FALSE;
      pattern++;
      name++;
    }
  return *name == '\0';
}

/* INBOX is case-insensitive: a pattern starting with it (any case) is
 * written as "INBOX". */
static char *
canonical_pattern (const char *pattern)
{
  if (g_ascii_strncasecmp (pattern, "INBOX", 5) == 0 && (pattern[5] == '\0' || pattern[5] == '/'))
    return g_strconcat ("INBOX", pattern + 5, NULL);
  return g_strdup (pattern);
}

typedef struct {
  ImapSession *session;
  GPtrArray *status_names;   /* LIST-STATUS: names to send STATUS for */
  guint status_index;
} ListJob;

static void list_status_next (ListJob *job);

static void append_status_items (ImapSession *session, GString *out, ImapStatusItems items,
                                 const PosthornMailboxStatus *st, guint32 deleted);

static void
list_status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ListJob *job = user_data;
  ImapSession *session = job->session;
  PosthornMailboxStatus st = { 0 };

  if (imap_session_is_closed (session))
    {
      g_ptr_array_unref (job->status_names);
      imap_session_unref (session);
      g_free (job);
      return;
    }
  if (posthorn_store_status_finish (result, &st, NULL))
    {
      g_autoptr(GString) out = g_string_new ("* STATUS ");
      imap_session_append_mailbox (session, out,
                                   g_ptr_array_index (job->status_names, job->status_index));
      g_string_append (out, " (");
      append_status_items (session, out, session->cmd->u.list.status, &st, 0);
      g_string_append (out, ")\r\n");
      imap_session_write_string (session, out);
    }
  job->status_index++;
  list_status_next (job);
}

static void
list_status_next (ListJob *job)
{
  ImapSession *session = job->session;

  if (job->status_names == NULL || job->status_index >= job->status_names->len)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "%s completed.",
                           session->cmd->name);
      g_clear_pointer (&job->status_names, g_ptr_array_unref);
      imap_session_unref (session);
      g_free (job);
      return;
    }
  posthorn_store_status_async (session->user, g_ptr_array_index (job->status_names,
                                                                 job->status_index),
                               session->cancellable, list_status_done, job);
}

static void
append_list_line (ImapSession *session, GString *out, const char *attrs, const char *name,
                  const char *childinfo)
{
  g_string_append_printf (out, "* %s (%s) \"/\" ",
                          session->cmd->type == IMAP_COMMAND_LSUB ? "LSUB" : "LIST", attrs);
  imap_session_append_mailbox (session, out, name);
  if (childinfo != NULL)
    g_string_append_printf (out, " (\"CHILDINFO\" (\"%s\"))", childinfo);
  g_string_append (out, "\r\n");
}

static gboolean
any_pattern_match (char **patterns, const char *name)
{
  for (guint k = 0; patterns[k] != NULL; k++)
    if (pattern_match (patterns[k], name))
      return TRUE;
  return FALSE;
}

/* TRUE if a subscribed name lies below @name. */
static gboolean
has_subscribed_child (const PosthornMailboxList *list, const char *name)
{
  gsize len = strlen (name);

  for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
    {
      const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);
      if (e->subscribed && strncmp (e->name, name, len) == 0 && e->name[len] == '/')
        return TRUE;
    }
  return FALSE;
}

void
imap_list_append_attributes (GString *attrs, const PosthornMailboxEntry *e, gboolean extended,
                             gboolean lsub, gboolean subscribed)
{
#define ATTR(a) g_string_append_printf (attrs, "%s%s", attrs->len > 0 ? " " : "", a)
  if (!e->exists)
    ATTR (extended && !lsub ? "\\NonExistent" : "\\Noselect");
  if (!lsub)
    ATTR (e->has_children ? "\\HasChildren" : "\\HasNoChildren");
  if (!lsub && subscribed && e->subscribed)
    ATTR ("\\Subscribed");
  if (!lsub)
    for (guint j = 0; j < G_N_ELEMENTS (special_uses); j++)
      if ((e->special_use & special_uses[j].use) != 0)
        ATTR (special_uses[j].name);
#undef ATTR
}

static void
list_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImapSession *session = user_data;
  ImapCommand *cmd = session->cmd;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxList) list = posthorn_store_list_finish (result, &error);
  g_autoptr(GString) out = g_string_new (NULL);
  g_auto(GStrv) patterns = NULL;
  gboolean lsub = cmd->type == IMAP_COMMAND_LSUB;
  gboolean sel_subscribed = lsub || (cmd->u.list.select & IMAP_LIST_SELECT_SUBSCRIBED) != 0;
  gboolean sel_special = (cmd->u.list.select & IMAP_LIST_SELECT_SPECIAL_USE) != 0;
  gboolean recursive = (cmd->u.list.select & IMAP_LIST_SELECT_RECURSIVEMATCH) != 0;
  gboolean ret_subscribed = (cmd->u.list.ret & IMAP_LIST_RETURN_SUBSCRIBED) != 0 || (!lsub && sel_subscribed);
  gboolean extended = cmd->u.list.extended || session->rev2;
  GPtrArray *pats = g_ptr_array_new ();
  g_autoptr(GHashTable) listed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ListJob *job;

  if (imap_session_is_closed (session))
    {
      g_ptr_array_unref (pats);
      imap_session_unref (session);
      return;
    }
  if (list == NULL)
    {
      g_ptr_array_unref (pats);
      imap_session_finish_error (session, error, FALSE);
      imap_session_unref (session);
      return;
    }

  for (guint k = 0; cmd->u.list.patterns[k] != NULL; k++)
    {
      const char *ref = cmd->u.list.reference != NULL ? cmd->u.list.reference : "";
      g_autofree char *joined = g_strconcat (ref, cmd->u.list.patterns[k], NULL);
      g_autofree char *utf8 = session->utf8_accept ? g_strdup (joined)
                                                   : imap_utf7_decode (joined, NULL);
      if (utf8 == NULL)
        continue;
      g_ptr_array_add (pats, canonical_pattern (utf8));
    }
  g_ptr_array_add (pats, NULL);
  patterns = (GStrv) g_ptr_array_free (pats, FALSE);

  /* LIST "" "": the hierarchy delimiter */
  if (!lsub && g_strv_length (cmd->u.list.patterns) == 1 && cmd->u.list.patterns[0][0] == '\0')
    {
      imap_session_write_literal (session, "* LIST (\\Noselect) \"/\" \"\"\r\n");
      imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "List completed.");
      imap_session_unref (session);
      return;
    }

  job = g_new0 (ListJob, 1);
  job->session = session;
  if (!lsub && (cmd->u.list.ret & IMAP_LIST_RETURN_STATUS) != 0)
    job->status_names = g_ptr_array_new_with_free_func (g_free);

  for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
    {
      const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);
      g_autoptr(GString) attrs = g_string_new (NULL);
      const char *childinfo = NULL;
      gboolean match = any_pattern_match (patterns, e->name);

      if (sel_subscribed)
        {
          if (!e->subscribed)
            {
              if (!recursive || !match || !has_subscribed_child (list, e->name))
                continue;
              childinfo = "SUBSCRIBED";
            }
        }
      else if (!e->exists && !e->has_children)
        continue;
      if (sel_special && e->special_use == POSTHORN_SPECIAL_USE_NONE)
        continue;
      if (!match)
        continue;
      imap_list_append_attributes (attrs, e, extended, lsub, ret_subscribed);
      g_hash_table_add (listed, g_strdup (e->name));
      append_list_line (session, out, attrs->str, e->name, childinfo);
      if (job->status_names != NULL && e->exists)
        g_ptr_array_add (job->status_names, g_strdup (e->name));
    }

  /* LIST (SUBSCRIBED RECURSIVEMATCH): parents the store does not know */
  if (!lsub && sel_subscribed && recursive)
    for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
      {
        const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);
        g_autofree char *parent = NULL;
        char *slash;

        if (!e->subscribed)
          continue;
        parent = g_strdup (e->name);
        while ((slash = strrchr (parent, '/')) != NULL)
          {
            *slash = '\0';
            if (posthorn_mailbox_list_lookup (list, parent) != NULL
                || g_hash_table_contains (listed, parent) || !any_pattern_match (patterns, parent))
              continue;
            append_list_line (session, out, "\\NonExistent", parent, "SUBSCRIBED");
            g_hash_table_add (listed, g_strdup (parent));
          }
      }

  /* LSUB with '%': parents of subscribed names that the '%' stopped at */
  if (lsub)
    for (guint k = 0; k < posthorn_mailbox_list_get_count (list); k++)
      {
        const PosthornMailboxEntry *e = posthorn_mailbox_list_get (list, k);
        g_autofree char *parent = NULL;
        char *slash;

        if (!e->subscribed || any_pattern_match (patterns, e->name))
          continue;
        parent = g_strdup (e->name);
        while ((slash = strrchr (parent, '/')) != NULL)
          {
            *slash = '\0';
            if (g_hash_table_contains (listed, parent))
              break;
            if (any_pattern_match (patterns, parent))
              {
                const PosthornMailboxEntry *pe = posthorn_mailbox_list_lookup (list, parent);
                if (pe == NULL || !pe->subscribed)
                  {
                    append_list_line (session, out, "\\Noselect", parent, NULL);
                    g_hash_table_add (listed, g_strdup (e->name));
                  }
                break;
              }
          }
      }

  imap_session_write_string (session, out);
  list_status_next (job);
}

void
imap_cmd_list (ImapSession *session)
{
  posthorn_store_list_async (session->user, session->cancellable, list_done,
                             imap_session_ref (session));
}

/* ---- STATUS ---- */

static void
append_status_items (ImapSession *session, GString *out, ImapStatusItems items,
                     const PosthornMailboxStatus *st, guint32 deleted)
{
  gsize start = out->len;

#define ITEM(fmt, ...) g_string_append_printf (out, "%s" fmt, out->len > start ? " " : "", __VA_ARGS__)
  if (items & IMAP_STATUS_MESSAGES)
    ITEM ("MESSAGES %u", st->messages);
  if (items & IMAP_STATUS_RECENT)
    ITEM ("RECENT %u", st->recent);
  if (items & IMAP_STATUS_UIDNEXT)
    ITEM ("UIDNEXT %u", st->uidnext);
  if (items & IMAP_STATUS_UIDVALIDITY)
    ITEM ("UIDVALIDITY %u", st->uidvalidity);
  if (items & IMAP_STATUS_UNSEEN)
    ITEM ("UNSEEN %u", st->unseen);
  if (items & IMAP_STATUS_SIZE)
    ITEM ("SIZE %" G_GUINT64_FORMAT, st->size);
  if (items & IMAP_STATUS_APPENDLIMIT)
    {
      if (session->settings->append_limit > 0)
        ITEM ("APPENDLIMIT %" G_GUINT64_FORMAT, session->settings->append_limit);
      else
        ITEM ("APPENDLIMIT %s", "NIL");
    }
  if (items & IMAP_STATUS_DELETED)
    ITEM ("DELETED %u", deleted);
  if (items & IMAP_STATUS_HIGHESTMODSEQ)
    ITEM ("HIGHESTMODSEQ %" G_GUINT64_FORMAT, st->highestmodseq);
#undef ITEM
}

typedef struct {
  ImapSession *session;
  char *name;
  PosthornMailboxStatus st;
} StatusJob;

static void
status_job_free (StatusJob *job)
{
  imap_session_unref (job->session);
  g_free (job->name);
  g_free (job);
}

static void
status_reply (StatusJob *job, guint32 deleted)
{
  ImapSession *session = job->session;
  g_autoptr(GString) out = g_string_new ("* STATUS ");

  imap_session_append_mailbox (session, out, job->name);
  g_string_append (out, " (");
  append_status_items (session, out, session->cmd->u.status.items, &job->st, deleted);
  g_string_append (out, ")\r\n");
  imap_session_write_string (session, out);
  imap_session_finish (session, IMAP_SYNC_WANTED, "OK", NULL, "Status completed.");
}

static void
status_view_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StatusJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) view = posthorn_mailbox_view_open_finish (result, &error);

  if (!imap_session_is_closed (job->session))
    {
      if (view == NULL)
        imap_session_finish_error (job->session, error, FALSE);
      else
        {
          guint32 deleted = 0;
          for (guint seq = 1; seq <= posthorn_mailbox_view_get_count (view); seq++)
            if (posthorn_mailbox_view_get_flags (view, seq) & POSTHORN_MESSAGE_DELETED)
              deleted++;
          status_reply (job, deleted);
        }
    }
  status_job_free (job);
}

static void
status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StatusJob *job = user_data;
  g_autoptr(GError) error = NULL;

  if (imap_session_is_closed (job->session))
    {
      status_job_free (job);
      return;
    }
  if (!posthorn_store_status_finish (result, &job->st, &error))
    {
      imap_session_finish_error (job->session, error, FALSE);
      status_job_free (job);
      return;
    }
  if (job->session->cmd->u.status.items & IMAP_STATUS_DELETED)
    {
      posthorn_mailbox_view_open_async (job->session->user, job->name, POSTHORN_VIEW_READ_ONLY,
                                        job->session->cancellable, status_view_opened, job);
      return;
    }
  status_reply (job, 0);
  status_job_free (job);
}

void
imap_cmd_status (ImapSession *session)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = client_name (session, session->cmd->u.status.mailbox, FALSE, &error);
  StatusJob *job;

  if (!name_or_fail (session, name, error))
    return;
  if (session->cmd->u.status.items & IMAP_STATUS_DELETED_STORAGE)
    {
      imap_session_finish (session, IMAP_SYNC_WANTED, "BAD", NULL,
                           "STATUS DELETED-STORAGE is not supported");
      return;
    }
  if (session->cmd->u.status.items & IMAP_STATUS_HIGHESTMODSEQ)
    imap_session_enable_condstore (session, FALSE);   /* RFC 7162 3.1 */
  job = g_new0 (StatusJob, 1);
  job->session = imap_session_ref (session);
  job->name = g_steal_pointer (&name);
  posthorn_store_status_async (session->user, job->name, session->cancellable,
                               status_done, job);
}
