/* PosthornMessage, its writer, the info blob, the IMAP helpers and the
 * parser's robustness against hostile input.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "ph-private.h"
#include "sexp.h"

/* ---- writer canonicalisation ---- */

typedef struct {
  const char *name;
  const char *const chunks[6];   /* NULL-terminated pieces */
  const char *canonical;
} CanonCase;

static const CanonCase canon_cases[] = {
  { "empty", { NULL }, "" },
  { "lf-only", { "a\nb\n", NULL }, "a\r\nb\r\n" },
  { "crlf", { "a\r\nb\r\n", NULL }, "a\r\nb\r\n" },
  { "mixed", { "a\nb\r\nc\n\nd", NULL }, "a\r\nb\r\nc\r\n\r\nd" },
  { "bare-cr-kept", { "a\rb\r\r\n", NULL }, "a\rb\r\r\n" },
  { "split-cr-lf", { "a\r", "\nb", NULL }, "a\r\nb" },
  { "split-lf-first", { "a", "\n", "\n", NULL }, "a\r\n\r\n" },
  { "leading-lf", { "\n", "x", NULL }, "\r\nx" },
  { "cr-at-end", { "x\r", NULL }, "x\r" },
  { "empty-chunks", { "", "a\n", "", NULL }, "a\r\n" },
};

static void
test_writer_canonical (gconstpointer data)
{
  const CanonCase *tc = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("ph-mime-XXXXXX", NULL);
  g_autoptr(PosthornMessageWriter) w = posthorn_message_writer_new (tmp, 0);

  for (guint i = 0; tc->chunks[i] != NULL; i++)
    g_assert_true (posthorn_message_writer_write (w, tc->chunks[i], strlen (tc->chunks[i]), &error));
  g_assert_cmpuint (posthorn_message_writer_get_size (w), ==, strlen (tc->canonical));
  g_autoptr(PosthornMessage) msg = posthorn_message_writer_finish (w, &error);
  g_assert_no_error (error);
  g_assert_false (posthorn_message_is_file_backed (msg));
  g_assert_cmpuint (posthorn_message_get_size (msg), ==, strlen (tc->canonical));
  g_autoptr(GBytes) bytes = posthorn_message_get_bytes (msg, &error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                   tc->canonical, strlen (tc->canonical));

  /* new_from_data canonicalises the same way (joined input) */
  g_autofree char *joined = g_strjoinv ("", (char **) tc->chunks);
  g_autoptr(PosthornMessage) m2 = posthorn_message_new_from_data (joined, strlen (joined));
  g_autoptr(GBytes) b2 = posthorn_message_get_bytes (m2, NULL);
  g_assert_cmpmem (g_bytes_get_data (b2, NULL), g_bytes_get_size (b2),
                   tc->canonical, strlen (tc->canonical));
  g_rmdir (tmp);
}

