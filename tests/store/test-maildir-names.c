/* storage-maildir's pure parsers: folder names, file names, Dovecot's
 * control files, per-user paths. Tables of good and bad input.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "maildir-private.h"

#include <string.h>

static void
test_folder_names (void)
{
  static const struct { const char *name; const char *dir; } good[] = {
    { "INBOX", "" },
    { "Sent", ".Sent" },
    { "Work/Q1 2024", ".Work.Q1 2024" },
    { "INBOX/sub", ".INBOX.sub" },
    { "a.b/c\\d", ".a\\2eb.c\\5cd" },
    { "Ünïcødé ✉", ".&ANw-n&AO8-c&APg-d&AOk- &Jwk-" },
    { "Tom & Jerry", ".Tom &- Jerry" },
    { ".hidden", ".\\2ehidden" },
  };
  static const char *const bad_dirs[] = { "Sent", "..x", ".", ".a..b", ".&Jwk", ".&AGE-", ".a\\zz",
                                          ".\\2e", ".INBOX", ".a\\2fb" };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *dir = maildir_name_to_dir (good[i].name);
      g_autofree char *back = NULL;

      g_assert_cmpstr (dir, ==, good[i].dir);
      if (*dir != '\0')
        {
          back = maildir_dir_to_name (dir);
          g_assert_cmpstr (back, ==, good[i].name);
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_dirs); i++)
    {
      g_autofree char *name = maildir_dir_to_name (bad_dirs[i]);

      g_test_message ("bad dir %s", bad_dirs[i]);
      g_assert_null (name);
    }
}

static void
test_file_names (void)
{
  static const struct {
    const char *name;
    gboolean ok;
    gsize base_len;
    guint32 flags;
    guint32 keywords;
    const char *other;
    guint64 size, vsize;
  } cases[] = {
    { "1795682275.M623346P28972.vm,S=155,W=162:2,Sa", TRUE, 39, POSTHORN_MESSAGE_SEEN, 1, "", 155, 162 },
    { "1795682275.M770918P28983.vm,S=136,W=143:2,FRb", TRUE, 39,
      POSTHORN_MESSAGE_FLAGGED | POSTHORN_MESSAGE_ANSWERED, 2, "", 136, 143 },
    { "123.abc", TRUE, 7, 0, 0, "", 0, 0 },
    { "123.abc:2,", TRUE, 7, 0, 0, "", 0, 0 },
    { "123.abc:2,DPST", TRUE, 7, POSTHORN_MESSAGE_DRAFT | POSTHORN_MESSAGE_SEEN |
                                 POSTHORN_MESSAGE_DELETED, 0, "P", 0, 0 },
    { "README", FALSE },
    { ".hidden.123", FALSE },
    { "123", FALSE },
    { "123.", FALSE },
    { "abc.123", FALSE },
    { "123.abc:1,S", FALSE },
    { "123.abc:2,S1", FALSE },
    { "123.a\tb", FALSE },
    { "", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      MaildirFileName p;

      g_test_message ("file name %s", cases[i].name);
      g_assert_cmpint (maildir_filename_parse (cases[i].name, &p), ==, cases[i].ok);
      if (!cases[i].ok)
        continue;
      g_assert_cmpuint (p.base_len, ==, cases[i].base_len);
      g_assert_cmpuint (p.flags, ==, cases[i].flags);
      g_assert_cmpuint (p.keywords, ==, cases[i].keywords);
      g_assert_cmpstr (p.other, ==, cases[i].other);
      g_assert_cmpuint (p.size, ==, cases[i].size);
      g_assert_cmpuint (p.vsize, ==, cases[i].vsize);
    }
  {
    g_autofree char *name = maildir_filename_compose ("123.abc", 7, POSTHORN_MESSAGE_SEEN |
                                                      POSTHORN_MESSAGE_DRAFT | POSTHORN_MESSAGE_ANSWERED,
                                                      (1u << 2) | 1u, "P");
    g_assert_cmpstr (name, ==, "123.abc:2,DPRSac");
  }
}

static void
test_uidlist (void)
{
  const char *good = "3 V1795682275 N5 Ged892825e3ef076b2c71000083ecc375\n"
                     "1 :1795682275.M623346P28972.vm,S=155,W=162\n"
                     "2 W143 S136 :1795682275.M770918P28983.vm,S=136,W=143:2,FR\n"
                     "garbage line\n"
                     "9 :later\n";
  static const char *const bad[] = { "", "1 V5 N2\n", "3 N5\n", "3 Vx N5\n" };
  MaildirUidlist list;
  g_autoptr(GError) error = NULL;

  g_assert_true (maildir_uidlist_parse (good, strlen (good), &list, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (list.uidvalidity, ==, 1795682275);
  g_assert_cmpuint (list.next_uid, ==, 10);     /* past the last record */
  g_assert_cmpstr (list.guid, ==, "ed892825e3ef076b2c71000083ecc375");
  g_assert_cmpuint (list.entries->len, ==, 3);
  g_assert_cmpstr (g_array_index (list.entries, MaildirUidlistEntry, 1).base, ==,
                   "1795682275.M770918P28983.vm,S=136,W=143");
  g_assert_cmpuint (g_array_index (list.entries, MaildirUidlistEntry, 2).uid, ==, 9);
  maildir_uidlist_clear (&list);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;

      g_assert_false (maildir_uidlist_parse (bad[i], strlen (bad[i]), &list, &e));
      g_assert_error (e, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
}

