//! The package tests' shell scripts (`scripts/test-debs.sh`, `scripts/test-systemd.sh`):
//! they package the binaries `cargo build --workspace --bins` made (`BIN_DIR`) and print
//! one `ok:` or `FAIL:` line per check; a test passes when all of them pass.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};

use crate::{our_bin, repo_root, require_root};

/// Runs `script` (relative to the repository) as root with `BIN_DIR` set, after checking
/// that `bins` were built, and returns how many checks passed. Fails on any `FAIL:`
/// line or a non-zero exit, with those lines in the error.
pub fn run_check_script(script: &str, bins: &[&str]) -> Result<usize> {
    require_root()?;
    let root = repo_root();
    let bin_dir = our_bin("miredo")
        .parent()
        .map(Path::to_path_buf)
        .context("no target directory")?;
    for bin in bins {
        ensure!(
            bin_dir.join(bin).exists(),
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            bin_dir.join(bin).display()
        );
    }
    let started = Instant::now();
    let out = Command::new(root.join(script))
        .env("BIN_DIR", &bin_dir)
        .current_dir(&root)
        .output()
        .with_context(|| format!("running {script}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{script} took {:.1}s", started.elapsed().as_secs_f64());
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    ensure!(
        out.status.success() && failures.is_empty(),
        "{script} exited with {:?}; failures:\n{}",
        out.status.code(),
        failures.join("\n")
    );
    Ok(stdout.lines().filter(|l| l.starts_with("ok:")).count())
}
