/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command.h"
#include "imap-quote.h"

#include <string.h>

G_DEFINE_QUARK (imap-command-error-quark, imap_command_error)

#define MAX_ID_PAIRS 30

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

static const struct {
  const char *name;
  ImapStatusItems item;
} status_items[] = {
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

static const char *const sort_keys[] = {
  "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
};

static const char *const thread_algorithms[] = { "ORDEREDSUBJECT", "REFERENCES", "REFS" };

static const char *const notify_filters[] = {
  "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES",
};

static const char *const notify_events[] = {
  "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName",
  "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange",
};

static const char *const fetch_names[] = {
  [IMAP_FETCH_FLAGS] = "FLAGS",
  [IMAP_FETCH_INTERNALDATE] = "INTERNALDATE",
  [IMAP_FETCH_RFC822] = "RFC822",
  [IMAP_FETCH_RFC822_SIZE] = "RFC822.SIZE",
  [IMAP_FETCH_RFC822_HEADER] = "RFC822.HEADER",
  [IMAP_FETCH_RFC822_TEXT] = "RFC822.TEXT",
  [IMAP_FETCH_ENVELOPE] = "ENVELOPE",
  [IMAP_FETCH_BODY] = "BODY",
  [IMAP_FETCH_BODYSTRUCTURE] = "BODYSTRUCTURE",
  [IMAP_FETCH_UID] = "UID",
  [IMAP_FETCH_MODSEQ] = "MODSEQ",
  [IMAP_FETCH_BODY_SECTION] = "BODY",
  [IMAP_FETCH_BINARY] = "BINARY",
  [IMAP_FETCH_BINARY_SIZE] = "BINARY.SIZE",
};

static gboolean G_GNUC_PRINTF (2, 3)
bad (GError **error, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  if (error != NULL && *error == NULL)
    *error = g_error_new_valist (IMAP_COMMAND_ERROR, IMAP_COMMAND_ERROR_BAD, format, ap);
  va_end (ap);
  return FALSE;
}

static const ImapArg *
arg_at (GPtrArray *args, guint i)
{
  return i < args->len ? g_ptr_array_index (args, i) : NULL;
}

static char *
mailbox_dup (const char *name)
{
  return g_ascii_strcasecmp (name, "INBOX") == 0 ? g_strdup ("INBOX") : g_strdup (name);
}

static gboolean
get_mailbox (GPtrArray *args, guint i, char **out, GError **error)
{
  const char *name = imap_arg_get_astring (arg_at (args, i));

  if (name == NULL)
    return bad (error, "Invalid or missing mailbox name");
  *out = mailbox_dup (name);
  return TRUE;
}

static gboolean
no_more_args (GPtrArray *args, guint i, GError **error)
{
  return i >= args->len ? TRUE : bad (error, "Unexpected extra arguments");
}

static gboolean
get_seqset (GPtrArray *args, guint i, gboolean uid, ImapSeqSet **out, GError **error)
{
  const ImapArg *arg = arg_at (args, i);
  g_autoptr(GError) local = NULL;

  if (arg == NULL || arg->type != IMAP_ARG_ATOM)
    return bad (error, "Missing %s set", uid ? "UID" : "sequence");
  *out = imap_seqset_parse (arg->data, (gssize) arg->length, TRUE, &local);
  if (*out == NULL)
    return bad (error, "%s", local->message);
  return TRUE;
}

/* An atom of ATOM-CHARs only. */
static gboolean
is_atom (const ImapArg *arg)
{
  if (arg == NULL || arg->type != IMAP_ARG_ATOM || arg->data[0] == '\0')
    return FALSE;
  for (const char *p = arg->data; *p != '\0'; p++)
    if (!imap_is_atom_char ((guchar) *p))
      return FALSE;
  return TRUE;
}

static gboolean
is_flag (const ImapArg *arg)
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

static gboolean
get_flag_list (const ImapArg *list, char ***out, GError **error)
{
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < list->list->len; i++)
    {
      const ImapArg *f = g_ptr_array_index (list->list, i);
      if (!is_flag (f))
        return bad (error, "Invalid flag");
      g_ptr_array_add (flags, g_strdup (f->data));
    }
  g_ptr_array_add (flags, NULL);
  *out = (char **) g_ptr_array_free (g_steal_pointer (&flags), FALSE);
  return TRUE;
}

static gboolean
lookup (const char *const *names, guint n, const ImapArg *arg, guint *out)
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

static gboolean
get_status_items (const ImapArg *list, ImapStatusItems *out, GError **error)
{
  if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len == 0)
    return bad (error, "Expected a list of status items");
  *out = 0;
  for (guint i = 0; i < list->list->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (list->list, i);
      guint k;

      for (k = 0; k < G_N_ELEMENTS (status_items); k++)
        if (imap_arg_atom_is (a, status_items[k].name))
          break;
      if (k == G_N_ELEMENTS (status_items))
        return bad (error, "Unknown status item");
      *out |= status_items[k].item;
    }
  return TRUE;
}

/* ---- FETCH items ---- */

void
imap_fetch_item_clear (ImapFetchItem *item)
{
  g_clear_pointer (&item->section.part, g_array_unref);
  g_clear_pointer (&item->section.fields, g_strfreev);
}

void
imap_fetch_item_free (ImapFetchItem *item)
{
  if (item == NULL)
    return;
  imap_fetch_item_clear (item);
  g_free (item);
}

