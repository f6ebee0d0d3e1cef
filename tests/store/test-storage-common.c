/* storage-common: table tests of the code both store plugins share
 * (keyword sets, STORE arithmetic, message lists and snapshots, SEARCH
 * queries).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "storage-keywords.h"
#include "storage-message-list.h"
#include "storage-search.h"

#include <string.h>

/* "3,1,2" -> GArray of guint32 (empty for "" or NULL). */
static GArray *
set_of (const char *list)
{
  GArray *set = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_auto(GStrv) parts = list != NULL && *list != '\0' ? g_strsplit (list, ",", -1) : NULL;

  for (guint i = 0; parts != NULL && parts[i] != NULL; i++)
    {
      guint32 v = (guint32) g_ascii_strtoull (parts[i], NULL, 10);

      g_array_append_val (set, v);
    }
  return set;
}

static char *
set_to_string (const GArray *set)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < set->len; i++)
    g_string_append_printf (s, "%s%u", i > 0 ? "," : "", g_array_index (set, guint32, i));
  return g_string_free (s, FALSE);
}

static void
assert_set (const GArray *set, const char *expected)
{
  g_autofree char *got = set_to_string (set);

  g_assert_cmpstr (got, ==, expected);
}

/* ---- keyword blobs ---- */

static void
test_keywords_decode (void)
{
  static const struct {
    const char *blob;
    gsize size;
    const char *expected;
  } cases[] = {
    { NULL, 0, "" },
    { NULL, 8, "" },
    { "", 0, "" },
    { "\x01\x00\x00", 3, "" },                               /* partial index */
    { "\x01\x00\x00\x00", 4, "1" },
    { "\x01\x00\x00\x00\x02\x00", 6, "1" },                  /* trailing partial ignored */
    { "\x00\x01\x00\x00\x1a\x00\x00\x00", 8, "256,26" },     /* little-endian */
    { "\xff\xff\xff\xff", 4, "4294967295" },
    { "\x04\x03\x02\x01", 4, "16909060" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) out = set_of ("7,8");

      storage_keywords_decode (cases[i].blob, cases[i].size, out);
      assert_set (out, cases[i].expected);
    }
}

static void
test_keywords_encode (void)
{
  static const struct {
    const char *set;
    const char *blob;
    gsize size;
  } cases[] = {
    { "", NULL, 0 },
    { "0", "\x00\x00\x00\x00", 4 },
    { "1,26", "\x01\x00\x00\x00\x1a\x00\x00\x00", 8 },
    { "16909060", "\x04\x03\x02\x01", 4 },
  };
  gsize size = 99;

  g_assert_null (storage_keywords_encode (NULL, &size));
  g_assert_cmpuint (size, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) set = set_of (cases[i].set);
      g_autoptr(GArray) back = g_array_new (FALSE, FALSE, sizeof (guint32));
      g_autofree guint8 *blob = storage_keywords_encode (set, &size);

      g_assert_cmpmem (blob, size, cases[i].blob, cases[i].size);
      storage_keywords_decode (blob, size, back);
      assert_set (back, cases[i].set);
    }
}

/* The blob goes into a column and comes back; the empty set is NULL. */
static void
test_keywords_sqlite (void)
{
  static const char *const sets[] = { "", "0", "2,5,31", "1000000" };
  sqlite3 *db = NULL;
  sqlite3_stmt *insert = NULL, *select = NULL;

  g_assert_cmpint (sqlite3_open (":memory:", &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE t (n INTEGER, kw BLOB)", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "INSERT INTO t VALUES (?1, ?2)", -1, &insert, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT kw IS NULL, kw FROM t WHERE n = ?1", -1, &select, NULL),
                   ==, SQLITE_OK);
  for (guint i = 0; i < G_N_ELEMENTS (sets); i++)
    {
      g_autoptr(GArray) set = set_of (sets[i]);
      g_autoptr(GArray) back = set_of ("9");

      sqlite3_bind_int (insert, 1, (int) i);
      storage_keywords_bind (insert, 2, set);
      g_assert_cmpint (sqlite3_step (insert), ==, SQLITE_DONE);
      sqlite3_reset (insert);
      sqlite3_bind_int (select, 1, (int) i);
      g_assert_cmpint (sqlite3_step (select), ==, SQLITE_ROW);
      g_assert_cmpint (sqlite3_column_int (select, 0), ==, set->len == 0);
      storage_keywords_from_column (select, 1, back);
      assert_set (back, sets[i]);
      sqlite3_reset (select);
    }
  sqlite3_finalize (insert);
  sqlite3_finalize (select);
  sqlite3_close (db);
}

