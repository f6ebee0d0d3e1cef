/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NOTIFY (RFC 5465) against the real daemon, two sessions of one user:
 * the watcher sets NOTIFY, the other one (or an SMTP delivery) changes
 * mailboxes, and the watcher reads what arrives without sending a
 * command. Every event kind for every filter kind, SET STATUS, the
 * selected mailbox (pushed, MessageNew fetch-att, SELECTED-DELAYED),
 * NOTIFY NONE, syntax errors and BADEVENT, NOTIFY with IDLE, and
 * NOTIFICATIONOVERFLOW. */
#include "imap-test-client.h"

typedef struct {
  PhTestServer *server;
  PhTestClient *watcher;
  PhTestClient *other;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->server = imap_test_server_new (data);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->other, ph_test_client_free);
  g_clear_pointer (&f->watcher, ph_test_client_free);
  g_clear_pointer (&f->server, ph_test_server_free);
}

static void
expect_line (PhTestClient *client, const char *expected)
{
  g_autofree char *line = ph_test_client_read_line (client);

  if (line == NULL)
    g_error ("nothing came, expected \"%s\"", expected);
  g_assert_cmpstr (line, ==, expected);
}

static void
expect_prefix (PhTestClient *client, const char *prefix)
{
  g_autofree char *line = ph_test_client_read_line (client);

  if (line == NULL)
    g_error ("nothing came, expected \"%s...\"", prefix);
  if (!g_str_has_prefix (line, prefix))
    g_error ("expected \"%s...\", got \"%s\"", prefix, line);
}

/* Runs @command and asserts it sends nothing untagged. */
static void
expect_quiet (PhTestClient *client, const char *command)
{
  g_autoptr(GPtrArray) lines = imap_test_ok (client, command);

  if (lines->len != 1)
    g_error ("unexpected: %s", (const char *) g_ptr_array_index (lines, 0));
}

static void
ok (PhTestClient *client, const char *command)
{
  g_autoptr(GPtrArray) lines = imap_test_ok (client, command);
}

static void
append_to (PhTestClient *client, const char *mailbox, const char *subject)
{
  g_autofree char *msg = g_strdup_printf ("From: a@example.org\r\nSubject: %s\r\n\r\nbody\r\n",
                                          subject);
  g_autofree char *tagged = imap_test_append (client, mailbox, NULL, msg, strlen (msg));

  g_assert_true (g_str_has_prefix (tagged, "OK [APPENDUID "));
}

/* alice, rev2 (no \Recent noise) */
static PhTestClient *
login (PhTestServer *server)
{
  PhTestClient *client = imap_test_login (server, IMAP_TEST_USER);

  ok (client, "ENABLE IMAP4rev2");
  return client;
}

static void
test_notify_syntax (Fixture *f, gconstpointer data)
{
  static const char *const bad[] = {
    "NOTIFY",
    "NOTIFY SET",
    "NOTIFY BOGUS",
    "NOTIFY NONE extra",
    "NOTIFY SET (personal)",
    "NOTIFY SET (bogus (MessageNew MessageExpunge))",
    "NOTIFY SET (personal (MessageNew))",
    "NOTIFY SET (personal (MessageExpunge))",
    "NOTIFY SET (selected (FlagChange))",
    "NOTIFY SET (personal (NoSuchEvent))",
    "NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))",
    "NOTIFY SET (subtree (MessageNew MessageExpunge))",
    "NOTIFY SET (mailboxes () (MessageNew MessageExpunge))",
    "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))",
    /* RFC 5465 6.1: only message events with the selected filters */
    "NOTIFY SET (selected (MailboxName))",
    "NOTIFY SET (selected-delayed (MessageNew MessageExpunge SubscriptionChange))",
    "NOTIFY SET (selected (ServerMetadataChange))",
  };
  static const char *const badevent[] = {
    "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
    "NOTIFY SET (inboxes (MailboxMetadataChange))",
    "NOTIFY SET (personal (ServerMetadataChange))",
  };
  PhTestClient *client = ph_test_client_connect (f->server, "imap4", FALSE);
  g_autofree char *greeting = ph_test_client_expect_line_prefix (client, "* OK");
  g_autoptr(GPtrArray) lines = NULL;

  f->watcher = client;
  /* not before login, and not advertised there */
  g_assert_null (strstr (greeting, "NOTIFY"));
  {
    g_autofree char *fail = imap_test_fail (client, "NOTIFY NONE");
    g_assert_true (g_str_has_prefix (fail, "BAD"));
  }
  lines = imap_test_ok (client, "LOGIN alice@example.org secret");
  g_assert_nonnull (strstr (imap_test_tagged (lines), " NOTIFY"));
  for (guint k = 0; k < G_N_ELEMENTS (bad); k++)
    {
      g_autofree char *fail = imap_test_fail (client, bad[k]);
      if (!g_str_has_prefix (fail, "BAD "))
        g_error ("%s -> %s", bad[k], fail);
    }
  for (guint k = 0; k < G_N_ELEMENTS (badevent); k++)
    {
      g_autofree char *fail = imap_test_fail (client, badevent[k]);
      g_assert_cmpstr (fail, ==, "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"
                                 " SubscriptionChange)] Unsupported NOTIFY event");
    }
  /* case does not matter; NONE as events; a mailbox in a list or alone */
  ok (client, "notify set (PERSONAL none) (subtree INBOX (mailboxname))");
  ok (client, "NOTIFY SET (mailboxes (INBOX \"Foo Bar\") (MessageNew MessageExpunge FlagChange))");
  ok (client, "NOTIFY NONE");
  ok (client, "NOTIFY NONE");
}

