//! Which of several packet loops handles a datagram, when their sockets share
//! a port (`SO_REUSEPORT`): the loop that owns the datagram's source IPv4
//! address ([`owner`]).
//!
//! Without a program the kernel picks the socket by a hash of the source
//! address *and port* that userspace cannot compute, so the loop that
//! receives a peer's datagrams could not be the one that holds the peer's
//! state. A classic BPF program on the group (`SO_ATTACH_REUSEPORT_CBPF`)
//! computes [`owner`] instead; a loop that reads a packet for a peer from
//! elsewhere (the tunnel) computes the same function from the address the
//! peer's Teredo address embeds. A Teredo peer writes from the IPv4 its
//! address names (RFC 4380 §5.2.3 drops the rest), so both directions of a
//! peer's traffic meet in one loop.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;

/// Multiplier of the hash: 2³² divided by the golden ratio, which spreads
/// consecutive addresses (a lab's, a CGN's pool) over the loops.
const MIX: u32 = 0x9e37_79b1;

/// The loop (0..`loops`) that owns the peers at `ip`. `loops` must not be 0.
pub fn owner(ip: Ipv4Addr, loops: u32) -> u32 {
    (u32::from(ip).wrapping_mul(MIX) >> 16) % loops.max(1)
}

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h): class | size or
// operation | source.
/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_MUL | BPF_K`.
const BPF_ALU_MUL_K: u16 = 0x04 | 0x20;
/// `BPF_ALU | BPF_RSH | BPF_K`.
const BPF_ALU_RSH_K: u16 = 0x04 | 0x70;
/// `BPF_ALU | BPF_MOD | BPF_K`.
const BPF_ALU_MOD_K: u16 = 0x04 | 0x90;
/// `BPF_RET | BPF_A`.
const BPF_RET_A: u16 = 0x06 | 0x10;
/// `SKF_NET_OFF`: offsets from the network header (the program starts at the
/// UDP payload); 12 is the IPv4 source address.
const SKF_NET_OFF: i32 = -0x10_0000;

fn insn(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The program: [`owner`] of the datagram's IPv4 source, as the index of
/// the socket in the group (sockets join it in the order they bind).
fn program(loops: u32) -> [libc::sock_filter; 5] {
    [
        insn(BPF_LD_W_ABS, (SKF_NET_OFF + 12) as u32),
        insn(BPF_ALU_MUL_K, MIX),
        insn(BPF_ALU_RSH_K, 16),
        insn(BPF_ALU_MOD_K, loops.max(1)),
        insn(BPF_RET_A, 0),
    ]
}

/// Makes the group `socket` belongs to give each datagram to socket number
/// [`owner`]`(source, loops)`. The group must hold `loops` sockets, bound in
/// loop order (an index past the last falls back to the kernel's hash).
pub fn attach(socket: &UdpSocket, loops: u32) -> io::Result<()> {
    let filter = program(loops);
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: setsockopt with a valid fd and a pointer to a sock_fprog whose
    // filter array outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use std::time::Duration;

    use socket2::{Domain, Protocol, Socket, Type};

    fn reuseport(addr: SocketAddrV4) -> UdpSocket {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        s.set_reuse_port(true).expect("SO_REUSEPORT");
        s.bind(&addr.into()).expect("bind");
        s.into()
    }

    #[test]
    fn owner_spreads_consecutive_addresses_over_every_loop() {
        let mut seen = [0u32; 4];
        for k in 0..64u8 {
            seen[owner(Ipv4Addr::new(203, 0, 113, k), 4) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n >= 8), "{seen:?}");
        assert_eq!(owner(Ipv4Addr::new(192, 0, 2, 1), 1), 0);
        assert_eq!(owner(Ipv4Addr::new(192, 0, 2, 1), 0), 0, "0 loops is 1");
    }

    /// Four sockets on one loopback port: every datagram lands on the
    /// socket [`owner`] names for its source address (127/8 is all ours).
    #[test]
    fn the_kernel_gives_each_datagram_to_the_owner_of_its_source() {
        const LOOPS: u32 = 4;
        let first = reuseport(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
        let Ok(std::net::SocketAddr::V4(local)) = first.local_addr() else {
            panic!("no local address");
        };
        let mut group = vec![first];
        for _ in 1..LOOPS {
            group.push(reuseport(local));
        }
        attach(&group[0], LOOPS).expect("SO_ATTACH_REUSEPORT_CBPF");
        let sources: Vec<Ipv4Addr> = (2..34u8).map(|k| Ipv4Addr::new(127, 0, 0, k)).collect();
        for src in &sources {
            let sender = UdpSocket::bind(SocketAddrV4::new(*src, 0)).expect("sender");
            sender.send_to(&src.octets(), local).expect("send");
        }
        let mut got = 0;
        for (index, socket) in group.iter().enumerate() {
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let mut buf = [0u8; 16];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let std::net::SocketAddr::V4(from) = from else {
                    panic!("not IPv4: {from}");
                };
                assert_eq!(&buf[..n], &from.ip().octets());
                assert_eq!(
                    owner(*from.ip(), LOOPS) as usize,
                    index,
                    "{from} landed on socket {index}"
                );
                got += 1;
            }
        }
        assert_eq!(got, sources.len(), "datagrams lost");
    }
}
