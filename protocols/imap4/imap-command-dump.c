/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command-private.h"
#include "imap-quote.h"

static void
dump_str (GString *s, const char *key, const char *value)
{
  g_string_append_printf (s, " %s=", key);
  if (value == NULL)
    {
      g_string_append (s, "NIL");
      return;
    }
  g_string_append_c (s, '"');
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
}

static void
dump_strv (GString *s, const char *key, char **v)
{
  g_autofree char *joined = v != NULL ? g_strjoinv (" ", v) : NULL;
  g_string_append_printf (s, " %s=(%s)", key, joined != NULL ? joined : "");
}

static void
dump_set (GString *s, const char *key, const ImapSeqSet *set)
{
  g_autofree char *text = imap_seqset_to_string (set);
  g_string_append_printf (s, " %s=%s", key, text);
}

static void
dump_key (GString *s, const char *key, const ImapSearchKey *program)
{
  g_autofree char *text = imap_search_key_to_string (program);
  g_string_append_printf (s, " %s=%s", key, text);
}

static void
dump_flags (GString *s, const char *key, guint flags, const char *const *names, guint n)
{
  gboolean first = TRUE;

  g_string_append_printf (s, " %s=(", key);
  for (guint i = 0; i < n; i++)
    if ((flags & (1u << i)) != 0)
      {
        g_string_append_printf (s, "%s%s", first ? "" : " ", names[i]);
        first = FALSE;
      }
  g_string_append_c (s, ')');
}

static void
dump_status (GString *s, const char *key, ImapStatusItems items)
{
  const char *names[G_N_ELEMENTS (imap_command_status_items)];

  for (guint i = 0; i < G_N_ELEMENTS (imap_command_status_items); i++)
    names[i] = imap_command_status_items[i].name;
  dump_flags (s, key, items, names, G_N_ELEMENTS (names));
}

static void
dump_fetch_items (GString *s, const char *key, GPtrArray *items)
{
  g_string_append_printf (s, " %s=(", key);
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *t = imap_fetch_item_to_string (g_ptr_array_index (items, i));
      g_string_append_printf (s, "%s%s", i > 0 ? " " : "", t);
    }
  g_string_append_c (s, ')');
}