/* The selected mailbox: changes pushed without a command, the MessageNew
 * fetch attributes (not setting \Seen), flag changes, expunges. */
static void
test_notify_selected (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) line = g_string_new (NULL);
  g_autoptr(GPtrArray) lines = NULL;

  f->watcher = login (f->server);
  f->other = login (f->server);
  ok (f->watcher, "SELECT INBOX");
  ok (f->watcher, "NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)] BODY[TEXT])"
                  " MessageExpunge FlagChange))");
  append_to (f->other, "INBOX", "one");
  expect_line (f->watcher, "* 1 EXISTS");
  g_assert_true (imap_test_read_full_line (f->watcher, line));
  g_assert_cmpstr (line->str, ==, "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {16}\r\n"
                                  "Subject: one\r\n\r\n BODY[TEXT] {6}\r\nbody\r\n)");
  /* BODY[TEXT] in a notification does not set \Seen */
  lines = imap_test_ok (f->other, "EXAMINE INBOX");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->other, "FETCH 1 FLAGS");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 FETCH (FLAGS ())");
  g_clear_pointer (&lines, g_ptr_array_unref);
  ok (f->other, "SELECT INBOX");

  /* flag changes carry the UID (RFC 5465 5.1) */
  ok (f->other, "STORE 1 +FLAGS (\\Flagged)");
  expect_line (f->watcher, "* 1 FETCH (UID 1 FLAGS (\\Flagged))");
  append_to (f->other, "INBOX", "two");
  expect_line (f->watcher, "* 2 EXISTS");
  g_string_truncate (line, 0);
  g_assert_true (imap_test_read_full_line (f->watcher, line));
  g_assert_true (g_str_has_prefix (line->str, "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (Subject)] {16}\r\n"
                                              "Subject: two\r\n"));
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  expect_line (f->watcher, "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted))");
  ok (f->other, "EXPUNGE");
  expect_line (f->watcher, "* 1 EXPUNGE");
  /* what the watcher APPENDs itself gets its EXISTS, no MessageNew data */
  append_to (f->watcher, "INBOX", "mine");
  expect_quiet (f->watcher, "NOOP");
  lines = imap_test_ok (f->watcher, "UID FETCH 3 FLAGS");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 2 FETCH (UID 3 FLAGS ())");
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* the watcher's own commands go on as usual */
  expect_quiet (f->watcher, "NOOP");
  lines = imap_test_ok (f->watcher, "FETCH 1 (UID FLAGS)");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 FETCH (UID 2 FLAGS ())");
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* other mailboxes are not watched by this NOTIFY */
  append_to (f->other, "Archive", "elsewhere");
  expect_quiet (f->watcher, "NOOP");
  /* NOTIFY NONE stops the pushes: the change waits for a command */
  ok (f->watcher, "NOTIFY NONE");
  append_to (f->other, "INBOX", "three");
  lines = imap_test_ok (f->watcher, "NOOP");
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 3 EXISTS");
}

/* SELECTED-DELAYED: arrivals and flag changes pushed, expunges kept for
 * the next command that may report them. */