static void
test_keyword_names (void)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) none = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpint (sqlite3_open (":memory:", &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE k (idx INTEGER, name TEXT);"
                                     "INSERT INTO k VALUES (0, '$Junk'), (2, 'Work'), (5, 'Later')",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT idx, name FROM k WHERE idx >= ?1 ORDER BY idx", -1, &stmt,
                                       NULL), ==, SQLITE_OK);
  sqlite3_bind_int (stmt, 1, 0);
  g_assert_cmpint (storage_keyword_names_read (stmt, names), ==, SQLITE_DONE);
  g_assert_cmpuint (names->len, ==, 7);
  g_assert_cmpstrv ((const char *const *) names->pdata,
                    ((const char *const[]) { "$Junk", "$unused", "Work", "$unused", "$unused", "Later", NULL }));
  /* reset, so it runs again; no rows: just the terminator */
  sqlite3_bind_int (stmt, 1, 6);
  g_assert_cmpint (storage_keyword_names_read (stmt, none), ==, SQLITE_DONE);
  g_assert_cmpuint (none->len, ==, 1);
  g_assert_null (none->pdata[0]);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

/* ---- keyword sets ---- */

static void
test_keyword_set_normalize (void)
{
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "", "" },
    { "5", "5" },
    { "3,1,2", "1,2,3" },
    { "2,2,2", "2" },
    { "4,1,4,0,1", "0,1,4" },
    { "4294967295,0", "0,4294967295" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) set = set_of (cases[i].in);

      storage_keyword_set_normalize (set);
      assert_set (set, cases[i].out);
    }
}

static void
test_keyword_set_compare (void)
{
  static const struct {
    const char *a;
    const char *b;
    guint32 v;
    gboolean a_contains_v;
    gboolean equal;
  } cases[] = {
    { "", "", 0, FALSE, TRUE },
    { "", "0", 0, FALSE, FALSE },
    { "0", "", 0, TRUE, FALSE },
    { "1,2", "1,2", 2, TRUE, TRUE },
    { "1,2", "1,3", 3, FALSE, FALSE },
    { "1,2", "1,2,3", 1, TRUE, FALSE },
    { "7", "8", 8, FALSE, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) a = set_of (cases[i].a);
      g_autoptr(GArray) b = set_of (cases[i].b);

      g_assert_cmpint (storage_keyword_set_contains (a, cases[i].v), ==, cases[i].a_contains_v);
      g_assert_cmpint (storage_keyword_sets_equal (a, b), ==, cases[i].equal);
      g_assert_cmpint (storage_keyword_sets_equal (b, a), ==, cases[i].equal);
    }
}

/* ---- STORE ---- */

