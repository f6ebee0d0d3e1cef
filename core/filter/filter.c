/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The filter chain (posthorn-filter.h): registrations in init order, one
 * context per question, filters asked one at a time with a timeout. */
#include "ph-private.h"

#include <posthorn/posthorn.h>
#include <posthorn/posthorn-filter.h>

#include <string.h>

typedef struct {
  PosthornPlugin *plugin;
  char *name;
  PosthornFilterVTable vtable;  /* copied up to the plugin's struct_size */
  gpointer data;
} FilterEntry;

static GPtrArray *filter_chain;  /* of FilterEntry, registration order */

struct _PosthornFilterContext {
  gint ref;
  PosthornFilterStage stage;
  char *service;
  char *session_id;
  char *peer;
  gboolean tls;
  char *helo;
  char *user;
  char *sender;
  char *recipient;
  GPtrArray *recipients;         /* NULL-terminated */
  guint64 size;
  PosthornMessage *message;
  PosthornMessageInfo *info;
  GString *headers;
  GCancellable *cancellable;     /* for the filters */

  /* the run */
  gboolean running;
  gboolean finished;
  guint next;                    /* index into filter_chain */
  gboolean waiting;              /* a filter's answer is due */
  guint outstanding;             /* stage calls not yet completed */
  char *current;                 /* the filter asked now */
  guint timeout_seconds;
  guint timeout_id;
  guint step_id;
  GCancellable *caller_cancellable;
  gulong caller_cancel_id;
  gboolean caller_gone;          /* the caller's cancellable fired */
  PosthornFilterDoneFunc done;
  gpointer done_data;

  PosthornFilterVerdict verdict;
  guint code;
  char *enhanced;
  char *text;
  char *decided_by;
};

/* ---- registration ---- */

static void
filter_entry_free (FilterEntry *entry)
{
  g_free (entry->name);
  g_free (entry);
}

static gboolean
filter_plugin_is_filter (PosthornPlugin *plugin)
{
  g_autoptr(GArray) list = ph_plugins_list ();
  const char *name = posthorn_plugin_get_name (plugin);

  for (guint i = 0; i < list->len; i++)
    {
      const PhPluginInfo *info = &g_array_index (list, PhPluginInfo, i);

      if (g_strcmp0 (info->name, name) == 0)
        return g_strcmp0 (info->kind, "filter") == 0;
    }
  return FALSE;
}

static FilterEntry *
filter_lookup (PosthornPlugin *plugin, guint *index)
{
  for (guint i = 0; filter_chain != NULL && i < filter_chain->len; i++)
    {
      FilterEntry *entry = filter_chain->pdata[i];

      if (entry->plugin == plugin)
        {
          if (index != NULL)
            *index = i;
          return entry;
        }
    }
  return NULL;
}

gboolean
posthorn_filter_register (PosthornPlugin *plugin, const PosthornFilterVTable *vtable,
                          gpointer data, GError **error)
{
  const char *name = posthorn_plugin_get_name (plugin);
  FilterEntry *entry;

  if (vtable == NULL || vtable->struct_size < G_STRUCT_OFFSET (PosthornFilterVTable, mail))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                   "plugin '%s': filter vtable is too small", name);
      return FALSE;
    }
  if (!filter_plugin_is_filter (plugin))
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                   "plugin '%s': only filter plugins may register a filter", name);
      return FALSE;
    }
  if (filter_lookup (plugin, NULL) != NULL)
    {
      g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_PLUGIN,
                   "plugin '%s': filter already registered", name);
      return FALSE;
    }
  entry = g_new0 (FilterEntry, 1);
  entry->plugin = plugin;
  entry->name = g_strdup (name);
  memcpy (&entry->vtable, vtable, MIN (vtable->struct_size, sizeof entry->vtable));
  entry->vtable.struct_size = sizeof entry->vtable;
  entry->data = data;
  if (filter_chain == NULL)
    filter_chain = g_ptr_array_new_with_free_func ((GDestroyNotify) filter_entry_free);
  g_ptr_array_add (filter_chain, entry);
  return TRUE;
}

void
posthorn_filter_unregister (PosthornPlugin *plugin)
{
  guint index;

  if (filter_lookup (plugin, &index) == NULL)
    return;
  g_ptr_array_remove_index (filter_chain, index);
  if (filter_chain->len == 0)
    g_clear_pointer (&filter_chain, g_ptr_array_unref);
}

