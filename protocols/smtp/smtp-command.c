/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "smtp-command.h"

#include <string.h>

static const char *const verb_names[] = {
  [SMTP_VERB_EHLO] = "EHLO", [SMTP_VERB_HELO] = "HELO", [SMTP_VERB_LHLO] = "LHLO",
  [SMTP_VERB_MAIL] = "MAIL", [SMTP_VERB_RCPT] = "RCPT", [SMTP_VERB_DATA] = "DATA",
  [SMTP_VERB_BDAT] = "BDAT", [SMTP_VERB_RSET] = "RSET", [SMTP_VERB_NOOP] = "NOOP",
  [SMTP_VERB_QUIT] = "QUIT", [SMTP_VERB_VRFY] = "VRFY", [SMTP_VERB_EXPN] = "EXPN",
  [SMTP_VERB_HELP] = "HELP", [SMTP_VERB_STARTTLS] = "STARTTLS",
  [SMTP_VERB_AUTH] = "AUTH",
};

const char *
smtp_verb_name (SmtpVerb verb)
{
  g_return_val_if_fail ((gsize) verb < G_N_ELEMENTS (verb_names), "?");
  return verb_names[verb];
}

gboolean
smtp_command_check_length (gsize length, gsize max_length, GError **error)
{
  if (length <= max_length)
    return TRUE;
  smtp_reply_set_error (error, 500, "5.5.2", "Line too long");
  return FALSE;
}

/* ---- xtext ---- */

