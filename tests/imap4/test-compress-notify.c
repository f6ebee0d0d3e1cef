/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COMPRESS=DEFLATE (RFC 4978) with a NOTIFY (RFC 5465) client that waits
 * for notifications without IDLE: once no command runs, the server
 * releases its zlib states as IDLE does. A zlib client and a second,
 * plain session: notifications arrive as stored deflate blocks (no
 * deflater live), the client's next command refers back across the
 * release (the inflater kept its history), a large answer gets a new
 * deflater, and 200 such sessions cost a few KiB each. */
#include "imap-test-zlib.h"

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

/* The next server write, which must be one stored deflate block (what
 * the server sends while its deflater is released): its text. The
 * bytes still go through the client's inflater. */
static char *
zread_stored (ZClient *z)
{
  g_autoptr(GBytes) header = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GBytes) trailer = NULL;
  const guint8 *h;
  guint len;

  g_assert_cmpuint (z->in->len, ==, 0);
  for (;;)
    {
      header = ph_test_client_read_exact (z->client, 5);
      g_assert_nonnull (header);
      h = g_bytes_get_data (header, NULL);
      /* BFINAL 0, BTYPE 00 (stored), byte-aligned; a compressed block
       * would have BTYPE 01 or 10 in these bits */
      g_assert_cmpuint (h[0], ==, 0);
      len = h[1] | (guint) h[2] << 8;
      g_assert_cmpuint (len, ==, (~(h[3] | (guint) h[4] << 8)) & 0xffff);
      if (len > 0)
        break;
      /* the sync flush that ended the previous write (a command's,
       * made with a deflater): not read yet */
      zinflate (z, h, 5);
      g_clear_pointer (&header, g_bytes_unref);
    }
  payload = ph_test_client_read_exact (z->client, len);
  g_assert_nonnull (payload);
  /* a deflater would end the write with a sync flush (an empty stored
   * block, 00 00 00 ff ff, even after a stored one it chose itself):
   * nothing follows here */
  ph_test_client_set_timeout (z->client, 300);
  trailer = ph_test_client_read_exact (z->client, 1);
  ph_test_client_set_timeout (z->client, 5000);
  g_assert_null (trailer);
  zinflate (z, h, 5);
  zinflate (z, g_bytes_get_data (payload, NULL), len);
  g_assert_cmpuint (z->in->len, ==, len);
  return zread_line (z);
}