static gboolean
parse_uint32 (const char **p, gboolean nonzero, guint32 *out)
{
  guint64 v = 0;
  const char *s = *p;

  if (!g_ascii_isdigit (*s) || (nonzero && *s == '0'))
    return FALSE;
  while (g_ascii_isdigit (*s))
    {
      v = v * 10 + (guint64) (*s++ - '0');
      if (v > G_MAXUINT32)
        return FALSE;
    }
  *out = (guint32) v;
  *p = s;
  return TRUE;
}

/* header-list inside a section: "(" name *(SP name) ")" where a name is an
 * atom of astring chars or a quoted string. */
static gboolean
parse_header_list (const char **p, char ***out, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *s = *p;

  if (*s++ != ' ' || *s++ != '(')
    return bad (error, "Expected a header field list");
  for (;;)
    {
      GString *name = g_string_new (NULL);

      if (*s == '"')
        {
          for (s++; *s != '"'; s++)
            {
              if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                s++;
              else if (*s == '\0' || *s == '\\')
                {
                  g_string_free (name, TRUE);
                  return bad (error, "Invalid quoted header field name");
                }
              g_string_append_c (name, *s);
            }
          s++;
        }
      else
        while (imap_is_astring_char ((guchar) *s) && *s != ']')
          g_string_append_c (name, *s++);
      if (name->len == 0 || strchr (name->str, ':') != NULL)
        {
          g_string_free (name, TRUE);
          return bad (error, "Invalid header field name");
        }
      g_ptr_array_add (names, g_string_free (name, FALSE));
      if (*s == ')')
        break;
      if (*s++ != ' ')
        return bad (error, "Invalid header field list");
    }
  *p = s + 1;
  g_ptr_array_add (names, NULL);
  *out = (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
  return TRUE;
}

static gboolean
parse_section (const char **p, gboolean binary, ImapSection *section, GError **error)
{
  const char *s = *p;

  section->part = g_array_new (FALSE, FALSE, sizeof (guint32));
  section->text = IMAP_SECTION_ALL;
  while (g_ascii_isdigit (*s))
    {
      guint32 n;

      if (!parse_uint32 (&s, TRUE, &n))
        return bad (error, "Invalid section part number");
      g_array_append_val (section->part, n);
      if (*s != '.')
        break;
      s++;
      if (!g_ascii_isdigit (*s))
        break;
    }
  if (*s != ']')
    {
      static const struct {
        const char *word;
        ImapSectionText text;
      } texts[] = {
        { "HEADER.FIELDS.NOT", IMAP_SECTION_HEADER_FIELDS_NOT },
        { "HEADER.FIELDS", IMAP_SECTION_HEADER_FIELDS },
        { "HEADER", IMAP_SECTION_HEADER },
        { "TEXT", IMAP_SECTION_TEXT },
        { "MIME", IMAP_SECTION_MIME },
      };
      guint k;

      if (binary)
        return bad (error, "BINARY sections take part numbers only");
      if (section->part->len > 0 && s[-1] != '.')
        return bad (error, "Invalid section");
      for (k = 0; k < G_N_ELEMENTS (texts); k++)
        {
          gsize n = strlen (texts[k].word);
          if (g_ascii_strncasecmp (s, texts[k].word, n) == 0
              && (s[n] == ']' || s[n] == ' '))
            break;
        }
      if (k == G_N_ELEMENTS (texts))
        return bad (error, "Invalid section");
      section->text = texts[k].text;
      s += strlen (texts[k].word);
      if (section->text == IMAP_SECTION_MIME && section->part->len == 0)
        return bad (error, "MIME section needs a part number");
      if (section->text == IMAP_SECTION_HEADER_FIELDS
          || section->text == IMAP_SECTION_HEADER_FIELDS_NOT)
        {
          if (!parse_header_list (&s, &section->fields, error))
            return FALSE;
        }
    }
  else if (section->part->len > 0 && s[-1] == '.')
    return bad (error, "Invalid section");
  if (*s != ']')
    return bad (error, "Invalid section");
  *p = s + 1;
  return TRUE;
}

gboolean
imap_fetch_item_parse (const char *text, ImapFetchItem *item, GError **error)
{
  static const struct {
    const char *name;
    ImapFetchItemType type;
    gboolean peek;
  } sectioned[] = {
    { "BODY.PEEK[", IMAP_FETCH_BODY_SECTION, TRUE },
    { "BODY[", IMAP_FETCH_BODY_SECTION, FALSE },
    { "BINARY.PEEK[", IMAP_FETCH_BINARY, TRUE },
    { "BINARY[", IMAP_FETCH_BINARY, FALSE },
    { "BINARY.SIZE[", IMAP_FETCH_BINARY_SIZE, FALSE },
  };
  const char *p;

  memset (item, 0, sizeof *item);
  for (guint i = 0; i < G_N_ELEMENTS (fetch_names); i++)
    if (i != IMAP_FETCH_BODY_SECTION && i != IMAP_FETCH_BINARY && i != IMAP_FETCH_BINARY_SIZE
        && g_ascii_strcasecmp (text, fetch_names[i]) == 0)
      {
        item->type = i;
        return TRUE;
      }
  for (guint i = 0; i < G_N_ELEMENTS (sectioned); i++)
    {
      gsize n = strlen (sectioned[i].name);

      if (g_ascii_strncasecmp (text, sectioned[i].name, n) != 0)
        continue;
      item->type = sectioned[i].type;
      item->peek = sectioned[i].peek;
      p = text + n;
      if (!parse_section (&p, item->type != IMAP_FETCH_BODY_SECTION, &item->section, error))
        {
          imap_fetch_item_clear (item);
          return FALSE;
        }
      if (*p == '<' && item->type != IMAP_FETCH_BINARY_SIZE)
        {
          p++;
          item->partial = TRUE;
          if (!parse_uint32 (&p, FALSE, &item->partial_offset) || *p++ != '.'
              || !parse_uint32 (&p, TRUE, &item->partial_length) || *p++ != '>')
            {
              imap_fetch_item_clear (item);
              return bad (error, "Invalid partial range");
            }
        }
      if (*p != '\0')
        {
          imap_fetch_item_clear (item);
          return bad (error, "Invalid fetch item");
        }
      return TRUE;
    }
  return bad (error, "Unknown fetch item");
}

char *
imap_fetch_item_to_string (const ImapFetchItem *item)
{
  GString *s = g_string_new (fetch_names[item->type]);

  if (item->type != IMAP_FETCH_BODY_SECTION && item->type != IMAP_FETCH_BINARY
      && item->type != IMAP_FETCH_BINARY_SIZE)
    return g_string_free (s, FALSE);
  if (item->peek)
    g_string_append (s, ".PEEK");
  g_string_append_c (s, '[');
  for (guint i = 0; i < item->section.part->len; i++)
    g_string_append_printf (s, "%s%u", i > 0 ? "." : "",
                            g_array_index (item->section.part, guint32, i));
  if (item->section.text != IMAP_SECTION_ALL)
    {
      static const char *const names[] = {
        NULL, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME",
      };
      if (item->section.part->len > 0)
        g_string_append_c (s, '.');
      g_string_append (s, names[item->section.text]);
    }
  if (item->section.fields != NULL)
    {
      g_autofree char *joined = g_strjoinv (" ", item->section.fields);
      g_string_append_printf (s, " (%s)", joined);
    }
  g_string_append_c (s, ']');
  if (item->partial)
    g_string_append_printf (s, "<%u.%u>", item->partial_offset, item->partial_length);
  return g_string_free (s, FALSE);
}

static ImapFetchItem *
fetch_item_new (ImapFetchItemType type)
{
  ImapFetchItem *item = g_new0 (ImapFetchItem, 1);
  item->type = type;
  return item;
}

static gboolean
add_fetch_item (GPtrArray *items, const ImapArg *arg, GError **error)
{
  ImapFetchItem *item;

  if (arg->type != IMAP_ARG_ATOM)
    return bad (error, "Invalid fetch item");
  item = g_new0 (ImapFetchItem, 1);
  if (!imap_fetch_item_parse (arg->data, item, error))
    {
      g_free (item);
      return FALSE;
    }
  g_ptr_array_add (items, item);
  return TRUE;
}

/* fetch-att list or a single item or macro. */
static gboolean
get_fetch_items (const ImapArg *arg, gboolean macros, GPtrArray **out, GError **error)
{
  g_autoptr(GPtrArray) items =
    g_ptr_array_new_with_free_func ((GDestroyNotify) imap_fetch_item_free);

  if (arg == NULL)
    return bad (error, "Missing fetch items");
  if (arg->type == IMAP_ARG_LIST)
    {
      if (arg->list->len == 0)
        return bad (error, "Empty fetch item list");
      for (guint i = 0; i < arg->list->len; i++)
        if (!add_fetch_item (items, g_ptr_array_index (arg->list, i), error))
          return FALSE;
    }
  else if (macros && (imap_arg_atom_is (arg, "ALL") || imap_arg_atom_is (arg, "FAST")
                      || imap_arg_atom_is (arg, "FULL")))
    {
      g_ptr_array_add (items, fetch_item_new (IMAP_FETCH_FLAGS));
      g_ptr_array_add (items, fetch_item_new (IMAP_FETCH_INTERNALDATE));
      g_ptr_array_add (items, fetch_item_new (IMAP_FETCH_RFC822_SIZE));
      if (!imap_arg_atom_is (arg, "FAST"))
        g_ptr_array_add (items, fetch_item_new (IMAP_FETCH_ENVELOPE));
      if (imap_arg_atom_is (arg, "FULL"))
        g_ptr_array_add (items, fetch_item_new (IMAP_FETCH_BODY));
    }
  else if (!add_fetch_item (items, arg, error))
    return FALSE;
  *out = g_steal_pointer (&items);
  return TRUE;
}

/* ---- commands ---- */

static gboolean
build_authenticate (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *mech = arg_at (args, 0), *ir = arg_at (args, 1);

  if (!is_atom (mech))
    return bad (error, "Missing SASL mechanism");
  cmd->u.authenticate.mechanism = g_ascii_strup (mech->data, -1);
  if (ir != NULL)
    {
      if (ir->type != IMAP_ARG_ATOM)
        return bad (error, "Invalid SASL initial response");
      if (strcmp (ir->data, "=") != 0)
        for (const char *p = ir->data; *p != '\0'; p++)
          if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
            return bad (error, "Invalid base64 in SASL initial response");
      cmd->u.authenticate.initial_response = g_strdup (strcmp (ir->data, "=") == 0 ? "" : ir->data);
    }
  return no_more_args (args, 2, error);
}

static gboolean
build_login (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const char *user = imap_arg_get_astring (arg_at (args, 0));
  const char *pass = imap_arg_get_astring (arg_at (args, 1));

  if (user == NULL || pass == NULL)
    return bad (error, "LOGIN needs a user name and a password");
  cmd->u.login.username = g_strdup (user);
  cmd->u.login.password = g_strdup (pass);
  return no_more_args (args, 2, error);
}

static gboolean
build_enable (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

  if (args->len == 0)
    return bad (error, "ENABLE needs at least one capability");
  for (guint i = 0; i < args->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (args, i);
      g_autofree char *up = NULL;

      if (!is_atom (a))
        return bad (error, "Invalid capability name");
      up = g_ascii_strup (a->data, -1);
      g_strv_builder_add (b, up);
    }
  cmd->u.enable.capabilities = g_strv_builder_end (b);
  return TRUE;
}

static gboolean
build_id (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *a = arg_at (args, 0);

  if (imap_arg_atom_is (a, "NIL"))
    return no_more_args (args, 1, error);
  if (a == NULL || a->type != IMAP_ARG_LIST)
    return bad (error, "ID needs NIL or a parameter list");
  if (a->list->len % 2 != 0 || a->list->len / 2 > MAX_ID_PAIRS)
    return bad (error, "Invalid ID parameter list");
  cmd->u.id.params = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < a->list->len; i += 2)
    {
      const ImapArg *k = g_ptr_array_index (a->list, i), *v = g_ptr_array_index (a->list, i + 1);
      const char *value = imap_arg_get_string (v);

      if (imap_arg_get_string (k) == NULL || (value == NULL && !imap_arg_atom_is (v, "NIL")))
        return bad (error, "Invalid ID parameter");
      g_ptr_array_add (cmd->u.id.params, g_strdup (k->data));
      g_ptr_array_add (cmd->u.id.params, g_strdup (value));
    }
  return no_more_args (args, 1, error);
}

