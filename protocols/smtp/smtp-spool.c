/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-spool.h"

#include <gio/gio.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void
smtp_spool_rcpt_free (SmtpSpoolRcpt *rcpt)
{
  g_free (rcpt->mailbox);
  g_free (rcpt->orcpt_type);
  g_free (rcpt->orcpt);
  g_free (rcpt->status);
  g_free (rcpt->diagnostic);
  g_free (rcpt->remote_mta);
  g_free (rcpt);
}

SmtpEnvelope *
smtp_envelope_new (const char *id)
{
  SmtpEnvelope *env = g_new0 (SmtpEnvelope, 1);

  env->id = g_strdup (id);
  env->sender = g_strdup ("");
  env->rcpts = g_ptr_array_new_with_free_func ((GDestroyNotify) smtp_spool_rcpt_free);
  return env;
}

void
smtp_envelope_free (SmtpEnvelope *env)
{
  if (env == NULL)
    return;
  g_free (env->id);
  g_free (env->sender);
  g_free (env->envid);
  g_ptr_array_unref (env->rcpts);
  g_free (env);
}

SmtpSpoolRcpt *
smtp_envelope_add_rcpt (SmtpEnvelope *env, const char *mailbox)
{
  SmtpSpoolRcpt *rcpt = g_new0 (SmtpSpoolRcpt, 1);

  rcpt->mailbox = g_strdup (mailbox);
  g_ptr_array_add (env->rcpts, rcpt);
  return rcpt;
}

const char *
smtp_mailbox_domain (const char *mailbox)
{
  const char *at = strrchr (mailbox, '@');

  return at != NULL ? at + 1 : "";
}

static const char *const body_names[] = { "", "7bit", "8bitmime", "binarymime" };
static const char *const ret_names[] = { "", "full", "hdrs" };
static const char *const state_names[] = { "pending", "delivered", "failed" };

static int
name_index (const char *const *names, gsize n, const char *value)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (names[i], value) == 0)
      return (int) i;
  return -1;
}

static void
set_optional (GKeyFile *kf, const char *group, const char *key, const char *value)
{
  if (value != NULL)
    g_key_file_set_string (kf, group, key, value);
}

char *
smtp_envelope_serialize (const SmtpEnvelope *env, gsize *length)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  g_key_file_set_string (kf, "envelope", "sender", env->sender);
  g_key_file_set_string (kf, "envelope", "body", body_names[env->body]);
  g_key_file_set_boolean (kf, "envelope", "smtputf8", env->smtputf8);
  g_key_file_set_string (kf, "envelope", "ret", ret_names[env->ret]);
  set_optional (kf, "envelope", "envid", env->envid);
  g_key_file_set_int64 (kf, "envelope", "arrival", env->arrival);
  g_key_file_set_int64 (kf, "envelope", "next_attempt", env->next_attempt);
  g_key_file_set_uint64 (kf, "envelope", "attempts", env->attempts);
  g_key_file_set_boolean (kf, "envelope", "delay_warned", env->delay_warned);
  for (guint i = 0; i < env->rcpts->len; i++)
    {
      const SmtpSpoolRcpt *rcpt = g_ptr_array_index (env->rcpts, i);
      g_autofree char *group = g_strdup_printf ("rcpt %u", i);

      g_key_file_set_string (kf, group, "mailbox", rcpt->mailbox);
      g_key_file_set_uint64 (kf, group, "notify", rcpt->notify);
      set_optional (kf, group, "orcpt_type", rcpt->orcpt_type);
      set_optional (kf, group, "orcpt", rcpt->orcpt);
      g_key_file_set_string (kf, group, "state", state_names[rcpt->state]);
      set_optional (kf, group, "status", rcpt->status);
      set_optional (kf, group, "diagnostic", rcpt->diagnostic);
      set_optional (kf, group, "remote_mta", rcpt->remote_mta);
      g_key_file_set_boolean (kf, group, "reported", rcpt->reported);
    }
  return g_key_file_to_data (kf, length, NULL);
}

