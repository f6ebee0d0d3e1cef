/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-received.h"

#include <string.h>

static const char *const with_names[] = {
  [SMTP_WITH_SMTP] = "SMTP", [SMTP_WITH_ESMTP] = "ESMTP",
  [SMTP_WITH_ESMTPA] = "ESMTPA", [SMTP_WITH_ESMTPS] = "ESMTPS",
  [SMTP_WITH_ESMTPSA] = "ESMTPSA", [SMTP_WITH_LMTP] = "LMTP",
  [SMTP_WITH_LMTPA] = "LMTPA", [SMTP_WITH_LMTPS] = "LMTPS",
  [SMTP_WITH_LMTPSA] = "LMTPSA", [SMTP_WITH_UTF8SMTP] = "UTF8SMTP",
  [SMTP_WITH_UTF8SMTPA] = "UTF8SMTPA", [SMTP_WITH_UTF8SMTPS] = "UTF8SMTPS",
  [SMTP_WITH_UTF8SMTPSA] = "UTF8SMTPSA",
};

const char *
smtp_with_name (SmtpWith with)
{
  g_return_val_if_fail ((gsize) with < G_N_ELEMENTS (with_names), "SMTP");
  return with_names[with];
}

SmtpWith
smtp_with_for (gboolean lmtp, gboolean esmtp, gboolean tls,
               gboolean authenticated, gboolean utf8)
{
  /* the A/S/SA suffixes are at offsets 1, 2 and 3 after each base */
  guint suffix = (authenticated ? 1 : 0) + (tls ? 2 : 0);

  if (lmtp)
    return suffix == 0 ? SMTP_WITH_LMTP
           : suffix == 1 ? SMTP_WITH_LMTPA
           : suffix == 2 ? SMTP_WITH_LMTPS : SMTP_WITH_LMTPSA;
  if (utf8)
    return suffix == 0 ? SMTP_WITH_UTF8SMTP
           : suffix == 1 ? SMTP_WITH_UTF8SMTPA
           : suffix == 2 ? SMTP_WITH_UTF8SMTPS : SMTP_WITH_UTF8SMTPSA;
  if (!esmtp && suffix == 0)
    return SMTP_WITH_SMTP;
  return suffix == 0 ? SMTP_WITH_ESMTP
         : suffix == 1 ? SMTP_WITH_ESMTPA
         : suffix == 2 ? SMTP_WITH_ESMTPS : SMTP_WITH_ESMTPSA;
}

char *
smtp_format_date (GDateTime *date)
{
  static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
  static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  GTimeSpan offset = g_date_time_get_utc_offset (date) / G_TIME_SPAN_MINUTE;
  char sign = offset < 0 ? '-' : '+';

  if (offset < 0)
    offset = -offset;
  return g_strdup_printf ("%s, %d %s %04d %02d:%02d:%02d %c%02d%02d",
                          days[g_date_time_get_day_of_week (date) - 1],
                          g_date_time_get_day_of_month (date),
                          months[g_date_time_get_month (date) - 1],
                          g_date_time_get_year (date),
                          g_date_time_get_hour (date),
                          g_date_time_get_minute (date),
                          g_date_time_get_second (date),
                          sign, (int) (offset / 60), (int) (offset % 60));
}

/* Untrusted text for a header comment: printable ASCII, no parentheses,
 * backslashes or spaces; at most 255 bytes. */
static char *
sanitize (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0' && out->len < 255; p++)
    {
      guchar ch = (guchar) *p;

      if (ch <= 32 || ch >= 127 || ch == '(' || ch == ')' || ch == '\\')
        g_string_append_c (out, '?');
      else
        g_string_append_c (out, (char) ch);
    }
  return g_string_free (out, FALSE);
}

char *
smtp_received_build (const SmtpReceivedInfo *info)
{
  GString *out = g_string_new ("Received: from ");
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *date = NULL;
  g_autofree char *helo = sanitize (info->helo != NULL ? info->helo : "unknown");
  g_autofree char *rdns = sanitize (info->rdns != NULL ? info->rdns : "unknown");
  g_autofree char *address = sanitize (info->address != NULL ? info->address : "unknown");
  g_autofree char *by = sanitize (info->by);
  gboolean v6 = strchr (address, ':') != NULL;

  g_string_append_printf (out, "%s (%s [%s%s])\r\n", helo, rdns,
                          v6 ? "IPv6:" : "", address);
  g_string_append_printf (out, "\tby %s (Posthorn) with %s", by, smtp_with_name (info->with));
  if (info->tls_info != NULL)
    {
      g_autofree char *tls = g_strdup (info->tls_info);

      g_strcanon (tls, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/ =", '?');
      g_string_append_printf (out, " (%s)", tls);
    }
  if (info->id != NULL)
    {
      g_autofree char *id = sanitize (info->id);

      g_string_append_printf (out, " id %s", id);
    }
  if (info->recipient != NULL && !info->recipient->null)
    {
      g_autofree char *rcpt = smtp_path_to_string (info->recipient);

      g_strdelimit (rcpt, "\r\n", '?');
      g_string_append_printf (out, "\r\n\tfor %s", rcpt);
    }
  if (info->date == NULL)
    now = g_date_time_new_now_local ();
  date = smtp_format_date (info->date != NULL ? info->date : now);
  g_string_append_printf (out, ";\r\n\t%s\r\n", date);
  return g_string_free (out, FALSE);
}

char *
smtp_return_path_build (const SmtpPath *reverse_path)
{
  g_autofree char *path = reverse_path != NULL ? smtp_path_to_string (reverse_path)
                                               : g_strdup ("<>");

  return g_strdup_printf ("Return-Path: %s\r\n", path);
}
