//! Raw ICMPv6 sockets for mip6d's Neighbor Discovery and DHAAD/MPD
//! messages, set up as UMIP's `icmp6.c` does (docs/protocol-notes.md#sockets): destination and
//! interface (`IPV6_PKTINFO`) and hop limit (`IPV6_RECVHOPLIMIT`, which ND
//! needs to check for 255) with each message, and an `ICMP6_FILTER` that
//! passes only the types the role handles.

use std::net::Ipv6Addr;

use crate::error::{Error, Result};
use crate::raw6::Raw6;
pub use crate::raw6::{RecvMeta, SendMeta};

/// `IPPROTO_ICMPV6`.
pub const IPPROTO_ICMPV6: u8 = 58;
/// `ICMP6_FILTER` (netinet/icmp6.h; not in libc).
const ICMP6_FILTER: libc::c_int = 1;

pub const ICMP6_DST_UNREACH: u8 = 1;
pub const ICMP6_PARAM_PROB: u8 = 4;
pub const ND_ROUTER_SOLICIT: u8 = 133;
pub const ND_ROUTER_ADVERT: u8 = 134;
pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
pub const ND_NEIGHBOR_ADVERT: u8 = 136;
pub const MIP_HA_DISCOVERY_REQUEST: u8 = 144;
pub const MIP_HA_DISCOVERY_REPLY: u8 = 145;
pub const MIP_PREFIX_SOLICIT: u8 = 146;
pub const MIP_PREFIX_ADVERT: u8 = 147;

/// `struct icmp6_filter`: one bit per ICMPv6 type, set = blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp6Filter {
    data: [u32; 8],
}

impl Icmp6Filter {
    /// `ICMP6_FILTER_SETBLOCKALL`.
    pub fn block_all() -> Icmp6Filter {
        Icmp6Filter { data: [!0; 8] }
    }

    /// `ICMP6_FILTER_SETPASSALL`.
    pub fn pass_all() -> Icmp6Filter {
        Icmp6Filter { data: [0; 8] }
    }

    /// `ICMP6_FILTER_SETPASS`.
    pub fn pass(mut self, icmp_type: u8) -> Icmp6Filter {
        self.data[usize::from(icmp_type >> 5)] &= !(1u32 << (icmp_type & 31));
        self
    }

    pub fn passes(&self, icmp_type: u8) -> bool {
        self.data[usize::from(icmp_type >> 5)] & (1u32 << (icmp_type & 31)) == 0
    }

    /// What a mobile node listens to: Destination Unreachable, RA, NA,
    /// MPA, DHAAD Reply and Parameter Problem.
    pub fn mobile_node() -> Icmp6Filter {
        Icmp6Filter::block_all()
            .pass(ICMP6_DST_UNREACH)
            .pass(ND_ROUTER_ADVERT)
            .pass(ND_NEIGHBOR_ADVERT)
            .pass(MIP_PREFIX_ADVERT)
            .pass(MIP_HA_DISCOVERY_REPLY)
            .pass(ICMP6_PARAM_PROB)
    }

    /// What a home agent listens to: Destination Unreachable, MPS, DHAAD
    /// Request and RA.
    pub fn home_agent() -> Icmp6Filter {
        Icmp6Filter::block_all()
            .pass(ICMP6_DST_UNREACH)
            .pass(MIP_PREFIX_SOLICIT)
            .pass(MIP_HA_DISCOVERY_REQUEST)
            .pass(ND_ROUTER_ADVERT)
    }
}

/// A raw ICMPv6 socket.
#[derive(Debug)]
pub struct Icmp6Socket {
    raw: Raw6,
}

fn opt_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::object("icmp6 socket", what, e)
}