static guint
count_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_writer_spill (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("ph-mime-XXXXXX", NULL);
  g_autoptr(PosthornMessageWriter) w = posthorn_message_writer_new (tmp, 1000);
  GString *expect = g_string_new (NULL);

  /* 300 lines of LF-only text in odd-sized pieces: 9000+ bytes */
  GString *input = g_string_new (NULL);
  for (guint i = 0; i < 300; i++) {
    g_string_append_printf (input, "line %03u of the message body\n", i);
    g_string_append_printf (expect, "line %03u of the message body\r\n", i);
  }
  for (gsize off = 0; off < input->len; off += 7)
    g_assert_true (posthorn_message_writer_write (w, input->str + off, MIN (7, input->len - off), &error));
  g_autoptr(PosthornMessage) msg = posthorn_message_writer_finish (w, &error);
  g_assert_no_error (error);
  g_assert_true (posthorn_message_is_file_backed (msg));
  /* the temporary file is unlinked */
  g_assert_cmpuint (count_files (tmp), ==, 0);
  g_assert_cmpuint (posthorn_message_get_size (msg), ==, expect->len);

  g_autoptr(GBytes) bytes = posthorn_message_get_bytes (msg, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expect->str, expect->len);

  char buf[16];
  g_assert_cmpint (posthorn_message_read (msg, 5, buf, 8, &error), ==, 8);
  g_assert_cmpmem (buf, 8, expect->str + 5, 8);
  g_assert_cmpint (posthorn_message_read (msg, expect->len - 3, buf, 16, &error), ==, 3);
  g_assert_cmpint (posthorn_message_read (msg, expect->len + 10, buf, 16, &error), ==, 0);

  /* two independent streams */
  g_autoptr(GInputStream) s1 = posthorn_message_open_stream (msg);
  g_autoptr(GInputStream) s2 = posthorn_message_open_stream (msg);
  char a[10], b[10];
  gsize n;
  g_assert_true (g_input_stream_read_all (s1, a, 10, &n, NULL, &error));
  g_assert_true (g_input_stream_read_all (s1, a, 10, &n, NULL, &error));
  g_assert_true (g_input_stream_read_all (s2, b, 10, &n, NULL, &error));
  g_assert_cmpmem (a, 10, expect->str + 10, 10);
  g_assert_cmpmem (b, 10, expect->str, 10);

  /* store round trip through a file */
  g_autofree char *path = g_build_filename (tmp, "stored", NULL);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (posthorn_message_write_to_fd (msg, fd, &error));
  close (fd);
  g_autoptr(PosthornMessage) again = posthorn_message_new_from_file (path, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) b3 = posthorn_message_get_bytes (again, NULL);
  g_assert_true (g_bytes_equal (b3, bytes));
  g_unlink (path);
  g_rmdir (tmp);
  g_string_free (input, TRUE);
  g_string_free (expect, TRUE);
}

