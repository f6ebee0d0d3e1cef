/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MULTIAPPEND (RFC 3502) against the real daemon, with both stores:
 * several messages in one APPEND, APPENDUID with the UID set, all or
 * nothing (a bad flag or a too big second literal stores none), and
 * another session seeing the messages only together. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *client;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  const char *plugins = data;

  f->server = imap_test_server_new_with (plugins, "append_limit=2048\n");
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
}

/* The default append_limit (64M), for the large literals. */
static void
fixture_set_up_large (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new_with (data, NULL);
  f->client = imap_test_login (f->server, IMAP_TEST_USER);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static char *
message_text (guint n, gsize pad)
{
  g_autofree char *body = g_strnfill (pad, 'x');

  return g_strdup_printf ("From: a@example.org\r\nSubject: multi %u\r\n\r\n%s\r\n", n, body);
}

/* Sends "TAG APPEND mailbox" with one LITERAL+ literal per message (each
 * preceded by @prefixes[i], e.g. "(\\Seen) "), then reads up to the
 * tagged line; returns it without the tag. */
static char *
multiappend (PhTestClient *client, const char *tag, const char *mailbox,
             const char *const *prefixes, char **messages, guint n)
{
  g_autofree char *prefix = g_strdup_printf ("%s ", tag);

  g_assert_true (ph_test_client_sendf (client, "%s APPEND %s", tag, mailbox));
  for (guint i = 0; i < n; i++)
    {
      g_assert_true (ph_test_client_sendf (client, " %s{%" G_GSIZE_FORMAT "+}\r\n",
                                           prefixes[i] != NULL ? prefixes[i] : "",
                                           strlen (messages[i])));
      g_assert_true (ph_test_client_send (client, messages[i], -1));
    }
  g_assert_true (ph_test_client_send (client, "\r\n", 2));
  for (;;)
    {
      g_autofree char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (g_str_has_prefix (line, prefix))
        return g_strdup (line + strlen (prefix));
    }
}

static guint
count_messages (PhTestClient *client, const char *mailbox)
{
  g_autofree char *cmd = g_strdup_printf ("STATUS %s (MESSAGES)", mailbox);
  g_autoptr(GPtrArray) lines = imap_test_ok (client, cmd);
  const char *status = imap_test_find (lines, "* STATUS");
  const char *p;

  g_assert_nonnull (status);
  p = strstr (status, "MESSAGES ");
  g_assert_nonnull (p);
  return (guint) g_ascii_strtoull (p + strlen ("MESSAGES "), NULL, 10);
}

static void
test_capability (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = imap_test_ok (f->client, "CAPABILITY");
  const char *caps = imap_test_find (lines, "* CAPABILITY");

  g_assert_nonnull (caps);
  g_assert_nonnull (strstr (caps, " MULTIAPPEND"));
}

static void
test_success (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) messages = g_new0 (char *, 4);
  const char *prefixes[] = { "(\\Seen) ", "(\\Flagged $Work) \"01-Jan-2024 10:00:00 +0000\" ", NULL };
  const char *plain[] = { NULL, NULL };
  g_autofree char *tagged = NULL;
  g_autofree char *status = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GPtrArray) select = NULL;
  const char *uidvalidity;
  g_autofree char *expect = NULL;

  for (guint i = 0; i < 3; i++)
    messages[i] = message_text (i + 1, 10 + i);
  select = imap_test_ok (f->client, "STATUS INBOX (UIDVALIDITY)");
  uidvalidity = strstr (imap_test_find (select, "* STATUS"), "UIDVALIDITY ");
  g_assert_nonnull (uidvalidity);

  tagged = multiappend (f->client, "M1", "INBOX", prefixes, messages, 3);
  expect = g_strdup_printf ("OK [APPENDUID %u 1:3] Append completed.",
                            (guint) g_ascii_strtoull (uidvalidity + strlen ("UIDVALIDITY "), NULL, 10));
  g_assert_cmpstr (tagged, ==, expect);
  g_assert_cmpuint (count_messages (f->client, "INBOX"), ==, 3);

  g_ptr_array_unref (imap_test_ok (f->client, "SELECT INBOX"));
  lines = imap_test_ok (f->client, "FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  g_assert_nonnull (imap_test_find (lines, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent)"));
  g_assert_nonnull (imap_test_find (lines, "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent $Work) "
                                           "INTERNALDATE \"01-Jan-2024 10:00:00 +0000\""));
  g_assert_nonnull (imap_test_find (lines, "* 3 FETCH (UID 3 FLAGS (\\Recent)"));
  g_assert_nonnull (imap_test_find (lines, "Subject: multi 1"));
  g_assert_nonnull (imap_test_find (lines, "Subject: multi 3"));

  /* A second MULTIAPPEND continues the UIDs; a single APPEND still works. */
  g_clear_pointer (&tagged, g_free);
  tagged = multiappend (f->client, "M2", "INBOX", plain, messages, 2);
  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
  g_assert_true (g_str_has_suffix (tagged, " 4:5] Append completed."));
  status = imap_test_append (f->client, "INBOX", NULL, messages[0], strlen (messages[0]));
  g_assert_true (g_str_has_suffix (status, " 6] Append completed."));
}