static int
hex_value (char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

char *
smtp_xtext_decode (const char *text, gsize length)
{
  g_autoptr(GString) out = g_string_sized_new (length);

  for (gsize i = 0; i < length; i++)
    {
      guchar ch = (guchar) text[i];

      if (ch == '+')
        {
          int hi, lo;

          if (i + 2 >= length)
            return NULL;
          hi = hex_value (text[i + 1]);
          lo = hex_value (text[i + 2]);
          if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return NULL;
          g_string_append_c (out, (char) (hi * 16 + lo));
          i += 2;
        }
      else if (ch < 33 || ch > 126 || ch == '=')
        return NULL;
      else
        g_string_append_c (out, (char) ch);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
smtp_xtext_encode (const char *text, gsize length)
{
  GString *out = g_string_sized_new (length);

  for (gsize i = 0; i < length; i++)
    {
      guchar ch = (guchar) text[i];

      if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
        g_string_append_printf (out, "+%02X", ch);
      else
        g_string_append_c (out, (char) ch);
    }
  return g_string_free (out, FALSE);
}

/* ---- commands ---- */

void
smtp_command_free (SmtpCommand *command)
{
  if (command == NULL)
    return;
  g_free (command->argument);
  g_free (command->auth_initial_response);
  smtp_path_free (command->path);
  g_clear_pointer (&command->params, g_ptr_array_unref);
  smtp_path_free (command->auth);
  g_free (command->envid);
  g_free (command->orcpt_type);
  g_free (command->orcpt);
  g_free (command);
}

static void
param_free (gpointer data)
{
  SmtpParam *param = data;

  g_free (param->keyword);
  g_free (param->value);
  g_free (param);
}

const char *
smtp_command_get_param (const SmtpCommand *command, const char *keyword,
                        gboolean *present)
{
  if (present != NULL)
    *present = FALSE;
  if (command->params == NULL)
    return NULL;
  for (guint i = 0; i < command->params->len; i++)
    {
      SmtpParam *param = g_ptr_array_index (command->params, i);

      if (g_ascii_strcasecmp (param->keyword, keyword) == 0)
        {
          if (present != NULL)
            *present = TRUE;
          return param->value;
        }
    }
  return NULL;
}

static gboolean
parse_number (const char *s, guint64 *value)
{
  guint64 v = 0;
  gsize n = 0;

  for (; *s != '\0'; s++, n++)
    {
      if (!g_ascii_isdigit (*s) || n >= 20)
        return FALSE;
      if (v > (G_MAXUINT64 - (guint64) (*s - '0')) / 10)
        return FALSE;
      v = v * 10 + (guint64) (*s - '0');
    }
  if (n == 0)
    return FALSE;
  *value = v;
  return TRUE;
}

static gboolean
is_esmtp_keyword (const char *s, gsize len)
{
  if (len == 0 || !g_ascii_isalnum (s[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-')
      return FALSE;
  return TRUE;
}

static gboolean
is_esmtp_value (const char *s, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      guchar ch = (guchar) s[i];

      /* UTF-8 was validated for the whole line; RFC 6531 §3.3 allows it */
      if (ch == '=' || ch < 33 || ch == 127)
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_printable_ascii (const char *s)
{
  for (; *s != '\0'; s++)
    if ((guchar) *s < 32 || (guchar) *s > 126)
      return FALSE;
  return TRUE;
}

static gboolean
apply_param (SmtpCommand *cmd, SmtpParam *param, GError **error)
{
  const char *key = param->keyword;
  const char *value = param->value;

  if (strcmp (key, "SMTPUTF8") == 0)
    {
      if (value != NULL)
        {
          smtp_reply_set_error (error, 501, "5.5.4", "SMTPUTF8 takes no value");
          return FALSE;
        }
      cmd->smtputf8 = TRUE;
      return TRUE;
    }
  if (value == NULL)
    {
      smtp_reply_set_error (error, 501, "5.5.4", "%s requires a value", key);
      return FALSE;
    }

  if (strcmp (key, "SIZE") == 0)
    {
      if (!parse_number (value, &cmd->size))
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad SIZE parameter");
          return FALSE;
        }
      cmd->has_size = TRUE;
    }
  else if (strcmp (key, "BODY") == 0)
    {
      if (g_ascii_strcasecmp (value, "7BIT") == 0)
        cmd->body = SMTP_BODY_7BIT;
      else if (g_ascii_strcasecmp (value, "8BITMIME") == 0)
        cmd->body = SMTP_BODY_8BITMIME;
      else if (g_ascii_strcasecmp (value, "BINARYMIME") == 0)
        cmd->body = SMTP_BODY_BINARYMIME;
      else
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad BODY parameter");
          return FALSE;
        }
    }
  else if (strcmp (key, "AUTH") == 0)
    {
      g_autofree char *decoded = smtp_xtext_decode (value, strlen (value));
      SmtpPath *path = NULL;

      if (decoded == NULL
          || (strcmp (decoded, "<>") != 0
              && smtp_mailbox_parse (decoded, strlen (decoded),
                                     SMTP_PATH_ALLOW_UTF8, &path) != SMTP_PATH_OK))
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad AUTH parameter");
          return FALSE;
        }
      cmd->has_auth = TRUE;
      cmd->auth = path;
    }
  else if (strcmp (key, "RET") == 0)
    {
      if (g_ascii_strcasecmp (value, "FULL") == 0)
        cmd->ret = SMTP_RET_FULL;
      else if (g_ascii_strcasecmp (value, "HDRS") == 0)
        cmd->ret = SMTP_RET_HDRS;
      else
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad RET parameter");
          return FALSE;
        }
    }
  else if (strcmp (key, "ENVID") == 0)
    {
      char *decoded = strlen (value) <= 100 ? smtp_xtext_decode (value, strlen (value)) : NULL;

      if (decoded == NULL || !is_printable_ascii (decoded))
        {
          g_free (decoded);
          smtp_reply_set_error (error, 501, "5.5.4", "Bad ENVID parameter");
          return FALSE;
        }
      cmd->envid = decoded;
    }
  else if (strcmp (key, "NOTIFY") == 0)
    {
      g_auto(GStrv) items = g_strsplit (value, ",", -1);
      SmtpNotify notify = SMTP_NOTIFY_NONE;

      for (gsize i = 0; items[i] != NULL; i++)
        {
          SmtpNotify bit;

          if (g_ascii_strcasecmp (items[i], "NEVER") == 0)
            bit = SMTP_NOTIFY_NEVER;
          else if (g_ascii_strcasecmp (items[i], "SUCCESS") == 0)
            bit = SMTP_NOTIFY_SUCCESS;
          else if (g_ascii_strcasecmp (items[i], "FAILURE") == 0)
            bit = SMTP_NOTIFY_FAILURE;
          else if (g_ascii_strcasecmp (items[i], "DELAY") == 0)
            bit = SMTP_NOTIFY_DELAY;
          else
            bit = SMTP_NOTIFY_NONE;
          if (bit == SMTP_NOTIFY_NONE || (notify & bit)
              || (bit == SMTP_NOTIFY_NEVER && notify != 0)
              || (notify & SMTP_NOTIFY_NEVER))
            {
              smtp_reply_set_error (error, 501, "5.5.4", "Bad NOTIFY parameter");
              return FALSE;
            }
          notify |= bit;
        }
      cmd->notify = notify;
    }
  else if (strcmp (key, "ORCPT") == 0)
    {
      const char *semi = strchr (value, ';');
      g_autofree char *decoded = NULL;
      gboolean type_ok = semi != NULL && semi > value;

      for (const char *p = value; type_ok && p < semi; p++)
        if (!g_ascii_isalnum (*p) && *p != '-')
          type_ok = FALSE;
      if (type_ok && strlen (value) <= 500)
        decoded = smtp_xtext_decode (semi + 1, strlen (semi + 1));
      if (decoded == NULL || *decoded == '\0')
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad ORCPT parameter");
          return FALSE;
        }
      cmd->orcpt_type = g_strndup (value, (gsize) (semi - value));
      cmd->orcpt = g_steal_pointer (&decoded);
    }
  return TRUE;
}

static gboolean
param_known_for (SmtpVerb verb, const char *keyword)
{
  static const char *const mail_params[] = { "SIZE", "BODY", "SMTPUTF8", "AUTH", "RET", "ENVID", NULL };
  static const char *const rcpt_params[] = { "NOTIFY", "ORCPT", NULL };
  const char *const *list = verb == SMTP_VERB_MAIL ? mail_params : rcpt_params;

  return g_strv_contains (list, keyword);
}

static gboolean
parse_params (SmtpCommand *cmd, const char *p, const char *end, GError **error)
{
  cmd->params = g_ptr_array_new_with_free_func (param_free);

  while (p < end)
    {
      const char *word, *eq;
      SmtpParam *param;
      g_autofree char *keyword = NULL;
      gboolean present = FALSE;

      while (p < end && *p == ' ')
        p++;
      if (p == end)
        break;
      word = p;
      while (p < end && *p != ' ')
        p++;
      eq = memchr (word, '=', (gsize) (p - word));

      if (!is_esmtp_keyword (word, (gsize) ((eq != NULL ? eq : p) - word))
          || (eq != NULL && !is_esmtp_value (eq + 1, (gsize) (p - eq - 1))))
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Bad parameter syntax");
          return FALSE;
        }
      keyword = g_ascii_strup (word, (eq != NULL ? eq : p) - word);
      if (!param_known_for (cmd->verb, keyword))
        {
          smtp_reply_set_error (error, 555, "5.5.4", "Unsupported parameter: %s", keyword);
          return FALSE;
        }
      smtp_command_get_param (cmd, keyword, &present);
      if (present)
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Duplicate parameter: %s", keyword);
          return FALSE;
        }
      param = g_new0 (SmtpParam, 1);
      param->keyword = g_steal_pointer (&keyword);
      param->value = eq != NULL ? g_strndup (eq + 1, (gsize) (p - eq - 1)) : NULL;
      g_ptr_array_add (cmd->params, param);
      if (!apply_param (cmd, param, error))
        return FALSE;
    }
  return TRUE;
}

