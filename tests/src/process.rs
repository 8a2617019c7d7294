//! Processes the harness starts: daemons recorded by `lab.sh`, and children it
//! owns directly.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use std::fs;

use anyhow::{bail, Context, Result};

/// A daemon started in the lab and recorded by `lab.sh` (killed by `Lab`'s teardown).
#[derive(Debug, Clone)]
pub struct Daemon {
    /// Name under which `lab.sh` recorded it (`lab.sh stop NAME`).
    pub name: String,
    /// Node (namespace suffix) it runs in.
    pub node: String,
    /// Its PID (for `-f` daemons, the monitor, which is also the pidfile's PID).
    pub pid: u32,
    /// The pidfile passed with `-p` (if any).
    pub pidfile: PathBuf,
    /// File receiving its stdout and stderr.
    pub log: PathBuf,
}

impl Daemon {
    /// Its output so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process exists (and is not a zombie).
    pub fn is_running(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }
}

/// A process started with [`Lab::spawn`]; SIGTERM (then SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct LabChild {
    pub(crate) child: Child,
    /// File receiving its stdout and stderr.
    pub log: PathBuf,
}

impl LabChild {
    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its output so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (e.g. `libc::SIGHUP`).
    pub fn signal(&self, sig: i32) -> Result<()> {
        signal_pid(self.child.id(), sig)
    }

    /// Has it exited? (`Some(status)` if so.)
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Result<std::process::ExitStatus> {
        if let Some(st) = self.child.try_wait()? {
            return Ok(st);
        }
        let _ = signal_pid(self.child.id(), libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        Ok(self.child.wait()?)
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(3));
    }
}

pub(crate) fn signal_pid(pid: u32, sig: i32) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("PID out of range")?;
    // SAFETY: kill has no memory-safety preconditions; the PID is one we started.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}
