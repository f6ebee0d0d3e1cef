#!/bin/sh
# meson install script: puts the example posthorn.conf in place as
# SYSCONFDIR/posthorn/posthorn.conf and an empty users file beside it, but
# never replaces files that exist (an admin's edits survive reinstalls).
# Usage: install-config.sh EXAMPLE SYSCONFDIR
set -eu
example=$1
dir="${DESTDIR:-}$2/posthorn"

mkdir -p "$dir"
if [ -e "$dir/posthorn.conf" ]; then
  echo "Keeping the existing $dir/posthorn.conf"
else
  echo "Installing $dir/posthorn.conf"
  install -m 0644 "$example" "$dir/posthorn.conf"
fi
if [ ! -e "$dir/users" ]; then
  echo "Installing an empty $dir/users"
  (umask 027 && : > "$dir/users")
fi
