/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command-private.h"

#include <string.h>

G_DEFINE_QUARK (imap-command-error-quark, imap_command_error)

static const struct {
  const char *name;
  ImapCommandType type;
  gboolean uid_allowed;
} commands[] = {
  { "CAPABILITY", IMAP_COMMAND_CAPABILITY, FALSE },
  { "NOOP", IMAP_COMMAND_NOOP, FALSE },
  { "LOGOUT", IMAP_COMMAND_LOGOUT, FALSE },
  { "STARTTLS", IMAP_COMMAND_STARTTLS, FALSE },
  { "AUTHENTICATE", IMAP_COMMAND_AUTHENTICATE, FALSE },
  { "LOGIN", IMAP_COMMAND_LOGIN, FALSE },
  { "ENABLE", IMAP_COMMAND_ENABLE, FALSE },
  { "ID", IMAP_COMMAND_ID, FALSE },
  { "NAMESPACE", IMAP_COMMAND_NAMESPACE, FALSE },
  { "COMPRESS", IMAP_COMMAND_COMPRESS, FALSE },
  { "SELECT", IMAP_COMMAND_SELECT, FALSE },
  { "EXAMINE", IMAP_COMMAND_EXAMINE, FALSE },
  { "CREATE", IMAP_COMMAND_CREATE, FALSE },
  { "DELETE", IMAP_COMMAND_DELETE, FALSE },
  { "RENAME", IMAP_COMMAND_RENAME, FALSE },
  { "SUBSCRIBE", IMAP_COMMAND_SUBSCRIBE, FALSE },
  { "UNSUBSCRIBE", IMAP_COMMAND_UNSUBSCRIBE, FALSE },
  { "LIST", IMAP_COMMAND_LIST, FALSE },
  { "LSUB", IMAP_COMMAND_LSUB, FALSE },
  { "STATUS", IMAP_COMMAND_STATUS, FALSE },
  { "APPEND", IMAP_COMMAND_APPEND, FALSE },
  { "IDLE", IMAP_COMMAND_IDLE, FALSE },
  { "NOTIFY", IMAP_COMMAND_NOTIFY, FALSE },
  { "GETQUOTA", IMAP_COMMAND_GETQUOTA, FALSE },
  { "GETQUOTAROOT", IMAP_COMMAND_GETQUOTAROOT, FALSE },
  { "SETQUOTA", IMAP_COMMAND_SETQUOTA, FALSE },
  { "CHECK", IMAP_COMMAND_CHECK, FALSE },
  { "CLOSE", IMAP_COMMAND_CLOSE, FALSE },
  { "UNSELECT", IMAP_COMMAND_UNSELECT, FALSE },
  { "EXPUNGE", IMAP_COMMAND_EXPUNGE, TRUE },
  { "SEARCH", IMAP_COMMAND_SEARCH, TRUE },
  { "FETCH", IMAP_COMMAND_FETCH, TRUE },
  { "STORE", IMAP_COMMAND_STORE, TRUE },
  { "COPY", IMAP_COMMAND_COPY, TRUE },
  { "MOVE", IMAP_COMMAND_MOVE, TRUE },
  { "SORT", IMAP_COMMAND_SORT, TRUE },
  { "THREAD", IMAP_COMMAND_THREAD, TRUE },
};

gboolean
imap_command_name_is_known (const char *name, gboolean uid)
{
  for (guint k = 0; k < G_N_ELEMENTS (commands); k++)
    if (g_ascii_strcasecmp (name, commands[k].name) == 0)
      return !uid || commands[k].uid_allowed;
  return FALSE;
}

gboolean
imap_command_literal_is_message (const char *name, GPtrArray *args, guint depth)
{
  const ImapArg *last;

  if (g_ascii_strcasecmp (name, "APPEND") != 0 || args->len == 0)
    return FALSE;
  if (depth == 0)
    return TRUE;
  /* UTF8 ( literal8 ): args ends with atom UTF8 then the open list */
  last = args->len >= 2 ? g_ptr_array_index (args, args->len - 2) : NULL;
  return depth == 1 && imap_arg_atom_is (last, "UTF8")
         && ((ImapArg *) g_ptr_array_index (args, args->len - 1))->list->len == 0;
}

