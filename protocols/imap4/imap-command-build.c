/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command-private.h"

#include <string.h>

#define MAX_ID_PAIRS 30

gboolean
imap_command_build_authenticate (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *mech = imap_command_arg_at (args, 0), *ir = imap_command_arg_at (args, 1);

  if (!imap_command_is_atom (mech))
    return imap_command_bad (error, "Missing SASL mechanism");
  cmd->u.authenticate.mechanism = g_ascii_strup (mech->data, -1);
  if (ir != NULL)
    {
      if (ir->type != IMAP_ARG_ATOM)
        return imap_command_bad (error, "Invalid SASL initial response");
      if (strcmp (ir->data, "=") != 0)
        for (const char *p = ir->data; *p != '\0'; p++)
          if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
            return imap_command_bad (error, "Invalid base64 in SASL initial response");
      cmd->u.authenticate.initial_response = g_strdup (strcmp (ir->data, "=") == 0 ? "" : ir->data);
    }
  return imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_login (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const char *user = imap_arg_get_astring (imap_command_arg_at (args, 0));
  const char *pass = imap_arg_get_astring (imap_command_arg_at (args, 1));

  if (user == NULL || pass == NULL)
    return imap_command_bad (error, "LOGIN needs a user name and a password");
  cmd->u.login.username = g_strdup (user);
  cmd->u.login.password = g_strdup (pass);
  return imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_enable (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

  if (args->len == 0)
    return imap_command_bad (error, "ENABLE needs at least one capability");
  for (guint i = 0; i < args->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (args, i);
      g_autofree char *up = NULL;

      if (!imap_command_is_atom (a))
        return imap_command_bad (error, "Invalid capability name");
      up = g_ascii_strup (a->data, -1);
      g_strv_builder_add (b, up);
    }
  cmd->u.enable.capabilities = g_strv_builder_end (b);
  return TRUE;
}

gboolean
imap_command_build_id (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *a = imap_command_arg_at (args, 0);

  if (imap_arg_atom_is (a, "NIL"))
    return imap_command_no_more_args (args, 1, error);
  if (a == NULL || a->type != IMAP_ARG_LIST)
    return imap_command_bad (error, "ID needs NIL or a parameter list");
  if (a->list->len % 2 != 0 || a->list->len / 2 > MAX_ID_PAIRS)
    return imap_command_bad (error, "Invalid ID parameter list");
  cmd->u.id.params = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < a->list->len; i += 2)
    {
      const ImapArg *k = g_ptr_array_index (a->list, i), *v = g_ptr_array_index (a->list, i + 1);
      const char *value = imap_arg_get_string (v);

      if (imap_arg_get_string (k) == NULL || (value == NULL && !imap_arg_atom_is (v, "NIL")))
        return imap_command_bad (error, "Invalid ID parameter");
      g_ptr_array_add (cmd->u.id.params, g_strdup (k->data));
      g_ptr_array_add (cmd->u.id.params, g_strdup (value));
    }
  return imap_command_no_more_args (args, 1, error);
}

static gboolean
get_qresync (ImapCommand *cmd, const ImapArg *list, GError **error)
{
  GPtrArray *l;
  guint64 v;
  g_autoptr(GError) local = NULL;

  if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len < 2 || list->list->len > 4)
    return imap_command_bad (error, "Invalid QRESYNC parameters");
  l = list->list;
  if (!imap_arg_get_number (g_ptr_array_index (l, 0), G_MAXUINT32, &v) || v == 0)
    return imap_command_bad (error, "Invalid QRESYNC UIDVALIDITY");
  cmd->u.select.uidvalidity = (guint32) v;
  if (!imap_arg_get_number (g_ptr_array_index (l, 1), G_MAXINT64, &cmd->u.select.modseq)
      || cmd->u.select.modseq == 0)
    return imap_command_bad (error, "Invalid QRESYNC mod-sequence");
  for (guint i = 2; i < l->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (l, i);

      if (a->type == IMAP_ARG_ATOM && i == 2)
        {
          cmd->u.select.known_uids = imap_seqset_parse (a->data, (gssize) a->length, FALSE, &local);
          if (cmd->u.select.known_uids == NULL || imap_seqset_has_star (cmd->u.select.known_uids))
            return imap_command_bad (error, "Invalid QRESYNC known UIDs");
        }
      else if (a->type == IMAP_ARG_LIST && i == l->len - 1 && a->list->len == 2)
        {
          const ImapArg *s = g_ptr_array_index (a->list, 0), *u = g_ptr_array_index (a->list, 1);

          if (s->type != IMAP_ARG_ATOM || u->type != IMAP_ARG_ATOM
              || (cmd->u.select.seq_match_seqs =
                    imap_seqset_parse (s->data, -1, FALSE, NULL)) == NULL
              || (cmd->u.select.seq_match_uids =
                    imap_seqset_parse (u->data, -1, FALSE, NULL)) == NULL)
            return imap_command_bad (error, "Invalid QRESYNC sequence match data");
        }
      else
        return imap_command_bad (error, "Invalid QRESYNC parameters");
    }
  return TRUE;
}

