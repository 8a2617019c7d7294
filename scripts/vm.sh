#!/usr/bin/env bash
# The Mobile IPv6 test rig: boots Debian 12's stock kernel (CONFIG_IPV6_MIP6=y,
# CONFIG_IPV6_TUNNEL=m, CONFIG_XFRM_USER=m) under QEMU's software emulation and runs
# one script as root inside it. The host kernel has none of those options, so every
# test that needs the kernel's MIPv6 datapath runs here. See docs/vm.md.
#
#   scripts/vm.sh prepare                 # fetch + unpack the kernel into the cache
#   scripts/vm.sh run GUEST-SCRIPT [ARG...]  # boot, run it, exit with its status
#   scripts/vm.sh shell                   # boot into an interactive bash (debugging)
#
# The guest sees the host's / read-only through virtio-9p, under a tmpfs overlay, so
# everything is writable inside and nothing leaks out; host binaries (target/ builds,
# iproute2, radvd, python3) run as they are. The guest kernel's modules come from a
# second read-only share mounted on /lib/modules/<version>. The script's working
# directory is the caller's; its output streams to our stdout; its exit status comes
# back through a small read-write share (never through the console text).
#
# Environment:
#   VM_TIMEOUT   seconds before qemu is killed (default 300)
#   VM_CACHE     kernel cache (default /var/cache/miredo-rs-vm)
#   VM_MEM       guest memory in MiB (default 1024)
#   VM_SMP       guest CPUs (default 1; TCG on two shared host CPUs gains little)
#   VM_KEEP=1    keep the run directory (console log) after the run
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VM_CACHE:-/var/cache/miredo-rs-vm}
timeout_s=${VM_TIMEOUT:-300}
mem=${VM_MEM:-1024}
smp=${VM_SMP:-1}

# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

usage() {
  sed -n '7,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Prints the versioned kernel package linux-image-amd64 currently depends on
# (e.g. linux-image-6.1.0-56-amd64), from the local apt lists; nothing if unknown.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

# The newest kernel already unpacked in the cache, for offline runs.
cached_kernel() {
  local d best=
  for d in "$cache"/*-amd64/.ready; do
    [ -e "$d" ] || continue
    d=${d%/.ready}
    best=${d##*/}
  done
  printf '%s' "$best"
}

