#!/usr/bin/env bash
# The installed SDK, end to end (TAP): `meson install --destdir` the current
# build into a temporary folder, check what went where, build
# plugins/examples/example-status out of tree against that folder only
# (PKG_CONFIG_PATH), and run the *installed*
# posthornd with it: --check-config, a real start, a conversation with the
# plugin, a clean stop. Then the shipped configs and the systemd unit.
#
# Usage: test-sdk.sh MESON BUILD_ROOT SOURCE_ROOT
set -uo pipefail

MESON=$1
BUILD=$2
SOURCE=$3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/posthorn-sdk.XXXXXX")
STAGE=$TMP/stage
DAEMON_PID=
trap 'if [ -n "$DAEMON_PID" ]; then kill -9 "$DAEMON_PID" 2>/dev/null; fi; rm -rf "$TMP"' EXIT

echo "1..15"
n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () {
  n=$((n + 1)); failed=1; echo "not ok $n - $1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then sed 's/^/# /' "$2" | tail -n 40; fi
}
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check DESCRIPTION LOGFILE COMMAND...: one test case from one command.
check () {
  local what=$1 log=$2
  shift 2
  if "$@" >"$log" 2>&1; then ok "$what"; else not_ok "$what" "$log"; fi
}

# Read the build's own directories, so the test follows -Dprefix/-Dlibdir.
option () {
  "$MESON" introspect --buildoptions "$BUILD" |
    python3 -c "import json,sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name']=='$1'))"
}
PREFIX=$(option prefix)
LIBDIR=$(option libdir); case $LIBDIR in /*) ;; *) LIBDIR=$PREFIX/$LIBDIR ;; esac
SBINDIR=$(option sbindir); case $SBINDIR in /*) ;; *) SBINDIR=$PREFIX/$SBINDIR ;; esac
BINDIR=$(option bindir); case $BINDIR in /*) ;; *) BINDIR=$PREFIX/$BINDIR ;; esac
INCLUDEDIR=$(option includedir); case $INCLUDEDIR in /*) ;; *) INCLUDEDIR=$PREFIX/$INCLUDEDIR ;; esac
SYSCONFDIR=$(option sysconfdir); case $SYSCONFDIR in /*) ;; *) SYSCONFDIR=$PREFIX/$SYSCONFDIR ;; esac
DATADIR=$(option datadir); case $DATADIR in /*) ;; *) DATADIR=$PREFIX/$DATADIR ;; esac
MANDIR=$(option mandir); case $MANDIR in /*) ;; *) MANDIR=$PREFIX/$MANDIR ;; esac
PLUGINDIR=$LIBDIR/posthorn-1/plugins

# 1. meson install into the staging folder.
if ! "$MESON" install -C "$BUILD" --destdir "$STAGE" --no-rebuild --quiet >"$TMP/install.log" 2>&1; then
  not_ok "meson install --destdir" "$TMP/install.log"
  for i in $(seq 2 15); do not_ok "skipped: nothing installed"; done
  exit 1
fi
ok "meson install --destdir"

# 2. The FHS layout the packages rely on.
layout () {
  local missing=0 f
  for f in "$SBINDIR/posthornd" "$BINDIR/posthornctl" "$LIBDIR/libposthorn-1.so.0" \
           "$LIBDIR/libposthorn-1.so" "$LIBDIR/pkgconfig/posthorn-1.pc" \
           "$PLUGINDIR/storage-sqlite.so" "$PLUGINDIR/auth-passwd-file.so" \
           "$INCLUDEDIR/posthorn-1/posthorn/posthorn.h" \
           "$INCLUDEDIR/posthorn-1/posthorn/posthorn-version.h" \
           "$SYSCONFDIR/posthorn/posthorn.conf" "$SYSCONFDIR/posthorn/users" \
           "$DATADIR/posthorn/posthorn-user.conf"; do
    if [ ! -e "$STAGE$f" ]; then echo "missing: $f"; missing=1; fi
  done
  for f in posthorn.service sysusers.d/posthorn.conf tmpfiles.d/posthorn.conf; do
    if ! find "$STAGE" -path "*/$f" | grep -q .; then echo "missing: */$f"; missing=1; fi
  done
  [ $missing -eq 0 ] || return 1
  # The library's soname is what libposthorn-1-0 is named after.
  readelf -d "$STAGE$LIBDIR/libposthorn-1.so.0" | grep -q 'SONAME.*\[libposthorn-1\.so\.0\]' ||
    { echo "no SONAME libposthorn-1.so.0"; return 1; }
}
check "installed layout (sbin, bin, libdir soname, plugins, headers, .pc, config, units)" "$TMP/layout.log" layout

