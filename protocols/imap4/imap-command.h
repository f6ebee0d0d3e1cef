/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "imap-arg.h"
#include "imap-search.h"
#include "imap-sequence.h"

G_BEGIN_DECLS

/* The typed command AST the parser produces: one struct per command
 * family of RFC 3501, RFC 9051 and the extensions listed in README.md. */

typedef enum {
  IMAP_COMMAND_CAPABILITY,
  IMAP_COMMAND_NOOP,
  IMAP_COMMAND_LOGOUT,
  IMAP_COMMAND_STARTTLS,
  IMAP_COMMAND_AUTHENTICATE,
  IMAP_COMMAND_LOGIN,
  IMAP_COMMAND_ENABLE,
  IMAP_COMMAND_ID,
  IMAP_COMMAND_NAMESPACE,
  IMAP_COMMAND_COMPRESS,
  IMAP_COMMAND_SELECT,
  IMAP_COMMAND_EXAMINE,
  IMAP_COMMAND_CREATE,
  IMAP_COMMAND_DELETE,
  IMAP_COMMAND_RENAME,
  IMAP_COMMAND_SUBSCRIBE,
  IMAP_COMMAND_UNSUBSCRIBE,
  IMAP_COMMAND_LIST,
  IMAP_COMMAND_LSUB,
  IMAP_COMMAND_STATUS,
  IMAP_COMMAND_APPEND,
  IMAP_COMMAND_IDLE,
  IMAP_COMMAND_NOTIFY,
  IMAP_COMMAND_GETQUOTA,
  IMAP_COMMAND_GETQUOTAROOT,
  IMAP_COMMAND_SETQUOTA,
  IMAP_COMMAND_CHECK,
  IMAP_COMMAND_CLOSE,
  IMAP_COMMAND_UNSELECT,
  IMAP_COMMAND_EXPUNGE,    /* uid: UID EXPUNGE (UIDPLUS) with expunge.set */
  IMAP_COMMAND_SEARCH,
  IMAP_COMMAND_FETCH,
  IMAP_COMMAND_STORE,
  IMAP_COMMAND_COPY,
  IMAP_COMMAND_MOVE,
  IMAP_COMMAND_SORT,
  IMAP_COMMAND_THREAD,
} ImapCommandType;

/* ---- FETCH ---- */

typedef enum {
  IMAP_SECTION_ALL,                /* BODY[] or BODY[1.2] */
  IMAP_SECTION_HEADER,
  IMAP_SECTION_HEADER_FIELDS,
  IMAP_SECTION_HEADER_FIELDS_NOT,
  IMAP_SECTION_TEXT,
  IMAP_SECTION_MIME,               /* only after a part number */
} ImapSectionText;

typedef struct {
  GArray *part;          /* guint32 part numbers; empty for the message */
  ImapSectionText text;
  char **fields;         /* HEADER.FIELDS(.NOT) names as sent, else NULL */
} ImapSection;

typedef enum {
  IMAP_FETCH_FLAGS,
  IMAP_FETCH_INTERNALDATE,
  IMAP_FETCH_RFC822,
  IMAP_FETCH_RFC822_SIZE,
  IMAP_FETCH_RFC822_HEADER,
  IMAP_FETCH_RFC822_TEXT,
  IMAP_FETCH_ENVELOPE,
  IMAP_FETCH_BODY,            /* BODY without a section: non-extensible structure */
  IMAP_FETCH_BODYSTRUCTURE,
  IMAP_FETCH_UID,
  IMAP_FETCH_MODSEQ,
  IMAP_FETCH_BODY_SECTION,    /* BODY[...] and BODY.PEEK[...] */
  IMAP_FETCH_BINARY,          /* BINARY[...] and BINARY.PEEK[...] */
  IMAP_FETCH_BINARY_SIZE,
} ImapFetchItemType;

typedef struct {
  ImapFetchItemType type;
  gboolean peek;
  ImapSection section;   /* BODY_SECTION, BINARY, BINARY_SIZE */
  gboolean partial;      /* <offset.length> given */
  guint32 partial_offset;
  guint32 partial_length;
} ImapFetchItem;

/* ---- STORE ---- */

typedef enum {
  IMAP_STORE_REPLACE,
  IMAP_STORE_ADD,
  IMAP_STORE_REMOVE,
} ImapStoreMode;

/* ---- LIST / STATUS ---- */

typedef enum {
  IMAP_LIST_SELECT_SUBSCRIBED = 1 << 0,
  IMAP_LIST_SELECT_REMOTE = 1 << 1,
  IMAP_LIST_SELECT_RECURSIVEMATCH = 1 << 2,
  IMAP_LIST_SELECT_SPECIAL_USE = 1 << 3,
} ImapListSelect;

typedef enum {
  IMAP_LIST_RETURN_SUBSCRIBED = 1 << 0,
  IMAP_LIST_RETURN_CHILDREN = 1 << 1,
  IMAP_LIST_RETURN_SPECIAL_USE = 1 << 2,
  IMAP_LIST_RETURN_STATUS = 1 << 3,
} ImapListReturn;

