#!/usr/bin/env bash
# Builds the Debian packages (docs/packaging.md):
#
#   ./scripts/build-debs.sh                      # miredo-rs, miredo-server-rs, mip6d-rs
#   ./scripts/build-debs.sh miredo-rs mip6d-rs   # only these
#
# Release binaries come from cargo; debhelper (packaging/debian/) makes the .debs in a
# staging tree; lintian checks them (any error fails the build). Output: target/debian/.
#
# Environment:
#   DEB_VERSION=0.1.0+1    package version (default: the workspace version)
#   DEB_OUT=DIR            where the .debs go (default: target/debian)
#   CARGO_PROFILE=release  cargo profile of the binaries (release)
#   LINTIAN=0              skip lintian
#   BIN_DIR=target/debug   take the binaries from here instead of running cargo (the
#                          package test uses the debug binaries `cargo build` made;
#                          mip6ctl goes into mip6d-rs when BIN_DIR has it)
set -euo pipefail
cd "$(dirname "$0")/.."


# shellcheck source=scripts/lib.sh
. scripts/lib.sh
LIB_NAME=build-debs

all_packages=(miredo-rs miredo-server-rs mip6d-rs)
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=("${all_packages[@]}")

# The cargo binaries each package needs: "crate:bin" (the crate is looked up in cargo
# metadata, so a binary that moves between crates is still found).
required_bins() {
  case "$1" in
    miredo-rs) echo miredo miredo-checkconf miredoctl teredo-mire ;;
    miredo-server-rs) echo miredo-server ;;
    mip6d-rs) echo mip6d ;;
    *) die "unknown package '$1' (known: ${all_packages[*]})" ;;
  esac
}

tools=(dpkg-buildpackage dh python3)
[ -n "${BIN_DIR:-}" ] || tools+=(cargo)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null ||
    die "$tool not found (scripts/deps.sh installs debhelper, lintian and the rest)"
done

