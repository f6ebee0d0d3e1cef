/* The Dovecot passwd-file format: parsing, verification, line editing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "passwd-file.h"

#include <crypt.h>
#include <string.h>

#define PF_FIELDS 8  /* user:password:uid:gid:gecos:home:shell:extra */

struct _PfTable {
  GHashTable *users;  /* user → PfEntry */
  guint scram_count;
};

#define PF_ERROR (pf_error_quark ())
static GQuark pf_error_quark (void);
G_DEFINE_QUARK (pf-error-quark, pf_error)

void
pf_problem_free (gpointer p)
{
  PfProblem *problem = p;

  g_free (problem->message);
  g_free (problem);
}

void
pf_scram_secret_free (PfScramSecret *secret)
{
  if (secret == NULL)
    return;
  g_clear_pointer (&secret->salt, g_bytes_unref);
  explicit_bzero (secret, sizeof *secret);
  g_free (secret);
}

void
pf_entry_free (PfEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->user);
  if (entry->secret != NULL)
    explicit_bzero (entry->secret, strlen (entry->secret));
  g_free (entry->secret);
  pf_scram_secret_free (entry->scram);
  g_free (entry);
}

/* ---- SCRAM ---- */

static gboolean
pf_base64_decode_strict (const char *text, GBytes **out)
{
  gsize length = strlen (text);
  gsize padding = 0;
  gsize size;
  guchar *data;

  if (length == 0 || length % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    {
      char c = text[i];
      if (c == '=')
        {
          if (i < length - 2 || ++padding > 2)
            return FALSE;
        }
      else if (padding > 0 || (!g_ascii_isalnum (c) && c != '+' && c != '/'))
        return FALSE;
    }
  data = g_base64_decode (text, &size);
  *out = g_bytes_new_take (data, size);
  return TRUE;
}

PfScramSecret *
pf_scram_secret_parse (const char *text, GError **error)
{
  g_auto(GStrv) fields = g_strsplit (text, ",", -1);
  g_autoptr(PfScramSecret) secret = NULL;
  g_autoptr(GBytes) stored = NULL;
  g_autoptr(GBytes) server = NULL;
  guint64 iterations;
  char *end;

  if (g_strv_length (fields) != 4)
    {
      g_set_error_literal (error, PF_ERROR, 0,
                           "SCRAM-SHA-256 secret is not ITERATIONS,SALT,STOREDKEY,SERVERKEY");
      return NULL;
    }
  iterations = g_ascii_strtoull (fields[0], &end, 10);
  if (!g_ascii_isdigit (fields[0][0]) || *end != '\0'
      || iterations < PF_SCRAM_MIN_ITERATIONS || iterations > PF_SCRAM_MAX_ITERATIONS)
    {
      g_set_error (error, PF_ERROR, 0,
                   "SCRAM-SHA-256 iteration count must be %u to %u",
                   PF_SCRAM_MIN_ITERATIONS, PF_SCRAM_MAX_ITERATIONS);
      return NULL;
    }
  secret = g_new0 (PfScramSecret, 1);
  secret->iterations = (guint) iterations;
  if (!pf_base64_decode_strict (fields[1], &secret->salt))
    {
      g_set_error_literal (error, PF_ERROR, 0, "SCRAM-SHA-256 salt is not base64");
      return NULL;
    }
  if (!pf_base64_decode_strict (fields[2], &stored)
      || g_bytes_get_size (stored) != PF_SCRAM_KEY_SIZE)
    {
      g_set_error_literal (error, PF_ERROR, 0, "SCRAM-SHA-256 StoredKey is not 32 bytes of base64");
      return NULL;
    }
  if (!pf_base64_decode_strict (fields[3], &server)
      || g_bytes_get_size (server) != PF_SCRAM_KEY_SIZE)
    {
      g_set_error_literal (error, PF_ERROR, 0, "SCRAM-SHA-256 ServerKey is not 32 bytes of base64");
      return NULL;
    }
  memcpy (secret->stored_key, g_bytes_get_data (stored, NULL), PF_SCRAM_KEY_SIZE);
  memcpy (secret->server_key, g_bytes_get_data (server, NULL), PF_SCRAM_KEY_SIZE);
  return g_steal_pointer (&secret);
}

static void
pf_hmac_sha256 (const guint8 *key, gsize key_size,
                const guint8 *data, gsize data_size,
                guint8 out[PF_SCRAM_KEY_SIZE])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, key_size);
  gsize size = PF_SCRAM_KEY_SIZE;

  g_hmac_update (hmac, data, data_size);
  g_hmac_get_digest (hmac, out, &size);
}

