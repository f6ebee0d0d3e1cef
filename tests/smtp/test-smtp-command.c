/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "smtp-command.h"

/* A canonical description of a parsed command, so the tables can say
 * exactly what each line must parse into. */
static char *
describe (const SmtpCommand *cmd)
{
  GString *out = g_string_new (smtp_verb_name (cmd->verb));

  switch (cmd->verb)
    {
    case SMTP_VERB_MAIL:
    case SMTP_VERB_RCPT:
      {
        g_autofree char *path = smtp_path_to_string (cmd->path);

        g_string_append_printf (out, " %s", path);
        if (cmd->path->route != NULL)
          g_string_append_printf (out, " route=%s", cmd->path->route);
        if (cmd->path->domain_literal)
          g_string_append (out, " literal");
        if (cmd->needs_utf8)
          g_string_append (out, " needs-utf8");
      }
      if (cmd->has_size)
        g_string_append_printf (out, " size=%" G_GUINT64_FORMAT, cmd->size);
      if (cmd->body != SMTP_BODY_NONE)
        g_string_append_printf (out, " body=%s",
                                cmd->body == SMTP_BODY_7BIT ? "7BIT"
                                : cmd->body == SMTP_BODY_8BITMIME ? "8BITMIME" : "BINARYMIME");
      if (cmd->smtputf8)
        g_string_append (out, " smtputf8");
      if (cmd->has_auth)
        {
          g_autofree char *mb = cmd->auth != NULL ? smtp_path_to_mailbox (cmd->auth) : g_strdup ("");
          g_string_append_printf (out, " auth=<%s>", mb);
        }
      if (cmd->ret != SMTP_RET_NONE)
        g_string_append_printf (out, " ret=%s", cmd->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
      if (cmd->envid != NULL)
        g_string_append_printf (out, " envid=%s", cmd->envid);
      if (cmd->notify != SMTP_NOTIFY_NONE)
        {
          g_string_append (out, " notify=");
          if (cmd->notify & SMTP_NOTIFY_NEVER)
            g_string_append (out, "NEVER,");
          if (cmd->notify & SMTP_NOTIFY_SUCCESS)
            g_string_append (out, "SUCCESS,");
          if (cmd->notify & SMTP_NOTIFY_FAILURE)
            g_string_append (out, "FAILURE,");
          if (cmd->notify & SMTP_NOTIFY_DELAY)
            g_string_append (out, "DELAY,");
          g_string_truncate (out, out->len - 1);
        }
      if (cmd->orcpt != NULL)
        g_string_append_printf (out, " orcpt=%s;%s", cmd->orcpt_type, cmd->orcpt);
      break;
    case SMTP_VERB_BDAT:
      g_string_append_printf (out, " %" G_GUINT64_FORMAT "%s", cmd->bdat_size,
                              cmd->bdat_last ? " LAST" : "");
      break;
    case SMTP_VERB_AUTH:
      g_string_append_printf (out, " %s", cmd->argument);
      if (cmd->auth_initial_response != NULL)
        g_string_append_printf (out, " %s", cmd->auth_initial_response);
      break;
    default:
      if (cmd->argument != NULL)
        g_string_append_printf (out, " %s", cmd->argument);
      if (cmd->argument_literal)
        g_string_append (out, " literal");
      break;
    }
  return g_string_free (out, FALSE);
}

typedef struct {
  const char *line;
  SmtpParseFlags flags;
  const char *expect;
} Case;

static const Case good[] = {
  /* greetings */
  { "EHLO mail.example.org", 0, "EHLO mail.example.org" },
  { "ehlo Mail.Example.ORG", 0, "EHLO Mail.Example.ORG" },
  { "HELO relay.example.net", 0, "HELO relay.example.net" },
  { "LHLO lmtp.example.org", 0, "LHLO lmtp.example.org" },
  { "EHLO [192.0.2.1]", 0, "EHLO [192.0.2.1] literal" },
  { "EHLO [IPv6:2001:db8::1]", 0, "EHLO [IPv6:2001:db8::1] literal" },
  { "EHLO [IPv6:::ffff:192.0.2.1]", 0, "EHLO [IPv6:::ffff:192.0.2.1] literal" },
  { "EHLO localhost", 0, "EHLO localhost" },
  { "EHLO a-b.c-d.example", 0, "EHLO a-b.c-d.example" },
  { "EHLO mail.example.org ", 0, "EHLO mail.example.org" },
  { "EHLO 192.0.2.1", 0, "EHLO 192.0.2.1" },
  /* MAIL */
  { "MAIL FROM:<alice@example.org>", 0, "MAIL <alice@example.org>" },
  { "mail from:<alice@example.org>", 0, "MAIL <alice@example.org>" },
  { "MAIL FROM: <alice@example.org>", 0, "MAIL <alice@example.org>" },
  { "MAIL FROM:<>", 0, "MAIL <>" },
  { "MAIL FROM: <>", 0, "MAIL <>" },
  { "MAIL FROM:<alice@example.org> ", 0, "MAIL <alice@example.org>" },
  { "MAIL FROM:<first.last@example.org>", 0, "MAIL <first.last@example.org>" },
  { "MAIL FROM:<a+tag@example.org>", 0, "MAIL <a+tag@example.org>" },
  { "MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.org>", 0, "MAIL <!#$%&'*+-/=?^_`{|}~@example.org>" },
  { "MAIL FROM:<\"john smith\"@example.org>", 0, "MAIL <\"john smith\"@example.org>" },
  { "MAIL FROM:<\"plain\"@example.org>", 0, "MAIL <plain@example.org>" },
  { "MAIL FROM:<\"a\\\"b\\\\c\"@example.org>", 0, "MAIL <\"a\\\"b\\\\c\"@example.org>" },
  { "MAIL FROM:<\"\\x\"@example.org>", 0, "MAIL <x@example.org>" },
  { "MAIL FROM:<\"a..b\"@example.org>", 0, "MAIL <\"a..b\"@example.org>" },
  { "MAIL FROM:<user@[192.0.2.7]>", 0, "MAIL <user@[192.0.2.7]> literal" },
  { "MAIL FROM:<user@[IPv6:2001:db8::7]>", 0, "MAIL <user@[IPv6:2001:db8::7]> literal" },
  { "MAIL FROM:<@relay.example:alice@example.org>", 0, "MAIL <alice@example.org> route=@relay.example" },
  { "MAIL FROM:<@a.example,@b.example:alice@example.org>", 0, "MAIL <alice@example.org> route=@a.example,@b.example" },
  { "MAIL FROM:<alice@example.org> SIZE=12345", 0, "MAIL <alice@example.org> size=12345" },
  { "MAIL FROM:<alice@example.org> SIZE=0", 0, "MAIL <alice@example.org> size=0" },
  { "MAIL FROM:<alice@example.org> SIZE=18446744073709551615", 0, "MAIL <alice@example.org> size=18446744073709551615" },
  { "MAIL FROM:<alice@example.org> size=10", 0, "MAIL <alice@example.org> size=10" },
  { "MAIL FROM:<alice@example.org> BODY=7BIT", 0, "MAIL <alice@example.org> body=7BIT" },
  { "MAIL FROM:<alice@example.org> BODY=8BITMIME", 0, "MAIL <alice@example.org> body=8BITMIME" },
  { "MAIL FROM:<alice@example.org> BODY=binarymime", 0, "MAIL <alice@example.org> body=BINARYMIME" },
  { "MAIL FROM:<alice@example.org> SMTPUTF8", 0, "MAIL <alice@example.org> smtputf8" },
  { "MAIL FROM:<jösé@exämple.org> SMTPUTF8", 0, "MAIL <jösé@exämple.org> needs-utf8 smtputf8" },
  { "MAIL FROM:<\"jö sé\"@example.org> SMTPUTF8", 0, "MAIL <\"jö sé\"@example.org> needs-utf8 smtputf8" },
  { "MAIL FROM:<alice@example.org> AUTH=<>", 0, "MAIL <alice@example.org> auth=<>" },
  { "MAIL FROM:<alice@example.org> AUTH=alice@example.org", 0, "MAIL <alice@example.org> auth=<alice@example.org>" },
  { "MAIL FROM:<alice@example.org> AUTH=a+2Bb@example.org", 0, "MAIL <alice@example.org> auth=<a+b@example.org>" },
  { "MAIL FROM:<alice@example.org> RET=FULL", 0, "MAIL <alice@example.org> ret=FULL" },
  { "MAIL FROM:<alice@example.org> RET=hdrs", 0, "MAIL <alice@example.org> ret=HDRS" },
  { "MAIL FROM:<alice@example.org> ENVID=QQ314159", 0, "MAIL <alice@example.org> envid=QQ314159" },
  { "MAIL FROM:<alice@example.org> ENVID=a+2Bb+3Dc", 0, "MAIL <alice@example.org> envid=a+b=c" },
  { "MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=X1 AUTH=<> SMTPUTF8", 0,
    "MAIL <alice@example.org> size=100 body=8BITMIME smtputf8 auth=<> ret=HDRS envid=X1" },
  { "MAIL FROM:<alice@example.org>  SIZE=1   BODY=7BIT  ", 0, "MAIL <alice@example.org> size=1 body=7BIT" },
  /* RCPT */
  { "RCPT TO:<bob@example.org>", 0, "RCPT <bob@example.org>" },
  { "rcpt to:<bob@example.org>", 0, "RCPT <bob@example.org>" },
  { "RCPT TO: <bob@example.org>", 0, "RCPT <bob@example.org>" },
  { "RCPT TO:<Postmaster>", 0, "RCPT <Postmaster>" },
  { "RCPT TO:<postmaster>", 0, "RCPT <postmaster>" },
  { "RCPT TO:<postmaster@example.org>", 0, "RCPT <postmaster@example.org>" },
  { "RCPT TO:<@hop1.example,@hop2.example:bob@example.org>", 0, "RCPT <bob@example.org> route=@hop1.example,@hop2.example" },
  { "RCPT TO:<user%other.example@example.org>", 0, "RCPT <user%other.example@example.org>" },
  { "RCPT TO:<user!other@example.org>", 0, "RCPT <user!other@example.org>" },
  { "RCPT TO:<\"user@other\"@example.org>", 0, "RCPT <\"user@other\"@example.org>" },
  { "RCPT TO:<bob@[127.0.0.1]>", 0, "RCPT <bob@[127.0.0.1]> literal" },
  { "RCPT TO:<bob@example.org> NOTIFY=NEVER", 0, "RCPT <bob@example.org> notify=NEVER" },
  { "RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE,DELAY", 0, "RCPT <bob@example.org> notify=SUCCESS,FAILURE,DELAY" },
  { "RCPT TO:<bob@example.org> NOTIFY=failure", 0, "RCPT <bob@example.org> notify=FAILURE" },
  { "RCPT TO:<bob@example.org> ORCPT=rfc822;bob@example.org", 0, "RCPT <bob@example.org> orcpt=rfc822;bob@example.org" },
  { "RCPT TO:<bob@example.org> ORCPT=rfc822;b+2Bx@example.org NOTIFY=DELAY", 0,
    "RCPT <bob@example.org> notify=DELAY orcpt=rfc822;b+x@example.org" },
  { "RCPT TO:<bob@example.org> ORCPT=utf-8;j+C3+B6@example.org", 0, "RCPT <bob@example.org> orcpt=utf-8;jö@example.org" },
  { "RCPT TO:<jösé@exämple.org>", SMTP_PARSE_UTF8, "RCPT <jösé@exämple.org> needs-utf8" },
  { "RCPT TO:<bob@bücher.example>", SMTP_PARSE_UTF8, "RCPT <bob@bücher.example> needs-utf8" },
  /* the rest */
  { "DATA", 0, "DATA" },
  { "data", 0, "DATA" },
  { "BDAT 0 LAST", 0, "BDAT 0 LAST" },
  { "BDAT 86", 0, "BDAT 86" },
  { "BDAT 1048576 last", 0, "BDAT 1048576 LAST" },
  { "RSET", 0, "RSET" },
  { "NOOP", 0, "NOOP" },
  { "NOOP hello there", 0, "NOOP hello there" },
  { "QUIT", 0, "QUIT" },
  { "QUIT ", 0, "QUIT" },
  { "VRFY bob", 0, "VRFY bob" },
  { "VRFY <bob@example.org>", 0, "VRFY <bob@example.org>" },
  { "EXPN staff", 0, "EXPN staff" },
  { "HELP", 0, "HELP" },
  { "HELP MAIL", 0, "HELP MAIL" },
  { "STARTTLS", 0, "STARTTLS" },
  { "AUTH PLAIN", 0, "AUTH PLAIN" },
  { "auth plain AGFsaWNlAHNlY3JldA==", 0, "AUTH PLAIN AGFsaWNlAHNlY3JldA==" },
  { "AUTH PLAIN =", 0, "AUTH PLAIN =" },
  { "AUTH SCRAM-SHA-256", 0, "AUTH SCRAM-SHA-256" },
  { "AUTH LOGIN dXNlcg==", 0, "AUTH LOGIN dXNlcg==" },
};

static const Case bad[] = {
  /* generic */
  { "", 0, "500 5.5.2 Syntax error: empty command\r\n" },
  { "   ", 0, "500 5.5.2 Syntax error: empty command\r\n" },
  { "FOO bar", 0, "502 5.5.1 Unrecognized command\r\n" },
  { "MAILFROM:<a@b.example>", 0, "502 5.5.1 Unrecognized command\r\n" },
  { "ETRN example.org", 0, "502 5.5.1 Unrecognized command\r\n" },
  { "GET / HTTP/1.0", 0, "502 5.5.1 Unrecognized command\r\n" },
  { " MAIL FROM:<a@b.example>", 0, "502 5.5.1 Unrecognized command\r\n" },
  { "NOOP\r", 0, "500 5.5.2 Syntax error: control character in command\r\n" },
  { "NOOP\tx", 0, "500 5.5.2 Syntax error: control character in command\r\n" },
  { "NOOP \xff", 0, "500 5.5.2 Syntax error: invalid UTF-8\r\n" },
  /* greetings */
  { "EHLO", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "HELO", 0, "501 5.5.4 Syntax: HELO hostname\r\n" },
  { "LHLO", 0, "501 5.5.4 Syntax: LHLO hostname\r\n" },
  { "EHLO two words", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO -bad.example", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO bad-.example", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO bad..example", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO under_score.example", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO [192.0.2.256]", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO [192.0.2]", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO [IPv6:2001:db8::g]", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  { "EHLO [x400:abc]", 0, "501 5.5.4 Syntax: EHLO hostname\r\n" },
  /* MAIL structure */
  { "MAIL", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL TO:<a@b.example>", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL FROM:a@b.example", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL FROM:  <a@b.example>", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL FROM <a@b.example>", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL FROM:<a@b.example>SIZE=10", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  { "MAIL FROM:", 0, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" },
  /* MAIL addresses */
  { "MAIL FROM:<a@b.example", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<Postmaster>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a@>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<.a@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a.@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a..b@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a b@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a@b@c.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a@b.example.>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<\"unterminated@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a(comment)@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<@a.example:>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<@a.example,b@c.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<@[192.0.2.1]:a@b.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a@[192.0.2.1>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<a@b_c.example>", 0, "501 5.1.7 Bad sender address syntax\r\n" },
  { "MAIL FROM:<jösé@example.org>", 0, "553 5.6.7 Non-ASCII addresses not permitted for that sender\r\n" },
  { "MAIL FROM:<a@exämple.org> SIZE=1", 0, "553 5.6.7 Non-ASCII addresses not permitted for that sender\r\n" },
  /* MAIL parameters */
  { "MAIL FROM:<a@b.example> FOO=bar", 0, "555 5.5.4 Unsupported parameter: FOO\r\n" },
  { "MAIL FROM:<a@b.example> XVERP", 0, "555 5.5.4 Unsupported parameter: XVERP\r\n" },
  { "MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, "555 5.5.4 Unsupported parameter: NOTIFY\r\n" },
  { "MAIL FROM:<a@b.example> ORCPT=rfc822;a@b.example", 0, "555 5.5.4 Unsupported parameter: ORCPT\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, "501 5.5.4 Duplicate parameter: SIZE\r\n" },
  { "MAIL FROM:<a@b.example> BODY=7BIT body=8BITMIME", 0, "501 5.5.4 Duplicate parameter: BODY\r\n" },
  { "MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8", 0, "501 5.5.4 Duplicate parameter: SMTPUTF8\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=abc", 0, "501 5.5.4 Bad SIZE parameter\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=-1", 0, "501 5.5.4 Bad SIZE parameter\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=18446744073709551616", 0, "501 5.5.4 Bad SIZE parameter\r\n" },
  { "MAIL FROM:<a@b.example> SIZE", 0, "501 5.5.4 SIZE requires a value\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=", 0, "501 5.5.4 Bad parameter syntax\r\n" },
  { "MAIL FROM:<a@b.example> =5", 0, "501 5.5.4 Bad parameter syntax\r\n" },
  { "MAIL FROM:<a@b.example> -X=1", 0, "501 5.5.4 Bad parameter syntax\r\n" },
  { "MAIL FROM:<a@b.example> SIZE=1=2", 0, "501 5.5.4 Bad parameter syntax\r\n" },
  { "MAIL FROM:<a@b.example> BODY=9BIT", 0, "501 5.5.4 Bad BODY parameter\r\n" },
  { "MAIL FROM:<a@b.example> SMTPUTF8=yes", 0, "501 5.5.4 SMTPUTF8 takes no value\r\n" },
  { "MAIL FROM:<a@b.example> AUTH=nobody", 0, "501 5.5.4 Bad AUTH parameter\r\n" },
  { "MAIL FROM:<a@b.example> AUTH=a+2@b.example", 0, "501 5.5.4 Bad AUTH parameter\r\n" },
  { "MAIL FROM:<a@b.example> RET=ALL", 0, "501 5.5.4 Bad RET parameter\r\n" },
  { "MAIL FROM:<a@b.example> ENVID=a+zz", 0, "501 5.5.4 Bad ENVID parameter\r\n" },
  { "MAIL FROM:<a@b.example> ENVID=a+0A", 0, "501 5.5.4 Bad ENVID parameter\r\n" },
  { "MAIL FROM:<a@b.example> ENVID=a+", 0, "501 5.5.4 Bad ENVID parameter\r\n" },
  { "MAIL FROM:<a@b.example> ENVID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0,
    "501 5.5.4 Bad ENVID parameter\r\n" },
  /* RCPT */
  { "RCPT", 0, "501 5.5.4 Syntax: RCPT TO:<address>\r\n" },
  { "RCPT FROM:<a@b.example>", 0, "501 5.5.4 Syntax: RCPT TO:<address>\r\n" },
  { "RCPT TO:bob@example.org", 0, "501 5.5.4 Syntax: RCPT TO:<address>\r\n" },
  { "RCPT TO:<>", 0, "501 5.1.3 Bad recipient address syntax\r\n" },
  { "RCPT TO:<bob>", 0, "501 5.1.3 Bad recipient address syntax\r\n" },
  { "RCPT TO:<Postmaster", 0, "501 5.1.3 Bad recipient address syntax\r\n" },
  { "RCPT TO:<user@other@example.org>", 0, "501 5.1.3 Bad recipient address syntax\r\n" },
  { "RCPT TO:<user@example.org.>", 0, "501 5.1.3 Bad recipient address syntax\r\n" },
  { "RCPT TO:<jösé@example.org>", 0, "553 5.6.7 Non-ASCII addresses not permitted for that recipient\r\n" },
  { "RCPT TO:<a@b.example> SIZE=10", 0, "555 5.5.4 Unsupported parameter: SIZE\r\n" },
  { "RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", 0, "501 5.5.4 Bad NOTIFY parameter\r\n" },
  { "RCPT TO:<a@b.example> NOTIFY=SUCCESS,SUCCESS", 0, "501 5.5.4 Bad NOTIFY parameter\r\n" },
  { "RCPT TO:<a@b.example> NOTIFY=SOMETIMES", 0, "501 5.5.4 Bad NOTIFY parameter\r\n" },
  { "RCPT TO:<a@b.example> NOTIFY=SUCCESS,", 0, "501 5.5.4 Bad NOTIFY parameter\r\n" },
  { "RCPT TO:<a@b.example> NOTIFY=DELAY NOTIFY=DELAY", 0, "501 5.5.4 Duplicate parameter: NOTIFY\r\n" },
  { "RCPT TO:<a@b.example> ORCPT=a@b.example", 0, "501 5.5.4 Bad ORCPT parameter\r\n" },
  { "RCPT TO:<a@b.example> ORCPT=;a@b.example", 0, "501 5.5.4 Bad ORCPT parameter\r\n" },
  { "RCPT TO:<a@b.example> ORCPT=rfc822;", 0, "501 5.5.4 Bad ORCPT parameter\r\n" },
  { "RCPT TO:<a@b.example> ORCPT=rfc822;a+G1", 0, "501 5.5.4 Bad ORCPT parameter\r\n" },
  /* the rest */
  { "DATA now", 0, "501 5.5.4 Syntax: DATA (no parameters allowed)\r\n" },
  { "RSET all", 0, "501 5.5.4 Syntax: RSET (no parameters allowed)\r\n" },
  { "QUIT now", 0, "501 5.5.4 Syntax: QUIT (no parameters allowed)\r\n" },
  { "STARTTLS x", 0, "501 5.5.4 Syntax: STARTTLS (no parameters allowed)\r\n" },
  { "VRFY", 0, "501 5.5.4 Syntax: VRFY <address>\r\n" },
  { "EXPN", 0, "501 5.5.4 Syntax: EXPN <address>\r\n" },
  { "BDAT", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "BDAT x", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "BDAT -5", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "BDAT 10 FIRST", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "BDAT 10 LAST now", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "BDAT 99999999999999999999999", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n" },
  { "AUTH", 0, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n" },
  { "AUTH PL@IN", 0, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n" },
  { "AUTH ABCDEFGHIJKLMNOPQRSTU", 0, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n" },
  { "AUTH PLAIN a b", 0, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n" },
  { "AUTH PLAIN abc", 0, "501 5.5.2 Invalid base64 data in initial response\r\n" },
  { "AUTH PLAIN ab=c", 0, "501 5.5.2 Invalid base64 data in initial response\r\n" },
  { "AUTH PLAIN a===", 0, "501 5.5.2 Invalid base64 data in initial response\r\n" },
};

static void
test_good (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpCommand) cmd = smtp_command_parse (good[i].line, strlen (good[i].line),
                                                       good[i].flags, &error);
      g_autofree char *got = NULL;

      if (cmd == NULL)
        g_error ("good[%zu] \"%s\": %s", i, good[i].line, error->message);
      got = describe (cmd);
      if (g_strcmp0 (got, good[i].expect) != 0)
        g_error ("good[%zu] \"%s\": got \"%s\", want \"%s\"", i, good[i].line, got, good[i].expect);
    }
  g_assert_cmpuint (G_N_ELEMENTS (good), >=, 60);
}

static void
test_bad (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpCommand) cmd = smtp_command_parse (bad[i].line, strlen (bad[i].line),
                                                       bad[i].flags, &error);
      g_autofree char *reply = NULL;

      if (cmd != NULL)
        {
          g_autofree char *got = describe (cmd);
          g_error ("bad[%zu] \"%s\" parsed as \"%s\"", i, bad[i].line, got);
        }
      g_assert_error (error, SMTP_REPLY_ERROR, error->code);
      reply = smtp_reply_format_error (error);
      if (g_strcmp0 (reply, bad[i].expect) != 0)
        g_error ("bad[%zu] \"%s\": got \"%s\", want \"%s\"", i, bad[i].line, reply, bad[i].expect);
    }
  g_assert_cmpuint (G_N_ELEMENTS (bad), >=, 60);
}

static void
test_nul_byte (void)
{
  static const char line[] = "NOOP a\0b";
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpCommand) cmd = smtp_command_parse (line, sizeof line - 1, 0, &error);

  g_assert_null (cmd);
  g_assert_error (error, SMTP_REPLY_ERROR, 500);
}

static void
test_limits (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) line = g_string_new ("RCPT TO:<");
  g_autoptr(SmtpCommand) ok = NULL;
  g_autoptr(SmtpCommand) cmd = NULL;
  g_autofree char *reply = NULL;

  g_assert_true (smtp_command_check_length (512, SMTP_COMMAND_LINE_MAX, NULL));
  g_assert_false (smtp_command_check_length (SMTP_COMMAND_LINE_MAX + 1, SMTP_COMMAND_LINE_MAX, &error));
  reply = smtp_reply_format_error (error);
  g_assert_cmpstr (reply, ==, "500 5.5.2 Line too long\r\n");
  g_clear_error (&error);
  g_clear_pointer (&reply, g_free);

  /* local part: 64 is fine, 65 is not */
  for (int i = 0; i < 64; i++)
    g_string_append_c (line, 'a');
  g_string_append (line, "@example.org>");
  ok = smtp_command_parse (line->str, line->len, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);
  g_string_insert_c (line, 9, 'a');
  cmd = smtp_command_parse (line->str, line->len, 0, &error);
  g_assert_null (cmd);
  reply = smtp_reply_format_error (error);
  g_assert_cmpstr (reply, ==, "501 5.1.3 Local part too long\r\n");
  g_clear_error (&error);
  g_clear_pointer (&reply, g_free);

  /* a 64-byte label is too long for a domain */
  g_string_assign (line, "RCPT TO:<a@");
  for (int i = 0; i < 64; i++)
    g_string_append_c (line, 'b');
  g_string_append (line, ".example>");
  cmd = smtp_command_parse (line->str, line->len, 0, &error);
  g_assert_null (cmd);
  reply = smtp_reply_format_error (error);
  g_assert_cmpstr (reply, ==, "501 5.1.3 Domain name too long\r\n");
  g_clear_error (&error);
  g_clear_pointer (&reply, g_free);

  /* a path over 256 octets (valid labels, valid local part) */
  g_string_assign (line, "MAIL FROM:<");
  for (int i = 0; i < 60; i++)
    g_string_append_c (line, 'a');
  g_string_append_c (line, '@');
  for (int i = 0; i < 4; i++)
    g_string_append (line, "cccccccccccccccccccccccccccccccccccccccccccccccccc.");
  g_string_append (line, "example>");
  cmd = smtp_command_parse (line->str, line->len, 0, &error);
  g_assert_null (cmd);
  reply = smtp_reply_format_error (error);
  g_assert_cmpstr (reply, ==, "501 5.1.7 Path too long\r\n");
}

static void
test_params_list (void)
{
  static const char line[] = "MAIL FROM:<a@b.example> size=5 SMTPUTF8 ENVID=x+2By";
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpCommand) cmd = smtp_command_parse (line, sizeof line - 1, 0, &error);
  gboolean present = FALSE;
  SmtpParam *param;

  g_assert_no_error (error);
  g_assert_cmpuint (cmd->params->len, ==, 3);
  param = g_ptr_array_index (cmd->params, 0);
  g_assert_cmpstr (param->keyword, ==, "SIZE");
  g_assert_cmpstr (param->value, ==, "5");
  g_assert_null (smtp_command_get_param (cmd, "smtputf8", &present));
  g_assert_true (present);
  g_assert_cmpstr (smtp_command_get_param (cmd, "envid", NULL), ==, "x+2By");
  g_assert_cmpstr (cmd->envid, ==, "x+y");
  g_assert_null (smtp_command_get_param (cmd, "RET", &present));
  g_assert_false (present);
}

static void
test_xtext (void)
{
  static const struct { const char *decoded, *encoded; } round[] = {
    { "plain", "plain" },
    { "a+b=c", "a+2Bb+3Dc" },
    { "sp ace", "sp+20ace" },
    { "jö", "j+C3+B6" },
    { "", "" },
    { "<a@b>", "<a@b>" },
  };
  static const char *const invalid[] = { "a+", "a+2", "+GG", "a=b", "a b", "+00", "\x7f" };

  for (gsize i = 0; i < G_N_ELEMENTS (round); i++)
    {
      g_autofree char *enc = smtp_xtext_encode (round[i].decoded, strlen (round[i].decoded));
      g_autofree char *dec = smtp_xtext_decode (round[i].encoded, strlen (round[i].encoded));

      g_assert_cmpstr (enc, ==, round[i].encoded);
      g_assert_cmpstr (dec, ==, round[i].decoded);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    g_assert_null (smtp_xtext_decode (invalid[i], strlen (invalid[i])));
  {
    g_autofree char *lower = smtp_xtext_decode ("a+2bb", 5);
    g_assert_cmpstr (lower, ==, "a+b");
  }
}

static void
test_path_strings (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "<a@b.example>", "<a@b.example>" },
    { "<\"a b\"@b.example>", "<\"a b\"@b.example>" },
    { "<\"ab\"@b.example>", "<ab@b.example>" },
    { "<@r.example:a@b.example>", "<a@b.example>" },
    { "<>", "<>" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SmtpPath) path = NULL;
      g_autoptr(SmtpPath) copy = NULL;
      g_autofree char *text = NULL;
      gsize consumed = 0;

      g_assert_cmpint (smtp_path_parse (cases[i].in, strlen (cases[i].in), SMTP_PATH_REVERSE,
                                        &path, &consumed), ==, SMTP_PATH_OK);
      g_assert_cmpuint (consumed, ==, strlen (cases[i].in));
      copy = smtp_path_copy (path);
      text = smtp_path_to_string (copy);
      g_assert_cmpstr (text, ==, cases[i].out);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/smtp/command/good-lines", test_good);
  g_test_add_func ("/smtp/command/bad-lines", test_bad);
  g_test_add_func ("/smtp/command/nul-byte", test_nul_byte);
  g_test_add_func ("/smtp/command/limits", test_limits);
  g_test_add_func ("/smtp/command/params-list", test_params_list);
  g_test_add_func ("/smtp/command/xtext", test_xtext);
  g_test_add_func ("/smtp/command/path-strings", test_path_strings);
  return g_test_run ();
}
