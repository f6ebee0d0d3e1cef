/* The ENVELOPE: address lists (RFC 5322 mailbox and group
 * syntax) and their IMAP rendering, and the decoded values of the top
 * header (Subject, From, Date, ...).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <gmime/gmime.h>

#include "mime-private.h"

/* ==================== addresses (ENVELOPE) ==================== */

typedef struct {
  char *name;      /* NULL = NIL */
  char *route;
  char *mailbox;
  char *domain;    /* NULL with mailbox set: group start; all NULL: group end */
} Address;

static void
address_clear (gpointer p)
{
  Address *a = p;
  g_free (a->name);
  g_free (a->route);
  g_free (a->mailbox);
  g_free (a->domain);
}

static char *
string_or_null (GString *s)
{
  if (s->len == 0) {
    g_string_free (s, TRUE);
    return NULL;
  }
  return g_string_free (s, FALSE);
}

/* angle-addr after '<': [route ":"] addr-spec ">" */
static void
parse_angle_addr (MimeLexer *lx, Address *a)
{
  GString *route = g_string_new (NULL);
  GString *mailbox = g_string_new (NULL);
  GString *domain = g_string_new (NULL);

  mime_skip_cfws (lx);
  while (lx->p < lx->end && (*lx->p == '@' || *lx->p == ',')) {
    char c = *lx->p++;
    if (c == ',') {
      g_string_append_c (route, ',');
      mime_skip_cfws (lx);
      continue;
    }
    g_string_append_c (route, '@');
    mime_parse_domain (lx, route);
    mime_skip_cfws (lx);
  }
  if (route->len > 0 && lx->p < lx->end && *lx->p == ':')
    lx->p++;
  mime_parse_local_part (lx, mailbox);
  if (mime_skip_cfws (lx) && *lx->p == '@') {
    lx->p++;
    mime_parse_domain (lx, domain);
  }
  while (lx->p < lx->end && *lx->p != '>')
    lx->p++;
  if (lx->p < lx->end)
    lx->p++;
  a->route = string_or_null (route);
  a->mailbox = g_string_free (mailbox, FALSE);
  a->domain = string_or_null (domain);
}

/* One mailbox at lx->p (name-addr or addr-spec). FALSE if nothing could be
 * parsed (the caller skips a byte then). */
static gboolean
parse_mailbox (MimeLexer *lx, GArray *out, gboolean *group_start)
{
  Address a = { 0 };
  const char *start = lx->p;
  GString *phrase = g_string_new (NULL);

  if (group_start != NULL)
    *group_start = FALSE;
  mime_lexer_clear (lx);
  mime_parse_phrase (lx, phrase);
  if (lx->p < lx->end && *lx->p == ':' && group_start != NULL) {
    lx->p++;
    a.mailbox = g_string_free (phrase, FALSE);
    g_array_append_val (out, a);
    *group_start = TRUE;
    return TRUE;
  }
  if (lx->p < lx->end && *lx->p == '<') {
    lx->p++;
    a.name = string_or_null (phrase);
    parse_angle_addr (lx, &a);
  } else {
    /* addr-spec: read again as a local part */
    g_string_free (phrase, TRUE);
    lx->p = start;
    mime_skip_cfws (lx);
    mime_lexer_clear (lx);   /* only a comment after the address names it */
    GString *mailbox = g_string_new (NULL);
    GString *domain = g_string_new (NULL);
    if (!mime_parse_local_part (lx, mailbox)) {
      g_string_free (mailbox, TRUE);
      g_string_free (domain, TRUE);
      return FALSE;
    }
    if (mime_skip_cfws (lx) && *lx->p == '@') {
      lx->p++;
      mime_parse_domain (lx, domain);
    }
    a.mailbox = g_string_free (mailbox, FALSE);
    a.domain = string_or_null (domain);
    mime_skip_cfws (lx);
    if (lx->comment != NULL && lx->comment->len > 0)
      a.name = g_strdup (lx->comment->str);
  }
  if (a.domain == NULL)
    a.domain = g_strdup ("MISSING_DOMAIN");
  if (a.mailbox == NULL || a.mailbox[0] == '\0') {
    g_free (a.mailbox);
    a.mailbox = g_strdup ("MISSING_MAILBOX");
  }
  g_array_append_val (out, a);
  return TRUE;
}

static GArray *
parse_address_list (const char *value, gsize length)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (Address));
  MimeLexer lx;
  gboolean in_group = FALSE;
  guint guard = 0;

  g_array_set_clear_func (out, address_clear);
  mime_lexer_init (&lx, value, length);
  while (mime_skip_cfws (&lx) && guard++ < 100000) {
    char c = *lx.p;
    if (c == ',') {
      lx.p++;
      continue;
    }
    if (c == ';') {
      lx.p++;
      if (in_group) {
        Address end = { 0 };
        g_array_append_val (out, end);
        in_group = FALSE;
      }
      continue;
    }
    gboolean group_start = FALSE;
    const char *before = lx.p;
    if (!parse_mailbox (&lx, out, in_group ? NULL : &group_start) || lx.p == before) {
      lx.p = before + 1;
      continue;
    }
    if (group_start)
      in_group = TRUE;
  }
  if (in_group) {
    Address end = { 0 };
    g_array_append_val (out, end);
  }
  mime_lexer_clear (&lx);
  return out;
}