void
pf_scram_sha256_keys (const char *password,
                      const guint8 *salt,
                      gsize salt_size,
                      guint iterations,
                      guint8 stored_key[PF_SCRAM_KEY_SIZE],
                      guint8 server_key[PF_SCRAM_KEY_SIZE])
{
  g_autoptr(GHmac) keyed = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) password,
                                       strlen (password));
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  static const guint8 block_one[4] = { 0, 0, 0, 1 };
  guint8 u[PF_SCRAM_KEY_SIZE], salted[PF_SCRAM_KEY_SIZE], client_key[PF_SCRAM_KEY_SIZE];
  gsize size;

  /* PBKDF2-HMAC-SHA-256 with one output block: Hi() of RFC 5802. */
  for (guint i = 0; i < iterations; i++)
    {
      g_autoptr(GHmac) hmac = g_hmac_copy (keyed);

      if (i == 0)
        {
          g_hmac_update (hmac, salt, salt_size);
          g_hmac_update (hmac, block_one, sizeof block_one);
        }
      else
        g_hmac_update (hmac, u, sizeof u);
      size = sizeof u;
      g_hmac_get_digest (hmac, u, &size);
      if (i == 0)
        memcpy (salted, u, sizeof u);
      else
        for (gsize k = 0; k < sizeof u; k++)
          salted[k] ^= u[k];
    }

  pf_hmac_sha256 (salted, sizeof salted, (const guint8 *) "Client Key", 10, client_key);
  pf_hmac_sha256 (salted, sizeof salted, (const guint8 *) "Server Key", 10, server_key);
  g_checksum_update (sha, client_key, sizeof client_key);
  size = PF_SCRAM_KEY_SIZE;
  g_checksum_get_digest (sha, stored_key, &size);

  explicit_bzero (u, sizeof u);
  explicit_bzero (salted, sizeof salted);
  explicit_bzero (client_key, sizeof client_key);
}

/* ---- lines ---- */

static gboolean
pf_line_is_blank_or_comment (const char *line)
{
  while (*line == ' ' || *line == '\t')
    line++;
  return *line == '\0' || *line == '#';
}

/* Splits like Dovecot: the first seven ':' separate fields, the rest
 * belongs to the extra fields. */
static GStrv
pf_line_split (const char *line)
{
  return g_strsplit (line, ":", PF_FIELDS);
}

char *
pf_line_get_user (const char *line)
{
  const char *colon;

  if (pf_line_is_blank_or_comment (line))
    return NULL;
  colon = strchr (line, ':');
  if (colon == NULL || colon == line)
    return NULL;
  return g_ascii_strdown (line, colon - line);
}

static gboolean
pf_crypt_prefix_ok (const char *scheme, const char *hash)
{
  if (g_ascii_strcasecmp (scheme, "SHA512-CRYPT") == 0)
    return g_str_has_prefix (hash, "$6$");
  if (g_ascii_strcasecmp (scheme, "SHA256-CRYPT") == 0)
    return g_str_has_prefix (hash, "$5$");
  if (g_ascii_strcasecmp (scheme, "BLF-CRYPT") == 0)
    return g_str_has_prefix (hash, "$2a$") || g_str_has_prefix (hash, "$2b$")
           || g_str_has_prefix (hash, "$2y$");
  return TRUE;  /* CRYPT: any string libxcrypt knows */
}

static gboolean
pf_parse_password (PfEntry *entry, const char *field, GError **error)
{
  const char *scheme_end;
  g_autofree char *scheme = NULL;
  const char *value = field;

  if (*field == '\0')
    {
      entry->scheme = PF_SCHEME_NONE;
      return TRUE;
    }
  if (*field == '{')
    {
      scheme_end = strchr (field, '}');
      if (scheme_end == NULL)
        {
          g_set_error_literal (error, PF_ERROR, 0, "password scheme has no closing '}'");
          return FALSE;
        }
      scheme = g_strndup (field + 1, scheme_end - field - 1);
      value = scheme_end + 1;
    }
  else
    scheme = g_strdup ("CRYPT");  /* passwd-file's default scheme in Dovecot */

  if (g_ascii_strcasecmp (scheme, "PLAIN") == 0
      || g_ascii_strcasecmp (scheme, "CLEAR") == 0
      || g_ascii_strcasecmp (scheme, "CLEARTEXT") == 0)
    {
      entry->scheme = PF_SCHEME_PLAIN;
      entry->secret = g_strdup (value);
      return TRUE;
    }
  if (g_ascii_strcasecmp (scheme, "SCRAM-SHA-256") == 0)
    {
      entry->scheme = PF_SCHEME_SCRAM_SHA256;
      entry->scram = pf_scram_secret_parse (value, error);
      return entry->scram != NULL;
    }
  if (g_ascii_strcasecmp (scheme, "CRYPT") == 0
      || g_ascii_strcasecmp (scheme, "SHA512-CRYPT") == 0
      || g_ascii_strcasecmp (scheme, "SHA256-CRYPT") == 0
      || g_ascii_strcasecmp (scheme, "BLF-CRYPT") == 0)
    {
      int check;

      if (!pf_crypt_prefix_ok (scheme, value))
        {
          g_set_error (error, PF_ERROR, 0, "the hash does not match the {%s} scheme", scheme);
          return FALSE;
        }
      check = crypt_checksalt (value);
      if (check == CRYPT_SALT_INVALID || check == CRYPT_SALT_METHOD_DISABLED)
        {
          g_set_error (error, PF_ERROR, 0, "{%s} hash is not a crypt string libxcrypt supports",
                       scheme);
          return FALSE;
        }
      entry->scheme = PF_SCHEME_CRYPT;
      entry->secret = g_strdup (value);
      return TRUE;
    }
  g_set_error (error, PF_ERROR, 0, "unsupported password scheme {%s}", scheme);
  return FALSE;
}

