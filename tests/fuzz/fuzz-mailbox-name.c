/* libFuzzer target: a mailbox name from a client, the way IMAP CREATE or
 * SELECT reaches the store: modified UTF-7 decoded (when it decodes), then
 * checked and normalised by posthorn_store_normalize_mailbox_name(). What
 * is accepted can never leave the store's root: no empty, "." or ".."
 * component, no leading '/', no control characters, no wildcards, at most
 * 1024 bytes, and normalising again changes nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "ph-private.h"
#include "imap-utf7.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_name (const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *normal = posthorn_store_normalize_mailbox_name (name, &error);
  g_auto(GStrv) parts = NULL;

  if (normal == NULL)
    {
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
      return;
    }
  g_assert_no_error (error);
  g_assert_true (g_utf8_validate (normal, -1, NULL));
  g_assert_cmpuint (strlen (normal), >, 0);
  g_assert_cmpuint (strlen (normal), <=, 1024);
  g_assert_null (strpbrk (normal, "*%"));
  for (const guchar *p = (const guchar *) normal; *p != '\0'; p++)
    g_assert_true (*p >= 0x20 && *p != 0x7f);
  for (const char *p = normal; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_assert_false (c >= 0x80 && c < 0xa0);
    }
  parts = g_strsplit (normal, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_assert_cmpstr (parts[i], !=, "");
      g_assert_cmpstr (parts[i], !=, ".");
      g_assert_cmpstr (parts[i], !=, "..");
    }
  if (g_ascii_strcasecmp (parts[0], "INBOX") == 0)
    g_assert_cmpstr (parts[0], ==, "INBOX");
  {
    g_autofree char *again = posthorn_store_normalize_mailbox_name (normal, NULL);

    g_assert_cmpstr (again, ==, normal);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *name = g_strndup ((const char *) data, size);  /* NUL ends it, as on the wire */
  g_autofree char *decoded = imap_utf7_decode (name, NULL);

  check_name (name);
  if (decoded != NULL)
    check_name (decoded);
  return 0;
}
