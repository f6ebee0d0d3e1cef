#!/usr/bin/env bash
# Builds and runs the store benchmark against a meson build directory.
#
#   bench/store/run.sh [BUILD_DIR] [bench-store options...]
#
# e.g. bench/store/run.sh build --appends 10000 --size 10240 --big 100000
# The state directory is a temporary folder under $TMPDIR (default /tmp):
# point TMPDIR at the disk you want to measure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
shift || true

out="$build/bench-store"
cc -std=c11 -O2 -g -D_GNU_SOURCE -DPOSTHORN_COMPILATION \
  -I"$root/core" -I"$root/core/include" -I"$build/core/include" -I"$root/tests/store" \
  "$root/bench/store/bench-store.c" "$root/tests/store/store-test-util.c" \
  $(pkg-config --cflags --libs gio-2.0 gio-unix-2.0) \
  -L"$build/core" -lposthorn-1 -Wl,-rpath,"$build/core" \
  -o "$out"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) CPUs, TMPDIR=${TMPDIR:-/tmp} on $(df -P "${TMPDIR:-/tmp}" | awk 'NR==2 {print $1}')"
POSTHORN_PLUGIN_DIR="$build/plugins" exec "$out" "$@"