gboolean
imap_command_build_select (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *params = imap_command_arg_at (args, 1);

  if (!imap_command_get_mailbox (args, 0, &cmd->u.select.mailbox, error))
    return FALSE;
  if (params != NULL)
    {
      if (params->type != IMAP_ARG_LIST || params->list->len == 0)
        return imap_command_bad (error, "Invalid select parameters");
      for (guint i = 0; i < params->list->len; i++)
        {
          const ImapArg *p = g_ptr_array_index (params->list, i);

          if (imap_arg_atom_is (p, "CONDSTORE"))
            cmd->u.select.condstore = TRUE;
          else if (imap_arg_atom_is (p, "QRESYNC") && !cmd->u.select.qresync)
            {
              cmd->u.select.qresync = TRUE;
              if (!get_qresync (cmd, imap_command_arg_at (params->list, ++i), error))
                return FALSE;
            }
          else
            return imap_command_bad (error, "Unknown select parameter");
        }
    }
  return imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_create (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *params = imap_command_arg_at (args, 1);

  if (!imap_command_get_mailbox (args, 0, &cmd->u.create.mailbox, error))
    return FALSE;
  if (params != NULL)
    {
      const ImapArg *use;

      if (params->type != IMAP_ARG_LIST || params->list->len != 2
          || !imap_arg_atom_is (g_ptr_array_index (params->list, 0), "USE"))
        return imap_command_bad (error, "Invalid CREATE parameters");
      use = g_ptr_array_index (params->list, 1);
      if (use->type != IMAP_ARG_LIST
          || !imap_command_get_flag_list (use, &cmd->u.create.special_use, error))
        return imap_command_bad (error, "Invalid special-use list");
      for (char **f = cmd->u.create.special_use; *f != NULL; f++)
        if ((*f)[0] != '\\')
          return imap_command_bad (error, "Invalid special-use attribute");
    }
  return imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_mailbox (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return imap_command_get_mailbox (args, 0, &cmd->u.mailbox.mailbox, error)
         && imap_command_no_more_args (args, 1, error);
}

gboolean
imap_command_build_rename (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return imap_command_get_mailbox (args, 0, &cmd->u.rename.mailbox, error)
         && imap_command_get_mailbox (args, 1, &cmd->u.rename.new_mailbox, error)
         && imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_list (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 0;
  const ImapArg *a = imap_command_arg_at (args, 0);
  g_autoptr(GStrvBuilder) patterns = g_strv_builder_new ();
  const char *ref;
  gboolean lsub = cmd->type == IMAP_COMMAND_LSUB;

  if (!lsub && a != NULL && a->type == IMAP_ARG_LIST)
    {
      static const char *const opts[] = { "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE" };

      cmd->u.list.extended = TRUE;
      for (guint k = 0; k < a->list->len; k++)
        {
          guint o;
          if (!imap_command_lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (a->list, k), &o))
            return imap_command_bad (error, "Unknown LIST selection option");
          cmd->u.list.select |= 1u << o;
        }
      if (cmd->u.list.select == IMAP_LIST_SELECT_RECURSIVEMATCH
          || cmd->u.list.select == (IMAP_LIST_SELECT_RECURSIVEMATCH | IMAP_LIST_SELECT_REMOTE))
        return imap_command_bad (error, "RECURSIVEMATCH needs another selection option");
      i++;
    }
  ref = imap_arg_get_astring (imap_command_arg_at (args, i));
  if (ref == NULL && imap_arg_is_string (imap_command_arg_at (args, i)))
    ref = "";
  if (ref == NULL)
    return imap_command_bad (error, "Invalid or missing LIST reference");
  cmd->u.list.reference = g_strdup (ref);
  a = imap_command_arg_at (args, ++i);
  if (!lsub && a != NULL && a->type == IMAP_ARG_LIST)
    {
      cmd->u.list.extended = TRUE;
      if (a->list->len == 0)
        return imap_command_bad (error, "Empty LIST pattern list");
      for (guint k = 0; k < a->list->len; k++)
        {
          const ImapArg *p = g_ptr_array_index (a->list, k);
          const char *pat = imap_arg_get_list_mailbox (p);
          if (pat == NULL && !imap_arg_is_string (p))
            return imap_command_bad (error, "Invalid LIST pattern");
          g_strv_builder_add (patterns, pat != NULL ? pat : "");
        }
    }
  else
    {
      const char *pat = imap_arg_get_list_mailbox (a);
      if (pat == NULL && !imap_arg_is_string (a))
        return imap_command_bad (error, "Invalid or missing LIST pattern");
      g_strv_builder_add (patterns, pat != NULL ? pat : "");
    }
  cmd->u.list.patterns = g_strv_builder_end (patterns);
  a = imap_command_arg_at (args, ++i);
  if (!lsub && imap_arg_atom_is (a, "RETURN"))
    {
      const ImapArg *ret = imap_command_arg_at (args, ++i);

      cmd->u.list.extended = TRUE;
      if (ret == NULL || ret->type != IMAP_ARG_LIST)
        return imap_command_bad (error, "LIST RETURN needs a list");
      for (guint k = 0; k < ret->list->len; k++)
        {
          static const char *const opts[] = { "SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS" };
          guint o;

          if (!imap_command_lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (ret->list, k),
                                    &o))
            return imap_command_bad (error, "Unknown LIST return option");
          cmd->u.list.ret |= 1u << o;
          if (o == 3
              && !imap_command_get_status_items (imap_command_arg_at (ret->list, ++k),
                                                 &cmd->u.list.status, error))
            return FALSE;
        }
      i++;
    }
  return imap_command_no_more_args (args, i, error);
}

gboolean
imap_command_build_status (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return imap_command_get_mailbox (args, 0, &cmd->u.status.mailbox, error)
         && imap_command_get_status_items (imap_command_arg_at (args, 1), &cmd->u.status.items,
                                           error)
         && imap_command_no_more_args (args, 2, error);
}

static void
take_message_literal (ImapAppendMessage *msg, ImapArg *lit)
{
  msg->size = lit->literal_size;
  msg->binary = lit->literal8;
  if (lit->type == IMAP_ARG_EXTERNAL)
    msg->external = TRUE;
  else
    {
      msg->data = g_bytes_new_take (lit->data, lit->length);
      lit->data = NULL;
    }
}

static gboolean
is_message_literal (const ImapArg *a)
{
  return a != NULL && (a->type == IMAP_ARG_LITERAL || a->type == IMAP_ARG_EXTERNAL);
}

gboolean
imap_command_build_append (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;

  if (!imap_command_get_mailbox (args, 0, &cmd->u.append.mailbox, error))
    return FALSE;
  cmd->u.append.messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) imap_append_message_free);
  do
    {
      ImapAppendMessage *msg = g_new0 (ImapAppendMessage, 1);
      ImapArg *a = (ImapArg *) imap_command_arg_at (args, i);

      g_ptr_array_add (cmd->u.append.messages, msg);
      if (a != NULL && a->type == IMAP_ARG_LIST)
        {
          if (!imap_command_get_flag_list (a, &msg->flags, error))
            return FALSE;
          a = (ImapArg *) imap_command_arg_at (args, ++i);
        }
      if (a != NULL && a->type == IMAP_ARG_QUOTED)
        {
          if (!imap_datetime_parse (a->data, &msg->date, &msg->date_tz_offset))
            return imap_command_bad (error, "Invalid APPEND date-time");
          msg->has_date = TRUE;
          a = (ImapArg *) imap_command_arg_at (args, ++i);
        }
      if (imap_arg_atom_is (a, "UTF8"))
        {
          ImapArg *l = (ImapArg *) imap_command_arg_at (args, ++i);
          if (l == NULL || l->type != IMAP_ARG_LIST || l->list->len != 1
              || !is_message_literal (g_ptr_array_index (l->list, 0)))
            return imap_command_bad (error, "APPEND UTF8 needs (literal8)");
          msg->utf8 = TRUE;
          take_message_literal (msg, g_ptr_array_index (l->list, 0));
        }
      else if (is_message_literal (a))
        take_message_literal (msg, a);
      else
        return imap_command_bad (error, "APPEND needs a message literal");
      i++;
    }
  while (i < args->len);
  return TRUE;
}

