#!/usr/bin/env bash
# The ABI guard (TAP): abi/check-abi.sh on this build against the recorded
# baseline, and the rules of abi/posthorn.suppr on two small libraries that
# change the way a minor may (compatible) and may not (incompatible).
#
# Usage: test-abi.sh BUILD_ROOT SOURCE_ROOT
set -uo pipefail
BUILD=$1
SOURCE=$2

echo "1..3"
if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
  for i in 1 2 3; do echo "ok $i # SKIP abidw/abidiff not found (Debian package abigail-tools)"; done
  exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/posthorn-abi.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$SOURCE/abi/check-abi.sh" "$BUILD" > "$TMP/check.log" 2>&1
case $? in
  0) echo "ok 1 - libposthorn-1 is ABI-compatible with abi/posthorn-1.abi"
     sed 's/^/# /' "$TMP/check.log" | tail -n 2 ;;
  *) echo "not ok 1 - libposthorn-1 is ABI-compatible with abi/posthorn-1.abi"
     sed 's/^/# /' "$TMP/check.log" | tail -n 60 ;;
esac

# A toy ABI: v1 is the baseline; v2 changes it the way a minor may (a vtable
# with struct_size grows at its end, a function is added, a private ph_
# function goes); v3 the way only a major may (a function is removed, a
# struct the caller allocates grows).
source "$SOURCE/abi/abi-common.sh"
cd "$TMP" || exit 1
cat > map <<'MAP'
POSTHORN_1.0 { global: posthorn_*; };
POSTHORN_PRIVATE { global: ph_*; local: *; };
MAP
version () {  # version N HEADER-BODY C-BODY
  mkdir -p "h$1/posthorn"
  printf '%s\n' "$2" > "h$1/posthorn/toy.h"
  printf '#include <posthorn/toy.h>\n%s\n' "$3" > "l$1.c"
  cc -g -shared -fPIC -I"h$1" -Wl,--version-script=map -o "lib$1.so" "l$1.c" &&
    abidw --headers-dir "h$1" --drop-private-types --no-corpus-path \
          --suppressions "$SUPPRESSIONS" --out-file "$1.abi" "lib$1.so"
}
types='typedef struct { unsigned long struct_size; void (*accept) (void); } PosthornServiceVTable;
typedef struct { int messages; } PosthornMailboxStatus;'
grown='typedef struct { unsigned long struct_size; void (*accept) (void); void (*more) (int); } PosthornServiceVTable;
typedef struct { int messages; } PosthornMailboxStatus;'
changed='typedef struct { unsigned long struct_size; void (*accept) (void); } PosthornServiceVTable;
typedef struct { int messages; int unseen; } PosthornMailboxStatus;'
decls='void posthorn_service_new (const PosthornServiceVTable *v);
void posthorn_get_status (PosthornMailboxStatus *s);'
defs='void posthorn_service_new (const PosthornServiceVTable *v) { (void) v; }
void posthorn_get_status (PosthornMailboxStatus *s) { (void) s; }'
if version 1 "$types
$decls
void posthorn_old (int x);" "$defs
void posthorn_old (int x) { (void) x; }
void ph_private (int x) { (void) x; }" > toy.log 2>&1 &&
   version 2 "$grown
$decls
void posthorn_old (int x);
void posthorn_added (void);" "$defs
void posthorn_old (int x) { (void) x; }
void posthorn_added (void) { }
void ph_other (long x) { (void) x; }" >> toy.log 2>&1 &&
   version 3 "$changed
$decls" "$defs" >> toy.log 2>&1; then
  abi_compare 1.abi 2.abi > compatible.log 2>&1
  status=$?
  if [ $status -eq 0 ]; then
    echo "ok 2 - a vtable grown at its end, an added function and a changed ph_ symbol are compatible"
  else
    echo "not ok 2 - a compatible change is reported (status $status)"
    sed 's/^/# /' compatible.log
  fi
  abi_compare 1.abi 3.abi > incompatible.log 2>&1
  status=$?
  if [ $((status & 12)) -ne 0 ] && grep -q posthorn_old incompatible.log &&
     grep -q PosthornMailboxStatus incompatible.log; then
    echo "ok 3 - a removed function and a grown caller-allocated struct are incompatible"
  else
    echo "not ok 3 - an incompatible change is not reported (status $status)"
    sed 's/^/# /' incompatible.log
  fi
else
  echo "not ok 2 - could not build the toy libraries"
  echo "not ok 3 - could not build the toy libraries"
  sed 's/^/# /' toy.log
fi