static PhTestClient *
login_compress (PhTestServer *server, const char *user, ZClient *z)
{
  PhTestClient *client = ph_test_client_connect (server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autofree char *login = g_strdup_printf ("LOGIN %s %s", user, IMAP_TEST_PASS);
  g_autoptr(GPtrArray) lines = imap_test_ok (client, login);

  g_assert_true (ph_test_client_send (client, "z1 COMPRESS DEFLATE\r\n", -1));
  g_free (ph_test_client_expect_line_prefix (client, "z1 OK"));
  zclient_start (z, client);
  return client;
}

static void
zok (ZClient *z, const char *tag, const char *command)
{
  g_autofree char *line = g_strdup_printf ("%s %s", tag, command);
  g_autofree char *prefix = g_strdup_printf ("%s OK", tag);
  g_autofree char *tagged = NULL;

  zsend_line (z, line);
  tagged = zexpect_prefix (z, tag);
  if (!g_str_has_prefix (tagged, prefix))
    g_error ("%s -> %s", line, tagged);
}

static void
append_to (PhTestClient *client, const char *mailbox, const char *body)
{
  g_autofree char *msg = g_strdup_printf ("From: a@example.org\r\nSubject: s\r\n\r\n%s\r\n", body);
  g_autofree char *tagged = imap_test_append (client, mailbox, NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

#define STATUS_ARCHIVE "STATUS Archive (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"

static void
test_compress_notify_waiting (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) client = NULL;
  g_autoptr(PhTestClient) other = NULL;
  g_autoptr(GString) big = g_string_new (NULL);
  g_autofree char *line = NULL;
  ZClient z;

  client = login_compress (f->server, IMAP_TEST_USER, &z);
  other = imap_test_login (f->server, IMAP_TEST_USER);
  zok (&z, "w0", "ENABLE IMAP4rev2");
  zok (&z, "w1", STATUS_ARCHIVE);
  zok (&z, "w2", "SELECT INBOX");
  zok (&z, "w3", "NOTIFY SET (selected (MessageNew (UID) MessageExpunge))"
                 " (personal (MessageNew MessageExpunge))");

  /* no command runs: the notification leaves without a deflater */
  append_to (other, "Archive", "one");
  line = zread_stored (&z);
  g_assert_true (g_str_has_prefix (line, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 "));
  /* the selected mailbox's push, MessageNew fetch-att included */
  append_to (other, "INBOX", "two");
  zexpect (&z, "* 1 EXISTS");
  zexpect (&z, "* 1 FETCH (UID 1)");

  /* the client's deflater refers back to w1 across the release: the
   * server's new inflater has the history */
  zsend_line (&z, "w4 " STATUS_ARCHIVE);
  g_clear_pointer (&line, g_free);
  line = zread_line (&z);
  g_assert_true (g_str_has_prefix (line, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 "));
  zexpect (&z, "w4 OK Status completed.");

  /* a large answer of a command: a new deflater, released again after */
  while (big->len < 64 * 1024)
    g_string_append (big, "All work and no play makes Jack a dull boy.\r\n");
  append_to (other, "INBOX", big->str);
  zexpect (&z, "* 2 EXISTS");
  zexpect (&z, "* 2 FETCH (UID 2)");
  zsend_line (&z, "w5 UID FETCH 2 BODY.PEEK[TEXT]");
  {
    g_autofree char *want = g_strdup_printf ("* 2 FETCH (UID 2 BODY[TEXT] {%" G_GSIZE_FORMAT "}",
                                             big->len + 2);
    zexpect (&z, want);
  }
  zfill (&z, big->len + 2);
  g_assert_true (memcmp (z.in->data, big->str, big->len) == 0);
  g_byte_array_remove_range (z.in, 0, (guint) big->len + 2);
  zexpect (&z, ")");
  zexpect (&z, "w5 OK Fetch completed.");
  append_to (other, "Archive", "three");
  g_clear_pointer (&line, g_free);
  line = zread_stored (&z);
  g_assert_true (g_str_has_prefix (line, "* STATUS Archive (MESSAGES 2 UIDNEXT 3 "));

  /* and IDLE still works on top of it */
  zsend_line (&z, "w6 IDLE");
  zexpect (&z, "+ idling");
  append_to (other, "Archive", "four");
  g_clear_pointer (&line, g_free);
  line = zread_stored (&z);
  g_assert_true (g_str_has_prefix (line, "* STATUS Archive (MESSAGES 3 UIDNEXT 4 "));
  zsend_line (&z, "DONE");
  zexpect (&z, "w6 OK Idle completed.");
  zok (&z, "w7", "LOGOUT");
  zclient_stop (&z);
}

/* 200 COMPRESS sessions waiting under NOTIFY: the growth of the server's
 * RSS per session. Live zlib states cost about 40 KiB a session (a
 * 4 KiB-window deflater and a 32 KiB-window inflater); released, what is
 * left is the inflater's history (only as much as the client sent). */
static void
test_compress_notify_memory (Fixture *f, gconstpointer data)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("RSS is not meaningful under AddressSanitizer");
#else
  enum { SESSIONS = 200 };
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func ((GDestroyNotify) ph_test_client_free);
  guint64 before, after;
  double per_session;

  /* warm up: the users' store state, the first session's buffers */
  for (guint k = 0; k < 2; k++)
    {
      ZClient z;
      PhTestClient *client = login_compress (f->server, k == 0 ? IMAP_TEST_USER : "bob@example.org", &z);

      zok (&z, "m1", "SELECT INBOX");
      zclient_stop (&z);
      ph_test_client_free (client);
    }
  g_usleep (G_USEC_PER_SEC / 5);
  before = ph_test_server_get_rss_kb (f->server);
  for (guint k = 0; k < SESSIONS; k++)
    {
      ZClient z;
      PhTestClient *client = login_compress (f->server, k % 2 == 0 ? IMAP_TEST_USER : "bob@example.org", &z);

      zok (&z, "m1", "SELECT INBOX");
      zok (&z, "m2", "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))"
                     " (personal (MessageNew MessageExpunge MailboxName))");
      zclient_stop (&z);
      g_ptr_array_add (clients, client);
    }
  g_usleep (G_USEC_PER_SEC / 5);
  after = ph_test_server_get_rss_kb (f->server);
  per_session = ((double) after - (double) before) / SESSIONS;
  g_test_message ("%d COMPRESS + NOTIFY sessions waiting: RSS %" G_GUINT64_FORMAT " -> %"
                  G_GUINT64_FORMAT " KiB, %.1f KiB per session", SESSIONS, before, after, per_session);
  g_assert_cmpfloat (per_session, <, 16.0);
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/imap4/compress-notify/waiting", Fixture, NULL, fixture_set_up,
              test_compress_notify_waiting, fixture_tear_down);
  g_test_add ("/imap4/compress-notify/memory", Fixture,
              "[core]\nmax_sessions_per_user=0\nmax_sessions_per_user_ip=0\n"
              "max_connections_per_ip=1000\n",
              fixture_set_up, test_compress_notify_memory, fixture_tear_down);
  return g_test_run ();
}
