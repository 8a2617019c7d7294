#!/usr/bin/env bash
# Runs cargo-fuzz targets one after the other, each for SECONDS (default 20),
# from the committed seed corpus (docs/fuzzing.md):
#   ./scripts/fuzz.sh                  every target, 20 s each
#   ./scripts/fuzz.sh 600 mip6_cn      one target (or several), 10 minutes
#   FUZZ_RUNS=10000000 ./scripts/fuzz.sh 2400 mip6_cn
#                                      the long run: stops at 10M executions
#                                      or after 40 minutes, whichever is first
# New corpus entries go to a temporary directory (removed at exit; kept with
# FUZZ_KEEP=1): fuzz/corpus/<target> is only read. Crashes land in
# fuzz/artifacts/<target>/. Needs cargo-fuzz; installs it if missing. Stable
# Rust is enough with RUSTC_BOOTSTRAP=1 (cargo-fuzz uses -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
work=$(mktemp -d)
if [[ ${FUZZ_KEEP:-0} == 1 ]]; then
  echo "fuzz: new corpus entries kept in $work"
else
  trap 'rm -rf "$work"' EXIT
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo fuzz list)
fi
extra=()
if [[ -n ${FUZZ_RUNS:-} ]]; then
  extra+=("-runs=$FUZZ_RUNS")
fi
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  mkdir -p "$work/$target"
  dirs=("$work/$target")
  # libFuzzer writes new inputs to the first directory only.
  if [[ -d $seeds ]]; then
    dirs+=("$seeds")
  fi
  echo "fuzz: $target for ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS runs}"
  start=$(date +%s)
  set +e
  cargo fuzz run "$target" "${dirs[@]}" -- -max_total_time="$seconds" \
    -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" 2>&1 |
    awk '/^#[0-9]+[[:space:]].*cov: / { last = $0; next }
         /^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|ERROR|panicked|SUMMARY|Test unit written/
         END { if (last != "") print "last status: " last }'
  # libFuzzer exits non-zero on a crash: that is fatal here.
  status=${PIPESTATUS[0]}
  set -e
  echo "fuzz: $target: exit $status, $(($(date +%s) - start))s wall, corpus $(find "$work/$target" -type f | wc -l) new + $(find "$seeds" -type f 2>/dev/null | wc -l) seeds"
  if [[ $status -ne 0 ]]; then
    exit "$status"
  fi
done