static gboolean
get_qresync (ImapCommand *cmd, const ImapArg *list, GError **error)
{
  GPtrArray *l;
  guint64 v;
  g_autoptr(GError) local = NULL;

  if (list == NULL || list->type != IMAP_ARG_LIST || list->list->len < 2 || list->list->len > 4)
    return bad (error, "Invalid QRESYNC parameters");
  l = list->list;
  if (!imap_arg_get_number (g_ptr_array_index (l, 0), G_MAXUINT32, &v) || v == 0)
    return bad (error, "Invalid QRESYNC UIDVALIDITY");
  cmd->u.select.uidvalidity = (guint32) v;
  if (!imap_arg_get_number (g_ptr_array_index (l, 1), G_MAXINT64, &cmd->u.select.modseq)
      || cmd->u.select.modseq == 0)
    return bad (error, "Invalid QRESYNC mod-sequence");
  for (guint i = 2; i < l->len; i++)
    {
      const ImapArg *a = g_ptr_array_index (l, i);

      if (a->type == IMAP_ARG_ATOM && i == 2)
        {
          cmd->u.select.known_uids = imap_seqset_parse (a->data, (gssize) a->length, FALSE, &local);
          if (cmd->u.select.known_uids == NULL || imap_seqset_has_star (cmd->u.select.known_uids))
            return bad (error, "Invalid QRESYNC known UIDs");
        }
      else if (a->type == IMAP_ARG_LIST && i == l->len - 1 && a->list->len == 2)
        {
          const ImapArg *s = g_ptr_array_index (a->list, 0), *u = g_ptr_array_index (a->list, 1);

          if (s->type != IMAP_ARG_ATOM || u->type != IMAP_ARG_ATOM
              || (cmd->u.select.seq_match_seqs = imap_seqset_parse (s->data, -1, FALSE, NULL)) == NULL
              || (cmd->u.select.seq_match_uids = imap_seqset_parse (u->data, -1, FALSE, NULL)) == NULL)
            return bad (error, "Invalid QRESYNC sequence match data");
        }
      else
        return bad (error, "Invalid QRESYNC parameters");
    }
  return TRUE;
}

