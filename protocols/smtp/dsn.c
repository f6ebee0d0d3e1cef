/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dsn.h"

#include <string.h>

#include "smtp-received.h"

static const char *const action_names[] = {
  [SMTP_DSN_ACTION_FAILED] = "failed", [SMTP_DSN_ACTION_DELAYED] = "delayed",
  [SMTP_DSN_ACTION_DELIVERED] = "delivered", [SMTP_DSN_ACTION_RELAYED] = "relayed",
  [SMTP_DSN_ACTION_EXPANDED] = "expanded",
};

GBytes *
smtp_dsn_extract_headers (GBytes *message)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  if (len >= 2 && memcmp (data, "\r\n", 2) == 0)
    return g_bytes_new_from_bytes (message, 0, 2);
  for (gsize i = 0; i + 3 < len; i++)
    if (memcmp (data + i, "\r\n\r\n", 4) == 0)
      return g_bytes_new_from_bytes (message, 0, i + 4);
  return g_bytes_ref (message);
}

/* Text from the envelope or a remote reply for a header field: printable
 * ASCII, CR and LF dropped. UTF-8 stays (RFC 6533 would be needed to
 * carry it properly; we replace it with '?'). */
static char *
field_text (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      guchar ch = (guchar) *p;

      if (ch == '\r' || ch == '\n')
        continue;
      g_string_append_c (out, ch >= 32 && ch < 127 ? (char) ch : '?');
    }
  return g_string_free (out, FALSE);
}

static void
append_field (GString *out, const char *name, const char *value)
{
  g_autofree char *clean = field_text (value);

  g_string_append_printf (out, "%s: %s\r\n", name, clean);
}

static void
append_date_field (GString *out, const char *name, GDateTime *date)
{
  g_autofree char *text = smtp_format_date (date);

  g_string_append_printf (out, "%s: %s\r\n", name, text);
}

static gboolean
is_ascii_printable (const char *s)
{
  for (; *s != '\0'; s++)
    if ((guchar) *s < 33 || (guchar) *s > 126)
      return FALSE;
  return TRUE;
}

static void
append_human_part (GString *out, const SmtpDsnInfo *info)
{
  g_string_append (out, "Content-Type: text/plain; charset=us-ascii\r\n"
                        "Content-Description: Notification\r\n\r\n");
  g_string_append_printf (out, "This is the mail system at host %s.\r\n\r\n", info->reporting_mta);
  if (info->kind == SMTP_DSN_FAILURE)
    g_string_append (out, "I'm sorry to have to inform you that your message could not\r\n"
                          "be delivered to one or more recipients. It's attached below.\r\n\r\n");
  else
    g_string_append (out, "Your message could not be delivered yet to one or more\r\n"
                          "recipients. It will be retried until it is too old.\r\n"
                          "You do not need to send it again.\r\n\r\n");
  for (gsize i = 0; i < info->n_recipients; i++)
    {
      const SmtpDsnRecipient *r = &info->recipients[i];
      g_autofree char *rcpt = field_text (r->final_recipient);
      g_autofree char *diag = r->diagnostic != NULL ? field_text (r->diagnostic) : NULL;

      if (diag != NULL)
        g_string_append_printf (out, "<%s>: %s\r\n", rcpt, diag);
      else
        g_string_append_printf (out, "<%s>: %s, status %s\r\n", rcpt,
                                action_names[r->action], r->status);
    }
}

