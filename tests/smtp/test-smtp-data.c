/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <posthorn/posthorn.h>

#include "smtp-data.h"

/* The session hands the connection's line ends over with a cast. */
G_STATIC_ASSERT ((int) SMTP_LINE_END_CRLF == (int) POSTHORN_LINE_END_CRLF);
G_STATIC_ASSERT ((int) SMTP_LINE_END_LF == (int) POSTHORN_LINE_END_LF);
G_STATIC_ASSERT ((int) SMTP_LINE_END_NONE == (int) POSTHORN_LINE_END_NONE);

/* Collects the sink output. */
static void
sink_append (const char *data, gsize length, gpointer user_data)
{
  g_string_append_len (user_data, data, (gssize) length);
}

/* Splits @wire the way the core's line reader does: at LF, CRLF or bare LF
 * end, lines longer than @max_line delivered in pieces (end NONE). Returns
 * the offset just after the line that ended DATA, or -1 if it never
 * ended. */
static gssize
feed_wire (SmtpData *data, const char *wire, gsize length, gsize max_line)
{
  gsize pos = 0;

  while (pos < length)
    {
      const char *lf = memchr (wire + pos, '\n', length - pos);
      gsize line_end = lf != NULL ? (gsize) (lf - wire) : length;
      gsize content_end = line_end;
      SmtpLineEnd end = SMTP_LINE_END_LF;

      if (lf == NULL)
        return -1;  /* an unterminated tail is never delivered */
      if (content_end > pos && wire[content_end - 1] == '\r')
        {
          content_end--;
          end = SMTP_LINE_END_CRLF;
        }
      while (max_line > 0 && content_end - pos > max_line)
        {
          g_assert_cmpint (smtp_data_feed_line (data, wire + pos, max_line, SMTP_LINE_END_NONE),
                           ==, SMTP_DATA_MORE);
          pos += max_line;
        }
      if (smtp_data_feed_line (data, wire + pos, content_end - pos, end) == SMTP_DATA_END)
        return (gssize) line_end + 1;
      pos = line_end + 1;
    }
  return -1;
}

typedef struct {
  const char *wire;
  const char *output;   /* canonical bytes expected at the sink */
  const char *reply;    /* NULL: accepted; else the refusal */
} DataCase;

static void
run_case (const DataCase *c, const SmtpDataOptions *options, gsize max_line)
{
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpData *data = smtp_data_new (options, sink_append, out);
  gssize ended = feed_wire (data, c->wire, strlen (c->wire), max_line);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (ended != (gssize) strlen (c->wire))
    g_error ("\"%s\": DATA ended at %" G_GSSIZE_FORMAT ", not at the end", g_strescape (c->wire, NULL), ended);
  ok = smtp_data_finish (data, &error);
  if (c->reply == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpstr (out->str, ==, c->output);
      g_assert_cmpuint (smtp_data_get_size (data), ==, strlen (c->output));
    }
  else
    {
      g_autofree char *reply = NULL;

      if (ok)
        g_error ("\"%s\" (pieces of %zu) was accepted", g_strescape (c->wire, NULL), max_line);
      reply = smtp_reply_format_error (error);
      g_assert_cmpstr (reply, ==, c->reply);
    }
  smtp_data_free (&data);
  g_assert_null (data);
}

#define SMUGGLE "554 5.5.2 Message refused: bare CR or LF next to \".\" (SMTP smuggling pattern)\r\n"

