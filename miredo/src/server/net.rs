//! miredo-server's sockets: UDP 3544 on both server addresses, and one raw IPv6
//! socket for the clients' ping tests (RFC 4380 §5.3).
//!
//! # The raw socket
//!
//! `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)`, as miredo: on Linux, protocol
//! `IPPROTO_RAW` implies `IPV6_HDRINCL`, so the packet a client sent leaves byte for
//! byte, with its Teredo source address (the kernel does not check that the source is
//! local on a header-including socket) and its hop limit. An `IPPROTO_ICMPV6` raw
//! socket would not do: the kernel would pick one of our own addresses as the source,
//! and the echo reply would come back to us instead of the client.
//!
//! `CAP_NET_RAW` is checked only when a socket is created, so the socket is opened as
//! root and the daemon then drops every capability: the open descriptor keeps working
//! (and a reload reuses it; it does not depend on the configuration).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use teredo::addr::TEREDO_PORT;
use teredo::server::{Local, ServerConfig};
use tokio::net::UdpSocket;

use crate::udp::set_pmtudisc_dont;

/// How many times a raw send failing with an error left by an earlier ICMPv6 message
/// is retried (miredo: 10).
pub const RAW_SEND_ATTEMPTS: usize = 10;

/// The raw IPv6 output socket.
#[derive(Debug)]
pub struct RawIpv6 {
    socket: Socket,
}

impl RawIpv6 {
    /// Opens the socket (needs `CAP_NET_RAW`).
    pub fn open() -> io::Result<RawIpv6> {
        let socket = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        socket.set_cloexec(true)?;
        // Never block the packet loop: a full send buffer drops the packet.
        socket.set_nonblocking(true)?;
        Ok(RawIpv6 { socket })
    }

    /// The descriptor.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }

    /// Sends the whole IPv6 packet `packet` toward `dst`. Errors that a previous
    /// ICMPv6 error left on the socket (unreachable, refused) are reported by the
    /// next send and say nothing about this packet: retry those.
    pub fn send(&self, dst: Ipv6Addr, packet: &[u8]) -> io::Result<()> {
        let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, 0));
        let mut attempt = 1;
        loop {
            match self.socket.send_to(packet, &to) {
                Ok(_) => return Ok(()),
                Err(e) if attempt < RAW_SEND_ATTEMPTS && is_icmp_residue(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_icmp_residue(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::ECONNREFUSED
                | libc::EHOSTDOWN
                | libc::EPROTO
                | libc::ENOPROTOOPT
        )
    )
}

/// Socket buffers of the shared sockets: 4 MiB, the client's size before it was cut
/// for latency; a server sees no transfer queue behind its short exchanges.
const SOCKET_BUFFER: usize = 4 << 20;

/// The two UDP sockets, bound to port 3544 of each server address.
#[derive(Debug)]
pub struct UdpPair {
    /// On `ServerBindAddress`.
    pub primary: UdpSocket,
    /// On `ServerBindAddress2`.
    pub secondary: UdpSocket,
    addresses: (Ipv4Addr, Ipv4Addr),
}

/// A server socket could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("Error ({ip}): {text}")]
pub struct BindError {
    /// The address.
    pub ip: Ipv4Addr,
    /// `strerror` text.
    pub text: String,
    /// Whether the address or port is taken (the other-instance hint applies).
    pub in_use: bool,
}

fn bind_error(ip: Ipv4Addr) -> impl Fn(io::Error) -> BindError {
    move |e: io::Error| BindError {
        ip,
        text: crate::config::io_error_text(&e),
        in_use: e.kind() == io::ErrorKind::AddrInUse,
    }
}

fn bind_one(ip: Ipv4Addr) -> Result<std::net::UdpSocket, BindError> {
    let fail = bind_error(ip);
    let s = crate::udp::bind(SocketAddrV4::new(ip, TEREDO_PORT)).map_err(&fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    Ok(s)
}

/// One of several sockets on `ip`:3544 that share the port (`SO_REUSEPORT`:
/// the kernel spreads the datagrams over them by a hash of the sender's
/// address and port), with the options of [`crate::udp::bind`].
fn bind_shared(ip: Ipv4Addr) -> Result<std::net::UdpSocket, BindError> {
    let fail = bind_error(ip);
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(&fail)?;
    socket.set_cloexec(true).map_err(&fail)?;
    socket.set_reuse_port(true).map_err(&fail)?;
    // Best effort, as for the client's socket: a smaller buffer costs only bursts.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    set_pmtudisc_dont(&socket).map_err(&fail)?;
    socket
        .bind(&SocketAddrV4::new(ip, TEREDO_PORT).into())
        .map_err(&fail)?;
    socket.set_nonblocking(true).map_err(&fail)?;
    Ok(socket.into())
}

impl UdpPair {
    /// Binds both sockets as plain std sockets (before the runtime exists, while
    /// still root, before daemonizing: a failure is reported to the caller).
    pub fn bind(config: &ServerConfig) -> Result<StdUdpPair, BindError> {
        Ok(StdUdpPair {
            primary: bind_one(config.primary)?,
            secondary: bind_one(config.secondary)?,
            addresses: (config.primary, config.secondary),
        })
    }

    /// `workers` pairs sharing the two ports, one per packet loop. One
    /// worker gets a plain [`UdpPair::bind`]. For more, each address is first
    /// bound once without `SO_REUSEPORT` and released: that fails, as a plain
    /// bind does, when anything (another server among them) holds the port,
    /// which the shared sockets alone would not notice.
    pub fn bind_workers(
        config: &ServerConfig,
        workers: usize,
    ) -> Result<Vec<StdUdpPair>, BindError> {
        if workers <= 1 {
            return Ok(vec![UdpPair::bind(config)?]);
        }
        drop(UdpPair::bind(config)?);
        (0..workers)
            .map(|_| {
                Ok(StdUdpPair {
                    primary: bind_shared(config.primary)?,
                    secondary: bind_shared(config.secondary)?,
                    addresses: (config.primary, config.secondary),
                })
            })
            .collect()
    }

    /// The socket `local` stands for.
    pub fn get(&self, local: Local) -> &UdpSocket {
        match local {
            Local::Primary => &self.primary,
            Local::Secondary => &self.secondary,
        }
    }

    /// True if these sockets serve `config`'s addresses.
    pub fn serves(&self, config: &ServerConfig) -> bool {
        self.addresses == (config.primary, config.secondary)
    }
}

/// [`UdpPair`] before it joins the runtime.
#[derive(Debug)]
pub struct StdUdpPair {
    primary: std::net::UdpSocket,
    secondary: std::net::UdpSocket,
    addresses: (Ipv4Addr, Ipv4Addr),
}

impl StdUdpPair {
    /// The primary socket's descriptor.
    pub fn primary_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.primary)
    }

    /// The secondary socket's descriptor.
    pub fn secondary_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.secondary)
    }

    /// Registers the sockets with the (current) tokio runtime.
    pub fn into_tokio(self) -> io::Result<UdpPair> {
        Ok(UdpPair {
            primary: UdpSocket::from_std(self.primary)?,
            secondary: UdpSocket::from_std(self.secondary)?,
            addresses: self.addresses,
        })
    }
}
