//! The Teredo UDP socket (RFC 4380 §5.2: one socket for the server, peers and
//! relays), and its batched I/O for the packet path ([`batch`]).

pub mod batch;
pub mod runs;
pub mod side;
pub mod steer;
mod sys;

use std::net::{SocketAddrV4, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Socket buffers: 256 KiB (the kernel doubles it). miredo keeps the kernel
/// default (208 KiB), which drops bursts at high rates; 4 MiB, which we used
/// to ask for, builds a standing queue of 6–21 ms behind a TCP transfer
/// (docs/benchmarks.md, "latency under load"); this size absorbs a
/// scheduling hiccup (≈ 4 ms at 600 Mbit/s) without one, and the batched
/// receive drains it faster per wake-up.
const BUFFER: usize = 256 << 10;

/// Binds the client/relay socket: DF not set (IP_PMTUDISC_DONT:
/// Teredo relies on IPv4 fragmentation), multicast TTL 1.
pub fn bind(addr: SocketAddrV4) -> std::io::Result<UdpSocket> {
    let socket = teredo_socket()?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A UDP socket with the options of every Teredo socket, not yet bound.
fn teredo_socket() -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_cloexec(true)?;
    // Best effort: a smaller buffer only costs throughput.
    let _ = socket.set_recv_buffer_size(BUFFER);
    let _ = socket.set_send_buffer_size(BUFFER);
    socket.set_multicast_ttl_v4(1)?;
    set_pmtudisc_dont(&socket)?;
    Ok(socket)
}

/// `count` sockets sharing `addr` (`SO_REUSEPORT`), with the options of
/// [`bind`], in the order the group numbers them ([`steer`]). A fixed port is
/// first bound once without sharing and released: that fails, as [`bind`]
/// does, when anything else holds the port, which the shared sockets alone
/// would not notice. Port 0: the first socket's port, for all.
pub fn bind_group(addr: SocketAddrV4, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    if addr.port() != 0 {
        drop(bind(addr)?);
    }
    let mut group: Vec<UdpSocket> = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let at = match group.first().map(UdpSocket::local_addr) {
            Some(Ok(std::net::SocketAddr::V4(first))) => first,
            Some(Ok(_)) => return Err(std::io::Error::other("not an IPv4 socket")),
            Some(Err(e)) => return Err(e),
            None => addr,
        };
        let socket = teredo_socket()?;
        socket.set_reuse_port(true)?;
        socket.bind(&at.into())?;
        group.push(socket.into());
    }
    Ok(group)
}

/// DF not set (`IP_PMTUDISC_DONT`), as on every Teredo socket: Teredo relies
/// on IPv4 fragmentation (RFC 4380 §5.1.1).
pub(crate) fn set_pmtudisc_dont(socket: &Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value: libc::c_int = libc::IP_PMTUDISC_DONT;
    // SAFETY: setsockopt with a valid fd and a pointer to a c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
