/* The stored PosthornMessageInfo blob: version 2 round trips, version 1
 * blobs written by earlier builds still read the same, and damaged blobs
 * of either version fail cleanly (they come from disk).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "ph-private.h"

static GBytes *
read_data_file (const char *name)
{
  const char *root = g_getenv ("POSTHORN_SOURCE_ROOT");
  g_autofree char *path = g_build_filename (root != NULL ? root : ".", "tests", "mime", "data",
                                            name, NULL);
  g_autoptr(GError) error = NULL;
  char *data = NULL;
  gsize size = 0;

  g_file_get_contents (path, &data, &size, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, size);
}

static PosthornMessageInfo *
parse_bytes (GBytes *bytes)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) msg =
    posthorn_message_new_from_data (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  PosthornMessageInfo *info = posthorn_message_info_parse (msg, &error);

  g_assert_no_error (error);
  return info;
}

/* Every getter of @a and @b agrees. */
static void
assert_info_equal (PosthornMessageInfo *a, PosthornMessageInfo *b)
{
  g_assert_cmpuint (posthorn_message_info_get_size (a), ==, posthorn_message_info_get_size (b));
  g_assert_cmpuint (posthorn_message_info_get_header_size (a), ==,
                    posthorn_message_info_get_header_size (b));
  g_assert_cmpuint (posthorn_message_info_get_lines (a), ==, posthorn_message_info_get_lines (b));
  g_assert_cmpuint (posthorn_message_info_get_body_lines (a), ==,
                    posthorn_message_info_get_body_lines (b));
  g_assert_cmpstr (posthorn_message_info_get_envelope (a), ==, posthorn_message_info_get_envelope (b));
  g_assert_cmpstr (posthorn_message_info_get_bodystructure (a), ==,
                   posthorn_message_info_get_bodystructure (b));
  g_assert_cmpstr (posthorn_message_info_get_body (a), ==, posthorn_message_info_get_body (b));
  g_assert_cmpstr (posthorn_message_info_get_subject (a), ==, posthorn_message_info_get_subject (b));
  g_assert_cmpstr (posthorn_message_info_get_from (a), ==, posthorn_message_info_get_from (b));
  g_assert_cmpstr (posthorn_message_info_get_to (a), ==, posthorn_message_info_get_to (b));
  g_assert_cmpstr (posthorn_message_info_get_cc (a), ==, posthorn_message_info_get_cc (b));
  g_assert_cmpstr (posthorn_message_info_get_bcc (a), ==, posthorn_message_info_get_bcc (b));
  g_assert_cmpstr (posthorn_message_info_get_message_id (a), ==,
                   posthorn_message_info_get_message_id (b));
  g_assert_cmpstr (posthorn_message_info_get_in_reply_to (a), ==,
                   posthorn_message_info_get_in_reply_to (b));
  g_assert_cmpstr (posthorn_message_info_get_references (a), ==,
                   posthorn_message_info_get_references (b));

  const char *fields[] = { "from", "to", "cc" };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      const char *an = NULL, *am = NULL, *ad = NULL, *bn = NULL, *bm = NULL, *bd = NULL;
      gboolean ha = posthorn_message_info_get_first_address (a, fields[i], &an, &am, &ad);
      gboolean hb = posthorn_message_info_get_first_address (b, fields[i], &bn, &bm, &bd);

      g_assert_cmpint (ha, ==, hb);
      g_assert_cmpstr (an, ==, bn);
      g_assert_cmpstr (am, ==, bm);
      g_assert_cmpstr (ad, ==, bd);
    }

  gint64 ta = 0, tb = 0;
  int za = 0, zb = 0;
  g_assert_cmpint (posthorn_message_info_get_date (a, &ta, &za), ==,
                   posthorn_message_info_get_date (b, &tb, &zb));
  g_assert_cmpint (ta, ==, tb);
  g_assert_cmpint (za, ==, zb);

  g_assert_cmpuint (posthorn_message_info_get_n_headers (a), ==, posthorn_message_info_get_n_headers (b));
  for (guint i = 0; i < posthorn_message_info_get_n_headers (a); i++)
    {
      const char *na, *va, *nb, *vb;

      g_assert_true (posthorn_message_info_get_header (a, i, &na, &va));
      g_assert_true (posthorn_message_info_get_header (b, i, &nb, &vb));
      g_assert_cmpstr (na, ==, nb);
      g_assert_cmpstr (va, ==, vb);
    }

  g_assert_cmpuint (posthorn_message_info_get_n_parts (a), ==, posthorn_message_info_get_n_parts (b));
  for (guint i = 0; i < posthorn_message_info_get_n_parts (a); i++)
    {
      const char *na, *nb, *ta_, *tb_, *sa, *sb, *ca, *cb, *ea, *eb;
      PosthornMessagePartType ya, yb;
      gboolean ma, mb;
      guint da, db;
      guint64 ha, hb, ba, bb, xa, xb;

      g_assert_true (posthorn_message_info_get_part (a, i, &na, &ya, &ma, &da, &ha, &ba, &xa));
      g_assert_true (posthorn_message_info_get_part (b, i, &nb, &yb, &mb, &db, &hb, &bb, &xb));
      g_assert_cmpstr (na, ==, nb);
      g_assert_cmpint (ya, ==, yb);
      g_assert_cmpint (ma, ==, mb);
      g_assert_cmpuint (da, ==, db);
      g_assert_cmpuint (ha, ==, hb);
      g_assert_cmpuint (ba, ==, bb);
      g_assert_cmpuint (xa, ==, xb);
      g_assert_true (posthorn_message_info_get_part_content_type (a, i, &ta_, &sa, &ca, &ea));
      g_assert_true (posthorn_message_info_get_part_content_type (b, i, &tb_, &sb, &cb, &eb));
      g_assert_cmpstr (ta_, ==, tb_);
      g_assert_cmpstr (sa, ==, sb);
      g_assert_cmpstr (ca, ==, cb);
      g_assert_cmpstr (ea, ==, eb);
    }

  const char *sections[] = { "", "HEADER", "TEXT", "1", "2", "3", "3.HEADER", "3.TEXT",
                             "3.1", "1.MIME", "4", "9.9" };
  for (guint i = 0; i < G_N_ELEMENTS (sections); i++)
    {
      guint64 oa = 0, la = 0, ob = 0, lb = 0, sa = 0, sb = 0;
      gboolean ga = posthorn_message_info_get_section (a, sections[i], &oa, &la, NULL);
      gboolean gb = posthorn_message_info_get_section (b, sections[i], &ob, &lb, NULL);

      g_assert_cmpint (ga, ==, gb);
      g_assert_cmpuint (oa, ==, ob);
      g_assert_cmpuint (la, ==, lb);
      ga = posthorn_message_info_get_binary_size (a, sections[i], &sa, NULL);
      gb = posthorn_message_info_get_binary_size (b, sections[i], &sb, NULL);
      g_assert_cmpint (ga, ==, gb);
      g_assert_cmpuint (sa, ==, sb);
    }
}