static void
test_keywords_and_subscriptions (void)
{
  const char *kw = "0 $Label1\n2 Project-X\n30 Toofar\nx bad\n1 two words\n";
  g_autoptr(GPtrArray) names = maildir_keywords_parse (kw, strlen (kw));
  const char *v2 = "V\t2\n\nINBOX\nWork\tQ1 2024\nbad\x01name\n";
  const char *v1 = "INBOX\nWork.Sub\n&ANw-ber\n";
  g_autoptr(GPtrArray) s2 = maildir_subscriptions_parse (v2, strlen (v2));
  g_autoptr(GPtrArray) s1 = maildir_subscriptions_parse (v1, strlen (v1));
  const char *const out_names[] = { "INBOX", "Work/Q1 2024" };
  g_autofree char *out = maildir_subscriptions_format (out_names, 2);

  g_assert_cmpuint (names->len, ==, 3);
  g_assert_cmpstr (names->pdata[0], ==, "$Label1");
  g_assert_null (names->pdata[1]);
  g_assert_cmpstr (names->pdata[2], ==, "Project-X");
  g_assert_cmpuint (s2->len, ==, 2);
  g_assert_cmpstr (s2->pdata[1], ==, "Work/Q1 2024");
  g_assert_cmpuint (s1->len, ==, 3);
  g_assert_cmpstr (s1->pdata[1], ==, "Work/Sub");
  g_assert_cmpstr (s1->pdata[2], ==, "Über");
  g_assert_cmpstr (out, ==, "V\t2\n\nINBOX\nWork\tQ1 2024\n");
}

static void
test_expand_path (void)
{
  static const struct { const char *pattern, *user, *out; } cases[] = {
    { "/var/mail/%d/%n", "alice@example.org", "/var/mail/example.org/alice" },
    { "/home/%u/Maildir", "bob", "/home/bob/Maildir" },
    { "/m/%d/%n", "bob", "/m//bob" },
    { "/m/%%/%n", "a@b", "/m/%/a" },
    { "/m/%d/%n", "../x@example.org", NULL },
    { "/m/%d/%n", "a@..", NULL },
    { "/m/%u", "a/b@c", NULL },
    { "/m/%n", "@example.org", NULL },
    { "/m/%n", "a\nb", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = maildir_expand_path (cases[i].pattern, cases[i].user, &error);

      g_assert_cmpstr (path, ==, cases[i].out);
      if (cases[i].out == NULL)
        g_assert_error (error, POSTHORN_ERROR, POSTHORN_ERROR_INVALID);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/maildir/names/folder-directories", test_folder_names);
  g_test_add_func ("/maildir/names/message-file-names", test_file_names);
  g_test_add_func ("/maildir/names/dovecot-uidlist", test_uidlist);
  g_test_add_func ("/maildir/names/keywords-and-subscriptions", test_keywords_and_subscriptions);
  g_test_add_func ("/maildir/names/per-user-path", test_expand_path);
  return g_test_run ();
}
