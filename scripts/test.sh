#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine, as root:
# installs the Debian packages the tests need, builds, runs the lint step
# (scripts/lint.sh: rustfmt, clippy, shell scripts), runs unit, integration and
# end-to-end (network-namespace lab) tests, then a short fuzz run of each target.
#
#   sudo ./scripts/test.sh            # everything
#   FUZZ_SECONDS=0 ./scripts/test.sh  # skip the fuzz run (local iterations)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the end-to-end tests need root (network namespaces, TUN): run with sudo" >&2
  exit 1
fi

./scripts/deps.sh

export CARGO_TERM_COLOR=never
cargo build --workspace --bins
./scripts/lint.sh
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$results" || status=$?

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if [ "$status" -eq 0 ] && [ "$FUZZ_SECONDS" -gt 0 ]; then
  ./scripts/fuzz.sh "$FUZZ_SECONDS"
fi

# One closing line for the whole run (cargo's last "test result" is often a
# doc-test binary with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
exit "$status"