# Downloads (once) and unpacks (once) the kernel package; prints its version string
# (the directory name under $cache and under lib/modules).
prepare_kernel() {
  local pkg kver deb dir
  # A run takes the kernel already cached (any Debian 12 kernel has what the rig needs,
  # and asking apt costs seconds); `prepare` and an empty cache resolve the current one.
  if [ "${1:-}" = cached ] && [ -z "${VM_KERNEL_PACKAGE:-}" ]; then
    kver=$(cached_kernel)
    if [ -n "$kver" ]; then
      printf '%s' "$kver"
      return
    fi
  fi
  pkg=${VM_KERNEL_PACKAGE:-$(kernel_package)}
  if [ -z "$pkg" ] && [ -z "$(cached_kernel)" ]; then
    # Fresh machine whose apt lists were never fetched.
    apt-get update -qq >&2 || true
    pkg=$(kernel_package)
  fi
  if [ -z "$pkg" ]; then
    kver=$(cached_kernel)
    [ -n "$kver" ] || die "cannot resolve linux-image-amd64 (run apt-get update) and no kernel is cached in $cache"
    printf '%s' "$kver"
    return
  fi
  kver=${pkg#linux-image-}
  dir=$cache/$kver
  if [ -e "$dir/.ready" ]; then
    printf '%s' "$kver"
    return
  fi
  mkdir -p "$cache/debs"
  # Parallel first runs: one downloads and unpacks, the others wait for it.
  exec 9>"$cache/.lock"
  flock -w 600 9 || die "timed out waiting for another vm.sh to prepare $cache"
  if [ -e "$dir/.ready" ]; then
    printf '%s' "$kver"
    return
  fi
  deb=$(find "$cache/debs" /var/cache/apt/archives -maxdepth 1 -name "${pkg}_*_amd64.deb" 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$deb" ]; then
    echo "vm.sh: downloading $pkg" >&2
    # The sandbox user _apt cannot write into a root-owned cache: fetch as root.
    (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
      die "could not download $pkg (apt-get download); is the network or apt cache available?"
    deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*_amd64.deb" | sort -V | tail -n 1)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache/debs"
  fi
  echo "vm.sh: unpacking $(basename "$deb") (not installing it)" >&2
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  dpkg-deb -x "$deb" "$dir.tmp"
  [ -f "$dir.tmp/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"
  # The package ships no modules.dep (its postinst makes it): make it here.
  depmod -b "$dir.tmp" "$kver"
  # The uncompressed ELF boots through PVH, skipping the bzImage's xz decompressor,
  # which takes seconds under TCG.
  if ! python3 "$here/vm/extract-vmlinux.py" "$dir.tmp/boot/vmlinuz-$kver" "$dir.tmp/boot/vmlinux-$kver"; then
    echo "vm.sh: could not extract vmlinux; booting the bzImage (slower)" >&2
    rm -f "$dir.tmp/boot/vmlinux-$kver"
  fi
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  touch "$dir/.ready"
  printf '%s' "$kver"
}

# Prints NAME and, before it, every module it depends on (load order, no duplicates)
# as paths relative to the modules directory.
module_closure() {
  local moddir=$1
  shift
  awk -v want="$*" '
    { sub(/:$/, "", $1); path = $1; n = split(path, parts, "/"); name = parts[n]
      sub(/\.ko(\.[a-z]+)?$/, "", name); gsub(/-/, "_", name)
      byname[name] = path; deps[path] = ""
      for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i }
    function visit(p,   list, k, m) {
      if (p in seen) return
      seen[p] = 1
      m = split(deps[p], list, " ")
      for (k = m; k >= 1; k--) visit(list[k])
      print p
    }
    END {
      n = split(want, names, " ")
      for (i = 1; i <= n; i++) {
        if (!(names[i] in byname)) { print "missing module " names[i] > "/dev/stderr"; exit 1 }
        visit(byname[names[i]])
      }
    }' <(sed 's/: */: /' "$moddir/modules.dep")
}

# Builds the initramfs: static busybox, /init, and the modules needed to mount the
# 9p shares (everything else is loaded from the shared module tree later).
build_initramfs() {
  local kver=$1 out=$2 root moddir m
  # busybox-static installs /bin/busybox (the dynamic busybox package, the same path).
  local busybox=/bin/busybox
  if [ ! -x "$busybox" ] || ! file_is_static "$busybox"; then
    die "a static busybox is needed at $busybox (apt-get install busybox-static)"
  fi
  moddir=$cache/$kver/lib/modules/$kver
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,dev,proc,sys,modules,host,newroot,rw}
  cp "$busybox" "$root/bin/busybox"
  cp "$here/vm/init" "$root/init"
  chmod 755 "$root/init"
  : >"$root/modules/order"
  for m in $(module_closure "$moddir" virtio_pci 9pnet_virtio 9p overlay); do
    cp "$moddir/$m" "$root/modules/"
    basename "$m" >>"$root/modules/order"
  done
  printf '%s\n' "$kver" >"$root/kver"
  (cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$out"
  rm -rf "$root"
}

file_is_static() {
  # A static binary has no program interpreter.
  ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# Writes the command file that the guest's /init runs with bash in the new root.
write_command() {
  local file=$1
  shift
  {
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    # shellcheck disable=SC2016 # expanded in the guest
    echo 'export HOME=/root TERM=${TERM:-dumb}'
    local v
    for v in $(compgen -e); do
      case $v in
        VM_* | CARGO_TARGET_DIR | RUST_LOG | RUST_BACKTRACE) printf 'export %s=%q\n' "$v" "${!v}" ;;
      esac
    done
    printf 'export VM_REPO=%q\n' "$(cd "$here/.." && pwd)"
    printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
    printf 'exec'
    printf ' %q' "$@"
    printf '\n'
  } >"$file"
}

boot() {
  local mode=$1
  shift
  command -v qemu-system-x86_64 >/dev/null ||
    die "qemu-system-x86_64 is not installed (scripts/deps.sh installs it)"
  [ "$(id -u)" -eq 0 ] || die "must run as root (it exports / to the guest and reads the kernel cache)"
  local kver run qrc status started
  kver=$(prepare_kernel cached)
  local kernel=$cache/$kver/boot/vmlinux-$kver
  [ -f "$kernel" ] || kernel=$cache/$kver/boot/vmlinuz-$kver
  run=$(mktemp -d /tmp/miredo-rs-vm.XXXXXX)
  mkdir -p "$run/share"
  # shellcheck disable=SC2064 # expand $run now
  [ "${VM_KEEP:-0}" = 1 ] || trap "rm -rf '$run'" EXIT
  build_initramfs "$kver" "$run/initramfs.gz"
  if [ "$mode" = shell ]; then
    write_command "$run/share/cmd" /bin/bash -i
  else
    write_command "$run/share/cmd" "$@"
  fi
  echo "$mode" >"$run/share/mode"

  # shellcheck disable=SC2054 # the commas are qemu's option syntax
  local qemu=(
    qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m "$mem"
    -nodefaults -no-user-config -display none -vga none -nic none -no-reboot
    -kernel "$kernel" -initrd "$run/initramfs.gz"
    -append "console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests rdinit=/init"
    -serial "file:$run/console.log"
    -chardev stdio,id=out,signal=off -serial chardev:out
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$cache/$kver/lib/modules/$kver,mount_tag=kmods,security_model=none,readonly=on"
    -virtfs "local,path=$run/share,mount_tag=vmrun,security_model=none"
  )
  started=$(date +%s.%N)
  qrc=0
  if [ "$mode" = shell ]; then
    timeout --foreground -k 5 "$timeout_s" "${qemu[@]}" || qrc=$?
  else
    # The guest's stdin is /dev/null; timeout signals qemu by its own PID only.
    timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null || qrc=$?
  fi
  local took
  took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    echo "vm.sh: TIMEOUT: the guest did not finish within ${timeout_s}s (VM_TIMEOUT); qemu killed" >&2
    tail -n 30 "$run/console.log" | sed 's/^/vm console: /' >&2
    exit 124
  fi
  if [ "$qrc" -ne 0 ]; then
    echo "vm.sh: qemu exited with status $qrc" >&2
    tail -n 30 "$run/console.log" | sed 's/^/vm console: /' >&2
    exit 125
  fi
  if [ ! -s "$run/share/status" ]; then
    echo "vm.sh: the guest powered off without reporting a status (it did not boot, or /init failed); console:" >&2
    tail -n 40 "$run/console.log" | sed 's/^/vm console: /' >&2
    exit 125
  fi
  status=$(cat "$run/share/status")
  echo "vm.sh: guest exited with status $status after ${took}s (boot to init: $(cat "$run/share/uptime-at-init" 2>/dev/null || echo '?')s guest uptime)" >&2
  [ "${VM_KEEP:-0}" = 1 ] && echo "vm.sh: run directory kept: $run" >&2
  exit "$status"
}

case ${1:-} in
  prepare)
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    kver=$(prepare_kernel)
    echo "vm.sh: kernel $kver ready in $cache/$kver"
    ;;
  run)
    shift
    [ $# -ge 1 ] || usage
    script=$1
    shift
    [ -e "$script" ] || die "no such guest script: $script"
    # The guest resolves paths against the same tree: make it absolute.
    script=$(cd "$(dirname "$script")" && pwd)/$(basename "$script")
    if [ -x "$script" ]; then
      boot run "$script" "$@"
    else
      boot run /bin/bash "$script" "$@"
    fi
    ;;
  shell)
    boot shell
    ;;
  *) usage ;;
esac
