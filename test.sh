#!/usr/bin/env bash
# Installs what is missing, builds Posthorn and runs every test.
# The last line is "N passed, N failed", counted over GLib test cases.
#   ./test.sh                 the normal build (warnings are errors)
#   ./test.sh --sanitize      the same under AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
posthorn_install_deps "${POSTHORN_BUILD_DEPS[@]}" "${POSTHORN_TEST_DEPS[@]}"

builddir=build-test
setup_args=(-Dwerror_ci=true)
if [ "${1:-}" = "--sanitize" ]; then
  builddir=build-asan
  setup_args+=(-Db_sanitize=address,undefined -Db_lundef=false)
fi

if [ -d "$builddir" ]; then
  meson setup --reconfigure "$builddir" "${setup_args[@]}" >/dev/null
else
  meson setup "$builddir" "${setup_args[@]}" >/dev/null
fi
meson compile -C "$builddir"

status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 || status=$?
python3 scripts/count-tests.py "$builddir/meson-logs/testlog.json"
exit $status