static gboolean
build_select (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *params = arg_at (args, 1);

  if (!get_mailbox (args, 0, &cmd->u.select.mailbox, error))
    return FALSE;
  if (params != NULL)
    {
      if (params->type != IMAP_ARG_LIST || params->list->len == 0)
        return bad (error, "Invalid select parameters");
      for (guint i = 0; i < params->list->len; i++)
        {
          const ImapArg *p = g_ptr_array_index (params->list, i);

          if (imap_arg_atom_is (p, "CONDSTORE"))
            cmd->u.select.condstore = TRUE;
          else if (imap_arg_atom_is (p, "QRESYNC") && !cmd->u.select.qresync)
            {
              cmd->u.select.qresync = TRUE;
              if (!get_qresync (cmd, arg_at (params->list, ++i), error))
                return FALSE;
            }
          else
            return bad (error, "Unknown select parameter");
        }
    }
  return no_more_args (args, 2, error);
}

static gboolean
build_create (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *params = arg_at (args, 1);

  if (!get_mailbox (args, 0, &cmd->u.create.mailbox, error))
    return FALSE;
  if (params != NULL)
    {
      const ImapArg *use;

      if (params->type != IMAP_ARG_LIST || params->list->len != 2
          || !imap_arg_atom_is (g_ptr_array_index (params->list, 0), "USE"))
        return bad (error, "Invalid CREATE parameters");
      use = g_ptr_array_index (params->list, 1);
      if (use->type != IMAP_ARG_LIST || !get_flag_list (use, &cmd->u.create.special_use, error))
        return bad (error, "Invalid special-use list");
      for (char **f = cmd->u.create.special_use; *f != NULL; f++)
        if ((*f)[0] != '\\')
          return bad (error, "Invalid special-use attribute");
    }
  return no_more_args (args, 2, error);
}

