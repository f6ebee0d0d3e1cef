/* Replays a fuzz target without libFuzzer: every seed in the target's
 * corpus folder, then a fixed number of deterministic mutations of them,
 * through LLVMFuzzerTestOneInput(). Built with any compiler, so that the
 * normal test run (and the sanitizer run) keeps every seed and every
 * regression input working.
 *
 *   fuzz-driver-NAME [--tap] [-p /fuzz/NAME/seeds]
 *
 * POSTHORN_FUZZ_ITERATIONS overrides the number of mutations (the build
 * sets a default per target); POSTHORN_FUZZ_SEED the generator's seed.
 * With POSTHORN_FUZZ_KEEP_INPUT set, each input is first written to
 * $TMPDIR/posthorn-fuzz-NAME-last-input, so that the one that crashed is
 * left there.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target"
#endif
#ifndef FUZZ_ITERATIONS
#define FUZZ_ITERATIONS 2000
#endif
/* Inputs grow no bigger than this through mutations. */
#define FUZZ_MAX_INPUT (64 * 1024)

typedef struct {
  GPtrArray *seeds;   /* GBytes, sorted by file name */
  GPtrArray *names;   /* file names */
} Corpus;

static Corpus corpus;

/* Tokens the parsers care about; mutations splice them in. */
static const char *const tokens[] = {
  "\r\n", "\n", "\r", " ", "\0", "{", "}", "{0}", "{4294967296}", "{18446744073709551615}",
  "{5+}", "~{3}", "(", ")", "[", "]", "\"", "\\", "*", "%", ":", ",", "$", "1:*",
  "4294967295", "4294967296", "-1", "..", "../", "/", "&", "-", "&-", "&AC4ALgAv-", "=",
  "==", "<", ">", "@", "=?utf-8?b?", "?=", "Content-Type: multipart/mixed; boundary=",
  "--", "\r\n.\r\n", ".\r\n", "[core]", "=\n", ":{PLAIN}", "{SCRAM-SHA-256}", "#",
  "\xff", "\xc3\xa9", "\xed\xa0\x80", "\x80",
};

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
insert_bytes (GByteArray *buf, guint pos, const guint8 *data, guint n)
{
  g_array_insert_vals ((GArray *) buf, pos, data, n);
}

static void
corpus_load (void)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  corpus.seeds = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  corpus.names = g_ptr_array_new_with_free_func (g_free);
  dir = g_dir_open (FUZZ_CORPUS_DIR, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (FUZZ_CORPUS_DIR, names->pdata[i], NULL);
      char *contents;
      gsize length;

      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
      g_ptr_array_add (corpus.seeds, g_bytes_new_take (contents, length));
      g_ptr_array_add (corpus.names, g_strdup (names->pdata[i]));
    }
}

/* Keeps a copy of the input about to run, so that an abort leaves it. */
static void
remember_input (const guint8 *data, gsize size)
{
  static char *path;

  if (path == NULL)
    path = g_build_filename (g_get_tmp_dir (), "posthorn-fuzz-" FUZZ_TARGET "-last-input", NULL);
  g_file_set_contents (path, (const char *) data, (gssize) size, NULL);
}

static void
run_one (const guint8 *data, gsize size)
{
  /* an exact-size heap copy, so that ASan sees any overread (never NULL,
   * as with libFuzzer) */
  guint8 *copy = g_malloc (MAX (size, 1));

  memcpy (copy, data, size);

  if (g_getenv ("POSTHORN_FUZZ_KEEP_INPUT") != NULL)
    remember_input (data, size);
  LLVMFuzzerTestOneInput (copy, size);
  g_free (copy);
}

static void
test_seeds (void)
{
  g_assert_cmpuint (corpus.seeds->len, >, 0);
  for (guint i = 0; i < corpus.seeds->len; i++)
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (corpus.seeds->pdata[i], &size);

      g_test_message ("seed %s (%" G_GSIZE_FORMAT " bytes)", (char *) corpus.names->pdata[i], size);
      run_one (data, size);
    }
  /* and the degenerate inputs */
  run_one ((const guint8 *) "", 0);
  run_one ((const guint8 *) "\0", 1);
  run_one ((const guint8 *) "\n", 1);
}