static void
test_flags_apply (void)
{
  static const struct {
    PosthornFlagsMode mode;
    guint32 flags;
    const char *kw;
    guint32 old_flags;
    const char *old_kw;
    guint32 next;
    const char *next_kw;
  } cases[] = {
    { POSTHORN_FLAGS_REPLACE, 0, "", 0x0f, "1,2", 0, "" },
    { POSTHORN_FLAGS_REPLACE, 0x02, "3", 0x01, "1,2", 0x02, "3" },
    { POSTHORN_FLAGS_REPLACE, 0x200, "", 0, "", 0x200, "" },          /* not masked */
    { POSTHORN_FLAGS_ADD, 0x02, "", 0x01, "1", 0x03, "1" },
    { POSTHORN_FLAGS_ADD, 0x01, "0,4", 0x01, "2,4", 0x01, "0,2,4" },
    { POSTHORN_FLAGS_ADD, 0, "", 0x08, "", 0x08, "" },
    { POSTHORN_FLAGS_REMOVE, 0x01, "", 0x03, "1,2", 0x02, "1,2" },
    { POSTHORN_FLAGS_REMOVE, 0x04, "2,9", 0x03, "1,2,3", 0x03, "1,3" },
    { POSTHORN_FLAGS_REMOVE, 0xff, "1,2,3", 0x03, "1,2,3", 0, "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) kw = set_of (cases[i].kw);
      g_autoptr(GArray) old_kw = set_of (cases[i].old_kw);
      g_autoptr(GArray) next_kw = set_of ("77");   /* emptied first */
      guint32 next = storage_flags_apply (cases[i].mode, cases[i].flags, kw, cases[i].old_flags, old_kw, next_kw);

      g_assert_cmphex (next, ==, cases[i].next);
      assert_set (next_kw, cases[i].next_kw);
    }
}

/* ---- message lists and snapshots ---- */

/* "uid:flags:modseq:kw kw;..." (keywords separated by spaces). */
static void
list_of (StorageMessageList *l, const char *spec)
{
  g_auto(GStrv) entries = *spec != '\0' ? g_strsplit (spec, ";", -1) : NULL;

  storage_message_list_init (l, 0);
  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit (entries[i], ":", 4);
      g_autoptr(GArray) kw = NULL;

      g_assert_cmpuint (g_strv_length (f), ==, 4);
      g_strdelimit (f[3], " ", ',');
      kw = set_of (f[3]);
      storage_message_list_add (l, (guint32) g_ascii_strtoull (f[0], NULL, 10),
                                (guint32) g_ascii_strtoull (f[1], NULL, 10),
                                g_ascii_strtoull (f[2], NULL, 10), (const guint32 *) (gpointer) kw->data, kw->len);
    }
}

static char *
list_to_string (const StorageMessageList *l)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < l->uids->len; i++)
    {
      guint n;
      const guint32 *kw = storage_message_list_keywords (l, i, &n);

      g_assert_true ((n == 0) == (kw == NULL));
      g_string_append_printf (s, "%s%u:%u:%" G_GUINT64_FORMAT ":", i > 0 ? ";" : "",
                              g_array_index (l->uids, guint32, i), g_array_index (l->flags, guint32, i),
                              g_array_index (l->modseqs, guint64, i));
      for (guint k = 0; k < n; k++)
        g_string_append_printf (s, "%s%u", k > 0 ? " " : "", kw[k]);
    }
  return g_string_free (s, FALSE);
}

static void
assert_list (const StorageMessageList *l, const char *expected)
{
  g_autofree char *got = list_to_string (l);

  g_assert_cmpstr (got, ==, expected);
}

static const char *const lists[] = {
  "",
  "1:0:1:",
  "1:2:3:0 4;2:0:4:;7:8:9:1 2 3",
  "5:0:10:;6:0:11:;4000000000:32:18446744073709551615:25",
};

static void
test_snapshot_roundtrip (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    {
      StorageMessageList l, back = { 0 };
      g_autoptr(GBytes) blob = NULL;
      gsize size;
      const guint8 *data;

      list_of (&l, lists[i]);
      assert_list (&l, lists[i]);
      blob = storage_snapshot_encode (&l, 0x31534850u, 42);
      data = g_bytes_get_data (blob, &size);
      g_assert_cmpuint (size, ==, 16 + l.uids->len * 20 + l.kw_pool->len * 4);
      g_assert_true (storage_snapshot_decode (data, size, 0x31534850u, 42, &back));
      assert_list (&back, lists[i]);
      /* another store's magic, another UIDVALIDITY */
      storage_message_list_clear (&back);
      g_assert_false (storage_snapshot_decode (data, size, 0x314d4850u, 42, &back));
      g_assert_false (storage_snapshot_decode (data, size, 0x31534850u, 43, &back));
      g_assert_null (back.uids);
      storage_message_list_clear (&l);
    }
}

