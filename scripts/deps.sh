#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need on a fresh Debian 12
# machine (run as root). Idempotent.
set -euo pipefail

packages=(
  # the real peers we test against
  miredo miredo-server
  # the lab: namespaces, NAT, tools
  iproute2 nftables iputils-ping iperf3 tcpdump procps psmisc kmod
  # a private system bus per test, busctl to look at it
  dbus dbus-bin systemd
  # building, and the lint step of the tests (python3: doc links, import cycles)
  build-essential pkg-config shellcheck python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq
  # Debian's miredo would start a client outside the lab on a machine whose init
  # runs services: forbid service starts while installing.
  guard=/usr/sbin/policy-rc.d
  made_guard=
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod +x "$guard"
    made_guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -n "$made_guard" ] && rm -f "$guard"
fi

# The Mobile IPv6 VM rig (scripts/vm.sh, docs/vm.md). QEMU must come from the same
# release as the machine's qemu-utils: bookworm's qemu-system-x86 7.2 would replace a
# backports qemu-utils 10.0, so when that is what is installed, take qemu-system-* from
# bookworm-backports (an extra apt source; backports never upgrade anything by themselves).
vm_packages=(busybox-static radvd python3)
command -v qemu-system-x86_64 >/dev/null || vm_packages+=(qemu-system-x86)
vm_missing=()
for p in "${vm_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || vm_missing+=("$p")
done
if [ ${#vm_missing[@]} -gt 0 ]; then
  if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q 'bpo12'; then
    backports=/etc/apt/sources.list.d/bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # The same mirror as the machine's bookworm source.
      mirror=$(awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
      [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" >"$backports"
    fi
    vm_missing=("${vm_missing[@]/#qemu-system-x86/qemu-system-x86/bookworm-backports}")
    [[ " ${vm_missing[*]} " == *" qemu-system-x86/"* ]] &&
      vm_missing+=(qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports seabios/bookworm-backports)
  fi
  echo "deps: installing ${vm_missing[*]}"
  apt-get update -qq
  # radvd must not start as a host service: the rig runs it only inside the guest.
  guard=/usr/sbin/policy-rc.d
  made_guard=
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod +x "$guard"
    made_guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${vm_missing[@]}"
  if [ -n "$made_guard" ]; then rm -f "$guard"; fi
fi
# Debian packages (scripts/build-debs.sh, scripts/test-debs.sh, docs/packaging.md):
# debhelper builds them, lintian checks them, debootstrap makes the test root (cached in
# /var/cache/miredo-rs-pkgroot by the first test run), man-db renders the man pages,
# systemd-nspawn boots that root with systemd as PID 1 (scripts/test-systemd.sh).
pkg_packages=(debhelper lintian debootstrap fakeroot zstd man-db groff-base dpkg-dev systemd-container)
pkg_missing=()
for p in "${pkg_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkg_missing+=("$p")
done
if [ ${#pkg_missing[@]} -gt 0 ]; then
  echo "deps: installing ${pkg_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkg_missing[@]}"
fi

# Download and unpack the guest kernel now, so the first VM test does not pay for it.
"$(dirname "$0")/vm.sh" prepare

# The lab's port-mapping gateway (miniupnpd 2.3.9 from Debian 13 with its libraries, unpacked
# into a cache: bookworm's 2.3.1 refuses the lab's reserved addresses; scripts/lab/portmap.sh).
"$(dirname "$0")/lab/portmap.sh" prepare

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