static void
test_notify_selected_delayed (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;

  f->watcher = login (f->server);
  f->other = login (f->server);
  append_to (f->other, "INBOX", "one");
  append_to (f->other, "INBOX", "two");
  ok (f->watcher, "SELECT INBOX");
  ok (f->other, "SELECT INBOX");
  ok (f->watcher, "NOTIFY SET (selected-delayed (MessageNew MessageExpunge FlagChange))");
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Deleted)");
  expect_line (f->watcher, "* 1 FETCH (UID 1 FLAGS (\\Deleted))");
  ok (f->other, "EXPUNGE");
  append_to (f->other, "INBOX", "three");
  /* the arrival is pushed; the expunged message keeps its number */
  expect_line (f->watcher, "* 3 EXISTS");
  lines = imap_test_ok (f->watcher, "FETCH 1:3 UID");
  g_assert_cmpuint (lines->len, ==, 4);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->watcher, "NOOP");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 EXPUNGE");
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = imap_test_ok (f->watcher, "FETCH 1:* UID");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "* 1 FETCH (UID 2)");
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, "* 2 FETCH (UID 3)");
}

/* personal: SET STATUS, then STATUS for MessageNew / FlagChange /
 * MessageExpunge of another mailbox, LIST for MailboxName (create,
 * rename, delete) and SubscriptionChange; NOTIFY NONE stops it all. */
static void
test_notify_personal (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  const char *status;
  g_autofree char *uidvalidity = NULL;
  g_autofree char *want = NULL;

  f->watcher = login (f->server);
  f->other = login (f->server);
  ok (f->watcher, "CREATE Lists");
  append_to (f->other, "Lists", "first");
  ok (f->watcher, "SELECT INBOX");
  /* NOTIFY SET implies a NOOP: the arrival before it comes with it */
  append_to (f->other, "INBOX", "before");
  lines = imap_test_ok (f->watcher, "NOTIFY SET STATUS (selected (MessageNew MessageExpunge))"
                                    " (personal (MessageNew MessageExpunge FlagChange MailboxName"
                                    " SubscriptionChange))");
  g_assert_nonnull (imap_test_find (lines, "* 1 EXISTS"));
  /* every other mailbox, not the selected one */
  status = imap_test_find (lines, "* STATUS Lists (");
  g_assert_nonnull (status);
  g_assert_true (g_str_has_prefix (status, "* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "));
  g_assert_true (g_str_has_suffix (status, " UNSEEN 1)"));
  uidvalidity = g_strndup (status + strlen ("* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "),
                           strcspn (status + strlen ("* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "), " "));
  g_assert_nonnull (imap_test_find (lines, "* STATUS Archive (MESSAGES 0 UIDNEXT 1 "));
  g_assert_null (imap_test_find (lines, "* STATUS INBOX"));
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* MessageNew, FlagChange, MessageExpunge in a mailbox not selected */
  append_to (f->other, "Lists", "second");
  want = g_strdup_printf ("* STATUS Lists (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %s UNSEEN 2)", uidvalidity);
  expect_line (f->watcher, want);
  ok (f->other, "SELECT Lists");
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)");
  g_free (want);
  want = g_strdup_printf ("* STATUS Lists (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %s UNSEEN 1)", uidvalidity);
  expect_line (f->watcher, want);
  ok (f->other, "CLOSE");
  g_free (want);
  want = g_strdup_printf ("* STATUS Lists (MESSAGES 1 UIDNEXT 3 UIDVALIDITY %s UNSEEN 1)", uidvalidity);
  expect_line (f->watcher, want);

  /* MailboxName */
  ok (f->other, "CREATE Projects");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Projects");
  ok (f->other, "RENAME Projects Done");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Done (\"OLDNAME\" (Projects))");
  /* SubscriptionChange */
  ok (f->other, "SUBSCRIBE Done");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Done");
  ok (f->other, "UNSUBSCRIBE Done");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Done");
  ok (f->other, "DELETE Done");
  expect_line (f->watcher, "* LIST (\\NonExistent \\HasNoChildren) \"/\" Done");
  /* the selected mailbox: pushed as EXISTS, never as STATUS */
  append_to (f->other, "INBOX", "inbox");
  expect_line (f->watcher, "* 2 EXISTS");
  /* the watcher's own changes are not notified */
  ok (f->watcher, "CREATE Mine");
  append_to (f->watcher, "Mine", "mine");
  expect_quiet (f->watcher, "NOOP");

  /* NOTIFY NONE: nothing more */
  ok (f->watcher, "NOTIFY NONE");
  append_to (f->other, "Lists", "third");
  ok (f->other, "CREATE Later");
  expect_quiet (f->watcher, "NOOP");
}

/* The other filters: inboxes, subtree, mailboxes, subscribed (which
 * follows subscription changes), the first matching group deciding, and
 * nothing for mailboxes no group names. The watcher is not in the
 * selected state. */