/* A valid blob of "1:0:1:a;2:0:2:b c;3:0:3:" with one field changed. */
static void
test_snapshot_damaged (void)
{
  enum { MAGIC = 0x314d4850u };
  static const struct {
    const char *what;
    gsize offset;        /* of a guint32 to overwrite, or G_MAXSIZE */
    guint32 value;
    gssize size_change;
  } cases[] = {
    { "intact", G_MAXSIZE, 0, 0 },
    { "cut short", G_MAXSIZE, 0, -1 },
    { "one byte more", G_MAXSIZE, 0, 1 },
    { "header only", G_MAXSIZE, 0, -(16 + 3 * 20 + 3 * 4) + 16 },
    { "less than a header", G_MAXSIZE, 0, -(16 + 3 * 20 + 3 * 4) + 15 },
    { "count too big", 8, 4, 0 },
    { "pool too big", 12, 4, 0 },
    { "UIDs not ascending", 16 + 4, 1, 0 },           /* uids[1] = 1 */
    { "UIDs repeat", 16 + 8, 2, 0 },                  /* uids[2] = 2 */
    { "keyword offset past the pool", 16 + 3 * 16 + 8, 4, 0 },
    { "keyword offsets 0,0,3 (valid)", 16 + 3 * 16 + 4, 0, 0 },
    { "keyword offsets 0,1,0 go back", 16 + 3 * 16 + 8, 0, 0 },
  };
  static const gboolean valid[] = { TRUE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE,
                                    TRUE, FALSE };
  StorageMessageList l;
  g_autoptr(GBytes) blob = NULL;
  const guint8 *data;
  gsize size;

  G_STATIC_ASSERT (G_N_ELEMENTS (valid) == G_N_ELEMENTS (cases));
  list_of (&l, "1:0:1:7;2:0:2:8 9;3:0:3:");
  blob = storage_snapshot_encode (&l, MAGIC, 9);
  storage_message_list_clear (&l);
  data = g_bytes_get_data (blob, &size);
  g_assert_cmpuint (size, ==, 16 + 3 * 20 + 3 * 4);
  g_assert_false (storage_snapshot_decode (NULL, 0, MAGIC, 9, &l));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize n = (gsize) ((gssize) size + cases[i].size_change);
      g_autofree guint8 *copy = g_malloc0 (MAX (n, size));
      StorageMessageList out = { 0 };
      gboolean ok;

      memcpy (copy, data, size);
      if (cases[i].offset != G_MAXSIZE)
        memcpy (copy + cases[i].offset, &cases[i].value, 4);
      ok = storage_snapshot_decode (copy, n, MAGIC, 9, &out);
      if (ok != valid[i])
        g_error ("%s: decode gave %d", cases[i].what, ok);
      if (ok)
        storage_message_list_clear (&out);
      else
        g_assert_null (out.uids);
    }
}

