/* The stored form of PosthornMessageInfo: the version-2 blob (a flat,
 * bounds-checked record, written and read) and the version-1 blob (a
 * GVariant dictionary, read only), and the checks every decoded blob passes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mime-private.h"

/* version 1 (read only; see "version 1" below) */
#define INFO_BLOB_TAG "posthorn-message-info"
#define INFO_BLOB_VERSION 1

/* ---- the stored blob ---- */

/* The checks every decoded blob passes before it is used: the part
 * links stay inside the table and point forward (so walks end), the
 * offsets stay inside the message. */
static gboolean
info_parts_valid (PosthornMessageInfo *info)
{
  gint n = (gint) info->parts->len;

  if (n == 0 || info->header_size > info->size)
    return FALSE;
  for (gint i = 0; i < n; i++) {
    PhMimePart *p = &g_array_index (info->parts, PhMimePart, i);
    if (p->type > POSTHORN_MESSAGE_PART_RFC822 || p->number == NULL || p->ctype == NULL ||
        p->csubtype == NULL || p->cte == NULL ||
        p->parent < -1 || p->parent >= n ||
        p->first_child < -1 || p->first_child >= n ||
        p->next_sibling < -1 || p->next_sibling >= n ||
        (p->first_child >= 0 && p->first_child <= i) ||
        (p->next_sibling >= 0 && p->next_sibling <= i) ||
        p->header_start > p->body_start || p->body_start > p->body_end ||
        p->body_end > info->size)
      return FALSE;
  }
  return TRUE;
}

/* Version 2 (written since session 2): a flat little-endian record read
 * front to back with bounds-checked reads, no GVariant. Every string is
 * stored with its NUL, so the decoded info points into the blob (it keeps
 * a reference) and copies nothing:
 *
 *   "PHMI" u8:2
 *   u64 size, header_size, lines, body_lines
 *   u8 has_date, i64 date, i32 tz_minutes
 *   str envelope, bodystructure, body
 *   nstr subject, from, to, cc, bcc, message_id, in_reply_to, references
 *   nstr addr[3][3]                     from/to/cc: name, mailbox, domain
 *   u32 n_parts, then per part:
 *     str number, u8 type, u8 is_message, u32 depth,
 *     i32 parent, first_child, next_sibling,
 *     u64 header_start, body_start, body_end, lines,
 *     str ctype, csubtype, nstr charset, str cte, u8 binary_ok, u64 binary_size
 *   u32 n_headers, then per header: str name, str value
 *   (the blob ends there)
 *
 *   str  = u32 length, the bytes, a NUL (length excludes it)
 *   nstr = str, or u32 0xffffffff for NULL
 *
 * A string's bytes may contain a NUL of their own (readers see the C
 * string up to it, as with version 1). Anything that does not fit -- a
 * length past the end, a missing NUL, a count larger than the bytes left
 * could hold, trailing bytes, a broken part table -- fails the whole blob
 * with POSTHORN_ERROR_INVALID; the caller parses the message again. A new
 * field means version 3: this layout is never extended in place. */

#define INFO_V2_MAGIC "PHMI"
#define INFO_V2_VERSION 2
#define INFO_V2_NULL G_MAXUINT32
/* the fewest bytes a part or a header can take: count checks before
 * allocating */
#define INFO_V2_MIN_PART (5 * 4 + 2 + 4 + 12 + 32 + 1 + 8)
#define INFO_V2_MIN_HEADER (2 * 5)

static void
v2_put (GByteArray *out, const void *data, gsize n)
{
  g_byte_array_append (out, data, (guint) n);
}

static void
v2_put_u8 (GByteArray *out, guint8 v)
{
  v2_put (out, &v, 1);
}

static void
v2_put_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  v2_put (out, &v, 4);
}

static void
v2_put_u64 (GByteArray *out, guint64 v)
{
  v = GUINT64_TO_LE (v);
  v2_put (out, &v, 8);
}

static void
v2_put_nstr (GByteArray *out, const char *s)
{
  if (s == NULL) {
    v2_put_u32 (out, INFO_V2_NULL);
    return;
  }
  gsize n = strlen (s);
  g_assert (n < INFO_V2_NULL);
  v2_put_u32 (out, (guint32) n);
  v2_put (out, s, n + 1);
}

static void
v2_put_str (GByteArray *out, const char *s)
{
  v2_put_nstr (out, s != NULL ? s : "");
}