static void
append_addresses (GString *out, GArray *list)
{
  if (list == NULL || list->len == 0) {
    g_string_append (out, "NIL");
    return;
  }
  g_string_append_c (out, '(');
  for (guint i = 0; i < list->len; i++) {
    Address *a = &g_array_index (list, Address, i);
    g_string_append_c (out, '(');
    if (a->name != NULL)
      ph_imap_append_string_for_humans (out, a->name, strlen (a->name));
    else
      g_string_append (out, "NIL");
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->route);
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->mailbox);
    g_string_append_c (out, ' ');
    ph_imap_append_nstring (out, a->domain);
    g_string_append_c (out, ')');
  }
  g_string_append_c (out, ')');
}

/* ==================== envelope ==================== */

char *
mime_build_envelope (GArray *fields)
{
  GString *out = g_string_new ("(");
  GString *date = mime_find_field (fields, "Date", TRUE);
  GString *subject = mime_find_field (fields, "Subject", TRUE);
  const char *addr_names[] = { "From", "Sender", "Reply-To", "To", "Cc", "Bcc" };
  GArray *addrs[6] = { NULL };

  mime_append_nstring_nolf (out, date != NULL ? date->str : NULL);
  g_string_append_c (out, ' ');
  if (subject != NULL)
    ph_imap_append_string_for_humans (out, subject->str, strlen (subject->str));
  else
    g_string_append (out, "NIL");
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++) {
    GString *v = mime_find_field (fields, addr_names[i], TRUE);
    if (v != NULL)
      addrs[i] = parse_address_list (v->str, strlen (v->str));
  }
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++) {
    GArray *list = addrs[i];
    if ((i == 1 || i == 2) && (list == NULL || list->len == 0))
      list = addrs[0];
    g_string_append_c (out, ' ');
    append_addresses (out, list);
  }
  for (guint i = 0; i < G_N_ELEMENTS (addr_names); i++)
    if (addrs[i] != NULL)
      g_array_unref (addrs[i]);
  GString *irt = mime_find_field (fields, "In-Reply-To", TRUE);
  GString *mid = mime_find_field (fields, "Message-ID", TRUE);
  g_string_append_c (out, ' ');
  mime_append_nstring_nolf (out, irt != NULL ? irt->str : NULL);
  g_string_append_c (out, ' ');
  mime_append_nstring_nolf (out, mid != NULL ? mid->str : NULL);
  g_string_append_c (out, ')');
  return g_string_free (out, FALSE);
}

/* ==================== decoded values of the top header ==================== */

static char *
decode_text (const char *raw)
{
  if (raw == NULL)
    return NULL;
  g_autofree char *unfolded = g_strdup (raw);
  g_strstrip (unfolded);
  char *decoded = g_mime_utils_header_decode_text (NULL, unfolded);
  if (decoded == NULL)
    return g_strdup ("");
  if (!g_utf8_validate (decoded, -1, NULL)) {
    char *valid = g_utf8_make_valid (decoded, -1);
    g_free (decoded);
    return valid;
  }
  return decoded;
}

static char *
raw_trimmed (GArray *fields, const char *name)
{
  GString *v = mime_find_field (fields, name, FALSE);
  if (v == NULL)
    return NULL;
  char *s = g_strdup (v->str);
  for (char *p = s; *p; p++)
    if (*p == '\t' || *p == '\r' || *p == '\n')
      *p = ' ';
  return g_strstrip (s);
}

void
mime_fill_top_values (PosthornMessageInfo *info, GArray *fields)
{
  const char *names[] = { "Subject", "From", "To", "Cc", "Bcc" };
  char **slots[] = { &info->subject, &info->from, &info->to, &info->cc, &info->bcc };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    GString *v = mime_find_field (fields, names[i], FALSE);
    *slots[i] = decode_text (v != NULL ? v->str : NULL);
  }
  info->message_id = raw_trimmed (fields, "Message-ID");
  info->in_reply_to = raw_trimmed (fields, "In-Reply-To");
  info->references = raw_trimmed (fields, "References");

  const char *addr_fields[] = { "From", "To", "Cc" };
  for (guint i = 0; i < 3; i++) {
    GString *v = mime_find_field (fields, addr_fields[i], FALSE);
    if (v == NULL)
      continue;
    g_autoptr(GArray) list = parse_address_list (v->str, strlen (v->str));
    for (guint j = 0; j < list->len; j++) {
      Address *a = &g_array_index (list, Address, j);
      if (a->domain == NULL)
        continue;   /* group markers */
      info->addr[i][0] = a->name != NULL ? decode_text (a->name) : NULL;
      info->addr[i][1] = g_strdup (a->mailbox);
      info->addr[i][2] = g_strdup (a->domain);
      break;
    }
  }

  GString *date = mime_find_field (fields, "Date", FALSE);
  if (date != NULL) {
    GDateTime *dt = g_mime_utils_header_decode_date (date->str);
    if (dt != NULL) {
      info->has_date = TRUE;
      info->date = g_date_time_to_unix (dt);
      info->tz_minutes = (int) (g_date_time_get_utc_offset (dt) / G_TIME_SPAN_MINUTE);
      g_date_time_unref (dt);
    }
  }

  for (guint i = 0; i < fields->len; i++) {
    MimeField *f = &g_array_index (fields, MimeField, i);
    g_ptr_array_add (info->header_names, g_strdup (f->name));
    g_ptr_array_add (info->header_values, decode_text (f->value->str));
  }
}

