#!/usr/bin/env python3
"""Soak test: one posthornd, many concurrent clients of all three protocols
for a long time. Not a benchmark (Python drives the load): it looks for
errors, memory growth and file-descriptor leaks.

Each client loops over whole sessions of its protocol:
  SMTP  EHLO, MAIL, RCPT (a random user), DATA, RSET/QUIT
  IMAP  LOGIN, SELECT, APPEND, FETCH, SEARCH, STORE, IDLE (a moment),
        EXPUNGE what it stored, LOGOUT
  POP3  USER/PASS, STAT, LIST, UIDL, RETR, DELE all, QUIT
so the mailboxes stay small and memory should stay flat.

Pass criteria: zero errors; RSS after warm-up grows less than
--rss-tolerance (MiB) from its first post-warm-up sample to the mean of the
last three; the daemon's open fds after the clients leave equal those
before they came. Prints the figures; exit 1 on failure.
"""
import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

N_USERS = 50
# IMAP sessions use u0..u24 and expunge what they append; SMTP delivers to
# u25..u49 and POP3 sessions empty those maildrops: no session removes a
# message another protocol's session is about to read.
IMAP_USERS = range(0, 25)
POP3_USERS = range(25, 50)


class Stats:
    def __init__(self):
        self.sessions = {'smtp': 0, 'imap': 0, 'pop3': 0}
        self.messages = {'smtp': 0, 'imap': 0}
        self.errors = []
        self.expungeissued = 0

    def error(self, what):
        if len(self.errors) < 50:
            self.errors.append(what)
        else:
            self.errors.append(None)


class Conn:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    async def line(self):
        data = await asyncio.wait_for(self.r.readline(), 60)
        if not data:
            raise ConnectionError('connection closed')
        return data.decode('utf-8', 'replace').rstrip('\r\n')

    async def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.w.write(data)
        await self.w.drain()

    def close(self):
        self.w.close()


async def connect(port):
    r, w = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', port), 30)
    return Conn(r, w)


def message(tag, size):
    body = ''.join(f'line {i} of {tag}: the quick brown fox jumps over the lazy dog\r\n'
                   for i in range(size))
    return (f'From: soak@remote.example\r\nTo: user\r\nSubject: soak {tag}\r\n'
            f'Message-ID: <{tag}@soak.example>\r\n\r\n{body}')


# ---- SMTP ----

async def smtp_reply(c):
    while True:
        line = await c.line()
        if len(line) < 4 or line[3] != '-':
            return int(line[:3]), line


async def smtp_expect(c, cmd, code):
    await c.send(cmd + '\r\n')
    got, line = await smtp_reply(c)
    if got != code:
        raise RuntimeError(f'SMTP {cmd[:40]!r}: {line}')


async def smtp_session(ports, n, stats):
    c = await connect(ports['smtp'])
    try:
        code, line = await smtp_reply(c)
        if code != 220:
            raise RuntimeError(f'SMTP greeting: {line}')
        await smtp_expect(c, 'EHLO soak.example', 250)
        for k in range(random.randint(1, 3)):
            user = f'u{random.choice(POP3_USERS)}@example.org'
            await smtp_expect(c, 'MAIL FROM:<soak@remote.example>', 250)
            await smtp_expect(c, f'RCPT TO:<{user}>', 250)
            await smtp_expect(c, 'DATA', 354)
            await c.send(message(f's{n}-{k}', random.randint(1, 40)))
            await smtp_expect(c, '.', 250)
            stats.messages['smtp'] += 1
        await smtp_expect(c, 'QUIT', 221)
        stats.sessions['smtp'] += 1
    finally:
        c.close()


# ---- IMAP ----