gboolean
imap_command_build_notify (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;

  if (imap_arg_atom_is (imap_command_arg_at (args, 0), "NONE"))
    {
      cmd->u.notify.none = TRUE;
      return imap_command_no_more_args (args, 1, error);
    }
  if (!imap_arg_atom_is (imap_command_arg_at (args, 0), "SET"))
    return imap_command_bad (error, "NOTIFY needs SET or NONE");
  if (imap_arg_atom_is (imap_command_arg_at (args, 1), "STATUS"))
    {
      cmd->u.notify.status = TRUE;
      i++;
    }
  if (i >= args->len)
    return imap_command_bad (error, "NOTIFY SET needs an event group");
  cmd->u.notify.groups = g_ptr_array_new_with_free_func (g_free);
  for (; i < args->len; i++)
    {
      const ImapArg *g = g_ptr_array_index (args, i), *f, *ev;
      ImapNotifyGroup *group = g_new0 (ImapNotifyGroup, 1);
      guint filter, k = 1;

      g_ptr_array_add (cmd->u.notify.groups, group);
      if (g->type != IMAP_ARG_LIST || g->list->len < 2)
        return imap_command_bad (error, "Invalid NOTIFY event group");
      f = g_ptr_array_index (g->list, 0);
      if (!imap_command_lookup (imap_command_notify_filters,
                                G_N_ELEMENTS (imap_command_notify_filters), f, &filter))
        return imap_command_bad (error, "Unknown NOTIFY filter");
      group->filter = filter;
      if (filter == IMAP_NOTIFY_SUBTREE || filter == IMAP_NOTIFY_MAILBOXES)
        {
          const ImapArg *m = g_ptr_array_index (g->list, k++);
          g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

          if (m->type == IMAP_ARG_LIST)
            {
              if (m->list->len == 0)
                return imap_command_bad (error, "Empty NOTIFY mailbox list");
              for (guint n = 0; n < m->list->len; n++)
                {
                  const char *name = imap_arg_get_astring (g_ptr_array_index (m->list, n));
                  if (name == NULL)
                    return imap_command_bad (error, "Invalid NOTIFY mailbox");
                  g_autofree char *mb = imap_command_mailbox_dup (name);
                  g_strv_builder_add (b, mb);
                }
            }
          else if (imap_arg_get_astring (m) != NULL)
            {
              g_autofree char *mb = imap_command_mailbox_dup (m->data);
              g_strv_builder_add (b, mb);
            }
          else
            return imap_command_bad (error, "Invalid NOTIFY mailbox");
          group->mailboxes = g_strv_builder_end (b);
        }
      if (k + 1 != g->list->len)
        return imap_command_bad (error, "Invalid NOTIFY event group");
      ev = g_ptr_array_index (g->list, k);
      if (imap_arg_atom_is (ev, "NONE"))
        continue;
      if (ev->type != IMAP_ARG_LIST || ev->list->len == 0)
        return imap_command_bad (error, "Invalid NOTIFY events");
      for (guint n = 0; n < ev->list->len; n++)
        {
          guint e;

          if (!imap_command_lookup (imap_command_notify_events,
                                    G_N_ELEMENTS (imap_command_notify_events),
                                    g_ptr_array_index (ev->list, n), &e))
            return imap_command_bad (error, "Unknown NOTIFY event");
          group->events |= 1u << e;
          if (e == 0 && n + 1 < ev->list->len
              && ((ImapArg *) g_ptr_array_index (ev->list, n + 1))->type == IMAP_ARG_LIST)
            {
              if (filter != IMAP_NOTIFY_SELECTED && filter != IMAP_NOTIFY_SELECTED_DELAYED)
                return imap_command_bad (error, "MessageNew fetch attributes only for SELECTED");
              if (!imap_command_get_fetch_items (g_ptr_array_index (ev->list, ++n), FALSE,
                                    &group->message_new_items, error))
                return FALSE;
            }
        }
      if (((group->events & IMAP_NOTIFY_MESSAGE_NEW) != 0)
          != ((group->events & IMAP_NOTIFY_MESSAGE_EXPUNGE) != 0))
        return imap_command_bad (error, "MessageNew and MessageExpunge go together");
      if ((group->events & (IMAP_NOTIFY_FLAG_CHANGE | IMAP_NOTIFY_ANNOTATION_CHANGE)) != 0
          && (group->events & IMAP_NOTIFY_MESSAGE_NEW) == 0)
        return imap_command_bad (error, "FlagChange needs MessageNew and MessageExpunge");
    }
  return TRUE;
}

