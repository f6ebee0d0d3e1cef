/* Shared between the files of core/mime/. Never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ph-private.h"

G_BEGIN_DECLS

/* One node of the MIME tree (see posthorn_message_info_get_part()). */
typedef struct {
  char *number;
  guint8 type;              /* PosthornMessagePartType */
  gboolean is_message;
  guint depth;
  gint parent;              /* index, -1 for the root */
  gint first_child;         /* index, -1 if none */
  gint next_sibling;        /* index, -1 if none */
  gint last_child;          /* index, -1 if none (parsing only; not stored) */
  guint64 header_start;
  guint64 body_start;
  guint64 body_end;
  guint64 lines;            /* LFs in the body */
  char *ctype;              /* lower case */
  char *csubtype;
  char *charset;            /* lower case or NULL */
  char *cte;                /* lower case */
  gboolean binary_ok;       /* the transfer encoding is known */
  guint64 binary_size;
} PhMimePart;

struct _PosthornMessageInfo {
  gatomicrefcount ref;
  guint64 size;
  guint64 header_size;
  guint64 lines;
  guint64 body_lines;
  char *envelope;
  char *bodystructure;
  char *body;
  GArray *parts;            /* PhMimePart */
  char *subject, *from, *to, *cc, *bcc;
  char *message_id, *in_reply_to, *references;
  char *addr[3][3];         /* from/to/cc: name, mailbox, domain */
  gboolean has_date;
  gint64 date;
  int tz_minutes;
  GPtrArray *header_names;  /* char* */
  GPtrArray *header_values; /* char* */
  GBytes *backing;          /* set when decoded from a version-2 blob: every
                             * string above points into it, none is owned */
};

PosthornMessageInfo *ph_mime_info_new (void);
/* Parses a canonical message held in one buffer. Never fails. */
PosthornMessageInfo *ph_mime_parse_buffer (const guint8 *data, gsize size);

/* message.c */
gsize ph_mime_count_bare_lf (const guint8 *data, gsize length, gboolean prev_cr);
void ph_mime_canonicalize_append (GByteArray *out, const guint8 *data, gsize length,
                                  gboolean *prev_cr);
gboolean ph_mime_write_all (int fd, const guint8 *data, gsize length, GError **error);

/* message-imap-string.c: IMAP string writers (Dovecot's rules). */
void ph_imap_append_nstring (GString *out, const char *value);
void ph_imap_append_string_for_humans (GString *out, const char *value, gsize length);

/* Resolves a section (see posthorn_message_info_get_section()) to a part
 * index and what to take of it. */
typedef enum {
  PH_SECTION_WHOLE,     /* "" */
  PH_SECTION_BODY,      /* "1": the part's body */
  PH_SECTION_MIME,      /* "1.MIME": its header */
  PH_SECTION_HEADER,    /* "HEADER", "2.HEADER": the message's header */
  PH_SECTION_TEXT,      /* "TEXT", "2.TEXT": the message's body */
  PH_SECTION_EMPTY,     /* a part of a multipart without parts */
} PhSectionKind;

gboolean ph_mime_info_resolve_section (PosthornMessageInfo *info,
                                       const char *section,
                                       guint *part_index,
                                       PhSectionKind *kind,
                                       GError **error);

/* Shared between the parser's files (message-parse.c and the files it
 * names). Functions here have the mime_ prefix: internal to the library,
 * never exported. */

/* A cursor over one header value (message-lexer.c). */
typedef struct {
  const char *p;
  const char *end;
  GString *comment;   /* the last comment skipped, or NULL */
} MimeLexer;

/* One header field of a parsed block. */
typedef struct {
  char *name;
  GString *value;     /* unfolded: CR LF removed, continuation whitespace kept */
} MimeField;

/* The state of one parse (message-parse.c). */
typedef struct {
  const guint8 *data;
  gsize size;
  GPtrArray *boundaries;   /* char*, innermost last */
  GArray *parts;           /* PhMimePart */
  guint part_count;
  PosthornMessageInfo *info;
  /* where the last parsed node ended */
  gsize end_pos;
  gint hit;                /* boundary index that ended it, -1 for EOF */
  gsize hit_line;          /* start of that boundary line */
} MimeParser;

/* A Content-Type or Content-Disposition parameter. */
typedef struct {
  char *name;
  char *value;
} MimeParam;

/* The Content-* fields of one part (message-content.c). */
typedef struct {
  char *type, *subtype;
  GArray *params;          /* MimeParam, or NULL */
  char *id, *description, *cte, *md5;
  char *disposition;
  GArray *disposition_params;
  char **languages;
  char *location;
} MimeContentInfo;

/* What the BODYSTRUCTURE writer needs of a node beyond PhMimePart. */
typedef struct {
  MimeContentInfo ci;
  char *envelope;       /* for message nodes */
} MimeNodeExtra;

/* message-imap-string.c */
void mime_append_nstring_nolf (GString *out, const char *value);

/* message-lexer.c: RFC 5322 tokens */
void mime_lexer_init (MimeLexer *lx, const char *value, gsize length);
gboolean mime_skip_cfws (MimeLexer *lx);
void mime_lexer_clear (MimeLexer *lx);
gboolean mime_parse_token (MimeLexer *lx, GString *out);
void mime_parse_quoted (MimeLexer *lx, GString *out);
gboolean mime_parse_atom (MimeLexer *lx, GString *out, gboolean allow_dot);
gboolean mime_parse_phrase (MimeLexer *lx, GString *out);
gboolean mime_parse_local_part (MimeLexer *lx, GString *out);
gboolean mime_parse_domain (MimeLexer *lx, GString *out);

/* message-parse.c: header fields of a parsed block. */
GString *mime_find_field (GArray *fields, const char *name, gboolean last);
char *mime_value_dup (GString *v);

/* message-content.c: Content-* fields. */
void mime_content_info_clear (MimeContentInfo *ci);
void mime_parse_content_fields (MimeContentInfo *ci, GArray *fields);
const char *mime_param_get (GArray *params, const char *name);

/* message-bodystructure.c */
void mime_append_part_body (MimeParser *ps, GPtrArray *extras, guint index, GString *bs, GString *body);

/* message-envelope.c */
char *mime_build_envelope (GArray *fields);
void mime_fill_top_values (PosthornMessageInfo *info, GArray *fields);

void ph_mime_init (void);

G_END_DECLS
