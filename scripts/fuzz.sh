#!/usr/bin/env bash
# Runs each cargo-fuzz target for N seconds (default 20; the documented long run
# is `./scripts/fuzz.sh 3600`). Needs cargo-fuzz; installs it if missing. Stable
# Rust is enough with RUSTC_BOOTSTRAP=1 (cargo-fuzz uses -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  echo "fuzz: $target for ${seconds}s"
  cargo fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
  # libFuzzer exits non-zero on a crash; pipefail makes that fatal here.
done
