#!/usr/bin/env bash
# Installs the Debian packages Posthorn needs to build and test, if missing.
# Sourced by run.sh and test.sh; safe to run again.
set -euo pipefail

POSTHORN_BUILD_DEPS=(
  gcc meson ninja-build pkg-config
  libglib2.0-dev libgnutls28-dev libsqlite3-dev libgmime-3.0-dev
  libgsasl-dev libltdl-dev libcrypt-dev zlib1g-dev scdoc
)
# Real clients and tools the test suite talks to the server with.
POSTHORN_TEST_DEPS=(
  gnutls-bin python3 curl dbus
  swaks libnet-ssleay-perl msmtp fetchmail isync
  abigail-tools systemd
)

posthorn_install_deps () {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "Installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
