#!/usr/bin/env python3
# The POP3 client of Python's standard library against posthornd, for
# test-pop3-interop: STLS, USER/PASS, STAT, LIST, UIDL, RETR of every
# message into OUTDIR/N.eml, TOP, then DELE of message 1 and QUIT.
# Prints "stat N SIZE", "uidl N UIDL" and "top N LINES" lines.
# Usage: poplib-client.py HOST PORT USER PASSWORD OUTDIR
# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import poplib
import ssl
import sys

host, port, user, password, outdir = sys.argv[1:6]
pop = poplib.POP3(host, int(port), timeout=30)
caps = pop.capa()
assert 'STLS' in caps, caps
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
pop.stls(context)
caps = pop.capa()
assert 'STLS' not in caps and 'USER' in caps, caps
pop.user(user)
pop.pass_(password)
count, size = pop.stat()
print('stat', count, size)
resp, listing, _ = pop.list()
sizes = {int(n): int(s) for n, s in (line.split() for line in listing)}
resp, uidls, _ = pop.uidl()
for line in uidls:
    n, uidl = line.decode().split()
    print('uidl', n, uidl)
for n in range(1, count + 1):
    resp, lines, octets = pop.retr(n)
    data = b'\r\n'.join(lines) + b'\r\n'
    assert len(data) == sizes[n], (n, len(data), sizes[n])
    with open(os.path.join(outdir, '%d.eml' % n), 'wb') as f:
        f.write(data)
resp, lines, _ = pop.top(1, 0)
print('top', 1, len(lines))
pop.dele(1)
print('quit', pop.quit().decode())
