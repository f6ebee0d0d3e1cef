/* storage-common: SEARCH queries (see storage-search.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "storage-search.h"

/* An FTS5 phrase: the text in double quotes, inner quotes doubled. */
static char *
fts_phrase (const char *needle)
{
  GString *s = g_string_new ("\"");

  for (const char *p = needle; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
  return g_string_free (s, FALSE);
}

static char *
like_pattern (const char *needle)
{
  GString *s = g_string_new ("%");

  for (const char *p = needle; *p != '\0'; p++)
    {
      if (*p == '%' || *p == '_' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '%');
  return g_string_free (s, FALSE);
}

char *
storage_search_query (const char *needle, gboolean body_only, StorageSearchKind *kind)
{
  g_autofree char *phrase = NULL;

  if (*needle == '\0')
    {
      *kind = STORAGE_SEARCH_EVERY;
      return NULL;
    }
  /* Trigrams answer needles of three characters or more. */
  if (g_utf8_strlen (needle, -1) < 3)
    {
      *kind = STORAGE_SEARCH_LIKE;
      return like_pattern (needle);
    }
  *kind = STORAGE_SEARCH_MATCH;
  phrase = fts_phrase (needle);
  return g_strconcat (body_only ? "body_text : " : "{header_text body_text} : ", phrase, NULL);
}
