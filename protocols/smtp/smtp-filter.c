/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The session's side of the filter chain (posthorn-filter.h): a context
 * per MAIL, RCPT and end of data, input paused while the chain runs, the
 * refusal sent as the filter worded it, and the header fields filters
 * added put into the message before it is stored or queued. */
#include "smtp-session.h"

#include <string.h>

typedef struct {
  SmtpSession *session;
  SmtpFilterDone done;
  SmtpFilterDataDone data_done;
  gpointer user_data;
  PosthornMessage *message;
} SmtpFilterCall;

static void
smtp_filter_call_free (SmtpFilterCall *call)
{
  smtp_session_unref (call->session);
  g_clear_pointer (&call->message, posthorn_message_unref);
  g_free (call);
}

static PosthornFilterContext *
smtp_filter_context_new (SmtpSession *session, PosthornFilterStage stage)
{
  PosthornFilterContext *ctx = posthorn_filter_context_new (stage, session->conn);
  g_autofree char *sender = NULL;

  posthorn_filter_context_set_helo (ctx, session->helo);
  posthorn_filter_context_set_user (ctx, session->user);
  if (session->sender != NULL)
    {
      sender = smtp_path_to_mailbox (session->sender);
      posthorn_filter_context_set_sender (ctx, sender);
    }
  for (guint i = 0; session->rcpts != NULL && i < session->rcpts->len; i++)
    posthorn_filter_context_add_recipient (ctx, ((SmtpRecipient *) session->rcpts->pdata[i])->mailbox);
  return ctx;
}

/* The filter's refusal as an SMTP_REPLY_ERROR; logged. */
static GError *
smtp_filter_refusal (SmtpSession *session, PosthornFilterContext *ctx,
                     PosthornFilterVerdict verdict)
{
  GError *error = NULL;
  guint code = verdict == POSTHORN_FILTER_REJECT ? 550 : 451;
  const char *enhanced = NULL;
  const char *text = NULL;

  posthorn_filter_context_get_reply (ctx, &code, &enhanced, &text);
  if (enhanced == NULL)
    enhanced = verdict == POSTHORN_FILTER_REJECT ? "5.7.1" : "4.7.1";
  smtp_reply_set_error (&error, code, enhanced, "%s", text != NULL ? text : "Refused by policy");
  if (session->conn != NULL)
    {
      posthorn_connection_log (session->conn, G_LOG_LEVEL_INFO, "%s by filter %s: %u %s %s",
                               verdict == POSTHORN_FILTER_REJECT ? "rejected" : "deferred",
                               posthorn_filter_context_get_decided_by (ctx) != NULL
                                 ? posthorn_filter_context_get_decided_by (ctx) : "?",
                               code, enhanced, text);
      posthorn_connection_count (session->conn,
                                 verdict == POSTHORN_FILTER_REJECT ? "filter_rejected"
                                                                   : "filter_deferred", 1);
    }
  return error;
}

/* ---- MAIL and RCPT ---- */

static void
smtp_filter_envelope_done (PosthornFilterContext *ctx, PosthornFilterVerdict verdict,
                           gpointer user_data)
{
  SmtpFilterCall *call = user_data;
  SmtpSession *session = call->session;

  smtp_session_resume (session);
  if (verdict != POSTHORN_FILTER_ACCEPT)
    {
      g_autoptr(GError) refusal = smtp_filter_refusal (session, ctx, verdict);
      smtp_session_reply_error (session, refusal);
    }
  call->done (session, verdict == POSTHORN_FILTER_ACCEPT, call->user_data);
  smtp_filter_call_free (call);
  posthorn_filter_context_unref (ctx);
}

static void
smtp_filter_run (SmtpSession *session, PosthornFilterContext *ctx, SmtpFilterCall *call,
                 PosthornFilterDoneFunc done)
{
  call->session = smtp_session_ref (session);
  smtp_session_pause (session);
  posthorn_filter_context_run (ctx, session->settings->filter_timeout, session->cancellable,
                               done, call);
}

void
smtp_filter_mail (SmtpSession *session, const char *sender, guint64 size,
                  SmtpFilterDone done, gpointer user_data)
{
  PosthornFilterContext *ctx;
  SmtpFilterCall *call;

  if (!posthorn_filter_chain_wants (POSTHORN_FILTER_STAGE_MAIL))
    {
      done (session, TRUE, user_data);
      return;
    }
  ctx = smtp_filter_context_new (session, POSTHORN_FILTER_STAGE_MAIL);
  posthorn_filter_context_set_sender (ctx, sender);
  posthorn_filter_context_set_size (ctx, size);
  call = g_new0 (SmtpFilterCall, 1);
  call->done = done;
  call->user_data = user_data;
  smtp_filter_run (session, ctx, call, smtp_filter_envelope_done);
}

