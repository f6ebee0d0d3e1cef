#!/usr/bin/env bash
# Posthorn against the incumbents, on this machine, in one command.
#
#   bench/run.sh [imap|pop3|smtp|idle|store|all]...      (default: all)
#
# Installs what is missing (Debian packages), builds Posthorn optimised in
# build-bench/, starts posthornd from the build tree and Dovecot / Postfix
# as private instances (config, state and mail in a temp dir, loopback
# ports 22100-22199), drives the same load at each, stops everything it
# started and prints one table: figure, Posthorn, incumbent, ratio. Each
# cell is the median of BENCH_RUNS runs with [min-max] beside it.
#
# Environment:
#   BENCH_SCALE    scales message counts and fleet sizes (default 1 = the full loads)
#   BENCH_RUNS     runs per figure (default 3)
#   BENCH_SECONDS  length of one timed IMAP run (default 10)
#   BENCH_BUILD    build directory (default build-bench)
#   BENCH_KEEP=1   keep the temp dir (logs, configs, raw results)
#   BENCH_STORES   store plugins of the store load (default "storage-sqlite storage-maildir")
#   BENCH_IDLE_STREAMS  users the IDLE load delivers to at once (default 5)
#
# Every load prints its wall time as it ends ("bench: time: ...") and the
# table's header lists them all; the budget is in bench/README.md ("How
# long the full suite takes").
#
# Loads, measurement and caveats: bench/README.md.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The revision measured, taken before the run redraws bench/imap-throughput.png
REVISION=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
SCALE=${BENCH_SCALE:-1}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-10}
LOADS=("$@")
[ ${#LOADS[@]} -eq 0 ] && LOADS=(all)
[ "${LOADS[0]}" = all ] && LOADS=(imap idle smtp pop3 store)
for l in "${LOADS[@]}"; do
  case "$l" in imap|pop3|smtp|idle|store) ;; *) echo "usage: $0 [imap|pop3|smtp|idle|store|all]..." >&2; exit 2 ;; esac
done

# phase_time NAME START_EPOCH: one wall-time line for the log and the table
phase_time () {
  local s=$(( $(date +%s) - $2 ))
  log "time: $1 took $s s"
  [ -n "$W" ] && printf '%s\t%s\n' "$1" "$s" >> "$W/times.tsv"
  return 0
}

scaled () { awk -v n="$1" -v s="$SCALE" -v min="${2:-1}" 'BEGIN { v = int(n * s + 0.5); print (v < min ? min : v) }'; }
log () { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- setup --

install_packages () {
  . "$ROOT/scripts/deps.sh"
  # postfix asks how to configure the system instance: not at all, we run our own
  if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  posthorn_install_deps "${POSTHORN_BUILD_DEPS[@]}" \
    dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix gnuplot-nox python3 eatmydata
}

build_posthorn () {
  if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" -Dbuildtype=release -Db_ndebug=if-release -Dbench=enabled >/dev/null
  fi
  # only what the loads run: a test elsewhere that does not build does not stop us
  local targets=(core/posthornd plugins/auth-passwd-file.so plugins/storage-sqlite.so plugins/storage-maildir.so
                 plugins/imap4.so plugins/pop3.so plugins/smtp.so tests/pop3/plugins/test-inject.so
                 bench/bench-procmon bench/imap-load bench/idle-load)
  if ! ninja -C "$BUILD" "${targets[@]}" > "$BUILD/bench-build.log" 2>&1; then
    grep -E "error|FAILED" "$BUILD/bench-build.log" | head -20 >&2
    log "the build failed (full output: $BUILD/bench-build.log)"; return 1
  fi
}

W=""
PIDS=()
POSTFIX_DIRS=()
cleanup () {
  local p d
  [ -n "${INOTIFY_SAVED:-}" ] && echo "$INOTIFY_SAVED" > /proc/sys/fs/inotify/max_user_instances 2>/dev/null || true
  for d in "${POSTFIX_DIRS[@]}"; do postfix -c "$d" stop >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ -n "$W" ]; then
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port () {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "nothing listens on port $1"; return 1
}

stop_pid () {
  local p=$1
  kill "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
}

# users bench1..benchN@example.org, password "bench" ({PLAIN}, read by both)
write_users () {
  local n=$1 u
  : > "$W/users"
  for u in $(seq 1 "$n"); do echo "bench$u@example.org:{PLAIN}bench"; done >> "$W/users"
  chmod 644 "$W/users"
}

# start_posthorn NAME PLUGINS EXTRA_CONFIG -> PH_PID
start_posthorn () {
  local name=$1 plugins=$2 extra=$3 dir="$W/$1"
  mkdir -p "$dir/state"
  cat > "$dir/posthorn.conf" <<CONF
[core]
plugins=$plugins
plugin_dir=$BUILD/plugins
state_dir=$dir/state
log_level=warning
max_connections=60000
max_connections_per_ip=60000
# the IDLE fleet holds ~200 sessions per user, all from 127.0.0.1 (as
# Dovecot's mail_max_userip_connections below)
max_sessions_per_user=0
max_sessions_per_user_ip=0
$( [ "$(id -u)" = 0 ] && echo user=root )
[auth-passwd-file]
path=$W/users
[dbus]
bus=none
$extra
CONF
  ( ulimit -n "$(ulimit -Hn)"; exec "$BUILD/core/posthornd" -c "$dir/posthorn.conf" --foreground ) \
    > "$dir/posthornd.log" 2>&1 &
  PH_PID=$!
  PIDS+=("$PH_PID")
}

# start_dovecot NAME PROTOCOLS EXTRA_CONFIG -> DC_PID. Runs as root (the
# master must), every mail process as nobody:nogroup.
start_dovecot () {
  local name=$1 protocols=$2 extra=$3 dir="$W/$1"
  mkdir -p "$dir/run" "$dir/state" "$dir/mail" "$dir/home"
  chown nobody:nogroup "$dir/mail" "$dir/home"
  cat > "$dir/dovecot.conf" <<CONF
protocols = $protocols
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:$dir/mail/%u
mail_fsync = always
mail_max_userip_connections = 100000
default_process_limit = 30000
default_client_limit = 60000
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = scheme=PLAIN $W/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dir/home/%u allow_all_users=yes
}
service anvil {
  client_limit = 65000
}
service auth {
  client_limit = 65000
}
$extra
CONF
  ( ulimit -n "$(ulimit -Hn)"; exec dovecot -F -c "$dir/dovecot.conf" ) > "$dir/dovecot.out" 2>&1 &
  DC_PID=$!
  PIDS+=("$DC_PID")
}

