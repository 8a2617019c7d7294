//! Removes the pidfile when the daemon exits.
//!
//! The pidfile lives in a root-owned directory (`/var/run`) and the daemon runs as an
//! unprivileged user, so it cannot unlink it itself (miredo's root monitor does). Before
//! dropping privileges the daemon forks this helper: it keeps uid 0 but no capability,
//! closes every descriptor the daemon serves, waits for the daemon's end of a socket pair
//! to close — on any exit, even a crash — and unlinks the pidfile if it still holds the
//! daemon's PID. On a clean exit the daemon waits for it ([`Reaper::finish`]): under
//! systemd (`KillMode=mixed`) whatever is left in the unit's cgroup is killed as soon
//! as the daemon is gone, which would race the unlink.

use std::io::Read;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The daemon's end: dropping it (or exiting) lets the helper remove the pidfile.
#[derive(Debug)]
pub struct Reaper {
    stream: UnixStream,
    helper: nix::unistd::Pid,
}

/// How long [`Reaper::finish`] waits for the helper: it reads and unlinks one file.
const FINISH_WAIT: Duration = Duration::from_secs(2);

impl Reaper {
    /// Lets the helper remove the pidfile and waits (at most [`FINISH_WAIT`]) until it
    /// has exited, so the pidfile is gone when the daemon exits.
    pub fn finish(self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let Reaper { stream, helper } = self;
        drop(stream);
        let deadline = Instant::now() + FINISH_WAIT;
        // Polled: a blocking waitpid could hang the exit on a stuck helper.
        while matches!(
            waitpid(helper, Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::StillAlive)
        ) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Forks the helper. Must be called while single-threaded and still root; `close` are
/// descriptors the helper must not keep open (the server's sockets).
pub fn spawn(pidfile: PathBuf, close: &[RawFd]) -> Result<Reaper> {
    let daemon_pid = std::process::id().to_string();
    let (ours, mut theirs) = UnixStream::pair().context("socketpair for the pidfile helper")?;
    // SAFETY: the process is single-threaded here (documented precondition), so the
    // child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.context("fork of the pidfile helper")? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            for &fd in close {
                // SAFETY: closing descriptors this (child) process owns and never
                // uses again.
                unsafe { libc::close(fd) };
            }
            // Signals meant for the daemon's process group must not beat the cleanup.
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                // SAFETY: installing SIG_IGN is async-signal-safe and has no handler.
                unsafe { libc::signal(sig, libc::SIG_IGN) };
            }
            // uid 0 owns /var/run: no capability is needed to unlink there.
            let _ = daemon::privileges::restrict_caps(&[]);
            let mut byte = [0u8; 1];
            while matches!(theirs.read(&mut byte), Ok(n) if n > 0) {}
            // A new instance may already own the path: leave its file alone.
            if std::fs::read_to_string(&pidfile).is_ok_and(|pid| pid.trim() == daemon_pid) {
                let _ = std::fs::remove_file(&pidfile);
            }
            std::process::exit(0);
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            Ok(Reaper {
                stream: ours,
                helper: child,
            })
        }
    }
}
