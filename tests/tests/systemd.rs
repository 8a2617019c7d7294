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

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use e2e::{our_bin, repo_root, require_root};

#[test]
fn units_start_reload_stop_under_systemd_as_pid1() -> Result<()> {
    require_root()?;
    let root = repo_root();
    let bin_dir = our_bin("miredo")
        .parent()
        .map(Path::to_path_buf)
        .context("no target directory")?;
    for bin in ["miredo", "miredo-checkconf", "miredo-server", "mip6d"] {
        ensure!(
            bin_dir.join(bin).exists(),
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            bin_dir.join(bin).display()
        );
    }
    let started = Instant::now();
    let out = Command::new(root.join("scripts/test-systemd.sh"))
        .env("BIN_DIR", &bin_dir)
        .current_dir(&root)
        .output()
        .context("running scripts/test-systemd.sh")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    eprintln!(
        "scripts/test-systemd.sh took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    ensure!(
        out.status.success() && failures.is_empty(),
        "test-systemd.sh exited with {:?}; failures:\n{}",
        out.status.code(),
        failures.join("\n")
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok:")).count();
    // Fewer means a section ended early without saying so.
    ensure!(passed >= 80, "only {passed} checks ran");
    Ok(())
}