static void
test_basic (void)
{
  static const DataCase cases[] = {
    { ".\r\n", "", NULL },
    { "Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n", NULL },
    { "a\r\n..\r\n...\r\n.b\r\n..c\r\n.\r\n", "a\r\n.\r\n..\r\nb\r\n.c\r\n", NULL },
    { "\r\n\r\n.\r\n", "\r\n\r\n", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    run_case (&cases[i], NULL, 0);
}

static void
test_nul_bytes_pass (void)
{
  static const char wire[] = "a\0b\r\n.\r\n";
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpData *data = smtp_data_new (NULL, sink_append, out);

  g_assert_cmpint (feed_wire (data, wire, sizeof wire - 1, 0), ==, sizeof wire - 1);
  g_assert_true (smtp_data_finish (data, NULL));
  g_assert_cmpmem (out->str, out->len, "a\0b\r\n", 5);
  smtp_data_free (&data);
}

/* Every SMTP smuggling end-of-data variant: none may end DATA, and the
 * message holding one is refused; only the final CRLF.CRLF ends it. */
static void
test_smuggling (void)
{
  static const char *const variants[] = {
    "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r.\n", "\n.\r",
    "\r\n.\r", "\r\n.\rX", "\n.\rX\r\n", "\r.\rX", "\r\n.\r\r\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (variants); i++)
    for (int strict = 0; strict < 2; strict++)
      {
        g_autofree char *wire = g_strdup_printf ("Subject: a\r\n\r\nbody%s"
                                                 "MAIL FROM:<evil@example.org>\r\n"
                                                 "RCPT TO:<victim@example.org>\r\n"
                                                 "DATA\r\n"
                                                 "From: ceo@example.org\r\n\r\nsmuggled\r\n"
                                                 ".\r\n", variants[i]);
        DataCase c = { wire, NULL, SMUGGLE };
        SmtpDataOptions options = { 0, 0, strict ? SMTP_BARE_NEWLINE_STRICT : SMTP_BARE_NEWLINE_NORMAL };

        run_case (&c, &options, 0);
        /* the same with long-line pieces of every small size */
        for (gsize max = 1; max < 8; max++)
          run_case (&c, &options, max);
      }
}

static void
test_smuggle_output_withheld (void)
{
  static const char wire[] = "a\r\nb\n.\r\nc\r\n.\r\n";
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpData *data = smtp_data_new (NULL, sink_append, out);

  g_assert_cmpint (feed_wire (data, wire, sizeof wire - 1, 0), ==, sizeof wire - 1);
  g_assert_false (smtp_data_finish (data, NULL));
  /* nothing after the pattern reached the writer */
  g_assert_cmpstr (out->str, ==, "a\r\nb\r\n");
  g_assert_true (smtp_data_had_bare_lf (data));
  smtp_data_free (&data);
}

static void
test_bare_lf (void)
{
  static const DataCase normal[] = {
    { "a\nb\r\n.\r\n", "a\r\nb\r\n", NULL },
    { "Subject: x\n\nbody\nmore\r\n.\r\n", "Subject: x\r\n\r\nbody\r\nmore\r\n", NULL },
    { "a\n..\r\n.\r\n", "a\r\n.\r\n", NULL },      /* stuffed dot after bare LF is fine */
    { "a\rb\r\n.\r\n", "a\rb\r\n", NULL },          /* bare CR kept */
    { "x.\r\n.\r\n", "x.\r\n", NULL },
    { "x\r.y\r\n.\r\n", "x\r.y\r\n", NULL },        /* CR . not followed by a break */
  };
  static const DataCase strict[] = {
    { "a\nb\r\n.\r\n", NULL, "554 5.5.2 Message refused: bare LF received\r\n" },
    { "a\rb\r\n.\r\n", NULL, "554 5.5.2 Message refused: bare CR received\r\n" },
    { "clean\r\n.\r\n", "clean\r\n", NULL },
  };
  SmtpDataOptions options = { 0, 0, SMTP_BARE_NEWLINE_STRICT };

  for (gsize i = 0; i < G_N_ELEMENTS (normal); i++)
    run_case (&normal[i], NULL, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (strict); i++)
    run_case (&strict[i], &options, 0);
}

static void
test_dot_stuffing_roundtrip (void)
{
  static const char *const lines[] = {
    "From: a@example.org", "", ".", "..", "...", ".leading", "no dot", ". space",
    "trailing.", "", ".", "end",
  };
  g_autoptr(GString) wire = g_string_new (NULL);
  g_autoptr(GString) canonical = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      if (lines[i][0] == '.')
        g_string_append_c (wire, '.');
      g_string_append_printf (wire, "%s\r\n", lines[i]);
      g_string_append_printf (canonical, "%s\r\n", lines[i]);
    }
  g_string_append (wire, ".\r\n");
  for (gsize max = 0; max < 12; max++)
    {
      DataCase c = { wire->str, canonical->str, NULL };
      run_case (&c, NULL, max);
    }
}

static void
test_long_line_pieces (void)
{
  g_autoptr(GString) wire = g_string_new ("Subject: long\r\n\r\n");
  g_autoptr(GString) canonical = NULL;
  DataCase c;

  for (int i = 0; i < 5000; i++)
    g_string_append_c (wire, (char) ('a' + i % 26));
  g_string_append (wire, "\r\n.");
  for (int i = 0; i < 3000; i++)
    g_string_append_c (wire, '.');
  g_string_append (wire, "\r\n");
  canonical = g_string_new (wire->str);
  /* the canonical form drops the one stuffing dot */
  g_string_erase (canonical, (gssize) (canonical->len - 3003), 1);
  g_string_append (wire, ".\r\n");
  c = (DataCase) { wire->str, canonical->str, NULL };
  run_case (&c, NULL, 998);
  run_case (&c, NULL, 1);
  run_case (&c, NULL, 0);
}

static void
test_cr_split_across_pieces (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpData *data = smtp_data_new (NULL, sink_append, out);

  /* "abc\r" | "" LF is one CRLF the reader split */
  g_assert_cmpint (smtp_data_feed_line (data, "abc\r", 4, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "", 0, SMTP_LINE_END_LF), ==, SMTP_DATA_MORE);
  /* so a "." CRLF now is the real end */
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_END);
  g_assert_true (smtp_data_finish (data, NULL));
  g_assert_false (smtp_data_had_bare_cr (data));
  g_assert_false (smtp_data_had_bare_lf (data));
  g_assert_cmpstr (out->str, ==, "abc\r\n");
  smtp_data_free (&data);

  /* "x\r." | "\r" | "" CRLF: the smuggling pattern across pieces */
  g_string_truncate (out, 0);
  data = smtp_data_new (NULL, sink_append, out);
  smtp_data_feed_line (data, "x\r.", 3, SMTP_LINE_END_NONE);
  smtp_data_feed_line (data, "\r", 1, SMTP_LINE_END_NONE);
  smtp_data_feed_line (data, "y", 1, SMTP_LINE_END_CRLF);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_END);
  g_assert_false (smtp_data_finish (data, NULL));
  smtp_data_free (&data);

  /* a "." piece at line start continued by more text is data */
  g_string_truncate (out, 0);
  data = smtp_data_new (NULL, sink_append, out);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "x", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_END);
  g_assert_true (smtp_data_finish (data, NULL));
  g_assert_cmpstr (out->str, ==, "x\r\n");
  smtp_data_free (&data);

  /* "." | "" CRLF is the end line, split by the reader */
  data = smtp_data_new (NULL, NULL, NULL);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "", 0, SMTP_LINE_END_CRLF), ==, SMTP_DATA_END);
  g_assert_true (smtp_data_finish (data, NULL));
  smtp_data_free (&data);

  /* "." | "\r" | "" LF is the same end line, split twice */
  data = smtp_data_new (NULL, NULL, NULL);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "\r", 1, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "", 0, SMTP_LINE_END_LF), ==, SMTP_DATA_END);
  g_assert_true (smtp_data_finish (data, NULL));
  smtp_data_free (&data);

  /* "." | "" LF after CRLF is "\r\n.\n": refused, not the end */
  data = smtp_data_new (NULL, NULL, NULL);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_NONE), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, "", 0, SMTP_LINE_END_LF), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_MORE);
  g_assert_cmpint (smtp_data_feed_line (data, ".", 1, SMTP_LINE_END_CRLF), ==, SMTP_DATA_END);
  g_assert_false (smtp_data_finish (data, NULL));
  smtp_data_free (&data);
}

