//! The packages under a real service manager (docs/packaging.md, "Tests under
//! systemd"): `scripts/test-systemd.sh` packages the binaries `cargo build --workspace
//! --bins` made (`BIN_DIR`), installs them with systemd and dbus in a throw-away
//! Debian 12 root (`scripts/pkg/root.sh`, the cache `packages.rs` uses) and boots it
//! with `systemd-nspawn --boot` in a network namespace of its own. Inside, systemd is
//! PID 1 and `systemctl` starts, reloads and stops `miredo.service` (Type=notify,
//! hardened; the client hook configures the Teredo address from our
//! `miredo-server.service` in the same boot), `miredo-server.service`, and checks that
//! `mip6d.service` fails cleanly on this kernel (no Mobile IPv6); `busctl` and
//! `journalctl` look at the system bus and the journal. Its checks print `ok:`/`FAIL:`;
//! this test passes when all of them do. mip6d.service's successful start is in
//! `vm_systemd.rs`.
//!
//! Needs root and `scripts/deps.sh` (systemd-container, debhelper, debootstrap). About
//! 30 s with a warm cache. Fails, never skips, without them.

use anyhow::{ensure, Result};
use e2e::run_check_script;

#[test]
fn units_start_reload_stop_under_systemd_as_pid1() -> Result<()> {
    let passed = run_check_script(
        "scripts/test-systemd.sh",
        &["miredo", "miredo-checkconf", "miredo-server", "mip6d"],
    )?;
    // Fewer means a section ended early without saying so.
    ensure!(passed >= 80, "only {passed} checks ran");
    Ok(())
}