static PosthornFilterFunc
filter_entry_func (const FilterEntry *entry, PosthornFilterStage stage)
{
  switch (stage)
    {
    case POSTHORN_FILTER_STAGE_MAIL:
      return entry->vtable.mail;
    case POSTHORN_FILTER_STAGE_RCPT:
      return entry->vtable.rcpt;
    case POSTHORN_FILTER_STAGE_DATA:
      return entry->vtable.data;
    }
  return NULL;
}

gboolean
posthorn_filter_chain_wants (PosthornFilterStage stage)
{
  for (guint i = 0; filter_chain != NULL && i < filter_chain->len; i++)
    if (filter_entry_func (filter_chain->pdata[i], stage) != NULL)
      return TRUE;
  return FALSE;
}

/* ---- the context ---- */

PosthornFilterContext *
posthorn_filter_context_new (PosthornFilterStage stage, PosthornConnection *conn)
{
  PosthornFilterContext *ctx = g_new0 (PosthornFilterContext, 1);

  ctx->ref = 1;
  ctx->stage = stage;
  ctx->recipients = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (ctx->recipients, NULL);
  ctx->sender = g_strdup ("");
  ctx->cancellable = g_cancellable_new ();
  if (conn != NULL)
    {
      PosthornService *service = posthorn_connection_get_service (conn);

      ctx->service = g_strdup (service != NULL ? posthorn_service_get_name (service) : NULL);
      ctx->session_id = g_strdup (posthorn_connection_get_id (conn));
      ctx->peer = g_strdup (posthorn_connection_get_peer_address (conn));
      ctx->tls = posthorn_connection_is_tls (conn);
    }
  return ctx;
}

PosthornFilterContext *
posthorn_filter_context_ref (PosthornFilterContext *ctx)
{
  ctx->ref++;
  return ctx;
}

void
posthorn_filter_context_unref (PosthornFilterContext *ctx)
{
  if (ctx == NULL || --ctx->ref > 0)
    return;
  g_free (ctx->service);
  g_free (ctx->session_id);
  g_free (ctx->peer);
  g_free (ctx->helo);
  g_free (ctx->user);
  g_free (ctx->sender);
  g_free (ctx->recipient);
  g_ptr_array_unref (ctx->recipients);
  g_clear_pointer (&ctx->message, posthorn_message_unref);
  g_clear_pointer (&ctx->info, posthorn_message_info_unref);
  if (ctx->headers != NULL)
    g_string_free (ctx->headers, TRUE);
  g_clear_object (&ctx->cancellable);
  g_free (ctx->current);
  g_free (ctx->enhanced);
  g_free (ctx->text);
  g_free (ctx->decided_by);
  g_free (ctx);
}

static void
replace_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

void
posthorn_filter_context_set_helo (PosthornFilterContext *ctx, const char *helo)
{
  replace_string (&ctx->helo, helo);
}

void
posthorn_filter_context_set_user (PosthornFilterContext *ctx, const char *user)
{
  replace_string (&ctx->user, user);
}

void
posthorn_filter_context_set_sender (PosthornFilterContext *ctx, const char *sender)
{
  replace_string (&ctx->sender, sender != NULL ? sender : "");
}

void
posthorn_filter_context_set_recipient (PosthornFilterContext *ctx, const char *recipient)
{
  replace_string (&ctx->recipient, recipient);
}

void
posthorn_filter_context_add_recipient (PosthornFilterContext *ctx, const char *recipient)
{
  g_ptr_array_insert (ctx->recipients, (gint) ctx->recipients->len - 1, g_strdup (recipient));
}

void
posthorn_filter_context_set_size (PosthornFilterContext *ctx, guint64 size)
{
  ctx->size = size;
}

void
posthorn_filter_context_set_message (PosthornFilterContext *ctx, PosthornMessage *message)
{
  g_clear_pointer (&ctx->message, posthorn_message_unref);
  g_clear_pointer (&ctx->info, posthorn_message_info_unref);
  ctx->message = posthorn_message_ref (message);
  ctx->size = posthorn_message_get_size (message);
}

PosthornFilterStage
posthorn_filter_context_get_stage (PosthornFilterContext *ctx)
{
  return ctx->stage;
}

const char *
posthorn_filter_context_get_service (PosthornFilterContext *ctx)
{
  return ctx->service;
}

const char *
posthorn_filter_context_get_session_id (PosthornFilterContext *ctx)
{
  return ctx->session_id;
}

const char *
posthorn_filter_context_get_peer_address (PosthornFilterContext *ctx)
{
  return ctx->peer;
}

gboolean
posthorn_filter_context_is_tls (PosthornFilterContext *ctx)
{
  return ctx->tls;
}