gboolean
imap_command_build_getquota (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *a = imap_command_arg_at (args, 0);
  const char *root = imap_arg_get_astring (a);

  if (root == NULL && !imap_arg_is_string (a))
    return imap_command_bad (error, "Missing quota root");
  cmd->u.quota.root = g_strdup (root != NULL ? root : "");
  if (cmd->type == IMAP_COMMAND_GETQUOTA)
    return imap_command_no_more_args (args, 1, error);
  a = imap_command_arg_at (args, 1);
  if (a == NULL || a->type != IMAP_ARG_LIST || a->list->len % 2 != 0)
    return imap_command_bad (error, "SETQUOTA needs a resource list");
  cmd->u.quota.resources = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < a->list->len; i += 2)
    {
      const ImapArg *name = g_ptr_array_index (a->list, i);
      ImapQuotaResource *r;
      guint64 limit;

      if (!imap_command_is_atom (name)
          || !imap_arg_get_number (g_ptr_array_index (a->list, i + 1), G_MAXINT64, &limit))
        return imap_command_bad (error, "Invalid SETQUOTA resource");
      r = g_new0 (ImapQuotaResource, 1);
      r->name = g_ascii_strup (name->data, -1);
      r->limit = limit;
      g_ptr_array_add (cmd->u.quota.resources, r);
    }
  return imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_search (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  guint i = 0;

  if (imap_arg_atom_is (imap_command_arg_at (args, 0), "RETURN"))
    {
      const ImapArg *ret = imap_command_arg_at (args, 1);
      static const char *const opts[] = { "MIN", "MAX", "ALL", "COUNT", "SAVE" };

      if (ret == NULL || ret->type != IMAP_ARG_LIST)
        return imap_command_bad (error, "SEARCH RETURN needs a list");
      cmd->u.search.esearch = TRUE;
      for (guint k = 0; k < ret->list->len; k++)
        {
          guint o;
          if (!imap_command_lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (ret->list, k),
                                    &o))
            return imap_command_bad (error, "Unknown SEARCH return option");
          cmd->u.search.ret |= 1u << o;
        }
      if (ret->list->len == 0)
        cmd->u.search.ret = IMAP_SEARCH_RETURN_ALL;
      i = 2;
    }
  if (imap_arg_atom_is (imap_command_arg_at (args, i), "CHARSET"))
    {
      if (!imap_command_get_charset (imap_command_arg_at (args, i + 1), &cmd->u.search.charset,
                                     error))
        return FALSE;
      i += 2;
    }
  return imap_command_parse_program (args, i, cmd->u.search.charset, &cmd->u.search.program,
                                     code, error);
}