static gboolean
build_mailbox (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return get_mailbox (args, 0, &cmd->u.mailbox.mailbox, error) && no_more_args (args, 1, error);
}

static gboolean
build_rename (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return get_mailbox (args, 0, &cmd->u.rename.mailbox, error)
         && get_mailbox (args, 1, &cmd->u.rename.new_mailbox, error)
         && no_more_args (args, 2, error);
}

static gboolean
build_list (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 0;
  const ImapArg *a = arg_at (args, 0);
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
          if (!lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (a->list, k), &o))
            return bad (error, "Unknown LIST selection option");
          cmd->u.list.select |= 1u << o;
        }
      if (cmd->u.list.select == IMAP_LIST_SELECT_RECURSIVEMATCH
          || cmd->u.list.select == (IMAP_LIST_SELECT_RECURSIVEMATCH | IMAP_LIST_SELECT_REMOTE))
        return bad (error, "RECURSIVEMATCH needs another selection option");
      i++;
    }
  ref = imap_arg_get_astring (arg_at (args, i));
  if (ref == NULL && imap_arg_is_string (arg_at (args, i)))
    ref = "";
  if (ref == NULL)
    return bad (error, "Invalid or missing LIST reference");
  cmd->u.list.reference = g_strdup (ref);
  a = arg_at (args, ++i);
  if (!lsub && a != NULL && a->type == IMAP_ARG_LIST)
    {
      cmd->u.list.extended = TRUE;
      if (a->list->len == 0)
        return bad (error, "Empty LIST pattern list");
      for (guint k = 0; k < a->list->len; k++)
        {
          const ImapArg *p = g_ptr_array_index (a->list, k);
          const char *pat = imap_arg_get_list_mailbox (p);
          if (pat == NULL && !imap_arg_is_string (p))
            return bad (error, "Invalid LIST pattern");
          g_strv_builder_add (patterns, pat != NULL ? pat : "");
        }
    }
  else
    {
      const char *pat = imap_arg_get_list_mailbox (a);
      if (pat == NULL && !imap_arg_is_string (a))
        return bad (error, "Invalid or missing LIST pattern");
      g_strv_builder_add (patterns, pat != NULL ? pat : "");
    }
  cmd->u.list.patterns = g_strv_builder_end (patterns);
  a = arg_at (args, ++i);
  if (!lsub && imap_arg_atom_is (a, "RETURN"))
    {
      const ImapArg *ret = arg_at (args, ++i);

      cmd->u.list.extended = TRUE;
      if (ret == NULL || ret->type != IMAP_ARG_LIST)
        return bad (error, "LIST RETURN needs a list");
      for (guint k = 0; k < ret->list->len; k++)
        {
          static const char *const opts[] = { "SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS" };
          guint o;

          if (!lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (ret->list, k), &o))
            return bad (error, "Unknown LIST return option");
          cmd->u.list.ret |= 1u << o;
          if (o == 3 && !get_status_items (arg_at (ret->list, ++k), &cmd->u.list.status, error))
            return FALSE;
        }
      i++;
    }
  return no_more_args (args, i, error);
}

static gboolean
build_status (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return get_mailbox (args, 0, &cmd->u.status.mailbox, error)
         && get_status_items (arg_at (args, 1), &cmd->u.status.items, error)
         && no_more_args (args, 2, error);
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

static gboolean
build_append (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;

  if (!get_mailbox (args, 0, &cmd->u.append.mailbox, error))
    return FALSE;
  cmd->u.append.messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) imap_append_message_free);
  do
    {
      ImapAppendMessage *msg = g_new0 (ImapAppendMessage, 1);
      ImapArg *a = (ImapArg *) arg_at (args, i);

      g_ptr_array_add (cmd->u.append.messages, msg);
      if (a != NULL && a->type == IMAP_ARG_LIST)
        {
          if (!get_flag_list (a, &msg->flags, error))
            return FALSE;
          a = (ImapArg *) arg_at (args, ++i);
        }
      if (a != NULL && a->type == IMAP_ARG_QUOTED)
        {
          if (!imap_datetime_parse (a->data, &msg->date, &msg->date_tz_offset))
            return bad (error, "Invalid APPEND date-time");
          msg->has_date = TRUE;
          a = (ImapArg *) arg_at (args, ++i);
        }
      if (imap_arg_atom_is (a, "UTF8"))
        {
          ImapArg *l = (ImapArg *) arg_at (args, ++i);
          if (l == NULL || l->type != IMAP_ARG_LIST || l->list->len != 1
              || !is_message_literal (g_ptr_array_index (l->list, 0)))
            return bad (error, "APPEND UTF8 needs (literal8)");
          msg->utf8 = TRUE;
          take_message_literal (msg, g_ptr_array_index (l->list, 0));
        }
      else if (is_message_literal (a))
        take_message_literal (msg, a);
      else
        return bad (error, "APPEND needs a message literal");
      i++;
    }
  while (i < args->len);
  return TRUE;
}