const char *
posthorn_filter_context_get_helo (PosthornFilterContext *ctx)
{
  return ctx->helo;
}

const char *
posthorn_filter_context_get_user (PosthornFilterContext *ctx)
{
  return ctx->user;
}

const char *
posthorn_filter_context_get_sender (PosthornFilterContext *ctx)
{
  return ctx->sender;
}

const char *
posthorn_filter_context_get_recipient (PosthornFilterContext *ctx)
{
  return ctx->recipient;
}

const char *const *
posthorn_filter_context_get_recipients (PosthornFilterContext *ctx)
{
  return (const char *const *) ctx->recipients->pdata;
}

guint64
posthorn_filter_context_get_size (PosthornFilterContext *ctx)
{
  return ctx->size;
}

PosthornMessage *
posthorn_filter_context_get_message (PosthornFilterContext *ctx)
{
  return ctx->stage == POSTHORN_FILTER_STAGE_DATA ? ctx->message : NULL;
}

PosthornMessageInfo *
posthorn_filter_context_get_message_info (PosthornFilterContext *ctx)
{
  return ctx->stage == POSTHORN_FILTER_STAGE_DATA ? ctx->info : NULL;
}

GCancellable *
posthorn_filter_context_get_cancellable (PosthornFilterContext *ctx)
{
  return ctx->cancellable;
}

static gboolean
filter_header_name_valid (const char *name)
{
  gsize length = name != NULL ? strlen (name) : 0;

  if (length == 0 || length > 76)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (*p < 33 || *p > 126 || *p == ':')
      return FALSE;
  return TRUE;
}

static gboolean
filter_header_value_valid (const char *value)
{
  return value != NULL && g_utf8_validate (value, -1, NULL) &&
         strpbrk (value, "\r\n") == NULL;
}

gboolean
posthorn_filter_context_add_header (PosthornFilterContext *ctx, const char *name,
                                    const char *value)
{
  if (ctx->stage != POSTHORN_FILTER_STAGE_DATA || !ctx->waiting)
    {
      g_warning ("filter %s: header %s added outside a DATA stage call",
                 ctx->current != NULL ? ctx->current : "?", name);
      return FALSE;
    }
  if (!filter_header_name_valid (name) || !filter_header_value_valid (value))
    {
      g_warning ("filter %s: invalid header field name or value", ctx->current);
      return FALSE;
    }
  if (ctx->headers == NULL)
    ctx->headers = g_string_new (NULL);
  g_string_append_printf (ctx->headers, "%s: %s\r\n", name, value);
  return TRUE;
}

/* ---- replies ---- */

static const char *
filter_stage_subject (PosthornFilterStage stage)
{
  switch (stage)
    {
    case POSTHORN_FILTER_STAGE_MAIL:
      return "Sender";
    case POSTHORN_FILTER_STAGE_RCPT:
      return "Recipient";
    case POSTHORN_FILTER_STAGE_DATA:
      break;
    }
  return "Message";
}

static void
filter_set_default_reply (PosthornFilterContext *ctx)
{
  const char *subject = filter_stage_subject (ctx->stage);

  g_free (ctx->enhanced);
  g_free (ctx->text);
  if (ctx->verdict == POSTHORN_FILTER_REJECT)
    {
      ctx->code = 550;
      ctx->enhanced = g_strdup ("5.7.1");
      ctx->text = g_strdup_printf ("%s rejected by policy", subject);
    }
  else
    {
      ctx->code = 451;
      ctx->enhanced = g_strdup ("4.7.1");
      ctx->text = g_strdup_printf ("%s deferred by policy, try again later", subject);
    }
}

/* "550 5.7.1 text", "451 text", "550": code of the verdict's class, an
 * optional enhanced code of the same class, an optional text. */
