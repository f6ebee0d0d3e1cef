#!/bin/sh
# Runs one libFuzzer target for a bounded time: new inputs it finds go to
# FOUND_DIR (the seed corpus in the source tree is only read), a crash
# leaves crash-* in FOUND_DIR/artifacts and fails the test.
#   run-libfuzzer.sh TARGET SEED_DIR FOUND_DIR [libFuzzer options...]
# POSTHORN_FUZZ_SECONDS: how long (default 20).
set -eu
target=$1 seeds=$2 found=$3
shift 3
mkdir -p "$found/artifacts"
exec "$target" "$found" "$seeds" \
  -max_total_time="${POSTHORN_FUZZ_SECONDS:-20}" \
  -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$found/artifacts/" "$@"