if [ -n "${BIN_DIR:-}" ]; then
  # No cargo: the binaries are whatever BIN_DIR holds.
  target_dir=${CARGO_TARGET_DIR:-$PWD/target}
  [[ "$target_dir" = /* ]] || target_dir=$PWD/$target_dir
  workspace_version=$(awk -F'"' '/^\[workspace.package\]/ { w = 1 } w && /^version *=/ { print $2; exit }' Cargo.toml)
  bin_table=
  for f in "$BIN_DIR"/*; do
    [ -f "$f" ] && [ -x "$f" ] && bin_table+="$(basename "$f") (prebuilt)"$'\n'
  done
  # mip6d's status client, when it was built.
  [ -x "$BIN_DIR/mip6ctl" ] && bin_table+="mip6ctl mip6d"$'\n'
else
  # bin name -> crate, for every [[bin]] in the workspace.
  metadata=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null ||
    cargo metadata --format-version 1 --no-deps)
  bin_table=$(python3 -c '
import json, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"]:
            print(t["name"], p["name"])
' <<<"$metadata")
  target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
  workspace_version=$(python3 -c '
import json, sys
m = json.load(sys.stdin)
print(next(p["version"] for p in m["packages"] if p["name"] == "miredo"))' <<<"$metadata")
fi

crate_of() { awk -v b="$1" '$1 == b { print $2 }' <<<"$bin_table"; }

crates=()
bins=()
for pkg in "${packages[@]}"; do
  for bin in $(required_bins "$pkg"); do
    crate=$(crate_of "$bin")
    where="no crate of the workspace has a [[bin]] named '$bin' (cargo metadata)"
    [ -n "${BIN_DIR:-}" ] && where="$BIN_DIR/$bin does not exist"
    [ -n "$crate" ] || die "$pkg needs the binary '$bin', but $where. Build the other packages with: $0 $(printf '%s ' "${packages[@]/$pkg/}")"
    bins+=("$bin")
    [ "$crate" = "(prebuilt)" ] || [[ " ${crates[*]} " == *" $crate "* ]] || crates+=("$crate")
  done
done
# Any other binary of the mip6d crate (the status client) goes into mip6d-rs.
extra_mip6d_bins=()
if [[ " ${packages[*]} " == *" mip6d-rs "* ]]; then
  for bin in $(awk '$2 == "mip6d" && $1 != "mip6d" { print $1 }' <<<"$bin_table"); do
    extra_mip6d_bins+=("$bin")
    bins+=("$bin")
  done
fi

if [ -n "${BIN_DIR:-}" ]; then
  bin_dir=$BIN_DIR
  echo "build-debs: binaries from $bin_dir"
else
  profile=${CARGO_PROFILE:-release}
  echo "build-debs: cargo build --profile $profile for ${crates[*]}"
  cargo_args=()
  for c in "${crates[@]}"; do cargo_args+=(-p "$c"); done
  cargo build --locked --profile "$profile" --bins "${cargo_args[@]}"
  profile_dir=$profile
  [ "$profile" = dev ] && profile_dir=debug
  bin_dir=$target_dir/$profile_dir
fi

version=${DEB_VERSION:-$workspace_version}
out=${DEB_OUT:-$target_dir/debian}
# One staging tree per output folder: the package test and the VM package test
# may build at the same time.
stage_parent=$target_dir/debian-build/$(basename "$out")
stage=$stage_parent/miredo-rs-$version
rm -rf "$stage_parent"
mkdir -p "$stage/bin" "$out"

for bin in "${bins[@]}"; do
  src=$bin_dir/$bin
  [ -x "$src" ] || die "cargo did not produce $src"
  cp "$src" "$stage/bin/"
done
cp -r packaging/debian "$stage/debian"
cp -r packaging/etc "$stage/etc"
cp -r conf "$stage/conf"

# Only the requested packages in debian/control (paragraph 1 is the source).
python3 - "$stage/debian/control" "${packages[@]}" <<'EOF'
import sys
path, wanted = sys.argv[1], set(sys.argv[2:])
paras = open(path).read().strip().split("\n\n")
keep = [paras[0]] + [p for p in paras[1:]
                     if p.split("\n", 1)[0].split(": ", 1)[1] in wanted]
open(path, "w").write("\n\n".join(keep) + "\n")
EOF
# The server's D-Bus policy, once conf/ has it.
if [ -f conf/org.miredo_rs.Server1.conf ]; then
  echo "conf/org.miredo_rs.Server1.conf usr/share/dbus-1/system.d" >>"$stage/debian/miredo-server-rs.install"
fi
for bin in "${extra_mip6d_bins[@]}"; do
  echo "bin/$bin usr/bin" >>"$stage/debian/mip6d-rs.install"
  for page in conf/man/"$bin".[18]; do
    [ -f "$page" ] && echo "$page" >>"$stage/debian/mip6d-rs.manpages"
  done
done
# A version other than the changelog's gets its own entry on top.
if [ "$version" != "$(dpkg-parsechangelog -l "$stage/debian/changelog" -S Version)" ]; then
  {
    printf 'miredo-rs (%s) unstable; urgency=medium\n\n  * Built by scripts/build-debs.sh with DEB_VERSION=%s.\n\n' "$version" "$version"
    printf ' -- miredo-rs developers <miredo-rs@example.invalid>  %s\n\n' "$(date -R -u)"
    cat "$stage/debian/changelog"
  } >"$stage/debian/changelog.new"
  mv "$stage/debian/changelog.new" "$stage/debian/changelog"
fi

echo "build-debs: dpkg-buildpackage ${packages[*]} $version"
(cd "$stage" && dpkg-buildpackage -b -uc -us --no-check-builddeps --no-pre-clean >"$stage_parent/dpkg-buildpackage.log" 2>&1) ||
  { tail -30 "$stage_parent/dpkg-buildpackage.log" >&2; die "dpkg-buildpackage failed (full log: $stage_parent/dpkg-buildpackage.log)"; }

debs=()
for pkg in "${packages[@]}"; do
  deb=$(ls "$stage_parent/${pkg}_${version}_"*.deb)
  mv "$deb" "$out/"
  debs+=("$out/$(basename "$deb")")
done

if [ "${LINTIAN:-1}" != 0 ]; then
  command -v lintian >/dev/null || die "lintian not found (scripts/deps.sh installs it); LINTIAN=0 skips it"
  echo "build-debs: lintian"
  lintian_log=$stage_parent/lintian.log
  status=0
  lintian --profile debian \
    "${debs[@]}" >"$lintian_log" 2>&1 || status=$?
  cat "$lintian_log"
  if grep -q '^E: ' "$lintian_log"; then
    die "lintian reported errors (above)"
  fi
  # Exit status 1 with no E: lines means warnings only (listed in docs/packaging.md).
  [ "$status" -le 1 ] || die "lintian failed with status $status"
fi

printf 'build-debs: %s\n' "${debs[@]}"