ImapCommand *
imap_command_build (const char *tag, const char *name, gboolean uid,
                    GPtrArray *args, char **code, GError **error)
{
  g_autoptr(ImapCommand) cmd = g_new0 (ImapCommand, 1);
  gboolean ok;
  guint k;

  *code = NULL;
  for (k = 0; k < G_N_ELEMENTS (commands); k++)
    if (g_ascii_strcasecmp (name, commands[k].name) == 0)
      break;
  if (k == G_N_ELEMENTS (commands))
    {
      imap_command_bad (error, "Unknown command");
      return NULL;
    }
  if (uid && !commands[k].uid_allowed)
    {
      imap_command_bad (error, "Unknown UID command");
      return NULL;
    }
  cmd->tag = g_strdup (tag);
  cmd->name = g_strdup (commands[k].name);
  cmd->type = commands[k].type;
  cmd->uid = uid;

  switch (cmd->type)
    {
    case IMAP_COMMAND_CAPABILITY:
    case IMAP_COMMAND_NOOP:
    case IMAP_COMMAND_LOGOUT:
    case IMAP_COMMAND_STARTTLS:
    case IMAP_COMMAND_NAMESPACE:
    case IMAP_COMMAND_IDLE:
    case IMAP_COMMAND_CHECK:
    case IMAP_COMMAND_CLOSE:
    case IMAP_COMMAND_UNSELECT:
      ok = imap_command_no_more_args (args, 0, error);
      break;
    case IMAP_COMMAND_EXPUNGE:
      ok = uid ? imap_command_get_seqset (args, 0, TRUE, &cmd->u.expunge.set, error)
                   && imap_command_no_more_args (args, 1, error)
               : imap_command_no_more_args (args, 0, error);
      break;
    case IMAP_COMMAND_AUTHENTICATE:
      ok = imap_command_build_authenticate (cmd, args, error);
      break;
    case IMAP_COMMAND_LOGIN:
      ok = imap_command_build_login (cmd, args, error);
      break;
    case IMAP_COMMAND_ENABLE:
      ok = imap_command_build_enable (cmd, args, error);
      break;
    case IMAP_COMMAND_ID:
      ok = imap_command_build_id (cmd, args, error);
      break;
    case IMAP_COMMAND_COMPRESS:
      ok = imap_command_is_atom (imap_command_arg_at (args, 0))
           && imap_command_no_more_args (args, 1, error);
      if (ok)
        cmd->u.compress.mechanism = g_ascii_strup (((ImapArg *) g_ptr_array_index (args, 0))->data, -1);
      else
        imap_command_bad (error, "COMPRESS needs one mechanism");
      break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE:
      ok = imap_command_build_select (cmd, args, error);
      break;
    case IMAP_COMMAND_CREATE:
      ok = imap_command_build_create (cmd, args, error);
      break;
    case IMAP_COMMAND_DELETE:
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE:
    case IMAP_COMMAND_GETQUOTAROOT:
      ok = imap_command_build_mailbox (cmd, args, error);
      break;
    case IMAP_COMMAND_RENAME:
      ok = imap_command_build_rename (cmd, args, error);
      break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB:
      ok = imap_command_build_list (cmd, args, error);
      break;
    case IMAP_COMMAND_STATUS:
      ok = imap_command_build_status (cmd, args, error);
      break;
    case IMAP_COMMAND_APPEND:
      ok = imap_command_build_append (cmd, args, error);
      break;
    case IMAP_COMMAND_NOTIFY:
      ok = imap_command_build_notify (cmd, args, error);
      break;
    case IMAP_COMMAND_GETQUOTA:
    case IMAP_COMMAND_SETQUOTA:
      ok = imap_command_build_getquota (cmd, args, error);
      break;
    case IMAP_COMMAND_SEARCH:
      ok = imap_command_build_search (cmd, args, code, error);
      break;
    case IMAP_COMMAND_FETCH:
      ok = imap_command_build_fetch (cmd, args, error);
      break;
    case IMAP_COMMAND_STORE:
      ok = imap_command_build_store (cmd, args, error);
      break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
      ok = imap_command_build_copy (cmd, args, error);
      break;
    case IMAP_COMMAND_SORT:
      ok = imap_command_build_sort (cmd, args, code, error);
      break;
    case IMAP_COMMAND_THREAD:
      ok = imap_command_build_thread (cmd, args, code, error);
      break;
    default:
      g_assert_not_reached ();
    }
  return ok ? g_steal_pointer (&cmd) : NULL;
}

void
imap_append_message_free (ImapAppendMessage *msg)
{
  if (msg == NULL)
    return;
  g_strfreev (msg->flags);
  g_clear_pointer (&msg->data, g_bytes_unref);
  g_free (msg);
}

