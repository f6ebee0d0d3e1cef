#!/bin/sh
# Soak test (not run by CI): 200 concurrent SMTP, IMAP and POP3 clients for
# 10 minutes against one posthornd; zero errors, flat RSS after warm-up, no
# fd leak. Figures go to stdout; the last line is PASS or FAIL.
#   bench/soak/soak.sh [BUILD_DIR] [soak.py options...]
#   bench/soak/soak.sh build --duration 120      # a 2-minute run
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
[ $# -gt 0 ] && shift
ninja -C "$build" core/posthornd plugins/auth-passwd-file.so plugins/storage-sqlite.so \
  plugins/pop3.so plugins/imap4.so plugins/smtp.so >/dev/null 2>&1 || ninja -C "$build" >/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
exec python3 bench/soak/soak.py --build "$build" "$@"