# 3. Man pages, when scdoc was found at setup.
if [ -e "$BUILD/data/man/posthornd.8" ]; then
  man_pages () {
    local p
    for p in man8/posthornd.8 man5/posthorn.conf.5 man1/posthornctl.1 man7/posthorn-plugin.7; do
      [ -s "$STAGE$MANDIR/$p" ] || { echo "missing $MANDIR/$p"; return 1; }
      grep -q '^\.SH' "$STAGE$MANDIR/$p" || { echo "$p is not a man page"; return 1; }
    done
  }
  check "man pages posthornd(8) posthorn.conf(5) posthornctl(1) posthorn-plugin(7)" "$TMP/man.log" man_pages
else
  skip "man pages" "scdoc was not found when the build was configured"
fi

# 4. pkg-config sees the staged SDK, plugindir included. The staged .pc
# still names the real prefix; a copy relocated to the staging folder
# (prefix= only: every other path in it must derive from ${prefix}) is
# what an install into a temporary prefix would have written.
mkdir -p "$TMP/pkgconfig"
sed "s|^prefix=.*|prefix=$STAGE$PREFIX|" "$STAGE$LIBDIR/pkgconfig/posthorn-1.pc" \
  > "$TMP/pkgconfig/posthorn-1.pc"
export PKG_CONFIG_PATH=$TMP/pkgconfig
pc_check () {
  local dir cflags libs
  cat "$TMP/pkgconfig/posthorn-1.pc"
  dir=$(pkg-config --variable=plugindir posthorn-1) || return 1
  cflags=$(pkg-config --cflags posthorn-1) || return 1
  libs=$(pkg-config --libs posthorn-1) || return 1
  echo "plugindir=$dir cflags=$cflags libs=$libs"
  [ "$dir" = "$STAGE$PLUGINDIR" ] || { echo "plugindir is not $STAGE$PLUGINDIR"; return 1; }
  case $cflags in *"-I$STAGE$INCLUDEDIR/posthorn-1"*) ;; *) echo "no staged include dir"; return 1 ;; esac
  case $libs in *"-L$STAGE$LIBDIR "*) ;; *) echo "no staged library dir"; return 1 ;; esac
  [ "$(pkg-config --variable=abi_major posthorn-1)" = 1 ]
}
check "posthorn-1.pc: cflags and plugindir" "$TMP/pc.log" pc_check

# 5. The example plugin, out of tree: its source is copied away from the tree.
cp -r "$SOURCE/plugins/examples/example-status" "$TMP/example-src"
build_example () {
  "$MESON" setup "$TMP/example-build" "$TMP/example-src" \
      --prefix "$TMP/example-prefix" -Dplugindir="$STAGE$PLUGINDIR" -Dwerror=true &&
    ninja -C "$TMP/example-build" &&
    "$MESON" install -C "$TMP/example-build" --quiet &&
    [ -e "$STAGE$PLUGINDIR/example-status.so" ]
}
check "example-status builds out of tree with dependency('posthorn-1') only" "$TMP/example.log" build_example