gboolean
imap_command_build_fetch (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *mods;

  if (!imap_command_get_seqset (args, 0, cmd->uid, &cmd->u.fetch.set, error)
      || !imap_command_get_fetch_items (imap_command_arg_at (args, 1), TRUE, &cmd->u.fetch.items,
                                        error))
    return FALSE;
  mods = imap_command_arg_at (args, 2);
  if (mods != NULL)
    {
      if (mods->type != IMAP_ARG_LIST || mods->list->len == 0)
        return imap_command_bad (error, "Invalid FETCH modifiers");
      for (guint k = 0; k < mods->list->len; k++)
        {
          const ImapArg *m = g_ptr_array_index (mods->list, k);

          if (imap_arg_atom_is (m, "CHANGEDSINCE") && !cmd->u.fetch.has_changedsince)
            {
              if (!imap_arg_get_number (imap_command_arg_at (mods->list, ++k), G_MAXINT64,
                                        &cmd->u.fetch.changedsince))
                return imap_command_bad (error, "Invalid CHANGEDSINCE mod-sequence");
              cmd->u.fetch.has_changedsince = TRUE;
            }
          else if (imap_arg_atom_is (m, "VANISHED") && !cmd->u.fetch.vanished)
            cmd->u.fetch.vanished = TRUE;
          else
            return imap_command_bad (error, "Unknown FETCH modifier");
        }
      if (cmd->u.fetch.vanished && (!cmd->uid || !cmd->u.fetch.has_changedsince))
        return imap_command_bad (error, "VANISHED needs UID FETCH with CHANGEDSINCE");
    }
  return imap_command_no_more_args (args, 3, error);
}

