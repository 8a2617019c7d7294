//! `sd_notify(3)` for `Type=notify` units. Every call is a no-op (returning `Ok`)
//! when `NOTIFY_SOCKET` is not set, so the daemons call these unconditionally.

use std::io;

use sd_notify::NotifyState;

/// `READY=1`: start-up finished (for miredo: the tunnel exists and the worker runs).
pub fn ready() -> io::Result<()> {
    sd_notify::notify(&[NotifyState::Ready])
}

/// `RELOADING=1` with `MONOTONIC_USEC=` (systemd ≥ 253 requires the timestamp).
/// Follow with [`ready`] when the reload is done.
pub fn reloading() -> io::Result<()> {
    let now = NotifyState::monotonic_usec_now()?;
    sd_notify::notify(&[NotifyState::Reloading, now])
}

/// `STOPPING=1`: shutting down.
pub fn stopping() -> io::Result<()> {
    sd_notify::notify(&[NotifyState::Stopping])
}

/// `STATUS=<text>`: a one-line status for `systemctl status`.
pub fn status(text: &str) -> io::Result<()> {
    // A newline would end the assignment early.
    let line = text.replace('\n', " ");
    sd_notify::notify(&[NotifyState::Status(&line)])
}

/// `READY=1` and `STATUS=<text>` in one datagram.
pub fn ready_with_status(text: &str) -> io::Result<()> {
    let line = text.replace('\n', " ");
    sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&line)])
}