# 6. It exports exactly its descriptor.
exports () {
  local symbols
  symbols=$(nm -D --defined-only "$STAGE$PLUGINDIR/example-status.so" | awk '{print $3}' |
            grep -v -e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' -e '^__bss_start$')
  echo "$symbols"
  [ "$symbols" = posthorn_plugin_example_status ]
}
check "example-status.so exports only posthorn_plugin_example_status" "$TMP/exports.log" exports

# The installed daemon, with the installed library and plugins only.
export LD_LIBRARY_PATH=$STAGE$LIBDIR
POSTHORND=$STAGE$SBINDIR/posthornd
mkdir -p "$TMP/state"
if [ "$(id -u)" = 0 ]; then RUN_AS="user=root"; else RUN_AS="#user="; fi
cat > "$TMP/example.conf" <<CONF
[core]
plugins=storage-sqlite;example-status
plugin_dir=$STAGE$PLUGINDIR
state_dir=$TMP/state
$RUN_AS

[dbus]
bus=none

[example-status]
listen=127.0.0.1:0
greeting=sdk test ready
CONF

# 7. --check-config loads it.
check_config () {
  "$POSTHORND" --check-config -c "$TMP/example.conf" &&
    "$POSTHORND" --check-config -c "$TMP/example.conf" | grep -q '^plugin example-status 1.0 protocol$' &&
    "$POSTHORND" --check-config -c "$TMP/example.conf" | grep -q '^example-status 127.0.0.1:0 plain$'
}
check "installed posthornd --check-config loads example-status" "$TMP/check.log" check_config

# 8-10. A real start, a conversation, a clean stop.
"$POSTHORND" -c "$TMP/example.conf" --ports-file "$TMP/ports" >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
port=
for _ in $(seq 1 100); do
  if [ -s "$TMP/ports" ]; then port=$(awk '$1 == "example-status" {print $3}' "$TMP/ports"); break; fi
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$port" ]; then ok "installed posthornd starts with example-status"
else not_ok "installed posthornd starts with example-status" "$TMP/daemon.log"; fi

talk () {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  expect () { IFS= read -r -t 5 line <&3; line=${line%$'\r'}; echo "< $line"; [ "$line" = "$1" ]; }
  expect "+OK sdk test ready" &&
    printf 'PING\r\n' >&3 && expect "+OK PONG" &&
    printf 'VERSION\r\n' >&3 && IFS= read -r -t 5 line <&3 && echo "< $line" &&
    case $line in "+OK posthorn "*" abi 1."*" plugin 1.0"*) ;; *) false ;; esac &&
    printf 'SESSIONS\r\n' >&3 && expect "+OK 1" &&
    printf 'NOPE\r\n' >&3 && expect "-ERR unknown command" &&
    printf 'QUIT\r\n' >&3 && expect "+OK bye" &&
    ! IFS= read -r -t 5 line <&3
  local status=$?
  exec 3>&-
  return $status
}
if [ -n "$port" ]; then check "example-status answers PING, VERSION, SESSIONS, QUIT" "$TMP/talk.log" talk
else not_ok "example-status answers: the daemon did not start"; fi

stop_daemon () {
  kill -TERM "$DAEMON_PID" && wait "$DAEMON_PID"
  local status=$?
  DAEMON_PID=
  return $status
}
if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
  check "SIGTERM stops the installed posthornd with status 0" "$TMP/daemon.log" stop_daemon
else not_ok "SIGTERM stops posthornd: it is not running" "$TMP/daemon.log"; fi

# 11. A plugin compiled against the baseline ABI headers (abi/include: the
# oldest minor of this major we promise) loads into the current daemon.
if [ -e "$SOURCE/abi/include/posthorn/posthorn.h" ]; then
  baseline_plugin () {
    local glib_cflags
    mkdir -p "$TMP/baseline-plugin"
    glib_cflags=$(pkg-config --cflags glib-2.0 gio-2.0) &&
      cc -std=c11 -shared -fPIC -fvisibility=hidden -Wall -Werror -Wno-unused-parameter \
         -I"$SOURCE/abi/include" $glib_cflags \
         -o "$TMP/baseline-plugin/example-status.so" \
         "$SOURCE/plugins/examples/example-status/example-status.c" \
         -L"$STAGE$LIBDIR" -lposthorn-1 &&
      sed "s|^plugin_dir=.*|plugin_dir=$TMP/baseline-plugin;$STAGE$PLUGINDIR|" \
        "$TMP/example.conf" > "$TMP/baseline.conf" &&
      "$POSTHORND" --check-config -c "$TMP/baseline.conf" | tee /dev/stderr |
        grep -q '^plugin example-status 1.0 protocol$'
  }
  check "a plugin built against the baseline ABI headers loads" "$TMP/baseline.log" baseline_plugin
