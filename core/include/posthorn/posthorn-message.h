/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(POSTHORN_INSIDE) && !defined(POSTHORN_COMPILATION)
#error "Only <posthorn/posthorn.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* ======================================================================
 * PosthornMessage: one message's raw bytes in canonical form
 * ======================================================================
 *
 * Canonical form: every line ends in CR LF. A bare LF (not preceded by CR)
 * becomes CR LF; a bare CR (not followed by LF) is kept as it is, because
 * rewriting it would change what the sender signed and IMAP's BODY[] counts
 * it as an ordinary byte. Nothing else is changed (no dot-stuffing, no
 * 8-bit checks, NUL bytes are kept).
 *
 * A message is immutable and reference counted; it is either in memory or
 * in an unlinked temporary file (large messages), so 50 MB are never held
 * twice. Every function here is thread-safe on a given message (reads use
 * pread), so a message may be handed to worker threads. */
typedef struct _PosthornMessage PosthornMessage;

/* Messages up to this size stay in memory in PosthornMessageWriter. */
#define POSTHORN_MESSAGE_MEMORY_LIMIT (1024 * 1024)

/* Wraps @bytes, converting bare LF to CR LF first if there are any (else
 * @bytes is referenced, not copied). */
PosthornMessage *posthorn_message_new_from_bytes (GBytes *bytes);
PosthornMessage *posthorn_message_new_from_data (const void *data, gsize length);

/* Opens a file that already holds a canonical message (one a store wrote
 * from a PosthornMessage, e.g. with posthorn_message_write_to_fd()). The
 * content is not checked or converted. Blocking: call it on a worker. */
PosthornMessage *posthorn_message_new_from_file (const char *path, GError **error);

PosthornMessage *posthorn_message_ref (PosthornMessage *msg);
void posthorn_message_unref (PosthornMessage *msg);

/* RFC822.SIZE: the canonical size in bytes. */
guint64 posthorn_message_get_size (PosthornMessage *msg);

/* TRUE if the data lives in a (temporary) file rather than in memory. */
gboolean posthorn_message_is_file_backed (PosthornMessage *msg);

/* Copies up to @length bytes from @offset into @buffer, pread-style; returns
 * the number of bytes copied (0 at or past the end) or -1 with @error set.
 * Blocking for file-backed messages: call it on a worker thread. */
gssize posthorn_message_read (PosthornMessage *msg,
                              guint64 offset,
                              void *buffer,
                              gsize length,
                              GError **error);

/* The whole message as one GBytes: a reference for in-memory messages, a
 * read-only mmap for file-backed ones (no copy on the heap). For parsing,
 * small messages and tests. NULL with @error set if mapping fails. */
GBytes *posthorn_message_get_bytes (PosthornMessage *msg, GError **error);

/* A new independent stream over the message from offset 0 (each stream
 * keeps its own position). Reads on a file-backed message block; use the
 * async GInputStream functions from the loop thread. */
GInputStream *posthorn_message_open_stream (PosthornMessage *msg);

/* Writes the whole message to @fd at its current position (blocking; no
 * fsync: durability is the store's job). */
gboolean posthorn_message_write_to_fd (PosthornMessage *msg, int fd, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornMessage, posthorn_message_unref)

/* ======================================================================
 * PosthornMessageWriter: a message arriving in pieces
 * ======================================================================
 *
 * Accumulates an IMAP literal or SMTP DATA (after un-dot-stuffing),
 * canonicalising line ends on the fly (a CR at the end of one piece and an
 * LF at the start of the next are one CR LF). Up to @memory_limit bytes stay
 * in memory; beyond that everything moves to an unlinked temporary file
 * (mode 0600, O_TMPFILE where available, else mkstemp + unlink) in
 * @tmp_dir. Writes to that file are small page-cache writes with no fsync,
 * so calling the writer on the main loop thread is acceptable; making the
 * stored copy durable is the store's job. */
typedef struct _PosthornMessageWriter PosthornMessageWriter;

/* @tmp_dir: where to spill; NULL means "<state_dir>/tmp" (created if
 * missing; posthorn_core_get_state_dir()), or the system temporary folder
 * when no daemon state directory is known (tests). @memory_limit 0 means
 * POSTHORN_MESSAGE_MEMORY_LIMIT. */
