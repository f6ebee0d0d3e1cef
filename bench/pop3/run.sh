#!/usr/bin/env bash
# POP3 download benchmark: posthornd (storage-sqlite) against Debian's
# dovecot-pop3d (maildir) on this machine, in the same run.
#
#   bench/pop3/run.sh [BUILD_DIR]      (default: build; needs dovecot-pop3d)
#
# 1. one session downloads (RETR all) BIG_COUNT messages of MSG_SIZE bytes;
# 2. USERS sessions in parallel, one per user, each RETR all of PER_USER.
# Prints MB/s, the peak RSS and the CPU time of each server's process
# tree, and the ratio posthornd/dovecot. Environment overrides: MSG_SIZE (102400),
# BIG_COUNT (1000), USERS (20), PER_USER (100), ROUNDS (3: the median is
# reported), KEEP=1 keeps the work dir.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
MSG_SIZE=${MSG_SIZE:-102400}
BIG_COUNT=${BIG_COUNT:-1000}
USERS=${USERS:-20}
PER_USER=${PER_USER:-100}
PH_PORT=${PH_PORT:-21110}
INJECT_PORT=${INJECT_PORT:-21112}
DC_PORT=${DC_PORT:-21120}
ROUNDS=${ROUNDS:-3}

command -v dovecot >/dev/null || { echo "dovecot is not installed (apt-get install dovecot-pop3d)" >&2; exit 1; }
W=$(mktemp -d /tmp/pop3-bench.XXXXXX)
chmod 755 "$W"
PH_PID=""; DC_PID=""
cleanup () {
  [ -n "$PH_PID" ] && kill "$PH_PID" 2>/dev/null || true
  [ -n "$DC_PID" ] && kill "$DC_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
wait_port () {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; exit 1
}

cc -O2 -o "$W/pop3-load" "$ROOT/bench/pop3/pop3-load.c" $(pkg-config --cflags --libs glib-2.0) -pthread

: > "$W/users"
for u in $(seq 0 "$USERS"); do echo "bench$u@example.org:{PLAIN}bench" >> "$W/users"; done

# ---- posthornd ----
mkdir -p "$W/posthorn"
cat > "$W/posthorn.conf" <<CONF
[core]
plugins=auth-passwd-file;storage-sqlite;pop3;test-inject
plugin_dir=$BUILD/plugins;$BUILD/tests/pop3/plugins
state_dir=$W/posthorn
log_level=warning
$( [ "$(id -u)" = 0 ] && echo user=root )
[auth-passwd-file]
path=$W/users
[pop3]
listen=127.0.0.1:$PH_PORT
[test-inject]
listen=127.0.0.1:$INJECT_PORT
[dbus]
bus=none
CONF
"$BUILD/core/posthornd" -c "$W/posthorn.conf" --foreground > "$W/posthornd.log" 2>&1 &
PH_PID=$!
wait_port "$PH_PORT"

specs="bench0@example.org:$BIG_COUNT"
for u in $(seq 1 "$USERS"); do specs="$specs bench$u@example.org:$PER_USER"; done
echo "seeding $BIG_COUNT + $USERS x $PER_USER messages of $MSG_SIZE bytes ..." >&2
python3 "$ROOT/bench/pop3/seed.py" "$INJECT_PORT" "$W/maildir" "$MSG_SIZE" $specs

# ---- dovecot ----
mkdir -p "$W/dovecot/run" "$W/dovecot/state" "$W/dovecot/home"
chown -R nobody:nogroup "$W/maildir" "$W/dovecot/home"
cat > "$W/dovecot.conf" <<CONF
protocols = pop3
listen = 127.0.0.1
base_dir = $W/dovecot/run
state_dir = $W/dovecot/state
log_path = $W/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:$W/maildir/%u
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN $W/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/dovecot/home/%u
}
service pop3-login {
  inet_listener pop3 {
    port = $DC_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
CONF
dovecot -F -c "$W/dovecot.conf" &
DC_PID=$!
wait_port "$DC_PORT"

run () {  # name port sessions first-user pid
  "$W/pop3-load" --port "$2" --sessions "$3" --first-user "$4" --password bench \
                 --user-format 'bench%u@example.org' --rss-pid "$5"
}

# Warm-up: one pass each (Dovecot builds its maildir index, both fill caches).
run warm "$PH_PORT" "$USERS" 1 "$PH_PID" > /dev/null
run warm "$DC_PORT" "$USERS" 1 "$DC_PID" > /dev/null
run warm "$PH_PORT" 1 0 "$PH_PID" > /dev/null
run warm "$DC_PORT" 1 0 "$DC_PID" > /dev/null

median () { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

results=()
for scenario in "one:1:0" "parallel:$USERS:1"; do
  IFS=: read -r name sessions first <<< "$scenario"
  ph_all=""; dc_all=""
  for round in $(seq "$ROUNDS"); do
    ph=$(run "$name" "$PH_PORT" "$sessions" "$first" "$PH_PID")
    dc=$(run "$name" "$DC_PORT" "$sessions" "$first" "$DC_PID")
    echo "$name round $round posthornd: $ph"
    echo "$name round $round dovecot:   $dc"
    ph_all+="$ph"$'\n'; dc_all+="$dc"$'\n'
  done
  ph_mbs=$(field 'MB\/s' <<< "$ph_all" | median)
  dc_mbs=$(field 'MB\/s' <<< "$dc_all" | median)
  ph_rss=$(field peak_rss_kb <<< "$ph_all" | sort -n | tail -1)
  dc_rss=$(field peak_rss_kb <<< "$dc_all" | sort -n | tail -1)
  ph_start=$(field start_rss_kb <<< "$ph_all" | sort -n | head -1)
  ph_cpu=$(field server_cpu_s <<< "$ph_all" | median)
  dc_cpu=$(field server_cpu_s <<< "$dc_all" | median)
  results+=("$(awk -v n="$name" -v a="$ph_mbs" -v b="$dc_mbs" -v r="$ph_rss" -v s="$dc_rss" -v q="$ph_start" \
    -v c="$ph_cpu" -v d="$dc_cpu" \
    'BEGIN { printf "%-9s posthornd %7.1f MB/s peak %6.1f MiB (%.1f at start) cpu %5.2f s | dovecot %7.1f MB/s peak %6.1f MiB cpu %5.2f s | ratio %.2fx", n, a, r/1024, q/1024, c, b, s/1024, d, a/b }')")
done
echo
echo "median of $ROUNDS rounds, $MSG_SIZE-byte messages; peak RSS of each server's process tree; cpu: CPU time of that tree during a round"
printf '%s\n' "${results[@]}"
