/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COMPRESS=DEFLATE (RFC 4978) against the real daemon, driven by a zlib
 * client: plain and over TLS, a large compressible APPEND and FETCH
 * (the inflated input far larger than one read), IDLE updates through
 * the deflate stream, COMPRESSIONACTIVE, the refusals, corrupt input. */
#include "imap-test-zlib.h"

#include <sqlite3.h>

typedef struct {
  PhTestServer *server;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (data);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->server, ph_test_server_free);
}

static PhTestClient *
login_compress (PhTestServer *server, gboolean tls, ZClient *z)
{
  PhTestClient *client = ph_test_client_connect (server, "imap4", tls);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autoptr(GPtrArray) lines = NULL;

  g_assert_null (strstr (greeting, "COMPRESS"));
  lines = imap_test_ok (client, "LOGIN alice@example.org secret");
  g_assert_nonnull (strstr (imap_test_tagged (lines), " COMPRESS=DEFLATE"));
  g_assert_true (ph_test_client_send (client, "z1 COMPRESS DEFLATE\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (client, "z1 OK"));
  zclient_start (z, client);
  return client;
}

static void
test_compress_plain (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = NULL;
  g_autoptr(PhTestClient) other = NULL;
  g_autoptr(GString) msg = g_string_new ("From: a@example.org\r\nSubject: big\r\n\r\n");
  g_autofree char *line = NULL;
  g_autofree char *header = NULL;
  ZClient z;

  client = login_compress (f->server, FALSE, &z);
  zsend_line (&z, "a1 NOOP");
  zexpect (&z, "a1 OK NOOP completed.");
  zsend_line (&z, "a2 CAPABILITY");
  line = zread_line (&z);
  g_assert_true (g_str_has_prefix (line, "* CAPABILITY "));
  g_assert_null (strstr (line, "COMPRESS=DEFLATE"));
  zexpect (&z, "a2 OK Capability completed.");
  zsend_line (&z, "a3 COMPRESS DEFLATE");
  zexpect (&z, "a3 NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS");

  /* 300 KB that deflate shrinks to a few KB: one read inflates to far
   * more than the connection's read size */
  while (msg->len < 300 * 1024)
    g_string_append (msg, "All work and no play makes Jack a dull boy.\r\n");
  header = g_strdup_printf ("a4 APPEND INBOX {%" G_GSIZE_FORMAT "+}\r\n", msg->len);
  zsend (&z, header, strlen (header));
  zsend (&z, msg->str, msg->len);
  zsend (&z, "\r\n", 2);
  g_clear_pointer (&line, g_free);
  line = zexpect_prefix (&z, "a4 ");
  g_assert_true (g_str_has_prefix (line, "a4 OK [APPENDUID "));
  zsend_line (&z, "a5 SELECT INBOX");
  g_clear_pointer (&line, g_free);
  line = zexpect_prefix (&z, "a5 ");
  g_assert_true (g_str_has_prefix (line, "a5 OK [READ-WRITE]"));
  zsend_line (&z, "a6 FETCH 1 BODY.PEEK[]");
  {
    g_autofree char *want = g_strdup_printf ("* 1 FETCH (BODY[] {%" G_GSIZE_FORMAT "}", msg->len);
    zexpect (&z, want);
  }
  zfill (&z, msg->len);
  g_assert_true (memcmp (z.in->data, msg->str, msg->len) == 0);
  g_byte_array_remove_range (z.in, 0, (guint) msg->len);
  zexpect (&z, ")");
  zexpect (&z, "a6 OK Fetch completed.");

  /* IDLE updates come through the deflate stream */
  other = imap_test_login (f->server, IMAP_TEST_USER);
  zsend_line (&z, "a7 IDLE");
  zexpect (&z, "+ idling");
  {
    static const char small[] = "From: b@example.org\r\nSubject: s\r\n\r\nhi\r\n";
    g_autofree char *tagged = imap_test_append (other, "INBOX", NULL, small, sizeof small - 1);
    g_assert_true (g_str_has_prefix (tagged, "OK"));
  }
  zexpect (&z, "* 2 EXISTS");
  zexpect (&z, "* 2 RECENT");
  zsend_line (&z, "DONE");
  zexpect (&z, "a7 OK Idle completed.");
  /* IDLE released both zlib states: the server's output went out as
   * stored blocks, its inflater kept only the history. The same FETCH
   * again makes the client's deflater refer back across the release, and
   * its large answer needs a new deflater */
  zsend_line (&z, "a6 FETCH 1 BODY.PEEK[]");
  {
    g_autofree char *want = g_strdup_printf ("* 1 FETCH (BODY[] {%" G_GSIZE_FORMAT "}", msg->len);
    zexpect (&z, want);
  }
  zfill (&z, msg->len);
  g_assert_true (memcmp (z.in->data, msg->str, msg->len) == 0);
  g_byte_array_remove_range (z.in, 0, (guint) msg->len);
  zexpect (&z, ")");
  zexpect (&z, "a6 OK Fetch completed.");
  zsend_line (&z, "a8 LOGOUT");
  g_clear_pointer (&line, g_free);
  line = zread_line (&z);
  g_assert_true (g_str_has_prefix (line, "* BYE"));
  zexpect (&z, "a8 OK Logout completed.");
  zclient_stop (&z);
}

static void
test_compress_tls (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = NULL;
  g_autofree char *line = NULL;
  ZClient z;

  client = login_compress (f->server, TRUE, &z);
  g_assert_true (ph_test_client_is_tls (client));
  zsend_line (&z, "t1 SELECT INBOX");
  line = zexpect_prefix (&z, "t1 ");
  g_assert_true (g_str_has_prefix (line, "t1 OK [READ-WRITE]"));
  /* pipelined commands in one deflate flush */
  zsend (&z, "t2 NOOP\r\nt3 UNSELECT\r\n", 22);
  zexpect (&z, "t2 OK NOOP completed.");
  zexpect (&z, "t3 OK Unselect completed.");
  zclient_stop (&z);
}

static void
test_compress_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = ph_test_client_connect (f->server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autofree char *fail = imap_test_fail (client, "COMPRESS DEFLATE");
  g_autoptr(GPtrArray) lines = NULL;
  static const guint8 garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37, 0x42 };

  /* before login */
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  lines = imap_test_ok (client, "LOGIN alice@example.org secret");
  g_clear_pointer (&fail, g_free);
  fail = imap_test_fail (client, "COMPRESS X-UNKNOWN");
  g_assert_true (g_str_has_prefix (fail, "BAD"));
  /* corrupt deflate data closes the connection */
  g_assert_true (ph_test_client_send (client, "z1 COMPRESS DEFLATE\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (client, "z1 OK"));
  g_assert_true (ph_test_client_send (client, garbage, sizeof garbage));
  g_assert_true (ph_test_client_wait_closed (client, 5000));
}

/* The server's peak resident memory (VmHWM), in KiB. */
static guint64
server_peak_kb (PhTestServer *server)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) ph_test_server_get_pid (server));
  g_autofree char *text = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  line = strstr (text, "\nVmHWM:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("\nVmHWM:"), NULL, 10);
}

/* Deflates @total bytes of 'a' (about 1000:1) without a flush in
 * between, then a sync flush. */
static void
zsend_repeated (ZClient *z, gsize total)
{
  static guint8 block[65536];
  guint8 buf[16384];

  memset (block, 'a', sizeof block);
  while (total > 0)
    {
      gsize n = MIN (total, sizeof block);

      total -= n;
      z->def.next_in = block;
      z->def.avail_in = (uInt) n;
      do
        {
          z->def.next_out = buf;
          z->def.avail_out = sizeof buf;
          g_assert_cmpint (deflate (&z->def, total == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH), !=,
                           Z_STREAM_ERROR);
          /* the server may close the connection before it read all */
          if (!ph_test_client_send (z->client, buf, (gssize) (sizeof buf - z->def.avail_out)))
            return;
        }
      while (z->def.avail_out == 0);
    }
}

/* storage-sqlite indexes new bodies for SEARCH in the background, after
 * the APPEND's OK (search_pending): waits until it has caught up, so that
 * the indexer's own allocations do not land in a later measurement on a
 * slow machine. */
static void
wait_search_index (PhTestServer *server)
{
  g_autofree char *path = g_build_filename (ph_test_server_get_state_dir (server), "mail.db",
                                            NULL);
  sqlite3 *db = NULL;
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 1000);
  for (;;)
    {
      sqlite3_stmt *stmt = NULL;
      gint64 pending;

      g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM search_pending", -1, &stmt,
                                           NULL), ==, SQLITE_OK);
      g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
      pending = sqlite3_column_int64 (stmt, 0);
      sqlite3_finalize (stmt);
      if (pending == 0)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20 * 1000);
    }
  sqlite3_close (db);
}