PosthornMessageWriter *posthorn_message_writer_new (const char *tmp_dir,
                                                    gsize memory_limit);

/* Appends raw bytes. Fails only if spilling to the file fails. */
gboolean posthorn_message_writer_write (PosthornMessageWriter *writer,
                                        const void *data,
                                        gsize length,
                                        GError **error);

/* The canonical size of what was written so far. */
guint64 posthorn_message_writer_get_size (PosthornMessageWriter *writer);

/* Ends the message and returns it; the writer can only be freed after. */
PosthornMessage *posthorn_message_writer_finish (PosthornMessageWriter *writer,
                                                 GError **error);

/* Frees the writer; unfinished data (and its temporary file) is dropped. */
void posthorn_message_writer_free (PosthornMessageWriter *writer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornMessageWriter, posthorn_message_writer_free)

/* ======================================================================
 * PosthornMessageInfo: everything IMAP needs, computed once
 * ======================================================================
 *
 * Parsed once at delivery/APPEND, serialised into one blob that a store
 * keeps next to the message, so FETCH, SEARCH, SORT and THREAD never parse
 * the message again. The IMAP strings follow Dovecot 2.3 byte for byte where
 * the golden corpus shows them (quoted vs literal, NIL, default values in
 * lower case, the sender's case kept, RFC 2047 words left undecoded).
 *
 * Parsing is robust against hostile input: it never fails on malformed
 * MIME (it does what Dovecot does: a missing close delimiter ends the part
 * at the end of its parent, a multipart without boundary or without parts
 * shows one empty text/plain part). A multipart or message/rfc822 nested
 * deeper than POSTHORN_MESSAGE_MAX_DEPTH levels is not looked into (a
 * multipart then shows the empty part, a message/rfc822 part shows as
 * application/octet-stream), and after POSTHORN_MESSAGE_MAX_PARTS parts
 * the rest of a multipart stays unsplit in its body. Info objects are
 * immutable and thread-safe. */
typedef struct _PosthornMessageInfo PosthornMessageInfo;

#define POSTHORN_MESSAGE_MAX_DEPTH 64
#define POSTHORN_MESSAGE_MAX_PARTS 5000

/* Parses @msg. Blocking (reads the whole message): run it on a worker.
 * Fails only if the message cannot be read. */
PosthornMessageInfo *posthorn_message_info_parse (PosthornMessage *msg, GError **error);

PosthornMessageInfo *posthorn_message_info_ref (PosthornMessageInfo *info);
void posthorn_message_info_unref (PosthornMessageInfo *info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PosthornMessageInfo, posthorn_message_info_unref)

/* One self-describing blob (a format tag and version, then the fields)
 * to store next to the message, and back. Serializing writes the newest
 * version (2: a flat binary record, cheap to decode); deserialising reads
 * it and every older version (1: a GVariant) and rejects blobs of an
 * unknown version or a broken shape with POSTHORN_ERROR_INVALID (re-parse
 * the message then). The blob is untrusted input: a damaged one never
 * crashes. The result may keep a reference on @blob. */
GBytes *posthorn_message_info_serialize (PosthornMessageInfo *info);
PosthornMessageInfo *posthorn_message_info_deserialize (GBytes *blob, GError **error);

/* ---- sizes ---- */

guint64 posthorn_message_info_get_size (PosthornMessageInfo *info);        /* RFC822.SIZE */
/* The top header including the blank line (or all of the message when it
 * has no blank line), and the rest. */
guint64 posthorn_message_info_get_header_size (PosthornMessageInfo *info);
guint64 posthorn_message_info_get_body_size (PosthornMessageInfo *info);
/* LF counts of the whole message and of its body. */
guint64 posthorn_message_info_get_lines (PosthornMessageInfo *info);
guint64 posthorn_message_info_get_body_lines (PosthornMessageInfo *info);

/* ---- IMAP FETCH strings (ready to send; may contain literals) ---- */

/* ENVELOPE, BODYSTRUCTURE (with all extension data) and BODY, each a
 * complete parenthesised list, e.g. ("text" "plain" (...) ... 9 NIL NIL NIL NIL). */
