//! Running a guest script in the VM of `scripts/vm.sh` (docs/vm.md): the tests that
//! need a kernel with Mobile IPv6 build our daemons, run one script under
//! `scripts/vm/` and look for the lines it prints.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};

use crate::{repo_root, require_root};

/// Builds the debug binaries of miredo and mip6d (the guest runs them from the
/// host's target directory), once per test process.
pub fn build_daemons() -> Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(&cargo)
                .args(["build", "-p", "miredo", "-p", "mip6d", "--bins"])
                .current_dir(repo_root())
                .output()
                .map_err(|e| format!("cannot run {cargo}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "cargo build -p miredo -p mip6d failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// One guest run: `script` (relative to the repository) with `args`, killed after
/// `timeout_s` seconds.
pub struct GuestRun<'a> {
    pub script: &'a str,
    pub args: &'a [&'a str],
    pub timeout_s: u32,
    /// Lines of the output starting with this are echoed to the test's stderr.
    pub echo_prefix: &'a str,
}

impl GuestRun<'_> {
    /// Builds the daemons, runs the script and checks that it exits 0 and that every
    /// line of `expected` begins a line of its output; returns the output.
    pub fn expect(&self, expected: &[&str]) -> Result<String> {
        require_root()?;
        build_daemons()?;
        self.expect_built(expected)
    }

    /// [`GuestRun::expect`] for a script whose binaries the caller built.
    pub fn expect_built(&self, expected: &[&str]) -> Result<String> {
        require_root()?;
        let vm = repo_root().join("scripts/vm.sh");
        let started = Instant::now();
        let out = Command::new(&vm)
            .arg("run")
            .arg(self.script)
            .args(self.args)
            .env("VM_TIMEOUT", self.timeout_s.to_string())
            .current_dir(repo_root())
            .output()
            .with_context(|| format!("cannot run {}", vm.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let what = format!("{} {}", self.script, self.args.join(" "));
        let transcript = format!(
            "exit status {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "vm.sh run {what} took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        ensure!(
            out.status.code() == Some(0),
            "{what} failed (124 is vm.sh's time-out, 125 a guest that did not boot):\n\
             {transcript}"
        );
        for line in expected {
            ensure!(
                stdout.lines().any(|l| l.starts_with(line)),
                "no line starting {line:?} in the guest's output:\n{transcript}"
            );
        }
        for l in stdout.lines().filter(|l| l.starts_with(self.echo_prefix)) {
            eprintln!("{l}");
        }
        Ok(stdout)
    }
}