/* Brings the server to its working size without COMPRESS: worker
 * threads started, the store's caches and the allocator's arenas warm,
 * a big literal streamed once. Otherwise their first growth lands in the
 * bomb's measurement and makes it a matter of luck. */
static void
warm_up (PhTestServer *server)
{
  g_autoptr(PhTestClient) client = ph_test_client_connect (server, "imap4", FALSE);
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autofree char *body = NULL;
  gsize size = 4 * 1024 * 1024;

  ph_test_client_set_timeout (client, 60000);
  lines = imap_test_ok (client, "LOGIN alice@example.org secret");
  body = g_malloc (size);
  memset (body, 'w', size);
  for (gsize i = 76; i < size; i += 78)
    {
      body[i] = '\r';
      body[i + 1] = '\n';
    }
  for (guint round = 0; round < 2; round++)
    {
      g_autofree char *reply = NULL;

      g_assert_true (ph_test_client_sendf (client, "w%u APPEND Trash {%" G_GSIZE_FORMAT "+}\r\n",
                                           round, size));
      g_assert_true (ph_test_client_send (client, body, (gssize) size));
      g_assert_true (ph_test_client_send (client, "\r\n", 2));
      reply = ph_test_client_expect_line_prefix (client, round ? "w1 OK" : "w0 OK");
    }
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (client, "LOGOUT");
  wait_search_index (server);
}