GBytes *
posthorn_message_info_serialize (PosthornMessageInfo *info)
{
  GByteArray *out = g_byte_array_sized_new (1024);

  v2_put (out, INFO_V2_MAGIC, 4);
  v2_put_u8 (out, INFO_V2_VERSION);
  v2_put_u64 (out, info->size);
  v2_put_u64 (out, info->header_size);
  v2_put_u64 (out, info->lines);
  v2_put_u64 (out, info->body_lines);
  v2_put_u8 (out, info->has_date ? 1 : 0);
  v2_put_u64 (out, (guint64) (info->has_date ? info->date : 0));
  v2_put_u32 (out, (guint32) (info->has_date ? info->tz_minutes : 0));
  v2_put_str (out, info->envelope);
  v2_put_str (out, info->bodystructure);
  v2_put_str (out, info->body);
  const char *strings[] = { info->subject, info->from, info->to, info->cc, info->bcc,
                            info->message_id, info->in_reply_to, info->references };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    v2_put_nstr (out, strings[i]);
  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      v2_put_nstr (out, info->addr[i][j]);

  v2_put_u32 (out, info->parts->len);
  for (guint i = 0; i < info->parts->len; i++) {
    PhMimePart *p = &g_array_index (info->parts, PhMimePart, i);
    v2_put_str (out, p->number);
    v2_put_u8 (out, p->type);
    v2_put_u8 (out, p->is_message ? 1 : 0);
    v2_put_u32 (out, p->depth);
    v2_put_u32 (out, (guint32) p->parent);
    v2_put_u32 (out, (guint32) p->first_child);
    v2_put_u32 (out, (guint32) p->next_sibling);
    v2_put_u64 (out, p->header_start);
    v2_put_u64 (out, p->body_start);
    v2_put_u64 (out, p->body_end);
    v2_put_u64 (out, p->lines);
    v2_put_str (out, p->ctype);
    v2_put_str (out, p->csubtype);
    v2_put_nstr (out, p->charset);
    v2_put_str (out, p->cte);
    v2_put_u8 (out, p->binary_ok ? 1 : 0);
    v2_put_u64 (out, p->binary_size);
  }

  v2_put_u32 (out, info->header_names->len);
  for (guint i = 0; i < info->header_names->len; i++) {
    v2_put_str (out, g_ptr_array_index (info->header_names, i));
    v2_put_str (out, g_ptr_array_index (info->header_values, i));
  }
  return g_byte_array_free_to_bytes (out);
}

/* A cursor over an untrusted version-2 blob: a read past the end sets
 * @ok to FALSE and returns zero or NULL; the caller checks @ok once. */
typedef struct {
  const guint8 *p;
  const guint8 *end;
  gboolean ok;
} V2Reader;

static const guint8 *
v2_take (V2Reader *r, gsize n)
{
  if (!r->ok || (gsize) (r->end - r->p) < n) {
    r->ok = FALSE;
    return NULL;
  }
  const guint8 *at = r->p;
  r->p += n;
  return at;
}

static guint8
v2_u8 (V2Reader *r)
{
  const guint8 *at = v2_take (r, 1);
  return at != NULL ? *at : 0;
}

static guint32
v2_u32 (V2Reader *r)
{
  const guint8 *at = v2_take (r, 4);
  guint32 v = 0;
  if (at != NULL)
    memcpy (&v, at, 4);
  return GUINT32_FROM_LE (v);
}

static guint64
v2_u64 (V2Reader *r)
{
  const guint8 *at = v2_take (r, 8);
  guint64 v = 0;
  if (at != NULL)
    memcpy (&v, at, 8);
  return GUINT64_FROM_LE (v);
}

/* A string inside the blob (not copied), or NULL for a stored NULL or a
 * damaged string (then @ok is FALSE). */
static char *
v2_nstr (V2Reader *r)
{
  guint32 n = v2_u32 (r);
  if (!r->ok || n == INFO_V2_NULL)
    return NULL;
  const guint8 *at = v2_take (r, (gsize) n + 1);
  if (at == NULL || at[n] != '\0') {
    r->ok = FALSE;
    return NULL;
  }
  return (char *) at;
}

static char *
v2_str (V2Reader *r)
{
  char *s = v2_nstr (r);
  if (s == NULL)
    r->ok = FALSE;
  return s;
}

/* Reads a count of records of at least @min_size bytes each; more than
 * the bytes left could hold fails (no allocation from a damaged count). */
static guint32
v2_count (V2Reader *r, gsize min_size)
{
  guint32 n = v2_u32 (r);
  if (r->ok && (gsize) (r->end - r->p) / min_size < n)
    r->ok = FALSE;
  return r->ok ? n : 0;
}

