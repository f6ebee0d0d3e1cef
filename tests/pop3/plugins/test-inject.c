/* test-inject: a line protocol that puts mail into the store and looks at
 * it the way another client (SMTP delivery, an IMAP session) would, for
 * the POP3 tests and benchmark. Service "inject"; [test-inject] listen
 * (default 127.0.0.1:0).
 *
 *   APPEND user size     "+GO", then exactly size bytes of message; the
 *                        message is delivered to user's INBOX:
 *                        +OK <uidvalidity> <uid>
 *   FLAGS user           +OK uid:flags ... for INBOX (flags letters:
 *                        S seen, D deleted, F flagged; "-" for none),
 *                        read without claiming \Recent
 *   STATUS user          +OK <messages> <recent> <unseen>
 *   SETDELETED user uid  sets \Deleted like an IMAP STORE: +OK
 *   EXPUNGE user uid     sets \Deleted and expunges that UID: +OK
 * Errors: -ERR <text>.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <posthorn/posthorn.h>

#include <stdlib.h>
#include <string.h>

typedef enum { OP_FLAGS, OP_STATUS, OP_SETDELETED, OP_EXPUNGE } InjectOp;

typedef struct {
  PosthornConnection *conn;
  PosthornMessageWriter *writer;
  char *append_user;
} InjectSession;

typedef struct {
  PosthornConnection *conn;
  InjectOp op;
  guint32 uid;
  PosthornStoreUser *user;
} InjectJob;

static void
inject_session_free (gpointer data)
{
  InjectSession *session = data;

  g_clear_pointer (&session->writer, posthorn_message_writer_free);
  g_free (session->append_user);
  g_free (session);
}

static void
inject_job_done (InjectJob *job, const GError *error, const char *reply)
{
  if (error != NULL)
    posthorn_connection_printf (job->conn, "-ERR %s\r\n", error->message);
  else
    posthorn_connection_printf (job->conn, "+OK%s%s\r\n", reply != NULL ? " " : "",
                                reply != NULL ? reply : "");
  posthorn_connection_resume_input (job->conn);
  posthorn_connection_unref (job->conn);
  g_clear_pointer (&job->user, posthorn_store_user_unref);
  g_free (job);
}

static void
inject_delivered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);
  g_autofree char *reply = NULL;

  /* The first delivery to a user also creates its mailboxes. */
  for (guint i = 0; changes != NULL && i < posthorn_store_changes_get_count (changes); i++)
    {
      const PosthornStoreChange *change = posthorn_store_changes_get (changes, i);

      if (change->kind == POSTHORN_EVENT_MESSAGE_NEW)
        reply = g_strdup_printf ("%u %u", change->uidvalidity, change->uid);
    }
  inject_job_done (job, error, reply);
}

static void
inject_view_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMailboxView) view = posthorn_mailbox_view_open_finish (result, &error);
  g_autoptr(GString) reply = g_string_new (NULL);

  for (guint seq = 1; view != NULL && seq <= posthorn_mailbox_view_get_count (view); seq++)
    {
      guint32 flags = posthorn_mailbox_view_get_flags (view, seq);

      g_string_append_printf (reply, "%s%u:%s%s%s%s", seq > 1 ? " " : "",
                              posthorn_mailbox_view_get_uid (view, seq),
                              flags & POSTHORN_MESSAGE_SEEN ? "S" : "",
                              flags & POSTHORN_MESSAGE_DELETED ? "D" : "",
                              flags & POSTHORN_MESSAGE_FLAGGED ? "F" : "",
                              (flags & (POSTHORN_MESSAGE_SEEN | POSTHORN_MESSAGE_DELETED |
                                        POSTHORN_MESSAGE_FLAGGED)) == 0 ? "-" : "");
    }
  inject_job_done (job, error, reply->str);
}

static void
inject_status_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;
  PosthornMailboxStatus status;
  g_autofree char *reply = NULL;

  if (posthorn_store_status_finish (result, &status, &error))
    reply = g_strdup_printf ("%u %u %u", status.messages, status.recent, status.unseen);
  inject_job_done (job, error, reply);
}

static void
inject_expunged (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  inject_job_done (job, error, NULL);
}

static void
inject_flagged (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornStoreChanges) changes = posthorn_store_changes_finish (result, &error);

  if (changes == NULL || job->op == OP_SETDELETED)
    {
      inject_job_done (job, error, NULL);
      return;
    }
  posthorn_store_expunge_async (job->user, "INBOX", 0, &job->uid, 1, NULL, inject_expunged,
                                job);
}

