//! IPv6 neighbour cache entries (`ip -6 neigh replace|del|show`).
//!
//! mip6d's movement detection (docs/protocol-notes.md#movement-detection) writes router entries: a
//! new default router learnt from an RA goes in `STALE` with its link-layer
//! address, and a router whose reachability is in doubt is put in `PROBE`
//! so the kernel's NUD confirms or fails it at once.

use std::net::Ipv6Addr;

use futures::TryStreamExt;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// `NUD_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NudState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Noarp,
    Permanent,
    Other(u16),
}

impl NudState {
    fn to_nl(self) -> NeighbourState {
        match self {
            NudState::Incomplete => NeighbourState::Incomplete,
            NudState::Reachable => NeighbourState::Reachable,
            NudState::Stale => NeighbourState::Stale,
            NudState::Delay => NeighbourState::Delay,
            NudState::Probe => NeighbourState::Probe,
            NudState::Failed => NeighbourState::Failed,
            NudState::Noarp => NeighbourState::Noarp,
            NudState::Permanent => NeighbourState::Permanent,
            NudState::Other(n) => NeighbourState::Other(n),
        }
    }

    fn from_nl(s: NeighbourState) -> NudState {
        match s {
            NeighbourState::Incomplete => NudState::Incomplete,
            NeighbourState::Reachable => NudState::Reachable,
            NeighbourState::Stale => NudState::Stale,
            NeighbourState::Delay => NudState::Delay,
            NeighbourState::Probe => NudState::Probe,
            NeighbourState::Failed => NudState::Failed,
            NeighbourState::Noarp => NudState::Noarp,
            NeighbourState::Permanent => NudState::Permanent,
            other => NudState::Other(u16::from(other)),
        }
    }
}

/// One IPv6 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighEntry {
    pub index: u32,
    pub addr: Ipv6Addr,
    /// Link-layer address; `None` keeps the cached one (or none).
    pub lladdr: Option<Vec<u8>>,
    pub state: NudState,
    /// `NTF_ROUTER`: the neighbour is a router.
    pub router: bool,
}

impl NeighEntry {
    fn describe(&self) -> String {
        format!(
            "{} dev {} {:?}{}",
            self.addr,
            self.index,
            self.state,
            if self.router { " router" } else { "" }
        )
        .to_lowercase()
    }

    fn message(&self) -> NeighbourMessage {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.ifindex = self.index;
        msg.header.state = self.state.to_nl();
        msg.header.kind = RouteType::Unspec;
        if self.router {
            msg.header.flags = NeighbourFlags::Router;
        }
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                self.addr,
            )));
        if let Some(ll) = &self.lladdr {
            msg.attributes
                .push(NeighbourAttribute::LinkLayerAddress(ll.clone()));
        }
        msg
    }
}

impl Netlink {
    /// `ip -6 neigh replace ADDR [lladdr LL] dev X nud STATE [router]`:
    /// create the entry or change its state.
    pub async fn set_neigh(&self, entry: &NeighEntry) -> Result<()> {
        let mut req = netlink_packet_core::NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(
            entry.message(),
        ));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        let mut handle = self.raw().clone();
        let mut replies = handle
            .request(req)
            .map_err(|e| Error::from_rtnl_object("neigh replace", entry.describe(), e))?;
        while let Some(msg) = futures::StreamExt::next(&mut replies).await {
            if let netlink_packet_core::NetlinkPayload::Error(err) = msg.payload {
                if err.code.is_some() {
                    return Err(Error::object(
                        "neigh replace",
                        entry.describe(),
                        err.to_io(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `ip -6 neigh del ADDR dev X`.
    pub async fn del_neigh(&self, index: u32, addr: Ipv6Addr) -> Result<()> {
        let entry = NeighEntry {
            index,
            addr,
            lladdr: None,
            state: NudState::Other(0),
            router: false,
        };
        self.raw()
            .neighbours()
            .del(entry.message())
            .execute()
            .await
            .map_err(|e| Error::from_rtnl_object("neigh del", format!("{addr} dev {index}"), e))
    }

    /// `ip -6 neigh show [dev X]` (not proxies).
    pub async fn neighs(&self, index: Option<u32>) -> Result<Vec<NeighEntry>> {
        let msgs: Vec<NeighbourMessage> = self
            .raw()
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet6)
            .execute()
            .map_err(|e| Error::from_rtnl("neigh show", e))
            .try_collect()
            .await?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.family == AddressFamily::Inet6)
            .filter(|m| !m.header.flags.contains(NeighbourFlags::Proxy))
            .filter(|m| index.is_none_or(|i| m.header.ifindex == i))
            .filter_map(|m| {
                let mut addr = None;
                let mut lladdr = None;
                for a in &m.attributes {
                    match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(x)) => {
                            addr = Some(*x)
                        }
                        NeighbourAttribute::LinkLayerAddress(l) => lladdr = Some(l.clone()),
                        _ => {}
                    }
                }
                Some(NeighEntry {
                    index: m.header.ifindex,
                    addr: addr?,
                    lladdr,
                    state: NudState::from_nl(m.header.state),
                    router: m.header.flags.contains(NeighbourFlags::Router),
                })
            })
            .collect())
    }

    /// The entry for `addr` on `index`, if the cache has one.
    pub async fn neigh(&self, index: u32, addr: Ipv6Addr) -> Result<Option<NeighEntry>> {
        Ok(self
            .neighs(Some(index))
            .await?
            .into_iter()
            .find(|n| n.addr == addr))
    }
}
