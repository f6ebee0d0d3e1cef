/* libFuzzer target: MIME metadata extraction, what a delivery or an
 * APPEND runs over untrusted mail: the parse (sizes, ENVELOPE,
 * BODYSTRUCTURE, the part table, decoded header fields), the stored blob
 * round trip, sections, decoding and the SEARCH text. Offsets stay inside
 * the message; the IMAP strings are balanced lists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "ph-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The parentheses of an IMAP string balance (outside quoted strings and
 * literals) and it starts with '('. */
static void
check_imap_list (const char *text)
{
  int depth = 0;
  const char *p = text;

  g_assert_nonnull (text);
  g_assert_true (text[0] == '(');
  while (*p != '\0')
    {
      if (*p == '"')
        {
          for (p++; *p != '\0' && *p != '"'; p++)
            if (*p == '\\' && p[1] != '\0')
              p++;
          g_assert_true (*p == '"');
          p++;
          continue;
        }
      if (*p == '{')
        {
          char *end = NULL;
          guint64 n = g_ascii_strtoull (p + 1, &end, 10);

          g_assert_true (end != NULL && end[0] == '}' && end[1] == '\r' && end[2] == '\n');
          p = end + 3;
          g_assert_cmpuint (strlen (p), >=, n);
          p += n;
          continue;
        }
      if (*p == '(')
        depth++;
      else if (*p == ')')
        {
          depth--;
          g_assert_cmpint (depth, >=, 0);
        }
      p++;
    }
  g_assert_cmpint (depth, ==, 0);
}

static void
check_info (PosthornMessage *msg, PosthornMessageInfo *info)
{
  guint64 size = posthorn_message_info_get_size (info);
  guint n = posthorn_message_info_get_n_parts (info);
  static const char *const sections[] = { "", "HEADER", "TEXT", "1", "1.MIME", "2", "1.1", "2.HEADER", "1.TEXT", "3.2.1" };

  g_assert_cmpuint (size, ==, posthorn_message_get_size (msg));
  g_assert_cmpuint (posthorn_message_info_get_header_size (info)
                    + posthorn_message_info_get_body_size (info), ==, size);
  g_assert_cmpuint (posthorn_message_info_get_body_lines (info), <=,
                    posthorn_message_info_get_lines (info));
  check_imap_list (posthorn_message_info_get_envelope (info));
  check_imap_list (posthorn_message_info_get_bodystructure (info));
  check_imap_list (posthorn_message_info_get_body (info));
  g_assert_cmpuint (n, >=, 1);
  g_assert_cmpuint (n, <=, 2 * POSTHORN_MESSAGE_MAX_PARTS + 2);

  for (guint i = 0; i < n; i++)
    {
      const char *number, *type, *subtype, *charset, *encoding;
      guint depth;
      guint64 header, body, end;

      g_assert_true (posthorn_message_info_get_part (info, i, &number, NULL, NULL, &depth,
                                                     &header, &body, &end));
      g_assert_nonnull (number);
      g_assert_cmpuint (depth, <=, POSTHORN_MESSAGE_MAX_DEPTH + 2);
      g_assert_cmpuint (header, <=, body);
      g_assert_cmpuint (body, <=, end);
      g_assert_cmpuint (end, <=, size);
      g_assert_true (posthorn_message_info_get_part_content_type (info, i, &type, &subtype,
                                                                  &charset, &encoding));
      g_assert_nonnull (type);
      g_assert_nonnull (subtype);
      g_assert_nonnull (encoding);
      if (i < 8 && number[0] != '\0')
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GBytes) decoded = posthorn_message_decode_part (msg, info, number, &error);

          g_assert_true ((decoded == NULL) == (error != NULL));
        }
    }
  g_assert_false (posthorn_message_info_get_part (info, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (sections); i++)
    {
      guint64 offset = 0, length = 0, binary = 0;
      g_autoptr(GError) error = NULL;

      if (posthorn_message_info_get_section (info, sections[i], &offset, &length, &error))
        g_assert_cmpuint (offset + length, <=, size);
      else
        g_assert_nonnull (error);
      g_clear_error (&error);
      (void) posthorn_message_info_get_binary_size (info, sections[i], &binary, &error);
    }

  (void) posthorn_message_info_get_subject (info);
  (void) posthorn_message_info_get_from (info);
  (void) posthorn_message_info_get_references (info);
  for (guint i = 0; i < posthorn_message_info_get_n_headers (info); i++)
    {
      const char *name, *value;

      g_assert_true (posthorn_message_info_get_header (info, i, &name, &value));
      g_assert_true (g_utf8_validate (value, -1, NULL));
    }
  {
    const char *display, *mailbox, *domain;
    gint64 when;
    int zone;

    (void) posthorn_message_info_get_first_address (info, "from", &display, &mailbox, &domain);
    (void) posthorn_message_info_get_first_address (info, "cc", NULL, NULL, NULL);
    (void) posthorn_message_info_get_date (info, &when, &zone);
    (void) posthorn_message_info_lookup_header (info, "content-type");
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (data, size);
  g_autoptr(PosthornMessageInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  info = posthorn_message_info_parse (msg, &error);
  g_assert_no_error (error);
  check_info (msg, info);

  {
    g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
    g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (blob, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (posthorn_message_info_get_bodystructure (back), ==,
                     posthorn_message_info_get_bodystructure (info));
    g_assert_cmpstr (posthorn_message_info_get_envelope (back), ==,
                     posthorn_message_info_get_envelope (info));
    g_assert_cmpuint (posthorn_message_info_get_n_parts (back), ==,
                      posthorn_message_info_get_n_parts (info));
  }
  {
    /* a hostile stored blob (a broken database) is refused, never trusted */
    g_autoptr(GBytes) blob = g_bytes_new_static (data, size);
    g_autoptr(PosthornMessageInfo) bad = posthorn_message_info_deserialize (blob, NULL);

    if (bad != NULL)
      (void) posthorn_message_info_get_bodystructure (bad);
  }
  {
    g_autofree char *body_text = NULL;
    g_autofree char *all_text = NULL;

    g_assert_true (posthorn_message_extract_search_text (msg, info, &body_text, &all_text, &error));
    g_assert_true (g_utf8_validate (body_text, -1, NULL));
    g_assert_true (g_utf8_validate (all_text, -1, NULL));
  }
  {
    static const char *const names[] = { "Subject", "from", "X-Missing", NULL };
    gsize n = 0;
    g_autofree char *fields = posthorn_message_header_fields ((const char *) data, size,
                                                              names, (size & 1) != 0, &n);

    g_assert_nonnull (fields);
    g_assert_cmpuint (strlen (fields), <=, n);
  }
  return 0;
}
