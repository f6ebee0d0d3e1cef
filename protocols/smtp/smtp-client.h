/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The outbound SMTP client: one delivery attempt of one message to the
 * recipients of one destination domain. BLOCKING (sockets with timeouts,
 * DNS): the queue runs it on its own thread pool, never on the loop.
 *
 * Route: the configured host (transport map or relayhost) or the
 * domain's MX hosts by preference (GResolver), else the domain's own
 * A/AAAA records (RFC 5321 §5.1); a null MX (RFC 7505) fails at once.
 * TLS: STARTTLS whenever the server offers it, with GnuTLS directly on
 * the socket and without certificate verification (opportunistic, RFC
 * 3207 §4.1 — what MX-to-MX delivery does without DANE/MTA-STS), and
 * required before AUTH PLAIN to a relayhost. DSN parameters (RFC 3461)
 * go on when the server offers DSN; BODY=BINARYMIME only goes with BDAT
 * to a server offering CHUNKING and BINARYMIME, else the recipients fail
 * with 5.6.3; SMTPUTF8 likewise (5.6.7). */
#pragma once

#include "smtp-spool.h"

G_BEGIN_DECLS

typedef struct {
  SmtpSpoolRcpt *rcpt;     /* in: mailbox, notify, orcpt (borrowed) */
  guint code;              /* out: the reply code for this recipient */
  char *status;            /* out: enhanced status "2.0.0" */
  char *diagnostic;        /* out: the reply text or a local reason */
} SmtpClientRcpt;

typedef struct {
  /* in */
  const char *helo;                 /* our hostname */
  const char *domain;               /* destination domain */
  const char *route_host;           /* NULL: MX lookup */
  guint16 route_port;
  const char *auth_user;            /* relayhost AUTH PLAIN, or NULL */
  const char *auth_password;
  const SmtpEnvelope *env;          /* sender and MAIL parameters */
  const char *message_path;         /* the canonical message */
  guint timeout;                    /* seconds per network step */
  GArray *rcpts;                    /* of SmtpClientRcpt */
  /* out */
  char *remote_mta;                 /* the host that answered last */
} SmtpClientJob;

/* Runs the attempt and sets every recipient's result. */
void smtp_client_deliver (SmtpClientJob *job);

/* Parses "host:port" or "[host]:port" (IPv6 in brackets); FALSE if bad. */
gboolean smtp_client_parse_hostport (const char *text, char **host, guint16 *port);

G_END_DECLS
