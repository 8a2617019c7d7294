//! Running code of the test process itself inside a lab node.

use std::os::fd::AsRawFd;

use anyhow::{anyhow, bail, Context, Result};

use crate::Lab;

impl Lab {
    /// Runs `f` on a thread that has entered `node`'s network namespace: the
    /// sockets it opens live there, and the processes it spawns start there.
    pub fn in_netns<T: Send + 'static>(
        &self,
        node: &str,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = format!("/run/netns/{}", self.netns(node));
        std::thread::spawn(move || -> Result<T> {
            let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            // SAFETY: setns on a valid namespace fd; it affects only this thread.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {path}: {}", std::io::Error::last_os_error());
            }
            f()
        })
        .join()
        .map_err(|_| anyhow!("thread in {node} panicked"))?
    }
}