static void
test_message_list_merge (void)
{
  static const struct {
    const char *snap;
    const char *changed;
    const char *gone;
    const char *expected;
  } cases[] = {
    { "", "", "", "" },
    { "1:0:1:;2:0:2:", "", "", "1:0:1:;2:0:2:" },
    { "", "3:1:5:2", "", "3:1:5:2" },
    { "1:0:1:;2:0:2:;3:0:3:", "2:8:7:1 2", "", "1:0:1:;2:8:7:1 2;3:0:3:" },
    { "1:0:1:;2:0:2:;3:0:3:", "", "2", "1:0:1:;3:0:3:" },
    { "1:0:1:;2:0:2:;3:0:3:", "", "1,2,3", "" },
    { "1:0:1:4;3:0:3:", "0:0:9:;2:0:8:5;4:0:10:6 7", "", "0:0:9:;1:0:1:4;2:0:8:5;3:0:3:;4:0:10:6 7" },
    /* a tombstone for a UID the snapshot lacks, one past its end */
    { "2:0:1:;4:0:2:", "", "1,3,5", "2:0:1:;4:0:2:" },
    /* expunged and then appended again is impossible (UIDs are not
     * reused), but a changed row always wins over a tombstone */
    { "5:0:1:;6:0:1:", "6:2:9:", "5,6", "6:2:9:" },
    { "10:0:1:1;20:0:2:2;30:0:3:3", "25:0:9:;30:4:10:", "10", "20:0:2:2;25:0:9:;30:4:10:" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      StorageMessageList snap, changed, out;
      g_autoptr(GArray) gone = set_of (cases[i].gone);
      guint n_changes;

      list_of (&snap, cases[i].snap);
      list_of (&changed, cases[i].changed);
      n_changes = changed.uids->len + gone->len;
      g_assert_cmpuint (storage_message_list_merge (&snap, &changed, gone, &out), ==, n_changes);
      assert_list (&out, cases[i].expected);
      /* both inputs are taken */
      g_assert_null (snap.uids);
      g_assert_null (changed.kw_pool);
      storage_message_list_clear (&snap);
      storage_message_list_clear (&out);
      storage_message_list_clear (&out);   /* twice is harmless */
    }
}

static void
test_message_list_read (void)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  StorageMessageList l;
  g_autoptr(GArray) uids = set_of ("1");

  g_assert_cmpint (sqlite3_open (":memory:", &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE m (uid, flags, modseq, keywords);"
                                     "INSERT INTO m VALUES (3, 1, 10, NULL), (5, 0, 12, x'0200000007000000'),"
                                     " (9, 4, 11, x'01000000')", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT uid, flags, modseq, keywords FROM m ORDER BY uid", -1, &stmt,
                                       NULL), ==, SQLITE_OK);
  storage_message_list_init (&l, 0);
  g_assert_cmpint (storage_message_list_read (stmt, &l), ==, SQLITE_DONE);
  assert_list (&l, "3:1:10:;5:0:12:2 7;9:4:11:1");
  storage_message_list_clear (&l);
  /* reset: the statement runs again */
  g_assert_cmpint (storage_uids_read (stmt, uids), ==, SQLITE_DONE);
  assert_set (uids, "1,3,5,9");
  sqlite3_finalize (stmt);
  /* an error is returned, not swallowed */
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT uid, abs ((-9223372036854775807 - 1) * (uid > 0)) FROM m", -1, &stmt,
                                       NULL), ==, SQLITE_OK);
  g_assert_cmpint (storage_uids_read (stmt, uids), ==, SQLITE_ERROR);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

/* ---- SEARCH ---- */

