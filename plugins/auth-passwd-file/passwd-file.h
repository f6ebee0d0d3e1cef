/* The Dovecot passwd-file format, parsed and checked without I/O: what the
 * auth-passwd-file plugin serves and posthornctl edits. Pure functions
 * over buffers; the blocking ones (pf_entry_verify) hash and belong on a
 * worker thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PF_SCRAM_KEY_SIZE 32
/* Dovecot refuses fewer iterations; so do we. */
#define PF_SCRAM_MIN_ITERATIONS 4096
#define PF_SCRAM_MAX_ITERATIONS 10000000
/* The extra field (Dovecot ignores it) that carries a SCRAM-SHA-256 secret
 * next to a crypt hash in the password field. */
#define PF_SCRAM_EXTRA_FIELD "posthorn_scram_sha256"

typedef enum {
  PF_SCHEME_NONE = 0,         /* empty password field: no password login */
  PF_SCHEME_CRYPT,            /* {CRYPT}, {SHA512-CRYPT}, ... or no prefix */
  PF_SCHEME_PLAIN,            /* {PLAIN}, {CLEAR}, {CLEARTEXT} */
  PF_SCHEME_SCRAM_SHA256,     /* {SCRAM-SHA-256} */
} PfScheme;

typedef struct {
  guint iterations;
  GBytes *salt;
  guint8 stored_key[PF_SCRAM_KEY_SIZE];
  guint8 server_key[PF_SCRAM_KEY_SIZE];
} PfScramSecret;

typedef struct {
  char *user;                 /* lowercased */
  PfScheme scheme;
  char *secret;               /* crypt string or clear text; NULL for NONE/SCRAM */
  PfScramSecret *scram;       /* from {SCRAM-SHA-256} or the extra field */
  guint line;
} PfEntry;

typedef struct _PfTable PfTable;

/* One line that could not be used (and was skipped). */
typedef struct {
  guint line;
  char *message;              /* never quotes the secret */
} PfProblem;

void pf_problem_free (gpointer problem);

/* Parses a whole users file. Comment ('#') and blank lines are skipped;
 * a malformed line is skipped and reported in @problems (PfProblem*,
 * allocated on demand; may be NULL), the rest is kept. Never fails. */
PfTable *pf_table_parse (const char *text, gsize length, GPtrArray **problems);

PfTable *pf_table_ref (PfTable *table);
void pf_table_unref (PfTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfTable, pf_table_unref)

/* @user must be lowercased already. */
const PfEntry *pf_table_lookup (PfTable *table, const char *user);
guint pf_table_size (PfTable *table);
/* How many users have a SCRAM-SHA-256 secret. */
guint pf_table_scram_count (PfTable *table);

/* Parses a line into an entry (for one line of a file: @line_number is
 * used in @error). Returns NULL for comment and blank lines without
 * setting @error. */
PfEntry *pf_entry_parse_line (const char *line, guint line_number, GError **error);
void pf_entry_free (PfEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfEntry, pf_entry_free)

/* Checks @password against @entry: crypt_rn() for crypt schemes,
 * PBKDF2 for a {SCRAM-SHA-256} password field, a constant-time compare
 * for {PLAIN}. Blocking (hashing). */
gboolean pf_entry_verify (const PfEntry *entry, const char *password);

/* Dovecot's {SCRAM-SHA-256} stored form "ITER,SALT,STOREDKEY,SERVERKEY"
 * (base64 fields). Returns NULL with a reason in @error if malformed. */
PfScramSecret *pf_scram_secret_parse (const char *text, GError **error);
void pf_scram_secret_free (PfScramSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PfScramSecret, pf_scram_secret_free)

/* SaltedPassword, StoredKey and ServerKey of RFC 5802 for SHA-256. */
void pf_scram_sha256_keys (const char *password,
                           const guint8 *salt,
                           gsize salt_size,
                           guint iterations,
                           guint8 stored_key[PF_SCRAM_KEY_SIZE],
                           guint8 server_key[PF_SCRAM_KEY_SIZE]);

/* Whether @user can be a user name: not empty, no '/', '\\', ':' or
 * control character (NUL ends it), and not starting with '.' (so never
 * "." or ".."): stores build paths from user names, and none of these may
 * ever name another folder. On FALSE, @why (if not NULL) is a short
 * reason ("user name contains '/'") that does not quote the name. */
gboolean pf_user_name_check (const char *user, const char **why);

/* The user name of a users-file line (its first field, lowercased), or
 * NULL for a comment or blank line or a line without ':'. */
char *pf_line_get_user (const char *line);

/* Returns @line with its password field replaced by @password_field and the
 * SCRAM extra field set to @scram (or removed when NULL), every other field
 * and extra field kept as they were. */
char *pf_line_set_password (const char *line,
                            const char *password_field,
                            const char *scram);

G_END_DECLS