static void
append_status_part (GString *out, const SmtpDsnInfo *info)
{
  g_string_append (out, "Content-Type: message/delivery-status\r\n"
                        "Content-Description: Delivery report\r\n\r\n");
  g_string_append_printf (out, "Reporting-MTA: dns; %s\r\n", info->reporting_mta);
  if (info->envid != NULL)
    {
      /* RFC 3464 §2.2.1: the ENVID as the sender gave it; kept in xtext
       * when it is not plain printable ASCII */
      g_autofree char *envid = is_ascii_printable (info->envid)
                               ? g_strdup (info->envid)
                               : smtp_xtext_encode (info->envid, strlen (info->envid));
      append_field (out, "Original-Envelope-Id", envid);
    }
  if (info->arrival_date != NULL)
    append_date_field (out, "Arrival-Date", info->arrival_date);

  for (gsize i = 0; i < info->n_recipients; i++)
    {
      const SmtpDsnRecipient *r = &info->recipients[i];

      g_string_append (out, "\r\n");
      if (r->orcpt != NULL)
        {
          g_autofree char *orcpt = is_ascii_printable (r->orcpt)
                                   ? g_strdup (r->orcpt)
                                   : smtp_xtext_encode (r->orcpt, strlen (r->orcpt));
          g_autofree char *value = g_strdup_printf ("%s; %s",
                                                    r->orcpt_type != NULL ? r->orcpt_type : "rfc822",
                                                    orcpt);
          append_field (out, "Original-Recipient", value);
        }
      {
        g_autofree char *value = g_strdup_printf ("rfc822; %s", r->final_recipient);
        append_field (out, "Final-Recipient", value);
      }
      append_field (out, "Action", action_names[r->action]);
      append_field (out, "Status", r->status);
      if (r->remote_mta != NULL)
        {
          g_autofree char *value = g_strdup_printf ("dns; %s", r->remote_mta);
          append_field (out, "Remote-MTA", value);
        }
      if (r->diagnostic != NULL)
        {
          g_autofree char *value = g_strdup_printf ("smtp; %s", r->diagnostic);
          append_field (out, "Diagnostic-Code", value);
        }
      if (r->last_attempt != NULL)
        append_date_field (out, "Last-Attempt-Date", r->last_attempt);
      if (r->will_retry_until != NULL)
        append_date_field (out, "Will-Retry-Until", r->will_retry_until);
    }
}

static gboolean
has_8bit (const char *data, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if ((guchar) data[i] >= 0x80)
      return TRUE;
  return FALSE;
}

char *
smtp_dsn_build (const SmtpDsnInfo *info, GError **error)
{
  g_autoptr(GString) out = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *boundary = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *from = NULL;
  g_autofree char *to = NULL;

  if (info->reporting_mta == NULL || info->to == NULL || info->n_recipients == 0)
    {
      smtp_reply_set_error (error, 451, "4.3.0",
                            "DSN needs reporting_mta, to and at least one recipient");
      return NULL;
    }

  boundary = info->boundary != NULL
             ? g_strdup (info->boundary)
             : g_strdup_printf ("%08X%08X/%s", g_random_int (), g_random_int (), info->reporting_mta);
  message_id = info->message_id != NULL
               ? g_strdup (info->message_id)
               : g_strdup_printf ("<%08x%08x.dsn@%s>", g_random_int (), g_random_int (),
                                  info->reporting_mta);
  from = info->from != NULL ? field_text (info->from)
                            : g_strdup_printf ("MAILER-DAEMON@%s", info->reporting_mta);
  to = field_text (info->to);

  out = g_string_new (NULL);
  g_string_append_printf (out, "From: Mail Delivery System <%s>\r\n", from);
  g_string_append_printf (out, "To: <%s>\r\n", to);
  g_string_append_printf (out, "Subject: %s\r\n",
                          info->kind == SMTP_DSN_FAILURE
                          ? "Undelivered Mail Returned to Sender"
                          : "Delayed Mail (still being retried)");
  append_date_field (out, "Date", info->date != NULL ? info->date : now);
  g_string_append_printf (out, "Message-ID: %s\r\n", message_id);
  g_string_append (out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
  g_string_append_printf (out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                               "\tboundary=\"%s\"\r\n", boundary);
  g_string_append (out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

  g_string_append_printf (out, "--%s\r\n", boundary);
  append_human_part (out, info);
  g_string_append_printf (out, "\r\n--%s\r\n", boundary);
  append_status_part (out, info);

  if (info->original != NULL)
    {
      g_autoptr(GBytes) part = info->ret == SMTP_RET_FULL
                               ? g_bytes_ref (info->original)
                               : smtp_dsn_extract_headers (info->original);
      gsize len;
      const char *data = g_bytes_get_data (part, &len);

      g_string_append_printf (out, "\r\n--%s\r\n", boundary);
      if (info->ret == SMTP_RET_FULL)
        g_string_append (out, "Content-Type: message/rfc822\r\n"
                              "Content-Description: Undelivered Message\r\n");
      else
        g_string_append (out, "Content-Type: text/rfc822-headers\r\n"
                              "Content-Description: Undelivered Message Headers\r\n");
      if (has_8bit (data, len))
        g_string_append (out, "Content-Transfer-Encoding: 8bit\r\n");
      g_string_append (out, "\r\n");
      g_string_append_len (out, data, (gssize) len);
      if (len < 2 || memcmp (data + len - 2, "\r\n", 2) != 0)
        g_string_append (out, "\r\n");
    }
  g_string_append_printf (out, "\r\n--%s--\r\n", boundary);
  return g_string_free (g_steal_pointer (&out), FALSE);
}