static PosthornMessageInfo *
info_deserialize_v2 (GBytes *blob, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (blob, &size);
  V2Reader r = { data, data + size, TRUE };
  PosthornMessageInfo *info = g_new0 (PosthornMessageInfo, 1);

  g_atomic_ref_count_init (&info->ref);
  info->backing = g_bytes_ref (blob);
  v2_take (&r, 5);  /* magic and version, checked by the caller */
  info->size = v2_u64 (&r);
  info->header_size = v2_u64 (&r);
  info->lines = v2_u64 (&r);
  info->body_lines = v2_u64 (&r);
  guint8 has_date = v2_u8 (&r);
  info->has_date = has_date == 1;
  info->date = (gint64) v2_u64 (&r);
  info->tz_minutes = (int) (gint32) v2_u32 (&r);
  info->envelope = v2_str (&r);
  info->bodystructure = v2_str (&r);
  info->body = v2_str (&r);
  char **strings[] = { &info->subject, &info->from, &info->to, &info->cc, &info->bcc,
                       &info->message_id, &info->in_reply_to, &info->references };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    *strings[i] = v2_nstr (&r);
  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      info->addr[i][j] = v2_nstr (&r);

  guint32 n_parts = v2_count (&r, INFO_V2_MIN_PART);
  info->parts = g_array_sized_new (FALSE, TRUE, sizeof (PhMimePart), n_parts);
  for (guint32 i = 0; i < n_parts && r.ok; i++) {
    PhMimePart p = { 0 };
    p.number = v2_str (&r);
    p.type = v2_u8 (&r);
    p.is_message = v2_u8 (&r) != 0;
    p.depth = v2_u32 (&r);
    p.parent = (gint32) v2_u32 (&r);
    p.first_child = (gint32) v2_u32 (&r);
    p.next_sibling = (gint32) v2_u32 (&r);
    p.last_child = -1;
    p.header_start = v2_u64 (&r);
    p.body_start = v2_u64 (&r);
    p.body_end = v2_u64 (&r);
    p.lines = v2_u64 (&r);
    p.ctype = v2_str (&r);
    p.csubtype = v2_str (&r);
    p.charset = v2_nstr (&r);
    p.cte = v2_str (&r);
    p.binary_ok = v2_u8 (&r) != 0;
    p.binary_size = v2_u64 (&r);
    g_array_append_val (info->parts, p);
  }

  guint32 n_headers = v2_count (&r, INFO_V2_MIN_HEADER);
  info->header_names = g_ptr_array_sized_new (n_headers);
  info->header_values = g_ptr_array_sized_new (n_headers);
  for (guint32 i = 0; i < n_headers && r.ok; i++) {
    g_ptr_array_add (info->header_names, v2_str (&r));
    g_ptr_array_add (info->header_values, v2_str (&r));
  }

  if (!r.ok || r.p != r.end || has_date > 1 || !info_parts_valid (info)) {
    posthorn_message_info_unref (info);
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                 "message info blob is damaged");
    return NULL;
  }
  return info;
}

/* ---- version 1 (read only) ---- */

#define PART_TYPE "(ayybuiiittttayayayaybt)"
#define PART_FMT "(^ayybuiiitttt^ay^ay^ay^aybt)"

static char *
lookup_maybe (GVariantDict *d, const char *key)
{
  g_autoptr(GVariant) v = g_variant_dict_lookup_value (d, key, G_VARIANT_TYPE ("may"));
  if (v == NULL)
    return NULL;
  g_autoptr(GVariant) inner = g_variant_get_maybe (v);
  return inner != NULL ? g_variant_dup_bytestring (inner, NULL) : NULL;
}

static char *
maybe_dup (GVariant *maybe)
{
  g_autoptr(GVariant) inner = g_variant_get_maybe (maybe);
  return inner != NULL ? g_variant_dup_bytestring (inner, NULL) : NULL;
}

static gboolean
lookup_bytestring (GVariantDict *d, const char *key, char **out)
{
  g_autoptr(GVariant) v = g_variant_dict_lookup_value (d, key, G_VARIANT_TYPE_BYTESTRING);
  if (v == NULL)
    return FALSE;
  *out = g_variant_dup_bytestring (v, NULL);
  return TRUE;
}