static void
test_writer_one_big_write (void)
{
  g_autoptr(GError) error = NULL;
  gsize n = 3 * 1024 * 1024;
  g_autofree char *input = g_malloc (n);
  for (gsize i = 0; i < n; i++)
    input[i] = (i % 64 == 63) ? '\n' : 'a';
  /* NULL: the default folder (the system one when no daemon is loaded) */
  g_autoptr(PosthornMessageWriter) w = posthorn_message_writer_new (NULL, 0);
  g_assert_true (posthorn_message_writer_write (w, input, n, &error));
  g_assert_cmpuint (posthorn_message_writer_get_size (w), ==, n + n / 64);
  g_autoptr(PosthornMessage) msg = posthorn_message_writer_finish (w, &error);
  g_assert_no_error (error);
  g_assert_true (posthorn_message_is_file_backed (msg));
  g_assert_cmpuint (posthorn_message_get_size (msg), ==, n + n / 64);
  char buf[70];
  g_assert_cmpint (posthorn_message_read (msg, 65 * 1000, buf, 65, &error), ==, 65);
  g_assert_cmpmem (buf + 63, 2, "\r\n", 2);
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (msg, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (posthorn_message_info_get_lines (info), ==, n / 64);
}

/* ---- info blob ---- */

static const char sample[] =
  "From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\n"
  "To: Bob <bob@example.org>, carol@example.net\r\n"
  "Subject: =?iso-8859-1?q?caf=E9?= time\r\n"
  "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
  "Message-ID: <s1@example.de>\r\n"
  "References: <a@x>\r\n <b@x>\r\n"
  "MIME-Version: 1.0\r\n"
  "Content-Type: multipart/mixed; boundary=xx\r\n"
  "\r\n"
  "preamble\r\n"
  "--xx\r\n"
  "Content-Type: text/plain; charset=iso-8859-1\r\n"
  "Content-Transfer-Encoding: quoted-printable\r\n"
  "\r\n"
  "Voil=E0 un caf=E9.\r\n"
  "--xx\r\n"
  "Content-Type: application/octet-stream\r\n"
  "Content-Transfer-Encoding: base64\r\n"
  "\r\n"
  "U0VDUkVUIEJJTkFSWQ==\r\n"
  "--xx\r\n"
  "Content-Type: message/rfc822\r\n"
  "\r\n"
  "Subject: inner\r\n"
  "\r\n"
  "inner body words\r\n"
  "--xx--\r\n"
  "epilogue\r\n";

static void
test_info_roundtrip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (sample, strlen (sample));
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (msg, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
  g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (blob, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (posthorn_message_info_get_envelope (back), ==, posthorn_message_info_get_envelope (info));
  g_assert_cmpstr (posthorn_message_info_get_bodystructure (back), ==, posthorn_message_info_get_bodystructure (info));
  g_assert_cmpstr (posthorn_message_info_get_body (back), ==, posthorn_message_info_get_body (info));
  g_assert_cmpuint (posthorn_message_info_get_size (back), ==, strlen (sample));
  g_assert_cmpuint (posthorn_message_info_get_header_size (back), ==, posthorn_message_info_get_header_size (info));
  g_assert_cmpuint (posthorn_message_info_get_lines (back), ==, posthorn_message_info_get_lines (info));
  g_assert_cmpuint (posthorn_message_info_get_n_parts (back), ==, posthorn_message_info_get_n_parts (info));
  g_assert_cmpuint (posthorn_message_info_get_n_parts (back), ==, 5);

  g_assert_cmpstr (posthorn_message_info_get_subject (back), ==, "café time");
  g_assert_cmpstr (posthorn_message_info_get_from (back), ==, "Jürgen <j@example.de>");
  g_assert_cmpstr (posthorn_message_info_get_message_id (back), ==, "<s1@example.de>");
  g_assert_cmpstr (posthorn_message_info_get_references (back), ==, "<a@x> <b@x>");
  g_assert_null (posthorn_message_info_get_cc (back));
  g_assert_null (posthorn_message_info_get_in_reply_to (back));
  const char *name, *mailbox, *domain;
  g_assert_true (posthorn_message_info_get_first_address (back, "from", &name, &mailbox, &domain));
  g_assert_cmpstr (name, ==, "Jürgen");
  g_assert_cmpstr (mailbox, ==, "j");
  g_assert_cmpstr (domain, ==, "example.de");
  g_assert_true (posthorn_message_info_get_first_address (back, "to", &name, &mailbox, NULL));
  g_assert_cmpstr (name, ==, "Bob");
  g_assert_false (posthorn_message_info_get_first_address (back, "cc", NULL, NULL, NULL));
  gint64 date;
  int tz;
  g_assert_true (posthorn_message_info_get_date (back, &date, &tz));
  g_assert_cmpint (date, ==, 1704186000);
  g_assert_cmpint (tz, ==, 60);
  g_assert_cmpstr (posthorn_message_info_lookup_header (back, "subject"), ==, "café time");
  g_assert_cmpuint (posthorn_message_info_get_n_headers (back), ==, 8);

  const char *number, *type, *subtype, *charset, *cte;
  PosthornMessagePartType ptype;
  gboolean is_message;
  guint64 hs, bs, be;
  g_assert_true (posthorn_message_info_get_part (back, 4, &number, &ptype, &is_message, NULL, &hs, &bs, &be));
  g_assert_cmpstr (number, ==, "3");
  g_assert_true (is_message);
  g_assert_cmpmem (sample + hs, bs - hs, "Subject: inner\r\n\r\n", 18);
  g_assert_cmpmem (sample + bs, be - bs, "inner body words", 16);
  g_assert_true (posthorn_message_info_get_part_content_type (back, 1, &type, &subtype, &charset, &cte));
  g_assert_cmpstr (type, ==, "text");
  g_assert_cmpstr (charset, ==, "iso-8859-1");
  g_assert_cmpstr (cte, ==, "quoted-printable");

  /* sections */
  guint64 off, len;
  g_assert_true (posthorn_message_info_get_section (back, "3.text", &off, &len, &error));
  g_assert_cmpmem (sample + off, len, "inner body words", 16);
  g_assert_true (posthorn_message_info_get_section (back, "2.MIME", &off, &len, &error));
  g_assert_true (g_str_has_prefix (sample + off, "Content-Type: application/octet-stream\r\n"));
  g_assert_false (posthorn_message_info_get_section (back, "4", &off, &len, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (posthorn_message_info_get_section (back, "1.HEADER", &off, &len, &error));
  g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_NOT_FOUND);
  g_clear_error (&error);
  const char *bad[] = { "0", "1..2", "01", "FOO", "MIME", "1.MIME.TEXT", "x1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (posthorn_message_info_get_section (back, bad[i], &off, &len, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
  }

  /* BINARY */
  g_autoptr(GBytes) bin = posthorn_message_decode_part (msg, back, "2", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bin, NULL), g_bytes_get_size (bin), "SECRET BINARY", 13);
  guint64 bsize;
  g_assert_true (posthorn_message_info_get_binary_size (back, "2", &bsize, &error));
  g_assert_cmpuint (bsize, ==, 13);

  /* SEARCH text */
  g_autofree char *body = NULL, *all = NULL;
  g_assert_true (posthorn_message_extract_search_text (msg, back, &body, &all, &error));
  g_assert_nonnull (strstr (body, "Voilà un café."));
  g_assert_nonnull (strstr (body, "inner body words"));
  g_assert_null (strstr (body, "SECRET"));
  g_assert_null (strstr (body, "preamble"));
  g_assert_null (strstr (body, "epilogue"));
  g_assert_null (strstr (body, "Content-Type"));
  g_assert_nonnull (strstr (all, "Subject: café time"));
  g_assert_nonnull (strstr (all, "Subject: inner"));
  g_assert_nonnull (strstr (all, "Content-Type: application/octet-stream"));
  g_assert_nonnull (strstr (all, "Voilà"));
}

static void
test_info_bad_blob (void)
{
  g_autoptr(GError) error = NULL;
  const char *junk[] = { "", "x", "\x01\x02\x03\x04\x05\x06\x07\x08\x09" };

  for (guint i = 0; i < G_N_ELEMENTS (junk); i++) {
    g_autoptr(GBytes) b = g_bytes_new (junk[i], strlen (junk[i]));
    g_autoptr(PosthornMessageInfo) info = posthorn_message_info_deserialize (b, &error);
    g_assert_null (info);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    g_clear_error (&error);
  }
  /* a valid blob with every byte flipped in turn never crashes */
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (sample, strlen (sample));
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (msg, NULL);
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
  gsize n;
  const guint8 *data = g_bytes_get_data (blob, &n);
  for (gsize i = 0; i < n; i += 3) {
    g_autofree guint8 *copy = g_memdup2 (data, n);
    copy[i] ^= 0x5a;
    g_autoptr(GBytes) b = g_bytes_new (copy, n);
    g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (b, NULL);
    if (back != NULL) {
      guint64 off, len;
      posthorn_message_info_get_section (back, "1", &off, &len, NULL);
      g_assert_cmpuint (posthorn_message_info_get_n_parts (back), >, 0);
    }
  }
}

/* ---- HEADER.FIELDS ---- */

typedef struct {
  const char *name;
  const char *header;
  const char *names;      /* space-separated */
  gboolean not;
  const char *expect;
} FieldsCase;

static const FieldsCase fields_cases[] = {
  { "simple", "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", "b", FALSE, "B: 2\r\n\r\n" },
  { "not", "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", "b", TRUE, "A: 1\r\nC: 3\r\n\r\n" },
  { "duplicates-order", "S: 1\r\nX: y\r\nS: 2\r\n\r\n", "s", FALSE, "S: 1\r\nS: 2\r\n\r\n" },
  { "folding-kept", "S: a\r\n  b\r\nT: c\r\n\r\n", "S", FALSE, "S: a\r\n  b\r\n\r\n" },
  { "none", "A: 1\r\n\r\n", "zz", FALSE, "\r\n" },
  { "no-blank-line-fields", "A: 1\r\nB: 2\r\n", "a", FALSE, "A: 1\r\n\r\n" },
  { "no-blank-line-not", "A: 1\r\nB: 2\r\n", "a", TRUE, "B: 2\r\n" },
  { "name-prefix-no-match", "Subject-X: 1\r\nSubject: 2\r\n\r\n", "subject", FALSE, "Subject: 2\r\n\r\n" },
  { "space-before-colon", "Subject : 2\r\n\r\n", "subject", FALSE, "Subject : 2\r\n\r\n" },
  { "no-colon", "garbage\r\nA: 1\r\n\r\n", "a", TRUE, "garbage\r\n\r\n" },
  { "empty", "", "a", FALSE, "\r\n" },
};

static void
test_header_fields (gconstpointer data)
{
  const FieldsCase *tc = data;
  g_auto(GStrv) names = g_strsplit (tc->names, " ", -1);
  gsize len;
  g_autofree char *out = posthorn_message_header_fields (tc->header, strlen (tc->header),
                                                         (const char *const *) names, tc->not, &len);
  g_assert_cmpmem (out, len, tc->expect, strlen (tc->expect));
}

/* ---- decoding ---- */

typedef struct {
  const char *name;
  const char *cte;
  const char *in;
  const char *out;     /* NULL: UNSUPPORTED */
} DecodeCase;

static const DecodeCase decode_cases[] = {
  { "7bit", "7bit", "abc\r\n", "abc\r\n" },
  { "none", NULL, "abc", "abc" },
  { "base64", "base64", "aGVs\r\nbG8=\r\n", "hello" },
  { "base64-case", "BASE64", "aGVsbG8=", "hello" },
  { "base64-garbage", "base64", "aG!V*sbG8=", "hello" },
  { "qp", "quoted-printable", "caf=C3=A9 =3D x=\r\ny", "caf\xC3\xA9 = xy" },
  { "qp-lower-hex", "quoted-printable", "=e9", "\xE9" },
  { "unknown", "x-uuencode", "begin 644 f", NULL },
};

static void
test_decode (gconstpointer data)
{
  const DecodeCase *tc = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = posthorn_message_decode_body (tc->cte, tc->in, strlen (tc->in), &error);
  if (tc->out == NULL) {
    g_assert_null (out);
    g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_UNSUPPORTED);
    return;
  }
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (out, NULL), g_bytes_get_size (out), tc->out, strlen (tc->out));
}

