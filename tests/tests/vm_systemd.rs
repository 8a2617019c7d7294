//! `mip6d.service` under systemd as PID 1 on a kernel with Mobile IPv6: the host's
//! test (`systemd.rs`) can only see the unit fail there. `scripts/test-systemd.sh
//! --vm` packages the debug binaries, installs them with systemd and dbus in a
//! throw-away Debian 12 root (the cache of `scripts/pkg/root.sh`), and runs
//! `scripts/vm/systemd-mip6d.sh` in the VM of `scripts/vm.sh`, which boots that root
//! with `systemd-nspawn` as on the host and drives the unit with `systemctl` as a
//! home agent. The guest reports facts; this test judges them.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use e2e::vm::{build_daemons, GuestReport};
use e2e::{our_bin, repo_root, require_root};

/// The unit's CapabilityBoundingSet: CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12),
/// CAP_NET_RAW (13).
const UNIT_BOUNDING_SET: u64 = (1 << 10) | (1 << 12) | (1 << 13);

#[test]
fn vm_mip6d_service_starts_reloads_stops_under_systemd() -> Result<()> {
    require_root()?;
    build_daemons()?;
    let bin_dir = our_bin("mip6d")
        .parent()
        .map(Path::to_path_buf)
        .context("no target directory")?;
    let started = Instant::now();
    let out = Command::new(repo_root().join("scripts/test-systemd.sh"))
        .arg("--vm")
        .env("BIN_DIR", &bin_dir)
        .env("VM_TIMEOUT", "600")
        .current_dir(repo_root())
        .output()
        .context("cannot run scripts/test-systemd.sh --vm")?;
    eprintln!(
        "scripts/test-systemd.sh --vm took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let g = GuestReport::from_output("scripts/test-systemd.sh --vm".into(), &out);
    for l in g.stdout.lines().filter(|l| l.starts_with("fact ")) {
        eprintln!("{l}");
    }
    let is = |key: &str, want: &str| -> Result<()> {
        let v = g.fact(key)?;
        g.check(v == want, format!("fact {key}={v:?}, expected {want:?}"))
    };
    // Booted: systemd is PID 1 and no unit failed.
    is("boot.state", "running")?;
    is("pid1", "/usr/lib/systemd/systemd")?;
    is("unit.enabled", "disabled")?;
    is("unit.type", "notify")?;
    // systemctl start returns once READY=1 came from the process systemd started.
    is("start.status", "0")?;
    is("start.active", "active")?;
    is("main.exe", "/usr/sbin/mip6d")?;
    is("main.ppid", "1")?;
    is("main.uid", "0")?;
    is("main.nonewprivs", "1")?;
    let capbnd = u64::from_str_radix(g.fact("main.capbnd")?, 16)
        .context("main.capbnd is not hexadecimal")?;
    g.check(
        capbnd == UNIT_BOUNDING_SET,
        format!("CapBnd {capbnd:#x}, expected the unit's {UNIT_BOUNDING_SET:#x}"),
    )?;
    g.check(
        g.num("journal.started")? >= 1,
        "journalctl -u mip6d has no start line",
    )?;
    is("bus.home_agent", "1")?;
    // systemctl reload: SIGHUP to the same process, logged, still active.
    is("reload.status", "0")?;
    is("reload.same_pid", "yes")?;
    g.check(
        g.num("journal.reloaded")? >= 1,
        "journalctl -u mip6d has no reload line",
    )?;
    is("reload.active", "active")?;
    // systemctl stop: no process, and the kernel objects as before the start.
    is("stop.status", "0")?;
    is("stop.active", "inactive")?;
    is("stop.processes", "")?;
    g.check(
        g.num("journal.stopped")? >= 1,
        "journalctl -u mip6d has no stop line",
    )?;
    let before = g.fact("objects.before")?;
    is("objects.after", before)?;
    is("poweroff.status", "0")?;
    is("poweroff.leftover", "")?;
    // The guest's own veth pair is all the namespace holds once the container is gone.
    is("poweroff.links", "lo pkg0 pkg1")?;
    g.exited_ok()
}