static gboolean
pf_parse_extra (PfEntry *entry, const char *extra, GError **error)
{
  g_auto(GStrv) tokens = g_strsplit (extra, " ", -1);

  for (guint i = 0; tokens[i] != NULL; i++)
    {
      const char *value;

      if (!g_str_has_prefix (tokens[i], PF_SCRAM_EXTRA_FIELD "="))
        continue;
      value = tokens[i] + strlen (PF_SCRAM_EXTRA_FIELD "=");
      if (entry->scram != NULL)
        continue;  /* a {SCRAM-SHA-256} password field wins */
      entry->scram = pf_scram_secret_parse (value, error);
      if (entry->scram == NULL)
        {
          g_prefix_error (error, PF_SCRAM_EXTRA_FIELD ": ");
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
pf_user_name_check (const char *user, const char **why)
{
  const char *reason = NULL;

  if (user[0] == '\0')
    reason = "empty user name";
  else if (user[0] == '.')
    reason = "user name starts with '.'";
  for (const char *p = user; reason == NULL && *p != '\0'; p++)
    {
      if (*p == '/')
        reason = "user name contains '/'";
      else if (*p == '\\')
        reason = "user name contains '\\'";
      else if (*p == ':')
        reason = "user name contains ':'";
      else if ((guchar) *p < 0x20 || *p == 0x7f)
        reason = "user name contains a control character";
    }
  if (why != NULL)
    *why = reason;
  return reason == NULL;
}

PfEntry *
pf_entry_parse_line (const char *line, guint line_number, GError **error)
{
  const char *why = NULL;

  g_auto(GStrv) fields = NULL;
  PfEntry *entry;

  if (pf_line_is_blank_or_comment (line))
    return NULL;
  fields = pf_line_split (line);
  if (fields[1] == NULL)
    {
      g_set_error_literal (error, PF_ERROR, 0, "no ':' after the user name");
      return NULL;
    }
  if (!pf_user_name_check (fields[0], &why))
    {
      g_set_error_literal (error, PF_ERROR, 0, why);
      return NULL;
    }
  entry = g_new0 (PfEntry, 1);
  entry->user = g_ascii_strdown (fields[0], -1);
  entry->line = line_number;
  if (!pf_parse_password (entry, fields[1], error)
      || (g_strv_length (fields) == PF_FIELDS && !pf_parse_extra (entry, fields[7], error)))
    {
      pf_entry_free (entry);
      return NULL;
    }
  return entry;
}

static gboolean
pf_memeq (const void *a, const void *b, gsize size)
{
  const volatile guint8 *x = a, *y = b;
  guint8 diff = 0;

  for (gsize i = 0; i < size; i++)
    diff |= x[i] ^ y[i];
  return diff == 0;
}

static gboolean
pf_streq (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);

  return pf_memeq (a, b, MIN (la, lb)) && la == lb;
}

gboolean
pf_entry_verify (const PfEntry *entry, const char *password)
{
  switch (entry->scheme)
    {
    case PF_SCHEME_PLAIN:
      return pf_streq (entry->secret, password);

    case PF_SCHEME_CRYPT:
      {
        struct crypt_data *data = g_new0 (struct crypt_data, 1);
        const char *hash = crypt_rn (password, entry->secret, data, sizeof *data);
        gboolean ok = hash != NULL && hash[0] != '*' && pf_streq (hash, entry->secret);

        explicit_bzero (data, sizeof *data);
        g_free (data);
        return ok;
      }

    case PF_SCHEME_SCRAM_SHA256:
      {
        guint8 stored[PF_SCRAM_KEY_SIZE], server[PF_SCRAM_KEY_SIZE];
        gsize salt_size;
        const guint8 *salt = g_bytes_get_data (entry->scram->salt, &salt_size);
        gboolean ok;

        pf_scram_sha256_keys (password, salt, salt_size, entry->scram->iterations,
                              stored, server);
        ok = pf_memeq (stored, entry->scram->stored_key, sizeof stored);
        explicit_bzero (stored, sizeof stored);
        explicit_bzero (server, sizeof server);
        return ok;
      }

    case PF_SCHEME_NONE:
    default:
      return FALSE;
    }
}

/* ---- tables ---- */

static void
pf_table_free (gpointer p)
{
  PfTable *table = p;

  g_hash_table_unref (table->users);
}

PfTable *
pf_table_ref (PfTable *table)
{
  return g_atomic_rc_box_acquire (table);
}

void
pf_table_unref (PfTable *table)
{
  g_atomic_rc_box_release_full (table, pf_table_free);
}

static void
pf_add_problem (GPtrArray **problems, guint line, const char *message)
{
  PfProblem *problem;

  if (problems == NULL)
    return;
  if (*problems == NULL)
    *problems = g_ptr_array_new_with_free_func (pf_problem_free);
  problem = g_new0 (PfProblem, 1);
  problem->line = line;
  problem->message = g_strdup (message);
  g_ptr_array_add (*problems, problem);
}

PfTable *
pf_table_parse (const char *text, gsize length, GPtrArray **problems)
{
  PfTable *table = g_atomic_rc_box_new0 (PfTable);
  const char *p = text, *end = text + length;
  guint line_number = 0;

  table->users = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) pf_entry_free);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      const char *line_end = nl != NULL ? nl : end;
      g_autofree char *line = NULL;
      g_autoptr(GError) error = NULL;
      PfEntry *entry;
      gsize line_length = line_end - p;

      line_number++;
      if (line_length > 0 && p[line_length - 1] == '\r')
        line_length--;
      line = g_strndup (p, line_length);
      p = nl != NULL ? nl + 1 : end;

      if (strlen (line) != line_length)
        {
          pf_add_problem (problems, line_number, "NUL byte in line");
          continue;
        }
      entry = pf_entry_parse_line (line, line_number, &error);
      explicit_bzero (line, line_length);
      if (entry == NULL)
        {
          if (error != NULL)
            pf_add_problem (problems, line_number, error->message);
          continue;
        }
      if (g_hash_table_contains (table->users, entry->user))
        {
          const PfEntry *first = g_hash_table_lookup (table->users, entry->user);
          g_autofree char *message =
            g_strdup_printf ("duplicate user (first on line %u)", first->line);
          pf_add_problem (problems, line_number, message);
          pf_entry_free (entry);
          continue;
        }
      if (entry->scram != NULL)
        table->scram_count++;
      g_hash_table_insert (table->users, entry->user, entry);
    }
  return table;
}

