//! Running a guest script in the VM of `scripts/vm.sh` (docs/vm.md): the tests that
//! need a kernel with Mobile IPv6 build our daemons, run one script under
//! `scripts/vm/` and either look for the lines it prints ([`GuestRun::expect`])
//! or read the facts it reports ([`GuestRun::run`], [`GuestReport`]) and decide
//! themselves whether they hold.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};

use crate::{repo_root, require_root};

/// Builds the debug binaries of miredo and mip6d and the `mh_send` example of
/// the mip6 crate (the guest runs them from the host's target directory), once
/// per test process.
pub fn build_daemons() -> Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(&cargo)
                .args(["build", "-p", "miredo", "-p", "mip6d", "--bins"])
                .args(["-p", "mip6", "--example", "mh_send"])
                .current_dir(repo_root())
                .output()
                .map_err(|e| format!("cannot run {cargo}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "cargo build -p miredo -p mip6d -p mip6 --example mh_send failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Whether `line` of `ip -6 route show` is the home agent's route for a
/// binding to `dst` (a home address or a mobile network prefix) on
/// `datapath` (`HaTunnelDatapath`): through the shared device `mip6tnl`
/// with an ip6 encapsulation to the care-of address, or through a
/// per-binding `ip6tnlN` device.
pub fn is_binding_route(datapath: &str, line: &str, dst: &str) -> bool {
    if datapath == "shared" {
        // (`ip` prints two spaces before `encap`.)
        line.starts_with(&format!("{dst} "))
            && line.contains(" encap ip6 ")
            && line.contains(" dst 2001:db8:")
            && line.contains("dev mip6tnl ")
    } else {
        line.starts_with(&format!("{dst} dev ip6tnl"))
    }
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
        let report = self.run_built()?;
        report.exited_ok()?;
        for line in expected {
            ensure!(
                report.stdout.lines().any(|l| l.starts_with(line)),
                "no line starting {line:?} in the guest's output:\n{}",
                report.transcript
            );
        }
        report.echo(self.echo_prefix);
        Ok(report.stdout)
    }

    /// Builds the daemons and runs the script; the caller checks the facts it
    /// reported and then [`GuestReport::exited_ok`].
    pub fn run(&self) -> Result<GuestReport> {
        self.run_with_env(&[])
    }

    /// [`GuestRun::run`] with `VM_*` variables for the guest (`scripts/vm.sh`
    /// passes them on), e.g. `VM_HA_DATAPATH`.
    pub fn run_with_env(&self, env: &[(&str, &str)]) -> Result<GuestReport> {
        require_root()?;
        build_daemons()?;
        let report = self.run_built_with_env(env)?;
        report.echo(self.echo_prefix);
        Ok(report)
    }

    /// Runs the script (binaries already built) and collects its output, whatever
    /// its exit status.
    pub fn run_built(&self) -> Result<GuestReport> {
        self.run_built_with_env(&[])
    }

    /// [`GuestRun::run_built`] with `VM_*` variables for the guest.
    pub fn run_built_with_env(&self, env: &[(&str, &str)]) -> Result<GuestReport> {
        require_root()?;
        let vm = repo_root().join("scripts/vm.sh");
        let started = Instant::now();
        let out = Command::new(&vm)
            .arg("run")
            .arg(self.script)
            .args(self.args)
            .env("VM_TIMEOUT", self.timeout_s.to_string())
            .envs(env.iter().copied())
            .current_dir(repo_root())
            .output()
            .with_context(|| format!("cannot run {}", vm.display()))?;
        let what = format!("{} {}", self.script, self.args.join(" "));
        eprintln!(
            "vm.sh run {what} took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(GuestReport::from_output(what, &out))
    }
}

/// What a guest run printed. Scripts report what they observed as `fact KEY=VALUE`
/// lines (`vm_fact` of `scripts/vm/guest-lib.sh`); the test reads them with
/// [`GuestReport::fact`] and [`GuestReport::num`] and states its expectations with
/// [`GuestReport::check`], so every failure shows the whole transcript.
pub struct GuestReport {
    what: String,
    status: Option<i32>,
    pub stdout: String,
    transcript: String,
    facts: Vec<(String, String)>,
}

impl GuestReport {
    /// The report of a finished command that ran a guest script (`vm.sh run`, or a
    /// script that prepares something first and then runs it), named WHAT.
    pub fn from_output(what: String, out: &std::process::Output) -> GuestReport {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let transcript = format!(
            "exit status {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let facts = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("fact "))
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_end().to_owned()))
            .collect();
        GuestReport {
            what,
            status: out.status.code(),
            stdout,
            transcript,
            facts,
        }
    }

    /// The last value reported for KEY; an error if the guest never reported it
    /// (a wait it gives up on ends the script before the fact).
    pub fn fact(&self, key: &str) -> Result<&str> {
        self.facts
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                anyhow!(
                    "{}: no fact {key:?} in the guest's output:\n{}",
                    self.what,
                    self.transcript
                )
            })
    }

    /// Every value reported for KEY, in order (`vm_fact_lines` reports a command's
    /// output one line each); empty if none.
    pub fn lines(&self, key: &str) -> Vec<&str> {
        self.facts
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// [`GuestReport::fact`] as an integer.
    pub fn num(&self, key: &str) -> Result<i64> {
        let v = self.fact(key)?;
        v.parse().map_err(|_| {
            anyhow!(
                "{}: fact {key}={v:?} is not a number:\n{}",
                self.what,
                self.transcript
            )
        })
    }

    /// Fails with MSG and the transcript unless COND holds.
    pub fn check(&self, cond: bool, msg: impl std::fmt::Display) -> Result<()> {
        ensure!(cond, "{}: {msg}:\n{}", self.what, self.transcript);
        Ok(())
    }

    /// Fails unless the fact KEY starts with PREFIX.
    pub fn check_prefix(&self, key: &str, prefix: &str) -> Result<()> {
        let v = self.fact(key)?;
        self.check(
            v.starts_with(prefix),
            format!("fact {key}={v:?} does not start with {prefix:?}"),
        )
    }

    /// Fails unless the script exited 0.
    pub fn exited_ok(&self) -> Result<()> {
        ensure!(
            self.status == Some(0),
            "{} failed (124 is vm.sh's time-out, 125 a guest that did not boot):\n{}",
            self.what,
            self.transcript
        );
        Ok(())
    }

    /// Echoes the lines starting with PREFIX to the test's stderr.
    fn echo(&self, prefix: &str) {
        for l in self.stdout.lines().filter(|l| l.starts_with(prefix)) {
            eprintln!("{l}");
        }
    }
}
