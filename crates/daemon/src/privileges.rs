//! Users and capabilities (docs/compat.md, "Process, signals,
//! privileges"), behind the `caps` crate.
//!
//! # Capabilities miredo needs
//!
//! - `CAP_NET_ADMIN`: create and configure the TUN interface over netlink (links,
//!   addresses, routes) and run the built-in hook equivalent;
//! - `CAP_NET_RAW`: the raw IPv6 socket (miredo-server; the client has no raw
//!   socket);
//! - `CAP_NET_BIND_SERVICE`: only when `BindPort` is below 1024. The C miredo binds its
//!   UDP socket after dropping privileges and fails at run time; keeping this capability
//!   is our fix;
//! - `CAP_SETUID`, `CAP_SETGID`: only until the switch to the unprivileged user
//!   ([`drop_to_user`] uses and then drops them);
//! - `CAP_KILL` (the monitor signals its worker) and `CAP_SYS_CHROOT` with `-t`, in the
//!   root process restricted with [`restrict_caps`];
//! - the client's root hook runner keeps `CAP_NET_ADMIN` alone, bounding set included
//!   ([`confine_root`]), so the hook scripts it runs get nothing more.
//!
//! # Threads
//!
//! Linux capabilities and `PR_SET_KEEPCAPS` are per thread, while glibc's
//! `setuid`/`setgid` change every thread. Call [`drop_to_user`] and [`restrict_caps`]
//! while the process is single-threaded (before the tokio runtime is built, or inside a
//! `current_thread` runtime with no blocking-pool threads yet); threads created later
//! inherit the calling thread's sets.

use std::collections::HashSet;
use std::ffi::CString;

pub use caps::Capability;
use caps::{CapSet, CapsHashSet};
use nix::unistd::{Gid, Uid};

/// miredo's text when the unprivileged user is root.
pub const ROOT_USER_MESSAGE: &str = "Error: This program is not supposed to keep root\n\
privileges. That is potentially very dangerous\n\
(all the more as it has never been externally audited).";

/// Capabilities the miredo relay/server worker keeps after [`drop_to_user`].
pub const MIREDO_SERVER_CAPS: &[Capability] = &[Capability::CAP_NET_RAW];

/// A privilege operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivError {
    /// No such user: `User "<name>": User not found`.
    #[error("User \"{0}\": User not found")]
    UserNotFound(String),
    /// The user database could not be read.
    #[error("User \"{name}\": {source}")]
    Lookup {
        /// The user name.
        name: String,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// The unprivileged user has uid 0.
    #[error("{ROOT_USER_MESSAGE}")]
    RootUser,
    /// A set*id / initgroups call failed: `Error (setuid): <strerror>`.
    #[error("Error ({call}): {}", crate::pidfile::strerror(&std::io::Error::from(*.source)))]
    Syscall {
        /// The call (`setgid`, `initgroups`, `setuid`, `prctl`).
        call: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A capability call failed.
    #[error("Error (capabilities): {0}")]
    Caps(String),
    /// A capability to keep is not in the permitted set.
    #[error("Error (capabilities): {0} is not permitted")]
    NotPermitted(Capability),
}

/// An unprivileged user from the user database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id (never 0).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks up `name` (miredo's `-u`); refuses uid 0 with miredo's message.
pub fn lookup_user(name: &str) -> Result<User, PrivError> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|source| PrivError::Lookup {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| PrivError::UserNotFound(name.to_owned()))?;
    if user.uid.is_root() {
        return Err(PrivError::RootUser);
    }
    Ok(User {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    })
}

fn caps_err(e: caps::errors::CapsError) -> PrivError {
    PrivError::Caps(e.to_string())
}

fn set_of(keep: &[Capability]) -> CapsHashSet {
    keep.iter().copied().collect::<HashSet<_>>()
}

/// Restricts the calling (root) thread's permitted and effective sets to `keep`, and
/// clears the inheritable and ambient sets. The bounding set is left alone so that
/// programs the root process runs (the hook) keep what they need.
pub fn restrict_caps(keep: &[Capability]) -> Result<(), PrivError> {
    let keep = set_of(keep);
    let permitted = caps::read(None, CapSet::Permitted).map_err(caps_err)?;
    if let Some(missing) = keep.iter().find(|c| !permitted.contains(c)) {
        return Err(PrivError::NotPermitted(*missing));
    }
    // Effective must stay a subset of permitted at every step: shrink it first.
    caps::set(None, CapSet::Effective, &keep).map_err(caps_err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(caps_err)?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_err)?;
    // Ambient capabilities may be unsupported (old kernels); nothing to clear then.
    let _ = caps::clear(None, CapSet::Ambient);
    Ok(())
}