static void
inject_user_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  InjectJob *job = user_data;
  g_autoptr(GError) error = NULL;

  job->user = posthorn_store_user_open_finish (result, &error);
  if (job->user == NULL)
    {
      inject_job_done (job, error, NULL);
      return;
    }
  switch (job->op)
    {
    case OP_FLAGS:
      posthorn_mailbox_view_open_async (job->user, "INBOX", POSTHORN_VIEW_READ_ONLY, NULL,
                                        inject_view_done, job);
      break;
    case OP_STATUS:
      posthorn_store_status_async (job->user, "INBOX", NULL, inject_status_done, job);
      break;
    case OP_SETDELETED:
    case OP_EXPUNGE:
    default:
      posthorn_store_store_flags_async (job->user, "INBOX", 0, &job->uid, 1,
                                        POSTHORN_FLAGS_ADD, POSTHORN_MESSAGE_DELETED, NULL, 0,
                                        NULL, inject_flagged, job);
      break;
    }
}

static InjectJob *
inject_job_new (PosthornConnection *conn, InjectOp op)
{
  InjectJob *job = g_new0 (InjectJob, 1);

  job->conn = posthorn_connection_ref (conn);
  job->op = op;
  posthorn_connection_pause_input (conn);
  return job;
}

static void
inject_line (PosthornConnection *conn, const char *line, gsize length,
             PosthornLineEnd end, gpointer user_data)
{
  InjectSession *session = user_data;
  g_auto(GStrv) words = g_strsplit (line, " ", -1);
  guint n = g_strv_length (words);
  static const struct { const char *name; InjectOp op; guint args; } ops[] = {
    { "FLAGS", OP_FLAGS, 2 }, { "STATUS", OP_STATUS, 2 },
    { "SETDELETED", OP_SETDELETED, 3 }, { "EXPUNGE", OP_EXPUNGE, 3 },
  };

  if (n == 3 && strcmp (words[0], "APPEND") == 0)
    {
      session->append_user = g_strdup (words[1]);
      session->writer = posthorn_message_writer_new (NULL, 0);
      posthorn_connection_write_string (conn, "+GO\r\n");
      posthorn_connection_read_bytes (conn, g_ascii_strtoull (words[2], NULL, 10));
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    if (n == ops[i].args && strcmp (words[0], ops[i].name) == 0)
      {
        InjectJob *job = inject_job_new (conn, ops[i].op);

        if (n == 3)
          job->uid = (guint32) g_ascii_strtoull (words[2], NULL, 10);
        posthorn_store_user_open_async (words[1], NULL, NULL, inject_user_done, job);
        return;
      }
  posthorn_connection_write_string (conn, "-ERR unknown command\r\n");
}

static void
inject_bytes (PosthornConnection *conn, const guint8 *data, gsize length, gboolean last,
              gpointer user_data)
{
  InjectSession *session = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) message = NULL;
  const char *users[2] = { session->append_user, NULL };
  InjectJob *job;

  if (!posthorn_message_writer_write (session->writer, data, length, &error))
    g_error ("test-inject: %s", error->message);
  if (!last)
    return;
  message = posthorn_message_writer_finish (session->writer, &error);
  g_assert_no_error (error);
  g_clear_pointer (&session->writer, posthorn_message_writer_free);
  job = inject_job_new (conn, OP_STATUS);
  posthorn_store_deliver_async (users, NULL, message, 0, NULL, NULL, inject_delivered, job);
  g_clear_pointer (&session->append_user, g_free);
}

static void
inject_closed (PosthornConnection *conn, gpointer user_data)
{
}

static const PosthornConnectionHandler inject_handler = {
  .struct_size = sizeof (PosthornConnectionHandler),
  .line = inject_line,
  .bytes = inject_bytes,
  .closed = inject_closed,
};

static void
inject_accept (PosthornService *service, PosthornConnection *conn, gpointer user_data)
{
  InjectSession *session = g_new0 (InjectSession, 1);

  session->conn = conn;
  posthorn_connection_set_handler (conn, &inject_handler, session, inject_session_free);
  posthorn_connection_set_idle_timeout (conn, 0);
  posthorn_connection_write_string (conn, "+OK inject ready\r\n");
}

static const PosthornServiceVTable inject_vtable = {
  .struct_size = sizeof (PosthornServiceVTable),
  .accept = inject_accept,
};

static gboolean
inject_init (PosthornPlugin *plugin, GError **error)
{
  PosthornService *service = posthorn_service_new (plugin, "inject", &inject_vtable, NULL);

  return posthorn_service_listen_config (service, "listen", "127.0.0.1:0",
                                         POSTHORN_LISTEN_PLAIN, error);
}

POSTHORN_PLUGIN_DEFINE (test_inject, "test-inject", POSTHORN_PLUGIN_KIND_PROTOCOL,
                        "1.0", "LGPL-2.1-or-later",
                        "puts mail into the store, for the POP3 tests and benchmark",
                        NULL, inject_init, NULL)