/* A decompression bomb: a 16 KiB read inflates to at most 256 KiB at a
 * time, the line limit still applies (the overlong line is dropped as it
 * comes, BYE [TOOBIG] at its end), and the server's peak memory hardly
 * moves (inflated all at once, one read of this input
 * would be 16 MB). A compressed literal far larger than the bound still
 * arrives whole. */
static void
test_compress_bomb (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = NULL;
  g_autoptr(PhTestClient) second = NULL;
  g_autofree char *line = NULL;
  guint64 before, after;
  ZClient z;

  warm_up (f->server);
  second = login_compress (f->server, FALSE, &z);
  ph_test_client_set_timeout (second, 60000);   /* slow under sanitizers */
  before = server_peak_kb (f->server);
  zsend (&z, "b3 NOOP ", 8);
  zsend_repeated (&z, 32 * 1024 * 1024);
  /* the core drops the overlong line as it comes and answers at its end */
  zsend (&z, "\r\n", 2);
  g_clear_pointer (&line, g_free);
  line = zread_line (&z);
  g_assert_cmpstr (line, ==, "* BYE [TOOBIG] Command line too long");
  g_assert_true (ph_test_client_wait_closed (second, 10000));
  after = server_peak_kb (f->server);
  g_test_message ("peak RSS %" G_GUINT64_FORMAT " KiB before the bomb, %" G_GUINT64_FORMAT
                  " KiB after", before, after);
#if !defined(__SANITIZE_ADDRESS__)
  /* (ASan's quarantine keeps freed memory resident: no measure there) */
  g_assert_cmpuint (after, <, before + 8 * 1024);
#endif
  zclient_stop (&z);

  /* a compressed literal of 8 MiB: its inflated bytes come from the
   * filter's backlog, bound by bound */
  client = login_compress (f->server, FALSE, &z);
  ph_test_client_set_timeout (client, 60000);
  {
    static const char head[] = "From: a@example.org\r\nSubject: zeros\r\n\r\n";
    gsize body = 8 * 1024 * 1024;
    g_autofree char *cmd = g_strdup_printf ("b1 APPEND INBOX {%" G_GSIZE_FORMAT "+}\r\n%s",
                                            sizeof head - 1 + body + 2, head);

    zsend (&z, cmd, strlen (cmd));
    zsend_repeated (&z, body);
    zsend (&z, "\r\n\r\n", 4);
    g_clear_pointer (&line, g_free);
    line = zexpect_prefix (&z, "b1 ");
    g_assert_true (g_str_has_prefix (line, "b1 OK [APPENDUID "));
    zsend_line (&z, "b2 STATUS INBOX (MESSAGES SIZE)");
    g_clear_pointer (&line, g_free);
    line = zread_line (&z);
    {
      g_autofree char *want = g_strdup_printf ("* STATUS INBOX (MESSAGES 1 SIZE %" G_GSIZE_FORMAT ")",
                                               sizeof head - 1 + body + 2);
      g_assert_cmpstr (line, ==, want);
    }
    zexpect (&z, "b2 OK Status completed.");
  }

  zclient_stop (&z);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/compress/plain-append-fetch-idle", test_compress_plain, NULL);
  ADD ("/imap4/compress/tls", test_compress_tls, NULL);
  ADD ("/imap4/compress/refused-and-corrupt", test_compress_refused, NULL);
  ADD ("/imap4/compress/bomb", test_compress_bomb, NULL);
  return g_test_run ();
}
