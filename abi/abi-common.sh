# Shared by check-abi.sh and update-baseline.sh (sourced, not run).
# abi_dump BUILD OUT: the ABI of BUILD's libposthorn-1.so as libabigail XML,
# restricted to the types of the public headers (as installed: the source
# headers plus the generated posthorn-version.h).

ABI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(dirname "$ABI_DIR")
BASELINE=$ABI_DIR/posthorn-1.abi
SUPPRESSIONS=$ABI_DIR/posthorn.suppr

abi_build_source () {  # the source tree BUILD was configured from
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
    "$1/meson-info/meson-info.json"
}

abi_headers () {  # abi_headers BUILD DEST: the installed header set in DEST/posthorn
  local source
  source=$(abi_build_source "$1") || return 1
  mkdir -p "$2/posthorn" &&
    cp "$source"/core/include/posthorn/*.h "$2/posthorn/" &&
    cp "$1/core/include/posthorn/posthorn-version.h" "$2/posthorn/"
}

abi_library () {  # the real file behind libposthorn-1.so.0 in BUILD
  local lib
  lib=$(find "$1/core" -maxdepth 1 -name 'libposthorn-1.so.0.*' -type f | head -n 1)
  [ -n "$lib" ] || { echo "no libposthorn-1.so.0.* in $1/core (build first)" >&2; return 1; }
  echo "$lib"
}

abi_dump () {
  local build=$1 out=$2 tmp lib
  tmp=$(mktemp -d) || return 1
  lib=$(abi_library "$build") && abi_headers "$build" "$tmp" &&
    abidw --headers-dir "$tmp" --drop-private-types --no-corpus-path \
          --suppressions "$SUPPRESSIONS" --out-file "$out" "$lib"
  local status=$?
  rm -rf "$tmp"
  return $status
}

abi_version () {  # abi_version HEADER: "MAJOR.MINOR" from a posthorn-version.h
  awk '$1 == "#define" && $2 == "POSTHORN_ABI_MAJOR" {ma=$3}
       $1 == "#define" && $2 == "POSTHORN_ABI_MINOR" {mi=$3}
       END {if (ma != "" && mi != "") print ma "." mi}' "$1"
}

# abi_compare OLD NEW: abidiff's exit status, report on stdout. Bit 8: an
# incompatible change; bit 4: some other change to what existed. Added
# functions and variables are compatible and are not reported.
# An unreadable file counts as an abidiff error (bit 1): abidiff itself
# may print a parser error and still exit 0.
abi_compare () {
  local errors status
  errors=$(mktemp) || return 1
  abidiff --no-added-syms --suppressions "$SUPPRESSIONS" "$1" "$2" 2>"$errors"
  status=$?
  if [ -s "$errors" ]; then
    cat "$errors"
    status=$((status | 1))
  fi
  rm -f "$errors"
  return $status
}
