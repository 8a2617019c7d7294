//! The client's ear on its local link for local client discovery (RFC 4380
//! §5.2.8, `teredo::relay` has the protocol): a socket on the Teredo
//! discovery group 224.0.0.253:3544, and the link's subnet.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use teredo::addr::TEREDO_PORT;
use teredo::relay::{LocalLink, DISCOVERY_GROUP};
use tokio::net::UdpSocket;

/// Listens to the discovery group on the interface of one local address.
pub struct DiscoveryListener {
    socket: UdpSocket,
    link: LocalLink,
}

impl DiscoveryListener {
    /// Joins the discovery group on the interface that holds `local`'s
    /// address (`local`: our Teredo socket's endpoint on the link).
    pub fn open(endpoint: SocketAddrV4) -> io::Result<DiscoveryListener> {
        let local = *endpoint.ip();
        let prefix_len = prefix_len_of(local)?;
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // Every Teredo client on the host listens there.
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        // Bound to the group itself: only discovery bubbles arrive, never
        // unicast traffic for a Teredo server or relay on port 3544.
        s.bind(&SocketAddr::V4(SocketAddrV4::new(DISCOVERY_GROUP, TEREDO_PORT)).into())?;
        s.join_multicast_v4(&DISCOVERY_GROUP, &local)?;
        s.set_nonblocking(true)?;
        Ok(DiscoveryListener {
            socket: UdpSocket::from_std(s.into())?,
            link: LocalLink {
                addr: local,
                prefix_len,
                port: endpoint.port(),
            },
        })
    }

    /// The link it listens on.
    pub fn link(&self) -> LocalLink {
        self.link
    }

    /// The next datagram on the group, and its sender.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if let SocketAddr::V4(from) = from {
                return Ok((n, from));
            }
        }
    }
}

/// The prefix length of the interface address `ip`.
fn prefix_len_of(ip: Ipv4Addr) -> io::Result<u8> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    for ifa in addrs {
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        let (Some(addr), Some(mask)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) else {
            continue;
        };
        if addr.ip() == ip {
            let ones = u32::from(mask.ip()).count_ones();
            return Ok(u8::try_from(ones).unwrap_or(32));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no interface holds {ip}"),
    ))
}
