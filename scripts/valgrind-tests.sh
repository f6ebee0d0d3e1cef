#!/bin/sh
# Valgrind memcheck over the integration tests: every test program and the
# posthornd it starts run under memcheck (--trace-children), GLib's own
# suppressions applied. Run once per release (doc/sanitizers.md).
#   scripts/valgrind-tests.sh [BUILD_DIR] [meson test arguments...]
#   scripts/valgrind-tests.sh build --suite reliability --suite imap4
# Reports go to BUILD_DIR/valgrind/vg.PID.log; the script lists those with
# errors or definite leaks and fails if there are any.
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
out="$build/valgrind"
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
status=0
meson test -C "$build" --timeout-multiplier 20 --num-processes 1 \
  --wrap="valgrind --trace-children=yes --trace-children-skip=*python3*,*gnutls-cli*,*curl*,*swaks*,*msmtp*,*dbus-daemon*,*openssl* --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=30 --suppressions=/usr/share/glib-2.0/valgrind/glib.supp --log-file=$out/vg.%p.log" \
  "$@" || status=$?
bad=$(grep -l -E "ERROR SUMMARY: [1-9]" "$out"/vg.*.log 2>/dev/null || true)
if [ -n "$bad" ]; then
  echo "memcheck found errors:"
  for f in $bad; do
    echo "  $f: $(grep -m1 -E '^==[0-9]+== Command:' "$f" | sed 's/^==[0-9]*== //')"
  done
  status=1
fi
echo "$(ls "$out" | wc -l) processes checked; $(echo "$bad" | grep -c . || true) with errors"
exit $status
