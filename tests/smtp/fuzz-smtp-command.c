/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer entry point: one SMTP command line, parsed both outside and
 * inside an SMTPUTF8 transaction; xtext round trip on the same bytes. */
#include <string.h>

#include "smtp-command.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static const char *const local_domains[] = { "example.org", "[192.0.2.1]", NULL };

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  const char *line = (const char *) data;

  for (int pass = 0; pass < 2; pass++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpCommand) cmd = smtp_command_parse (line, size,
                                                       pass ? SMTP_PARSE_UTF8 : SMTP_PARSE_DEFAULT,
                                                       &error);

      if (cmd == NULL)
        {
          g_autofree char *reply = NULL;

          g_assert_nonnull (error);
          g_assert_true (error->domain == SMTP_REPLY_ERROR);
          reply = smtp_reply_format_error (error);
          g_assert_true (g_str_has_suffix (reply, "\r\n"));
          continue;
        }
      g_assert_no_error (error);
      if (cmd->path != NULL)
        {
          g_autofree char *text = smtp_path_to_string (cmd->path);
          SmtpAddressClass klass = smtp_address_classify (cmd->path, local_domains);

          /* what we print parses back to the same classification */
          if (!cmd->path->null && !cmd->path->postmaster)
            g_assert_cmpint (smtp_address_classify_string (text, local_domains), ==, klass);
          g_assert_cmpuint (strlen (text), <=, 2 * SMTP_PATH_MAX + 2);
        }
    }

  {
    g_autofree char *encoded = smtp_xtext_encode (line, size);
    g_autofree char *decoded = smtp_xtext_decode (encoded, strlen (encoded));

    /* every byte round-trips except NUL, which xtext refuses */
    if (memchr (line, '\0', size) == NULL)
      {
        g_assert_nonnull (decoded);
        g_assert_cmpmem (decoded, strlen (decoded), line, size);
      }
    g_free (smtp_xtext_decode (line, size));
  }
  return 0;
}