static void
test_bad_flag_stores_nothing (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) messages = g_new0 (char *, 3);
  const char *prefixes[] = { "(\\Seen) ", "(\\Bogus) " };
  g_autofree char *tagged = NULL;

  messages[0] = message_text (1, 10);
  messages[1] = message_text (2, 10);
  tagged = multiappend (f->client, "B1", "INBOX", prefixes, messages, 2);
  g_assert_cmpstr (tagged, ==, "BAD Invalid system flag \\Bogus");
  g_assert_cmpuint (count_messages (f->client, "INBOX"), ==, 0);
}

static void
test_too_big_stores_nothing (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) messages = g_new0 (char *, 4);
  const char *prefixes[] = { NULL, NULL, NULL };
  g_autofree char *tagged = NULL;
  g_autofree char *line = NULL;
  g_autofree char *status = NULL;

  /* Non-synchronising: the server reads and drops the second literal. */
  messages[0] = message_text (1, 100);
  messages[1] = message_text (2, 3000);
  messages[2] = message_text (3, 100);
  tagged = multiappend (f->client, "T1", "INBOX", prefixes, messages, 3);
  g_assert_true (g_str_has_prefix (tagged, "NO [TOOBIG]"));
  g_assert_cmpuint (count_messages (f->client, "INBOX"), ==, 0);

  /* Synchronising: the first literal is taken, the second refused before
   * "+"; the session goes on and nothing was stored. */
  g_assert_true (ph_test_client_sendf (f->client, "T2 APPEND INBOX {%" G_GSIZE_FORMAT "}\r\n",
                                       strlen (messages[0])));
  line = ph_test_client_read_line (f->client);
  g_assert_true (g_str_has_prefix (line, "+ "));
  g_assert_true (ph_test_client_send (f->client, messages[0], -1));
  g_assert_true (ph_test_client_sendf (f->client, " {%" G_GSIZE_FORMAT "}\r\n",
                                       strlen (messages[1])));
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line (f->client);
  g_assert_true (g_str_has_prefix (line, "T2 NO [TOOBIG]"));
  g_assert_cmpuint (count_messages (f->client, "INBOX"), ==, 0);

  /* The mailbox does not exist: TRYCREATE, nothing anywhere. */
  g_clear_pointer (&tagged, g_free);
  tagged = multiappend (f->client, "T3", "Nowhere", prefixes, messages, 1);
  g_assert_true (g_str_has_prefix (tagged, "NO [TRYCREATE]"));
  status = imap_test_fail (f->client, "STATUS Nowhere (MESSAGES)");
  g_assert_true (g_str_has_prefix (status, "NO [NONEXISTENT]"));
}