# measure PID[,PID...] OUTFILE -- CMD...: runs CMD under bench-procmon;
# OUTFILE gets CMD's stdout followed by the procmon line.
measure () {
  local pids=$1 out=$2 args=()
  shift 3
  IFS=, read -ra pl <<< "$pids"
  for p in "${pl[@]}"; do args+=(--pid "$p"); done
  "$BUILD/bench/bench-procmon" "${args[@]}" --out "$out.pm" -- "$@" > "$out" || {
    log "failed: $* (see $out)"; cat "$out.pm" >> "$out" 2>/dev/null; return 1; }
  cat "$out.pm" >> "$out"
}

# field FILE KEY -> the value of KEY=... in FILE's lines
field () { grep -o "\b$2=[^ ]*" "$1" | head -1 | cut -d= -f2; }

# record FIGURE UNIT BETTER(high|low) SIDE(ph|inc) VALUE   (one run's value)
record () { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$W/results.tsv"; }
# note FIGURE SIDE TEXT: a cell that is n/a, with the reason
note () { printf '%s\t\t\t%s\tn/a: %s\n' "$1" "$2" "$3" >> "$W/results.tsv"; }

# --------------------------------------------------------------- loads --

IMAP_USERS=50
# users the IDLE load delivers to at once (README: "The loads")
IDLE_STREAMS=${BENCH_IDLE_STREAMS:-5}
load_imap () {
  local seed_msgs=50   # not scaled: the mailbox size is part of the load
  log "imap: seeding $IMAP_USERS users x $seed_msgs messages in each server"
  start_posthorn ph-imap "auth-passwd-file;storage-sqlite;imap4" "[imap4]
listen=127.0.0.1:22143"
  local ph=$PH_PID
  # Dovecot's documented high-performance login mode (one long-lived
  # imap-login serving many connections), one imap process per session
  start_dovecot dc-imap imap "service imap-login {
  inet_listener imap {
    port = 22144
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 30000
}
service imap {
  process_limit = 30000
  unix_listener imap-master {
    user = \$default_internal_user
  }
  extra_groups = \$default_internal_group
}
# IDLE sessions move out of their imap process into imap-hibernate after
# 5 s (Dovecot's own answer to IDLE fleets; the mixed load never IDLEs)
imap_hibernate_timeout = 5s
service imap-hibernate {
  unix_listener imap-hibernate {
    mode = 0660
    group = \$default_internal_group
  }
}"
  local dc=$DC_PID
  wait_port 22143; wait_port 22144
  IMAP_PH_PID=$ph; IMAP_DC_PID=$dc
  local t0; t0=$(date +%s)
  # both servers at once: nothing is measured yet
  local seed_ph seed_dc
  "$BUILD/bench/imap-load" --port 22143 --clients "$IMAP_USERS" --seed "$seed_msgs" > "$W/imap-seed-ph.txt" &
  seed_ph=$!
  "$BUILD/bench/imap-load" --port 22144 --clients "$IMAP_USERS" --seed "$seed_msgs" > "$W/imap-seed-dc.txt" &
  seed_dc=$!
  wait "$seed_ph" || { log "imap: seeding posthornd failed"; return 1; }
  wait "$seed_dc" || { log "imap: seeding Dovecot failed"; return 1; }
  log "imap: warm-up"
  "$BUILD/bench/imap-load" --port 22143 --clients 10 --seconds 3 > /dev/null &
  seed_ph=$!
  "$BUILD/bench/imap-load" --port 22144 --clients 10 --seconds 3 > /dev/null &
  seed_dc=$!
  wait "$seed_ph" && wait "$seed_dc" || { log "imap: the warm-up failed"; return 1; }
  phase_time "imap: seeding and warm-up (not measured)" "$t0"

  local r c side port pid f
  : > "$W/imap-plot.tsv"
  for r in $(seq 1 "$RUNS"); do
    for c in 1 10 50; do
      for side in ph inc; do
        if [ $side = ph ]; then port=22143; pid=$ph; else port=22144; pid=$dc; fi
        f="$W/imap-$side-c$c-r$r.txt"
        log "imap: run $r/$RUNS, $c clients, $side"
        measure "$pid" "$f" -- "$BUILD/bench/imap-load" --port "$port" --clients "$c" --seconds "$SECS" || continue
        record "IMAP ops/s, $c clients" "ops/s" high $side "$(field "$f" ops_s)"
        record "IMAP p50 latency, $c clients" "ms" low $side "$(awk -v v="$(field "$f" p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
        record "IMAP p99 latency, $c clients" "ms" low $side "$(awk -v v="$(field "$f" p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
        record "IMAP peak RSS, $c clients" "MiB" low $side "$(awk -v v="$(field "$f" server_peak_rss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
        record "IMAP peak PSS, $c clients" "MiB" low $side "$(awk -v v="$(field "$f" server_peak_pss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
        record "IMAP server CPU s / 1000 ops, $c clients" "s" low $side "$(awk -v a="$(field "$f" server_cpu_s)" -v o="$(field "$f" ops)" 'BEGIN{printf "%.3f", (o > 0 ? a*1000/o : 0)}')"
        record "IMAP generator CPU % of one core, $c clients" "%" low $side "$(awk -v a="$(field "$f" gen_cpu_s)" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", 100*a/w}')"
        record "IMAP errors, $c clients" "" low $side "$(field "$f" errors)"
        imap_ops_record "$f" "$c" $side
      done
    done
  done
}

# per-command latencies of one imap-load run -> ops.tsv (a second table)
imap_ops_record () {
  awk -v c="$2" -v side="$3" '/^op / {
      name = $2; p50 = $4; p99 = $5; sub(/^p50_us=/, "", p50); sub(/^p99_us=/, "", p99)
      printf "%s, %s clients, p50\tms\tlow\t%s\t%.2f\n", name, c, side, p50 / 1000
      printf "%s, %s clients, p99\tms\tlow\t%s\t%.2f\n", name, c, side, p99 / 1000
    }' "$1" >> "$W/ops.tsv"
}

load_idle () {
  local n; n=$(scaled 10000 100)
  local hold=20   # not scaled: Dovecot hibernates IDLE sessions after 5 s
  # after the deliveries the fleet idles this long again before it is let
  # go, so that "at the end of the hold" is an idle fleet (Dovecot: its
  # watchers, woken by the deliveries, hibernated again after 5 s)
  local settle=10
  # issue #8: p50/p99 over 1,000 deliveries. IDLE_STREAMS users receive
  # mail at the same time, each user's deliveries one at a time (the
  # user's next APPEND waits for every EXISTS of its watchers, so pushes
  # never merge); the hold stretches as needed. Dovecot waits 0.5 s
  # before it tells an IDLE session, so one stream alone would take
  # ~550 s for the 1,000; five take ~110 s. The same for both servers.
  local deliveries; deliveries=$(scaled 1000 50)
  local streams=$(( IDLE_STREAMS < IMAP_USERS ? IDLE_STREAMS : IMAP_USERS ))
  if [ -z "${IMAP_PH_PID:-}" ]; then
    log "idle: needs the imap servers: running the imap seeding first"
    RUNS_SAVED=$RUNS; RUNS=0; load_imap; RUNS=$RUNS_SAVED
  fi
  local side port pid f mode flags=()
  local key="IDLE fleet ($n sessions)"
  # Dovecot's IDLE watches the mailbox with one inotify instance per
  # process; past fs.inotify.max_user_instances (128) it falls back to
  # polling every 30 s. Raised for the run, put back by cleanup.
  local cur; cur=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
  if [ "$cur" -gt 0 ] && [ "$cur" -lt $((n + 1000)) ]; then
    if echo $((n + 1000)) > /proc/sys/fs/inotify/max_user_instances 2>/dev/null; then
      INOTIFY_SAVED=$cur
    else
      log "idle: could not raise fs.inotify.max_user_instances ($cur): Dovecot's IDLE will poll"
    fi
  fi
  # One fleet per server, measured RUNS times: the deliveries are split
  # into RUNS consecutive windows of the same held fleet (idle-load
  # --windows), each window one sample of the push latency figures. The
  # fleet's own figures (set-up time, memory, CPU) are one sample per
  # server: setting up a second and third fleet of 10,000 sessions (two
  # minutes each for Dovecot) would only repeat them. README: "How long the
  # full suite takes".
  local windows=$(( RUNS < deliveries ? RUNS : deliveries ))
  [ "$windows" -lt 1 ] && windows=1
  local t0 wk
  # Posthorn first: when it has no IDLE yet, Dovecot's sessions stay
  # selected without IDLE too (--no-idle), so both hold the same thing
  for side in ph inc; do
    if [ $side = ph ]; then port=22143; pid=$IMAP_PH_PID; flags=(); else port=22144; pid=$IMAP_DC_PID; fi
    f="$W/idle-$side.txt"
    log "idle: $n sessions, $side: one fleet, $deliveries deliveries to $streams users at once in $windows windows"
    t0=$(date +%s)
    if ! measure "$pid" "$f" -- "$BUILD/bench/idle-load" --port "$port" --sessions "$n" \
           --users "$IMAP_USERS" --hold "$hold" --deliveries "$deliveries" --interval-ms 100 \
           --streams "$streams" --settle "$settle" --windows "$windows" "${flags[@]}"; then
      note "$key, peak RSS" $side "the fleet did not come up (see $f)"
      phase_time "idle: $side fleet" "$t0"
      continue
    fi
    phase_time "idle: $side fleet (set-up $(field "$f" setup_s) s, then $(field "$f" deliveries) deliveries, $streams streams)" "$t0"
    mode=$(field "$f" mode)
    if [ $side = ph ]; then
      IDLE_MODE=$mode
      [ "$mode" = selected ] && flags=(--no-idle)
    fi
    record "$key, established" "" high $side "$(field "$f" established)"
    record "$key, errors (sessions lost, failed commands)" "" low $side "$(field "$f" errors)"
    record "$key, deliveries given up after 5 s (an EXISTS missing)" "" low $side "$(field "$f" rounds_timed_out)"
    record "$key, peak RSS" "MiB" low $side "$(awk -v v="$(field "$f" server_peak_rss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
    record "$key, peak PSS" "MiB" low $side "$(awk -v v="$(field "$f" server_peak_pss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
    record "$key, RSS at the end of the hold" "MiB" low $side "$(awk -v v="$(field "$f" server_last_rss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
    record "$key, PSS at the end of the hold" "MiB" low $side "$(awk -v v="$(field "$f" server_last_pss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
    record "$key, set-up time" "s" low $side "$(field "$f" setup_s)"
    record "$key, server CPU s (set-up + hold + deliveries)" "s" low $side "$(field "$f" server_cpu_s)"
    record "$key, generator CPU s" "s" low $side "$(field "$f" gen_cpu_s)"
    record "$key, monitor CPU s (/proc sampling)" "s" low $side "$(field "$f" monitor_cpu_s)"
    record "$key, mode" "" "" $side "$mode"
    [ "$mode" = idle ] || continue
    # one sample per window
    # the windows cover the first $deliveries (a hold longer than they take
    # goes on delivering: that is in the "all" rows only)
    wk="window of $(( deliveries / windows )) deliveries"
    awk -v side=$side -v wk="$wk" '
      function v(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
      /^window / && v("w_exists_ok_n") > 0 {
        printf "IDLE push latency p50 (delivering client'"'"'s OK read -> EXISTS read), per %s\tms\tlow\t%s\t%.2f\n", wk, side, v("w_exists_ok_p50_us") / 1000
        printf "IDLE push latency p99 (delivering client'"'"'s OK read -> EXISTS read), per %s\tms\tlow\t%s\t%.2f\n", wk, side, v("w_exists_ok_p99_us") / 1000
        printf "IDLE pushes read before the delivering client'"'"'s OK, per %s\t%%\thigh\t%s\t%.1f\n", wk, side, 100 * v("w_exists_before_ok_n") / v("w_exists_ok_n")
      }
      /^window / && v("w_exists_n") > 0 {
        printf "IDLE push latency p50 (APPEND sent -> EXISTS read), per %s\tms\tlow\t%s\t%.2f\n", wk, side, v("w_exists_p50_us") / 1000
        printf "IDLE push latency p99 (APPEND sent -> EXISTS read), per %s\tms\tlow\t%s\t%.2f\n", wk, side, v("w_exists_p99_us") / 1000
      }' "$f" >> "$W/results.tsv"
    # and over all the deliveries of the fleet (issue #8's figure: one sample)
    if [ "$(field "$f" exists_ok_n)" != 0 ]; then
      record "IDLE push latency p50 (delivering client's OK read -> EXISTS read), all the fleet's deliveries (>= $deliveries)" "ms" low $side "$(awk -v v="$(field "$f" exists_ok_p50_us)" 'BEGIN{printf "%.2f", v/1000}')"
      record "IDLE push latency p99 (delivering client's OK read -> EXISTS read), all the fleet's deliveries (>= $deliveries)" "ms" low $side "$(awk -v v="$(field "$f" exists_ok_p99_us)" 'BEGIN{printf "%.2f", v/1000}')"
    fi
  done
  if [ "${IDLE_MODE:-}" = selected ]; then
    note "IDLE push latency (APPEND -> EXISTS)" ph "IDLE command not yet available in imap4"
    note "IDLE push latency (APPEND -> EXISTS)" inc "not measured while Posthorn has no IDLE"
  fi
}

count_files () { local n=0 d; for d in "$@"; do [ -d "$d" ] && n=$((n + $(ls -f "$d" | wc -l) - 2)); done; echo $n; }

start_postfix () {  # the Postfix instance in $W/postfix, relaying example.org to LMTP port $1
  local dir="$W/postfix" lmtp=$1
  mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
  chown postfix "$dir/data"
  cat > "$dir/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.net
mydomain = example.net
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.org
relay_recipient_maps =
relay_transport = lmtp:inet:127.0.0.1:$lmtp
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
lmtp_destination_concurrency_limit = 20
biff = no
alias_maps =
alias_database =
local_recipient_maps =
CONF
  cat > "$dir/conf/master.cf" <<CONF
127.0.0.1:22125 inet n - n - 100 smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
  postfix -c "$dir/conf" set-permissions >/dev/null 2>&1 || true
  POSTFIX_DIRS+=("$dir/conf")
  postfix -c "$dir/conf" start >> "$dir/start.log" 2>&1 || { log "postfix did not start: $(tail -3 "$dir/start.log")"; return 1; }
  wait_port 22125 || return 1
  PF_PID=$(tr -d ' ' < "$dir/queue/pid/master.pid")
}

load_smtp () {
  local m; m=$(scaled 20000 200)
  local sessions=20 size=10240 r f rate
  start_posthorn ph-smtp "auth-passwd-file;storage-sqlite;smtp" "[smtp]
hostname=bench.example.org
domains=example.org
listen=127.0.0.1:22025"
  local ph=$PH_PID
  start_dovecot dc-lmtp lmtp "service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 22124
  }
}"
  local dc=$DC_PID
  smtp-sink -u nobody 127.0.0.1:22026 256 > "$W/smtp-sink.log" 2>&1 &
  local sink=$!
  PIDS+=("$sink")
  wait_port 22025; wait_port 22124; wait_port 22026
  local pf=""
  if start_postfix 22124; then pf=$PF_PID; else note "SMTP messages/s ($m x 10 KB, 20 sessions)" inc "Postfix did not start here"; fi

  local src=(smtp-source -d -s "$sessions" -m "$m" -l "$size" -M bench.example.net -f sender@example.net -t bench1@example.org)
  log "smtp: warm-up"
  smtp-source -d -s 4 -m 100 -l "$size" -M bench.example.net -f sender@example.net -t bench1@example.org 127.0.0.1:22025
  [ -n "$pf" ] && smtp-source -d -s 4 -m 100 -l "$size" -M bench.example.net -f sender@example.net -t bench1@example.org 127.0.0.1:22125
  local dc_new="$W/dc-lmtp/mail/bench1@example.org/new" dc_cur="$W/dc-lmtp/mail/bench1@example.org/cur"
  for _ in $(seq 100); do [ "$(count_files "$dc_new" "$dc_cur")" -ge 100 ] && break; sleep 0.2; done

  cat > "$W/postfix-run.sh" <<SH
#!/bin/sh
# smtp-source into Postfix, then wait until Dovecot has stored every message
before=\$(ls -f "$dc_new" | wc -l)
${src[*]} 127.0.0.1:22125 || exit 1
want=\$((before + $m))
while [ "\$(ls -f "$dc_new" | wc -l)" -lt "\$want" ]; do sleep 0.05; done
SH
  chmod +x "$W/postfix-run.sh"

  for r in $(seq 1 "$RUNS"); do
    log "smtp: run $r/$RUNS, $m messages, posthornd"
    f="$W/smtp-ph-r$r.txt"
    if measure "$ph" "$f" -- "${src[@]}" 127.0.0.1:22025; then
      rate=$(awk -v m="$m" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", m/w}')
      record "SMTP messages/s ($m x 10 KB, 20 sessions, durable)" "msg/s" high ph "$rate"
      record "SMTP peak RSS" "MiB" low ph "$(awk -v v="$(field "$f" server_peak_rss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
      record "SMTP peak PSS" "MiB" low ph "$(awk -v v="$(field "$f" server_peak_pss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
      record "SMTP server CPU s / 1000 messages" "s" low ph "$(awk -v a="$(field "$f" server_cpu_s)" -v m="$m" 'BEGIN{printf "%.2f", a*1000/m}')"
      record "SMTP smtp-source CPU % of one core" "%" low ph "$(awk -v a="$(field "$f" gen_cpu_s)" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", 100*a/w}')"
    fi
    if [ -n "$pf" ]; then
      log "smtp: run $r/$RUNS, $m messages, postfix -> dovecot lmtp"
      f="$W/smtp-inc-r$r.txt"
      if measure "$pf,$dc" "$f" -- timeout 1200 "$W/postfix-run.sh"; then
        rate=$(awk -v m="$m" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", m/w}')
        record "SMTP messages/s ($m x 10 KB, 20 sessions, durable)" "msg/s" high inc "$rate"
        record "SMTP peak RSS" "MiB" low inc "$(awk -v v="$(field "$f" server_peak_rss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
      record "SMTP peak PSS" "MiB" low inc "$(awk -v v="$(field "$f" server_peak_pss_kb)" 'BEGIN{printf "%.1f", v/1024}')"
        record "SMTP server CPU s / 1000 messages" "s" low inc "$(awk -v a="$(field "$f" server_cpu_s)" -v m="$m" 'BEGIN{printf "%.2f", a*1000/m}')"
        record "SMTP smtp-source CPU % of one core" "%" low inc "$(awk -v a="$(field "$f" gen_cpu_s)" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", 100*a/w}')"
      fi
    fi
    log "smtp: run $r/$RUNS, $m messages, smtp-sink"
    f="$W/smtp-sink-r$r.txt"
    if measure "$sink" "$f" -- "${src[@]}" 127.0.0.1:22026; then
      rate=$(awk -v m="$m" -v w="$(field "$f" wall_s)" 'BEGIN{printf "%.1f", m/w}')
      record "SMTP messages/s vs smtp-sink (protocol ceiling)" "msg/s" high inc "$rate"
    fi
  done
  local side
  for side in ph inc sink; do
    printf '%s\t%s\n' "smtp: $side, $RUNS runs (sum of the timed runs)" \
      "$(cat "$W"/smtp-$side-r*.txt 2>/dev/null | awk '/^procmon / { for (i = 1; i <= NF; i++) if ($i ~ /^wall_s=/) { sub(/^wall_s=/, "", $i); t += $i } } END { printf "%.0f", t }')" >> "$W/times.tsv"
  done
  # Posthorn's side of the ceiling row is its own rate
  awk -F'\t' '$1 ~ /^SMTP messages\/s \(/ && $4 == "ph" { OFS="\t"; $1 = "SMTP messages/s vs smtp-sink (protocol ceiling)"; print }' \
    "$W/results.tsv" >> "$W/results.tsv.add" && cat "$W/results.tsv.add" >> "$W/results.tsv" && rm -f "$W/results.tsv.add"
  stop_pid "$ph"; stop_pid "$dc"; stop_pid "$sink"
  [ -n "$pf" ] && postfix -c "$W/postfix/conf" stop >/dev/null 2>&1 || true
}

load_pop3 () {
  # bench/pop3/run.sh (the pop3 helper's) starts its own posthornd and
  # dovecot-pop3d, seeds both the same, and runs ROUNDS rounds of each
  # scenario; we collect every round's figures.
  local big per f
  big=$(scaled 1000 20); per=$(scaled 100 5)
  f="$W/pop3.txt"
  log "pop3: $RUNS rounds ($big x 100 KB in one session; 20 users x $per in parallel)"
  if ! BIG_COUNT=$big PER_USER=$per USERS=20 MSG_SIZE=102400 ROUNDS=$RUNS \
       bash "$ROOT/bench/pop3/run.sh" "$BUILD" > "$f" 2> "$f.err"; then
    log "pop3: bench/pop3/run.sh failed: $(tail -2 "$f.err")"
    note "POP3 MB/s, 1 session ($big x 100 KB)" ph "bench/pop3/run.sh failed: $(tail -1 "$f.err")"
    note "POP3 MB/s, 1 session ($big x 100 KB)" inc "bench/pop3/run.sh failed"
    return 0
  fi
  awk -v big="$big" -v per="$per" '
    /^(one|parallel) round [0-9]+ (posthornd|dovecot):/ {
      side = ($4 == "posthornd:") ? "ph" : "inc"
      what = ($1 == "one") ? "1 session (" big " x 100 KB)" : "20 sessions (20 users x " per " x 100 KB)"
      mbs = ""; rss = ""
      for (i = 5; i <= NF; i++) {
        if ($i ~ /^MB\/s=/) { sub(/^MB\/s=/, "", $i); mbs = $i }
        if ($i ~ /^peak_rss_kb=/) { sub(/^peak_rss_kb=/, "", $i); rss = sprintf("%.1f", $i / 1024) }
      }
      if (mbs != "") printf "POP3 MB/s, %s\tMB/s\thigh\t%s\t%s\n", what, side, mbs
      if (rss != "") printf "POP3 peak RSS, %s\tMiB\tlow\t%s\t%s\n", what, side, rss
    }' "$f" >> "$W/results.tsv"
}

load_store () {
  # bench/store/run.sh (the store helper's): the store API in-process, no
  # incumbent runs the same thing. Each plugin of BENCH_STORES side by side
  # (issue #9: storage-maildir next to storage-sqlite):
  # - the big mailboxes: seeds, not measured figures, made first, all
  #   stores' seeds at once (nothing measured runs meanwhile), under
  #   eatmydata (fsync a no-op: the bytes and the database end up as a
  #   durable fill leaves them, only sooner), then sync. storage-sqlite's
  #   through the store API (64 appends in flight); storage-maildir's as
  #   message files written into the folder's cur/ and indexed by the
  #   store's own folder scan at the first open (bench-store
  #   --seed-files: the path of another program delivering into it);
  # - the appends (issue #4: 10,000 x 10 KB, 1 and 8 clients, each
  #   durable): one run per store, in a state dir of their own;
  # - then BENCH_RUNS measured runs on the big mailbox, each a restart, a
  #   warm read-only open, the timed read-write open (SELECT) and the
  #   listing.
  local appends big f d st t0 tag r fill_cmd=() seed_args=() seeds=()
  local stores
  read -ra stores <<< "${BENCH_STORES:-storage-sqlite storage-maildir}"
  appends=$(scaled 10000 200); big=$(scaled 100000 1000)
  local why="no incumbent: Posthorn's store API, in-process"
  command -v eatmydata >/dev/null && fill_cmd=(eatmydata)
  mkdir -p "$W/store"
  # bench/store/run.sh compiles bench-store once; the seeds use it
  if ! bash "$ROOT/bench/store/run.sh" "$BUILD" --appends 0 --big 0 > "$W/store-compile.txt" 2>&1; then
    log "store: bench/store/run.sh did not build bench-store: $(tail -2 "$W/store-compile.txt")"
    note "store append 10 KB, 1 client" ph "bench/store/run.sh failed: $(tail -1 "$W/store-compile.txt")"
    return 0
  fi

  log "store: seeding a $big-message mailbox for each of ${stores[*]}, side by side (${fill_cmd[*]:-with fsync: eatmydata is missing})"
  t0=$(date +%s)
  for st in "${stores[@]}"; do
    tag=${st#storage-}
    d="$W/store/big-$tag"
    mkdir -p "$d"
    seed_args=()
    [ "$st" = storage-maildir ] && seed_args=(--seed-files)
    POSTHORN_PLUGIN_DIR="$BUILD/plugins" "${fill_cmd[@]}" "$BUILD/bench-store" --store "$st" \
      --appends 0 --big "$big" --dir "$d" "${seed_args[@]}" > "$W/store-$tag-seed.txt" 2>&1 &
    seeds+=("$!:$st")
  done
  local failed=" " entry
  for entry in "${seeds[@]}"; do
    if ! wait "${entry%%:*}"; then
      st=${entry#*:}; tag=${st#storage-}
      log "store: the $st seed failed: $(tail -2 "$W/store-$tag-seed.txt")"
      note "store ($tag) open of a $big-message mailbox" ph "the seed failed"
      failed+="$st "
    fi
  done
  sync
  phase_time "store: seeds of ${stores[*]}, side by side (not measured)" "$t0"
  for st in "${stores[@]}"; do
    tag=${st#storage-}
    printf '%s\t%s\n' "store: $st seed alone, as it ran beside the others (not measured)" \
      "$(sed -n 's/^fill .*: \([0-9.]*\) s, .*/\1/p; s/^warm-up open (not timed): *\([0-9.]*\) ms/\1/p' "$W/store-$tag-seed.txt" \
         | awk 'NR == 1 { t = $1 } NR == 2 { t += $1 / 1000 } END { printf "%.0f", t }')" >> "$W/times.tsv"
  done

  for st in "${stores[@]}"; do
    tag=${st#storage-}
    f="$W/store-$tag-append.txt"
    log "store: $st, $appends appends x 10 KB, 1 and 8 clients (one run)"
    t0=$(date +%s)
    if ! TMPDIR="$W/store" bash "$ROOT/bench/store/run.sh" "$BUILD" --store "$st" --appends "$appends" \
         --size 10240 --big 0 > "$f" 2> "$f.err"; then
      log "store: bench/store/run.sh failed: $(tail -2 "$f.err")"
      note "store ($tag) append 10 KB, 1 client" ph "bench/store/run.sh failed: $(tail -1 "$f.err")"
    else
      sed -n 's/^append .* 1 client: .* \([0-9.]*\) messages\/s/\1/p' "$f" | while read -r v; do record "store ($tag) append 10 KB, 1 client" "msg/s" high ph "$v"; done
      sed -n 's/^append .* 8 clients: .* \([0-9.]*\) messages\/s/\1/p' "$f" | while read -r v; do record "store ($tag) append 10 KB, 8 clients" "msg/s" high ph "$v"; done
    fi
    phase_time "store: $st appends" "$t0"

    d="$W/store/big-$tag"
    if [ "${failed#* $st }" = "$failed" ]; then
      t0=$(date +%s)
      for r in $(seq 1 "$RUNS"); do
        f="$W/store-$tag-open-r$r.txt"
        log "store: $st, run $r/$RUNS: open and list the $big-message mailbox"
        if ! POSTHORN_PLUGIN_DIR="$BUILD/plugins" "$BUILD/bench-store" --store "$st" --appends 0 \
             --big "$big" --dir "$d" > "$f" 2>&1; then
          log "store: $st open run $r failed: $(tail -2 "$f")"; continue
        fi
        sed -n 's/^open (SELECT) \([0-9]*\) messages: *\([0-9.]*\) ms.*/\2/p' "$f" | while read -r v; do record "store ($tag) open of a $big-message mailbox" "ms" low ph "$v"; done
        sed -n 's/^list all UIDs and flags: *\([0-9.]*\) ms.*/\1/p' "$f" | while read -r v; do record "store ($tag) list all UIDs+flags, $big messages" "ms" low ph "$v"; done
        sed -n 's/^view memory: .* = \([0-9.]*\) B\/message.*/\1/p' "$f" | while read -r v; do record "store ($tag) memory of the open view" "B/message" low ph "$v"; done
      done
      phase_time "store: $st open and list, $RUNS runs" "$t0"
    fi
    rm -rf "$d"
    for k in "store ($tag) append 10 KB, 1 client" "store ($tag) append 10 KB, 8 clients" \
             "store ($tag) open of a $big-message mailbox" "store ($tag) list all UIDs+flags, $big messages" \
             "store ($tag) memory of the open view"; do
      note "$k" inc "$why"
    done
  done
}

# --------------------------------------------------------------- table --

print_table () {  # [FILE]: results.tsv by default
  # median [min-max] of each side, ratio = Posthorn/incumbent oriented so
  # that > 1 means Posthorn is better
  awk -F'\t' '
    function median(list,   a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      lo = a[1]; hi = a[n]; cnt = n
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function cell(key,   m) {
      if (key in na) return na[key]
      if (!(key in vals)) return "-"
      m = median(vals[key]); med[key] = m
      if (cnt == 1 || lo == hi) return fmt(m)
      return sprintf("%s [%s-%s]", fmt(m), fmt(lo), fmt(hi))
    }
    function fmt(v) {
      if (v !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) return v
      return (v + 0 >= 100 || v == int(v)) ? sprintf("%.0f", v) : sprintf("%.3g", v)
    }
    {
      if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
      if ($2 != "") unit[$1] = $2
      if ($3 != "") better[$1] = $3
      if ($5 ~ /^n\/a/) { na[$1 SUBSEP $4] = $5; next }
      vals[$1 SUBSEP $4] = vals[$1 SUBSEP $4] " " $5
    }
    END {
      printf "| %s | %s | %s | %s |\n", "figure", "Posthorn", "incumbent", "ratio"
      printf "|---|---|---|---|\n"
      for (i = 1; i <= n; i++) {
        f = order[i]
        a = cell(f SUBSEP "ph"); b = cell(f SUBSEP "inc")
        ratio = "-"
        if ((f SUBSEP "ph") in med && (f SUBSEP "inc") in med && med[f SUBSEP "ph"] > 0 && med[f SUBSEP "inc"] > 0 && f !~ /errors|given up|established|generator|monitor|mode|smtp-source CPU/) {
          r = (better[f] == "low") ? med[f SUBSEP "inc"] / med[f SUBSEP "ph"] : med[f SUBSEP "ph"] / med[f SUBSEP "inc"]
          ratio = sprintf("%.2fx", r)
        }
        u = (unit[f] != "") ? " (" unit[f] ")" : ""
        printf "| %s%s | %s | %s | %s |\n", f, u, a, b, ratio
      }
    }' "${1:-$W/results.tsv}"
}

plot_imap () {
  # ops/s against clients for both servers -> bench/imap-throughput.png
  command -v gnuplot >/dev/null || return 0
  awk -F'\t' '$1 ~ /^IMAP ops\/s, / && $5 !~ /n\/a/ {
      c = $1; sub(/^IMAP ops\/s, /, "", c); sub(/ clients$/, "", c)
      v[c, $4] = v[c, $4] " " $5; cs[c] = 1 }
    function median(list,   a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { for (c in cs) printf "%s %s %s\n", c, median(v[c, "ph"]), median(v[c, "inc"]) }' \
    "$W/results.tsv" | sort -n > "$W/imap-plot.dat"
  [ -s "$W/imap-plot.dat" ] || return 0
  gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$ROOT/bench/imap-throughput.png"
set title "IMAP mixed session: operations/s against concurrent clients ($(nproc) CPUs)"
set xlabel "concurrent clients"
set ylabel "operations/s (median of $RUNS runs)"
set logscale x
set xtics (1, 10, 50)
set key top left
set grid
plot "$W/imap-plot.dat" using 1:2 with linespoints lw 2 title "posthornd", \
     "$W/imap-plot.dat" using 1:3 with linespoints lw 2 title "Dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1)"
GP
}

# ---------------------------------------------------------------- main --

started=$(date +%s)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
install_packages
build_posthorn
setup_s=$(( $(date +%s) - started ))
W=$(mktemp -d /tmp/posthorn-bench.XXXXXX)
chmod 755 "$W"
: > "$W/results.tsv"
printf '%s\t%s\n' "packages and build" "$setup_s" > "$W/times.tsv"
: > "$W/ops.tsv"
write_users "$(( IMAP_USERS > 100 ? IMAP_USERS : 100 ))"
for l in "${LOADS[@]}"; do
  t_load=$(date +%s)
  case "$l" in
    imap) load_imap ;;
    idle) load_idle ;;
    smtp) load_smtp ;;
    pop3) load_pop3 ;;
    store) load_store ;;
  esac
  phase_time "load $l" "$t_load"
done
[ -n "${IMAP_PH_PID:-}" ] && stop_pid "$IMAP_PH_PID" && stop_pid "$IMAP_DC_PID"
plot_imap || true

echo
echo "# Posthorn $REVISION vs $(dovecot --version 2>/dev/null | sed 's/^/Dovecot /') / Postfix $(postconf -d -h mail_version 2>/dev/null)"
echo "# $(uname -srm), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, load average at start: $load_at_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench/run.sh ${LOADS[*]}: BENCH_SCALE=$SCALE BENCH_RUNS=$RUNS BENCH_SECONDS=$SECS, $(( $(date +%s) - started )) s"
[ "${IDLE_MODE:-}" = selected ] && echo "# IDLE fleet: idle selected sessions, IDLE command not yet available in imap4"
echo "# wall time: $(awk -F'\t' '$1 == "packages and build" || $1 ~ /^load / { sub(/^load /, "", $1); printf "%s%s %s s", sep, $1, $2; sep = ", " }' "$W/times.tsv")"
echo "# cells: median [min-max] of the runs; ratio > 1 means Posthorn is better (for times and memory: incumbent/Posthorn)"
print_table
echo
echo "# wall time of each phase (s)"
awk -F'\t' '{ printf "#   %6d  %s\n", $2, $1 }' "$W/times.tsv"
if [ -s "$W/ops.tsv" ]; then
  echo
  echo "# IMAP latency of each command (connect: to the greeting), median [min-max] of the runs"
  print_table "$W/ops.tsv"
fi