static gboolean
build_notify (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;

  if (imap_arg_atom_is (arg_at (args, 0), "NONE"))
    {
      cmd->u.notify.none = TRUE;
      return no_more_args (args, 1, error);
    }
  if (!imap_arg_atom_is (arg_at (args, 0), "SET"))
    return bad (error, "NOTIFY needs SET or NONE");
  if (imap_arg_atom_is (arg_at (args, 1), "STATUS"))
    {
      cmd->u.notify.status = TRUE;
      i++;
    }
  if (i >= args->len)
    return bad (error, "NOTIFY SET needs an event group");
  cmd->u.notify.groups = g_ptr_array_new_with_free_func (g_free);
  for (; i < args->len; i++)
    {
      const ImapArg *g = g_ptr_array_index (args, i), *f, *ev;
      ImapNotifyGroup *group = g_new0 (ImapNotifyGroup, 1);
      guint filter, k = 1;

      g_ptr_array_add (cmd->u.notify.groups, group);
      if (g->type != IMAP_ARG_LIST || g->list->len < 2)
        return bad (error, "Invalid NOTIFY event group");
      f = g_ptr_array_index (g->list, 0);
      if (!lookup (notify_filters, G_N_ELEMENTS (notify_filters), f, &filter))
        return bad (error, "Unknown NOTIFY filter");
      group->filter = filter;
      if (filter == IMAP_NOTIFY_SUBTREE || filter == IMAP_NOTIFY_MAILBOXES)
        {
          const ImapArg *m = g_ptr_array_index (g->list, k++);
          g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

          if (m->type == IMAP_ARG_LIST)
            {
              if (m->list->len == 0)
                return bad (error, "Empty NOTIFY mailbox list");
              for (guint n = 0; n < m->list->len; n++)
                {
                  const char *name = imap_arg_get_astring (g_ptr_array_index (m->list, n));
                  if (name == NULL)
                    return bad (error, "Invalid NOTIFY mailbox");
                  g_autofree char *mb = mailbox_dup (name);
                  g_strv_builder_add (b, mb);
                }
            }
          else if (imap_arg_get_astring (m) != NULL)
            {
              g_autofree char *mb = mailbox_dup (m->data);
              g_strv_builder_add (b, mb);
            }
          else
            return bad (error, "Invalid NOTIFY mailbox");
          group->mailboxes = g_strv_builder_end (b);
        }
      if (k + 1 != g->list->len)
        return bad (error, "Invalid NOTIFY event group");
      ev = g_ptr_array_index (g->list, k);
      if (imap_arg_atom_is (ev, "NONE"))
        continue;
      if (ev->type != IMAP_ARG_LIST || ev->list->len == 0)
        return bad (error, "Invalid NOTIFY events");
      for (guint n = 0; n < ev->list->len; n++)
        {
          guint e;

          if (!lookup (notify_events, G_N_ELEMENTS (notify_events), g_ptr_array_index (ev->list, n), &e))
            return bad (error, "Unknown NOTIFY event");
          group->events |= 1u << e;
          if (e == 0 && n + 1 < ev->list->len
              && ((ImapArg *) g_ptr_array_index (ev->list, n + 1))->type == IMAP_ARG_LIST)
            {
              if (filter != IMAP_NOTIFY_SELECTED && filter != IMAP_NOTIFY_SELECTED_DELAYED)
                return bad (error, "MessageNew fetch attributes only for SELECTED");
              if (!get_fetch_items (g_ptr_array_index (ev->list, ++n), FALSE,
                                    &group->message_new_items, error))
                return FALSE;
            }
        }
      if (((group->events & IMAP_NOTIFY_MESSAGE_NEW) != 0)
          != ((group->events & IMAP_NOTIFY_MESSAGE_EXPUNGE) != 0))
        return bad (error, "MessageNew and MessageExpunge go together");
      if ((group->events & (IMAP_NOTIFY_FLAG_CHANGE | IMAP_NOTIFY_ANNOTATION_CHANGE)) != 0
          && (group->events & IMAP_NOTIFY_MESSAGE_NEW) == 0)
        return bad (error, "FlagChange needs MessageNew and MessageExpunge");
    }
  return TRUE;
}

static gboolean
build_getquota (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *a = arg_at (args, 0);
  const char *root = imap_arg_get_astring (a);

  if (root == NULL && !imap_arg_is_string (a))
    return bad (error, "Missing quota root");
  cmd->u.quota.root = g_strdup (root != NULL ? root : "");
  if (cmd->type == IMAP_COMMAND_GETQUOTA)
    return no_more_args (args, 1, error);
  a = arg_at (args, 1);
  if (a == NULL || a->type != IMAP_ARG_LIST || a->list->len % 2 != 0)
    return bad (error, "SETQUOTA needs a resource list");
  cmd->u.quota.resources = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < a->list->len; i += 2)
    {
      const ImapArg *name = g_ptr_array_index (a->list, i);
      ImapQuotaResource *r;
      guint64 limit;

      if (!is_atom (name) || !imap_arg_get_number (g_ptr_array_index (a->list, i + 1), G_MAXINT64, &limit))
        return bad (error, "Invalid SETQUOTA resource");
      r = g_new0 (ImapQuotaResource, 1);
      r->name = g_ascii_strup (name->data, -1);
      r->limit = limit;
      g_ptr_array_add (cmd->u.quota.resources, r);
    }
  return no_more_args (args, 2, error);
}

/* CHARSET for SEARCH (optional) and SORT/THREAD (required). */
static gboolean
get_charset (const ImapArg *a, char **out, GError **error)
{
  const char *cs = imap_arg_get_astring (a);

  if (cs == NULL)
    return bad (error, "Missing or invalid charset");
  *out = g_ascii_strup (cs, -1);
  return TRUE;
}