static char *
get_optional (GKeyFile *kf, const char *group, const char *key)
{
  return g_key_file_get_string (kf, group, key, NULL);
}

SmtpEnvelope *
smtp_envelope_parse (const char *id, const char *text, gsize length, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(SmtpEnvelope) env = smtp_envelope_new (id);
  g_autofree char *body = NULL;
  g_autofree char *ret = NULL;
  int index;

  if (!g_key_file_load_from_data (kf, text, length, G_KEY_FILE_NONE, error))
    return NULL;
  g_free (env->sender);
  if ((env->sender = g_key_file_get_string (kf, "envelope", "sender", error)) == NULL ||
      (body = g_key_file_get_string (kf, "envelope", "body", error)) == NULL ||
      (ret = g_key_file_get_string (kf, "envelope", "ret", error)) == NULL)
    return NULL;
  if ((index = name_index (body_names, G_N_ELEMENTS (body_names), body)) < 0 ||
      name_index (ret_names, G_N_ELEMENTS (ret_names), ret) < 0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "bad body or ret value");
      return NULL;
    }
  env->body = (SmtpBody) index;
  env->ret = (SmtpRet) name_index (ret_names, G_N_ELEMENTS (ret_names), ret);
  env->smtputf8 = g_key_file_get_boolean (kf, "envelope", "smtputf8", NULL);
  env->envid = get_optional (kf, "envelope", "envid");
  env->arrival = g_key_file_get_int64 (kf, "envelope", "arrival", error);
  if (error != NULL && *error != NULL)
    return NULL;
  env->next_attempt = g_key_file_get_int64 (kf, "envelope", "next_attempt", NULL);
  env->attempts = (guint) g_key_file_get_uint64 (kf, "envelope", "attempts", NULL);
  env->delay_warned = g_key_file_get_boolean (kf, "envelope", "delay_warned", NULL);

  for (guint i = 0;; i++)
    {
      g_autofree char *group = g_strdup_printf ("rcpt %u", i);
      g_autofree char *mailbox = NULL;
      g_autofree char *state = NULL;
      SmtpSpoolRcpt *rcpt;

      if (!g_key_file_has_group (kf, group))
        break;
      if ((mailbox = g_key_file_get_string (kf, group, "mailbox", error)) == NULL ||
          (state = g_key_file_get_string (kf, group, "state", error)) == NULL)
        return NULL;
      if ((index = name_index (state_names, G_N_ELEMENTS (state_names), state)) < 0)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "bad recipient state '%s'", state);
          return NULL;
        }
      rcpt = smtp_envelope_add_rcpt (env, mailbox);
      rcpt->state = (SmtpRcptState) index;
      rcpt->notify = (SmtpNotify) g_key_file_get_uint64 (kf, group, "notify", NULL);
      rcpt->orcpt_type = get_optional (kf, group, "orcpt_type");
      rcpt->orcpt = get_optional (kf, group, "orcpt");
      rcpt->status = get_optional (kf, group, "status");
      rcpt->diagnostic = get_optional (kf, group, "diagnostic");
      rcpt->remote_mta = get_optional (kf, group, "remote_mta");
      rcpt->reported = g_key_file_get_boolean (kf, group, "reported", NULL);
    }
  if (env->rcpts->len == 0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND, "no recipients");
      return NULL;
    }
  return g_steal_pointer (&env);
}

char *
smtp_spool_new_id (void)
{
  return g_strdup_printf ("%08X%08X", g_random_int (), g_random_int ());
}

gboolean
smtp_spool_id_valid (const char *id)
{
  if (id == NULL || strlen (id) != 16)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_islower (*p))
      return FALSE;
  return TRUE;
}

/* ---- files ---- */

static gboolean
set_io_error (GError **error, const char *what, const char *path)
{
  int saved = errno;

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s %s: %s", what, path,
               g_strerror (saved));
  return FALSE;
}

gboolean
smtp_spool_ensure_dir (const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_io_error (error, "cannot create", dir);
  return TRUE;
}

