#!/usr/bin/env bash
# Installs what is missing, builds Posthorn and runs every test.
# The last line is "N passed, N failed", counted over GLib test cases.
#   ./test.sh                 the normal build (warnings are errors)
#   ./test.sh --sanitize      the same under AddressSanitizer + UBSan (+ LeakSanitizer)
#   ./test.sh --all           both passes, one after the other; the last line
#                             sums them (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
posthorn_install_deps "${POSTHORN_BUILD_DEPS[@]}" "${POSTHORN_TEST_DEPS[@]}"

mode=${1:-}
case "$mode" in
  ""|--sanitize|--all) ;;
  *) echo "usage: $0 [--sanitize|--all]" >&2; exit 2 ;;
esac

# Builds in $1 with the remaining meson options and runs every test there.
# Returns the test run's status; the counts are read from its testlog.json.
run_pass () {
  local builddir=$1
  shift
  rm -f "$builddir/meson-logs/testlog.json"   # no stale counts if the build fails
  # (set -e does not apply inside a function called with ||)
  if [ -d "$builddir" ]; then
    meson setup --reconfigure "$builddir" "$@" >/dev/null || return $?
  else
    meson setup "$builddir" "$@" >/dev/null || return $?
  fi
  meson compile -C "$builddir" || return $?
  meson test -C "$builddir" --print-errorlogs --num-processes 2
}

normal=(build-test -Dwerror_ci=true)
sanitize=(build-asan -Dwerror_ci=true -Db_sanitize=address,undefined -Db_lundef=false)

status=0
logs=()
if [ "$mode" != "--sanitize" ]; then
  run_pass "${normal[@]}" || status=$?
  logs+=("${normal[0]}/meson-logs/testlog.json")
fi
if [ "$mode" = "--sanitize" ] || [ "$mode" = "--all" ]; then
  run_pass "${sanitize[@]}" || status=$?
  logs+=("${sanitize[0]}/meson-logs/testlog.json")
fi
python3 scripts/count-tests.py "${logs[@]}"
exit $status
