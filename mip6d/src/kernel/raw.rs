//! The raw sockets as the drivers use them: netcfg's
//! Mobility Header socket (checksum at offset 4, HAO and RH2 from ancillary
//! data, RH2 written as an `IPV6_RTHDR` control message), ICMPv6 socket (type
//! filter, hop limit 255) and `IPPROTO_RAW` sender (Neighbor Solicitations
//! from `::` for DAD on the mobile node's behalf), each message received as
//! one owned [`Received`].

use std::net::Ipv6Addr;

use netcfg::icmp6_socket::{Icmp6Filter, Icmp6Socket as NlIcmp6, Ip6RawSender};
use netcfg::mh_socket::MhSocket as NlMh;
use netcfg::mh_socket::{RecvMeta, SendMeta};

type Res<T> = Result<T, netcfg::Error>;

/// One datagram received on a raw IPv6 socket, with what the kernel told
/// about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IPv6 source as delivered (after the kernel's HAO swap: the home address).
    pub src: Ipv6Addr,
    /// IPv6 destination as delivered (after RH2 processing: the home address).
    pub dst: Ipv6Addr,
    /// Arrival interface.
    pub ifindex: u32,
    /// Hop limit, when asked for.
    pub hop_limit: Option<u8>,
    /// The address in the Home Address option, after the kernel's swap: the
    /// packet's original source, i.e. the care-of address.
    pub hao: Option<Ipv6Addr>,
    /// The address in the Type 2 routing header after processing: the
    /// packet's original destination, i.e. the care-of address.
    pub rh2: Option<Ipv6Addr>,
    /// The upper-layer message (MH or ICMPv6).
    pub payload: Vec<u8>,
}

impl Received {
    fn new(meta: &RecvMeta, buf: &[u8]) -> Received {
        Received {
            src: meta.src.unwrap_or(Ipv6Addr::UNSPECIFIED),
            dst: meta.dst.unwrap_or(Ipv6Addr::UNSPECIFIED),
            ifindex: meta.ifindex,
            hop_limit: meta.hop_limit,
            hao: meta.hao_address(),
            rh2: meta.rh2_address(),
            payload: buf[..meta.len.min(buf.len())].to_vec(),
        }
    }
}

/// The Mobility Header socket.
#[derive(Debug)]
pub struct MhSocket {
    sock: NlMh,
}

impl MhSocket {
    /// Opens it (checksum offset 4, packet info, destination options and
    /// routing headers delivered as ancillary data).
    pub fn open() -> Res<MhSocket> {
        Ok(MhSocket {
            sock: NlMh::open()?,
        })
    }

    /// See [`NlMh::set_recv_buffer`].
    pub fn set_recv_buffer(&self, bytes: i32) -> Res<()> {
        self.sock.set_recv_buffer(bytes)
    }

    /// See [`NlMh::drop_home_binding_updates`].
    pub fn drop_home_binding_updates(&self) -> Res<()> {
        self.sock.drop_home_binding_updates()
    }

    /// The next Mobility Header message (checksum already verified by the kernel).
    pub async fn recv(&self) -> Res<Received> {
        let mut buf = vec![0u8; 2048];
        let meta = self.sock.recv(&mut buf).await?;
        Ok(Received::new(&meta, &buf))
    }

    /// Sends `mh` (checksum left zero: the kernel fills it) from `src` to
    /// `dst`, out of `ifindex` if non-zero, with a Type 2 routing header
    /// carrying `rh2` if given (the packet then goes to `rh2` first and
    /// `dst` is the routing header's final address).
    pub async fn send(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ifindex: u32,
        rh2: Option<Ipv6Addr>,
        mh: &[u8],
    ) -> Res<()> {
        let src = (!src.is_unspecified()).then_some(src);
        match rh2 {
            Some(coa) => self.sock.send_via_coa(mh, dst, coa, src).await.map(drop),
            None => {
                let meta = SendMeta {
                    src,
                    ifindex,
                    ..SendMeta::default()
                };
                self.sock.send(mh, dst, &meta).await.map(drop)
            }
        }
    }
}

/// The ICMPv6 socket, passing only the given types.
#[derive(Debug)]
pub struct Icmp6Socket {
    sock: NlIcmp6,
}

