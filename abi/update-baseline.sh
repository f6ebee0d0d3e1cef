#!/usr/bin/env bash
# Records the ABI of BUILD's libposthorn-1.so as the new baseline:
# abi/posthorn-1.abi plus a copy of the public headers in abi/include/ (which
# tests/packaging builds a plugin against, to prove that plugins built for
# the baseline keep loading). Commit the result together with the ABI bump
# that justifies it (see abi/README.md).
#
#   abi/update-baseline.sh [BUILD]      (default: build)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/abi-common.sh"
BUILD=${1:-$SOURCE_ROOT/build}

command -v abidw >/dev/null || { echo "abidw not found: install abigail-tools" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
abi_dump "$BUILD" "$TMP/new.abi"
current=$(abi_version "$BUILD/core/include/posthorn/posthorn-version.h")

if [ -f "$BASELINE" ] && [ -f "$ABI_DIR/include/posthorn/posthorn-version.h" ]; then
  previous=$(abi_version "$ABI_DIR/include/posthorn/posthorn-version.h")
  set +e
  abi_compare "$BASELINE" "$TMP/new.abi" > "$TMP/report"
  status=$?
  set -e
  if [ $((status & 12)) -ne 0 ] && [ "${current%%.*}" = "${previous%%.*}" ]; then
    cat "$TMP/report"
    echo "Incompatible with the baseline ABI $previous, and the major is still ${current%%.*}:" >&2
    echo "bump POSTHORN_ABI_MAJOR first (or set POSTHORN_ABI_UNRELEASED=1 while ABI" >&2
    echo "$previous has never been released)." >&2
    [ "${POSTHORN_ABI_UNRELEASED:-0}" = 1 ] || exit 1
  fi
fi

rm -rf "$ABI_DIR/include"
abi_headers "$BUILD" "$ABI_DIR/include"
cp "$TMP/new.abi" "$BASELINE"
echo "baseline: ABI $current, $(grep -c '<elf-symbol ' "$BASELINE") symbols recorded in abi/posthorn-1.abi"