/* Uses what a decoded (possibly damaged but accepted) info offers: every
 * getter, every part's sections. Must not crash or read out of bounds. */
static void
exercise_info (PosthornMessageInfo *info)
{
  g_assert_cmpuint (posthorn_message_info_get_n_parts (info), >, 0);
  g_assert_nonnull (posthorn_message_info_get_envelope (info));
  g_assert_nonnull (posthorn_message_info_get_bodystructure (info));
  for (guint i = 0; i < posthorn_message_info_get_n_parts (info); i++)
    {
      const char *number = NULL;
      g_autofree char *mime = NULL;
      guint64 off, len;

      g_assert_true (posthorn_message_info_get_part (info, i, &number, NULL, NULL, NULL, NULL,
                                                     NULL, NULL));
      g_assert_nonnull (number);
      posthorn_message_info_get_section (info, number, &off, &len, NULL);
      mime = g_strconcat (number, ".MIME", NULL);
      posthorn_message_info_get_section (info, mime, &off, &len, NULL);
      posthorn_message_info_get_binary_size (info, number, &len, NULL);
    }
  const char *sections[] = { "", "1", "1.1", "1.1.1", "2.TEXT", "1.HEADER", "2.1.2" };
  for (guint i = 0; i < G_N_ELEMENTS (sections); i++)
    {
      guint64 off, len;
      posthorn_message_info_get_section (info, sections[i], &off, &len, NULL);
    }
  for (guint i = 0; i < posthorn_message_info_get_n_headers (info); i++)
    {
      const char *name, *value;
      g_assert_true (posthorn_message_info_get_header (info, i, &name, &value));
      g_assert_nonnull (name);
      g_assert_nonnull (value);
    }
  (void) posthorn_message_info_lookup_header (info, "subject");
  (void) posthorn_message_info_get_first_address (info, "from", NULL, NULL, NULL);
}

/* ---- version 2 ---- */