class Imap:
    def __init__(self, c, stats):
        self.c = c
        self.n = 0
        self.stats = stats

    async def cmd(self, text, ok=True):
        self.n += 1
        tag = f't{self.n}'
        await self.c.send(f'{tag} {text}\r\n')
        untagged = []
        while True:
            line = await self.c.line()
            if line.startswith(tag + ' '):
                if ok and line.startswith(tag + ' NO [EXPUNGEISSUED]'):
                    # another session's EXPUNGE raced this command: allowed
                    # by RFC 5530, counted and reported, not an error
                    self.stats.expungeissued += 1
                    return line, untagged
                if ok and not line.startswith(tag + ' OK'):
                    raise RuntimeError(f'IMAP {text[:40]!r}: {line}')
                return line, untagged
            untagged.append(line)


async def imap_session(ports, n, stats):
    c = await connect(ports['imap4'])
    try:
        greeting = await c.line()
        if not greeting.startswith('* OK'):
            raise RuntimeError(f'IMAP greeting: {greeting}')
        s = Imap(c, stats)
        user = f'u{random.choice(IMAP_USERS)}@example.org'
        _, caps = await s.cmd(f'LOGIN {user} pw')
        _, caps2 = await s.cmd('CAPABILITY')
        has_idle = any(' IDLE' in l for l in caps + caps2)
        await s.cmd('SELECT INBOX')
        mine = []
        for k in range(random.randint(1, 3)):
            data = message(f'i{n}-{k}', random.randint(1, 40)).encode()
            line, _ = await s.cmd(f'APPEND INBOX {{{len(data)}+}}\r\n{data.decode()}')
            if '[APPENDUID ' in line:
                mine.append(line.split('[APPENDUID ')[1].split(']')[0].split()[1])
            stats.messages['imap'] += 1
        await s.cmd('NOOP')
        await s.cmd('UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)')
        await s.cmd('UID SEARCH SUBJECT soak')
        if mine:
            await s.cmd(f'UID FETCH {mine[0]} (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])')
        if has_idle:
            await imap_idle(s, c)
        if mine:
            await s.cmd(f'UID STORE {",".join(mine)} +FLAGS.SILENT (\\Deleted)')
            await s.cmd(f'UID EXPUNGE {",".join(mine)}')
        await s.cmd('LOGOUT')
        stats.sessions['imap'] += 1
    finally:
        c.close()


async def imap_idle(s, c):
        s.n += 1
        tag = f't{s.n}'
        await c.send(f'{tag} IDLE\r\n')
        line = await c.line()
        if not line.startswith('+'):
            raise RuntimeError(f'IMAP IDLE: {line}')
        await asyncio.sleep(random.uniform(0.05, 0.5))
        await c.send('DONE\r\n')
        while not (line := await c.line()).startswith(tag + ' '):
            pass
        if not line.startswith(tag + ' OK'):
            raise RuntimeError(f'IMAP IDLE end: {line}')


# ---- POP3 ----

async def pop3_cmd(c, text, multi=False):
    await c.send(text + '\r\n')
    line = await c.line()
    if not line.startswith('+OK'):
        raise RuntimeError(f'POP3 {text.split()[0]}: {line}')
    lines = []
    if multi:
        while (l := await c.line()) != '.':
            lines.append(l)
    return line, lines


async def pop3_session(ports, n, stats):
    c = await connect(ports['pop3'])
    try:
        greeting = await c.line()
        if not greeting.startswith('+OK'):
            raise RuntimeError(f'POP3 greeting: {greeting}')
        user = f'u{random.choice(POP3_USERS)}@example.org'
        await pop3_cmd(c, f'USER {user}')
        try:
            await pop3_cmd(c, 'PASS pw')
        except RuntimeError as e:
            # the maildrop is locked by another POP3 session of this user
            if '[IN-USE]' in str(e):
                stats.sessions['pop3'] += 1
                return
            raise
        stat, _ = await pop3_cmd(c, 'STAT')
        count = int(stat.split()[1])
        await pop3_cmd(c, 'LIST', multi=True)
        await pop3_cmd(c, 'UIDL', multi=True)
        for i in range(1, min(count, 3) + 1):
            await pop3_cmd(c, f'RETR {i}', multi=True)
        for i in range(1, count + 1):
            await pop3_cmd(c, f'DELE {i}')
        await pop3_cmd(c, 'QUIT')
        stats.sessions['pop3'] += 1
    finally:
        c.close()