static gboolean
filter_parse_reply (PosthornFilterContext *ctx, const char *reply)
{
  char klass = ctx->verdict == POSTHORN_FILTER_REJECT ? '5' : '4';
  const char *p = reply;
  const char *rest;
  g_autofree char *enhanced = NULL;

  if (!g_utf8_validate (reply, -1, NULL) || strpbrk (reply, "\r\n") != NULL)
    return FALSE;
  if (p[0] != klass || !g_ascii_isdigit (p[1]) || !g_ascii_isdigit (p[2]) ||
      (p[3] != '\0' && p[3] != ' '))
    return FALSE;
  rest = p[3] == ' ' ? p + 4 : p + 3;
  if (rest[0] >= '2' && rest[0] <= '5' && rest[1] == '.')
    {
      const char *q = rest + 2;
      guint dots = 0;
      gsize digits = 0;

      for (; *q != '\0' && *q != ' '; q++)
        {
          if (*q == '.')
            {
              if (digits == 0)
                return FALSE;
              dots++;
              digits = 0;
            }
          else if (g_ascii_isdigit (*q) && digits < 3)
            digits++;
          else
            return FALSE;
        }
      if (rest[0] != klass || dots != 1 || digits == 0)
        return FALSE;
      enhanced = g_strndup (rest, (gsize) (q - rest));
      rest = *q == ' ' ? q + 1 : q;
    }
  ctx->code = (guint) g_ascii_strtoull (p, NULL, 10);
  g_free (ctx->enhanced);
  ctx->enhanced = g_steal_pointer (&enhanced);
  g_free (ctx->text);
  ctx->text = g_strdup (rest[0] != '\0' ? rest : (ctx->verdict == POSTHORN_FILTER_REJECT
                                                  ? "Rejected by policy"
                                                  : "Deferred by policy, try again later"));
  return TRUE;
}

gboolean
posthorn_filter_context_get_reply (PosthornFilterContext *ctx, guint *code,
                                   const char **enhanced, const char **text)
{
  if (!ctx->finished || ctx->verdict == POSTHORN_FILTER_ACCEPT)
    return FALSE;
  if (code != NULL)
    *code = ctx->code;
  if (enhanced != NULL)
    *enhanced = ctx->enhanced;
  if (text != NULL)
    *text = ctx->text;
  return TRUE;
}

const char *
posthorn_filter_context_get_decided_by (PosthornFilterContext *ctx)
{
  return ctx->finished && ctx->verdict != POSTHORN_FILTER_ACCEPT ? ctx->decided_by : NULL;
}

const char *
posthorn_filter_context_get_headers (PosthornFilterContext *ctx)
{
  if (!ctx->finished || ctx->verdict != POSTHORN_FILTER_ACCEPT || ctx->headers == NULL)
    return NULL;
  return ctx->headers->str;
}

/* ---- running the chain ---- */

static void filter_schedule_step (PosthornFilterContext *ctx);

static void
filter_finish (PosthornFilterContext *ctx, PosthornFilterVerdict verdict, const char *reply)
{
  if (ctx->finished)
    return;
  ctx->finished = TRUE;
  ctx->waiting = FALSE;
  ctx->verdict = verdict;
  g_clear_handle_id (&ctx->timeout_id, g_source_remove);
  g_clear_handle_id (&ctx->step_id, g_source_remove);
  if (ctx->caller_cancel_id != 0)
    g_cancellable_disconnect (ctx->caller_cancellable, ctx->caller_cancel_id);
  ctx->caller_cancel_id = 0;
  g_clear_object (&ctx->caller_cancellable);
  if (verdict != POSTHORN_FILTER_ACCEPT)
    {
      ctx->decided_by = g_strdup (ctx->current);
      if (reply == NULL || !filter_parse_reply (ctx, reply))
        {
          if (reply != NULL)
            g_warning ("filter %s: reply '%s' does not fit the verdict; using the default",
                       ctx->current != NULL ? ctx->current : "?", reply);
          filter_set_default_reply (ctx);
        }
    }
  ctx->done (ctx, verdict, ctx->done_data);
  posthorn_filter_context_unref (ctx);  /* the run's reference */
}

void
posthorn_filter_context_complete (PosthornFilterContext *ctx, PosthornFilterVerdict verdict,
                                  const char *reply)
{
  if (ctx->outstanding == 0)
    {
      g_critical ("filter context completed twice (filter %s)",
                  ctx->current != NULL ? ctx->current : "?");
      return;
    }
  ctx->outstanding--;
  if (ctx->waiting)
    {
      ctx->waiting = FALSE;
      g_clear_handle_id (&ctx->timeout_id, g_source_remove);
      if (verdict != POSTHORN_FILTER_ACCEPT)
        filter_finish (ctx, verdict, reply);
      else
        filter_schedule_step (ctx);
    }
  posthorn_filter_context_unref (ctx);  /* lent to the stage callback */
}

static gboolean
filter_timed_out (gpointer user_data)
{
  PosthornFilterContext *ctx = user_data;
  g_autofree char *reply = NULL;

  ctx->timeout_id = 0;
  ctx->waiting = FALSE;  /* a late answer only releases the context */
  g_warning ("filter %s did not answer within %u s", ctx->current, ctx->timeout_seconds);
  g_cancellable_cancel (ctx->cancellable);
  reply = g_strdup_printf ("451 4.7.1 %s check timed out, try again later",
                           filter_stage_subject (ctx->stage));
  filter_finish (ctx, POSTHORN_FILTER_TEMPFAIL, reply);
  return G_SOURCE_REMOVE;
}