static PosthornMessageInfo *
info_deserialize_v1 (GBytes *blob, GError **error)
{
  g_autoptr(GVariant) v = g_variant_new_from_bytes (G_VARIANT_TYPE ("(sua{sv})"), blob, FALSE);
  g_autoptr(GVariant) normal = g_variant_get_normal_form (v);
  const char *tag;
  guint32 version;
  g_autoptr(GVariant) dict_v = NULL;

  g_variant_get (normal, "(&su@a{sv})", &tag, &version, &dict_v);
  if (strcmp (tag, INFO_BLOB_TAG) != 0 || version != INFO_BLOB_VERSION) {
    g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
                 "not a message info blob of version %d", INFO_BLOB_VERSION);
    return NULL;
  }

  g_autoptr(PosthornMessageInfo) info = ph_mime_info_new ();
  g_auto(GVariantDict) d;
  g_variant_dict_init (&d, dict_v);
  g_autoptr(GVariant) parts = g_variant_dict_lookup_value (&d, "parts", G_VARIANT_TYPE ("a" PART_TYPE));
  g_autoptr(GVariant) headers = g_variant_dict_lookup_value (&d, "headers", G_VARIANT_TYPE ("a(ayay)"));

  if (!g_variant_dict_lookup (&d, "size", "t", &info->size) ||
      !g_variant_dict_lookup (&d, "header-size", "t", &info->header_size) ||
      !g_variant_dict_lookup (&d, "lines", "t", &info->lines) ||
      !g_variant_dict_lookup (&d, "body-lines", "t", &info->body_lines) ||
      !lookup_bytestring (&d, "envelope", &info->envelope) ||
      !lookup_bytestring (&d, "bodystructure", &info->bodystructure) ||
      !lookup_bytestring (&d, "body", &info->body) ||
      parts == NULL || headers == NULL)
    goto broken;

  info->subject = lookup_maybe (&d, "subject");
  info->from = lookup_maybe (&d, "from");
  info->to = lookup_maybe (&d, "to");
  info->cc = lookup_maybe (&d, "cc");
  info->bcc = lookup_maybe (&d, "bcc");
  info->message_id = lookup_maybe (&d, "message-id");
  info->in_reply_to = lookup_maybe (&d, "in-reply-to");
  info->references = lookup_maybe (&d, "references");
  const char *addr_names[] = { "addr-from", "addr-to", "addr-cc" };
  for (guint i = 0; i < 3; i++) {
    g_autoptr(GVariant) a = g_variant_dict_lookup_value (&d, addr_names[i], G_VARIANT_TYPE ("(maymaymay)"));
    if (a == NULL)
      goto broken;
    for (guint j = 0; j < 3; j++) {
      g_autoptr(GVariant) m = g_variant_get_child_value (a, j);
      info->addr[i][j] = maybe_dup (m);
    }
  }
  info->has_date = g_variant_dict_lookup (&d, "date", "(xi)", &info->date, &info->tz_minutes);

  gsize n = g_variant_n_children (parts);
  for (gsize i = 0; i < n; i++) {
    PhMimePart p = { 0 };
    char *charset;
    g_variant_get_child (parts, i, PART_FMT, &p.number, &p.type, &p.is_message,
                         &p.depth, &p.parent, &p.first_child, &p.next_sibling,
                         &p.header_start, &p.body_start, &p.body_end, &p.lines,
                         &p.ctype, &p.csubtype, &charset, &p.cte, &p.binary_ok,
                         &p.binary_size);
    p.charset = charset[0] != '\0' ? g_strdup (charset) : NULL;
    g_free (charset);
    g_array_append_val (info->parts, p);
  }
  if (!info_parts_valid (info))
    goto broken;

  gsize nh = g_variant_n_children (headers);
  for (gsize i = 0; i < nh; i++) {
    char *name, *value;
    g_variant_get_child (headers, i, "(^ay^ay)", &name, &value);
    g_ptr_array_add (info->header_names, name);
    g_ptr_array_add (info->header_values, value);
  }
  return g_steal_pointer (&info);

broken:
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
               "message info blob is damaged");
  return NULL;
}

PosthornMessageInfo *
posthorn_message_info_deserialize (GBytes *blob, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (blob, &size);

  if (size >= 5 && memcmp (data, INFO_V2_MAGIC, 4) == 0 && data[4] == INFO_V2_VERSION)
    return info_deserialize_v2 (blob, error);
  if (size >= sizeof INFO_BLOB_TAG && memcmp (data, INFO_BLOB_TAG, sizeof INFO_BLOB_TAG) == 0)
    return info_deserialize_v1 (blob, error);
  g_set_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID,
               "not a message info blob of version 1 or 2");
  return NULL;
}
