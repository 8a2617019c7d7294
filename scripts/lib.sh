# shellcheck shell=bash
# scripts/lib.sh: the helpers the scripts under scripts/ share (sourced, not run):
#   . "$(dirname "$0")/lib.sh"       from scripts/
#   . "$(dirname "$0")/../lib.sh"    from scripts/vm/, scripts/pkg/, scripts/bench/
#
# die prefixes its message with $LIB_NAME (default: the script's file name) and exits
# with $LIB_DIE_STATUS (default 1); set them before the first die if need be.

die() {
  echo "${LIB_NAME:-${0##*/}}: $*" >&2
  exit "${LIB_DIE_STATUS:-1}"
}

# Polls COMMAND... (output discarded) until it succeeds, for up to N tenths of a
# second: wait_for N COMMAND...
wait_for() {
  local n=$1 i=0
  shift
  while [ "$i" -lt "$n" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# ---- the small test framework of test-debs.sh and vm/pkg-mip6d.sh -----------------
# Each check prints "ok: WHAT" or "FAIL: WHAT"; test_summary NAME prints the counts and
# fails if any check did.
test_passed=0
test_failed=0
ok() {
  test_passed=$((test_passed + 1))
  echo "ok: $*"
}
bad() {
  test_failed=$((test_failed + 1))
  echo "FAIL: $*"
}
# check WHAT COMMAND...: ok if COMMAND succeeds (its output discarded).
check() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
# check_not WHAT COMMAND...: ok if COMMAND fails.
check_not() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then bad "$what"; else ok "$what"; fi
}
test_summary() {
  echo "$1: $test_passed passed, $test_failed failed"
  [ "$test_failed" -eq 0 ]
}
# Runs COMMAND... chrooted in the Debian root $R with a minimal environment.
in_root() {
  chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# ---- benchmarks' --record -----------------------------------------------------------
# Prints ARGS... as a user would type them: a path inside the repository ROOT (first
# argument) relative to it, any other absolute path as PATH/<its file name>.
record_args() {
  local root=$1 a words=()
  shift
  for a in "$@"; do
    case "$a" in
      "$root"/*) words+=("${a#"$root"/}") ;;
      /*) words+=("PATH/${a##*/}") ;;
      *) words+=("$a") ;;
    esac
  done
  echo "${words[*]}"
}
