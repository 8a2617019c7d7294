//! `NonVolatileBindingCache` (`docs/compat.md`): the home agent's binding
//! cache kept in [`CACHE_FILE`], so that a restart (a package upgrade, a
//! crash) loses no binding: the mobile nodes still hold theirs, and would
//! otherwise be cut off until their next Binding Update.
//!
//! The format and the checks are [`mip6::bcache::saved`]'s; this module
//! does the I/O. Writes are atomic and crash-safe (a temporary file in the
//! same directory, fsync, rename, fsync of the directory: a crash at any
//! point leaves the old file or the new one, never a mix), done off the
//! event loop by one writer task that always writes the newest snapshot,
//! and rate-bounded: at most one snapshot every [`WRITE_EVERY`].
//!
//! What is saved: every installed binding (not those still in DAD, whose
//! BA has not gone out). At a clean exit the current cache is written once
//! more and kept: the home agent removes its kernel state at SIGTERM, but
//! the bindings stay valid at the mobile nodes until their lifetimes end,
//! so the next start restores them. A deregistration or an expiry removes a
//! binding from the file; deleting the file starts the next run empty.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mip6::bcache::saved::{self, SavedBinding};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::view::PublishThrottle;

/// Where the binding cache is kept (systemd's `StateDirectory=mip6d`; the
/// Debian package creates the directory).
pub(super) const CACHE_FILE: &str = "/var/lib/mip6d/binding-cache";

/// The shortest interval between two writes of the file.
pub(super) const WRITE_EVERY: Duration = Duration::from_secs(1);

/// Seconds since the Unix epoch on the wall clock (0 before it).
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The file and its writer.
pub(super) struct CacheFile {
    path: PathBuf,
    throttle: PublishThrottle,
    /// The newest snapshot, for the writer task (started at the first write).
    writer: Option<(watch::Sender<String>, JoinHandle<()>)>,
    /// The text last handed to the writer: an unchanged cache is not
    /// written again.
    last: Option<String>,
}

impl CacheFile {
    pub(super) fn new(path: impl Into<PathBuf>) -> CacheFile {
        CacheFile {
            path: path.into(),
            throttle: PublishThrottle::every(WRITE_EVERY),
            writer: None,
            last: None,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The saved bindings, or (logged, naming the file and the fault) none:
    /// a missing file is a first start, anything else unreadable is ignored.
    pub(super) fn read(&self) -> Vec<SavedBinding> {
        let path = self.path.display();
        match std::fs::read(&self.path) {
            Ok(bytes) => match saved::decode(&bytes) {
                Ok(bindings) => bindings,
                Err(e) => {
                    warn!("{path}: {e}; ignored, starting with an empty binding cache");
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                debug!("{path}: none saved");
                Vec::new()
            }
            Err(e) => {
                warn!("{path}: cannot read it: {e}; starting with an empty binding cache");
                Vec::new()
            }
        }
    }

    /// The binding cache changed.
    pub(super) fn changed(&mut self) {
        self.throttle.changed();
    }

    /// When the next write is due (`None`: nothing to write).
    pub(super) fn due(&self, now: Instant) -> Option<Instant> {
        self.throttle.due(now)
    }

    /// True (and counted as written) if a write is due at `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> bool {
        self.throttle.take(now)
    }

    /// Hands `text` to the writer task, unless it is what was written last.
    pub(super) fn write(&mut self, text: String) {
        if self.last.as_deref() == Some(text.as_str()) {
            return;
        }
        self.last = Some(text.clone());
        match &self.writer {
            Some((tx, _)) => {
                // The writer lives as long as the sender; it only ends with it.
                let _ = tx.send(text);
            }
            None => {
                let (tx, rx) = watch::channel(text);
                let task = tokio::spawn(writer(self.path.clone(), rx));
                self.writer = Some((tx, task));
            }
        }
    }

    /// Writes `text` (if new) and waits until the writer has written the
    /// newest snapshot: the clean exit's last write.
    pub(super) async fn flush(&mut self, text: String) {
        self.write(text);
        if let Some((tx, task)) = self.writer.take() {
            drop(tx);
            if let Err(e) = task.await {
                warn!("{}: the writer failed: {e}", self.path.display());
            }
        }
    }
}

/// Writes each new snapshot, the newest first (older ones it has not yet
/// seen are skipped), until the sender is dropped.
/// A failure is logged when it first happens and when it changes, not at
/// every write (a full or read-only disk would fill the log once a second).
async fn writer(path: PathBuf, mut rx: watch::Receiver<String>) {
    let mut failing: Option<String> = None;
    // The first value counts as unseen: write it, then wait for the next.
    loop {
        let text = rx.borrow_and_update().clone();
        let p = path.clone();
        let result = match tokio::task::spawn_blocking(move || {
            write_atomically(&p, text.as_bytes())
        })
        .await
        {
            Ok(r) => r.map_err(|e| format!("cannot write it: {e}")),
            Err(e) => Err(format!("the write failed: {e}")),
        };
        match result {
            Ok(()) => {
                if failing.take().is_some() {
                    info!("{}: written again", path.display());
                }
                debug!("{} written", path.display());
            }
            Err(e) => {
                if failing.as_deref() != Some(e.as_str()) {
                    warn!("{}: {e}", path.display());
                }
                failing = Some(e);
            }
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
}

/// Replaces `path` with `data` so that a crash leaves the old content or
/// the new, never a mix: a temporary file in the same directory, fsync,
/// rename over the old file, fsync of the directory (the rename itself).
pub(super) fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // systemd and the package create the directory; a start without them
    // gets it made, readable by root only (the file names where users are).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().map_or_else(
        || "binding-cache".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mip6d-cache-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// The file is replaced whole; a temporary file left by a crash before
    /// the rename does not change what is read.
    #[test]
    fn writes_replace_the_file_atomically() -> std::io::Result<()> {
        let dir = scratch("atomic");
        let path = dir.join("binding-cache");
        write_atomically(&path, b"old")?;
        std::fs::write(dir.join(".binding-cache.tmp"), b"torn")?;
        assert_eq!(std::fs::read(&path)?, b"old");
        write_atomically(&path, b"new")?;
        assert_eq!(std::fs::read(&path)?, b"new");
        let names: Vec<_> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("binding-cache")]);
        std::fs::remove_dir_all(&dir)
    }

    /// A directory that cannot be made is an error, not a panic, and the
    /// old file (here: none) is left as it was.
    #[test]
    fn an_unwritable_place_is_an_error() -> std::io::Result<()> {
        let dir = scratch("unwritable");
        std::fs::create_dir_all(&dir)?;
        let blocker = dir.join("not-a-directory");
        std::fs::write(&blocker, b"")?;
        assert!(write_atomically(&blocker.join("binding-cache"), b"x").is_err());
        std::fs::remove_dir_all(&dir)
    }

    /// Snapshots handed over quickly end with the newest on disk.
    #[tokio::test]
    async fn the_newest_snapshot_is_written_last() -> std::io::Result<()> {
        let dir = scratch("newest");
        let mut file = CacheFile::new(dir.join("binding-cache"));
        for i in 0..50 {
            file.write(format!("snapshot {i}\n"));
        }
        file.flush("final\n".to_owned()).await;
        assert_eq!(std::fs::read_to_string(file.path())?, "final\n");
        std::fs::remove_dir_all(&dir)
    }
}