static void
mutate (GRand *rand, GByteArray *buf)
{
  guint ops = 1 + g_rand_int_range (rand, 0, 4);

  for (guint op = 0; op < ops; op++)
    {
      guint len = buf->len;
      guint pos = len > 0 ? (guint) g_rand_int_range (rand, 0, (gint32) len) : 0;

      switch (g_rand_int_range (rand, 0, 8))
        {
        case 0: /* flip a bit */
          if (len > 0)
            buf->data[pos] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
          break;
        case 1: /* a random byte */
          if (len > 0)
            buf->data[pos] = (guint8) g_rand_int_range (rand, 0, 256);
          break;
        case 2: /* insert a random byte */
          {
            guint8 b = (guint8) g_rand_int_range (rand, 0, 256);

            insert_bytes (buf, pos, &b, 1);
          }
          break;
        case 3: /* delete a range */
          if (len > 0)
            g_byte_array_remove_range (buf, pos,
                                       (guint) g_rand_int_range (rand, 1, (gint32) MIN (len - pos, 64u) + 1));
          break;
        case 4: /* duplicate a range */
          if (len > 0 && len < FUZZ_MAX_INPUT / 2)
            {
              guint n = (guint) g_rand_int_range (rand, 1, (gint32) MIN (len - pos, 256u) + 1);
              g_autofree guint8 *piece = g_memdup2 (buf->data + pos, n);
              guint times = (guint) g_rand_int_range (rand, 1, 5);

              for (guint t = 0; t < times; t++)
                insert_bytes (buf, pos, piece, n);
            }
          break;
        case 5: /* truncate */
          g_byte_array_set_size (buf, pos);
          break;
        case 6: /* splice a token */
          {
            guint t = (guint) g_rand_int_range (rand, 0, G_N_ELEMENTS (tokens));
            gsize n = tokens[t][0] == '\0' ? 1 : strlen (tokens[t]);

            insert_bytes (buf, pos, (const guint8 *) tokens[t], (guint) n);
          }
          break;
        default: /* splice part of another seed */
          {
            gsize other_size;
            GBytes *other = corpus.seeds->pdata[g_rand_int_range (rand, 0, (gint32) corpus.seeds->len)];
            const guint8 *other_data = g_bytes_get_data (other, &other_size);

            if (other_size > 0)
              {
                guint from = (guint) g_rand_int_range (rand, 0, (gint32) other_size);
                gsize want = (gsize) g_rand_int_range (rand, 1, 512);
                guint n = (guint) MIN (other_size - from, want);

                insert_bytes (buf, pos, other_data + from, n);
              }
          }
          break;
        }
    }
  if (buf->len > FUZZ_MAX_INPUT)
    g_byte_array_set_size (buf, FUZZ_MAX_INPUT);
}

static void
test_mutations (void)
{
  const char *iterations_env = g_getenv ("POSTHORN_FUZZ_ITERATIONS");
  const char *seed_env = g_getenv ("POSTHORN_FUZZ_SEED");
  guint iterations = iterations_env != NULL ? (guint) g_ascii_strtoull (iterations_env, NULL, 10)
                                            : FUZZ_ITERATIONS;
  guint32 seed = seed_env != NULL ? (guint32) g_ascii_strtoull (seed_env, NULL, 10) : 0x9057u;
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);

  g_assert_cmpuint (corpus.seeds->len, >, 0);
  for (guint i = 0; i < iterations; i++)
    {
      GBytes *base = corpus.seeds->pdata[i % corpus.seeds->len];
      gsize size;
      const guint8 *data = g_bytes_get_data (base, &size);
      g_autoptr(GByteArray) buf = g_byte_array_sized_new ((guint) size + 64);

      g_byte_array_append (buf, data, (guint) size);
      mutate (rand, buf);
      run_one (buf->data, buf->len);
    }
  g_test_message ("%u mutations of %u seeds (seed %u)", iterations, corpus.seeds->len, seed);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);
  corpus_load ();
  g_test_add_func ("/fuzz/" FUZZ_TARGET "/seeds", test_seeds);
  g_test_add_func ("/fuzz/" FUZZ_TARGET "/mutations", test_mutations);
  int status = g_test_run ();
  g_clear_pointer (&corpus.seeds, g_ptr_array_unref);
  g_clear_pointer (&corpus.names, g_ptr_array_unref);
  return status;
}
