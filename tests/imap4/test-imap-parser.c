/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Table tests of the IMAP command parser: good commands with their AST,
 * bad commands with their BAD/NO text and recovery, and literal handling. */
#include <string.h>

#include "imap-test-util.h"

typedef struct {
  const char *line;  /* a command; literals inline after "\r\n" */
  const char *ast;   /* imap_command_to_string() */
} GoodCase;

/* From RFC 3501/9051 and extension RFC examples, and what Thunderbird,
 * Apple Mail, mbsync and K-9 send. */
static const GoodCase good_cases[] = {
  { "a001 CAPABILITY",
    "a001 CAPABILITY" },
  { "a002 NOOP",
    "a002 NOOP" },
  { "a003 LOGOUT",
    "a003 LOGOUT" },
  { "a004 STARTTLS",
    "a004 STARTTLS" },
  { "A1 AUTHENTICATE PLAIN",
    "A1 AUTHENTICATE mech=\"PLAIN\" ir=NIL" },
  { "A2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
    "A2 AUTHENTICATE mech=\"PLAIN\" ir=\"AGFsaWNlAHNlY3JldA==\"" },
  { "A3 authenticate external =",
    "A3 AUTHENTICATE mech=\"EXTERNAL\" ir=\"\"" },
  { "A4 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlx",
    "A4 AUTHENTICATE mech=\"SCRAM-SHA-256\" ir=\"biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlx\"" },
  { "a001 LOGIN SMITH SESAME",
    "a001 LOGIN user=\"SMITH\" pass=\"SESAME\"" },
  { "a002 LOGIN \"alice@example.org\" \"pa\\\"ss\\\\word\"",
    "a002 LOGIN user=\"alice@example.org\" pass=\"pa\\\"ss\\\\word\"" },
  { "a003 LOGIN {5}\r\nalice {6}\r\nsecret",
    "a003 LOGIN user=\"alice\" pass=\"secret\"" },
  { "a004 LOGIN {5+}\r\nalice \"x\"",
    "a004 LOGIN user=\"alice\" pass=\"x\"" },
  { "t1 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
    "t1 ENABLE caps=(CONDSTORE QRESYNC UTF8=ACCEPT)" },
  { "t2 ENABLE utf8=accept",
    "t2 ENABLE caps=(UTF8=ACCEPT)" },
  { "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
    "a023 ID name=\"sodr\" version=\"19.34\" vendor=\"Pink Floyd Music Limited\"" },
  { "a024 ID NIL",
    "a024 ID NIL" },
  { "a025 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\" \"os\" NIL)",
    "a025 ID name=\"Thunderbird\" version=\"115.3.1\" os=NIL" },
  { "A01 NAMESPACE",
    "A01 NAMESPACE" },
  { "A1 COMPRESS DEFLATE",
    "A1 COMPRESS mech=\"DEFLATE\"" },
  { "A142 SELECT INBOX",
    "A142 SELECT mailbox=\"INBOX\"" },
  { "A143 SELECT inbox",
    "A143 SELECT mailbox=\"INBOX\"" },
  { "A144 EXAMINE blurdybloop",
    "A144 EXAMINE mailbox=\"blurdybloop\"" },
  { "A02 SELECT INBOX (CONDSTORE)",
    "A02 SELECT mailbox=\"INBOX\" condstore" },
  { "A03 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
    "A03 SELECT mailbox=\"INBOX\" qresync=67890007/20050715194045000 known=41,43:211,214:541" },
  { "A04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:11,13 3:22,24)))",
    "A04 SELECT mailbox=\"INBOX\" qresync=67890007/90060115194045000 known=41:211,214:541 seqs=1:11,13 uids=3:22,24" },
  { "A05 EXAMINE \"Sent Items\" (CONDSTORE)",
    "A05 EXAMINE mailbox=\"Sent Items\" condstore" },
  { "A003 CREATE owatagusiam/",
    "A003 CREATE mailbox=\"owatagusiam/\"" },
  { "A004 CREATE \"Drafts & Notes\"",
    "A004 CREATE mailbox=\"Drafts & Notes\"" },
  { "t1 CREATE MySpecialArchive (USE (\\Archive))",
    "t1 CREATE mailbox=\"MySpecialArchive\" use=(\\Archive)" },
  { "A683 DELETE blurdybloop",
    "A683 DELETE mailbox=\"blurdybloop\"" },
  { "A684 RENAME blurdybloop sarasoop",
    "A684 RENAME from=\"blurdybloop\" to=\"sarasoop\"" },
  { "A685 RENAME \"foo bar\" {3}\r\nbaz",
    "A685 RENAME from=\"foo bar\" to=\"baz\"" },
  { "A002 SUBSCRIBE #news.comp.mail.mime",
    "A002 SUBSCRIBE mailbox=\"#news.comp.mail.mime\"" },
  { "A003 UNSUBSCRIBE #news.comp.mail.mime",
    "A003 UNSUBSCRIBE mailbox=\"#news.comp.mail.mime\"" },
  { "A101 LIST \"\" \"\"",
    "A101 LIST ref=\"\" pattern=\"\"" },
  { "A102 LIST #news.comp.mail.misc \"\"",
    "A102 LIST ref=\"#news.comp.mail.misc\" pattern=\"\"" },
  { "A103 LIST /usr/staff/jones \"\"",
    "A103 LIST ref=\"/usr/staff/jones\" pattern=\"\"" },
  { "A202 LIST ~/Mail/ %",
    "A202 LIST ref=\"~/Mail/\" pattern=\"%\"" },
  { "A5 LIST \"\" \"*\"",
    "A5 LIST ref=\"\" pattern=\"*\"" },
  { "A6 LIST \"\" * RETURN (SPECIAL-USE)",
    "A6 LIST select=() ref=\"\" pattern=\"*\" return=(SPECIAL-USE)" },
  { "A7 LIST (SUBSCRIBED) \"\" \"*\"",
    "A7 LIST select=(SUBSCRIBED) ref=\"\" pattern=\"*\" return=()" },
  { "A8 LIST (REMOTE RECURSIVEMATCH SUBSCRIBED) \"\" (\"foo/*\" \"bar/%\")",
    "A8 LIST select=(SUBSCRIBED REMOTE RECURSIVEMATCH) ref=\"\" pattern=\"foo/*\" pattern=\"bar/%\" return=()" },
  { "A9 LIST () \"\" % RETURN (CHILDREN)",
    "A9 LIST select=() ref=\"\" pattern=\"%\" return=(CHILDREN)" },
  { "A10 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
    "A10 LIST select=() ref=\"\" pattern=\"%\" return=(STATUS) status=(MESSAGES UNSEEN)" },
  { "A11 LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)",
    "A11 LIST select=(SPECIAL-USE) ref=\"\" pattern=\"*\" return=(SUBSCRIBED SPECIAL-USE)" },
  { "A12 LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ))",
    "A12 LIST select=() ref=\"\" pattern=\"*\" return=(SUBSCRIBED CHILDREN STATUS) status=(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)" },
  { "A13 LSUB \"#news.\" \"comp.mail.*\"",
    "A13 LSUB ref=\"#news.\" pattern=\"comp.mail.*\"" },
  { "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
    "A042 STATUS mailbox=\"blurdybloop\" items=(MESSAGES UIDNEXT)" },
  { "A043 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ APPENDLIMIT DELETED)",
    "A043 STATUS mailbox=\"INBOX\" items=(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ APPENDLIMIT DELETED)" },
  { "A003 APPEND saved-messages (\\Seen) {5}\r\nHello",
    "A003 APPEND mailbox=\"saved-messages\" [flags=(\\Seen) size=5 data=\"Hello\"]" },
  { "A004 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nHello",
    "A004 APPEND mailbox=\"saved-messages\" [flags=(\\Seen) date=\"17-Jul-1996 02:44:25 -0700\" size=5 data=\"Hello\"]" },
  { "A005 APPEND Drafts (\\Draft $MDNSent) \" 7-Feb-1994 21:52:25 -0800\" {3}\r\nabc",
    "A005 APPEND mailbox=\"Drafts\" [flags=(\\Draft $MDNSent) date=\"07-Feb-1994 21:52:25 -0800\" size=3 data=\"abc\"]" },
  { "A006 APPEND INBOX {5+}\r\nHello (\\Seen) {3+}\r\nabc \"01-Jan-2024 12:01:00 +0000\" {2+}\r\nxy",
    "A006 APPEND mailbox=\"INBOX\" [size=5 data=\"Hello\"] [flags=(\\Seen) size=3 data=\"abc\"] [date=\"01-Jan-2024 12:01:00 +0000\" size=2 data=\"xy\"]" },
  { "A008 APPEND INBOX () UTF8 (~{6+}\r\nheader)",
    "A008 APPEND mailbox=\"INBOX\" [flags=() utf8 binary size=6 data=\"header\"]" },
  { "A009 APPEND {5}\r\nINBOX {5}\r\nHello",
    "A009 APPEND mailbox=\"INBOX\" [size=5 data=\"Hello\"]" },
  { "A1 IDLE",
    "A1 IDLE" },
  { "A1 NOTIFY NONE",
    "A1 NOTIFY NONE" },
  { "A2 NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge FlagChange)) (mailboxes (Inbox Drafts) (MessageNew MessageExpunge))",
    "A2 NOTIFY STATUS [SELECTED events=(MessageNew MessageExpunge) new=(UID BODY.PEEK[HEADER.FIELDS (from to subject)])] [SUBTREE mailboxes=(Lists) events=(MessageNew MessageExpunge FlagChange)] [MAILBOXES mailboxes=(INBOX Drafts) events=(MessageNew MessageExpunge)]" },
  { "A3 NOTIFY SET (personal (MailboxName SubscriptionChange)) (inboxes NONE)",
    "A3 NOTIFY [PERSONAL events=(MailboxName SubscriptionChange)] [INBOXES events=()]" },
  { "A1 GETQUOTA \"\"",
    "A1 GETQUOTA root=\"\"" },
  { "A2 GETQUOTAROOT INBOX",
    "A2 GETQUOTAROOT mailbox=\"INBOX\"" },
  { "A3 SETQUOTA \"\" (STORAGE 512)",
    "A3 SETQUOTA root=\"\" STORAGE=512" },
  { "A4 SETQUOTA \"#user/alice\" (STORAGE 1024 MESSAGE 500)",
    "A4 SETQUOTA root=\"#user/alice\" STORAGE=1024 MESSAGE=500" },
  { "FXXZ CHECK",
    "FXXZ CHECK" },
  { "A341 CLOSE",
    "A341 CLOSE" },
  { "A342 UNSELECT",
    "A342 UNSELECT" },
  { "A202 EXPUNGE",
    "A202 EXPUNGE" },
  { "A003 UID EXPUNGE 3000:3002",
    "A003 UID EXPUNGE set=3000:3002" },
  { "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
    "A282 SEARCH program=(FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\")" },
  { "A283 SEARCH TEXT \"string not in mailbox\"",
    "A283 SEARCH program=(TEXT \"string not in mailbox\")" },
  { "A284 SEARCH CHARSET UTF-8 TEXT {12}\r\nxxxxxxxxxxxx",
    "A284 SEARCH charset=\"UTF-8\" program=(TEXT \"xxxxxxxxxxxx\")" },
  { "A285 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
    "A285 SEARCH return=(MIN COUNT) program=(FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\")" },
  { "A286 SEARCH RETURN () 1:*",
    "A286 SEARCH return=(ALL) program=(1:*)" },
  { "A287 UID SEARCH RETURN (SAVE) SUBJECT foo",
    "A287 UID SEARCH return=(SAVE) program=(SUBJECT \"foo\")" },
  { "A288 UID FETCH $ (UID FLAGS)",
    "A288 UID FETCH set=$ items=(UID FLAGS)" },
  { "A289 SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
    "A289 SEARCH program=(MODSEQ \"/flags/\\\\draft\" all 620162338)" },
  { "A290 UID SEARCH MODSEQ 720162338 UNSEEN",
    "A290 UID SEARCH program=(MODSEQ 720162338 UNSEEN)" },
  { "A291 SEARCH $ SMALLER 4096",
    "A291 SEARCH program=($ SMALLER 4096)" },
  { "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
    "A654 FETCH set=2:4 items=(FLAGS BODY[HEADER.FIELDS (DATE FROM)])" },
  { "A1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    "A1 UID FETCH set=1:* items=(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])" },
  { "A2 FETCH 1 ALL",
    "A2 FETCH set=1 items=(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)" },
  { "A3 FETCH 1:3 FAST",
    "A3 FETCH set=1:3 items=(FLAGS INTERNALDATE RFC822.SIZE)" },
  { "A4 FETCH * FULL",
    "A4 FETCH set=* items=(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)" },
  { "A5 FETCH 1 (INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT ENVELOPE BODY BODYSTRUCTURE MODSEQ)",
    "A5 FETCH set=1 items=(INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT ENVELOPE BODY BODYSTRUCTURE MODSEQ)" },
  { "A6 FETCH 1 (BODY[] BODY[TEXT] BODY[1] BODY[1.2.3] BODY[1.MIME] BODY[4.2.HEADER] BODY[3.TEXT] BODY.PEEK[]<0.2048>)",
    "A6 FETCH set=1 items=(BODY[] BODY[TEXT] BODY[1] BODY[1.2.3] BODY[1.MIME] BODY[4.2.HEADER] BODY[3.TEXT] BODY.PEEK[]<0.2048>)" },
  { "A7 UID FETCH 5 (BINARY[1] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[1] BINARY[])",
    "A7 UID FETCH set=5 items=(BINARY[1] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[1] BINARY[])" },
  { "A8 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
    "A8 UID FETCH set=1:* items=(FLAGS) changedsince=12345 vanished" },
  { "A9 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
    "A9 FETCH set=1:* items=(FLAGS) changedsince=12345" },
  { "A10 UID FETCH 300:500 (FLAGS BODY.PEEK[HEADER.FIELDS.NOT (Received \"X-Spam Status\")])",
    "A10 UID FETCH set=300:500 items=(FLAGS BODY.PEEK[HEADER.FIELDS.NOT (Received X-Spam Status)])" },
  { "A11 UID FETCH 1,5:7,9 UID",
    "A11 UID FETCH set=1,5:7,9 items=(UID)" },
  { "A003 STORE 2:4 +FLAGS (\\Deleted)",
    "A003 STORE set=2:4 mode=add flags=(\\Deleted)" },
  { "A004 STORE 2:4 FLAGS.SILENT (\\Seen \\Flagged)",
    "A004 STORE set=2:4 mode=set silent flags=(\\Seen \\Flagged)" },
  { "A005 UID STORE 5 -FLAGS.SILENT ($Junk)",
    "A005 UID STORE set=5 mode=remove silent flags=($Junk)" },
  { "A006 STORE 1:3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
    "A006 STORE set=1:3 unchangedsince=320162338 mode=add silent flags=(\\Deleted)" },
  { "A007 STORE 1 +FLAGS \\Seen \\Answered",
    "A007 STORE set=1 mode=add flags=(\\Seen \\Answered)" },
  { "A008 STORE 1 FLAGS ()",
    "A008 STORE set=1 mode=set flags=()" },
  { "A003 COPY 2:4 MEETING",
    "A003 COPY set=2:4 mailbox=\"MEETING\"" },
  { "A004 UID COPY 1:* \"Deleted Items\"",
    "A004 UID COPY set=1:* mailbox=\"Deleted Items\"" },
  { "a MOVE 1:3 Archive",
    "a MOVE set=1:3 mailbox=\"Archive\"" },
  { "a UID MOVE 42 {4+}\r\nJunk",
    "a UID MOVE set=42 mailbox=\"Junk\"" },
  { "A283 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
    "A283 SORT criteria=(SUBJECT) charset=\"UTF-8\" program=(SINCE 1-Feb-1994)" },
  { "A284 UID SORT (REVERSE DATE DISPLAYFROM TO) UTF-8 ALL",
    "A284 UID SORT criteria=(REVERSE DATE DISPLAYFROM TO) charset=\"UTF-8\" program=(ALL)" },
  { "A285 SORT (ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYTO REVERSE SIZE) US-ASCII UNSEEN",
    "A285 SORT criteria=(ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYTO REVERSE SIZE) charset=\"US-ASCII\" program=(UNSEEN)" },
  { "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
    "A283 THREAD algorithm=ORDEREDSUBJECT charset=\"UTF-8\" program=(SINCE 5-Mar-2000)" },
  { "A284 UID THREAD REFERENCES US-ASCII TEXT \"gewp\"",
    "A284 UID THREAD algorithm=REFERENCES charset=\"US-ASCII\" program=(TEXT \"gewp\")" },
  { "A285 THREAD REFS UTF-8 ALL",
    "A285 THREAD algorithm=REFS charset=\"UTF-8\" program=(ALL)" },
  { "A1 UID SEARCH CHARSET ISO-8859-1 BODY {4+}\r\ncaf\351",
    "A1 UID SEARCH charset=\"ISO-8859-1\" program=(BODY \"caf\303\251\")" },
  { "A2 SEARCH CHARSET windows-1252 SUBJECT {3}\r\n\200\200\200",
    "A2 SEARCH charset=\"WINDOWS-1252\" program=(SUBJECT \"\342\202\254\342\202\254\342\202\254\")" },
  { "A3 SEARCH OR (FROM a TO b) NOT (HEADER X-Foo \"\") UID 1:5,7",
    "A3 SEARCH program=(OR (FROM \"a\" TO \"b\") NOT (HEADER \"X-Foo\" \"\") UID 1:5,7)" },
};