const PfEntry *
pf_table_lookup (PfTable *table, const char *user)
{
  return g_hash_table_lookup (table->users, user);
}

guint
pf_table_size (PfTable *table)
{
  return g_hash_table_size (table->users);
}

guint
pf_table_scram_count (PfTable *table)
{
  return table->scram_count;
}

/* ---- editing ---- */

char *
pf_line_set_password (const char *line, const char *password_field, const char *scram)
{
  g_auto(GStrv) fields = pf_line_split (line);
  guint n = g_strv_length (fields);
  g_autoptr(GPtrArray) out = g_ptr_array_new ();
  g_autoptr(GString) extra = g_string_new (NULL);
  g_autofree char *scram_token = scram != NULL
    ? g_strconcat (PF_SCRAM_EXTRA_FIELD "=", scram, NULL) : NULL;
  gboolean placed = FALSE;

  if (n == PF_FIELDS)
    {
      g_auto(GStrv) tokens = g_strsplit (fields[7], " ", -1);
      for (guint i = 0; tokens[i] != NULL; i++)
        {
          const char *token = tokens[i];
          if (g_str_has_prefix (token, PF_SCRAM_EXTRA_FIELD "="))
            {
              if (scram_token == NULL || placed)
                continue;
              token = scram_token;
              placed = TRUE;
            }
          if (extra->len > 0 && *token != '\0')
            g_string_append_c (extra, ' ');
          g_string_append (extra, token);
        }
    }
  if (scram_token != NULL && !placed)
    {
      if (extra->len > 0)
        g_string_append_c (extra, ' ');
      g_string_append (extra, scram_token);
    }

  g_ptr_array_add (out, fields[0]);
  g_ptr_array_add (out, (gpointer) password_field);
  for (guint i = 2; i < PF_FIELDS - 1; i++)
    {
      if (i < n)
        g_ptr_array_add (out, fields[i]);
      else if (n == PF_FIELDS || scram_token != NULL)
        g_ptr_array_add (out, (gpointer) "");
    }
  if (n == PF_FIELDS || scram_token != NULL)
    g_ptr_array_add (out, extra->str);
  g_ptr_array_add (out, NULL);
  return g_strjoinv (":", (char **) out->pdata);
}
