//! A small RFC 3164 writer for the local syslog socket (`/dev/log`).
//!
//! The line sent is what glibc's `syslog(3)` sends on Linux:
//! `<PRI>Mmm dd hh:mm:ss ident[pid]: message` (no hostname; the local daemon adds it).
//! The socket is an unbound `AF_UNIX` datagram socket connected to the path. On a send
//! error it reconnects once and retries; while the socket is missing, reconnection is
//! attempted at most once per second so a missing syslog daemon costs nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::localtime::LocalTime;
use crate::priority::{Facility, Severity};

/// The standard local syslog socket.
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// Longest message body sent in one datagram; longer messages are cut (at a character
/// boundary). Local syslog daemons accept much more, but a bound keeps one huge message
/// from failing with `EMSGSIZE`.
const MAX_MESSAGE: usize = 8 * 1024;

/// How often a missing socket is retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Formats one syslog datagram: `<PRI>TIMESTAMP ident[pid]: message`.
///
/// `timestamp` is the RFC 3164 `Mmm dd hh:mm:ss` form (see [`timestamp_now`]).
pub fn format_line(
    facility: Facility,
    severity: Severity,
    timestamp: &str,
    ident: &str,
    pid: u32,
    message: &str,
) -> String {
    let pri = facility.code() * 8 + severity.code();
    let message = truncate(message, MAX_MESSAGE);
    format!("<{pri}>{timestamp} {ident}[{pid}]: {message}")
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The current local time as `Mmm dd hh:mm:ss` (day padded with a space), as in RFC 3164.
pub fn timestamp_now() -> String {
    let Some(tm) = LocalTime::now() else {
        return "Jan  1 00:00:00".to_owned();
    };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        tm.month_abbr().unwrap_or("Jan"),
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec
    )
}

/// A connection to a local syslog socket that survives the daemon restarting.
#[derive(Debug)]
pub struct SyslogWriter {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    last_attempt: Option<Instant>,
}

impl SyslogWriter {
    /// Connects to the socket at `path`. Failing to connect is not an error: the writer
    /// retries later. Use [`SyslogWriter::is_connected`] to report it.
    pub fn new(path: impl Into<PathBuf>) -> (Self, Option<io::Error>) {
        let mut writer = SyslogWriter {
            path: path.into(),
            socket: None,
            last_attempt: None,
        };
        let err = writer.reconnect().err();
        (writer, err)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the socket is currently connected.
    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    fn reconnect(&mut self) -> io::Result<()> {
        self.socket = None;
        self.last_attempt = Some(Instant::now());
        let sock = UnixDatagram::unbound()?;
        sock.connect(&self.path)?;
        self.socket = Some(sock);
        Ok(())
    }

    /// Sends one datagram, reconnecting once on error.
    pub fn send(&mut self, line: &[u8]) -> io::Result<()> {
        if self.socket.is_none() {
            let recently = self.last_attempt.is_some_and(|t| t.elapsed() < RETRY_EVERY);
            if recently {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            }
            self.reconnect()?;
        }
        let first = match &self.socket {
            Some(sock) => sock.send(line),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        };
        match first {
            Ok(_) => Ok(()),
            Err(_) => {
                // The syslog daemon may have been restarted: reconnect and try again once.
                self.reconnect()?;
                match &self.socket {
                    Some(sock) => sock.send(line).map(|_| ()),
                    None => Err(io::Error::from(io::ErrorKind::NotConnected)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let line = format_line(
            Facility::Daemon,
            Severity::Notice,
            "Feb  3 04:05:06",
            "miredo",
            42,
            "Exiting on signal 15 (Terminated)",
        );
        assert_eq!(
            line,
            "<29>Feb  3 04:05:06 miredo[42]: Exiting on signal 15 (Terminated)"
        );
        let line = format_line(Facility::Local7, Severity::Alert, "x", "m", 1, "y");
        assert!(line.starts_with("<185>"), "{line}");
    }

    #[test]
    fn timestamp_shape() {
        let ts = timestamp_now();
        assert_eq!(ts.len(), 15, "{ts:?}");
        assert_eq!(&ts[3..4], " ");
        assert_eq!(&ts[9..10], ":");
    }

    #[test]
    fn long_messages_are_cut_at_char_boundary() {
        let msg = "é".repeat(MAX_MESSAGE);
        let line = format_line(Facility::User, Severity::Info, "t", "i", 1, &msg);
        assert!(line.len() < MAX_MESSAGE + 32);
    }

    #[test]
    fn missing_socket_is_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, err) = SyslogWriter::new(dir.path().join("nope"));
        assert!(err.is_some());
        assert!(!w.is_connected());
        assert!(w.send(b"x").is_err());
    }
}