typedef struct {
  const char *line;
  const char *tag;   /* NULL: "* BAD" */
  gboolean no;
  const char *code;
  const char *text;
} BadCase;

static const BadCase bad_cases[] = {
  { "", NULL, FALSE, NULL, "Empty command line" },
  { " NOOP", NULL, FALSE, NULL, "Missing or invalid tag" },
  { "+1 NOOP", NULL, FALSE, NULL, "Missing or invalid tag" },
  { "A1", "A1", FALSE, NULL, "Missing command" },
  { "A1 ", "A1", FALSE, NULL, "Invalid command name" },
  { "A1 FOOBAR", "A1", FALSE, NULL, "Unknown command" },
  { "A1 UID LOGIN a b", "A1", FALSE, NULL, "Unknown UID command" },
  { "A1 UID", "A1", FALSE, NULL, "Missing command" },
  { "A1 NOOP extra", "A1", FALSE, NULL, "Unexpected extra arguments" },
  { "A1 NOOP  ", "A1", FALSE, NULL, "Unexpected space" },
  { "A1 LOGIN", "A1", FALSE, NULL, "LOGIN needs a user name and a password" },
  { "A1 LOGIN alice", "A1", FALSE, NULL, "LOGIN needs a user name and a password" },
  { "A1 LOGIN alice pw extra", "A1", FALSE, NULL, "Unexpected extra arguments" },
  { "A1 LOGIN \"alice pw", "A1", FALSE, NULL, "Unterminated quoted string" },
  { "A1 LOGIN \"al\\ice\" pw", "A1", FALSE, NULL, "Invalid escape in quoted string" },
  { "A1 LOGIN \"al\303\257ce\" pw", "A1", FALSE, NULL, "8-bit data in quoted string" },
  { "A1 LOGIN alice  pw", "A1", FALSE, NULL, "Unexpected space" },
  { "A1 LOGIN (alice) pw", "A1", FALSE, NULL, "LOGIN needs a user name and a password" },
  { "A1 SELECT", "A1", FALSE, NULL, "Invalid or missing mailbox name" },
  { "A1 SELECT INBOX (FOO)", "A1", FALSE, NULL, "Unknown select parameter" },
  { "A1 SELECT INBOX (QRESYNC (0 5))", "A1", FALSE, NULL, "Invalid QRESYNC UIDVALIDITY" },
  { "A1 SELECT INBOX (QRESYNC (1))", "A1", FALSE, NULL, "Invalid QRESYNC parameters" },
  { "A1 SELECT INBOX ()", "A1", FALSE, NULL, "Invalid select parameters" },
  { "A1 CREATE foo (USE (Archive))", "A1", FALSE, NULL, "Invalid special-use attribute" },
  { "A1 RENAME a", "A1", FALSE, NULL, "Invalid or missing mailbox name" },
  { "A1 LIST \"\"", "A1", FALSE, NULL, "Invalid or missing LIST pattern" },
  { "A1 LIST (RECURSIVEMATCH) \"\" *", "A1", FALSE, NULL, "RECURSIVEMATCH needs another selection option" },
  { "A1 LIST (BOGUS) \"\" *", "A1", FALSE, NULL, "Unknown LIST selection option" },
  { "A1 LIST \"\" * RETURN (FOO)", "A1", FALSE, NULL, "Unknown LIST return option" },
  { "A1 LIST \"\" * RETURN (STATUS)", "A1", FALSE, NULL, "Expected a list of status items" },
  { "A1 STATUS INBOX", "A1", FALSE, NULL, "Expected a list of status items" },
  { "A1 STATUS INBOX (FOO)", "A1", FALSE, NULL, "Unknown status item" },
  { "A1 STATUS INBOX ()", "A1", FALSE, NULL, "Expected a list of status items" },
  { "A1 APPEND INBOX", "A1", FALSE, NULL, "APPEND needs a message literal" },
  { "A1 APPEND INBOX (\\Seen)", "A1", FALSE, NULL, "APPEND needs a message literal" },
  { "A1 APPEND INBOX (\\Seen) \"32-Jan-2024 12:00:00 +0000\" {3}\r\nabc", "A1", FALSE, NULL, "Invalid APPEND date-time" },
  { "A1 APPEND INBOX (\\Recent) {3}\r\nabc", "A1", FALSE, NULL, "Invalid flag" },
  { "A1 FETCH 1", "A1", FALSE, NULL, "Missing fetch items" },
  { "A1 FETCH 0 FLAGS", "A1", FALSE, NULL, "Sequence numbers start at 1" },
  { "A1 FETCH 1:4294967296 FLAGS", "A1", FALSE, NULL, "Number too large in sequence set" },
  { "A1 FETCH 1,,2 FLAGS", "A1", FALSE, NULL, "Empty part in sequence set" },
  { "A1 FETCH 1 (FLAGS", "A1", FALSE, NULL, "Missing ')'" },
  { "A1 FETCH 1 FLAGS)", "A1", FALSE, NULL, "Unexpected ')'" },
  { "A1 FETCH 1 (BOGUS)", "A1", FALSE, NULL, "Unknown fetch item" },
  { "A1 FETCH 1 BODY[1.MIME", "A1", FALSE, NULL, "Missing ']' in section" },
  { "A1 FETCH 1 BODY[MIME]", "A1", FALSE, NULL, "MIME section needs a part number" },
  { "A1 FETCH 1 BODY[HEADER.FIELDS]", "A1", FALSE, NULL, "Expected a header field list" },
  { "A1 FETCH 1 BODY[]<0.0>", "A1", FALSE, NULL, "Invalid partial range" },
  { "A1 FETCH 1 BINARY[HEADER]", "A1", FALSE, NULL, "BINARY sections take part numbers only" },
  { "A1 FETCH 1 (ALL)", "A1", FALSE, NULL, "Unknown fetch item" },
  { "A1 FETCH 1 (FLAGS) (VANISHED)", "A1", FALSE, NULL, "VANISHED needs UID FETCH with CHANGEDSINCE" },
  { "A1 UID FETCH 1 (FLAGS) (VANISHED)", "A1", FALSE, NULL, "VANISHED needs UID FETCH with CHANGEDSINCE" },
  { "A1 FETCH 1 ((((((((((((((((((FLAGS))))))))))))))))))", "A1", FALSE, NULL, "Too deeply nested lists" },
  { "A1 STORE 1 FLAGS", "A1", FALSE, NULL, "Missing STORE flags" },
  { "A1 STORE 1 BOGUS (\\Seen)", "A1", FALSE, NULL, "Unknown STORE data item" },
  { "A1 STORE 1 +FLAGS (\\Recent)", "A1", FALSE, NULL, "Invalid flag" },
  { "A1 COPY 1", "A1", FALSE, NULL, "Invalid or missing mailbox name" },
  { "A1 MOVE INBOX 1", "A1", FALSE, NULL, "Invalid character in sequence set" },
  { "A1 SEARCH", "A1", FALSE, NULL, "Missing search program" },
  { "A1 SEARCH BOGUS", "A1", FALSE, NULL, "Unknown search key BOGUS" },
  { "A1 SEARCH FROM", "A1", FALSE, NULL, "Missing argument for search key FROM" },
  { "A1 SEARCH BEFORE 31-Feb-2024", "A1", FALSE, NULL, "Invalid date for search key BEFORE" },
  { "A1 SEARCH LARGER x", "A1", FALSE, NULL, "Invalid number for search key LARGER" },
  { "A1 SEARCH OR SEEN", "A1", FALSE, NULL, "Missing search key after OR" },
  { "A1 SEARCH ()", "A1", FALSE, NULL, "Empty parenthesised search key" },
  { "A1 SEARCH \"string\"", "A1", FALSE, NULL, "Expected a search key, got a string" },
  { "A1 SEARCH CHARSET X-UNKNOWN BODY \"x\"", "A1", TRUE, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset X-UNKNOWN" },
  { "A1 SEARCH UID 0", "A1", FALSE, NULL, "Invalid UID set for search key UID" },
  { "A1 SORT DATE UTF-8 ALL", "A1", FALSE, NULL, "SORT needs a list of sort criteria" },
  { "A1 SORT (REVERSE) UTF-8 ALL", "A1", FALSE, NULL, "REVERSE needs a sort criterion" },
  { "A1 SORT (DATE) ALL", "A1", TRUE, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset ALL" },
  { "A1 THREAD FOO UTF-8 ALL", "A1", FALSE, NULL, "Unknown THREAD algorithm" },
  { "A1 ENABLE", "A1", FALSE, NULL, "ENABLE needs at least one capability" },
  { "A1 ID (\"name\")", "A1", FALSE, NULL, "Invalid ID parameter list" },
  { "A1 AUTHENTICATE PLAIN abc!", "A1", FALSE, NULL, "Invalid base64 in SASL initial response" },
  { "A1 NOTIFY SET (selected (MessageNew))", "A1", FALSE, NULL, "MessageNew and MessageExpunge go together" },
  { "A1 NOTIFY SET (bogus (MessageNew MessageExpunge))", "A1", FALSE, NULL, "Unknown NOTIFY filter" },
  { "A1 NOTIFY SET (personal (FlagChange))", "A1", FALSE, NULL, "FlagChange needs MessageNew and MessageExpunge" },
  { "A1 SETQUOTA \"\" (STORAGE)", "A1", FALSE, NULL, "SETQUOTA needs a resource list" },
  { "A1 EXAMINE a b", "A1", FALSE, NULL, "Invalid select parameters" },
  { "A1 UID EXPUNGE", "A1", FALSE, NULL, "Missing UID set" },
  { "A1 SEARCH LARGER 1 {3}\r\nabc", "A1", FALSE, NULL, "Expected a search key, got a string" },
  { "A1 LOGIN ~{5}", "A1", FALSE, NULL, "literal8 is only allowed for APPEND messages" },
  { "A1 LOGIN {5x}", "A1", FALSE, NULL, "Invalid literal" },
  { "A1 LOGIN {5} pw", "A1", FALSE, NULL, "Literal must end the line" },
  { "A1 SEARCH NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT ALL", "A1", FALSE, NULL, "Search program nested too deeply" },
};

static ImapCommand *
parse_one (ImapParser *parser, const char *line, gsize len, gsize piece)
{
  g_autoptr(GString) s = g_string_new_len (line, (gssize) len);
  gsize used = 0;
  ImapParseResult r;

  g_string_append (s, "\r\n");
  r = imap_test_feed (parser, s->str, s->len, piece, &used);
  if (r == IMAP_PARSE_ERROR)
    g_test_message ("error: %s", imap_parser_get_error (parser)->text);
  g_assert_cmpint (r, ==, IMAP_PARSE_COMMAND);
  g_assert_cmpuint (used, ==, s->len);
  return imap_parser_take_command (parser);
}

static void
test_good (gconstpointer data)
{
  const GoodCase *c = data;
  gsize pieces[] = { 1, 7, 65536 };

  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    {
      ImapParser *parser = imap_parser_new (NULL, 0);
      g_autoptr(ImapCommand) cmd = parse_one (parser, c->line, strlen (c->line), pieces[i]);
      g_autofree char *ast = imap_command_to_string (cmd);

      g_assert_cmpstr (ast, ==, c->ast);
      g_assert_false (imap_parser_in_command (parser));
      imap_parser_free (&parser);
      g_assert_null (parser);
    }
}

static void
assert_recovers (ImapParser *parser)
{
  g_autoptr(ImapCommand) next = parse_one (parser, "Z9 NOOP", 7, 64);

  g_assert_cmpint (next->type, ==, IMAP_COMMAND_NOOP);
  g_assert_cmpstr (next->tag, ==, "Z9");
}

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  ImapParser *parser = imap_parser_new (NULL, 0);
  g_autoptr(GString) s = g_string_new (c->line);
  const ImapParseError *e;

  g_string_append (s, "\r\n");
  g_assert_cmpint (imap_test_feed (parser, s->str, s->len, 16, NULL), ==, IMAP_PARSE_ERROR);
  e = imap_parser_get_error (parser);
  g_assert_cmpstr (e->tag, ==, c->tag);
  g_assert_cmpint (e->no, ==, c->no);
  g_assert_cmpstr (e->code, ==, c->code);
  g_assert_cmpstr (e->text, ==, c->text);
  g_assert_null (imap_parser_get_literal (parser));
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_literal_sync (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const ImapLiteralInfo *lit;
  g_autoptr(ImapCommand) cmd = NULL;

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 LOGIN {5}", 12), ==, IMAP_PARSE_NEED_LITERAL);
  lit = imap_parser_get_literal (parser);
  g_assert_nonnull (lit);
  g_assert_cmpuint (lit->size, ==, 5);
  g_assert_true (lit->synchronizing);
  g_assert_false (lit->literal8);
  g_assert_cmpint (lit->role, ==, IMAP_LITERAL_ARGUMENT);
  g_assert_cmpstr (lit->tag, ==, "A1");
  g_assert_cmpstr (lit->command, ==, "LOGIN");
  g_assert_cmpstr (lit->description, ==, "LOGIN argument 1");
  g_assert_true (imap_parser_in_command (parser));
  /* more bytes than expected: only the literal's are used */
  g_assert_cmpuint (imap_parser_feed_literal (parser, (const guint8 *) "al", 2), ==, 2);
  g_assert_cmpuint (imap_parser_feed_literal (parser, (const guint8 *) "iceXX", 5), ==, 3);
  g_assert_null (imap_parser_get_literal (parser));
  g_assert_cmpint (imap_parser_feed_line (parser, " {6+}", 5), ==, IMAP_PARSE_NEED_LITERAL);
  lit = imap_parser_get_literal (parser);
  g_assert_false (lit->synchronizing);
  g_assert_cmpstr (lit->description, ==, "LOGIN argument 2");
  imap_parser_feed_literal (parser, (const guint8 *) "s3cr3t", 6);
  g_assert_cmpint (imap_parser_feed_line (parser, "", 0), ==, IMAP_PARSE_COMMAND);
  cmd = imap_parser_take_command (parser);
  g_assert_cmpstr (cmd->u.login.username, ==, "alice");
  g_assert_cmpstr (cmd->u.login.password, ==, "s3cr3t");
  imap_parser_free (&parser);
}

static void
test_literal8_append (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char stream[] = "A1 APPEND INBOX ~{4}\r\na\0\r\n\r\n";
  g_autoptr(ImapCommand) cmd = NULL;
  ImapAppendMessage *m;
  gsize size;

  g_assert_cmpint (imap_test_feed (parser, stream, sizeof stream - 1, 1, NULL), ==, IMAP_PARSE_COMMAND);
  cmd = imap_parser_take_command (parser);
  m = g_ptr_array_index (cmd->u.append.messages, 0);
  g_assert_true (m->binary);
  g_assert_cmpmem (g_bytes_get_data (m->data, &size), 4, "a\0\r\n", 4);
  g_assert_cmpuint (size, ==, 4);
  imap_parser_free (&parser);
}

static void
test_literal_nul_rejected (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char stream[] = "A1 LOGIN {3}\r\na\0b pw\r\n";

  g_assert_cmpint (imap_test_feed (parser, stream, sizeof stream - 1, 2, NULL), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "NUL in literal");
  g_assert_cmpstr (imap_parser_get_error (parser)->tag, ==, "A1");
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_literal_over_limit_sync (void)
{
  ImapParserLimits limits = { .max_literal_size = 100 };
  ImapParser *parser = imap_parser_new (&limits, 0);

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 LOGIN {101}", 14), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "Literal too big");
  g_assert_false (imap_parser_get_error (parser)->no);
  /* the client waits for "+" and sends nothing: next line is a command */
  g_assert_null (imap_parser_get_literal (parser));
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_literal_over_limit_nonsync (void)
{
  ImapParserLimits limits = { .max_literal_size = 100 };
  ImapParser *parser = imap_parser_new (&limits, 0);
  const ImapLiteralInfo *lit;
  guint8 junk[200] = { 0 };

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 LOGIN {200+}", 15), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->tag, ==, "A1");
  lit = imap_parser_get_literal (parser);
  g_assert_nonnull (lit);
  g_assert_cmpint (lit->role, ==, IMAP_LITERAL_DISCARD);
  g_assert_false (lit->synchronizing);
  g_assert_cmpuint (lit->size, ==, 200);
  g_assert_cmpuint (imap_parser_feed_literal (parser, junk, 150), ==, 150);
  g_assert_cmpuint (imap_parser_feed_literal (parser, junk, 150), ==, 50);
  /* the rest of the rejected command, with one more literal */
  g_assert_cmpint (imap_parser_feed_line (parser, " {3+}", 5), ==, IMAP_PARSE_NEED_LITERAL);
  g_assert_cmpint (imap_parser_get_literal (parser)->role, ==, IMAP_LITERAL_DISCARD);
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, "", 0), ==, IMAP_PARSE_NOTHING);
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_literal_minus (void)
{
  ImapParser *parser = imap_parser_new (NULL, IMAP_PARSER_LITERAL_MINUS);

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 APPEND INBOX {5000+}", 23), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==,
                   "Non-synchronizing literal over 4096 bytes (LITERAL-)");
  g_assert_nonnull (imap_parser_get_literal (parser));
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, "A2 APPEND INBOX {4096+}", 23), ==, IMAP_PARSE_NEED_LITERAL);
  imap_parser_free (&parser);
}

