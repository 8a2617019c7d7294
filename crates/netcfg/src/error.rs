//! Errors of the netlink side of netcfg.

use std::io;

/// A failed kernel operation. `op` names what we were doing, in `ip`'s words
/// where possible (for example `"route add"`), so logs read like the shell
/// hook they replace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused the request (or the socket failed).
    #[error("{op}: {source}")]
    Kernel {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The kernel refused an operation on one named object (a tunnel, an
    /// XFRM state or policy, a proxy entry, a socket option).
    #[error("{op} {object}: {source}")]
    KernelObject {
        op: &'static str,
        object: String,
        #[source]
        source: io::Error,
    },
    /// No interface has that name or index.
    #[error("no such interface: {0}")]
    NoSuchLink(String),
    /// The kernel answered something we could not make sense of.
    #[error("{op}: unexpected netlink answer: {detail}")]
    Protocol { op: &'static str, detail: String },
}

impl Error {
    /// The errno of a kernel refusal, if that is what this is.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { source, .. } | Error::KernelObject { source, .. } => {
                source.raw_os_error()
            }
            Error::NoSuchLink(_) => Some(libc::ENODEV),
            Error::Protocol { .. } => None,
        }
    }

    /// `EEXIST`: the address, route or rule is already there.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// `ENOENT`/`ESRCH`/`ENODEV`/`EADDRNOTAVAIL`: nothing to delete.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENOENT | libc::ESRCH | libc::ENODEV | libc::EADDRNOTAVAIL)
        )
    }

    pub(crate) fn from_rtnl(op: &'static str, e: rtnetlink::Error) -> Self {
        match e {
            rtnetlink::Error::NetlinkError(msg) => Error::Kernel {
                op,
                source: msg.to_io(),
            },
            other => Error::Protocol {
                op,
                detail: other.to_string(),
            },
        }
    }

    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        Error::Kernel { op, source }
    }

    /// A refusal of `op` on `object` (described as `ip` would print it).
    pub(crate) fn object(op: &'static str, object: impl Into<String>, source: io::Error) -> Self {
        Error::KernelObject {
            op,
            object: object.into(),
            source,
        }
    }

    /// Like [`Error::from_rtnl`], naming the object.
    pub(crate) fn from_rtnl_object(
        op: &'static str,
        object: impl Into<String>,
        e: rtnetlink::Error,
    ) -> Self {
        match e {
            rtnetlink::Error::NetlinkError(msg) => Error::object(op, object, msg.to_io()),
            other => Error::Protocol {
                op,
                detail: format!("{}: {other}", object.into()),
            },
        }
    }
}

/// Shorthand for netcfg results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The C library's text for an errno, as `%m` prints it (no "(os error N)").
pub fn strerror(errno: i32) -> String {
    let full = io::Error::from_raw_os_error(errno).to_string();
    match full.rfind(" (os error ") {
        Some(pos) => full[..pos].to_string(),
        None => full,
    }
}