static void
test_notify_filters (Fixture *f, gconstpointer data)
{
  static const char *const boxes[] = {
    "Work", "Work/Sub", "Exact", "Exact/Child", "Other", "Subbed", "Muted", "Muted/Deep",
  };

  f->watcher = login (f->server);
  f->other = login (f->server);
  for (guint k = 0; k < G_N_ELEMENTS (boxes); k++)
    {
      g_autofree char *cmd = g_strdup_printf ("CREATE %s", boxes[k]);
      ok (f->other, cmd);
    }
  ok (f->other, "SUBSCRIBE Subbed");
  ok (f->watcher, "NOTIFY SET (inboxes (MessageNew MessageExpunge))"
                  " (subtree Muted NONE)"
                  " (subtree Work (MessageNew MessageExpunge MailboxName))"
                  " (mailboxes (Exact Muted/Deep) (MessageNew MessageExpunge))"
                  " (subscribed (MessageNew MessageExpunge SubscriptionChange))");

  append_to (f->other, "INBOX", "inbox");
  expect_prefix (f->watcher, "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 ");
  append_to (f->other, "Work/Sub", "sub");
  expect_prefix (f->watcher, "* STATUS Work/Sub (MESSAGES 1 UIDNEXT 2 ");
  append_to (f->other, "Work", "work");
  expect_prefix (f->watcher, "* STATUS Work (MESSAGES 1 UIDNEXT 2 ");
  /* not named: Exact/Child, Other; Muted/Deep: the first group (NONE) wins */
  append_to (f->other, "Exact/Child", "child");
  append_to (f->other, "Other", "other");
  append_to (f->other, "Muted/Deep", "deep");
  append_to (f->other, "Exact", "exact");
  expect_prefix (f->watcher, "* STATUS Exact (MESSAGES 1 UIDNEXT 2 ");
  append_to (f->other, "Subbed", "subbed");
  expect_prefix (f->watcher, "* STATUS Subbed (MESSAGES 1 UIDNEXT 2 ");
  /* MailboxName in the subtree only */
  ok (f->other, "CREATE Elsewhere");
  ok (f->other, "CREATE Work/New");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Work/New");
  /* its parent is affected too (RFC 5465 5.4) */
  expect_line (f->watcher, "* LIST (\\HasChildren) \"/\" Work");
  /* subscribing Other makes it part of "subscribed" */
  ok (f->other, "SUBSCRIBE Other");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Other");
  append_to (f->other, "Other", "now");
  expect_prefix (f->watcher, "* STATUS Other (MESSAGES 2 UIDNEXT 3 ");
  ok (f->other, "UNSUBSCRIBE Subbed");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Subbed");
  append_to (f->other, "Subbed", "gone");
  append_to (f->other, "INBOX", "last");
  expect_prefix (f->watcher, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 ");
  expect_quiet (f->watcher, "NOOP");
}

/* Reads notifications until every line of @expected (NULL-terminated)
 * came, in any order (the LIST of a parent may come once more when its
 * own event and a child's were not in the queue together); anything
 * else fails. A NOOP then shows that nothing else follows. */
static void
expect_lines (PhTestClient *client, const char *const *expected)
{
  guint n = g_strv_length ((char **) expected);
  g_autofree gboolean *seen = g_new0 (gboolean, n);
  guint missing = n;
  g_autoptr(GPtrArray) lines = NULL;

  while (missing > 0)
    {
      g_autofree char *line = ph_test_client_read_line (client);
      guint k;

      if (line == NULL)
        g_error ("nothing came, expected \"%s\"", expected[0]);
      for (k = 0; k < n && strcmp (expected[k], line) != 0; k++)
        ;
      if (k == n)
        g_error ("unexpected \"%s\"", line);
      if (!seen[k])
        missing--;
      seen[k] = TRUE;
    }
  lines = imap_test_ok (client, "NOOP");
  for (guint k = 0; k + 1 < lines->len; k++)
    if (!g_strv_contains (expected, g_ptr_array_index (lines, k)))
      g_error ("unexpected \"%s\"", (const char *) g_ptr_array_index (lines, k));
}

/* MailboxName (RFC 5465 5.4) LISTs carry what a LIST shows: \HasChildren
 * or \HasNoChildren, \NonExistent, \Subscribed, special use; a created
 * or deleted mailbox's parent is listed too; a rename is one LIST with
 * OLDNAME, none for the children renamed with it. */
static void
test_notify_mailbox_name_attributes (Fixture *f, gconstpointer data)
{
  static const char *const top[] = { "* LIST (\\HasNoChildren) \"/\" Top", NULL };
  static const char *const kid[] = {
    "* LIST (\\HasNoChildren) \"/\" Top/Kid", "* LIST (\\HasChildren) \"/\" Top", NULL,
  };
  static const char *const deep[] = {
    "* LIST (\\HasChildren) \"/\" Deep", "* LIST (\\HasChildren) \"/\" Deep/A",
    "* LIST (\\HasNoChildren) \"/\" Deep/A/B", NULL,
  };
  static const char *const kid_gone[] = {
    "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" Moved/Kid",
    "* LIST (\\HasNoChildren) \"/\" Moved", NULL,
  };
  static const char *const deep_gone[] = { "* LIST (\\NonExistent \\HasChildren) \"/\" Deep", NULL };
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *line = NULL;

  f->watcher = login (f->server);
  f->other = login (f->server);
  ok (f->watcher, "NOTIFY SET (personal (MailboxName SubscriptionChange))");
  ok (f->other, "CREATE Top");
  expect_lines (f->watcher, top);
  ok (f->other, "CREATE Top/Kid");
  expect_lines (f->watcher, kid);
  /* the store makes Deep and Deep/A too: three created, each a parent */
  ok (f->other, "CREATE Deep/A/B");
  expect_lines (f->watcher, deep);
  ok (f->other, "SUBSCRIBE Top/Kid");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Top/Kid");
  /* Top/Kid moves along without a LIST of its own */
  ok (f->other, "RENAME Top Moved");
  line = ph_test_client_read_line (f->watcher);
  g_assert_cmpstr (line, ==, "* LIST (\\HasChildren) \"/\" Moved (\"OLDNAME\" (Top))");
  expect_quiet (f->watcher, "NOOP");
  /* the same attributes as LIST-EXTENDED shows */
  lines = imap_test_ok (f->other, "LIST \"\" Moved RETURN (SUBSCRIBED CHILDREN)");
  g_assert_true (g_str_has_prefix (line, g_ptr_array_index (lines, 0)));
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* a deleted mailbox stays subscribed (RFC 3501 6.3.9) */
  ok (f->other, "DELETE Moved/Kid");
  expect_lines (f->watcher, kid_gone);
  /* its children stay: \NonExistent \HasChildren */
  ok (f->other, "DELETE Deep");
  expect_lines (f->watcher, deep_gone);
  lines = imap_test_ok (f->other, "LIST \"\" Deep RETURN (SUBSCRIBED CHILDREN)");
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, deep_gone[0]);
  g_clear_pointer (&lines, g_ptr_array_unref);
  /* special use, as LIST shows it */
  ok (f->other, "RENAME Junk Spam");
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line (f->watcher);
  g_assert_nonnull (line);
  g_assert_nonnull (strstr (line, "\\Junk"));
  g_assert_true (g_str_has_suffix (line, " Spam (\"OLDNAME\" (Junk))"));
  lines = imap_test_ok (f->other, "LIST \"\" Spam RETURN (SUBSCRIBED CHILDREN)");
  g_assert_true (g_str_has_prefix (line, g_ptr_array_index (lines, 0)));
}