/// Confines a process that stays uid 0 (the hook runner) to `keep`: every other
/// capability leaves the bounding set, so no program it executes gets it back (a root
/// exec otherwise regains the whole bounding set), then [`restrict_caps`] keeps
/// exactly `keep` in the permitted and effective sets. `keep` must stay permitted:
/// under `NoNewPrivileges` an exec gets at most the caller's permitted set.
///
/// Unlike [`drop_to_user`], a capability that cannot leave the bounding set is an
/// error (dropping needs `CAP_SETPCAP`). See the module notes on threads.
pub fn confine_root(keep: &[Capability]) -> Result<(), PrivError> {
    let keep_set = set_of(keep);
    let bounding = caps::read(None, CapSet::Bounding).map_err(caps_err)?;
    for cap in bounding.difference(&keep_set) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(caps_err)?;
    }
    if let Some(missing) = keep_set.iter().find(|c| !bounding.contains(c)) {
        return Err(PrivError::NotPermitted(*missing));
    }
    restrict_caps(keep)
}

/// Switches to `user` (supplementary groups, gid, then uid) keeping exactly `keep` in
/// the permitted and effective sets; everything else is dropped, including from the
/// bounding set (best effort: it needs `CAP_SETPCAP`), so an exec cannot regain it.
///
/// Uses `PR_SET_KEEPCAPS` across the uid change, then re-raises `keep` in the effective
/// set (the kernel clears it when the effective uid leaves 0). See the module notes on
/// threads.
pub fn drop_to_user(user: &User, keep: &[Capability]) -> Result<(), PrivError> {
    if user.uid == 0 {
        return Err(PrivError::RootUser);
    }
    let keep = set_of(keep);
    let permitted = caps::read(None, CapSet::Permitted).map_err(caps_err)?;
    if let Some(missing) = keep.iter().find(|c| !permitted.contains(c)) {
        return Err(PrivError::NotPermitted(*missing));
    }
    let name =
        CString::new(user.name.as_str()).map_err(|_| PrivError::UserNotFound(user.name.clone()))?;
    let gid = Gid::from_raw(user.gid);
    let uid = Uid::from_raw(user.uid);

    // While still fully privileged: shrink the bounding set (needs CAP_SETPCAP).
    if let Ok(bounding) = caps::read(None, CapSet::Bounding) {
        for cap in bounding.difference(&keep) {
            let _ = caps::drop(None, CapSet::Bounding, *cap);
        }
    }

    nix::unistd::initgroups(&name, gid).map_err(|source| PrivError::Syscall {
        call: "initgroups",
        source,
    })?;
    nix::unistd::setresgid(gid, gid, gid).map_err(|source| PrivError::Syscall {
        call: "setgid",
        source,
    })?;

    // Keep the permitted set across setuid; the kernel still clears the effective set.
    caps::securebits::set_keepcaps(true).map_err(caps_err)?;
    let switched = nix::unistd::setresuid(uid, uid, uid);
    let unset = caps::securebits::set_keepcaps(false);
    switched.map_err(|source| PrivError::Syscall {
        call: "setuid",
        source,
    })?;
    unset.map_err(caps_err)?;

    caps::clear(None, CapSet::Effective).map_err(caps_err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(caps_err)?;
    caps::set(None, CapSet::Effective, &keep).map_err(caps_err)?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_err)?;
    let _ = caps::clear(None, CapSet::Ambient);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_message() {
        let err = lookup_user("no-such-user-miredo-rs").expect_err("must not exist");
        assert_eq!(
            err.to_string(),
            "User \"no-such-user-miredo-rs\": User not found"
        );
    }

    #[test]
    fn root_is_refused() {
        let err = lookup_user("root").expect_err("root refused");
        assert!(matches!(err, PrivError::RootUser));
        assert!(err
            .to_string()
            .starts_with("Error: This program is not supposed"));
    }

    #[test]
    fn nobody_resolves() {
        let user = lookup_user("nobody").expect("nobody exists");
        assert_ne!(user.uid, 0);
    }
}
