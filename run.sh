#!/usr/bin/env bash
# Installs what is missing, builds Posthorn and starts a demo server on
# unprivileged loopback ports with SQLite storage, a demo user and a
# generated self-signed certificate. Everything lives in ./demo/.
#   ./run.sh            build and run in the foreground (Ctrl-C stops it)
#   ./run.sh --reset    forget the demo state (mail, users, certificate) first
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
posthorn_install_deps "${POSTHORN_BUILD_DEPS[@]}" gnutls-bin

if [ "${1:-}" = "--reset" ]; then rm -rf demo; fi

if [ ! -d build ]; then meson setup build >/dev/null; fi
meson compile -C build >/dev/null

demo="$PWD/demo"
mkdir -p "$demo/state" "$demo/tls"
chmod 700 "$demo/state"

if [ ! -f "$demo/tls/key.pem" ]; then
  certtool --generate-privkey --key-type=ecdsa --outfile "$demo/tls/key.pem" 2>/dev/null
  cat > "$demo/tls/cert.tmpl" <<TMPL
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
expiration_days = 365
tls_www_server
TMPL
  certtool --generate-self-signed --load-privkey "$demo/tls/key.pem" \
    --template "$demo/tls/cert.tmpl" --outfile "$demo/tls/cert.pem" 2>/dev/null
fi

if [ ! -f "$demo/users" ]; then
  : > "$demo/users"
  chmod 600 "$demo/users"
  printf 'demo\n' | build/core/posthornctl user add --file "$demo/users" --stdin demo@example.org
fi

have () { [ -f "build/plugins/$1.so" ]; }
plugins="auth-passwd-file;storage-sqlite"
for p in pop3 imap4 smtp; do if have "$p"; then plugins="$plugins;$p"; fi; done

cat > "$demo/posthorn.conf" <<CONF
# Written by run.sh. See data/posthorn.conf.example for every key.
[core]
plugins=$plugins
# The demo runs as whoever started it (root must be named explicitly).
user=$(id -un)
plugin_dir=$PWD/build/plugins
state_dir=$demo/state

[tls]
certificate=$demo/tls/cert.pem
key=$demo/tls/key.pem

[auth-passwd-file]
path=$demo/users

[storage-sqlite]
path=$demo/state/mail.db
CONF
if have imap4; then printf '\n[imap4]\nlisten=127.0.0.1:1143\nlisten_tls=127.0.0.1:1993\n' >> "$demo/posthorn.conf"; fi
if have pop3; then printf '\n[pop3]\nlisten=127.0.0.1:1110\nlisten_tls=127.0.0.1:1995\n' >> "$demo/posthorn.conf"; fi
if have smtp; then
  printf '\n[smtp]\nhostname=localhost\ndomains=example.org\nlisten=127.0.0.1:2525\nsubmission=127.0.0.1:1587\nsubmission_tls=127.0.0.1:1465\n' >> "$demo/posthorn.conf"
fi
printf '\n[dbus]\nbus=none\n' >> "$demo/posthorn.conf"

cat <<MSG
Posthorn demo: user demo@example.org, password demo (config: demo/posthorn.conf)
Plugins: ${plugins//;/, }
MSG
have imap4 && echo "  IMAP   127.0.0.1:1143 (STARTTLS), 127.0.0.1:1993 (TLS)   curl -k --ssl-reqd imap://127.0.0.1:1143/INBOX -u demo@example.org:demo"
have pop3 && echo "  POP3   127.0.0.1:1110 (STLS), 127.0.0.1:1995 (TLS)       curl -k --ssl-reqd pop3://127.0.0.1:1110/ -u demo@example.org:demo"
have smtp && echo "  SMTP   127.0.0.1:2525 (MX), 1587 (submission), 1465 (submissions)"
echo "  Thunderbird: server 127.0.0.1, the ports above, accept the self-signed certificate."
exec build/core/posthornd -c "$demo/posthorn.conf" --foreground
