#!/usr/bin/env bash
# Fails when libposthorn-1.so in BUILD is not ABI-compatible with the recorded
# baseline abi/posthorn-1.abi (see abi/README.md).
#
#   abi/check-abi.sh [BUILD]        (default: build)
#
# Exit status: 0 compatible (added functions are fine), 1 an incompatible or
# changed ABI, 77 libabigail (abigail-tools) is not installed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/abi-common.sh"
BUILD=${1:-$SOURCE_ROOT/build}

if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
  echo "abidw/abidiff not found: install abigail-tools" >&2
  exit 77
fi
if [ ! -f "$BASELINE" ]; then
  echo "no baseline $BASELINE: run abi/update-baseline.sh" >&2
  exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
abi_dump "$BUILD" "$TMP/current.abi" || { echo "abidw failed" >&2; exit 1; }
current=$(abi_version "$BUILD/core/include/posthorn/posthorn-version.h")
baseline=$(abi_version "$ABI_DIR/include/posthorn/posthorn-version.h")

abi_compare "$BASELINE" "$TMP/current.abi" > "$TMP/report"
status=$?
if [ $((status & 3)) -ne 0 ]; then
  cat "$TMP/report"
  echo "abidiff failed (status $status)" >&2
  exit 1
fi
if [ $((status & 12)) -ne 0 ]; then
  cat "$TMP/report"
  echo "ABI $current of $BUILD breaks the baseline ABI $baseline (abi/posthorn-1.abi)." >&2
  echo "If that is deliberate: bump POSTHORN_ABI_MAJOR (meson.build, the soname and" >&2
  echo "the symbol version node) and run abi/update-baseline.sh in the same commit." >&2
  exit 1
fi

# The baseline itself may only move forward deliberately: when this checkout
# changes it (uncommitted, or in the last commit), the change from the
# previous baseline must come with the matching ABI bump.
if git -C "$SOURCE_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  rev=
  if ! git -C "$SOURCE_ROOT" diff --quiet HEAD -- abi/posthorn-1.abi 2>/dev/null; then
    rev=HEAD
  elif git -C "$SOURCE_ROOT" rev-parse -q --verify HEAD~1 >/dev/null &&
       ! git -C "$SOURCE_ROOT" diff --quiet HEAD~1 HEAD -- abi/posthorn-1.abi; then
    rev=HEAD~1
  fi
  if [ -n "$rev" ] && git -C "$SOURCE_ROOT" cat-file -e "$rev:abi/posthorn-1.abi" 2>/dev/null; then
    git -C "$SOURCE_ROOT" show "$rev:abi/posthorn-1.abi" > "$TMP/previous.abi"
    git -C "$SOURCE_ROOT" show "$rev:abi/include/posthorn/posthorn-version.h" > "$TMP/previous-version.h" 2>/dev/null
    previous=$(abi_version "$TMP/previous-version.h")
    abi_compare "$TMP/previous.abi" "$BASELINE" > "$TMP/baseline-report"
    bstatus=$?
    if [ $((bstatus & 12)) -ne 0 ] && [ "${baseline%%.*}" = "${previous%%.*}" ]; then
      cat "$TMP/baseline-report"
      echo "abi/posthorn-1.abi was updated with an incompatible change but the ABI" >&2
      echo "major stayed ${baseline%%.*} (previous baseline $previous): bump the major." >&2
      exit 1
    fi
    echo "baseline moved from ABI $previous to $baseline in $rev"
  fi
fi

echo "libposthorn-1 ABI $current is compatible with the baseline ABI $baseline"