static void
test_size_limit (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  SmtpDataOptions options = { 20, 0, SMTP_BARE_NEWLINE_NORMAL };
  static const char fits[] = "0123456789\r\n012345\r\n.\r\n";          /* 20 bytes */
  static const char over[] = "0123456789\r\n0123456\r\n"
                             "more and more data after the limit\r\n.\r\n";
  SmtpData *data = smtp_data_new (&options, sink_append, out);
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;

  g_assert_cmpint (feed_wire (data, fits, sizeof fits - 1, 0), ==, sizeof fits - 1);
  g_assert_true (smtp_data_finish (data, NULL));
  g_assert_cmpuint (smtp_data_get_size (data), ==, 20);
  smtp_data_free (&data);

  g_string_truncate (out, 0);
  data = smtp_data_new (&options, sink_append, out);
  /* keeps consuming to the real end after the limit */
  g_assert_cmpint (feed_wire (data, over, sizeof over - 1, 0), ==, sizeof over - 1);
  g_assert_false (smtp_data_finish (data, &error));
  reply = smtp_reply_format_error (error);
  g_assert_cmpstr (reply, ==, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  g_assert_cmpuint (smtp_data_get_size (data), ==, sizeof over - 1 - 3);
  g_assert_cmpuint (out->len, <=, 20);
  smtp_data_free (&data);
}

static void
test_hop_count (void)
{
  for (guint hops = 29; hops <= 31; hops++)
    {
      g_autoptr(GString) wire = g_string_new (NULL);
      g_autoptr(GError) error = NULL;
      SmtpData *data = smtp_data_new (NULL, NULL, NULL);

      for (guint i = 0; i < hops; i++)
        g_string_append_printf (wire, "%s: from h%u by h%u\r\n\tid %u\r\n",
                                i % 2 ? "Received" : "received", i, i + 1, i);
      g_string_append (wire, "Subject: loop\r\n\r\n");
      /* body lines never count */
      for (guint i = 0; i < 5; i++)
        g_string_append (wire, "Received: in the body\r\n");
      g_string_append (wire, ".\r\n");
      feed_wire (data, wire->str, wire->len, 0);
      g_assert_cmpuint (smtp_data_get_received_count (data), ==, hops);
      if (hops <= 30)
        g_assert_true (smtp_data_finish (data, &error));
      else
        {
          g_autofree char *reply = NULL;

          g_assert_false (smtp_data_finish (data, &error));
          reply = smtp_reply_format_error (error);
          g_assert_cmpstr (reply, ==, "554 5.4.6 Too many hops (mail loop?)\r\n");
        }
      smtp_data_free (&data);
    }
}

static void
test_bdat_bytes (void)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GString) msg = g_string_new (NULL);
  SmtpDataOptions options = { 0, 2, SMTP_BARE_NEWLINE_NORMAL };
  SmtpData *data = smtp_data_new (&options, sink_append, out);
  g_autoptr(GError) error = NULL;

  g_string_append (msg, "Received: a\r\nRECEIVED: b\r\nX-Received: no\r\n\r\n.\r\n..\r\nReceived: body\r\n");
  /* chunk boundaries in the middle of the header name */
  for (gsize i = 0; i < msg->len; i += 5)
    smtp_data_feed_bytes (data, msg->str + i, MIN (5, msg->len - i));
  g_assert_cmpuint (smtp_data_get_received_count (data), ==, 2);
  g_assert_true (smtp_data_finish (data, &error));
  g_assert_cmpstr (out->str, ==, msg->str);  /* raw: no unstuffing, no end marker */
  smtp_data_free (&data);

  data = smtp_data_new (&options, NULL, NULL);
  smtp_data_feed_bytes (data, "Received: 1\r\nReceived: 2\r\nReceived: 3\r\n\r\n", 42);
  g_assert_false (smtp_data_finish (data, &error));
  g_assert_error (error, SMTP_REPLY_ERROR, 554);
  smtp_data_free (&data);
}

