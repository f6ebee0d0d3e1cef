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
};

PosthornMessageInfo *ph_mime_info_new (void);
/* Parses a canonical message held in one buffer. Never fails. */
PosthornMessageInfo *ph_mime_parse_buffer (const guint8 *data, gsize size);

/* message.c */
gsize ph_mime_count_bare_lf (const guint8 *data, gsize length, gboolean prev_cr);
void ph_mime_canonicalize_append (GByteArray *out, const guint8 *data, gsize length,
                                  gboolean *prev_cr);
gboolean ph_mime_write_all (int fd, const guint8 *data, gsize length, GError **error);

/* message-parse.c: IMAP string writers (Dovecot's rules). */
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

void ph_mime_init (void);

G_END_DECLS
