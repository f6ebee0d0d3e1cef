/* libFuzzer target: modified UTF-7 mailbox names (RFC 3501 5.1.3). Any
 * bytes are decoded strictly; what decodes encodes back to the same bytes
 * (the encoding is unique), and any valid UTF-8 encodes to something that
 * decodes back to it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <string.h>

#include "imap-utf7.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);  /* stops at NUL */

  {
    g_autoptr(GError) error = NULL;
    g_autofree char *utf8 = imap_utf7_decode (text, &error);

    g_assert_true (imap_utf7_is_valid (text) == (utf8 != NULL));
    if (utf8 != NULL)
      {
        g_autofree char *back = NULL;

        g_assert_true (g_utf8_validate (utf8, -1, NULL));
        back = imap_utf7_encode (utf8, NULL);
        g_assert_nonnull (back);
        g_assert_cmpstr (back, ==, text);
      }
    else
      g_assert_nonnull (error);
  }

  if (g_utf8_validate (text, -1, NULL))
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *encoded = imap_utf7_encode (text, &error);
      g_autofree char *decoded = NULL;

      g_assert_no_error (error);
      for (const char *p = encoded; *p != '\0'; p++)
        g_assert_true ((guchar) *p >= 0x20 && (guchar) *p < 0x7f);
      decoded = imap_utf7_decode (encoded, NULL);
      g_assert_cmpstr (decoded, ==, text);
    }
  return 0;
}