/* RFC 5465 3.1 lets a server refuse a NOTIFY that would be prohibitively
 * expensive with a tagged NO [NOTIFICATIONOVERFLOW]. Here none is: the
 * session has one event subscription whatever it watches, so even the
 * RFC's example ("all flag changes in all mailboxes") with a STATUS of
 * more mailboxes than notify_max_pending answers OK, and the events
 * come. */
static void
test_notify_set_never_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  guint status = 0;

  f->watcher = login (f->server);
  f->other = login (f->server);
  for (guint k = 0; k < 12; k++)
    {
      g_autofree char *cmd = g_strdup_printf ("CREATE Box%u", k);
      ok (f->other, cmd);
    }
  lines = imap_test_ok (f->watcher, "NOTIFY SET STATUS (personal (MessageNew MessageExpunge"
                                    " FlagChange MailboxName SubscriptionChange))");
  for (guint k = 0; k + 1 < lines->len; k++)
    if (g_str_has_prefix (g_ptr_array_index (lines, k), "* STATUS Box"))
      status++;
  g_assert_cmpuint (status, ==, 12);
  g_assert_null (imap_test_find (lines, "NOTIFICATIONOVERFLOW"));
  append_to (f->other, "Box7", "seven");
  expect_prefix (f->watcher, "* STATUS Box7 (MESSAGES 1 UIDNEXT 2 ");
  ok (f->other, "SELECT Box7");
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Seen)");
  expect_prefix (f->watcher, "* STATUS Box7 (MESSAGES 1 UIDNEXT 2 ");
}

