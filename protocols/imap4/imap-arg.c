/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "imap-arg.h"
#include "imap-quote.h"

#include <string.h>

ImapArg *
imap_arg_new (ImapArgType type)
{
  ImapArg *arg = g_new0 (ImapArg, 1);

  arg->type = type;
  if (type == IMAP_ARG_LIST)
    arg->list = g_ptr_array_new_with_free_func ((GDestroyNotify) imap_arg_free);
  return arg;
}

void
imap_arg_free (ImapArg *arg)
{
  if (arg == NULL)
    return;
  g_clear_pointer (&arg->list, g_ptr_array_unref);
  g_free (arg->data);
  g_free (arg);
}

gboolean
imap_arg_atom_is (const ImapArg *arg, const char *word)
{
  return arg != NULL && arg->type == IMAP_ARG_ATOM
         && g_ascii_strcasecmp (arg->data, word) == 0;
}

gboolean
imap_arg_is_string (const ImapArg *arg)
{
  return arg != NULL && (arg->type == IMAP_ARG_QUOTED || arg->type == IMAP_ARG_LITERAL);
}

const char *
imap_arg_get_string (const ImapArg *arg)
{
  if (!imap_arg_is_string (arg) || memchr (arg->data, '\0', arg->length) != NULL)
    return NULL;
  return arg->data;
}

static const char *
get_atom_or_string (const ImapArg *arg, gboolean wildcards)
{
  if (arg == NULL)
    return NULL;
  if (arg->type != IMAP_ARG_ATOM)
    return imap_arg_get_string (arg);
  for (const char *p = arg->data; *p != '\0'; p++)
    if (!imap_is_astring_char ((guchar) *p) && !(wildcards && (*p == '%' || *p == '*')))
      return NULL;
  return arg->data[0] != '\0' ? arg->data : NULL;
}

const char *
imap_arg_get_astring (const ImapArg *arg)
{
  return get_atom_or_string (arg, FALSE);
}

const char *
imap_arg_get_list_mailbox (const ImapArg *arg)
{
  return get_atom_or_string (arg, TRUE);
}

gboolean
imap_arg_get_number (const ImapArg *arg, guint64 max, guint64 *out)
{
  guint64 v = 0;

  if (arg == NULL || arg->type != IMAP_ARG_ATOM || arg->data[0] == '\0')
    return FALSE;
  for (const char *p = arg->data; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      if ((guint64) (*p - '0') > max || v > (max - (guint64) (*p - '0')) / 10)
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
    }
  *out = v;
  return TRUE;
}