static gboolean
parse_program (GPtrArray *args, guint i, const char *charset, ImapSearchKey **out,
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
  return bad (error, "%s", local->message);
}

static gboolean
build_search (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  guint i = 0;

  if (imap_arg_atom_is (arg_at (args, 0), "RETURN"))
    {
      const ImapArg *ret = arg_at (args, 1);
      static const char *const opts[] = { "MIN", "MAX", "ALL", "COUNT", "SAVE" };

      if (ret == NULL || ret->type != IMAP_ARG_LIST)
        return bad (error, "SEARCH RETURN needs a list");
      cmd->u.search.esearch = TRUE;
      for (guint k = 0; k < ret->list->len; k++)
        {
          guint o;
          if (!lookup (opts, G_N_ELEMENTS (opts), g_ptr_array_index (ret->list, k), &o))
            return bad (error, "Unknown SEARCH return option");
          cmd->u.search.ret |= 1u << o;
        }
      if (ret->list->len == 0)
        cmd->u.search.ret = IMAP_SEARCH_RETURN_ALL;
      i = 2;
    }
  if (imap_arg_atom_is (arg_at (args, i), "CHARSET"))
    {
      if (!get_charset (arg_at (args, i + 1), &cmd->u.search.charset, error))
        return FALSE;
      i += 2;
    }
  return parse_program (args, i, cmd->u.search.charset, &cmd->u.search.program, code, error);
}

static gboolean
build_fetch (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  const ImapArg *mods;

  if (!get_seqset (args, 0, cmd->uid, &cmd->u.fetch.set, error)
      || !get_fetch_items (arg_at (args, 1), TRUE, &cmd->u.fetch.items, error))
    return FALSE;
  mods = arg_at (args, 2);
  if (mods != NULL)
    {
      if (mods->type != IMAP_ARG_LIST || mods->list->len == 0)
        return bad (error, "Invalid FETCH modifiers");
      for (guint k = 0; k < mods->list->len; k++)
        {
          const ImapArg *m = g_ptr_array_index (mods->list, k);

          if (imap_arg_atom_is (m, "CHANGEDSINCE") && !cmd->u.fetch.has_changedsince)
            {
              if (!imap_arg_get_number (arg_at (mods->list, ++k), G_MAXINT64, &cmd->u.fetch.changedsince))
                return bad (error, "Invalid CHANGEDSINCE mod-sequence");
              cmd->u.fetch.has_changedsince = TRUE;
            }
          else if (imap_arg_atom_is (m, "VANISHED") && !cmd->u.fetch.vanished)
            cmd->u.fetch.vanished = TRUE;
          else
            return bad (error, "Unknown FETCH modifier");
        }
      if (cmd->u.fetch.vanished && (!cmd->uid || !cmd->u.fetch.has_changedsince))
        return bad (error, "VANISHED needs UID FETCH with CHANGEDSINCE");
    }
  return no_more_args (args, 3, error);
}

static gboolean
build_store (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  guint i = 1;
  const ImapArg *a;
  const char *item;
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);

  if (!get_seqset (args, 0, cmd->uid, &cmd->u.store.set, error))
    return FALSE;
  a = arg_at (args, i);
  if (a != NULL && a->type == IMAP_ARG_LIST)
    {
      if (a->list->len != 2 || !imap_arg_atom_is (g_ptr_array_index (a->list, 0), "UNCHANGEDSINCE")
          || !imap_arg_get_number (g_ptr_array_index (a->list, 1), G_MAXINT64,
                                   &cmd->u.store.unchangedsince))
        return bad (error, "Invalid STORE modifiers");
      cmd->u.store.has_unchangedsince = TRUE;
      a = arg_at (args, ++i);
    }
  if (a == NULL || a->type != IMAP_ARG_ATOM)
    return bad (error, "Missing STORE data item");
  item = a->data;
  if (*item == '+' || *item == '-')
    cmd->u.store.mode = *item++ == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
  if (g_ascii_strcasecmp (item, "FLAGS.SILENT") == 0)
    cmd->u.store.silent = TRUE;
  else if (g_ascii_strcasecmp (item, "FLAGS") != 0)
    return bad (error, "Unknown STORE data item");
  a = arg_at (args, ++i);
  if (a != NULL && a->type == IMAP_ARG_LIST)
    return get_flag_list (a, &cmd->u.store.flags, error) && no_more_args (args, i + 1, error);
  if (a == NULL)
    return bad (error, "Missing STORE flags");
  for (; i < args->len; i++)
    {
      a = g_ptr_array_index (args, i);
      if (!is_flag (a))
        return bad (error, "Invalid flag");
      g_ptr_array_add (flags, g_strdup (a->data));
    }
  g_ptr_array_add (flags, NULL);
  cmd->u.store.flags = (char **) g_ptr_array_free (g_steal_pointer (&flags), FALSE);
  return TRUE;
}

static gboolean
build_copy (ImapCommand *cmd, GPtrArray *args, GError **error)
{
  return get_seqset (args, 0, cmd->uid, &cmd->u.copy.set, error)
         && get_mailbox (args, 1, &cmd->u.copy.mailbox, error)
         && no_more_args (args, 2, error);
}