#define ALL_EVENTS "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"

/* MessageNew, FlagChange and MessageExpunge in @mailbox (empty before),
 * made by the other session, each arriving as a STATUS. */
static void
message_events (Fixture *f, const char *mailbox)
{
  g_autofree char *select = g_strdup_printf ("SELECT %s", mailbox);
  g_autofree char *first = g_strdup_printf ("* STATUS %s (MESSAGES 1 UIDNEXT ", mailbox);
  g_autofree char *gone = g_strdup_printf ("* STATUS %s (MESSAGES 0 UIDNEXT ", mailbox);
  g_autofree char *line = NULL;

  append_to (f->other, mailbox, "new");
  line = ph_test_client_read_line (f->watcher);
  g_assert_nonnull (line);
  if (!g_str_has_prefix (line, first) || !g_str_has_suffix (line, " UNSEEN 1)"))
    g_error ("after APPEND: %s", line);
  ok (f->other, select);
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)");
  g_clear_pointer (&line, g_free);
  line = ph_test_client_read_line (f->watcher);
  g_assert_nonnull (line);
  if (!g_str_has_prefix (line, first) || !g_str_has_suffix (line, " UNSEEN 0)"))
    g_error ("after STORE: %s", line);
  ok (f->other, "EXPUNGE");
  expect_prefix (f->watcher, gone);
  ok (f->other, "UNSELECT");
}

/* Every event kind for every filter kind besides personal (see
 * personal-status-list) and the selected ones: one filter at a time. */
static void
test_notify_matrix (Fixture *f, gconstpointer data)
{
  f->watcher = login (f->server);
  f->other = login (f->server);
  ok (f->other, "CREATE Tree/Leaf");
  ok (f->other, "CREATE Exact");
  ok (f->other, "CREATE Subbed");
  ok (f->other, "SUBSCRIBE Subbed");

  /* inboxes */
  ok (f->watcher, "NOTIFY SET (inboxes " ALL_EVENTS ")");
  message_events (f, "INBOX");
  ok (f->other, "SUBSCRIBE INBOX");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX");
  ok (f->other, "RENAME INBOX Old-Inbox");
  /* the subscription moves along; the new INBOX gets no event (5.4) */
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Old-Inbox"
                           " (\"OLDNAME\" (INBOX))");
  expect_quiet (f->watcher, "NOOP");
  ok (f->watcher, "NOTIFY NONE");

  /* subtree */
  ok (f->watcher, "NOTIFY SET (subtree Tree " ALL_EVENTS ")");
  message_events (f, "Tree/Leaf");
  ok (f->other, "SUBSCRIBE Tree/Leaf");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Tree/Leaf");
  ok (f->other, "CREATE Tree/New");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Tree/New");
  expect_line (f->watcher, "* LIST (\\HasChildren) \"/\" Tree");
  ok (f->other, "DELETE Tree/New");
  expect_line (f->watcher, "* LIST (\\NonExistent \\HasNoChildren) \"/\" Tree/New");
  expect_line (f->watcher, "* LIST (\\HasChildren) \"/\" Tree");
  ok (f->watcher, "NOTIFY NONE");

  /* mailboxes */
  ok (f->watcher, "NOTIFY SET (mailboxes Exact " ALL_EVENTS ")");
  message_events (f, "Exact");
  ok (f->other, "SUBSCRIBE Exact");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Exact");
  ok (f->other, "RENAME Exact Exact2");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Exact2"
                           " (\"OLDNAME\" (Exact))");
  ok (f->watcher, "NOTIFY NONE");

  /* subscribed: the subscription follows a rename */
  ok (f->watcher, "NOTIFY SET (subscribed " ALL_EVENTS ")");
  message_events (f, "Subbed");
  ok (f->other, "RENAME Subbed Subbed2");
  expect_line (f->watcher, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Subbed2"
                           " (\"OLDNAME\" (Subbed))");
  message_events (f, "Subbed2");
  ok (f->other, "UNSUBSCRIBE Subbed2");
  expect_line (f->watcher, "* LIST (\\HasNoChildren) \"/\" Subbed2");
  append_to (f->other, "Subbed2", "unwatched");
  expect_quiet (f->watcher, "NOOP");
}

/* Under CONDSTORE the STATUS responses carry HIGHESTMODSEQ, which a
 * flag change raises. */
