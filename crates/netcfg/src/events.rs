//! Network-change notifications from rtnetlink multicast groups.
//!
//! The Teredo client subscribes to the IPv4 side ([`Events::ipv4`]) to
//! re-qualify at once when its IPv4 address, default route or link changes,
//! instead of waiting for the next 30 s refresh. mip6d adds the IPv6
//! address group.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::sys::SocketAddr;
use rtnetlink::MulticastGroup;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::netlink::AddrInfo;

/// One network change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetEvent {
    Ipv4AddrAdded {
        index: u32,
        addr: Ipv4Addr,
    },
    Ipv4AddrRemoved {
        index: u32,
        addr: Ipv4Addr,
    },
    /// An IPv4 default route (prefix length 0, unicast, any table but
    /// local) was added or removed. The kernel sends nothing for IPv4
    /// routes that vanish with their link or address: watch
    /// `LinkChanged`/`Ipv4AddrRemoved` for those.
    Ipv4DefaultRouteChanged,
    /// A link appeared, disappeared or changed operational state. `up` is
    /// `IFF_UP && IFF_RUNNING`; a removed link reports `up: false`. Only
    /// changes are reported (a link seen first is reported once).
    LinkChanged {
        index: u32,
        up: bool,
    },
    /// May repeat for one address (the kernel re-announces it when its
    /// flags change, for example at the end of DAD).
    Ipv6AddrAdded {
        index: u32,
        addr: Ipv6Addr,
    },
    Ipv6AddrRemoved {
        index: u32,
        addr: Ipv6Addr,
    },
}

/// A multicast group to listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventGroup {
    /// `RTNLGRP_IPV4_IFADDR`
    Ipv4Addr,
    /// `RTNLGRP_IPV4_ROUTE`
    Ipv4Route,
    /// `RTNLGRP_LINK`
    Link,
    /// `RTNLGRP_IPV6_IFADDR`
    Ipv6Addr,
}

impl EventGroup {
    fn group(self) -> MulticastGroup {
        match self {
            EventGroup::Ipv4Addr => MulticastGroup::Ipv4Ifaddr,
            EventGroup::Ipv4Route => MulticastGroup::Ipv4Route,
            EventGroup::Link => MulticastGroup::Link,
            EventGroup::Ipv6Addr => MulticastGroup::Ipv6Ifaddr,
        }
    }
}

type Rx = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// A stream of [`NetEvent`]s. Ends only if the netlink socket fails.
pub struct Events {
    rx: Rx,
    links: HashMap<u32, bool>,
    conn: JoinHandle<()>,
    _handle: rtnetlink::Handle,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Events {
    /// Subscribe to the given groups. Must be called inside a tokio
    /// runtime; listens in the calling thread's network namespace.
    pub fn subscribe(groups: &[EventGroup]) -> Result<Events> {
        let groups: Vec<MulticastGroup> = groups.iter().map(|g| g.group()).collect();
        let (conn, handle, rx) = rtnetlink::new_multicast_connection(&groups)
            .map_err(|e| Error::io("netlink subscribe", e))?;
        let conn = tokio::spawn(conn);
        Ok(Events {
            rx,
            links: HashMap::new(),
            conn,
            _handle: handle,
        })
    }

    /// The IPv4 side: addresses, routes and links.
    pub fn ipv4() -> Result<Events> {
        Events::subscribe(&[
            EventGroup::Ipv4Addr,
            EventGroup::Ipv4Route,
            EventGroup::Link,
        ])
    }

    /// Wait for the next event (`None` when the socket is gone).
    pub async fn next_event(&mut self) -> Option<NetEvent> {
        self.next().await
    }

    fn translate(&mut self, msg: RouteNetlinkMessage) -> Option<NetEvent> {
        match msg {
            RouteNetlinkMessage::NewAddress(m) => addr_event(&m, true),
            RouteNetlinkMessage::DelAddress(m) => addr_event(&m, false),
            RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m) => {
                is_v4_default(&m).then_some(NetEvent::Ipv4DefaultRouteChanged)
            }
            RouteNetlinkMessage::NewLink(m) => self.link_event(&m, true),
            RouteNetlinkMessage::DelLink(m) => self.link_event(&m, false),
            _ => None,
        }
    }

    fn link_event(&mut self, m: &LinkMessage, exists: bool) -> Option<NetEvent> {
        let index = m.header.index;
        if !exists {
            self.links.remove(&index);
            return Some(NetEvent::LinkChanged { index, up: false });
        }
        let f = m.header.flags;
        let up = f.contains(LinkFlags::Up) && f.contains(LinkFlags::Running);
        match self.links.insert(index, up) {
            Some(prev) if prev == up => None,
            _ => Some(NetEvent::LinkChanged { index, up }),
        }
    }
}

fn addr_event(m: &AddressMessage, added: bool) -> Option<NetEvent> {
    let info = AddrInfo::from_message(m)?;
    let index = info.index;
    Some(match (info.addr, added) {
        (IpAddr::V4(addr), true) => NetEvent::Ipv4AddrAdded { index, addr },
        (IpAddr::V4(addr), false) => NetEvent::Ipv4AddrRemoved { index, addr },
        (IpAddr::V6(addr), true) => NetEvent::Ipv6AddrAdded { index, addr },
        (IpAddr::V6(addr), false) => NetEvent::Ipv6AddrRemoved { index, addr },
    })
}

fn is_v4_default(m: &RouteMessage) -> bool {
    m.header.address_family == AddressFamily::Inet
        && m.header.destination_prefix_length == 0
        && m.header.kind == RouteType::Unicast
        && m.header.table != 255
}

impl Stream for Events {
    type Item = NetEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetEvent>> {
        let this = self.get_mut();
        loop {
            match this.rx.poll_next_unpin(cx) {
                Poll::Ready(Some((msg, _addr))) => {
                    if let NetlinkPayload::InnerMessage(inner) = msg.payload {
                        if let Some(ev) = this.translate(inner) {
                            return Poll::Ready(Some(ev));
                        }
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
