//! Going to the background the way miredo does (docs/compat.md, "Process, signals,
//! privileges"): the launching process exits 0 only once the daemon has locked its
//! PID file, and 1 otherwise.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let detached = daemon::daemonize::daemonize()?; // only the child returns
//! match daemon::pidfile::Pidfile::create("/run/miredo.pid") {
//!     Ok(pidfile) => {
//!         detached.success()?; // launcher exits 0; std fds now /dev/null
//!         // ... build the tokio runtime and run, holding `pidfile` ...
//!         # drop(pidfile);
//!     }
//!     Err(e) => {
//!         eprintln!("{e}");
//!         detached.failure(); // launcher exits 1
//!         std::process::exit(1);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! **Call [`daemonize`] before the tokio runtime (or any other thread) starts**: `fork`
//! copies only the calling thread, so a runtime started earlier would be dead in the
//! child, and locks held by other threads would stay locked forever.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;

use nix::unistd::{fork, ForkResult};

/// The daemon side of [`daemonize`]: says how start-up went.
///
/// Dropping it without calling [`Detached::success`] makes the launcher exit 1.
#[derive(Debug)]
pub struct Detached {
    pipe: Option<File>,
}

impl Detached {
    /// Start-up succeeded (the PID file is locked): redirects stdin, stdout and stderr
    /// to `/dev/null`, then lets the launching process exit 0.
    pub fn success(self) -> io::Result<()> {
        self.success_logging_to(None)
    }

    /// Like [`Detached::success`], but stdout and stderr go to `log` (a debug log
    /// file opened for appending) when given, instead of `/dev/null`.
    pub fn success_logging_to(mut self, log: Option<&File>) -> io::Result<()> {
        redirect_std_fds()?;
        if let Some(log) = log {
            nix::unistd::dup2_stdout(log)?;
            nix::unistd::dup2_stderr(log)?;
        }
        if let Some(mut pipe) = self.pipe.take() {
            pipe.write_all(&[0])?;
        }
        Ok(())
    }

    /// Start-up failed: the launching process exits 1. Standard streams are left as
    /// they are so the error message just printed reaches the terminal.
    pub fn failure(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(&[1]);
        }
    }
}

/// Points fds 0, 1 and 2 at `/dev/null`.
pub fn redirect_std_fds() -> io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&null)?;
    Ok(())
}

/// Points fd 2 at `log` (a debug log opened for appending), for a daemon that stays
/// in the foreground but was told to log to a file.
pub fn redirect_stderr(log: &File) -> io::Result<()> {
    nix::unistd::dup2_stderr(log)?;
    Ok(())
}

/// Whether the parent process is PID 1 (init or systemd, or the init of a PID
/// namespace): a daemon started by it has nobody to return to, so it need not fork
/// (UMIP's `daemon_start`; this is what makes a `Type=simple`/`notify` unit work).
pub fn parent_is_init() -> bool {
    nix::unistd::getppid().as_raw() == 1
}

/// Forks; the parent waits for the child's verdict and exits with it (0 on
/// [`Detached::success`], 1 otherwise, including when the child dies first). The child
/// starts a new session, changes to `/` and returns. See the module notes: single
/// threaded callers only.
pub fn daemonize() -> io::Result<Detached> {
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Flush anything buffered so it is not written twice.
    let _ = io::stdout().flush();
    // SAFETY: the documented contract of this function is that the process is single
    // threaded here, so the child may run arbitrary code after fork.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut verdict = [1u8];
            let mut pipe = File::from(read_end);
            let code = loop {
                match pipe.read(&mut verdict) {
                    Ok(1) if verdict[0] == 0 => break 0,
                    Ok(_) => break 1,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break 1,
                }
            };
            std::process::exit(code);
        }
        ForkResult::Child => {
            drop(read_end);
            nix::unistd::setsid()?;
            nix::unistd::chdir("/")?;
            Ok(Detached {
                pipe: Some(File::from(write_end)),
            })
        }
    }
}
