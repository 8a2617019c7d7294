//! The raw sockets the drivers use are netcfg's: the Mobility Header socket
//! (checksum at offset 4, HAO and RH2 from ancillary data, RH2 written as an
//! `IPV6_RTHDR` control message), the ICMPv6 socket (type filter, hop limit
//! 255) and the `IPPROTO_RAW` sender (Neighbor Solicitations from `::` for
//! DAD on the mobile node's behalf), each message received as one owned
//! [`Received`]. What is Mobile IPv6 about them stays here: the unsolicited
//! Neighbor Advertisement and the DAD packet.

use std::net::Ipv6Addr;

pub use netcfg::icmp6_socket::{Icmp6Socket, Ip6RawSender as RawIp6Socket};
pub use netcfg::mh_socket::{MhSocket, Received};

/// An unsolicited Neighbor Advertisement for `target` to all nodes on
/// `ifindex` with the Override flag and the interface's link-layer
/// address (RFC 4861 §7.2.6), so neighbours' caches follow at once: the
/// home agent's after it starts proxying a home address, the mobile
/// node's when it is back on its home link (RFC 6275 §10.4.1, §11.5.4).
pub async fn unsolicited_na(
    icmp: &Icmp6Socket,
    ifname: &str,
    ifindex: u32,
    target: Ipv6Addr,
    router: bool,
) -> Result<(), netcfg::Error> {
    use mip6::wire::ndisc::{NdRepr, NeighborAdvert};
    use mip6::wire::ndopt::NdOption;
    let mut options = Vec::new();
    if let Some(mac) = netcfg::icmp6_socket::link_layer_address(ifname) {
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
    icmp.send_nd(None, all_nodes, ifindex, &bytes).await
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
