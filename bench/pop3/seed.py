#!/usr/bin/env python3
# Seeds the POP3 benchmark: COUNT messages of SIZE bytes for each user,
# into posthornd (through test-inject on INJECT_PORT) and into a Dovecot
# maildir root (one maildir per user, LF line ends as Dovecot's LDA
# writes them, with S= and W= sizes in the file names).
# Usage: seed.py INJECT_PORT MAILDIR_ROOT SIZE USER:COUNT...
# SPDX-License-Identifier: LGPL-2.1-or-later
import base64
import os
import random
import socket
import sys

inject_port, maildir_root, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rng = random.Random(1939)


def message(user, n):
    head = (b'From: Sender <sender@example.net>\r\nTo: %s\r\nSubject: bench %d\r\n'
            b'Message-ID: <%d.%s>\r\nMIME-Version: 1.0\r\n'
            b'Content-Type: application/octet-stream\r\n'
            b'Content-Transfer-Encoding: base64\r\n\r\n') % (user.encode(), n, n, user.encode())
    # a base64 body: 76 characters a line
    raw = rng.randbytes(max(0, size - len(head)) * 57 // 78 + 57)
    text = base64.b64encode(raw)
    body = b''.join(text[i:i + 76] + b'\r\n' for i in range(0, len(text), 76))
    return head + body[:max(0, size - len(head)) // 78 * 78]


sock = socket.create_connection(('127.0.0.1', inject_port))
f = sock.makefile('rb')
assert f.readline().startswith(b'+OK')
for spec in sys.argv[4:]:
    user, count = spec.rsplit(':', 1)
    maildir = os.path.join(maildir_root, user)
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    for n in range(int(count)):
        data = message(user, n)
        sock.sendall(b'APPEND %s %d\r\n' % (user.encode(), len(data)))
        assert f.readline().startswith(b'+GO')
        sock.sendall(data)
        reply = f.readline()
        assert reply.startswith(b'+OK'), reply
        lf = data.replace(b'\r\n', b'\n')
        name = '%d.M%dP1.bench,S=%d,W=%d:2,' % (1700000000 + n, n, len(lf), len(data))
        with open(os.path.join(maildir, 'cur', name), 'wb') as out:
            out.write(lf)
sock.close()