void
smtp_filter_rcpt (SmtpSession *session, const char *recipient,
                  SmtpFilterDone done, gpointer user_data)
{
  PosthornFilterContext *ctx;
  SmtpFilterCall *call;

  if (!posthorn_filter_chain_wants (POSTHORN_FILTER_STAGE_RCPT))
    {
      done (session, TRUE, user_data);
      return;
    }
  ctx = smtp_filter_context_new (session, POSTHORN_FILTER_STAGE_RCPT);
  posthorn_filter_context_set_recipient (ctx, recipient);
  call = g_new0 (SmtpFilterCall, 1);
  call->done = done;
  call->user_data = user_data;
  smtp_filter_run (session, ctx, call, smtp_filter_envelope_done);
}

/* ---- end of data ---- */

typedef struct {
  PosthornMessage *message;
  guint64 offset;
  char *headers;
} SmtpHeaderInsert;

static void
smtp_header_insert_free (SmtpHeaderInsert *insert)
{
  posthorn_message_unref (insert->message);
  g_free (insert->headers);
  g_free (insert);
}

/* A copy of the message with the header fields at @offset (on a worker:
 * reads a possibly file-backed message). */
static gpointer
smtp_header_insert_run (gpointer data, GCancellable *cancellable, GError **error)
{
  SmtpHeaderInsert *insert = data;
  g_autoptr(PosthornMessageWriter) writer = posthorn_message_writer_new (NULL, 0);
  guint64 offset = 0;
  gboolean inserted = FALSE;
  char buf[65536];

  for (;;)
    {
      gsize want = sizeof buf;
      gssize n;

      if (!inserted && offset + want > insert->offset)
        want = (gsize) (insert->offset - offset);
      if (!inserted && want == 0)
        {
          if (!posthorn_message_writer_write (writer, insert->headers, strlen (insert->headers),
                                              error))
            return NULL;
          inserted = TRUE;
          continue;
        }
      n = posthorn_message_read (insert->message, offset, buf, want, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      if (!posthorn_message_writer_write (writer, buf, (gsize) n, error))
        return NULL;
      offset += (guint64) n;
    }
  if (!inserted &&
      !posthorn_message_writer_write (writer, insert->headers, strlen (insert->headers), error))
    return NULL;
  return posthorn_message_writer_finish (writer, error);
}

static void
smtp_filter_headers_inserted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SmtpFilterCall *call = user_data;
  SmtpSession *session = call->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) message = posthorn_worker_finish (result, &error);

  smtp_session_resume (session);
  if (message == NULL)
    {
      g_autoptr(GError) refusal = NULL;

      g_warning ("%s: cannot add filter header fields: %s", session->txn_id, error->message);
      smtp_reply_set_error (&refusal, 451, "4.3.0", "Local error in processing");
      call->data_done (session, NULL, refusal, call->user_data);
    }
  else
    call->data_done (session, message, NULL, call->user_data);
  smtp_filter_call_free (call);
}

static void
smtp_filter_data_done (PosthornFilterContext *ctx, PosthornFilterVerdict verdict,
                       gpointer user_data)
{
  SmtpFilterCall *call = user_data;
  SmtpSession *session = call->session;
  const char *headers;

  if (verdict != POSTHORN_FILTER_ACCEPT)
    {
      g_autoptr(GError) refusal = smtp_filter_refusal (session, ctx, verdict);

      smtp_session_resume (session);
      call->data_done (session, NULL, refusal, call->user_data);
      smtp_filter_call_free (call);
    }
  else if ((headers = posthorn_filter_context_get_headers (ctx)) != NULL)
    {
      SmtpHeaderInsert *insert = g_new0 (SmtpHeaderInsert, 1);

      /* input stays paused until the copy is made */
      insert->message = posthorn_message_ref (call->message);
      insert->offset = session->filter_header_offset;
      insert->headers = g_strdup (headers);
      posthorn_worker_run (smtp_header_insert_run, insert,
                           (GDestroyNotify) smtp_header_insert_free,
                           (GDestroyNotify) posthorn_message_unref, NULL,
                           smtp_filter_headers_inserted, call);
    }
  else
    {
      smtp_session_resume (session);
      call->data_done (session, call->message, NULL, call->user_data);
      smtp_filter_call_free (call);
    }
  posthorn_filter_context_unref (ctx);
}

void
smtp_filter_data (SmtpSession *session, PosthornMessage *message,
                  SmtpFilterDataDone done, gpointer user_data)
{
  PosthornFilterContext *ctx;
  SmtpFilterCall *call;

  if (!posthorn_filter_chain_wants (POSTHORN_FILTER_STAGE_DATA))
    {
      done (session, message, NULL, user_data);
      return;
    }
  ctx = smtp_filter_context_new (session, POSTHORN_FILTER_STAGE_DATA);
  posthorn_filter_context_set_message (ctx, message);
  call = g_new0 (SmtpFilterCall, 1);
  call->data_done = done;
  call->user_data = user_data;
  call->message = posthorn_message_ref (message);
  smtp_filter_run (session, ctx, call, smtp_filter_data_done);
}
