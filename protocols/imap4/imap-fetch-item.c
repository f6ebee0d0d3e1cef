/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-command-private.h"
#include "imap-quote.h"

#include <string.h>

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
    return imap_command_bad (error, "Expected a header field list");
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
                  return imap_command_bad (error, "Invalid quoted header field name");
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
          return imap_command_bad (error, "Invalid header field name");
        }
      g_ptr_array_add (names, g_string_free (name, FALSE));
      if (*s == ')')
        break;
      if (*s++ != ' ')
        return imap_command_bad (error, "Invalid header field list");
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
        return imap_command_bad (error, "Invalid section part number");
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
        return imap_command_bad (error, "BINARY sections take part numbers only");
      if (section->part->len > 0 && s[-1] != '.')
        return imap_command_bad (error, "Invalid section");
      for (k = 0; k < G_N_ELEMENTS (texts); k++)
        {
          gsize n = strlen (texts[k].word);
          if (g_ascii_strncasecmp (s, texts[k].word, n) == 0
              && (s[n] == ']' || s[n] == ' '))
            break;
        }
      if (k == G_N_ELEMENTS (texts))
        return imap_command_bad (error, "Invalid section");
      section->text = texts[k].text;
      s += strlen (texts[k].word);
      if (section->text == IMAP_SECTION_MIME && section->part->len == 0)
        return imap_command_bad (error, "MIME section needs a part number");
      if (section->text == IMAP_SECTION_HEADER_FIELDS
          || section->text == IMAP_SECTION_HEADER_FIELDS_NOT)
        {
          if (!parse_header_list (&s, &section->fields, error))
            return FALSE;
        }
    }
  else if (section->part->len > 0 && s[-1] == '.')
    return imap_command_bad (error, "Invalid section");
  if (*s != ']')
    return imap_command_bad (error, "Invalid section");
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
              return imap_command_bad (error, "Invalid partial range");
            }
        }
      if (*p != '\0')
        {
          imap_fetch_item_clear (item);
          return imap_command_bad (error, "Invalid fetch item");
        }
      return TRUE;
    }
  return imap_command_bad (error, "Unknown fetch item");
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
    return imap_command_bad (error, "Invalid fetch item");
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
gboolean
imap_command_get_fetch_items (const ImapArg *arg, gboolean macros, GPtrArray **out, GError **error)
{
  g_autoptr(GPtrArray) items =
    g_ptr_array_new_with_free_func ((GDestroyNotify) imap_fetch_item_free);

  if (arg == NULL)
    return imap_command_bad (error, "Missing fetch items");
  if (arg->type == IMAP_ARG_LIST)
    {
      if (arg->list->len == 0)
        return imap_command_bad (error, "Empty fetch item list");
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