static void
path_error (GError **error, SmtpVerb verb, SmtpPathStatus st)
{
  gboolean mail = verb == SMTP_VERB_MAIL;
  const char *enhanced = mail ? "5.1.7" : "5.1.3";
  const char *who = mail ? "sender" : "recipient";

  switch (st)
    {
    case SMTP_PATH_TOO_LONG:
      smtp_reply_set_error (error, 501, enhanced, "Path too long");
      break;
    case SMTP_PATH_LOCAL_TOO_LONG:
      smtp_reply_set_error (error, 501, enhanced, "Local part too long");
      break;
    case SMTP_PATH_DOMAIN_TOO_LONG:
      smtp_reply_set_error (error, 501, enhanced, "Domain name too long");
      break;
    case SMTP_PATH_NEEDS_UTF8:
      smtp_reply_set_error (error, 553, "5.6.7",
                            "Non-ASCII addresses not permitted for that %s", who);
      break;
    case SMTP_PATH_SYNTAX:
    case SMTP_PATH_OK:
    default:
      smtp_reply_set_error (error, 501, enhanced, "Bad %s address syntax", who);
      break;
    }
}

static gboolean
parse_mail_rcpt (SmtpCommand *cmd, const char *args, const char *end,
                 SmtpParseFlags flags, GError **error)
{
  const char *syntax = cmd->verb == SMTP_VERB_MAIL
                       ? "Syntax: MAIL FROM:<address>"
                       : "Syntax: RCPT TO:<address>";
  const char *keyword = cmd->verb == SMTP_VERB_MAIL ? "FROM:" : "TO:";
  gsize klen = strlen (keyword);
  SmtpPathFlags pflags;
  SmtpPathStatus st;
  gsize consumed = 0;
  const char *p = args;

  if ((gsize) (end - p) < klen || g_ascii_strncasecmp (p, keyword, klen) != 0)
    {
      smtp_reply_set_error (error, 501, "5.5.4", "%s", syntax);
      return FALSE;
    }
  p += klen;
  /* The one tolerated deviation: `MAIL FROM: <a@b>` (see README). */
  if (p < end && *p == ' ')
    p++;
  if (p == end || *p != '<')
    {
      smtp_reply_set_error (error, 501, "5.5.4", "%s", syntax);
      return FALSE;
    }

  if (cmd->verb == SMTP_VERB_MAIL)
    pflags = SMTP_PATH_REVERSE | SMTP_PATH_ALLOW_UTF8;
  else
    pflags = SMTP_PATH_FORWARD | ((flags & SMTP_PARSE_UTF8) ? SMTP_PATH_ALLOW_UTF8 : 0);

  st = smtp_path_parse (p, (gsize) (end - p), pflags, &cmd->path, &consumed);
  if (st != SMTP_PATH_OK)
    {
      path_error (error, cmd->verb, st);
      return FALSE;
    }
  cmd->needs_utf8 = cmd->path->utf8;
  p += consumed;
  if (p < end && *p != ' ')
    {
      smtp_reply_set_error (error, 501, "5.5.4", "%s", syntax);
      return FALSE;
    }
  if (!parse_params (cmd, p, end, error))
    return FALSE;

  if (cmd->verb == SMTP_VERB_MAIL && cmd->path->utf8 && !cmd->smtputf8)
    {
      path_error (error, cmd->verb, SMTP_PATH_NEEDS_UTF8);
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_base64_response (const char *s, gsize len)
{
  gsize pad = 0;

  if (len == 1 && s[0] == '=')
    return TRUE;
  if (len == 0 || len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '=')
        {
          pad++;
          continue;
        }
      if (pad > 0 || !(g_ascii_isalnum (s[i]) || s[i] == '+' || s[i] == '/'))
        return FALSE;
    }
  return pad <= 2;
}

SmtpCommand *
smtp_command_parse (const char *line, gsize length, SmtpParseFlags flags,
                    GError **error)
{
  g_autoptr(SmtpCommand) cmd = g_new0 (SmtpCommand, 1);
  const char *end = line + length;
  const char *args;
  gsize verb_len = 0;
  gboolean found = FALSE;

  for (gsize i = 0; i < length; i++)
    if ((guchar) line[i] < 0x20 || (guchar) line[i] == 0x7f)
      {
        smtp_reply_set_error (error, 500, "5.5.2", "Syntax error: control character in command");
        return NULL;
      }
  if (!g_utf8_validate_len (line, (gssize) length, NULL))
    {
      smtp_reply_set_error (error, 500, "5.5.2", "Syntax error: invalid UTF-8");
      return NULL;
    }
  while (end > line && end[-1] == ' ')
    end--;
  if (end == line)
    {
      smtp_reply_set_error (error, 500, "5.5.2", "Syntax error: empty command");
      return NULL;
    }

  while (line + verb_len < end && line[verb_len] != ' ')
    verb_len++;
  for (gsize v = 0; v < G_N_ELEMENTS (verb_names); v++)
    if (strlen (verb_names[v]) == verb_len
        && g_ascii_strncasecmp (line, verb_names[v], verb_len) == 0)
      {
        cmd->verb = (SmtpVerb) v;
        found = TRUE;
        break;
      }
  if (!found)
    {
      smtp_reply_set_error (error, 502, "5.5.1", "Unrecognized command");
      return NULL;
    }
  args = line + verb_len;
  if (args < end)
    args++;  /* the single separating space */

  switch (cmd->verb)
    {
    case SMTP_VERB_EHLO:
    case SMTP_VERB_HELO:
    case SMTP_VERB_LHLO:
      if (args == end || memchr (args, ' ', (gsize) (end - args)) != NULL
          || !smtp_domain_is_valid (args, (gsize) (end - args), TRUE, FALSE,
                                    &cmd->argument_literal))
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Syntax: %s hostname",
                                smtp_verb_name (cmd->verb));
          return NULL;
        }
      cmd->argument = g_strndup (args, (gsize) (end - args));
      break;

    case SMTP_VERB_MAIL:
    case SMTP_VERB_RCPT:
      if (!parse_mail_rcpt (cmd, args, end, flags, error))
        return NULL;
      break;

    case SMTP_VERB_DATA:
    case SMTP_VERB_RSET:
    case SMTP_VERB_QUIT:
    case SMTP_VERB_STARTTLS:
      if (args != end)
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Syntax: %s (no parameters allowed)",
                                smtp_verb_name (cmd->verb));
          return NULL;
        }
      break;

    case SMTP_VERB_NOOP:
    case SMTP_VERB_HELP:
      if (args != end)
        cmd->argument = g_strndup (args, (gsize) (end - args));
      break;

    case SMTP_VERB_VRFY:
    case SMTP_VERB_EXPN:
      if (args == end || *args == ' ')
        {
          smtp_reply_set_error (error, 501, "5.5.4", "Syntax: %s <address>",
                                smtp_verb_name (cmd->verb));
          return NULL;
        }
      cmd->argument = g_strndup (args, (gsize) (end - args));
      break;

    case SMTP_VERB_BDAT:
      {
        g_autofree char *rest = g_strndup (args, (gsize) (end - args));
        g_auto(GStrv) words = g_strsplit (rest, " ", -1);
        guint n = g_strv_length (words);

        if (n < 1 || n > 2 || !parse_number (words[0], &cmd->bdat_size)
            || (n == 2 && g_ascii_strcasecmp (words[1], "LAST") != 0))
          {
            smtp_reply_set_error (error, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
            return NULL;
          }
        cmd->bdat_last = n == 2;
      }
      break;

    case SMTP_VERB_AUTH:
      {
        const char *sp = memchr (args, ' ', (gsize) (end - args));
        const char *mech_end = sp != NULL ? sp : end;
        gsize mech_len = (gsize) (mech_end - args);
        gboolean ok = mech_len >= 1 && mech_len <= 20;

        for (gsize i = 0; ok && i < mech_len; i++)
          if (!g_ascii_isalnum (args[i]) && args[i] != '-' && args[i] != '_')
            ok = FALSE;
        if (ok && sp != NULL && memchr (sp + 1, ' ', (gsize) (end - sp - 1)) != NULL)
          ok = FALSE;
        if (!ok)
          {
            smtp_reply_set_error (error, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
            return NULL;
          }
        if (sp != NULL)
          {
            if (!is_base64_response (sp + 1, (gsize) (end - sp - 1)))
              {
                smtp_reply_set_error (error, 501, "5.5.2", "Invalid base64 data in initial response");
                return NULL;
              }
            cmd->auth_initial_response = g_strndup (sp + 1, (gsize) (end - sp - 1));
          }
        cmd->argument = g_ascii_strup (args, (gssize) mech_len);
      }
      break;
    }

  return g_steal_pointer (&cmd);
}
