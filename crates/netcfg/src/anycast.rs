//! Anycast addresses a daemon receives on (a Mobile IPv6 home agent's
//! home-agents anycast addresses, RFC 6275 §10.5). They are joined with
//! `IPV6_JOIN_ANYCAST` on a socket of their own, so the kernel drops them
//! with that socket: at exit, and also if the daemon dies, nothing is left
//! behind.

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The anycast memberships.
#[derive(Debug)]
pub struct AnycastMemberships {
    sock: OwnedFd,
    joined: Vec<(u32, Ipv6Addr)>,
}

impl AnycastMemberships {
    /// A UDP socket to hold them (never bound, never sends).
    pub fn open() -> io::Result<AnycastMemberships> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::IPPROTO_UDP,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(AnycastMemberships {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            sock: unsafe { OwnedFd::from_raw_fd(fd) },
            joined: Vec::new(),
        })
    }

    fn set(&self, option: libc::c_int, ifindex: u32, addr: Ipv6Addr) -> io::Result<()> {
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: addr.octets(),
            },
            ipv6mr_interface: ifindex,
        };
        // SAFETY: `mreq` lives across the call and its size is passed.
        let r = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::IPPROTO_IPV6,
                option,
                std::ptr::from_ref(&mreq).cast(),
                libc::socklen_t::try_from(std::mem::size_of::<libc::ipv6_mreq>())
                    .unwrap_or(libc::socklen_t::MAX),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Joins `addr` on `ifindex`; `Ok(false)` if already joined.
    pub fn join(&mut self, ifindex: u32, addr: Ipv6Addr) -> io::Result<bool> {
        if self.is_joined(addr) {
            return Ok(false);
        }
        self.set(libc::IPV6_JOIN_ANYCAST, ifindex, addr)?;
        self.joined.push((ifindex, addr));
        Ok(true)
    }

    /// True if `addr` is one of ours.
    pub fn is_joined(&self, addr: Ipv6Addr) -> bool {
        self.joined.iter().any(|(_, a)| *a == addr)
    }

    /// Leaves every address (closing the socket would too).
    pub fn leave_all(&mut self) -> Vec<(Ipv6Addr, io::Error)> {
        let mut errors = Vec::new();
        for (ifindex, addr) in std::mem::take(&mut self.joined) {
            if let Err(e) = self.set(libc::IPV6_LEAVE_ANYCAST, ifindex, addr) {
                errors.push((addr, e));
            }
        }
        errors
    }
}
