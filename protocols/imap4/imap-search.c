/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-search.h"
#include "imap-quote.h"

#include <string.h>

G_DEFINE_QUARK (imap-search-error-quark, imap_search_error)

#define MAX_SEARCH_DEPTH 64

typedef enum {
  ARG_NONE,
  ARG_STRING,
  ARG_HEADER,
  ARG_DATE,
  ARG_NUMBER,
  ARG_SET,
  ARG_NOT,
  ARG_OR,
  ARG_MODSEQ,
} KeyArgs;

static const struct {
  const char *name;
  ImapSearchKeyType type;
  KeyArgs args;
} search_keys[] = {
  { "ALL", IMAP_SEARCH_ALL, ARG_NONE },
  { "ANSWERED", IMAP_SEARCH_ANSWERED, ARG_NONE },
  { "BCC", IMAP_SEARCH_BCC, ARG_STRING },
  { "BEFORE", IMAP_SEARCH_BEFORE, ARG_DATE },
  { "BODY", IMAP_SEARCH_BODY, ARG_STRING },
  { "CC", IMAP_SEARCH_CC, ARG_STRING },
  { "DELETED", IMAP_SEARCH_DELETED, ARG_NONE },
  { "DRAFT", IMAP_SEARCH_DRAFT, ARG_NONE },
  { "FLAGGED", IMAP_SEARCH_FLAGGED, ARG_NONE },
  { "FROM", IMAP_SEARCH_FROM, ARG_STRING },
  { "HEADER", IMAP_SEARCH_HEADER, ARG_HEADER },
  { "KEYWORD", IMAP_SEARCH_KEYWORD, ARG_STRING },
  { "LARGER", IMAP_SEARCH_LARGER, ARG_NUMBER },
  { "MODSEQ", IMAP_SEARCH_MODSEQ, ARG_MODSEQ },
  { "NEW", IMAP_SEARCH_NEW, ARG_NONE },
  { "NOT", IMAP_SEARCH_NOT, ARG_NOT },
  { "OLD", IMAP_SEARCH_OLD, ARG_NONE },
  { "ON", IMAP_SEARCH_ON, ARG_DATE },
  { "OR", IMAP_SEARCH_OR, ARG_OR },
  { "RECENT", IMAP_SEARCH_RECENT, ARG_NONE },
  { "SEEN", IMAP_SEARCH_SEEN, ARG_NONE },
  { "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, ARG_DATE },
  { "SENTON", IMAP_SEARCH_SENTON, ARG_DATE },
  { "SENTSINCE", IMAP_SEARCH_SENTSINCE, ARG_DATE },
  { "SINCE", IMAP_SEARCH_SINCE, ARG_DATE },
  { "SMALLER", IMAP_SEARCH_SMALLER, ARG_NUMBER },
  { "SUBJECT", IMAP_SEARCH_SUBJECT, ARG_STRING },
  { "TEXT", IMAP_SEARCH_TEXT, ARG_STRING },
  { "TO", IMAP_SEARCH_TO, ARG_STRING },
  { "UID", IMAP_SEARCH_UID, ARG_SET },
  { "UNANSWERED", IMAP_SEARCH_UNANSWERED, ARG_NONE },
  { "UNDELETED", IMAP_SEARCH_UNDELETED, ARG_NONE },
  { "UNDRAFT", IMAP_SEARCH_UNDRAFT, ARG_NONE },
  { "UNFLAGGED", IMAP_SEARCH_UNFLAGGED, ARG_NONE },
  { "UNKEYWORD", IMAP_SEARCH_UNKEYWORD, ARG_STRING },
  { "UNSEEN", IMAP_SEARCH_UNSEEN, ARG_NONE },
};

static const char *const charsets[] = {
  "UTF-8", "US-ASCII",
  "ISO-8859-1", "ISO-8859-2", "ISO-8859-3", "ISO-8859-4", "ISO-8859-5",
  "ISO-8859-6", "ISO-8859-7", "ISO-8859-8", "ISO-8859-9", "ISO-8859-10",
  "ISO-8859-11", "ISO-8859-13", "ISO-8859-14", "ISO-8859-15", "ISO-8859-16",
  "WINDOWS-1250", "WINDOWS-1251", "WINDOWS-1252", "WINDOWS-1253", "WINDOWS-1254",
  "WINDOWS-1255", "WINDOWS-1256", "WINDOWS-1257", "WINDOWS-1258",
};

gboolean
imap_search_charset_supported (const char *charset)
{
  for (guint i = 0; i < G_N_ELEMENTS (charsets); i++)
    if (g_ascii_strcasecmp (charset, charsets[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean G_GNUC_PRINTF (2, 3)
syntax_error (GError **error, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  if (error != NULL && *error == NULL)
    *error = g_error_new_valist (IMAP_SEARCH_ERROR, IMAP_SEARCH_ERROR_SYNTAX, format, ap);
  va_end (ap);
  return FALSE;
}

char *
imap_search_convert (const char *charset, const char *data, gsize length, GError **error)
{
  if (memchr (data, '\0', length) != NULL)
    {
      syntax_error (error, "NUL in search string");
      return NULL;
    }
  if (charset == NULL || g_ascii_strcasecmp (charset, "UTF-8") == 0)
    {
      if (!g_utf8_validate (data, (gssize) length, NULL))
        {
          syntax_error (error, "Search string is not valid UTF-8");
          return NULL;
        }
      return g_strndup (data, length);
    }
  if (g_ascii_strcasecmp (charset, "US-ASCII") == 0)
    {
      for (gsize i = 0; i < length; i++)
        if ((guchar) data[i] >= 0x80)
          {
            syntax_error (error, "Search string is not valid %s", "US-ASCII");
            return NULL;
          }
      return g_strndup (data, length);
    }
  if (!imap_search_charset_supported (charset))
    {
      g_set_error (error, IMAP_SEARCH_ERROR, IMAP_SEARCH_ERROR_BADCHARSET,
                   "Unsupported charset %s", charset);
      return NULL;
    }
  {
    g_autoptr(GError) local = NULL;
    char *out = g_convert (data, (gssize) length, "UTF-8", charset, NULL, NULL, &local);

    if (out == NULL)
      {
        if (g_error_matches (local, G_CONVERT_ERROR, G_CONVERT_ERROR_NO_CONVERSION))
          g_set_error (error, IMAP_SEARCH_ERROR, IMAP_SEARCH_ERROR_BADCHARSET,
                       "Unsupported charset %s", charset);
        else
          syntax_error (error, "Search string is not valid %s", charset);
      }
    return out;
  }
}

void
imap_search_key_free (ImapSearchKey *key)
{
  if (key == NULL)
    return;
  g_clear_pointer (&key->children, g_ptr_array_unref);
  g_free (key->header);
  g_free (key->value);
  imap_seqset_free (key->set);
  g_free (key);
}

static ImapSearchKey *
key_new (ImapSearchKeyType type)
{
  ImapSearchKey *key = g_new0 (ImapSearchKey, 1);

  key->type = type;
  if (type == IMAP_SEARCH_AND || type == IMAP_SEARCH_OR || type == IMAP_SEARCH_NOT)
    key->children = g_ptr_array_new_with_free_func ((GDestroyNotify) imap_search_key_free);
  return key;
}

typedef struct {
  const char *charset;
  GError **error;
} ParseContext;

static ImapSearchKey *parse_key (ParseContext *ctx, GPtrArray *args, guint *i, guint depth);

static const ImapArg *
next_arg (ParseContext *ctx, GPtrArray *args, guint *i, const char *key)
{
  if (*i >= args->len)
    {
      syntax_error (ctx->error, "Missing argument for search key %s", key);
      return NULL;
    }
  return g_ptr_array_index (args, (*i)++);
}

static char *
get_search_string (ParseContext *ctx, const ImapArg *arg, const char *key)
{
  if (arg->type == IMAP_ARG_ATOM)
    {
      if (imap_arg_get_astring (arg) == NULL)
        {
          syntax_error (ctx->error, "Invalid string for search key %s", key);
          return NULL;
        }
      return imap_search_convert (ctx->charset, arg->data, arg->length, ctx->error);
    }
  if (!imap_arg_is_string (arg) || arg->literal8)
    {
      syntax_error (ctx->error, "Expected a string for search key %s", key);
      return NULL;
    }
  return imap_search_convert (ctx->charset, arg->data, arg->length, ctx->error);
}

static gboolean
parse_args (ParseContext *ctx, ImapSearchKey *key, const char *name, KeyArgs kind,
            GPtrArray *args, guint *i, guint depth)
{
  const ImapArg *arg;

  switch (kind)
    {
    case ARG_NONE:
      return TRUE;
    case ARG_HEADER:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      if (imap_arg_get_astring (arg) == NULL)
        return syntax_error (ctx->error, "Invalid header field name for %s", name);
      for (const char *p = imap_arg_get_astring (arg); *p != '\0'; p++)
        if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f || *p == ':')
          return syntax_error (ctx->error, "Invalid header field name for %s", name);
      key->header = g_strdup (arg->data);
      G_GNUC_FALLTHROUGH;
    case ARG_STRING:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      key->value = get_search_string (ctx, arg, name);
      return key->value != NULL;
    case ARG_DATE:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      if ((arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_QUOTED)
          || !imap_date_parse (arg->data, &key->year, &key->month, &key->day))
        return syntax_error (ctx->error, "Invalid date for search key %s", name);
      return TRUE;
    case ARG_NUMBER:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      if (!imap_arg_get_number (arg, G_MAXUINT64, &key->number))
        return syntax_error (ctx->error, "Invalid number for search key %s", name);
      return TRUE;
    case ARG_MODSEQ:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      if (imap_arg_is_string (arg))
        {
          const ImapArg *type_arg;

          if (imap_arg_get_string (arg) == NULL)
            return syntax_error (ctx->error, "Invalid entry name for %s", name);
          key->header = g_strdup (arg->data);
          if ((type_arg = next_arg (ctx, args, i, name)) == NULL)
            return FALSE;
          if (imap_arg_atom_is (type_arg, "priv"))
            key->entry_type = IMAP_SEARCH_ENTRY_PRIV;
          else if (imap_arg_atom_is (type_arg, "shared"))
            key->entry_type = IMAP_SEARCH_ENTRY_SHARED;
          else if (imap_arg_atom_is (type_arg, "all"))
            key->entry_type = IMAP_SEARCH_ENTRY_ALL;
          else
            return syntax_error (ctx->error, "Invalid entry type for %s", name);
          if ((arg = next_arg (ctx, args, i, name)) == NULL)
            return FALSE;
        }
      if (!imap_arg_get_number (arg, G_MAXINT64, &key->number))
        return syntax_error (ctx->error, "Invalid mod-sequence for search key %s", name);
      return TRUE;
    case ARG_SET:
      if ((arg = next_arg (ctx, args, i, name)) == NULL)
        return FALSE;
      if (arg->type != IMAP_ARG_ATOM
          || (key->set = imap_seqset_parse (arg->data, (gssize) arg->length, TRUE, NULL)) == NULL)
        return syntax_error (ctx->error, "Invalid UID set for search key %s", name);
      return TRUE;
    case ARG_NOT:
    case ARG_OR:
      for (guint n = 0; n < (kind == ARG_OR ? 2u : 1u); n++)
        {
          ImapSearchKey *child;

          if (*i >= args->len)
            return syntax_error (ctx->error, "Missing search key after %s", name);
          if ((child = parse_key (ctx, args, i, depth + 1)) == NULL)
            return FALSE;
          g_ptr_array_add (key->children, child);
        }
      return TRUE;
    }
  g_assert_not_reached ();
}

static ImapSearchKey *
parse_key (ParseContext *ctx, GPtrArray *args, guint *i, guint depth)
{
  const ImapArg *arg = g_ptr_array_index (args, (*i)++);
  g_autoptr(ImapSearchKey) key = NULL;

  if (depth > MAX_SEARCH_DEPTH)
    {
      syntax_error (ctx->error, "Search program nested too deeply");
      return NULL;
    }
  if (arg->type == IMAP_ARG_LIST)
    {
      guint j = 0;

      if (arg->list->len == 0)
        {
          syntax_error (ctx->error, "Empty parenthesised search key");
          return NULL;
        }
      key = key_new (IMAP_SEARCH_AND);
      while (j < arg->list->len)
        {
          ImapSearchKey *child = parse_key (ctx, arg->list, &j, depth + 1);
          if (child == NULL)
            return NULL;
          g_ptr_array_add (key->children, child);
        }
      return g_steal_pointer (&key);
    }
  if (arg->type != IMAP_ARG_ATOM)
    {
      syntax_error (ctx->error, "Expected a search key, got a string");
      return NULL;
    }
  if (g_ascii_isdigit (arg->data[0]) || arg->data[0] == '*' || arg->data[0] == '$')
    {
      key = key_new (IMAP_SEARCH_SEQSET);
      key->set = imap_seqset_parse (arg->data, (gssize) arg->length, TRUE, NULL);
      if (key->set == NULL)
        {
          syntax_error (ctx->error, "Invalid sequence set %s in search", arg->data);
          return NULL;
        }
      return g_steal_pointer (&key);
    }
  for (guint k = 0; k < G_N_ELEMENTS (search_keys); k++)
    if (g_ascii_strcasecmp (arg->data, search_keys[k].name) == 0)
      {
        key = key_new (search_keys[k].type);
        if (!parse_args (ctx, key, search_keys[k].name, search_keys[k].args, args, i, depth))
          return NULL;
        return g_steal_pointer (&key);
      }
  syntax_error (ctx->error, "Unknown search key %s",
                arg->length <= 40 && g_str_is_ascii (arg->data) ? arg->data : "");
  return NULL;
}

ImapSearchKey *
imap_search_parse (GPtrArray *args, guint index, const char *charset, GError **error)
{
  ParseContext ctx = { charset, error };
  g_autoptr(ImapSearchKey) program = key_new (IMAP_SEARCH_AND);

  if (charset != NULL && !imap_search_charset_supported (charset))
    {
      g_set_error (error, IMAP_SEARCH_ERROR, IMAP_SEARCH_ERROR_BADCHARSET,
                   "Unsupported charset %s", charset);
      return NULL;
    }
  if (index >= args->len)
    {
      syntax_error (error, "Missing search program");
      return NULL;
    }
  while (index < args->len)
    {
      ImapSearchKey *key = parse_key (&ctx, args, &index, 0);
      if (key == NULL)
        return NULL;
      g_ptr_array_add (program->children, key);
    }
  return g_steal_pointer (&program);
}

static const char *
key_name (ImapSearchKeyType type)
{
  for (guint k = 0; k < G_N_ELEMENTS (search_keys); k++)
    if (search_keys[k].type == type)
      return search_keys[k].name;
  return NULL;
}

static void
append_quoted (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (; *s != '\0'; s++)
    {
      if (*s == '"' || *s == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *s);
    }
  g_string_append_c (out, '"');
}

static void
append_key (GString *out, const ImapSearchKey *key)
{
  switch (key->type)
    {
    case IMAP_SEARCH_AND:
      g_string_append_c (out, '(');
      for (guint i = 0; i < key->children->len; i++)
        {
          if (i > 0)
            g_string_append_c (out, ' ');
          append_key (out, g_ptr_array_index (key->children, i));
        }
      g_string_append_c (out, ')');
      return;
    case IMAP_SEARCH_SEQSET:
      {
        g_autofree char *s = imap_seqset_to_string (key->set);
        g_string_append (out, s);
        return;
      }
    default:
      break;
    }
  g_string_append (out, key_name (key->type));
  switch (key->type)
    {
    case IMAP_SEARCH_OR:
    case IMAP_SEARCH_NOT:
      for (guint i = 0; i < key->children->len; i++)
        {
          g_string_append_c (out, ' ');
          append_key (out, g_ptr_array_index (key->children, i));
        }
      break;
    case IMAP_SEARCH_HEADER:
      g_string_append_c (out, ' ');
      append_quoted (out, key->header);
      G_GNUC_FALLTHROUGH;
    case IMAP_SEARCH_KEYWORD:
    case IMAP_SEARCH_UNKEYWORD:
    case IMAP_SEARCH_BCC:
    case IMAP_SEARCH_BODY:
    case IMAP_SEARCH_CC:
    case IMAP_SEARCH_FROM:
    case IMAP_SEARCH_SUBJECT:
    case IMAP_SEARCH_TEXT:
    case IMAP_SEARCH_TO:
      g_string_append_c (out, ' ');
      append_quoted (out, key->value);
      break;
    case IMAP_SEARCH_BEFORE:
    case IMAP_SEARCH_ON:
    case IMAP_SEARCH_SINCE:
    case IMAP_SEARCH_SENTBEFORE:
    case IMAP_SEARCH_SENTON:
    case IMAP_SEARCH_SENTSINCE:
      g_string_append_printf (out, " %u-%s-%04u", key->day, imap_month_name (key->month), key->year);
      break;
    case IMAP_SEARCH_LARGER:
    case IMAP_SEARCH_SMALLER:
      g_string_append_printf (out, " %" G_GUINT64_FORMAT, key->number);
      break;
    case IMAP_SEARCH_MODSEQ:
      if (key->header != NULL)
        {
          static const char *const types[] = { "all", "priv", "shared" };
          g_string_append_c (out, ' ');
          append_quoted (out, key->header);
          g_string_append_printf (out, " %s", types[key->entry_type]);
        }
      g_string_append_printf (out, " %" G_GUINT64_FORMAT, key->number);
      break;
    case IMAP_SEARCH_UID:
      {
        g_autofree char *s = imap_seqset_to_string (key->set);
        g_string_append_printf (out, " %s", s);
        break;
      }
    default:
      break;
    }
}

char *
imap_search_key_to_string (const ImapSearchKey *key)
{
  GString *out = g_string_new (NULL);

  append_key (out, key);
  return g_string_free (out, FALSE);
}

gboolean
imap_search_key_has (const ImapSearchKey *key, ImapSearchKeyType type)
{
  if (key->type == type)
    return TRUE;
  for (guint i = 0; key->children != NULL && i < key->children->len; i++)
    if (imap_search_key_has (g_ptr_array_index (key->children, i), type))
      return TRUE;
  return FALSE;
}