char *
imap_command_to_string (const ImapCommand *cmd)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "%s %s%s", cmd->tag, cmd->uid ? "UID " : "", cmd->name);
  switch (cmd->type)
    {
    case IMAP_COMMAND_AUTHENTICATE:
      dump_str (s, "mech", cmd->u.authenticate.mechanism);
      dump_str (s, "ir", cmd->u.authenticate.initial_response);
      break;
    case IMAP_COMMAND_LOGIN:
      dump_str (s, "user", cmd->u.login.username);
      dump_str (s, "pass", cmd->u.login.password);
      break;
    case IMAP_COMMAND_ENABLE:
      dump_strv (s, "caps", cmd->u.enable.capabilities);
      break;
    case IMAP_COMMAND_ID:
      if (cmd->u.id.params == NULL)
        g_string_append (s, " NIL");
      for (guint i = 0; cmd->u.id.params != NULL && i < cmd->u.id.params->len; i += 2)
        dump_str (s, g_ptr_array_index (cmd->u.id.params, i), g_ptr_array_index (cmd->u.id.params, i + 1));
      break;
    case IMAP_COMMAND_COMPRESS:
      dump_str (s, "mech", cmd->u.compress.mechanism);
      break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE:
      dump_str (s, "mailbox", cmd->u.select.mailbox);
      if (cmd->u.select.condstore)
        g_string_append (s, " condstore");
      if (cmd->u.select.qresync)
        {
          g_string_append_printf (s, " qresync=%u/%" G_GUINT64_FORMAT,
                                  cmd->u.select.uidvalidity, cmd->u.select.modseq);
          if (cmd->u.select.known_uids != NULL)
            dump_set (s, "known", cmd->u.select.known_uids);
          if (cmd->u.select.seq_match_seqs != NULL)
            {
              dump_set (s, "seqs", cmd->u.select.seq_match_seqs);
              dump_set (s, "uids", cmd->u.select.seq_match_uids);
            }
        }
      break;
    case IMAP_COMMAND_CREATE:
      dump_str (s, "mailbox", cmd->u.create.mailbox);
      if (cmd->u.create.special_use != NULL)
        dump_strv (s, "use", cmd->u.create.special_use);
      break;
    case IMAP_COMMAND_DELETE:
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE:
    case IMAP_COMMAND_GETQUOTAROOT:
      dump_str (s, "mailbox", cmd->u.mailbox.mailbox);
      break;
    case IMAP_COMMAND_RENAME:
      dump_str (s, "from", cmd->u.rename.mailbox);
      dump_str (s, "to", cmd->u.rename.new_mailbox);
      break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB:
      {
        static const char *const sel[] = { "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE" };
        static const char *const ret[] = { "SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS" };

        if (cmd->u.list.extended)
          dump_flags (s, "select", cmd->u.list.select, sel, G_N_ELEMENTS (sel));
        dump_str (s, "ref", cmd->u.list.reference);
        for (char **p = cmd->u.list.patterns; *p != NULL; p++)
          dump_str (s, "pattern", *p);
        if (cmd->u.list.extended)
          dump_flags (s, "return", cmd->u.list.ret, ret, G_N_ELEMENTS (ret));
        if (cmd->u.list.status != 0)
          dump_status (s, "status", cmd->u.list.status);
        break;
      }
    case IMAP_COMMAND_STATUS:
      dump_str (s, "mailbox", cmd->u.status.mailbox);
      dump_status (s, "items", cmd->u.status.items);
      break;
    case IMAP_COMMAND_APPEND:
      dump_str (s, "mailbox", cmd->u.append.mailbox);
      for (guint i = 0; i < cmd->u.append.messages->len; i++)
        {
          ImapAppendMessage *m = g_ptr_array_index (cmd->u.append.messages, i);

          g_string_append (s, " [");
          if (m->flags != NULL)
            {
              g_autofree char *f = g_strjoinv (" ", m->flags);
              g_string_append_printf (s, "flags=(%s) ", f);
            }
          if (m->has_date)
            {
              g_autofree char *d = imap_datetime_format (m->date, m->date_tz_offset);
              g_string_append_printf (s, "date=\"%s\" ", d);
            }
          g_string_append_printf (s, "%s%s%s%" G_GUINT64_FORMAT,
                                  m->utf8 ? "utf8 " : "", m->binary ? "binary " : "",
                                  m->external ? "external=" : "size=", m->size);
          if (m->data != NULL)
            g_string_append_printf (s, " data=\"%.*s\"", (int) MIN (g_bytes_get_size (m->data), 40),
                                    (const char *) g_bytes_get_data (m->data, NULL));
          g_string_append_c (s, ']');
        }
      break;
    case IMAP_COMMAND_NOTIFY:
      if (cmd->u.notify.none)
        {
          g_string_append (s, " NONE");
          break;
        }
      if (cmd->u.notify.status)
        g_string_append (s, " STATUS");
      for (guint i = 0; i < cmd->u.notify.groups->len; i++)
        {
          ImapNotifyGroup *g = g_ptr_array_index (cmd->u.notify.groups, i);

          g_string_append_printf (s, " [%s", imap_command_notify_filters[g->filter]);
          if (g->mailboxes != NULL)
            dump_strv (s, "mailboxes", g->mailboxes);
          dump_flags (s, "events", g->events, imap_command_notify_events,
                      G_N_ELEMENTS (imap_command_notify_events));
          if (g->message_new_items != NULL)
            dump_fetch_items (s, "new", g->message_new_items);
          g_string_append_c (s, ']');
        }
      break;
    case IMAP_COMMAND_GETQUOTA:
    case IMAP_COMMAND_SETQUOTA:
      dump_str (s, "root", cmd->u.quota.root);
      for (guint i = 0; cmd->u.quota.resources != NULL && i < cmd->u.quota.resources->len; i++)
        {
          ImapQuotaResource *r = g_ptr_array_index (cmd->u.quota.resources, i);
          g_string_append_printf (s, " %s=%" G_GUINT64_FORMAT, r->name, r->limit);
        }
      break;
    case IMAP_COMMAND_EXPUNGE:
      if (cmd->u.expunge.set != NULL)
        dump_set (s, "set", cmd->u.expunge.set);
      break;
    case IMAP_COMMAND_SEARCH:
      {
        static const char *const ret[] = { "MIN", "MAX", "ALL", "COUNT", "SAVE" };
        if (cmd->u.search.esearch)
          dump_flags (s, "return", cmd->u.search.ret, ret, G_N_ELEMENTS (ret));
        if (cmd->u.search.charset != NULL)
          dump_str (s, "charset", cmd->u.search.charset);
        dump_key (s, "program", cmd->u.search.program);
        break;
      }
    case IMAP_COMMAND_FETCH:
      dump_set (s, "set", cmd->u.fetch.set);
      dump_fetch_items (s, "items", cmd->u.fetch.items);
      if (cmd->u.fetch.has_changedsince)
        g_string_append_printf (s, " changedsince=%" G_GUINT64_FORMAT, cmd->u.fetch.changedsince);
      if (cmd->u.fetch.vanished)
        g_string_append (s, " vanished");
      break;
    case IMAP_COMMAND_STORE:
      dump_set (s, "set", cmd->u.store.set);
      if (cmd->u.store.has_unchangedsince)
        g_string_append_printf (s, " unchangedsince=%" G_GUINT64_FORMAT, cmd->u.store.unchangedsince);
      g_string_append_printf (s, " mode=%s%s", (const char *const[]) { "set", "add", "remove" }[cmd->u.store.mode],
                              cmd->u.store.silent ? " silent" : "");
      dump_strv (s, "flags", cmd->u.store.flags);
      break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
      dump_set (s, "set", cmd->u.copy.set);
      dump_str (s, "mailbox", cmd->u.copy.mailbox);
      break;
    case IMAP_COMMAND_SORT:
      g_string_append (s, " criteria=(");
      for (guint i = 0; i < cmd->u.sort.criteria->len; i++)
        {
          ImapSortCriterion *c = &g_array_index (cmd->u.sort.criteria, ImapSortCriterion, i);
          g_string_append_printf (s, "%s%s%s", i > 0 ? " " : "", c->reverse ? "REVERSE " : "",
                                  imap_command_sort_keys[c->key]);
        }
      g_string_append_c (s, ')');
      dump_str (s, "charset", cmd->u.sort.charset);
      dump_key (s, "program", cmd->u.sort.program);
      break;
    case IMAP_COMMAND_THREAD:
      g_string_append_printf (s, " algorithm=%s",
                              imap_command_thread_algorithms[cmd->u.thread.algorithm]);
      dump_str (s, "charset", cmd->u.thread.charset);
      dump_key (s, "program", cmd->u.thread.program);
      break;
    default:
      break;
    }
  return g_string_free (s, FALSE);
}
