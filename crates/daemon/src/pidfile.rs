//! The PID file, with miredo's semantics (docs/compat.md, "Process, signals, privileges").
//!
//! Opened with `O_NOFOLLOW | O_CREAT | O_CLOEXEC`, mode 0644. It must be a regular
//! file with a single link, owned by us or root: we truncate and chown it, so a
//! symlink, hard link or file planted by a local user is refused. It is exclusively
//! locked with `lockf(F_TLOCK)` for the life of the [`Pidfile`], truncated, and the PID
//! is written **without** a trailing newline, then `fdatasync`ed. A stale (unlocked)
//! file is taken over. The file is unlinked when the [`Pidfile`] is dropped by the
//! process that created it.
//!
//! `lockf` locks are POSIX record locks: they belong to the process, so a second lock
//! attempt from the *same* process succeeds. They are the same locks the C miredo takes,
//! so ours and the original exclude each other.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The hint miredo prints after a pidfile lock failure.
pub const ALREADY_RUNNING_HINT: &str =
    "Please make sure another instance of the program is not already running.";

/// Creating the PID file failed.
///
/// Displays as miredo does: `Cannot create PID file <path>:\n <strerror>`.
#[derive(Debug)]
pub struct PidfileError {
    path: PathBuf,
    source: io::Error,
}

impl PidfileError {
    /// The PID file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// Whether another process holds the lock (`EAGAIN` or `EACCES`).
    pub fn is_locked(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::EAGAIN) | Some(libc::EACCES)
        )
    }

    /// The second line miredo logs when the file is locked by someone else.
    pub fn hint(&self) -> Option<&'static str> {
        self.is_locked().then_some(ALREADY_RUNNING_HINT)
    }
}

/// `strerror(3)` text for an error, without Rust's " (os error N)" suffix.
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => {
            let suffix = format!(" (os error {code})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
        }
        None => text,
    }
}

impl fmt::Display for PidfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cannot create PID file {}:\n {}",
            self.path.display(),
            strerror(&self.source)
        )
    }
}

impl std::error::Error for PidfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A locked PID file. Unlinked on drop (by the creating process only).
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    file: File,
    owner: u32,
}

impl Pidfile {
    /// Creates and locks `path` and writes the current PID into it.
    pub fn create(path: impl AsRef<Path>) -> Result<Pidfile, PidfileError> {
        let path = path.as_ref();
        let err = |source| PidfileError {
            path: path.to_owned(),
            source,
        };
        // O_NONBLOCK: a FIFO planted at the path must not hang us before the type check.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(err)?;
        // Judge the inode we opened, not the path: nothing can be swapped in
        // between. A second hard link could be a victim file (say /etc/shadow
        // linked into a writable directory): truncating and chowning it would
        // clobber it. A file owned by someone else was planted: refuse it too.
        let meta = file.metadata().map_err(err)?;
        if !meta.file_type().is_file() {
            return Err(err(io::Error::from_raw_os_error(libc::EINVAL)));
        }
        if meta.nlink() > 1 {
            return Err(err(io::Error::from_raw_os_error(libc::EMLINK)));
        }
        let euid = nix::unistd::geteuid().as_raw();
        if meta.uid() != euid && meta.uid() != 0 {
            return Err(err(io::Error::from_raw_os_error(libc::EPERM)));
        }
        // SAFETY: lockf on a valid, owned file descriptor; no memory is passed.
        if unsafe { libc::lockf(file.as_raw_fd(), libc::F_TLOCK, 0) } != 0 {
            return Err(err(io::Error::last_os_error()));
        }
        let pidfile = Pidfile {
            path: path.to_owned(),
            file,
            owner: std::process::id(),
        };
        pidfile.write_pid(std::process::id()).map_err(err)?;
        Ok(pidfile)
    }

    /// Replaces the content with `pid` (no trailing newline) and syncs it.
    pub fn write_pid(&self, pid: u32) -> io::Result<()> {
        let mut file = &self.file;
        file.set_len(0)?;
        // The descriptor has no O_APPEND: write at offset 0 explicitly.
        std::os::unix::fs::FileExt::write_all_at(file, pid.to_string().as_bytes(), 0)?;
        file.flush()?;
        file.sync_data()
    }

    /// Gives the file to root and `gid` (miredo's pidfile is root:nogroup).
    pub fn chown_group(&self, gid: u32) -> io::Result<()> {
        nix::unistd::fchown(
            &self.file,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(io::Error::from)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `path` still names the file we hold (not replaced behind our back).
    fn path_is_ours(&self) -> bool {
        let (Ok(ours), Ok(there)) = (self.file.metadata(), std::fs::symlink_metadata(&self.path))
        else {
            return false;
        };
        ours.dev() == there.dev() && ours.ino() == there.ino()
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // A forked child that inherited the value must not remove its parent's file.
        if std::process::id() == self.owner && self.path_is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