async def client(kind, ports, stats, stop, idx):
    fn = {'smtp': smtp_session, 'imap': imap_session, 'pop3': pop3_session}[kind]
    n = 0
    while not stop.is_set():
        n += 1
        try:
            await fn(ports, f'{idx}.{n}', stats)
        except Exception as e:   # every failure is an error of the run
            stats.error(f'{kind} client {idx}: {type(e).__name__}: {e}')
            await asyncio.sleep(0.5)
        await asyncio.sleep(random.uniform(0, 0.2))


# ---- the daemon ----

def proc_rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def proc_fd_targets(pid):
    targets = {}
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            t = os.readlink(f'/proc/{pid}/fd/{fd}')
        except OSError:
            continue
        t = 'socket' if t.startswith('socket:') else 'anon_inode' if t.startswith('anon_inode') else t
        targets[t] = targets.get(t, 0) + 1
    return targets


def start_daemon(build, workdir, log):
    users = os.path.join(workdir, 'users')
    with open(users, 'w') as f:
        for i in range(N_USERS):
            f.write(f'u{i}@example.org:{{PLAIN}}pw\n')
    conf = os.path.join(workdir, 'posthorn.conf')
    plugin_dir = os.path.abspath(os.path.join(build, 'plugins'))
    user_line = 'user=root\n' if os.geteuid() == 0 else ''
    with open(conf, 'w') as f:
        f.write(f"""[core]
plugins=auth-passwd-file;storage-sqlite;pop3;imap4;smtp
plugin_dir={plugin_dir}
state_dir={workdir}/state
log_level=warning
max_connections_per_ip=1000
{user_line}
[auth-passwd-file]
path={users}
[smtp]
hostname=mx.example.org
domains=example.org
listen=127.0.0.1:0
[imap4]
listen=127.0.0.1:0
[pop3]
listen=127.0.0.1:0
[dbus]
bus=none
""")
    ports_file = os.path.join(workdir, 'ports')
    proc = subprocess.Popen([os.path.abspath(os.path.join(build, 'core', 'posthornd')), '-c', conf,
                             '--ports-file', ports_file, '--foreground'],
                            stdout=log, stderr=log)
    for _ in range(500):
        if os.path.exists(ports_file):
            ports = {}
            with open(ports_file) as f:
                for line in f:
                    service, _addr, port, _kind = line.split()
                    ports.setdefault(service, int(port))
            if {'smtp', 'imap4', 'pop3'} <= set(ports):
                return proc, ports
        if proc.poll() is not None:
            sys.exit(f'posthornd exited: see {log.name}')
        time.sleep(0.02)
    proc.kill()
    sys.exit('posthornd did not start')