impl Icmp6Socket {
    /// Opens it with a filter passing `types`.
    pub fn open(types: &[u8]) -> Res<Icmp6Socket> {
        let filter = types
            .iter()
            .fold(Icmp6Filter::block_all(), |f, &t| f.pass(t));
        Ok(Icmp6Socket {
            sock: NlIcmp6::open(filter)?,
        })
    }

    /// The next ICMPv6 message.
    pub async fn recv(&self) -> Res<Received> {
        let mut buf = vec![0u8; 2048];
        let meta = self.sock.recv(&mut buf).await?;
        Ok(Received::new(&meta, &buf))
    }

    /// Sends an ICMPv6 message (checksum filled by the kernel) with hop
    /// limit 255 out of `ifindex`, from `src` or the kernel's choice.
    pub async fn send_nd(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        ifindex: u32,
        msg: &[u8],
    ) -> Res<()> {
        let meta = SendMeta {
            src,
            ifindex,
            hop_limit: Some(255),
            ..SendMeta::default()
        };
        self.sock.send(msg, dst, &meta).await.map(drop)
    }
}

impl Icmp6Socket {
    /// An unsolicited Neighbor Advertisement for `target` to all nodes on
    /// `ifindex` with the Override flag and the interface's link-layer
    /// address (RFC 4861 §7.2.6), so neighbours' caches follow at once: the
    /// home agent's after it starts proxying a home address, the mobile
    /// node's when it is back on its home link (RFC 6275 §10.4.1, §11.5.4).
    pub async fn unsolicited_na(
        &self,
        ifname: &str,
        ifindex: u32,
        target: Ipv6Addr,
        router: bool,
    ) -> Res<()> {
        use mip6::wire::ndisc::{NdRepr, NeighborAdvert};
        use mip6::wire::ndopt::NdOption;
        let mut options = Vec::new();
        if let Some(mac) = link_layer_address(ifname) {
            options.push(NdOption::TargetLinkLayer(mac));
        }
        let mut flags = NeighborAdvert::OVERRIDE;
        if router {
            flags |= NeighborAdvert::ROUTER;
        }
        let na = NdRepr::NeighborAdvert(NeighborAdvert {
            flags,
            target,
            options,
        });
        let Ok(bytes) = na.emit_without_checksum() else {
            return Ok(());
        };
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        self.send_nd(None, all_nodes, ifindex, &bytes).await
    }
}

/// An Ethernet-like interface's hardware address (`/sys/class/net/X/address`,
/// which `ip netns exec` mounts for the namespace); `None` for interfaces
/// without one.
fn link_layer_address(ifname: &str) -> Option<Vec<u8>> {
    if ifname.contains('/') || ifname.starts_with('.') {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address")).ok()?;
    let mac: Option<Vec<u8>> = text
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    mac.filter(|m| m.len() == 6 && m.iter().any(|b| *b != 0))
}

/// Whole IPv6 packets, header included (Neighbor Solicitations from `::`).
#[derive(Debug)]
pub struct RawIp6Socket {
    sock: Ip6RawSender,
}

impl RawIp6Socket {
    /// Opens it.
    pub fn open() -> Res<RawIp6Socket> {
        Ok(RawIp6Socket {
            sock: Ip6RawSender::open()?,
        })
    }

    /// Sends `packet` (a complete IPv6 packet) out of `ifindex`.
    pub async fn send(&self, packet: &[u8], ifindex: u32) -> Res<()> {
        self.sock.send(packet, ifindex).await.map(drop)
    }
}

/// An IPv6 packet: header (hop limit 255, `next` as next header) + payload.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(
        &u16::try_from(payload.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    p.push(next);
    p.push(255);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_address() {
        let a: Ipv6Addr = "2001:db8:1::1:2345".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff01:2345"
                .parse::<Ipv6Addr>()
                .unwrap_or(Ipv6Addr::LOCALHOST)
        );
    }

    #[test]
    fn packet_header() {
        let p = ipv6_packet(Ipv6Addr::UNSPECIFIED, Ipv6Addr::LOCALHOST, 58, &[1, 2]);
        assert_eq!(p.len(), 42);
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 2, 58, 255]);
    }
}