typedef enum {
  IMAP_STATUS_MESSAGES = 1 << 0,
  IMAP_STATUS_RECENT = 1 << 1,
  IMAP_STATUS_UIDNEXT = 1 << 2,
  IMAP_STATUS_UIDVALIDITY = 1 << 3,
  IMAP_STATUS_UNSEEN = 1 << 4,
  IMAP_STATUS_SIZE = 1 << 5,
  IMAP_STATUS_HIGHESTMODSEQ = 1 << 6,
  IMAP_STATUS_APPENDLIMIT = 1 << 7,
  IMAP_STATUS_DELETED = 1 << 8,
  IMAP_STATUS_DELETED_STORAGE = 1 << 9,
} ImapStatusItems;

/* ---- APPEND ---- */

typedef struct {
  char **flags;          /* NULL when no flag list was given */
  gboolean has_date;
  gint64 date;           /* unix time */
  int date_tz_offset;    /* minutes east of UTC */
  gboolean utf8;         /* UTF8 (literal8) form of RFC 6855 */
  gboolean binary;       /* the data came as literal8 ~{n} */
  guint64 size;
  gboolean external;     /* the session streamed the bytes; data is NULL */
  GBytes *data;          /* the message when the parser buffered it */
} ImapAppendMessage;

/* ---- SORT / THREAD ---- */

typedef enum {
  IMAP_SORT_ARRIVAL,
  IMAP_SORT_CC,
  IMAP_SORT_DATE,
  IMAP_SORT_FROM,
  IMAP_SORT_SIZE,
  IMAP_SORT_SUBJECT,
  IMAP_SORT_TO,
  IMAP_SORT_DISPLAYFROM,
  IMAP_SORT_DISPLAYTO,
} ImapSortKey;

typedef struct {
  ImapSortKey key;
  gboolean reverse;
} ImapSortCriterion;

typedef enum {
  IMAP_THREAD_ORDEREDSUBJECT,
  IMAP_THREAD_REFERENCES,
  IMAP_THREAD_REFS,
} ImapThreadAlgorithm;

/* ---- SEARCH RETURN (ESEARCH, SEARCHRES) ---- */

typedef enum {
  IMAP_SEARCH_RETURN_MIN = 1 << 0,
  IMAP_SEARCH_RETURN_MAX = 1 << 1,
  IMAP_SEARCH_RETURN_ALL = 1 << 2,
  IMAP_SEARCH_RETURN_COUNT = 1 << 3,
  IMAP_SEARCH_RETURN_SAVE = 1 << 4,
} ImapSearchReturn;

/* ---- NOTIFY (RFC 5465) ---- */

typedef enum {
  IMAP_NOTIFY_SELECTED,
  IMAP_NOTIFY_SELECTED_DELAYED,
  IMAP_NOTIFY_INBOXES,
  IMAP_NOTIFY_PERSONAL,
  IMAP_NOTIFY_SUBSCRIBED,
  IMAP_NOTIFY_SUBTREE,
  IMAP_NOTIFY_MAILBOXES,
} ImapNotifyFilter;

typedef enum {
  IMAP_NOTIFY_MESSAGE_NEW = 1 << 0,
  IMAP_NOTIFY_MESSAGE_EXPUNGE = 1 << 1,
  IMAP_NOTIFY_FLAG_CHANGE = 1 << 2,
  IMAP_NOTIFY_ANNOTATION_CHANGE = 1 << 3,
  IMAP_NOTIFY_MAILBOX_NAME = 1 << 4,
  IMAP_NOTIFY_SUBSCRIPTION_CHANGE = 1 << 5,
  IMAP_NOTIFY_MAILBOX_METADATA_CHANGE = 1 << 6,
  IMAP_NOTIFY_SERVER_METADATA_CHANGE = 1 << 7,
} ImapNotifyEvents;

typedef struct {
  ImapNotifyFilter filter;
  char **mailboxes;          /* SUBTREE, MAILBOXES */
  guint events;              /* ImapNotifyEvents; 0 with NONE */
  GPtrArray *message_new_items;  /* MessageNew (fetch-att...), of ImapFetchItem, or NULL */
} ImapNotifyGroup;

typedef struct {
  char *name;
  guint64 limit;
} ImapQuotaResource;

typedef struct _ImapCommand ImapCommand;
struct _ImapCommand {
  char *tag;
  char *name;            /* upper case, without the UID prefix */
  ImapCommandType type;
  gboolean uid;          /* UID FETCH/STORE/COPY/MOVE/SEARCH/SORT/THREAD/EXPUNGE */