static void
filter_info_parsed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PosthornFilterContext *ctx = user_data;
  g_autoptr(GError) error = NULL;
  PosthornMessageInfo *info = posthorn_worker_finish (result, &error);

  if (!ctx->finished)
    {
      if (info == NULL)
        {
          g_warning ("filters: cannot parse the message: %s", error->message);
          filter_finish (ctx, POSTHORN_FILTER_TEMPFAIL, "451 4.3.0 Local error in processing");
        }
      else
        {
          ctx->info = g_steal_pointer (&info);
          filter_schedule_step (ctx);
        }
    }
  g_clear_pointer (&info, posthorn_message_info_unref);
  posthorn_filter_context_unref (ctx);
}

static gpointer
filter_info_parse_run (gpointer data, GCancellable *cancellable, GError **error)
{
  return posthorn_message_info_parse (data, error);
}

static gboolean
filter_step (gpointer user_data)
{
  PosthornFilterContext *ctx = user_data;

  ctx->step_id = 0;
  if (ctx->caller_gone)
    {
      filter_finish (ctx, POSTHORN_FILTER_TEMPFAIL, NULL);
      return G_SOURCE_REMOVE;
    }
  while (filter_chain != NULL && ctx->next < filter_chain->len)
    {
      FilterEntry *entry = filter_chain->pdata[ctx->next];
      PosthornFilterFunc func = filter_entry_func (entry, ctx->stage);

      if (func == NULL)
        {
          ctx->next++;
          continue;
        }
      if (ctx->stage == POSTHORN_FILTER_STAGE_DATA && ctx->message != NULL && ctx->info == NULL)
        {
          posthorn_worker_run (filter_info_parse_run, posthorn_message_ref (ctx->message),
                               (GDestroyNotify) posthorn_message_unref,
                               (GDestroyNotify) posthorn_message_info_unref, NULL,
                               filter_info_parsed, posthorn_filter_context_ref (ctx));
          return G_SOURCE_REMOVE;
        }
      ctx->next++;
      replace_string (&ctx->current, entry->name);
      ctx->waiting = TRUE;
      ctx->outstanding++;
      /* Not g_timeout_add_seconds(): it rounds to the next whole second of a
       * shared clock and may fire early; a filter gets its full time. */
      ctx->timeout_id = g_timeout_add ((guint) MIN (ctx->timeout_seconds, G_MAXUINT / 1000) * 1000,
                                       filter_timed_out, ctx);
      func (posthorn_filter_context_ref (ctx), entry->data);
      return G_SOURCE_REMOVE;
    }
  filter_finish (ctx, POSTHORN_FILTER_ACCEPT, NULL);
  return G_SOURCE_REMOVE;
}

static void
filter_schedule_step (PosthornFilterContext *ctx)
{
  if (!ctx->finished && ctx->step_id == 0)
    ctx->step_id = g_idle_add (filter_step, ctx);
}

static void
filter_caller_cancelled (GCancellable *cancellable, gpointer user_data)
{
  PosthornFilterContext *ctx = user_data;

  /* ends the run from the main loop, not from inside the signal */
  ctx->caller_gone = TRUE;
  ctx->waiting = FALSE;
  g_clear_handle_id (&ctx->timeout_id, g_source_remove);
  g_cancellable_cancel (ctx->cancellable);
  g_clear_handle_id (&ctx->step_id, g_source_remove);
  ctx->step_id = g_idle_add (filter_step, ctx);
}

void
posthorn_filter_context_run (PosthornFilterContext *ctx, guint timeout_seconds,
                             GCancellable *cancellable, PosthornFilterDoneFunc done,
                             gpointer user_data)
{
  g_return_if_fail (!ctx->running);
  ctx->running = TRUE;
  ctx->timeout_seconds = MAX (timeout_seconds, 1);
  ctx->done = done;
  ctx->done_data = user_data;
  posthorn_filter_context_ref (ctx);  /* the run's reference */
  ctx->step_id = g_idle_add (filter_step, ctx);
  if (cancellable != NULL)
    {
      ctx->caller_cancellable = g_object_ref (cancellable);
      ctx->caller_cancel_id = g_cancellable_connect (cancellable,
                                                     G_CALLBACK (filter_caller_cancelled),
                                                     ctx, NULL);
    }
}