/* ---- robustness ---- */

typedef struct {
  const char *name;
  char *(*build) (gsize *length);
  guint min_parts;
} RobustCase;

static char *
build_deep (gsize *length)
{
  GString *s = g_string_new ("Subject: deep\r\n");
  for (guint i = 0; i < 1000; i++)
    g_string_append_printf (s, "Content-Type: multipart/mixed; boundary=\"b%u\"\r\n\r\n--b%u\r\n", i, i);
  g_string_append (s, "Content-Type: text/plain\r\n\r\ninnermost\r\n");
  for (guint i = 1000; i-- > 0;)
    g_string_append_printf (s, "--b%u--\r\n", i);
  *length = s->len;
  return g_string_free (s, FALSE);
}

static char *
build_deep_rfc822 (gsize *length)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < 1000; i++)
    g_string_append (s, "Content-Type: message/rfc822\r\n\r\n");
  g_string_append (s, "Subject: x\r\n\r\nbody\r\n");
  *length = s->len;
  return g_string_free (s, FALSE);
}

static char *
build_many (gsize *length)
{
  GString *s = g_string_new ("Content-Type: multipart/mixed; boundary=m\r\n\r\n");
  for (guint i = 0; i < 10000; i++)
    g_string_append_printf (s, "--m\r\n\r\npart %u\r\n", i);
  g_string_append (s, "--m--\r\n");
  *length = s->len;
  return g_string_free (s, FALSE);
}

