/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An IMAP client speaking through raw deflate/inflate after COMPRESS
 * DEFLATE (RFC 4978), for the imap4 integration tests: each write is
 * sync-flushed, replies are read a compressed byte at a time so that
 * nothing past what the test asks for is consumed. */
#pragma once

#include "imap-test-client.h"

#include <zlib.h>

typedef struct {
  PhTestClient *client;
  z_stream def;
  z_stream inf;
  GByteArray *in;     /* inflated, not yet consumed */
} ZClient;

static inline void
zclient_start (ZClient *z, PhTestClient *client)
{
  memset (z, 0, sizeof *z);
  z->client = client;
  g_assert_cmpint (deflateInit2 (&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY), ==, Z_OK);
  g_assert_cmpint (inflateInit2 (&z->inf, -15), ==, Z_OK);
  z->in = g_byte_array_new ();
}

static inline void
zclient_stop (ZClient *z)
{
  deflateEnd (&z->def);
  inflateEnd (&z->inf);
  g_byte_array_unref (z->in);
}

static inline void
zsend (ZClient *z, const void *data, gsize length)
{
  guint8 buf[4096];

  z->def.next_in = (Bytef *) data;
  z->def.avail_in = (uInt) length;
  do
    {
      z->def.next_out = buf;
      z->def.avail_out = sizeof buf;
      g_assert_cmpint (deflate (&z->def, Z_SYNC_FLUSH), !=, Z_STREAM_ERROR);
      g_assert_true (ph_test_client_send (z->client, buf, (gssize) (sizeof buf - z->def.avail_out)));
    }
  while (z->def.avail_out == 0);
}

static inline void
zsend_line (ZClient *z, const char *line)
{
  g_autofree char *text = g_strconcat (line, "\r\n", NULL);

  zsend (z, text, strlen (text));
}

/* Inflates @size compressed bytes into the buffer of inflated ones. */
static inline void
zinflate (ZClient *z, const guint8 *data, gsize size)
{
  guint8 buf[65536];

  z->inf.next_in = (Bytef *) data;
  z->inf.avail_in = (uInt) size;
  do
    {
      int r;

      z->inf.next_out = buf;
      z->inf.avail_out = sizeof buf;
      r = inflate (&z->inf, Z_NO_FLUSH);
      /* Z_BUF_ERROR: no progress possible, not an error */
      if (r != Z_OK && r != Z_BUF_ERROR)
        g_error ("inflate: %d (%s)", r, z->inf.msg != NULL ? z->inf.msg : "");
      g_byte_array_append (z->in, buf, (guint) (sizeof buf - z->inf.avail_out));
    }
  while (z->inf.avail_out == 0);
}

/* Reads compressed bytes until @need inflated bytes are buffered. */
static inline void
zfill (ZClient *z, gsize need)
{
  while (z->in->len < need)
    {
      g_autoptr(GBytes) raw = ph_test_client_read_exact (z->client, 1);

      g_assert_nonnull (raw);
      zinflate (z, g_bytes_get_data (raw, NULL), 1);
    }
}

static inline char *
zread_line (ZClient *z)
{
  for (;;)
    {
      for (guint k = 0; k + 1 < z->in->len; k++)
        if (z->in->data[k] == '\r' && z->in->data[k + 1] == '\n')
          {
            char *line = g_strndup ((const char *) z->in->data, k);
            g_byte_array_remove_range (z->in, 0, k + 2);
            return line;
          }
      zfill (z, z->in->len + 1);
    }
}

static inline void
zexpect (ZClient *z, const char *expected)
{
  g_autofree char *line = zread_line (z);

  g_assert_cmpstr (line, ==, expected);
}

/* Skips untagged lines up to the one starting with @prefix. */
static inline char *
zexpect_prefix (ZClient *z, const char *prefix)
{
  for (;;)
    {
      char *line = zread_line (z);
      if (g_str_has_prefix (line, prefix))
        return line;
      g_assert_true (line[0] == '*');
      g_free (line);
    }
}
