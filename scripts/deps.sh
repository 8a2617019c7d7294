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
  # building
  build-essential pkg-config
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

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