static void
test_v2_roundtrip (void)
{
  g_autoptr(GBytes) eml = read_data_file ("info-v1.eml");
  g_autoptr(PosthornMessageInfo) info = parse_bytes (eml);
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
  g_autoptr(GError) error = NULL;
  gsize n;
  const guint8 *data = g_bytes_get_data (blob, &n);

  g_assert_cmpuint (n, >, 5);
  g_assert_cmpmem (data, 5, "PHMI\x02", 5);
  {
    g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (blob, &error);
    g_assert_no_error (error);
    assert_info_equal (info, back);
    /* the decoded info outlives the caller's reference to the blob */
    g_clear_pointer (&blob, g_bytes_unref);
    g_assert_cmpstr (posthorn_message_info_get_subject (back), ==, "café time");
    g_assert_cmpuint (posthorn_message_info_get_n_parts (back), ==, 5);
  }
}

/* Messages whose optional fields are absent (NULL in the info) and a
 * single-part one: NULL stays NULL, "" stays "". */
static void
test_v2_roundtrip_sparse (void)
{
  const char *messages[] = {
    "",
    "no header at all",
    "Subject:\r\n\r\nbody\r\n",
    "From: a@b\r\nCc: \r\nDate: garbage\r\n\r\n",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
    "Content-Type: message/rfc822\r\n\r\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autoptr(GBytes) eml = g_bytes_new_static (messages[i], strlen (messages[i]));
      g_autoptr(PosthornMessageInfo) info = parse_bytes (eml);
      g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (blob, &error);

      g_assert_no_error (error);
      assert_info_equal (info, back);
      exercise_info (back);
    }
}

