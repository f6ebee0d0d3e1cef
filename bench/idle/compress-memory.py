#!/usr/bin/env python3
# compress-memory.py: what an idle IMAP session costs the server, with and
# without COMPRESS=DEFLATE (RFC 4978), measured as the growth of the
# server's VmRSS while N sessions are opened one after the other.
#
#   bench/idle/compress-memory.py PORT N MODE SERVER_PID [USER_FORMAT PASSWORD USERS]
#
# MODE: plain-idle         LOGIN, SELECT INBOX, IDLE
#       compress-idle      LOGIN, COMPRESS DEFLATE, SELECT INBOX, IDLE
#       compress-selected  LOGIN, COMPRESS DEFLATE, SELECT INBOX (no IDLE:
#                          the zlib states stay live)
# Start a fresh server for each mode (freed memory from an earlier run is
# reused and hides the growth). Prints one line:
#   MODE: N sessions, server RSS A -> B KiB, X KiB per session
#
# SPDX-License-Identifier: LGPL-2.1-or-later
import socket
import sys
import time
import zlib


def rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class Plain:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b'\r\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('connection closed')
            self.buf += self.feed(data)
        line, _, self.buf = self.buf.partition(b'\r\n')
        return line

    def feed(self, data):
        return data

    def until(self, prefix):
        while not self.readline().startswith(prefix):
            pass


class Deflated(Plain):
    def __init__(self, plain):
        super().__init__(plain.sock)
        self.buf = plain.buf
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)

    def send(self, data):
        self.sock.sendall(self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH))

    def feed(self, data):
        return self.decomp.decompress(data)


def main():
    port, n, mode, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    user_format = sys.argv[5] if len(sys.argv) > 5 else 'bench%d@example.org'
    password = sys.argv[6] if len(sys.argv) > 6 else 'bench'
    users = int(sys.argv[7]) if len(sys.argv) > 7 else 50
    if mode not in ('plain-idle', 'compress-idle', 'compress-selected'):
        sys.exit(f'unknown mode {mode}')
    sessions = []
    before = rss_kb(pid)
    for i in range(n):
        conn = Plain(socket.create_connection(('127.0.0.1', port)))
        conn.readline()
        user = user_format % (i % users + 1)
        conn.send(f'a LOGIN "{user}" "{password}"\r\n'.encode())
        conn.until(b'a ')
        if mode != 'plain-idle':
            conn.send(b'z COMPRESS DEFLATE\r\n')
            conn.until(b'z ')
            conn = Deflated(conn)
        conn.send(b'b SELECT INBOX\r\n')
        conn.until(b'b ')
        if mode != 'compress-selected':
            conn.send(b'c IDLE\r\n')
            conn.until(b'+')
        sessions.append(conn)
    time.sleep(1)
    after = rss_kb(pid)
    print(f'{mode}: {n} sessions, server RSS {before} -> {after} KiB, '
          f'{(after - before) / n:.1f} KiB per session')


if __name__ == '__main__':
    main()
