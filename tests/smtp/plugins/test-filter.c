/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-filter: a filter plugin for the filter ABI tests. What it answers
 * depends on the transaction, so that one daemon covers every case:
 *
 *   MAIL FROM:<hang@...>      never answers (until its context is cancelled)
 *   MAIL FROM:<slow@...>      accepts after 50 ms
 *   MAIL FROM:<tempfail@...>  TEMPFAIL "451 4.7.9 Come back later"
 *   MAIL FROM:<badreply@...>  REJECT with "250 ok" (does not fit: default reply)
 *   MAIL FROM:<noenh@...>     REJECT "554 No enhanced code here"
 *   RCPT TO:<u13@...>         REJECT "550 5.7.1 u13 is refused by test-filter"
 *   DATA, Subject "reject me" REJECT "554 5.7.0 Content refused"
 *   DATA otherwise            adds "X-Test-Filter: rcpts=N helo=H subject=S",
 *                             and "X-Test-Filter-Invalid: refused" when the
 *                             core refused an invalid field first. */
#include <posthorn/posthorn.h>

#include <string.h>

static gboolean
sender_is (PosthornFilterContext *ctx, const char *local)
{
  const char *sender = posthorn_filter_context_get_sender (ctx);
  gsize n = strlen (local);

  return strncmp (sender, local, n) == 0 && sender[n] == '@';
}

static void
hang_cancelled (GCancellable *cancellable, gpointer user_data)
{
  PosthornFilterContext *ctx = user_data;

  /* the verdict is ignored now; complete() releases the context */
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static gboolean
slow_accept (gpointer user_data)
{
  posthorn_filter_context_complete (user_data, POSTHORN_FILTER_ACCEPT, NULL);
  return G_SOURCE_REMOVE;
}

static void
test_filter_mail (PosthornFilterContext *ctx, gpointer data)
{
  if (sender_is (ctx, "hang"))
    g_signal_connect (posthorn_filter_context_get_cancellable (ctx), "cancelled",
                      G_CALLBACK (hang_cancelled), ctx);
  else if (sender_is (ctx, "slow"))
    g_timeout_add (50, slow_accept, ctx);
  else if (sender_is (ctx, "tempfail"))
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_TEMPFAIL, "451 4.7.9 Come back later");
  else if (sender_is (ctx, "badreply"))
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, "250 ok");
  else if (sender_is (ctx, "noenh"))
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, "554 No enhanced code here");
  else
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static void
test_filter_rcpt (PosthornFilterContext *ctx, gpointer data)
{
  if (g_str_has_prefix (posthorn_filter_context_get_recipient (ctx), "u13@"))
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT,
                                      "550 5.7.1 u13 is refused by test-filter");
  else
    posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static void
test_filter_data (PosthornFilterContext *ctx, gpointer data)
{
  PosthornMessageInfo *info = posthorn_filter_context_get_message_info (ctx);
  const char *subject = posthorn_message_info_get_subject (info);
  const char *const *rcpts = posthorn_filter_context_get_recipients (ctx);
  g_autofree char *value = NULL;

  if (g_strcmp0 (subject, "reject me") == 0)
    {
      posthorn_filter_context_complete (ctx, POSTHORN_FILTER_REJECT, "554 5.7.0 Content refused");
      return;
    }
  if (!posthorn_filter_context_add_header (ctx, "Bad:Name", "x") &&
      !posthorn_filter_context_add_header (ctx, "X-Bad", "line\r\nInjected: yes"))
    posthorn_filter_context_add_header (ctx, "X-Test-Filter-Invalid", "refused");
  value = g_strdup_printf ("rcpts=%u helo=%s subject=%s", g_strv_length ((char **) rcpts),
                           posthorn_filter_context_get_helo (ctx),
                           subject != NULL ? subject : "(none)");
  posthorn_filter_context_add_header (ctx, "X-Test-Filter", value);
  posthorn_filter_context_complete (ctx, POSTHORN_FILTER_ACCEPT, NULL);
}

static const PosthornFilterVTable test_filter_vtable = {
  .struct_size = sizeof (PosthornFilterVTable),
  .mail = test_filter_mail,
  .rcpt = test_filter_rcpt,
  .data = test_filter_data,
};

static gboolean
test_filter_init (PosthornPlugin *plugin, GError **error)
{
  return posthorn_filter_register (plugin, &test_filter_vtable, NULL, error);
}

static void
test_filter_shutdown (PosthornPlugin *plugin)
{
  posthorn_filter_unregister (plugin);
}

POSTHORN_PLUGIN_DEFINE (test_filter, "test-filter", POSTHORN_PLUGIN_KIND_FILTER, "1.0",
                        "LGPL-2.1-or-later", "filter ABI test plugin", NULL,
                        test_filter_init, test_filter_shutdown)