static void
test_append_toobig (void)
{
  ImapParserLimits limits = { .max_append_size = 1000 };
  ImapParser *parser = imap_parser_new (&limits, 0);
  const ImapParseError *e;

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 APPEND INBOX {1000}", 22), ==, IMAP_PARSE_NEED_LITERAL);
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, "", 0), ==, IMAP_PARSE_COMMAND);
  g_assert_cmpint (imap_parser_feed_line (parser, "A2 APPEND INBOX {1001}", 22), ==, IMAP_PARSE_ERROR);
  e = imap_parser_get_error (parser);
  g_assert_true (e->no);
  g_assert_cmpstr (e->code, ==, "TOOBIG");
  g_assert_cmpstr (e->tag, ==, "A2");
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_append_external_multi (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const ImapLiteralInfo *lit;
  g_autoptr(ImapCommand) cmd = NULL;
  ImapAppendMessage *m;
  const char *first = "A1 APPEND Sent (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {52428800}";

  g_assert_cmpint (imap_parser_feed_line (parser, first, strlen (first)), ==, IMAP_PARSE_NEED_LITERAL);
  lit = imap_parser_get_literal (parser);
  g_assert_cmpint (lit->role, ==, IMAP_LITERAL_APPEND_MESSAGE);
  g_assert_cmpuint (lit->message_index, ==, 0);
  g_assert_cmpuint (lit->size, ==, 52428800);
  g_assert_cmpstr (lit->description, ==, "APPEND message 1");
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, " UTF8 (~{10+}", 13), ==, IMAP_PARSE_NEED_LITERAL);
  lit = imap_parser_get_literal (parser);
  g_assert_cmpint (lit->role, ==, IMAP_LITERAL_APPEND_MESSAGE);
  g_assert_cmpuint (lit->message_index, ==, 1);
  g_assert_true (lit->literal8);
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, ") {3}", 5), ==, IMAP_PARSE_NEED_LITERAL);
  g_assert_cmpuint (imap_parser_get_literal (parser)->message_index, ==, 2);
  /* the session may also let the parser buffer a message */
  imap_parser_feed_literal (parser, (const guint8 *) "abc", 3);
  g_assert_cmpint (imap_parser_feed_line (parser, "", 0), ==, IMAP_PARSE_COMMAND);
  cmd = imap_parser_take_command (parser);
  g_assert_cmpstr (cmd->u.append.mailbox, ==, "Sent");
  g_assert_cmpuint (cmd->u.append.messages->len, ==, 3);
  m = g_ptr_array_index (cmd->u.append.messages, 0);
  g_assert_true (m->external);
  g_assert_null (m->data);
  g_assert_cmpuint (m->size, ==, 52428800);
  g_assert_true (m->has_date);
  g_assert_cmpint (m->date, ==, 837596665);
  g_assert_cmpint (m->date_tz_offset, ==, -420);
  g_assert_cmpstr (m->flags[0], ==, "\\Seen");
  m = g_ptr_array_index (cmd->u.append.messages, 1);
  g_assert_true (m->utf8 && m->binary && m->external);
  m = g_ptr_array_index (cmd->u.append.messages, 2);
  g_assert_false (m->external);
  g_assert_cmpuint (g_bytes_get_size (m->data), ==, 3);
  imap_parser_free (&parser);
}

