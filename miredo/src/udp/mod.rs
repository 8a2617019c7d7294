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
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_cloexec(true)?;
    // Best effort: a smaller buffer only costs throughput.
    let _ = socket.set_recv_buffer_size(BUFFER);
    let _ = socket.set_send_buffer_size(BUFFER);
    socket.set_multicast_ttl_v4(1)?;
    set_pmtudisc_dont(&socket)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
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