static void
notify_group_free (ImapNotifyGroup *g)
{
  g_strfreev (g->mailboxes);
  g_clear_pointer (&g->message_new_items, g_ptr_array_unref);
}

static void
quota_resource_free (ImapQuotaResource *r)
{
  g_free (r->name);
}

void
imap_command_free (ImapCommand *cmd)
{
  if (cmd == NULL)
    return;
  switch (cmd->type)
    {
    case IMAP_COMMAND_AUTHENTICATE:
      g_free (cmd->u.authenticate.mechanism);
      g_free (cmd->u.authenticate.initial_response);
      break;
    case IMAP_COMMAND_LOGIN:
      g_free (cmd->u.login.username);
      if (cmd->u.login.password != NULL)
        memset (cmd->u.login.password, 0, strlen (cmd->u.login.password));
      g_free (cmd->u.login.password);
      break;
    case IMAP_COMMAND_ENABLE:
      g_strfreev (cmd->u.enable.capabilities);
      break;
    case IMAP_COMMAND_ID:
      g_clear_pointer (&cmd->u.id.params, g_ptr_array_unref);
      break;
    case IMAP_COMMAND_COMPRESS:
      g_free (cmd->u.compress.mechanism);
      break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE:
      g_free (cmd->u.select.mailbox);
      imap_seqset_free (cmd->u.select.known_uids);
      imap_seqset_free (cmd->u.select.seq_match_seqs);
      imap_seqset_free (cmd->u.select.seq_match_uids);
      break;
    case IMAP_COMMAND_CREATE:
      g_free (cmd->u.create.mailbox);
      g_strfreev (cmd->u.create.special_use);
      break;
    case IMAP_COMMAND_DELETE:
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE:
    case IMAP_COMMAND_GETQUOTAROOT:
      g_free (cmd->u.mailbox.mailbox);
      break;
    case IMAP_COMMAND_RENAME:
      g_free (cmd->u.rename.mailbox);
      g_free (cmd->u.rename.new_mailbox);
      break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB:
      g_free (cmd->u.list.reference);
      g_strfreev (cmd->u.list.patterns);
      break;
    case IMAP_COMMAND_STATUS:
      g_free (cmd->u.status.mailbox);
      break;
    case IMAP_COMMAND_APPEND:
      g_free (cmd->u.append.mailbox);
      g_clear_pointer (&cmd->u.append.messages, g_ptr_array_unref);
      break;
    case IMAP_COMMAND_NOTIFY:
      if (cmd->u.notify.groups != NULL)
        for (guint i = 0; i < cmd->u.notify.groups->len; i++)
          notify_group_free (g_ptr_array_index (cmd->u.notify.groups, i));
      g_clear_pointer (&cmd->u.notify.groups, g_ptr_array_unref);
      break;
    case IMAP_COMMAND_GETQUOTA:
    case IMAP_COMMAND_SETQUOTA:
      g_free (cmd->u.quota.root);
      if (cmd->u.quota.resources != NULL)
        for (guint i = 0; i < cmd->u.quota.resources->len; i++)
          quota_resource_free (g_ptr_array_index (cmd->u.quota.resources, i));
      g_clear_pointer (&cmd->u.quota.resources, g_ptr_array_unref);
      break;
    case IMAP_COMMAND_EXPUNGE:
      imap_seqset_free (cmd->u.expunge.set);
      break;
    case IMAP_COMMAND_SEARCH:
      g_free (cmd->u.search.charset);
      imap_search_key_free (cmd->u.search.program);
      break;
    case IMAP_COMMAND_FETCH:
      imap_seqset_free (cmd->u.fetch.set);
      g_clear_pointer (&cmd->u.fetch.items, g_ptr_array_unref);
      break;
    case IMAP_COMMAND_STORE:
      imap_seqset_free (cmd->u.store.set);
      g_strfreev (cmd->u.store.flags);
      break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
      imap_seqset_free (cmd->u.copy.set);
      g_free (cmd->u.copy.mailbox);
      break;
    case IMAP_COMMAND_SORT:
      g_clear_pointer (&cmd->u.sort.criteria, g_array_unref);
      g_free (cmd->u.sort.charset);
      imap_search_key_free (cmd->u.sort.program);
      break;
    case IMAP_COMMAND_THREAD:
      g_free (cmd->u.thread.charset);
      imap_search_key_free (cmd->u.thread.program);
      break;
    default:
      break;
    }
  g_free (cmd->tag);
  g_free (cmd->name);
  g_free (cmd);
}