static void
test_mailbox_literal_not_message (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);

  g_assert_cmpint (imap_parser_feed_line (parser, "A1 APPEND {5}", 13), ==, IMAP_PARSE_NEED_LITERAL);
  g_assert_cmpint (imap_parser_get_literal (parser)->role, ==, IMAP_LITERAL_ARGUMENT);
  imap_parser_feed_literal (parser, (const guint8 *) "INBOX", 5);
  g_assert_cmpint (imap_parser_feed_line (parser, " {2}", 4), ==, IMAP_PARSE_NEED_LITERAL);
  g_assert_cmpint (imap_parser_get_literal (parser)->role, ==, IMAP_LITERAL_APPEND_MESSAGE);
  imap_parser_free (&parser);
}

static void
test_utf8_accept (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char *line = "A1 SELECT \"Entw\xc3\xbcrfe\"";
  g_autoptr(ImapCommand) cmd = NULL;

  g_assert_cmpint (imap_parser_feed_line (parser, line, strlen (line)), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "8-bit data in quoted string");
  imap_parser_set_flags (parser, IMAP_PARSER_UTF8_ACCEPT);
  g_assert_cmpint (imap_parser_feed_line (parser, line, strlen (line)), ==, IMAP_PARSE_COMMAND);
  cmd = imap_parser_take_command (parser);
  g_assert_cmpstr (cmd->u.select.mailbox, ==, "Entw\xc3\xbcrfe");
  /* still not invalid UTF-8 */
  g_assert_cmpint (imap_parser_feed_line (parser, "A2 SELECT \"\xff\"", 13), ==, IMAP_PARSE_ERROR);
  imap_parser_free (&parser);
}