#define FIXED(fn, text)                                  \
  static char *fn (gsize *length)                        \
  {                                                      \
    *length = sizeof (text) - 1;                         \
    return g_memdup2 (text, sizeof (text));              \
  }

FIXED (build_empty, "")
FIXED (build_one_byte, "x")
FIXED (build_lf, "\n")
FIXED (build_no_colon, "this is not a header\r\nneither: is\r\n\r\nbody\r\n")
FIXED (build_nul, "Subject: a\0b\r\nFrom: \0<x@y>\r\nContent-Type: text/pl\0ain; charset=\"\0\"\r\n\r\nbo\0dy\r\n")
FIXED (build_missing_boundaries, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: multipart/alternative; boundary=yy\r\n\r\n--yy\r\nno end\r\n")
FIXED (build_boundary_in_header, "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\nX: y\r\n--a--")
FIXED (build_bad_params, "Content-Type: text/plain; ;;= ; charset; x=\"unterminated\r\nContent-Disposition: ; ;\r\nContent-Language: ,,(\r\n\r\nx")
FIXED (build_bad_addresses, "From: <<<@@@>>>, \"unterminated, (comment, :;:;, @, a@, @b\r\nTo: group: a@b, <c@d>;;; x\r\nCc: (((\r\nSubject: \r\n\r\n")
FIXED (build_rfc2231_gaps, "Content-Type: text/plain; a*1=x; a*3*=y; b*0*=us-ascii''z; b*1=%w\r\n\r\n")
FIXED (build_empty_boundary, "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n")
FIXED (build_only_cr, "\r\r\r\r")

static const RobustCase robust_cases[] = {
  { "nested-1000-multiparts", build_deep, POSTHORN_MESSAGE_MAX_DEPTH },
  { "nested-1000-rfc822", build_deep_rfc822, POSTHORN_MESSAGE_MAX_DEPTH },
  { "10000-parts", build_many, 1000 },
  { "empty-message", build_empty, 1 },
  { "one-byte", build_one_byte, 1 },
  { "only-lf", build_lf, 1 },
  { "header-without-colon", build_no_colon, 1 },
  { "nul-bytes", build_nul, 1 },
  { "missing-boundaries", build_missing_boundaries, 3 },
  { "boundary-in-header", build_boundary_in_header, 3 },
  { "bad-parameters", build_bad_params, 1 },
  { "bad-addresses", build_bad_addresses, 1 },
  { "rfc2231-gaps", build_rfc2231_gaps, 1 },
  { "empty-boundary", build_empty_boundary, 1 },
  { "only-cr", build_only_cr, 1 },
};

static void
assert_parses_as_sexp (const char *text)
{
  gsize used;
  g_autoptr(Sexp) s = sexp_parse (text, strlen (text), &used);
  if (s == NULL || used != strlen (text))
    g_error ("not a valid IMAP list: %.300s", text);
  g_assert_cmpint (s->kind, ==, SEXP_LIST);
}

static void
test_robust (gconstpointer data)
{
  const RobustCase *tc = data;
  gsize length;
  g_autofree char *raw = tc->build (&length);
  g_autoptr(GError) error = NULL;
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_data (raw, length);
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (msg, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (posthorn_message_info_get_n_parts (info), >=, tc->min_parts);
  g_assert_cmpuint (posthorn_message_info_get_n_parts (info), <=, POSTHORN_MESSAGE_MAX_PARTS + 1);
  assert_parses_as_sexp (posthorn_message_info_get_envelope (info));
  assert_parses_as_sexp (posthorn_message_info_get_bodystructure (info));
  assert_parses_as_sexp (posthorn_message_info_get_body (info));

  guint64 size = posthorn_message_get_size (msg);
  for (guint i = 0; i < posthorn_message_info_get_n_parts (info); i++) {
    guint64 hs, bs, be;
    guint depth;
    g_assert_true (posthorn_message_info_get_part (info, i, NULL, NULL, NULL, &depth, &hs, &bs, &be));
    g_assert_cmpuint (hs, <=, bs);
    g_assert_cmpuint (bs, <=, be);
    g_assert_cmpuint (be, <=, size);
    g_assert_cmpuint (depth, <=, POSTHORN_MESSAGE_MAX_DEPTH);
  }
  const char *sections[] = { "", "HEADER", "TEXT", "1", "1.MIME", "1.1", "2", "1.HEADER" };
  for (guint i = 0; i < G_N_ELEMENTS (sections); i++) {
    guint64 off, len;
    if (posthorn_message_info_get_section (info, sections[i], &off, &len, NULL))
      g_assert_cmpuint (off + len, <=, size);
    else
      g_assert_true (i >= 3);
  }
  g_autoptr(GBytes) blob = posthorn_message_info_serialize (info);
  g_autoptr(PosthornMessageInfo) back = posthorn_message_info_deserialize (blob, &error);
  g_assert_no_error (error);
  g_autofree char *body = NULL, *all = NULL;
  g_assert_true (posthorn_message_extract_search_text (msg, back, &body, &all, &error));
  g_assert_true (g_utf8_validate (body, -1, NULL));
  g_assert_true (g_utf8_validate (all, -1, NULL));
}

/* ---- bounded search text (ph_mime_extract_search_text) ---- */

typedef struct {
  const char *name;
  const char *header;      /* the top header, without the blank line */
  const char *unit;        /* body text, repeated */
  guint repeat;
  gsize max;
  gboolean complete;
} CapCase;

static const CapCase cap_cases[] = {
  { "small-fits", "Subject: hi\r\nContent-Type: text/plain", "hello world\r\n", 3, 4096, TRUE },
  { "plain-cut", "Subject: big\r\nContent-Type: text/plain", "0123456789abcdef\r\n", 20000, 1000, FALSE },
  { "utf8-cut-on-char", "Subject: big\r\nContent-Type: text/plain; charset=utf-8",
    "\xc3\xa4\xc3\xb6\xc3\xbc \xe2\x82\xac\r\n", 20000, 1001, FALSE },
  { "latin1-cut", "Subject: big\r\nContent-Type: text/plain; charset=iso-8859-1",
    "caf\xe9 cr\xe8me\r\n", 20000, 999, FALSE },
  { "base64-cut", "Subject: big\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64",
    "aGVsbG8gd29ybGQsIHRoaXMgaXMgYmFzZTY0IHRleHQgZm9yIHRoZSBjYXAgdGVzdC4K\r\n", 5000, 2048, FALSE },
  { "qp-cut", "Subject: big\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
    "caf=C3=A9 =E2=82=AC soft=\r\nbreak\r\n", 5000, 777, FALSE },
  { "invalid-bytes-cut", "Subject: big\r\nContent-Type: text/plain", "\xff\xfe\x80 x\r\n", 20000, 1000, FALSE },
};

/* The capped text is the uncapped text's prefix, at most @max bytes,
 * valid UTF-8, and says whether anything was left out. */
static void
test_search_text_cap (gconstpointer data)
{
  const CapCase *c = data;
  GString *raw = g_string_new (c->header);
  g_autoptr(GError) error = NULL;
  g_autofree char *full_body = NULL, *full_all = NULL, *body = NULL, *all = NULL;
  gboolean complete = !c->complete;

  g_string_append (raw, "\r\n\r\n");
  for (guint i = 0; i < c->repeat; i++)
    g_string_append (raw, c->unit);
  g_autoptr(GBytes) bytes = g_string_free_to_bytes (raw);
  g_autoptr(PosthornMessage) msg = posthorn_message_new_from_bytes (bytes);
  g_autoptr(PosthornMessageInfo) info = posthorn_message_info_parse (msg, &error);
  g_assert_no_error (error);

  g_assert_true (posthorn_message_extract_search_text (msg, info, &full_body, &full_all, &error));
  g_assert_true (ph_mime_extract_search_text (msg, info, c->max, &body, &all, &complete, &error));
  g_assert_no_error (error);
  g_assert_cmpint (complete, ==, c->complete);
  g_assert_cmpuint (strlen (body), <=, c->max);
  g_assert_true (g_utf8_validate (body, -1, NULL));
  g_assert_true (g_utf8_validate (all, -1, NULL));
  g_assert_true (g_str_has_prefix (full_body, body));
  if (c->complete)
    {
      g_assert_cmpstr (body, ==, full_body);
      g_assert_cmpstr (all, ==, full_all);
    }
  else
    /* cut close to the limit, not far before it */
    g_assert_cmpuint (strlen (body) + 64, >, c->max);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (canon_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/mime/writer/canonical/%s", canon_cases[i].name);
    g_test_add_data_func (path, &canon_cases[i], test_writer_canonical);
  }
  g_test_add_func ("/mime/writer/spill-to-file", test_writer_spill);
  g_test_add_func ("/mime/writer/one-big-write", test_writer_one_big_write);
  g_test_add_func ("/mime/info/serialize-roundtrip", test_info_roundtrip);
  g_test_add_func ("/mime/info/deserialize-bad-blob", test_info_bad_blob);
  for (guint i = 0; i < G_N_ELEMENTS (fields_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/mime/header-fields/%s", fields_cases[i].name);
    g_test_add_data_func (path, &fields_cases[i], test_header_fields);
  }
  for (guint i = 0; i < G_N_ELEMENTS (decode_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/mime/decode/%s", decode_cases[i].name);
    g_test_add_data_func (path, &decode_cases[i], test_decode);
  }
  for (guint i = 0; i < G_N_ELEMENTS (robust_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/mime/robust/%s", robust_cases[i].name);
    g_test_add_data_func (path, &robust_cases[i], test_robust);
  }
  for (guint i = 0; i < G_N_ELEMENTS (cap_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/mime/search-text/cap/%s", cap_cases[i].name);
    g_test_add_data_func (path, &cap_cases[i], test_search_text_cap);
  }
  return g_test_run ();
}