const char *posthorn_message_info_get_envelope (PosthornMessageInfo *info);
const char *posthorn_message_info_get_bodystructure (PosthornMessageInfo *info);
const char *posthorn_message_info_get_body (PosthornMessageInfo *info);

/* ---- sections ---- */

/* Where an IMAP section lives in the canonical message: @section is the
 * text between the brackets of BODY[...] without HEADER.FIELDS lists, in
 * any case: "" (whole message), "HEADER", "TEXT", "1", "1.2", "1.MIME",
 * "2.HEADER", "2.TEXT". For HEADER.FIELDS (...) take the "HEADER" (or
 * "2.HEADER") range and filter it with posthorn_message_header_fields().
 *
 * As Dovecot: "1" of a non-multipart message is its body and "1.MIME" its
 * whole header; "N.HEADER"/"N.TEXT" need a message/rfc822 part N; parts of
 * an encapsulated message are numbered under its part ("2.1"); "1" of a
 * multipart without parts is empty. A number that does not exist gives
 * POSTHORN_ERROR_NOT_FOUND, bad syntax POSTHORN_ERROR_INVALID. */
gboolean posthorn_message_info_get_section (PosthornMessageInfo *info,
                                            const char *section,
                                            guint64 *offset,
                                            guint64 *length,
                                            GError **error);

/* BINARY.SIZE[@section] (RFC 3516): the decoded size of a leaf part
 * (computed at parse time). A part with an unknown Content-Transfer-Encoding
 * fails with POSTHORN_ERROR_UNSUPPORTED (IMAP: NO [UNKNOWN-CTE]). For a
 * multipart or message part it is the size of its raw body. */
gboolean posthorn_message_info_get_binary_size (PosthornMessageInfo *info,
                                                const char *section,
                                                guint64 *size,
                                                GError **error);

/* ---- the part table ----
 *
 * Every node of the MIME tree in depth-first order: index 0 is the message
 * itself. A message/rfc822 part is followed by its encapsulated message
 * node (kind POSTHORN_MESSAGE_PART_MESSAGE), which is followed by that
 * message's parts. Offsets are into the canonical message. */
typedef enum {
  POSTHORN_MESSAGE_PART_LEAF = 0,       /* a single part */
  POSTHORN_MESSAGE_PART_MULTIPART = 1,  /* multipart/x: children are its parts */
  POSTHORN_MESSAGE_PART_RFC822 = 2,     /* message/rfc822 (or a digest's default) */
} PosthornMessagePartType;

guint posthorn_message_info_get_n_parts (PosthornMessageInfo *info);

/* Part @index: its IMAP part number ("" for the top message, "1", "2.1";
 * an encapsulated message node has the number N whose N.HEADER and N.TEXT
 * it is: its message/rfc822 part's number, "1" under a top-level
 * message/rfc822),
 * what it is, whether it is a message node (the top message or an
 * encapsulated one: its header is an RFC 5322 header), its nesting depth,
 * and the offsets of its header start, body start (after the blank line)
 * and body end. Any out pointer may be NULL. FALSE if @index is too big. */
gboolean posthorn_message_info_get_part (PosthornMessageInfo *info,
                                         guint index,
                                         const char **part_number,
                                         PosthornMessagePartType *type,
                                         gboolean *is_message,
                                         guint *depth,
                                         guint64 *header_offset,
                                         guint64 *body_offset,
                                         guint64 *body_end);

/* Its Content-Type in lower case ("text", "plain"; the defaults when
 * absent), charset (lower case; NULL when none) and
 * Content-Transfer-Encoding (lower case; "7bit" when absent). */
gboolean posthorn_message_info_get_part_content_type (PosthornMessageInfo *info,
                                                      guint index,
                                                      const char **type,
                                                      const char **subtype,
                                                      const char **charset,
                                                      const char **encoding);

/* ---- decoded header values for SEARCH / SORT / THREAD ----
 *
 * Values of the top message's header fields, unfolded and RFC 2047
 * decoded to UTF-8 (undecodable bytes become U+FFFD); NULL when the field
 * is absent (an empty field gives ""). Subject is the first Subject field.
 * Address fields are decoded as a whole ("Jürgen Müller <j@example.de>"). */
