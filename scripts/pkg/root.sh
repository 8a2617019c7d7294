#!/usr/bin/env bash
# A throw-away Debian 12 root for the package tests (scripts/test-debs.sh).
#
#   scripts/pkg/root.sh cache        # make the cached tarball if it is missing
#   scripts/pkg/root.sh new DIR      # unpack a fresh root into DIR (from the cache)
#
# The cache (/var/cache/miredo-rs-pkgroot/bookworm-<cache_version>.tar.zst, override
# the directory with PKGROOT_CACHE) is a minbase debootstrap plus apt lists and the
# .debs the tests install (Debian's miredo and miredo-server, dbus-daemon, adduser, iproute2 and
# their dependencies; dbus and systemd for the boot of scripts/test-systemd.sh)
# already downloaded, so a warm run needs no network. Apt in the root uses the host's
# own Debian mirror configuration. Concurrent first runs make the cache once (flock).
set -euo pipefail

cache_dir=${PKGROOT_CACHE:-/var/cache/miredo-rs-pkgroot}
# Bump when the list below changes, so a new cache is made. The version is in the
# file name: checkouts of different versions on one machine each keep their own.
cache_version=4
tarball=$cache_dir/bookworm-$cache_version.tar.zst
test_packages=(miredo miredo-server dbus dbus-daemon dbus-bin dbus-system-bus-common systemd adduser iproute2 procps kmod
  init-system-helpers sysvinit-utils lsb-base libcap2 libjudydebian1)

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../lib.sh"
LIB_NAME=pkg/root.sh

# The host's Debian mirror (deb822 or one-line sources), for debootstrap.
host_mirror() {
  local m
  m=$(awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list{,.d}: cannot make the test root"
  echo "$m"
}

# The host's bookworm sources, without backports or third-party repositories.
write_sources() {
  local root=$1 mirror=$2 security
  security=$(awk '$1 == "URIs:" && $2 ~ /debian-security\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror"
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"
}

make_cache() {
  [ -f "$tarball" ] && return 0
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/deps.sh installs it)"
  mkdir -p "$cache_dir"
  # Package tests started together: one makes the cache, the others wait for it.
  exec 8>"$cache_dir/.lock"
  flock -w 900 8 || die "timed out waiting for another root.sh to make $tarball"
  [ -f "$tarball" ] && return 0
  local work mirror
  work=$(mktemp -d /var/tmp/miredo-rs-pkgroot.XXXXXX)
  # shellcheck disable=SC2064
  trap "umount -R '$work/root/proc' 2>/dev/null || true; rm -rf '$work'" EXIT
  mirror=$(host_mirror)
  echo "pkg/root.sh: debootstrap bookworm from $mirror (first run only; cached in $tarball)"
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  write_sources "$work/root" "$mirror"
  # Keep downloaded .debs: they are the point of the cache.
  rm -f "$work/root/etc/apt/apt.conf.d/docker-clean"
  chroot "$work/root" apt-get update -qq
  chroot "$work/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only \
    --no-install-recommends "${test_packages[@]}" >/dev/null
  tar -C "$work/root" --zstd -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
}

new_root() {
  local dir=$1
  [ -n "$dir" ] || die "usage: root.sh new DIR"
  make_cache
  mkdir -p "$dir"
  tar -C "$dir" --zstd -xf "$tarball"
  # Services started by maintainer scripts in the root are the test's business:
  # it starts them itself with the init scripts.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
}

case "${1:-}" in
  cache) make_cache ;;
  new) new_root "${2:-}" ;;
  *) die "usage: root.sh cache | new DIR" ;;
esac