async def run(args):
    workdir = tempfile.mkdtemp(prefix='posthorn-soak-')
    log = open(os.path.join(workdir, 'posthornd.log'), 'w')
    proc, ports = start_daemon(args.build, workdir, log)
    pid = proc.pid
    stats = Stats()
    await asyncio.sleep(1)
    fds_before = proc_fds(pid)
    rss_start = proc_rss_kb(pid)
    print(f'posthornd pid {pid}, ports {ports}, {fds_before} fds, RSS {rss_start} KiB', flush=True)

    kinds = ['smtp', 'imap', 'pop3']
    t0 = time.monotonic()
    warmup = args.duration * args.warmup
    samples = []   # (t, rss, fds)

    async def phase(until):
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client(kinds[i % 3], ports, stats, stop, i))
                 for i in range(args.clients)]
        while time.monotonic() - t0 < until:
            await asyncio.sleep(min(args.interval, max(0.1, until - (time.monotonic() - t0))))
            t = time.monotonic() - t0
            rss, fds = proc_rss_kb(pid), proc_fds(pid)
            samples.append((t, rss, fds))
            print(f'{t:7.0f}s  RSS {rss:7d} KiB  fds {fds:5d}  sessions {stats.sessions}  '
                  f'errors {len(stats.errors)}', flush=True)
            if proc.poll() is not None:
                stats.error(f'posthornd died with {proc.returncode}')
                break
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3)

    # warm-up: caches, database connections and worker threads settle;
    # then every client leaves and the fd baseline is taken
    await phase(warmup)
    fds_warm = proc_fds(pid) if proc.poll() is None else -1
    targets_warm = proc_fd_targets(pid) if proc.poll() is None else {}
    print(f'after warm-up, no clients: {fds_warm} fds', flush=True)
    await phase(args.duration)
    fds_after = proc_fds(pid) if proc.poll() is None else -1
    targets_after = proc_fd_targets(pid) if proc.poll() is None else {}

    after = [s for s in samples if s[0] >= warmup]
    ok = True
    print('\n---- soak result ----')
    print(f'clients {args.clients}, duration {args.duration:.0f} s, warm-up {warmup:.0f} s')
    print(f'sessions: {stats.sessions}  messages: {stats.messages}')
    print(f'errors: {len(stats.errors)}; IMAP NO [EXPUNGEISSUED] (a concurrent EXPUNGE, '
          f'not counted as an error): {stats.expungeissued}')
    for e in stats.errors[:20]:
        if e:
            print(f'  {e}')
    if stats.errors:
        ok = False
    if len(after) >= 4:
        first = after[0][1]
        last = sum(s[1] for s in after[-3:]) / 3
        peak = max(s[1] for s in samples)
        growth_mib = (last - first) / 1024
        print(f'RSS: start {rss_start} KiB, after warm-up {first} KiB, end {last:.0f} KiB, '
              f'peak {peak} KiB, growth after warm-up {growth_mib:+.1f} MiB')
        if growth_mib > args.rss_tolerance:
            ok = False
            print(f'RSS grew more than {args.rss_tolerance} MiB after warm-up')
    else:
        print('RSS: too few samples after warm-up to judge')
    print(f'fds: at start {fds_before}, idle after warm-up {fds_warm}, '
          f'peak {max(s[2] for s in samples) if samples else 0}, idle at the end {fds_after}')
    # storage-sqlite keeps up to 32 idle reader connections (db + wal fds
    # each) plus the writer, opened lazily: database fds may grow up to
    # that; everything else must come back to where it was.
    def is_db(t):
        return t.endswith(('.db', '.db-wal', '.db-shm', '.db-journal'))
    other_warm = sum(n for t, n in targets_warm.items() if not is_db(t))
    other_after = sum(n for t, n in targets_after.items() if not is_db(t))
    db_after = sum(n for t, n in targets_after.items() if is_db(t))
    db_cap = 3 * (32 + 1)
    print(f'     non-database fds {other_warm} -> {other_after}; database fds {db_after} '
          f'(reader pool cap {db_cap})')
    for t in sorted(set(targets_warm) | set(targets_after)):
        if targets_warm.get(t, 0) != targets_after.get(t, 0):
            print(f'  {t}: {targets_warm.get(t, 0)} -> {targets_after.get(t, 0)}')
    if other_after != other_warm or db_after > db_cap:
        ok = False
        print('fd leak')

    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = 'killed'
    print(f'posthornd exit: {code}')
    if code != 0:
        ok = False
    log.close()
    if ok and not args.keep:
        shutil.rmtree(workdir)
    else:
        print(f'kept {workdir}')
    print('PASS' if ok else 'FAIL')
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--build', default='build', help='meson build dir (default: build)')
    p.add_argument('--clients', type=int, default=200)
    p.add_argument('--duration', type=float, default=600, help='seconds (default 600)')
    p.add_argument('--warmup', type=float, default=0.2, help='fraction of the run (default 0.2)')
    p.add_argument('--interval', type=float, default=10, help='seconds between samples')
    p.add_argument('--rss-tolerance', type=float, default=8.0, help='MiB (default 8)')
    p.add_argument('--keep', action='store_true', help='keep the state dir and log')
    args = p.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == '__main__':
    main()