const char *posthorn_message_info_get_subject (PosthornMessageInfo *info);
const char *posthorn_message_info_get_from (PosthornMessageInfo *info);
const char *posthorn_message_info_get_to (PosthornMessageInfo *info);
const char *posthorn_message_info_get_cc (PosthornMessageInfo *info);
const char *posthorn_message_info_get_bcc (PosthornMessageInfo *info);
/* Message-ID, In-Reply-To and References: the raw values, unfolded and
 * trimmed (no decoding applies to them). */
const char *posthorn_message_info_get_message_id (PosthornMessageInfo *info);
const char *posthorn_message_info_get_in_reply_to (PosthornMessageInfo *info);
const char *posthorn_message_info_get_references (PosthornMessageInfo *info);

/* The first mailbox of From, To or Cc (@field is "from", "to" or "cc"),
 * for SORT (RFC 5256 FROM/TO/CC use the mailbox, DISPLAY the decoded
 * name). FALSE when the field has no mailbox. Out pointers may be NULL. */
gboolean posthorn_message_info_get_first_address (PosthornMessageInfo *info,
                                                  const char *field,
                                                  const char **display_name,
                                                  const char **mailbox,
                                                  const char **domain);

/* The Date field as unix time and its zone offset in minutes east of UTC.
 * FALSE when there is no Date field or it cannot be parsed. */
gboolean posthorn_message_info_get_date (PosthornMessageInfo *info,
                                         gint64 *unix_time,
                                         int *tz_offset_minutes);

/* Every field of the top header in message order, for SEARCH HEADER:
 * the name as written and the decoded value. */
guint posthorn_message_info_get_n_headers (PosthornMessageInfo *info);
gboolean posthorn_message_info_get_header (PosthornMessageInfo *info,
                                           guint index,
                                           const char **name,
                                           const char **value);
/* The decoded value of the first field named @name (any case), or NULL. */
const char *posthorn_message_info_lookup_header (PosthornMessageInfo *info,
                                                 const char *name);

/* ======================================================================
 * Pure helpers for IMAP
 * ====================================================================== */

/* BODY[HEADER.FIELDS (names)] / BODY[HEADER.FIELDS.NOT (names)] from a
 * header block (as given by the "HEADER" section): the fields whose names
 * are (@not: are not) in @names (any case), in message order, duplicates
 * and folding kept, followed by CR LF. Returns a new buffer (NUL-
 * terminated for convenience, may hold NUL bytes) and its length. For
 * .NOT, the closing CR LF is only added when @header ends in a blank line
 * (RFC 3501 §6.4.5, as Dovecot does for a message without a blank line). */
char *posthorn_message_header_fields (const char *header,
                                      gsize length,
                                      const char *const *names,
                                      gboolean not,
                                      gsize *out_length);

/* Decodes a body with @encoding ("base64", "quoted-printable" in any case;
 * "7bit", "8bit", "binary" or NULL: unchanged). Another encoding fails
 * with POSTHORN_ERROR_UNSUPPORTED. Garbage in base64 is skipped. */
GBytes *posthorn_message_decode_body (const char *encoding,
                                      const void *data,
                                      gsize length,
                                      GError **error);

/* BINARY[@section]: the decoded content of that part of @msg (see
 * posthorn_message_info_get_section() for section syntax).
 * POSTHORN_ERROR_UNSUPPORTED for an unknown transfer encoding. Blocking. */
GBytes *posthorn_message_decode_part (PosthornMessage *msg,
                                      PosthornMessageInfo *info,
                                      const char *section,
                                      GError **error);

/* The text SEARCH BODY and SEARCH TEXT look at, as UTF-8, for a substring
 * search or a full-text index: @body_text holds the decoded (transfer
 * encoding and charset) content of every text/ and message/ leaf part
 * (including the parts of encapsulated messages), without preambles,
 * epilogues and non-text parts; @all_text also holds every header (top,
 * part MIME headers and encapsulated message headers, RFC 2047 decoded).
 * Pieces are separated by "\n". Either out pointer may be NULL. Blocking. */
gboolean posthorn_message_extract_search_text (PosthornMessage *msg,
                                               PosthornMessageInfo *info,
                                               char **body_text,
                                               char **all_text,
                                               GError **error);

G_END_DECLS