else
  skip "a plugin built against the baseline ABI headers loads" "no abi/include baseline headers"
fi

# 12. The shipped posthorn.conf, with its absolute paths moved into the
# staging folder, passes --check-config.
shipped_config () {
  mkdir -p "$TMP/shipped-state"
  sed -e "s|^state_dir=.*|state_dir=$TMP/shipped-state|" \
      -e "s|^path=.*/posthorn/users$|path=$STAGE$SYSCONFDIR/posthorn/users|" \
      -e "s|^plugins=|plugin_dir=$STAGE$PLUGINDIR\nplugins=|" \
      "$STAGE$SYSCONFDIR/posthorn/posthorn.conf" > "$TMP/shipped.conf" || return 1
  if [ "$(id -u)" = 0 ] && ! getent passwd posthorn >/dev/null; then
    sed -i 's|^user=posthorn$|user=root|' "$TMP/shipped.conf"
  fi
  "$POSTHORND" --check-config -c "$TMP/shipped.conf"
}
check "the shipped posthorn.conf passes --check-config" "$TMP/shipped.log" shipped_config

# 13. The personal instance's template, as posthorn-user.service fills it in.
user_config () {
  mkdir -p "$TMP/user-config" "$TMP/user-state" &&
    sed -e "s|{STATE_DIR}|$TMP/user-state|g" \
        -e "s|^plugins=|plugin_dir=$STAGE$PLUGINDIR\nplugins=|" \
        "$STAGE$DATADIR/posthorn/posthorn-user.conf" > "$TMP/user-config/posthorn.conf" &&
    : > "$TMP/user-config/users" &&
    "$POSTHORND" --check-config -c "$TMP/user-config/posthorn.conf"
}
check "the per-user template posthorn-user.conf passes --check-config" "$TMP/user.log" user_config

# 14. The system unit's exposure (systemd-analyze security): at most 2.0.
unit=$(find "$STAGE" -path '*/system/posthorn.service' | head -n 1)
if command -v systemd-analyze >/dev/null 2>&1 && [ -n "$unit" ]; then
  security () {
    systemd-analyze security --offline=true --threshold=20 "$unit" | tail -n 1
  }
  check "systemd-analyze security posthorn.service: exposure <= 2.0" "$TMP/security.log" security
  sed 's/^/# /' "$TMP/security.log" | tail -n 1
else
  skip "systemd-analyze security posthorn.service" "systemd-analyze is not installed"
fi

# 15. posthorn.socket (socket activation) listens exactly where the shipped
# posthorn.conf's listeners are: a passed socket no listener matches is
# closed, and a listener whose port the socket unit holds could not bind.
socket_unit=$(find "$STAGE" -path '*/system/posthorn.socket' | head -n 1)
socket_matches_config () {
  [ -n "$socket_unit" ] || { echo "posthorn.socket is not installed"; return 1; }
  python3 - "$socket_unit" "$STAGE$SYSCONFDIR/posthorn/posthorn.conf" <<'PY'
import configparser, sys
unit = sorted(l.split('=', 1)[1].strip() for l in open(sys.argv[1])
              if l.startswith('ListenStream='))
conf = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=('#',))
conf.read(sys.argv[2])
listeners = []
for group in ('imap4', 'pop3', 'smtp'):
    for key in ('listen', 'listen_tls', 'submission', 'submission_tls', 'lmtp'):
        for entry in conf.get(group, key, fallback='').split(';'):
            entry = entry.strip()
            if entry:
                listeners.append(entry[5:] if entry.startswith('unix:') else entry)
listeners.sort()
print('socket unit:', unit)
print('posthorn.conf:', listeners)
sys.exit(0 if unit == listeners and unit else 1)
PY
}
check "posthorn.socket listens where the shipped posthorn.conf does" "$TMP/socket.log" socket_matches_config

exit $failed