static void
test_notify_condstore (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree char *line = NULL;
  const char *first;
  guint64 before, after;

  f->watcher = login (f->server);
  f->other = login (f->server);
  append_to (f->other, "Archive", "one");
  ok (f->watcher, "ENABLE CONDSTORE");
  lines = imap_test_ok (f->watcher, "NOTIFY SET STATUS (mailboxes Archive (MessageNew MessageExpunge FlagChange))");
  g_assert_cmpuint (lines->len, ==, 2);
  first = g_ptr_array_index (lines, 0);
  g_assert_true (g_str_has_prefix (first, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "));
  g_assert_nonnull (strstr (first, " UNSEEN 1 HIGHESTMODSEQ "));
  before = g_ascii_strtoull (strstr (first, "HIGHESTMODSEQ ") + strlen ("HIGHESTMODSEQ "), NULL, 10);
  ok (f->other, "SELECT Archive");
  ok (f->other, "STORE 1 +FLAGS.SILENT (\\Flagged)");
  line = ph_test_client_read_line (f->watcher);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "));
  g_assert_nonnull (strstr (line, " UNSEEN 1 HIGHESTMODSEQ "));
  after = g_ascii_strtoull (strstr (line, "HIGHESTMODSEQ ") + strlen ("HIGHESTMODSEQ "), NULL, 10);
  g_assert_cmpuint (after, >, before);
}

static char *
smtp_reply (PhTestClient *client)
{
  for (;;)
    {
      char *line = ph_test_client_read_line (client);

      g_assert_nonnull (line);
      if (strlen (line) < 4 || line[3] != '-')
        return line;
      g_free (line);
    }
}

static void
smtp_step (PhTestClient *client, const char *command, const char *code)
{
  g_autofree char *reply = NULL;

  if (command != NULL)
    g_assert_true (ph_test_client_sendf (client, "%s\r\n", command));
  reply = smtp_reply (client);
  if (!g_str_has_prefix (reply, code))
    g_error ("%s -> %s", command != NULL ? command : "(greeting)", reply);
}

/* An SMTP delivery to INBOX while another mailbox is selected: STATUS. */
static void
test_notify_smtp_delivery (void)
{
  g_autoptr(PhTestServer) server =
    imap_test_server_new_with ("auth-passwd-file;storage-sqlite;smtp;imap4",
                               "[smtp]\nhostname=mx.example.org\ndomains=example.org\n"
                               "listen=127.0.0.1:0\n");
  g_autoptr(PhTestClient) imap = login (server);
  g_autoptr(PhTestClient) smtp = ph_test_client_connect (server, "smtp", FALSE);
  g_autoptr(GPtrArray) lines = NULL;

  ok (imap, "SELECT Archive");
  lines = imap_test_ok (imap, "NOTIFY SET STATUS (selected (MessageNew MessageExpunge))"
                              " (inboxes (MessageNew MessageExpunge))");
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (lines, 0), "* STATUS INBOX (MESSAGES 0 UIDNEXT 1 "));
  smtp_step (smtp, NULL, "220");
  smtp_step (smtp, "EHLO client.example.net", "250");
  smtp_step (smtp, "MAIL FROM:<carol@example.net>", "250");
  smtp_step (smtp, "RCPT TO:<alice@example.org>", "250");
  smtp_step (smtp, "DATA", "354");
  smtp_step (smtp, "From: carol@example.net\r\nSubject: pushed\r\n\r\nhello\r\n.", "250");
  expect_prefix (imap, "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 ");
  smtp_step (smtp, "QUIT", "221");
}

/* NOTIFY with IDLE: other mailboxes' STATUS and the selected mailbox's
 * EXISTS + fetch-att arrive during IDLE; without a SELECTED group IDLE
 * does not push the selected mailbox (its change comes at DONE). */