static void
test_v2_truncated (void)
{
  g_autoptr(GBytes) eml = read_data_file ("info-v1.eml");
  g_autoptr(PosthornMessageInfo) info = parse_bytes (eml);
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
  gsize n;
  const guint8 *data = g_bytes_get_data (blob, &n);

  /* every proper prefix fails, and so does one extra byte */
  for (gsize len = 0; len < n; len++)
    {
      g_autoptr(GBytes) cut = g_bytes_new (data, len);
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (cut, &error);

      g_assert_null (back);
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
  {
    g_autofree guint8 *longer = g_malloc (n + 1);
    memcpy (longer, data, n);
    longer[n] = 0;
    g_autoptr(GBytes) b = g_bytes_new (longer, n + 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (b, &error);

    g_assert_null (back);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
  }
}

/* Each byte changed in turn, several ways: refused cleanly, or accepted
 * and safe to use. */
static void
test_flipped (GBytes *blob)
{
  gsize n;
  const guint8 *data = g_bytes_get_data (blob, &n);
  const guint8 masks[] = { 0x01, 0x80, 0xff };

  for (gsize i = 0; i < n; i++)
    for (guint m = 0; m < G_N_ELEMENTS (masks); m++)
      {
        g_autofree guint8 *copy = g_memdup2 (data, n);
        g_autoptr(GError) error = NULL;

        copy[i] ^= masks[m];
        g_autoptr(GBytes) b = g_bytes_new (copy, n);
        g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (b, &error);
        if (back != NULL)
          exercise_info (back);
        else
          g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
      }
}

static void
test_v2_flipped (void)
{
  g_autoptr(GBytes) eml = read_data_file ("info-v1.eml");
  g_autoptr(PosthornMessageInfo) info = parse_bytes (eml);
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);

  test_flipped (blob);
}

/* A version-2 blob written by hand, field by field, as the layout comment
 * in message-info.c documents it: one text/plain part, two headers. */
typedef struct {
  guint8 version;
  guint8 has_date;
  guint32 n_parts;          /* what the count says */
  guint32 n_parts_written;  /* how many part records follow */
  gint32 first_child;
  gint32 next_sibling;
  gint32 parent;
  guint8 type;
  guint64 body_end;
  guint64 header_size;
  guint32 envelope_len;     /* G_MAXUINT32 - 1: the real length */
  gboolean drop_nul;        /* the envelope's NUL is replaced */
  guint32 n_headers;
  gboolean trailing;
} Craft;

#define CRAFT_OK { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }

static void
put (GByteArray *out, const void *p, gsize n)
{
  g_byte_array_append (out, p, (guint) n);
}

static void
put_u8 (GByteArray *out, guint8 v)
{
  put (out, &v, 1);
}

static void
put_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  put (out, &v, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  v = GUINT64_TO_LE (v);
  put (out, &v, 8);
}

static void
put_str (GByteArray *out, const char *s)
{
  if (s == NULL)
    {
      put_u32 (out, G_MAXUINT32);
      return;
    }
  put_u32 (out, (guint32) strlen (s));
  put (out, s, strlen (s) + 1);
}

static GBytes *
craft_blob (const Craft *c)
{
  GByteArray *out = g_byte_array_new ();
  const char *envelope = "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)";

  put (out, "PHMI", 4);
  put_u8 (out, c->version);
  put_u64 (out, 20);              /* size */
  put_u64 (out, c->header_size);
  put_u64 (out, 1);               /* lines */
  put_u64 (out, 0);               /* body lines */
  put_u8 (out, c->has_date);
  put_u64 (out, 1700000000);
  put_u32 (out, (guint32) -60);
  put_u32 (out, c->envelope_len == G_MAXUINT32 - 1 ? (guint32) strlen (envelope) : c->envelope_len);
  put (out, envelope, strlen (envelope));
  put_u8 (out, c->drop_nul ? 'x' : 0);
  put_str (out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)");
  put_str (out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)");
  put_str (out, "hi");            /* subject */
  for (guint i = 0; i < 7; i++)
    put_str (out, NULL);
  for (guint i = 0; i < 9; i++)
    put_str (out, i == 4 ? "box" : NULL);
  put_u32 (out, c->n_parts);
  for (guint32 i = 0; i < c->n_parts_written; i++)
    {
      put_str (out, "1");
      put_u8 (out, c->type);
      put_u8 (out, 0);
      put_u32 (out, 0);
      put_u32 (out, (guint32) c->parent);
      put_u32 (out, (guint32) c->first_child);
      put_u32 (out, (guint32) c->next_sibling);
      put_u64 (out, 0);
      put_u64 (out, 10);
      put_u64 (out, c->body_end);
      put_u64 (out, 1);
      put_str (out, "text");
      put_str (out, "plain");
      put_str (out, NULL);
      put_str (out, "7bit");
      put_u8 (out, 1);
      put_u64 (out, 10);
    }
  put_u32 (out, c->n_headers);
  for (guint i = 0; i < 2; i++)   /* two records whatever the count says */
    {
      put_str (out, i == 0 ? "Subject" : "X-Empty");
      put_str (out, i == 0 ? " hi" : "");
    }
  if (c->trailing)
    put_u8 (out, 0);
  return g_byte_array_free_to_bytes (out);
}

typedef struct {
  const char *name;
  Craft craft;
  gboolean valid;
} CraftCase;

static void
test_v2_crafted (void)
{
  static const CraftCase cases[] = {
    { "valid", CRAFT_OK, TRUE },
    { "version-3", { 3, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "has-date-2", { 2, 2, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "no-parts", { 2, 1, 0, 0, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "huge-part-count", { 2, 1, G_MAXUINT32, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "part-count-one-too-many", { 2, 1, 2, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "self-child", { 2, 1, 1, 1, 0, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "child-out-of-table", { 2, 1, 1, 1, 1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "child-minus-two", { 2, 1, 1, 1, -2, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "self-sibling", { 2, 1, 1, 1, -1, 0, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "parent-minus-two", { 2, 1, 1, 1, -1, -1, -2, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "parent-out-of-table", { 2, 1, 1, 1, -1, -1, 1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "unknown-part-type", { 2, 1, 1, 1, -1, -1, -1, 7, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "rfc822-without-child", { 2, 1, 1, 1, -1, -1, -1, 2, 20, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, TRUE },
    { "body-past-message", { 2, 1, 1, 1, -1, -1, -1, 0, 21, 10, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "header-past-message", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 21, G_MAXUINT32 - 1, FALSE, 2, FALSE }, FALSE },
    { "string-past-end", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, 100000, FALSE, 2, FALSE }, FALSE },
    { "string-length-max", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 2, FALSE, 2, FALSE }, FALSE },
    { "required-string-null", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32, FALSE, 2, FALSE }, FALSE },
    { "string-without-nul", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, TRUE, 2, FALSE }, FALSE },
    { "header-count-short", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 1, FALSE }, FALSE },
    { "header-count-huge", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, G_MAXUINT32, FALSE }, FALSE },
    { "trailing-byte", { 2, 1, 1, 1, -1, -1, -1, 0, 20, 10, G_MAXUINT32 - 1, FALSE, 2, TRUE }, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) blob = craft_blob (&cases[i].craft);
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornMessageInfo) info = posthorn_message_info_deserialize (blob, &error);

      g_test_message ("case %s", cases[i].name);
      if (!cases[i].valid)
        {
          g_assert_null (info);
          g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
          continue;
        }
      g_assert_no_error (error);
      g_assert_nonnull (info);
      exercise_info (info);
    }

  /* the valid one reads back as written */
  {
    static const Craft ok = CRAFT_OK;
    g_autoptr(GBytes) blob = craft_blob (&ok);
    g_autoptr(PosthornMessageInfo) info = posthorn_message_info_deserialize (blob, NULL);
    gint64 t;
    int tz;
    const char *mailbox, *name, *value;
    guint64 off, len;

    g_assert_nonnull (info);
    g_assert_cmpuint (posthorn_message_info_get_size (info), ==, 20);
    g_assert_cmpuint (posthorn_message_info_get_header_size (info), ==, 10);
    g_assert_cmpuint (posthorn_message_info_get_body_size (info), ==, 10);
    g_assert_cmpstr (posthorn_message_info_get_subject (info), ==, "hi");
    g_assert_null (posthorn_message_info_get_from (info));
    g_assert_true (posthorn_message_info_get_date (info, &t, &tz));
    g_assert_cmpint (t, ==, 1700000000);
    g_assert_cmpint (tz, ==, -60);
    g_assert_true (posthorn_message_info_get_first_address (info, "to", NULL, &mailbox, NULL));
    g_assert_cmpstr (mailbox, ==, "box");
    g_assert_false (posthorn_message_info_get_first_address (info, "from", NULL, NULL, NULL));
    g_assert_cmpuint (posthorn_message_info_get_n_headers (info), ==, 2);
    g_assert_true (posthorn_message_info_get_header (info, 1, &name, &value));
    g_assert_cmpstr (name, ==, "X-Empty");
    g_assert_cmpstr (value, ==, "");
    g_assert_true (posthorn_message_info_get_section (info, "1", &off, &len, NULL));
    g_assert_cmpuint (off, ==, 10);
    g_assert_cmpuint (len, ==, 10);
    g_assert_true (posthorn_message_info_get_binary_size (info, "1", &len, NULL));
    g_assert_cmpuint (len, ==, 10);
  }
}

/* ---- version 1 ---- */

/* info-v1.blob was written by the version-1 serializer (before session 2)
 * from info-v1.eml: it must decode to what parsing the message gives. */
static void
test_v1_fixture (void)
{
  g_autoptr(GBytes) eml = read_data_file ("info-v1.eml");
  g_autoptr(GBytes) blob = read_data_file ("info-v1.blob");
  g_autoptr(PosthornMessageInfo) parsed = parse_bytes (eml);
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessageInfo) old = posthorn_message_info_deserialize (blob, &error);

  g_assert_cmpmem (g_bytes_get_data (blob, NULL), 21, "posthorn-message-info", 21);
  g_assert_no_error (error);
  assert_info_equal (parsed, old);

  /* and it re-serializes as version 2 without loss */
  {
    g_autoptr(GBytes) v2 = posthorn_message_info_serialize (old);
    g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (v2, &error);
    g_assert_no_error (error);
    assert_info_equal (parsed, back);
  }
}

static void
test_v1_damaged (void)
{
  g_autoptr(GBytes) blob = read_data_file ("info-v1.blob");
  gsize n;
  const guint8 *data = g_bytes_get_data (blob, &n);

  for (gsize len = 0; len < n; len += 7)
    {
      g_autoptr(GBytes) cut = g_bytes_new (data, len);
      g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (cut, NULL);
      if (back != NULL)
        exercise_info (back);
    }
  test_flipped (blob);
}

static void
test_junk (void)
{
  const char *junk[] = { "", "x", "PHMI", "PHMI\x01", "PHMI\x02", "PHMX\x02",
                         "posthorn-message-info", "\x01\x02\x03\x04\x05\x06\x07\x08\x09" };

  for (guint i = 0; i < G_N_ELEMENTS (junk); i++)
    {
      g_autoptr(GBytes) b = g_bytes_new (junk[i], strlen (junk[i]));
      g_autoptr(GError) error = NULL;
      g_autoptr(PosthornMessageInfo) info = posthorn_message_info_deserialize (b, &error);

      g_assert_null (info);
      g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mime/info-blob/v2/roundtrip", test_v2_roundtrip);
  g_test_add_func ("/mime/info-blob/v2/roundtrip-sparse", test_v2_roundtrip_sparse);
  g_test_add_func ("/mime/info-blob/v2/truncated", test_v2_truncated);
  g_test_add_func ("/mime/info-blob/v2/flipped", test_v2_flipped);
  g_test_add_func ("/mime/info-blob/v2/crafted", test_v2_crafted);
  g_test_add_func ("/mime/info-blob/v1/fixture", test_v1_fixture);
  g_test_add_func ("/mime/info-blob/v1/damaged", test_v1_damaged);
  g_test_add_func ("/mime/info-blob/junk", test_junk);
  return g_test_run ();
}