static gboolean
build_sort (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  const ImapArg *a = arg_at (args, 0);
  gboolean reverse = FALSE;

  if (a == NULL || a->type != IMAP_ARG_LIST || a->list->len == 0)
    return bad (error, "SORT needs a list of sort criteria");
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
      if (!lookup (sort_keys, G_N_ELEMENTS (sort_keys), c, &key))
        return bad (error, "Unknown sort criterion");
      g_array_append_val (cmd->u.sort.criteria, ((ImapSortCriterion) { key, reverse }));
      reverse = FALSE;
    }
  if (reverse)
    return bad (error, "REVERSE needs a sort criterion");
  return get_charset (arg_at (args, 1), &cmd->u.sort.charset, error)
         && parse_program (args, 2, cmd->u.sort.charset, &cmd->u.sort.program, code, error);
}

static gboolean
build_thread (ImapCommand *cmd, GPtrArray *args, char **code, GError **error)
{
  guint alg;

  if (!lookup (thread_algorithms, G_N_ELEMENTS (thread_algorithms), arg_at (args, 0), &alg))
    return bad (error, "Unknown THREAD algorithm");
  cmd->u.thread.algorithm = alg;
  return get_charset (arg_at (args, 1), &cmd->u.thread.charset, error)
         && parse_program (args, 2, cmd->u.thread.charset, &cmd->u.thread.program, code, error);
}

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
      bad (error, "Unknown command");
      return NULL;
    }
  if (uid && !commands[k].uid_allowed)
    {
      bad (error, "Unknown UID command");
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
      ok = no_more_args (args, 0, error);
      break;
    case IMAP_COMMAND_EXPUNGE:
      ok = uid ? get_seqset (args, 0, TRUE, &cmd->u.expunge.set, error) && no_more_args (args, 1, error)
               : no_more_args (args, 0, error);
      break;
    case IMAP_COMMAND_AUTHENTICATE:
      ok = build_authenticate (cmd, args, error);
      break;
    case IMAP_COMMAND_LOGIN:
      ok = build_login (cmd, args, error);
      break;
    case IMAP_COMMAND_ENABLE:
      ok = build_enable (cmd, args, error);
      break;
    case IMAP_COMMAND_ID:
      ok = build_id (cmd, args, error);
      break;
    case IMAP_COMMAND_COMPRESS:
      ok = is_atom (arg_at (args, 0)) && no_more_args (args, 1, error);
      if (ok)
        cmd->u.compress.mechanism = g_ascii_strup (((ImapArg *) g_ptr_array_index (args, 0))->data, -1);
      else
        bad (error, "COMPRESS needs one mechanism");
      break;
    case IMAP_COMMAND_SELECT:
    case IMAP_COMMAND_EXAMINE:
      ok = build_select (cmd, args, error);
      break;
    case IMAP_COMMAND_CREATE:
      ok = build_create (cmd, args, error);
      break;
    case IMAP_COMMAND_DELETE:
    case IMAP_COMMAND_SUBSCRIBE:
    case IMAP_COMMAND_UNSUBSCRIBE:
    case IMAP_COMMAND_GETQUOTAROOT:
      ok = build_mailbox (cmd, args, error);
      break;
    case IMAP_COMMAND_RENAME:
      ok = build_rename (cmd, args, error);
      break;
    case IMAP_COMMAND_LIST:
    case IMAP_COMMAND_LSUB:
      ok = build_list (cmd, args, error);
      break;
    case IMAP_COMMAND_STATUS:
      ok = build_status (cmd, args, error);
      break;
    case IMAP_COMMAND_APPEND:
      ok = build_append (cmd, args, error);
      break;
    case IMAP_COMMAND_NOTIFY:
      ok = build_notify (cmd, args, error);
      break;
    case IMAP_COMMAND_GETQUOTA:
    case IMAP_COMMAND_SETQUOTA:
      ok = build_getquota (cmd, args, error);
      break;
    case IMAP_COMMAND_SEARCH:
      ok = build_search (cmd, args, code, error);
      break;
    case IMAP_COMMAND_FETCH:
      ok = build_fetch (cmd, args, error);
      break;
    case IMAP_COMMAND_STORE:
      ok = build_store (cmd, args, error);
      break;
    case IMAP_COMMAND_COPY:
    case IMAP_COMMAND_MOVE:
      ok = build_copy (cmd, args, error);
      break;
    case IMAP_COMMAND_SORT:
      ok = build_sort (cmd, args, code, error);
      break;
    case IMAP_COMMAND_THREAD:
      ok = build_thread (cmd, args, code, error);
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

/* ---- dump ---- */

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
  const char *names[G_N_ELEMENTS (status_items)];

  for (guint i = 0; i < G_N_ELEMENTS (status_items); i++)
    names[i] = status_items[i].name;
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

          g_string_append_printf (s, " [%s", notify_filters[g->filter]);
          if (g->mailboxes != NULL)
            dump_strv (s, "mailboxes", g->mailboxes);
          dump_flags (s, "events", g->events, notify_events, G_N_ELEMENTS (notify_events));
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
                                  sort_keys[c->key]);
        }
      g_string_append_c (s, ')');
      dump_str (s, "charset", cmd->u.sort.charset);
      dump_key (s, "program", cmd->u.sort.program);
      break;
    case IMAP_COMMAND_THREAD:
      g_string_append_printf (s, " algorithm=%s", thread_algorithms[cmd->u.thread.algorithm]);
      dump_str (s, "charset", cmd->u.thread.charset);
      dump_key (s, "program", cmd->u.thread.program);
      break;
    default:
      break;
    }
  return g_string_free (s, FALSE);
}