static void
test_notify_idle (Fixture *f, gconstpointer data)
{
  f->watcher = login (f->server);
  f->other = login (f->server);
  ok (f->watcher, "SELECT INBOX");
  ok (f->watcher, "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))"
                  " (personal (MessageNew MessageExpunge))");
  g_assert_true (ph_test_client_send (f->watcher, "i1 IDLE\r\n", -1));
  expect_line (f->watcher, "+ idling");
  append_to (f->other, "Archive", "archived");
  expect_prefix (f->watcher, "* STATUS Archive (MESSAGES 1 UIDNEXT 2 ");
  append_to (f->other, "INBOX", "one");
  expect_line (f->watcher, "* 1 EXISTS");
  expect_line (f->watcher, "* 1 FETCH (UID 1 FLAGS ())");
  append_to (f->other, "INBOX", "two");
  expect_line (f->watcher, "* 2 EXISTS");
  expect_line (f->watcher, "* 2 FETCH (UID 2 FLAGS ())");
  g_assert_true (ph_test_client_send (f->watcher, "DONE\r\n", -1));
  expect_line (f->watcher, "i1 OK Idle completed.");

  /* without a SELECTED group the selected mailbox is not pushed, during
   * IDLE neither (RFC 5465 3.1 and 4): its change comes at DONE */
  ok (f->watcher, "NOTIFY SET (personal (MessageNew MessageExpunge))");
  g_assert_true (ph_test_client_send (f->watcher, "i2 IDLE\r\n", -1));
  expect_line (f->watcher, "+ idling");
  append_to (f->other, "INBOX", "three");
  append_to (f->other, "Archive", "again");
  expect_prefix (f->watcher, "* STATUS Archive (MESSAGES 2 UIDNEXT 3 ");
  g_assert_true (ph_test_client_send (f->watcher, "DONE\r\n", -1));
  expect_line (f->watcher, "* 3 EXISTS");
  expect_line (f->watcher, "i2 OK Idle completed.");
  expect_quiet (f->watcher, "NOOP");
}

/* More than notify_max_pending notifications waiting: the untagged OK
 * [NOTIFICATIONOVERFLOW], then NOTIFY is off. The watcher keeps FETCHing
 * a 1 MB message without reading, so a command is always running (its
 * output waiting for the socket) and notifications are held; one CREATE
 * of a deep name then makes five mailboxes at once. */
static void
test_notify_overflow (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) big = g_string_new ("From: a@example.org\r\nSubject: big\r\n\r\n");
  g_autoptr(GString) pipeline = g_string_new (NULL);
  gboolean overflow = FALSE;

  f->watcher = login (f->server);
  f->other = login (f->server);
  while (big->len < 1024 * 1024)
    g_string_append (big, "0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEFGHIJKLMNOPQRSTU\r\n");
  g_free (imap_test_append (f->other, "INBOX", NULL, big->str, big->len));
  ok (f->watcher, "SELECT INBOX");
  ok (f->watcher, "NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))");
  for (guint k = 1; k <= 20; k++)
    g_string_append_printf (pipeline, "f%u FETCH 1 BODY.PEEK[]\r\n", k);
  g_assert_true (ph_test_client_send (f->watcher, pipeline->str, (gssize) pipeline->len));
  g_usleep (G_USEC_PER_SEC / 2);
  ok (f->other, "CREATE a/b/c/d/e");
  for (;;)
    {
      g_autoptr(GString) line = g_string_new (NULL);

      g_assert_true (imap_test_read_full_line (f->watcher, line));
      g_assert_false (g_str_has_prefix (line->str, "* LIST"));
      if (strcmp (line->str, "* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off") == 0)
        overflow = TRUE;
      if (g_str_has_prefix (line->str, "f20 "))
        break;
    }
  g_assert_true (overflow);
  /* NOTIFY is off */
  append_to (f->other, "Archive", "after");
  ok (f->other, "CREATE f");
  expect_quiet (f->watcher, "NOOP");
  /* a new NOTIFY works again */
  ok (f->watcher, "NOTIFY SET (personal (MessageNew MessageExpunge))");
  append_to (f->other, "Archive", "again");
  expect_prefix (f->watcher, "* STATUS Archive (MESSAGES 2 UIDNEXT 3 ");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, extra) \
  g_test_add (path, Fixture, extra, fixture_set_up, fn, fixture_tear_down)
  ADD ("/imap4/notify/syntax-badevent", test_notify_syntax, NULL);
  ADD ("/imap4/notify/selected", test_notify_selected, NULL);
  ADD ("/imap4/notify/selected-delayed", test_notify_selected_delayed, NULL);
  ADD ("/imap4/notify/personal-status-list", test_notify_personal, NULL);
  ADD ("/imap4/notify/filters", test_notify_filters, NULL);
  ADD ("/imap4/notify/event-filter-matrix", test_notify_matrix, NULL);
  ADD ("/imap4/notify/idle", test_notify_idle, NULL);
  ADD ("/imap4/notify/condstore-status", test_notify_condstore, NULL);
  ADD ("/imap4/notify/overflow", test_notify_overflow, "notify_max_pending=3\n");
  ADD ("/imap4/notify/mailbox-name-attributes", test_notify_mailbox_name_attributes, NULL);
  ADD ("/imap4/notify/set-never-refused", test_notify_set_never_refused, "notify_max_pending=3\n");
  g_test_add_func ("/imap4/notify/smtp-delivery", test_notify_smtp_delivery);
  return g_test_run ();
}