static void
test_limits (void)
{
  ImapParserLimits limits = { .max_line_length = 64, .max_command_size = 200, .max_list_depth = 3 };
  ImapParser *parser = imap_parser_new (&limits, 0);
  g_autofree char *a60 = g_strnfill (60, 'a');
  g_autofree char *longline = g_strdup_printf ("A1 LOGIN %s x", a60);
  const char *deep = "A1 FETCH 1 ((((FLAGS))))";

  g_assert_cmpint (imap_parser_feed_line (parser, longline, strlen (longline)), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "Line too long");
  g_assert_cmpint (imap_parser_feed_line (parser, deep, strlen (deep)), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "Too deeply nested lists");
  g_assert_cmpint (imap_parser_feed_line (parser, "A2 LOGIN {150}", 14), ==, IMAP_PARSE_NEED_LITERAL);
  imap_parser_literal_consumed (parser);
  g_assert_cmpint (imap_parser_feed_line (parser, " {60}", 5), ==, IMAP_PARSE_ERROR);
  g_assert_cmpstr (imap_parser_get_error (parser)->text, ==, "Command too long");
  g_assert_cmpstr (imap_parser_get_error (parser)->tag, ==, "A2");
  assert_recovers (parser);
  imap_parser_free (&parser);
}

static void
test_pipelined (void)
{
  ImapParser *parser = imap_parser_new (NULL, 0);
  const char stream[] = "A1 NOOP\r\nA2 FOO\r\nA3 LOGIN {1+}\r\nx y\r\nA4 LOGOUT\r\n";
  const char *expect[] = { "A1 NOOP", NULL, "A3 LOGIN user=\"x\" pass=\"y\"", "A4 LOGOUT" };
  gsize pos = 0;

  for (guint i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      gsize used;
      ImapParseResult r = imap_test_feed (parser, stream + pos, sizeof stream - 1 - pos, 5, &used);

      pos += used;
      if (expect[i] == NULL)
        g_assert_cmpint (r, ==, IMAP_PARSE_ERROR);
      else
        {
          g_autoptr(ImapCommand) cmd = imap_parser_take_command (parser);
          g_autofree char *ast = imap_command_to_string (cmd);
          g_assert_cmpstr (ast, ==, expect[i]);
        }
    }
  g_assert_cmpuint (pos, ==, sizeof stream - 1);
  imap_parser_free (&parser);
}

