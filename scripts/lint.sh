#!/usr/bin/env bash
# The standing checks, run by scripts/test.sh before the tests: rustfmt, clippy with
# warnings as errors, shellcheck on every shell script in the repository (found by
# its shebang, so a new script is checked without being listed here), and the
# docs/*.md#anchor citations (scripts/doc-links.py) and import cycles between
# modules (scripts/import-cycles.py).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
command -v shellcheck >/dev/null || apt-get install -y -qq shellcheck

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

scripts=()
while IFS= read -r f; do
  case "$f" in
    *.sh) scripts+=("$f") ;;
    *) head -n 1 "$f" | grep -Eq '^#!.*\b(ba|da)?sh\b' && scripts+=("$f") ;;
  esac
done < <(git ls-files scripts conf packaging tests | grep -Ev '\.(rs|md|py|toml|conf|in|service|socket)$')
shellcheck -x -S warning "${scripts[@]}"
scripts/doc-links.py
scripts/import-cycles.py
echo "lint: rustfmt, clippy, shellcheck (${#scripts[@]} scripts), doc links and import cycles clean"
