//! The mip6d-rs package with a running daemon, on a kernel that has Mobile IPv6: the
//! host's package test (`packages.rs`, `scripts/test-debs.sh`) can only check that the
//! init script reports mip6d's refusal to start there. This test packages the debug
//! binaries `cargo build` made (`BIN_DIR`, as `packages.rs` does: no release build),
//! unpacks a throw-away Debian 12 root (`scripts/pkg/root.sh`, its cache shared with
//! `packages.rs`), and runs `scripts/vm/pkg-mip6d.sh` in the VM of `scripts/vm.sh`,
//! which installs the package in that root and drives `/etc/init.d/mip6d`, D-Bus,
//! SIGHUP, a start by PID 1 with `NOTIFY_SOCKET`, and `dpkg --purge`.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use e2e::{our_bin, repo_root, require_root};

/// Runs a command in the repository; its output on failure.
fn run(what: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.success(),
        "{what} failed ({:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// The test root, removed (without crossing into mounts) when dropped.
struct TestRoot(PathBuf);

impl Drop for TestRoot {
    fn drop(&mut self) {
        let _ = Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(&self.0)
            .status();
    }
}

/// The mip6d-rs .deb of the current debug binaries, in `target/debian/vm`.
fn build_deb() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        "cargo build -p mip6d --bins",
        Command::new(&cargo).args(["build", "-p", "mip6d", "--bins"]),
    )?;
    let bin_dir = our_bin("mip6d")
        .parent()
        .map(Path::to_path_buf)
        .context("no target directory")?;
    let out_dir = bin_dir
        .parent()
        .context("no target directory")?
        .join("debian/vm");
    let _ = std::fs::remove_dir_all(&out_dir);
    run(
        "scripts/build-debs.sh mip6d-rs",
        Command::new(repo_root().join("scripts/build-debs.sh"))
            .arg("mip6d-rs")
            .env("BIN_DIR", &bin_dir)
            .env("DEB_OUT", &out_dir)
            // The package test runs lintian on the same files.
            .env("LINTIAN", "0"),
    )?;
    let deb = std::fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("mip6d-rs_"))
        })
        .with_context(|| format!("no mip6d-rs .deb in {}", out_dir.display()))?;
    Ok(deb)
}

#[test]
fn vm_mip6d_package_start_status_reload_dbus_stop_purge() -> Result<()> {
    require_root()?;
    let deb = build_deb()?;
    let dir = run(
        "mktemp",
        Command::new("mktemp").args(["-d", "/var/tmp/mip6d-rs-vmpkg.XXXXXX"]),
    )?;
    let root = TestRoot(PathBuf::from(dir.trim()));
    run(
        "scripts/pkg/root.sh new",
        Command::new(repo_root().join("scripts/pkg/root.sh"))
            .arg("new")
            .arg(&root.0),
    )?;
    let started = Instant::now();
    let out = Command::new(repo_root().join("scripts/vm.sh"))
        .args(["run", "scripts/vm/pkg-mip6d.sh"])
        .arg(&root.0)
        .arg(&deb)
        .env("VM_TIMEOUT", "600")
        .current_dir(repo_root())
        .output()
        .context("cannot run scripts/vm.sh")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let transcript = format!(
        "exit status {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "vm.sh run scripts/vm/pkg-mip6d.sh took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    ensure!(
        out.status.code() == Some(0) && failures.is_empty(),
        "pkg-mip6d.sh failed (124 is vm.sh's time-out, 125 a guest that did not boot); \
         failures:\n{}\n{transcript}",
        failures.join("\n")
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok:")).count();
    // Fewer means a section ended early without saying so.
    ensure!(passed >= 40, "only {passed} checks ran:\n{transcript}");
    for l in stdout.lines().filter(|l| l.starts_with("ok:")) {
        eprintln!("{l}");
    }
    Ok(())
}