gboolean
imap_command_build_store (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;
  const ImapArg *a;
  const char *item;
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);

  if (!imap_command_get_seqset (args, 0, cmd->uid, &cmd->u.store.set, error))
    return FALSE;
  a = imap_command_arg_at (args, i);
  if (a != NULL && a->type == IMAP_ARG_LIST)
    {
      if (a->list->len != 2 || !imap_arg_atom_is (g_ptr_array_index (a->list, 0), "UNCHANGEDSINCE")
          || !imap_arg_get_number (g_ptr_array_index (a->list, 1), G_MAXINT64,
                                   &cmd->u.store.unchangedsince))
        return imap_command_bad (error, "Invalid STORE modifiers");
      cmd->u.store.has_unchangedsince = TRUE;
      a = imap_command_arg_at (args, ++i);
    }
  if (a == NULL || a->type != IMAP_ARG_ATOM)
    return imap_command_bad (error, "Missing STORE data item");
  item = a->data;
  if (*item == '+' || *item == '-')
    cmd->u.store.mode = *item++ == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
  if (g_ascii_strcasecmp (item, "FLAGS.SILENT") == 0)
    cmd->u.store.silent = TRUE;
  else if (g_ascii_strcasecmp (item, "FLAGS") != 0)
    return imap_command_bad (error, "Unknown STORE data item");
  a = imap_command_arg_at (args, ++i);
  if (a != NULL && a->type == IMAP_ARG_LIST)
    return imap_command_get_flag_list (a, &cmd->u.store.flags, error)
           && imap_command_no_more_args (args, i + 1, error);
  if (a == NULL)
    return imap_command_bad (error, "Missing STORE flags");
  for (; i < args->len; i++)
    {
      a = g_ptr_array_index (args, i);
      if (!imap_command_is_flag (a))
        return imap_command_bad (error, "Invalid flag");
      g_ptr_array_add (flags, g_strdup (a->data));
    }
  g_ptr_array_add (flags, NULL);
  cmd->u.store.flags = (char **) g_ptr_array_free (g_steal_pointer (&flags), FALSE);
  return TRUE;
}

gboolean
imap_command_build_copy (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return imap_command_get_seqset (args, 0, cmd->uid, &cmd->u.copy.set, error)
         && imap_command_get_mailbox (args, 1, &cmd->u.copy.mailbox, error)
         && imap_command_no_more_args (args, 2, error);
}

gboolean
imap_command_build_sort (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  const ImapArg *a = imap_command_arg_at (args, 0);
  gboolean reverse = FALSE;

  if (a == NULL || a->type != IMAP_ARG_LIST || a->list->len == 0)
    return imap_command_bad (error, "SORT needs a list of sort criteria");
  cmd->u.sort.criteria = g_array_new (FALSE, FALSE, sizeof (ImapSortCriterion));
  for (guint k = 0; k < a->list->len; k++)
    {
      const ImapArg *c = g_ptr_array_index (a->list, k);
      guint key;

      if (imap_arg_atom_is (c, "REVERSE") && !reverse)
        {
          reverse = TRUE;
          continue;
        }
      if (!imap_command_lookup (imap_command_sort_keys, G_N_ELEMENTS (imap_command_sort_keys), c,
                                &key))
        return imap_command_bad (error, "Unknown sort criterion");
      g_array_append_val (cmd->u.sort.criteria, ((ImapSortCriterion) { key, reverse }));
      reverse = FALSE;
    }
  if (reverse)
    return imap_command_bad (error, "REVERSE needs a sort criterion");
  return imap_command_get_charset (imap_command_arg_at (args, 1), &cmd->u.sort.charset, error)
         && imap_command_parse_program (args, 2, cmd->u.sort.charset, &cmd->u.sort.program, code,
                                        error);
}

gboolean
imap_command_build_thread (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  guint alg;

  if (!imap_command_lookup (imap_command_thread_algorithms,
                            G_N_ELEMENTS (imap_command_thread_algorithms),
                            imap_command_arg_at (args, 0), &alg))
    return imap_command_bad (error, "Unknown THREAD algorithm");
  cmd->u.thread.algorithm = alg;
  return imap_command_get_charset (imap_command_arg_at (args, 1), &cmd->u.thread.charset, error)
         && imap_command_parse_program (args, 2, cmd->u.thread.charset, &cmd->u.thread.program,
                                        code, error);
}