/* Large literals (each past the writer's 1 MiB memory threshold, so
 * they stream to temporary files) in one MULTIAPPEND, byte counts kept. */
static void
test_large_literals (Fixture *f, gconstpointer data)
{
  g_auto(GStrv) messages = g_new0 (char *, 3);
  const char *prefixes[] = { NULL, NULL };
  g_autofree char *tagged = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *size1 = NULL, *size2 = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *body = g_strnfill (1500000 + i * 100000, 'a' + i);

      messages[i] = g_strdup_printf ("Subject: big %u\r\nContent-Type: application/octet-stream\r\n"
                                     "\r\n%s\r\n", i, body);
    }
  tagged = multiappend (f->client, "L1", "INBOX", prefixes, messages, 2);
  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
  g_ptr_array_unref (imap_test_ok (f->client, "SELECT INBOX"));
  lines = imap_test_ok (f->client, "FETCH 1:2 (RFC822.SIZE)");
  size1 = g_strdup_printf ("* 1 FETCH (RFC822.SIZE %" G_GSIZE_FORMAT ")", strlen (messages[0]));
  size2 = g_strdup_printf ("* 2 FETCH (RFC822.SIZE %" G_GSIZE_FORMAT ")", strlen (messages[1]));
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, size1);
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, size2);
}

/* Another session, idling on INBOX, sees the three messages in one
 * EXISTS: they become visible together. */
static void
test_seen_together (Fixture *f, gconstpointer data)
{
  g_autoptr(PhTestClient) other = imap_test_login (f->server, IMAP_TEST_USER);
  g_auto(GStrv) messages = g_new0 (char *, 4);
  const char *prefixes[] = { NULL, NULL, NULL };
  g_autofree char *tagged = NULL;
  g_autofree char *line = NULL;
  g_autofree char *exists = NULL;

  g_ptr_array_unref (imap_test_ok (other, "SELECT INBOX"));
  g_assert_true (ph_test_client_send (other, "I1 IDLE\r\n", -1));
  line = ph_test_client_read_line (other);
  g_assert_true (g_str_has_prefix (line, "+ "));

  for (guint i = 0; i < 3; i++)
    messages[i] = message_text (i + 1, 20);
  tagged = multiappend (f->client, "S1", "INBOX", prefixes, messages, 3);
  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));

  exists = ph_test_client_read_line (other);
  g_assert_cmpstr (exists, ==, "* 3 EXISTS");
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line (other);
  g_assert_cmpstr (line, ==, "* 3 RECENT");
  g_assert_true (ph_test_client_send (other, "DONE\r\n", -1));
  g_clear_pointer (&line, g_free);
  line = ph_test_client_expect_line_prefix (other, "I1 ");
  g_assert_true (g_str_has_prefix (line, "I1 OK"));
}

int
main (int argc, char **argv)
{
  static const struct { const char *name; const char *plugins; } stores[] = {
    { "sqlite", "auth-passwd-file;storage-sqlite;imap4" },
    { "maildir", "auth-passwd-file;storage-maildir;imap4" },
  };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (stores); i++)
    {
#define ADD_WITH(path, setup, func)                                                   \
      do {                                                                            \
        g_autofree char *p = g_strdup_printf ("/imap4/multiappend/%s/" path,          \
                                              stores[i].name);                        \
        g_test_add (p, Fixture, stores[i].plugins, setup, func, fixture_tear_down);   \
      } while (0)
#define ADD(path, func) ADD_WITH (path, fixture_set_up, func)
      ADD ("capability", test_capability);
      ADD ("success-appenduid", test_success);
      ADD ("bad-flag-stores-nothing", test_bad_flag_stores_nothing);
      ADD ("too-big-stores-nothing", test_too_big_stores_nothing);
      ADD ("seen-together", test_seen_together);
      ADD_WITH ("large-literals", fixture_set_up_large, test_large_literals);
#undef ADD
#undef ADD_WITH
    }
  return g_test_run ();
}