typedef struct {
  const char *bytes;
  gboolean binary;
  SmtpBareNewline policy;
  const char *output;  /* NULL: refused */
} BdatCase;

/* BDAT content is not unstuffed and has no end marker, but it may be
 * relayed with DATA later, so the same newline policy applies. Every case
 * runs with every chunk split. */
static void
test_bdat_newlines (void)
{
  static const BdatCase cases[] = {
    { "a\r\n.\r\nb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, "a\r\n.\r\nb\r\n" },
    { ".\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, ".\r\n" },
    { "a\nb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, "a\r\nb\r\n" },
    { "a\rb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, "a\rb\r\n" },
    { "a\n.\nb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\r.\rb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\n.\r\nb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\r\n.\nb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\r\n.\rb\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "\n.\r\n", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\r\n.", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\r\n.\r", FALSE, SMTP_BARE_NEWLINE_NORMAL, NULL },
    { "a\nb\r\n", FALSE, SMTP_BARE_NEWLINE_STRICT, NULL },
    { "a\rb\r\n", FALSE, SMTP_BARE_NEWLINE_STRICT, NULL },
    { "a\r\nb\r", FALSE, SMTP_BARE_NEWLINE_STRICT, NULL },
    { "a\r\n.\r\nb\r\n", FALSE, SMTP_BARE_NEWLINE_STRICT, "a\r\n.\r\nb\r\n" },
    { "a\n.\nb\r\x00\xff", TRUE, SMTP_BARE_NEWLINE_STRICT, "a\n.\nb\r" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize len = strlen (cases[i].bytes);

      if (cases[i].binary)
        len += 2;  /* the NUL and the 0xff after it */
      for (gsize split = 1; split <= len; split++)
        {
          g_autoptr(GString) out = g_string_new (NULL);
          SmtpDataOptions options = { 0, 0, cases[i].policy, cases[i].binary };
          SmtpData *data = smtp_data_new (&options, sink_append, out);
          gboolean ok;

          for (gsize pos = 0; pos < len; pos += split)
            smtp_data_feed_bytes (data, cases[i].bytes + pos, MIN (split, len - pos));
          ok = smtp_data_finish (data, NULL);
          if (ok != (cases[i].output != NULL))
            g_error ("bdat case %zu split %zu: %s", i, split, ok ? "accepted" : "refused");
          if (ok && !cases[i].binary)
            g_assert_cmpstr (out->str, ==, cases[i].output);
          if (ok && cases[i].binary)
            g_assert_cmpmem (out->str, out->len, cases[i].bytes, len);
          smtp_data_free (&data);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/smtp/data/basic", test_basic);
  g_test_add_func ("/smtp/data/nul-bytes", test_nul_bytes_pass);
  g_test_add_func ("/smtp/data/smuggling-variants", test_smuggling);
  g_test_add_func ("/smtp/data/smuggling-output-withheld", test_smuggle_output_withheld);
  g_test_add_func ("/smtp/data/bare-lf-and-cr", test_bare_lf);
  g_test_add_func ("/smtp/data/dot-stuffing-roundtrip", test_dot_stuffing_roundtrip);
  g_test_add_func ("/smtp/data/long-line-pieces", test_long_line_pieces);
  g_test_add_func ("/smtp/data/cr-split-across-pieces", test_cr_split_across_pieces);
  g_test_add_func ("/smtp/data/size-limit", test_size_limit);
  g_test_add_func ("/smtp/data/hop-count", test_hop_count);
  g_test_add_func ("/smtp/data/bdat-bytes", test_bdat_bytes);
  g_test_add_func ("/smtp/data/bdat-newlines", test_bdat_newlines);
  return g_test_run ();
}
