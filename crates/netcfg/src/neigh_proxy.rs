//! Proxy neighbour entries (`ip -6 neigh add|del|show proxy ADDR dev X`).
//!
//! The home agent answers Neighbor Solicitations for a registered mobile
//! node's home address (and, with the L bit, its link-local address) on the
//! home link: one `NTF_PROXY` entry per address, which the kernel uses when
//! `net.ipv6.conf.<if>.proxy_ndp` is 1. UMIP adds them permanent.

use std::net::{IpAddr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::AddressFamily;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// One IPv6 proxy entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyNeigh {
    pub index: u32,
    pub addr: Ipv6Addr,
}

impl ProxyNeigh {
    fn message(&self) -> NeighbourMessage {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.ifindex = self.index;
        msg.header.flags = NeighbourFlags::Proxy;
        msg.header.state = NeighbourState::Permanent;
        msg.header.kind = RouteType::Unspec;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                self.addr,
            )));
        msg
    }

    fn describe(&self) -> String {
        format!("proxy {} dev {}", self.addr, self.index)
    }
}

impl Netlink {
    /// `ip -6 neigh add proxy ADDR dev X`. `EEXIST` if present.
    pub async fn add_proxy_neigh(&self, entry: ProxyNeigh) -> Result<()> {
        let mut req = self
            .raw()
            .neighbours()
            .add(entry.index, IpAddr::V6(entry.addr));
        *req.message_mut() = entry.message();
        req.execute()
            .await
            .map_err(|e| Error::from_rtnl_object("neigh add", entry.describe(), e))
    }

    /// `ip -6 neigh del proxy ADDR dev X`.
    pub async fn del_proxy_neigh(&self, entry: ProxyNeigh) -> Result<()> {
        self.raw()
            .neighbours()
            .del(entry.message())
            .execute()
            .await
            .map_err(|e| Error::from_rtnl_object("neigh del", entry.describe(), e))
    }

    /// `ip -6 neigh show proxy`: every IPv6 proxy entry of the namespace.
    pub async fn proxy_neighs(&self) -> Result<Vec<ProxyNeigh>> {
        let msgs: Vec<NeighbourMessage> = self
            .raw()
            .neighbours()
            .get()
            .proxies()
            .set_address_family(AddressFamily::Inet6)
            .execute()
            .map_err(|e| Error::from_rtnl("neigh show proxy", e))
            .try_collect()
            .await?;
        let mut out: Vec<ProxyNeigh> = msgs
            .iter()
            .filter(|m| m.header.family == AddressFamily::Inet6)
            .filter(|m| m.header.flags.contains(NeighbourFlags::Proxy))
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(addr)) => {
                        Some(ProxyNeigh {
                            index: m.header.ifindex,
                            addr: *addr,
                        })
                    }
                    _ => None,
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}