impl Icmp6Socket {
    /// Open with `filter`, packet info and hop limit reception, and hop
    /// limit 255 for what it sends (ND's requirement). Needs `CAP_NET_RAW`;
    /// must be called inside a tokio runtime.
    pub fn open(filter: Icmp6Filter) -> Result<Icmp6Socket> {
        let raw = Raw6::open(IPPROTO_ICMPV6).map_err(opt_err("socket(AF_INET6, SOCK_RAW, 58)"))?;
        let s = Icmp6Socket { raw };
        s.set_filter(filter)?;
        for (level, name, v, what) in [
            (libc::SOL_RAW, libc::IPV6_CHECKSUM, 2, "IPV6_CHECKSUM 2"),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVPKTINFO,
                1,
                "IPV6_RECVPKTINFO",
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVHOPLIMIT,
                1,
                "IPV6_RECVHOPLIMIT",
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_UNICAST_HOPS,
                255,
                "IPV6_UNICAST_HOPS 255",
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_HOPS,
                255,
                "IPV6_MULTICAST_HOPS 255",
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_LOOP,
                0,
                "IPV6_MULTICAST_LOOP 0",
            ),
        ] {
            s.raw.set_int(level, name, v).map_err(opt_err(what))?;
        }
        Ok(s)
    }

    /// Replace the type filter.
    pub fn set_filter(&self, filter: Icmp6Filter) -> Result<()> {
        self.raw
            .setsockopt(libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter.data)
            .map_err(opt_err("ICMP6_FILTER"))
    }

    /// Join `group` on interface `ifindex` (e.g. ff02::1, or a
    /// solicited-node group while defending an address).
    pub fn join(&self, group: Ipv6Addr, ifindex: u32) -> Result<()> {
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: group.octets(),
            },
            ipv6mr_interface: ifindex,
        };
        self.raw
            .setsockopt(libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)
            .map_err(opt_err(format!("join {group} on {ifindex}")))
    }

    /// Leave a group joined with [`Icmp6Socket::join`].
    pub fn leave(&self, group: Ipv6Addr, ifindex: u32) -> Result<()> {
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: group.octets(),
            },
            ipv6mr_interface: ifindex,
        };
        self.raw
            .setsockopt(libc::IPPROTO_IPV6, libc::IPV6_DROP_MEMBERSHIP, &mreq)
            .map_err(opt_err(format!("leave {group} on {ifindex}")))
    }

    /// Receive one ICMPv6 message (type first) into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<RecvMeta> {
        self.raw
            .recv(buf)
            .await
            .map_err(|e| Error::io("icmp6 recv", e))
    }

    /// Send an ICMPv6 message (checksum left 0: the kernel fills it) to
    /// `dst`; link-local and multicast destinations need `meta.ifindex`.
    pub async fn send(&self, msg: &[u8], dst: Ipv6Addr, meta: &SendMeta<'_>) -> Result<usize> {
        let scope = if dst.is_unicast_link_local() || dst.is_multicast() {
            meta.ifindex
        } else {
            0
        };
        self.raw.send(msg, dst, scope, meta).await.map_err(|e| {
            Error::object(
                "icmp6 send",
                format!("type {} to {dst}", msg.first().copied().unwrap_or(0)),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit layout of `ICMP6_FILTER_SETPASS`: type T is bit T%32 of word T/32.
    #[test]
    fn filter_bits() {
        let f = Icmp6Filter::mobile_node();
        for t in 0..=255u8 {
            let want = matches!(t, 1 | 4 | 134 | 136 | 145 | 147);
            assert_eq!(f.passes(t), want, "type {t}");
        }
        assert_eq!(
            f.data[4],
            !((1 << (134 - 128)) | (1 << (136 - 128)) | (1 << (145 - 128)) | (1 << (147 - 128)))
        );
        let h = Icmp6Filter::home_agent();
        assert!(h.passes(144) && h.passes(146) && h.passes(134) && !h.passes(136));
        assert!(Icmp6Filter::pass_all().passes(200));
    }
}

/// `IPPROTO_RAW`: the socket sends whole IPv6 packets (header included).
const IPPROTO_RAW: u8 = 255;

/// A socket that sends complete IPv6 packets, header and checksums the
/// caller's (UMIP's `ndisc.c` way of sending Router and Neighbor
/// Solicitations from the unspecified address, which a normal ICMPv6 socket
/// cannot: the kernel would pick a source or refuse).
#[derive(Debug)]
pub struct Ip6RawSender {
    raw: Raw6,
}

impl Ip6RawSender {
    /// Needs `CAP_NET_RAW`; must be called inside a tokio runtime.
    pub fn open() -> Result<Ip6RawSender> {
        let raw = Raw6::open(IPPROTO_RAW).map_err(opt_err("socket(AF_INET6, SOCK_RAW, 255)"))?;
        // Our own solicitations are not for us.
        raw.set_int(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)
            .map_err(opt_err("IPV6_MULTICAST_LOOP 0"))?;
        Ok(Ip6RawSender { raw })
    }

    /// Send `packet` (an IPv6 header and what follows) out of `ifindex`.
    pub async fn send(&self, packet: &[u8], ifindex: u32) -> Result<usize> {
        let dst = packet
            .get(24..40)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from)
            .ok_or_else(|| {
                Error::object(
                    "ipv6 raw send",
                    format!("{} bytes", packet.len()),
                    std::io::Error::from_raw_os_error(libc::EINVAL),
                )
            })?;
        let meta = SendMeta {
            ifindex,
            ..SendMeta::default()
        };
        self.raw
            .send(packet, dst, ifindex, &meta)
            .await
            .map_err(|e| Error::object("ipv6 raw send", format!("to {dst} dev {ifindex}"), e))
    }
}