static gboolean
sync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return set_io_error (error, "cannot open", dir);
  if (fsync (fd) != 0)
    {
      close (fd);
      return set_io_error (error, "cannot sync", dir);
    }
  close (fd);
  return TRUE;
}

gboolean
smtp_spool_write_file (const char *dir, const char *name, const void *data, gsize length,
                       GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  const char *p = data;
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    return set_io_error (error, "cannot create", tmp);
  while (length > 0)
    {
      ssize_t n = write (fd, p, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          close (fd);
          g_unlink (tmp);
          return set_io_error (error, "cannot write", tmp);
        }
      p += n;
      length -= (gsize) n;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      g_unlink (tmp);
      return set_io_error (error, "cannot sync", tmp);
    }
  if (g_rename (tmp, path) != 0)
    {
      g_unlink (tmp);
      return set_io_error (error, "cannot rename", tmp);
    }
  return sync_dir (dir, error);
}

gboolean
smtp_spool_write_envelope (const char *dir, const SmtpEnvelope *env, GError **error)
{
  gsize length;
  g_autofree char *text = smtp_envelope_serialize (env, &length);
  g_autofree char *name = g_strconcat (env->id, ".env", NULL);

  return smtp_spool_write_file (dir, name, text, length, error);
}

SmtpEnvelope *
smtp_spool_read_envelope (const char *dir, const char *id, GError **error)
{
  g_autofree char *name = g_strconcat (id, ".env", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;
  gsize length;

  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  return smtp_envelope_parse (id, text, length, error);
}

char *
smtp_spool_message_path (const char *dir, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".msg", NULL);

  return g_build_filename (dir, name, NULL);
}

gboolean
smtp_spool_remove (const char *dir, const char *id, GError **error)
{
  g_autofree char *name = g_strconcat (id, ".env", NULL);
  g_autofree char *env = g_build_filename (dir, name, NULL);
  g_autofree char *msg = smtp_spool_message_path (dir, id);
  g_autofree char *deleted = g_strconcat (env, SMTP_SPOOL_DELETED_SUFFIX, NULL);

  if (g_unlink (env) != 0 && errno != ENOENT)
    return set_io_error (error, "cannot remove", env);
  if (g_unlink (deleted) != 0 && errno != ENOENT)
    return set_io_error (error, "cannot remove", deleted);
  if (g_unlink (msg) != 0 && errno != ENOENT)
    return set_io_error (error, "cannot remove", msg);
  return sync_dir (dir, error);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
smtp_spool_list (const char *dir, GError **error)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, error);
  GPtrArray *ids;
  const char *name;

  if (d == NULL)
    return NULL;
  ids = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *id = NULL;

      if (!g_str_has_suffix (name, ".env"))
        continue;
      id = g_strndup (name, strlen (name) - 4);
      if (smtp_spool_id_valid (id))
        g_ptr_array_add (ids, g_steal_pointer (&id));
    }
  g_ptr_array_sort (ids, compare_strings);
  return ids;
}

gboolean
smtp_spool_is_deleted (const char *dir, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".env" SMTP_SPOOL_DELETED_SUFFIX, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

gboolean
smtp_spool_purge_deleted (const char *dir, GError **error)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, error);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  g_autofree char *flush = g_build_filename (dir, "flush", NULL);

  if (d == NULL)
    return FALSE;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *id = NULL;

      if (!g_str_has_suffix (name, ".env" SMTP_SPOOL_DELETED_SUFFIX))
        continue;
      id = g_strndup (name, strlen (name) - strlen (".env" SMTP_SPOOL_DELETED_SUFFIX));
      if (smtp_spool_id_valid (id))
        g_ptr_array_add (ids, g_steal_pointer (&id));
    }
  for (guint i = 0; i < ids->len; i++)
    if (!smtp_spool_remove (dir, ids->pdata[i], error))
      return FALSE;
  /* a flush asked for while the daemon was down is done by the start */
  if (g_unlink (flush) != 0 && errno != ENOENT)
    return set_io_error (error, "cannot remove", flush);
  return TRUE;
}
