#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interop test with Python's imaplib against a running posthornd:
STARTTLS, LOGIN, APPEND of a 5 MB literal, FETCH BODYSTRUCTURE of a
multipart message with attachments compared with the structure expected
from the message's parts, FETCH of the big message back.

usage: interop-imaplib.py HOST PORT USER PASSWORD
Exits 0 on success, prints what differed otherwise."""
import base64
import imaplib
import re
import ssl
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(typ, data, what):
    if typ != "OK":
        fail(f"{what}: {typ} {data}")
    return data


# ---- a multipart/mixed message with two attachments ----
text_part = b"Hello Bob,\r\nthe report and the logo are attached.\r\n"
pdf = bytes(range(256)) * 8
pdf_b64 = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
png = b"\x89PNG\r\n\x1a\n" + bytes(100)
png_b64 = base64.encodebytes(png).replace(b"\n", b"\r\n")
parts = [
    (b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n', text_part),
    (b'Content-Type: application/pdf; name="report.pdf"\r\n'
     b'Content-Disposition: attachment; filename="report.pdf"\r\n'
     b'Content-Transfer-Encoding: base64\r\n', pdf_b64),
    (b'Content-Type: image/png; name="logo.png"\r\n'
     b'Content-Disposition: inline; filename="logo.png"\r\n'
     b'Content-Transfer-Encoding: base64\r\n', png_b64),
]
boundary = b"b-interop-42"
msg = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n"
       b"Subject: Report with attachments\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n")
for head, body in parts:
    msg += b"--" + boundary + b"\r\n" + head + b"\r\n" + body + b"\r\n"
msg += b"--" + boundary + b"--\r\n"


def tokenize(s):
    """Parses an IMAP parenthesised list into nested Python lists."""
    pos = 0

    def value():
        nonlocal pos
        while s[pos] == " ":
            pos += 1
        if s[pos] == "(":
            pos += 1
            out = []
            while True:
                while s[pos] == " ":
                    pos += 1
                if s[pos] == ")":
                    pos += 1
                    return out
                out.append(value())
        if s[pos] == '"':
            end = pos + 1
            buf = ""
            while s[end] != '"':
                if s[end] == "\\":
                    end += 1
                buf += s[end]
                end += 1
            pos = end + 1
            return buf
        m = re.match(r"[^ ()]+", s[pos:])
        pos += m.end()
        tok = m.group(0)
        if tok.upper() == "NIL":
            return None
        return int(tok) if tok.isdigit() else tok

    return value()


def lower(x):
    if isinstance(x, list):
        return [lower(y) for y in x]
    return x.lower() if isinstance(x, str) else x


ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

imap = imaplib.IMAP4(host, port)
if "STARTTLS" not in imap.capabilities:
    fail(f"no STARTTLS in {imap.capabilities}")
check(*imap.starttls(ssl_context=ctx), "STARTTLS")
check(*imap.login(user, password), "LOGIN")
check(*imap.create("Interop"), "CREATE")

typ, data = imap.append("Interop", r"(\Seen)", None, msg)
check(typ, data, "APPEND multipart")
big_line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
big = (b"From: Alice <alice@example.org>\r\nSubject: big\r\n\r\n"
       + big_line * (5 * 1024 * 1024 // len(big_line) + 1))
typ, data = imap.append("Interop", None, None, big)
check(typ, data, "APPEND 5 MB")
if b"APPENDUID" not in data[0]:
    fail(f"no APPENDUID: {data}")

check(*imap.select("Interop"), "SELECT")
typ, data = imap.uid("FETCH", "1", "(BODYSTRUCTURE)")
check(typ, data, "FETCH BODYSTRUCTURE")
raw = data[0].decode()
bs = tokenize(raw[raw.index("BODYSTRUCTURE ") + len("BODYSTRUCTURE "):])


def lines(b):
    return b.count(b"\n")


expected = [
    ["text", "plain", ["charset", "utf-8"], None, None, "7bit", len(text_part), lines(text_part)],
    ["application", "pdf", ["name", "report.pdf"], None, None, "base64", len(pdf_b64), None,
     ["attachment", ["filename", "report.pdf"]]],
    ["image", "png", ["name", "logo.png"], None, None, "base64", len(png_b64), None,
     ["inline", ["filename", "logo.png"]]],
]
got_parts = []
for p in bs:
    if not isinstance(p, list):
        break
    got_parts.append(p)
if len(got_parts) != 3:
    fail(f"expected 3 parts: {bs}")
if lower(bs[len(got_parts)]) != "mixed":
    fail(f"not multipart/mixed: {bs}")
for want, got in zip(expected, got_parts):
    got = lower(got)
    fields = want[:7]
    if got[:7] != lower(fields):
        fail(f"part fields {got[:7]} != {fields}")
    if want[0] == "text" and got[7] != want[7]:
        fail(f"text lines {got[7]} != {want[7]}")
    if len(want) > 8:
        # non-text single part: body-fld-md5 at 7, body-fld-dsp at 8
        if len(got) < 9 or got[8] != lower(want[8]):
            fail(f"disposition {got[8:9]} != {want[8]}")

typ, data = imap.uid("FETCH", "2", "(RFC822.SIZE BODY.PEEK[])")
check(typ, data, "FETCH big")
body = data[0][1]
if body != big:
    fail(f"big message differs: {len(body)} vs {len(big)} bytes")
typ, data = imap.uid("FETCH", "1", "(FLAGS)")
if b"\\Seen" not in data[0]:
    fail(f"APPEND flags lost: {data}")
imap.logout()
print("OK")
