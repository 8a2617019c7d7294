//! The daemon's signals as a tokio stream of events (docs/compat.md,
//! "Process, signals, privileges").
//!
//! SIGINT, SIGQUIT and SIGTERM terminate; SIGHUP reloads; SIGUSR1 and SIGUSR2 are
//! caught and harmless (the C miredo leaves them at their default action, which kills
//! the monitor and orphans the worker — we fix that).

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// A signal the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalEvent {
    /// SIGINT, SIGQUIT or SIGTERM (the signal number).
    Terminate(i32),
    /// SIGHUP.
    Reload(i32),
    /// SIGUSR1.
    User1,
    /// SIGUSR2.
    User2,
}

impl SignalEvent {
    /// The signal number.
    pub fn signo(self) -> i32 {
        match self {
            SignalEvent::Terminate(n) | SignalEvent::Reload(n) => n,
            SignalEvent::User1 => libc::SIGUSR1,
            SignalEvent::User2 => libc::SIGUSR2,
        }
    }

    /// The signal's description, as `strsignal(3)` gives it in English.
    pub fn name(self) -> &'static str {
        signal_name(self.signo())
    }
}

/// `strsignal(3)` text (glibc, untranslated) for the signals a daemon reports, as in
/// `Exiting on signal 15 (Terminated)` or `Child 42 killed by signal 9 (Killed)`.
pub fn signal_name(signo: i32) -> &'static str {
    match signo {
        libc::SIGHUP => "Hangup",
        libc::SIGINT => "Interrupt",
        libc::SIGQUIT => "Quit",
        libc::SIGILL => "Illegal instruction",
        libc::SIGTRAP => "Trace/breakpoint trap",
        libc::SIGABRT => "Aborted",
        libc::SIGBUS => "Bus error",
        libc::SIGFPE => "Floating point exception",
        libc::SIGKILL => "Killed",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGUSR2 => "User defined signal 2",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGALRM => "Alarm clock",
        libc::SIGTERM => "Terminated",
        libc::SIGSTKFLT => "Stack fault",
        libc::SIGCHLD => "Child exited",
        libc::SIGCONT => "Continued",
        libc::SIGSTOP => "Stopped (signal)",
        libc::SIGTSTP => "Stopped",
        libc::SIGTTIN => "Stopped (tty input)",
        libc::SIGTTOU => "Stopped (tty output)",
        libc::SIGURG => "Urgent I/O condition",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "File size limit exceeded",
        libc::SIGVTALRM => "Virtual timer expired",
        libc::SIGPROF => "Profiling timer expired",
        libc::SIGWINCH => "Window changed",
        libc::SIGIO => "I/O possible",
        libc::SIGPWR => "Power failure",
        libc::SIGSYS => "Bad system call",
        _ => "Unknown signal",
    }
}

/// Receives the daemon's signals. Must be created inside a tokio runtime.
///
/// Creating it installs handlers for all six signals at once, so from then on none of
/// them has its default (fatal) action.
#[derive(Debug)]
pub struct Signals {
    int: Signal,
    quit: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn new() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// Waits for the next signal. `None` only if the runtime is shutting down.
    pub async fn recv(&mut self) -> Option<SignalEvent> {
        tokio::select! {
            r = self.term.recv() => r.map(|()| SignalEvent::Terminate(libc::SIGTERM)),
            r = self.int.recv() => r.map(|()| SignalEvent::Terminate(libc::SIGINT)),
            r = self.quit.recv() => r.map(|()| SignalEvent::Terminate(libc::SIGQUIT)),
            r = self.hup.recv() => r.map(|()| SignalEvent::Reload(libc::SIGHUP)),
            r = self.usr1.recv() => r.map(|()| SignalEvent::User1),
            r = self.usr2.recv() => r.map(|()| SignalEvent::User2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_name(libc::SIGTERM), "Terminated");
        assert_eq!(signal_name(libc::SIGHUP), "Hangup");
        assert_eq!(SignalEvent::Terminate(libc::SIGINT).name(), "Interrupt");
        assert_eq!(SignalEvent::User1.signo(), libc::SIGUSR1);
        assert_eq!(signal_name(1000), "Unknown signal");
    }
}
