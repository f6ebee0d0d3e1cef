#!/usr/bin/env bash
# SMTP delivery benchmark on its own: starts posthornd (storage-sqlite +
# smtp) from a build tree, drives it with Postfix's smtp-source, and prints
# messages/s and the server's CPU per 1000 messages. Every message is
# durable in the store before its 250 (WAL, synchronous=FULL).
#
#   bench/smtp/run.sh [BUILD_DIR] [MESSAGES] [SESSIONS] [SIZE] [USERS]
#
# e.g. bench/smtp/run.sh build 5000 20 10240
# USERS > 1 spreads the messages over bench1..benchUSERS (one smtp-source
# per user, the sessions divided among them). PERF=1 records a profile of
# posthornd (perf record -F 300 --call-graph dwarf) into $W/perf.data;
# KEEP=1 keeps the temporary folder; WORKERS=N sets [core] worker_threads.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
m=${2:-5000}
sessions=${3:-20}
size=${4:-10240}
users=${5:-1}
port=${PORT:-22325}

W=$(mktemp -d "${TMPDIR:-/tmp}/posthorn-smtp-bench.XXXXXX")
PH=""
PERF_PID=""
cleanup () {
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null || true
  [ -n "$PH" ] && kill "$PH" 2>/dev/null && wait "$PH" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "# kept $W" || rm -rf "$W"
}
trap cleanup EXIT

: > "$W/users"
for u in $(seq 1 "$users"); do echo "bench$u@example.org:{PLAIN}bench" >> "$W/users"; done
mkdir -p "$W/state"
cat > "$W/posthorn.conf" <<CONF
[core]
plugins=auth-passwd-file;storage-sqlite;smtp
plugin_dir=$build/plugins
state_dir=$W/state
log_level=warning
max_connections=1000
max_connections_per_ip=1000
$( [ -n "${WORKERS:-}" ] && echo "worker_threads=$WORKERS" )
$( [ "$(id -u)" = 0 ] && echo user=root )
[auth-passwd-file]
path=$W/users
[dbus]
bus=none
[smtp]
hostname=bench.example.org
domains=example.org
listen=127.0.0.1:$port
CONF
"$build/core/posthornd" -c "$W/posthorn.conf" --foreground > "$W/posthornd.log" 2>&1 &
PH=$!
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

src () { # MESSAGES SESSIONS RCPT
  smtp-source -d -s "$2" -m "$1" -l "$size" -M bench.example.net -f sender@example.net -t "$3" "127.0.0.1:$port"
}
cpu () { awk '{print $14 + $15}' "/proc/$PH/stat"; }

src 100 4 bench1@example.org   # warm-up
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 300 --call-graph dwarf,16384 -o "$W/perf.data" -p "$PH" > "$W/perf.log" 2>&1 &
  PERF_PID=$!
  sleep 1
fi
c0=$(cpu)
t0=$(date +%s.%N)
per=$(( m / users )); s_per=$(( sessions / users > 0 ? sessions / users : 1 ))
pids=()
for u in $(seq 1 "$users"); do src "$per" "$s_per" "bench$u@example.org" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(date +%s.%N)
c1=$(cpu)
if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; PERF_PID=""; fi
hz=$(getconf CLK_TCK)
total=$(( per * users ))
awk -v m="$total" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v s="$sessions" -v sz="$size" -v u="$users" \
  'BEGIN { w = t1 - t0; c = (c1 - c0) / hz;
           printf "smtp: %d messages x %d bytes, %d sessions, %d users: %.2f s, %.1f msg/s, server CPU %.2f s (%.2f s / 1000 messages)\n",
                  m, sz, s, u, w, m / w, c, c * 1000 / m }'
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# The search index is filled after a burst (storage-sqlite indexes when
# deliveries pause): the CPU that costs, until the server is idle again.
prev=$c1
for _ in $(seq 600); do
  sleep 1; now=$(cpu)
  [ $(( now - prev )) -le 2 ] && break
  prev=$now
done
awk -v a="$c1" -v b="$prev" -v hz="$hz" -v m="$total" \
  'BEGIN { printf "after the run (search index catching up): server CPU %.2f s (%.2f s / 1000 messages)\n", (b - a) / hz, (b - a) / hz * 1000 / m }'
[ "${PERF:-0}" = 1 ] && echo "# perf data: $W/perf.data" && KEEP=1
exit 0
