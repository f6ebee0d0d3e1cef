/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-reply.h"

#include <string.h>

G_DEFINE_QUARK (smtp-reply-error-quark, smtp_reply_error)

void
smtp_reply_set_error (GError **error, guint code, const char *enhanced,
                      const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  if (error == NULL)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, SMTP_REPLY_ERROR, (gint) code, "%s %s", enhanced, text);
}

static gboolean
is_enhanced_code (const char *s, gsize *length)
{
  gsize i = 0;

  if (s[i] != '2' && s[i] != '4' && s[i] != '5')
    return FALSE;
  i++;
  for (int part = 0; part < 2; part++)
    {
      gsize digits = 0;

      if (s[i++] != '.')
        return FALSE;
      while (g_ascii_isdigit (s[i]) && digits < 3)
        i++, digits++;
      if (digits == 0)
        return FALSE;
    }
  *length = i;
  return s[i] == ' ' || s[i] == '\0';
}

char *
smtp_reply_format_error (const GError *error)
{
  gsize len = 0;
  g_autofree char *enhanced = NULL;
  const char *text;

  if (error->domain != SMTP_REPLY_ERROR || error->code < 200 || error->code > 599)
    return smtp_reply_format (451, "4.3.0", error->message);
  if (!is_enhanced_code (error->message, &len))
    return smtp_reply_format ((guint) error->code, NULL, error->message);
  enhanced = g_strndup (error->message, len);
  text = error->message + len;
  if (*text == ' ')
    text++;
  return smtp_reply_format ((guint) error->code, enhanced, text);
}

/* Splits one logical line of text into wrapped pieces of at most @width. */
static void
wrap_line (GPtrArray *lines, const char *text, gsize length, gsize width)
{
  while (length > width)
    {
      gsize cut = width;

      while (cut > 0 && text[cut] != ' ')
        cut--;
      if (cut == 0)
        {
          g_ptr_array_add (lines, g_strndup (text, width));
          text += width;
          length -= width;
          continue;
        }
      g_ptr_array_add (lines, g_strndup (text, cut));
      text += cut + 1;
      length -= cut + 1;
    }
  g_ptr_array_add (lines, g_strndup (text, length));
}

static void
append_reply (GString *out, guint code, const char *enhanced,
              const char *text, gsize line_max)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *clean = g_strdup (text != NULL ? text : "");
  gsize prefix = 4 + (enhanced != NULL ? strlen (enhanced) + 1 : 0);
  gsize width = line_max > prefix + 8 ? line_max - prefix : 8;
  const char *p;

  g_return_if_fail (code >= 200 && code <= 599);

  for (char *c = clean; *c != '\0'; c++)
    if ((guchar) *c < 0x20 && *c != '\n')
      *c = '?';
    else if (*c == 0x7f)
      *c = '?';

  p = clean;
  for (;;)
    {
      const char *nl = strchr (p, '\n');
      gsize len = nl != NULL ? (gsize) (nl - p) : strlen (p);

      wrap_line (lines, p, len, width);
      if (nl == NULL)
        break;
      p = nl + 1;
    }

  for (guint i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);
      gboolean last = i + 1 == lines->len;

      g_string_append_printf (out, "%03u%c", code, last ? ' ' : '-');
      if (enhanced != NULL)
        {
          g_string_append (out, enhanced);
          if (*line != '\0')
            g_string_append_c (out, ' ');
        }
      g_string_append (out, line);
      g_string_append (out, "\r\n");
    }
}

void
smtp_reply_append (GString *out, guint code, const char *enhanced,
                   const char *text)
{
  append_reply (out, code, enhanced, text, SMTP_REPLY_LINE_MAX);
}

char *
smtp_reply_format (guint code, const char *enhanced, const char *text)
{
  GString *out = g_string_new (NULL);

  smtp_reply_append (out, code, enhanced, text);
  return g_string_free (out, FALSE);
}

char *
smtp_reply_format_ehlo (const SmtpCapabilities *caps)
{
  g_autoptr(GString) text = g_string_new (NULL);
  GString *out = g_string_new (NULL);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);

  if (caps->greeting != NULL && *caps->greeting != '\0')
    g_ptr_array_add (items, g_strdup_printf ("%s %s", caps->hostname, caps->greeting));
  else
    g_ptr_array_add (items, g_strdup (caps->hostname));

  if (caps->flags & SMTP_CAP_SIZE)
    g_ptr_array_add (items, caps->max_size > 0
                            ? g_strdup_printf ("SIZE %" G_GUINT64_FORMAT, caps->max_size)
                            : g_strdup ("SIZE"));
  if (caps->flags & SMTP_CAP_PIPELINING)
    g_ptr_array_add (items, g_strdup ("PIPELINING"));
  if (caps->flags & SMTP_CAP_8BITMIME)
    g_ptr_array_add (items, g_strdup ("8BITMIME"));
  if (caps->flags & SMTP_CAP_BINARYMIME)
    g_ptr_array_add (items, g_strdup ("BINARYMIME"));
  if (caps->flags & SMTP_CAP_CHUNKING)
    g_ptr_array_add (items, g_strdup ("CHUNKING"));
  if (caps->flags & SMTP_CAP_SMTPUTF8)
    g_ptr_array_add (items, g_strdup ("SMTPUTF8"));
  if (caps->flags & SMTP_CAP_DSN)
    g_ptr_array_add (items, g_strdup ("DSN"));
  if (caps->flags & SMTP_CAP_ENHANCEDSTATUSCODES)
    g_ptr_array_add (items, g_strdup ("ENHANCEDSTATUSCODES"));
  if (caps->flags & SMTP_CAP_STARTTLS)
    g_ptr_array_add (items, g_strdup ("STARTTLS"));
  if (caps->auth_mechanisms != NULL && caps->auth_mechanisms[0] != NULL)
    {
      g_autofree char *mechs = g_strjoinv (" ", (char **) caps->auth_mechanisms);
      g_ptr_array_add (items, g_strdup_printf ("AUTH %s", mechs));
    }

  /* Each capability is one line; a '\n' separates them. Control bytes in
   * the configured hostname/greeting are neutralised by the formatter. */
  for (guint i = 0; i < items->len; i++)
    {
      char *item = g_ptr_array_index (items, i);

      g_strdelimit (item, "\n", '?');
      if (i > 0)
        g_string_append_c (text, '\n');
      g_string_append (text, item);
    }
  /* Capability lines are never wrapped: only RFC 5321's 512 octets apply. */
  append_reply (out, 250, NULL, text->str, 510);
  return g_string_free (out, FALSE);
}
