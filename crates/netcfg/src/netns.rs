//! Run code in a fresh network namespace, on a dedicated thread.
//!
//! `unshare(CLONE_NEWNET)` moves only the calling *thread* into the new
//! namespace, so the rest of the process (and the host) is untouched.
//! Sockets, TUN devices, `/proc/sys/net` and child processes spawned from
//! that thread all live in the new namespace. Used by tests and the lab.

use std::future::Future;
use std::io;

/// Move the calling thread into a new, empty network namespace (only `lo`,
/// down). Needs `CAP_SYS_ADMIN`; fails with `EPERM` otherwise.
pub fn unshare_netns() -> io::Result<()> {
    // SAFETY: unshare(2) takes a flag word and touches no memory of ours.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Run `f` on a new thread inside a new network namespace, with a
/// current-thread tokio runtime, and return its output. A panic inside `f`
/// is propagated to the caller. The namespace vanishes with the thread
/// (once nothing else holds it).
pub fn block_on_in_new_netns<F, Fut>(f: F) -> io::Result<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let thread = std::thread::Builder::new().name("netns".into()).spawn(
        move || -> io::Result<Fut::Output> {
            unshare_netns()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(f()))
        },
    )?;
    match thread.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