  union {
    struct {
      char *mechanism;          /* upper case */
      char *initial_response;   /* SASL-IR base64, "" for "=", NULL if none */
    } authenticate;
    struct {
      char *username;
      char *password;
    } login;
    struct {
      char **capabilities;      /* upper case */
    } enable;
    struct {
      GPtrArray *params;        /* NULL for ID NIL; else field, value pairs
                                 * (value NULL for NIL) */
    } id;
    struct {
      char *mechanism;          /* upper case, "DEFLATE" */
    } compress;
    struct {                    /* SELECT, EXAMINE */
      char *mailbox;            /* "INBOX" in any case becomes "INBOX" */
      gboolean condstore;
      gboolean qresync;
      guint32 uidvalidity;
      guint64 modseq;
      ImapSeqSet *known_uids;   /* optional */
      ImapSeqSet *seq_match_seqs; /* optional pair */
      ImapSeqSet *seq_match_uids;
    } select;
    struct {
      char *mailbox;
      char **special_use;       /* CREATE ... (USE (\Drafts)), or NULL */
    } create;
    struct {                    /* DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT */
      char *mailbox;
    } mailbox;
    struct {
      char *mailbox;
      char *new_mailbox;
    } rename;
    struct {                    /* LIST, LSUB */
      gboolean extended;        /* LIST-EXTENDED syntax was used */
      ImapListSelect select;
      char *reference;
      char **patterns;          /* one or more */
      ImapListReturn ret;
      ImapStatusItems status;   /* RETURN (STATUS (...)) */
    } list;
    struct {
      char *mailbox;
      ImapStatusItems items;
    } status;
    struct {
      char *mailbox;
      GPtrArray *messages;      /* of ImapAppendMessage, one or more */
    } append;
    struct {
      gboolean none;            /* NOTIFY NONE */
      gboolean status;          /* SET STATUS */
      GPtrArray *groups;        /* of ImapNotifyGroup */
    } notify;
    struct {                    /* GETQUOTA, SETQUOTA */
      char *root;
      GPtrArray *resources;     /* SETQUOTA: of ImapQuotaResource */
    } quota;
    struct {
      ImapSeqSet *set;          /* UID EXPUNGE only */
    } expunge;
    struct {
      gboolean esearch;         /* RETURN (...) was given */
      ImapSearchReturn ret;     /* RETURN () means ALL */
      char *charset;            /* upper case, or NULL */
      ImapSearchKey *program;
    } search;
    struct {
      ImapSeqSet *set;
      GPtrArray *items;         /* of ImapFetchItem; macros expanded */
      gboolean has_changedsince;
      guint64 changedsince;
      gboolean vanished;
    } fetch;
    struct {
      ImapSeqSet *set;
      gboolean has_unchangedsince;
      guint64 unchangedsince;
      ImapStoreMode mode;
      gboolean silent;
      char **flags;
    } store;
    struct {                    /* COPY, MOVE */
      ImapSeqSet *set;
      char *mailbox;
    } copy;
    struct {
      GArray *criteria;         /* of ImapSortCriterion */
      char *charset;
      ImapSearchKey *program;
    } sort;
    struct {
      ImapThreadAlgorithm algorithm;
      char *charset;
      ImapSearchKey *program;
    } thread;
  } u;
};

/* How a typing error is answered. */
typedef enum {
  IMAP_COMMAND_ERROR_BAD,   /* syntax: "TAG BAD text" */
  IMAP_COMMAND_ERROR_NO,    /* valid syntax but refused: "TAG NO [code] text" */
} ImapCommandError;

#define IMAP_COMMAND_ERROR (imap_command_error_quark ())
GQuark imap_command_error_quark (void);

/* Builds the typed command from the tag, the command name (as sent), the
 * UID prefix flag and the argument tree. NULL with @error
 * (IMAP_COMMAND_ERROR) on a bad command; *@code then holds a response code
 * (without brackets) or NULL. Message literals in @args are taken over. */
ImapCommand *imap_command_build (const char *tag, const char *name, gboolean uid,
                                 GPtrArray *args, char **code, GError **error);

/* TRUE if @name (any case) is a command this parser knows, and may take
 * the UID prefix when @uid. */
gboolean imap_command_name_is_known (const char *name, gboolean uid);

/* The role of a literal that starts at the end of a line, given the
 * command name (upper case) and the arguments read so far; @depth is the
 * number of open lists. TRUE if it is an APPEND message. */
gboolean imap_command_literal_is_message (const char *name, GPtrArray *args, guint depth);

/* Parses one FETCH item as written ("BODY.PEEK[1.HEADER.FIELDS (A B)]<0.10>"),
 * macros excluded. */
gboolean imap_fetch_item_parse (const char *text, ImapFetchItem *item, GError **error);
void imap_fetch_item_clear (ImapFetchItem *item);
void imap_fetch_item_free (ImapFetchItem *item);
/* The item written back canonically ("BODY.PEEK[1.MIME]<0.10>"). */
char *imap_fetch_item_to_string (const ImapFetchItem *item);

void imap_append_message_free (ImapAppendMessage *msg);

void imap_command_free (ImapCommand *cmd);

/* A canonical one-line dump of the whole AST, for logs and tests, e.g.
 * "A1 UID FETCH set=1:* items=(UID FLAGS)". */
char *imap_command_to_string (const ImapCommand *cmd);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImapCommand, imap_command_free)

G_END_DECLS