static void
test_search_query (void)
{
  static const struct {
    const char *needle;
    gboolean body_only;
    StorageSearchKind kind;
    const char *query;
  } cases[] = {
    { "", FALSE, STORAGE_SEARCH_EVERY, NULL },
    { "", TRUE, STORAGE_SEARCH_EVERY, NULL },
    { "a", FALSE, STORAGE_SEARCH_LIKE, "%a%" },
    { "ab", TRUE, STORAGE_SEARCH_LIKE, "%ab%" },
    { "%_", FALSE, STORAGE_SEARCH_LIKE, "%\\%\\_%" },
    { "\\", FALSE, STORAGE_SEARCH_LIKE, "%\\\\%" },
    { "\xc3\xa9\xc3\xa9", FALSE, STORAGE_SEARCH_LIKE, "%\xc3\xa9\xc3\xa9%" },  /* two characters, four bytes */
    { "abc", FALSE, STORAGE_SEARCH_MATCH, "{header_text body_text} : \"abc\"" },
    { "abc", TRUE, STORAGE_SEARCH_MATCH, "body_text : \"abc\"" },
    { "say \"hi\"", TRUE, STORAGE_SEARCH_MATCH, "body_text : \"say \"\"hi\"\"\"" },
    { "a%_b", FALSE, STORAGE_SEARCH_MATCH, "{header_text body_text} : \"a%_b\"" },
    { "\"\"\"", TRUE, STORAGE_SEARCH_MATCH, "body_text : \"\"\"\"\"\"\"\"" },
    { "\xc3\xa9t\xc3\xa9", TRUE, STORAGE_SEARCH_MATCH, "body_text : \"\xc3\xa9t\xc3\xa9\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      StorageSearchKind kind = 99;
      g_autofree char *query = storage_search_query (cases[i].needle, cases[i].body_only, &kind);

      g_assert_cmpint (kind, ==, cases[i].kind);
      g_assert_cmpstr (query, ==, cases[i].query);
    }
}

/* The queries do what they say against a real trigram table. */
static void
test_search_fts5 (void)
{
  static const struct {
    const char *needle;
    gboolean body_only;
    const char *expected;   /* rowids */
  } cases[] = {
    { "", FALSE, "1,2,3" },
    { "hello", FALSE, "1,3" },
    { "HELLO", TRUE, "3" },
    { "say \"hi\"", FALSE, "2" },
    { "50%", FALSE, "2" },
    { "5", FALSE, "2" },
    { "%", TRUE, "2" },
    { "_", FALSE, "" },
    { "x", FALSE, "1" },
    { "ll", TRUE, "3" },
  };
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (":memory:", &db), ==, SQLITE_OK);
  if (sqlite3_exec (db, "CREATE VIRTUAL TABLE search USING fts5 (header_text, body_text, tokenize = 'trigram')",
                    NULL, NULL, NULL) != SQLITE_OK)
    {
      g_test_skip ("this SQLite has no FTS5 trigram tokenizer");
      sqlite3_close (db);
      return;
    }
  g_assert_cmpint (sqlite3_exec (db, "INSERT INTO search (rowid, header_text, body_text) VALUES "
                                     "(1, 'Subject: hello x', 'nothing here'),"
                                     "(2, 'Subject: prices', 'say \"hi\" to 50% off'),"
                                     "(3, 'Subject: other', 'well, Hello there')", NULL, NULL, NULL), ==, SQLITE_OK);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      StorageSearchKind kind;
      g_autofree char *query = storage_search_query (cases[i].needle, cases[i].body_only, &kind);
      g_autoptr(GArray) rows = g_array_new (FALSE, FALSE, sizeof (guint32));
      const char *sql = NULL;
      sqlite3_stmt *stmt = NULL;

      switch (kind)
        {
        case STORAGE_SEARCH_EVERY:
          sql = "SELECT rowid FROM search WHERE ?1 IS NULL ORDER BY rowid";
          break;
        case STORAGE_SEARCH_MATCH:
          sql = "SELECT rowid FROM search WHERE search MATCH ?1 ORDER BY rowid";
          break;
        case STORAGE_SEARCH_LIKE:
          sql = cases[i].body_only
            ? "SELECT rowid FROM search WHERE body_text LIKE ?1 ESCAPE '\\' ORDER BY rowid"
            : "SELECT rowid FROM search WHERE header_text LIKE ?1 ESCAPE '\\' "
              "OR body_text LIKE ?1 ESCAPE '\\' ORDER BY rowid";
          break;
        }
      g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
      if (query != NULL)
        sqlite3_bind_text (stmt, 1, query, -1, SQLITE_STATIC);
      g_assert_cmpint (storage_uids_read (stmt, rows), ==, SQLITE_DONE);
      sqlite3_finalize (stmt);
      assert_set (rows, cases[i].expected);
    }
  sqlite3_close (db);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/storage-common/keywords/decode", test_keywords_decode);
  g_test_add_func ("/storage-common/keywords/encode", test_keywords_encode);
  g_test_add_func ("/storage-common/keywords/sqlite-column", test_keywords_sqlite);
  g_test_add_func ("/storage-common/keywords/names", test_keyword_names);
  g_test_add_func ("/storage-common/keyword-set/normalize", test_keyword_set_normalize);
  g_test_add_func ("/storage-common/keyword-set/contains-and-equal", test_keyword_set_compare);
  g_test_add_func ("/storage-common/store/flags-apply", test_flags_apply);
  g_test_add_func ("/storage-common/snapshot/roundtrip", test_snapshot_roundtrip);
  g_test_add_func ("/storage-common/snapshot/damaged", test_snapshot_damaged);
  g_test_add_func ("/storage-common/message-list/merge", test_message_list_merge);
  g_test_add_func ("/storage-common/message-list/read", test_message_list_read);
  g_test_add_func ("/storage-common/search/query", test_search_query);
  g_test_add_func ("/storage-common/search/fts5-trigram", test_search_fts5);
  return g_test_run ();
}
