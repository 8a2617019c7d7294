//! The Debian packages (docs/packaging.md): `scripts/test-debs.sh` builds them from the
//! binaries `cargo build --workspace --bins` made (scripts/test.sh does that first), runs
//! lintian, installs them over Debian's miredo in a throw-away Debian 12 root, drives the
//! init scripts, D-Bus, an upgrade and a purge. Its own checks are listed as `ok:`/`FAIL:`
//! lines; this test passes when all of them do.
//!
//! On this host's kernel mip6d cannot run (no Mobile IPv6), so its running-daemon checks
//! are in `vm_packages.rs`, in the VM of `scripts/vm.sh`.
//!
//! Needs root and `scripts/deps.sh` (debhelper, lintian, debootstrap); the first run
//! makes the root's cache (/var/cache/miredo-rs-pkgroot, about 3 minutes with a network
//! mirror), later runs take about 2 minutes. Fails, never skips, without them.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use e2e::{repo_root, run_check_script};

#[test]
fn debs_install_replace_start_reload_upgrade_purge() -> Result<()> {
    let passed = run_check_script("scripts/test-debs.sh", &["miredo"])?;
    // Fewer checks than the miredo and mip6d packages alone have means a section was
    // skipped without saying so.
    ensure!(passed >= 80, "only {passed} checks ran");
    Ok(())
}

/// Every man page renders without a warning from groff.
#[test]
fn man_pages_render() -> Result<()> {
    let dir = repo_root().join("conf/man");
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
        let page = entry?.path();
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .context("running man (package man-db)")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && stderr.trim().is_empty(),
            "man -l {}: {stderr}",
            page.display()
        );
        ensure!(
            String::from_utf8_lossy(&out.stdout).contains("NAME"),
            "man -l {}: no NAME section",
            page.display()
        );
        pages += 1;
    }
    ensure!(pages >= 7, "only {pages} man pages in {}", dir.display());
    Ok(())
}

/// The shell scripts the packages install parse with the shell that runs them.
#[test]
fn packaged_shell_scripts_parse() -> Result<()> {
    let root = repo_root();
    let scripts = [
        "conf/init.d/miredo",
        "conf/init.d/miredo-server",
        "conf/init.d/mip6d",
        "conf/if-up.d/miredo",
        "conf/NetworkManager/dispatcher.d/50-miredo",
        "packaging/etc/miredo/client-hook",
        "packaging/debian/miredo-rs.postinst",
        "packaging/debian/miredo-rs.postrm",
        "packaging/debian/miredo-server-rs.postinst",
        "packaging/debian/miredo-server-rs.postrm",
        "packaging/debian/mip6d-rs.postrm",
    ];
    for s in scripts {
        let out = Command::new("sh")
            .arg("-n")
            .arg(root.join(s))
            .output()
            .context("running sh")?;
        ensure!(
            out.status.success(),
            "sh -n {s}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
