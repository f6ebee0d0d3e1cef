#!/usr/bin/env python3
"""Counts GLib test cases (TAP lines) in meson testlog.json files.

Prints the per-program failures, then one last line "N passed, N failed"
(", N skipped" when some were skipped), summed over every file given (the
normal and the sanitizer pass of ./test.sh --all). A program that failed
without a "not ok" line (it crashed or timed out) counts as one failed case.
"""
import json
import os
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b[^#]*(#\s*(\w+))?', re.IGNORECASE)

def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        p, fl, s = count(path)
        passed += p
        failed += fl
        skipped += s
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")


def count(path):
    passed = failed = skipped = 0
    prefix = f"{path}: " if len(sys.argv) > 2 else ""
    if not os.path.exists(path):
        print(f"FAILED: {path} is missing (the build failed?)")
        return 0, 1, 0
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            out = entry.get('stdout') or ''
            p = fl = s = 0
            for tap in out.splitlines():
                m = TAP.match(tap.strip())
                if not m:
                    continue
                directive = (m.group(3) or '').upper()
                if m.group(1).lower() == 'ok':
                    if directive == 'SKIP':
                        s += 1
                    else:
                        p += 1
                elif directive == 'TODO':
                    s += 1
                else:
                    fl += 1
            if entry.get('result') not in ('OK', 'EXPECTEDFAIL', 'SKIP') and fl == 0:
                fl = 1
            if fl:
                print(f"FAILED: {prefix}{entry.get('name')} ({entry.get('result')})")
            passed += p
            failed += fl
            skipped += s
    return passed, failed, skipped


if __name__ == '__main__':
    main(sys.argv[1:])
