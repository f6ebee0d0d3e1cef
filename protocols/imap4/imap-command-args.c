/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command-private.h"

const ImapStatusItemName imap_command_status_items[IMAP_COMMAND_N_STATUS_ITEMS] = {
  { "MESSAGES", IMAP_STATUS_MESSAGES },
  { "RECENT", IMAP_STATUS_RECENT },
  { "UIDNEXT", IMAP_STATUS_UIDNEXT },
  { "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
  { "UNSEEN", IMAP_STATUS_UNSEEN },
  { "SIZE", IMAP_STATUS_SIZE },
  { "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
  { "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
  { "DELETED", IMAP_STATUS_DELETED },
  { "DELETED-STORAGE", IMAP_STATUS_DELETED_STORAGE },
};

const char *const imap_command_sort_keys[IMAP_SORT_DISPLAYTO + 1] = {
  "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
};

const char *const imap_command_thread_algorithms[IMAP_THREAD_REFS + 1] = {
  "ORDEREDSUBJECT", "REFERENCES", "REFS",
};

const char *const imap_command_notify_filters[IMAP_NOTIFY_MAILBOXES + 1] = {
  "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES",
};

const char *const imap_command_notify_events[IMAP_COMMAND_N_NOTIFY_EVENTS] = {
  "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName",
  "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange",
};

gboolean G_GNUC_PRINTF (2, 3)
imap_command_bad (GError **error, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  if (error != NULL && *error == NULL)
    *error = g_error_new_valist (IMAP_COMMAND_ERROR, IMAP_COMMAND_ERROR_BAD, format, ap);
  va_end (ap);
  return FALSE;
}

const ImapArg *
imap_command_arg_at (GPtrArray *args, guint i)
{
  return i < args->len ? g_ptr_array_index (args, i) : NULL;
}

char *
imap_command_mailbox_dup (const char *name)
{
  return g_ascii_strcasecmp (name, "INBOX") == 0 ? g_strdup ("INBOX") : g_strdup (name);
}

gboolean
imap_command_get_mailbox (GPtrArray *args, guint i, char **out, GError **error)
{
  const char *name = imap_arg_get_astring (imap_command_arg_at (args, i));

  if (name == NULL)
    return imap_command_bad (error, "Invalid or missing mailbox name");
  *out = imap_command_mailbox_dup (name);
  return TRUE;
}

gboolean
imap_command_no_more_args (GPtrArray *args, guint i, GError **error)
{
  return i >= args->len ? TRUE : imap_command_bad (error, "Unexpected extra arguments");
}

gboolean
imap_command_get_seqset (GPtrArray *args, guint i, gboolean uid, ImapSeqSet **out, GError **error)
{
  const ImapArg *arg = imap_command_arg_at (args, i);
  g_autoptr(GError) local = NULL;

  if (arg == NULL || arg->type != IMAP_ARG_ATOM)
    return imap_command_bad (error, "Missing %s set", uid ? "UID" : "sequence");
  *out = imap_seqset_parse (arg->data, (gssize) arg->length, TRUE, &local);
  if (*out == NULL)
    return imap_command_bad (error, "%s", local->message);
  return TRUE;
}

/* An atom of ATOM-CHARs only. */
gboolean
imap_command_is_atom (const ImapArg *arg)
{
  if (arg == NULL || arg->type != IMAP_ARG_ATOM || arg->data[0] == '\0')
    return FALSE;
  for (const char *p = arg->data; *p != '\0'; p++)
    if (!imap_is_atom_char ((guchar) *p))
      return FALSE;
  return TRUE;
}

gboolean
imap_command_is_flag (const ImapArg *arg)
{
  const char *p;

  if (arg == NULL || arg->type != IMAP_ARG_ATOM || arg->data[0] == '\0')
    return FALSE;
  p = arg->data[0] == '\\' ? arg->data + 1 : arg->data;
  if (*p == '\0' || g_ascii_strcasecmp (arg->data, "\\Recent") == 0)
    return FALSE;
  for (; *p != '\0'; p++)
    if (!imap_is_atom_char ((guchar) *p))
      return FALSE;
  return TRUE;
}

gboolean
imap_command_get_flag_list (const ImapArg *list, char ***out, GError **error)
{
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < list->list->len; i++)
    {
      const ImapArg *f = g_ptr_array_index (list->list, i);
      if (!imap_command_is_flag (f))
        return imap_command_bad (error, "Invalid flag");
      g_ptr_array_add (flags, g_strdup (f->data));
    }
  g_ptr_array_add (flags, NULL);
  *out = (char **) g_ptr_array_free (g_steal_pointer (&flags), FALSE);
  return TRUE;
}

gboolean
imap_command_lookup (const char *const *names, guint n, const ImapArg *arg, guint *out)
{
  if (arg == NULL || arg->type != IMAP_ARG_ATOM)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (g_ascii_strcasecmp (arg->data, names[i]) == 0)
      {
        *out = i;
        return TRUE;
      }
  return FALSE;
}

gboolean
imap_command_get_status_items (const ImapArg *list, ImapStatusItems *out, GError **error)
{
  if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len == 0)
    return imap_command_bad (error, "Expected a list of status items");
  *out = 0;
  for (guint i = 0; i < list->list->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (list->list, i);
      guint k;

      for (k = 0; k < G_N_ELEMENTS (imap_command_status_items); k++)
        if (imap_arg_atom_is (a, imap_command_status_items[k].name))
          break;
      if (k == G_N_ELEMENTS (imap_command_status_items))
        return imap_command_bad (error, "Unknown status item");
      *out |= imap_command_status_items[k].item;
    }
  return TRUE;
}

/* CHARSET for SEARCH (optional) and SORT/THREAD (required). */
gboolean
imap_command_get_charset (const ImapArg *a, char **out, GError **error)
{
  const char *cs = imap_arg_get_astring (a);

  if (cs == NULL)
    return imap_command_bad (error, "Missing or invalid charset");
  *out = g_ascii_strup (cs, -1);
  return TRUE;
}

gboolean
imap_command_parse_program (GPtrArray *args, guint i, const char *charset, ImapSearchKey **out,
               char **code, GError **error)
{
  g_autoptr(GError) local = NULL;

  *out = imap_search_parse (args, i, charset, &local);
  if (*out != NULL)
    return TRUE;
  if (g_error_matches (local, IMAP_SEARCH_ERROR, IMAP_SEARCH_ERROR_BADCHARSET))
    {
      *code = g_strdup (IMAP_SEARCH_BADCHARSET_CODE);
      g_set_error_literal (error, IMAP_COMMAND_ERROR, IMAP_COMMAND_ERROR_NO, local->message);
      return FALSE;
    }
  return imap_command_bad (error, "%s", local->message);
}