static void
test_idle_done (void)
{
  g_assert_true (imap_parser_line_is_done ("DONE", 4));
  g_assert_true (imap_parser_line_is_done ("done", 4));
  g_assert_false (imap_parser_line_is_done ("DONE ", 5));
  g_assert_false (imap_parser_line_is_done ("A1 DONE", 7));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (good_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/imap4/parser/good/%03u", i);
      g_test_add_data_func (path, &good_cases[i], test_good);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/imap4/parser/bad/%03u", i);
      g_test_add_data_func (path, &bad_cases[i], test_bad);
    }
  g_test_add_func ("/imap4/parser/literal/sync-and-plus", test_literal_sync);
  g_test_add_func ("/imap4/parser/literal/literal8-append", test_literal8_append);
  g_test_add_func ("/imap4/parser/literal/nul-rejected", test_literal_nul_rejected);
  g_test_add_func ("/imap4/parser/literal/over-limit-sync", test_literal_over_limit_sync);
  g_test_add_func ("/imap4/parser/literal/over-limit-nonsync-discarded", test_literal_over_limit_nonsync);
  g_test_add_func ("/imap4/parser/literal/literal-minus", test_literal_minus);
  g_test_add_func ("/imap4/parser/append/toobig", test_append_toobig);
  g_test_add_func ("/imap4/parser/append/external-multiappend", test_append_external_multi);
  g_test_add_func ("/imap4/parser/append/mailbox-literal", test_mailbox_literal_not_message);
  g_test_add_func ("/imap4/parser/utf8-accept", test_utf8_accept);
  g_test_add_func ("/imap4/parser/limits", test_limits);
  g_test_add_func ("/imap4/parser/pipelined", test_pipelined);
  g_test_add_func ("/imap4/parser/idle-done", test_idle_done);
  return g_test_run ();
}
