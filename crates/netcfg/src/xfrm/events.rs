//! XFRM notifications mip6d listens to (docs/protocol-notes.md#xfrm: groups ACQUIRE and
//! REPORT).
//!
//! - ACQUIRE: a packet matched a policy whose template has no state yet
//!   (IPsec SAs to negotiate; for Mobile IPv6, in-trigger templates that
//!   tell the mobile node a correspondent talks to its home address, so it
//!   may start route optimization).
//! - REPORT: the kernel rejected a packet carrying a Home Address option
//!   (or Type 2 routing header) for which no binding exists; the node then
//!   sends a Binding Error (RFC 6275 §9.3.1).

use std::net::Ipv6Addr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_xfrm::{XfrmAttrs, XfrmMessage, XFRMNLGRP_ACQUIRE, XFRMNLGRP_REPORT};
use netlink_proto::sys::{AsyncSocket, SocketAddr};
use tokio::task::JoinHandle;

use super::policy::PolicyDir;
use super::types::{Selector, XfrmProto, AF_INET6};
use super::NETLINK_XFRM;
use crate::error::{Error, Result};

/// One XFRM notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XfrmEvent {
    /// `XFRM_MSG_ACQUIRE`: a state is wanted for `proto` between `src`
    /// and `dst`, for traffic matching `sel`, by a policy of `dir` and
    /// `priority`.
    Acquire {
        proto: XfrmProto,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        sel: Selector,
        dir: Option<PolicyDir>,
        priority: u32,
    },
    /// `XFRM_MSG_REPORT`: a packet of the flow `sel` with a `proto`
    /// (hao/route2) header was refused; `addr` is the address the header
    /// carried (the peer's care-of address for a HAO).
    Report {
        proto: XfrmProto,
        sel: Selector,
        addr: Option<Ipv6Addr>,
    },
}

/// Which groups to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XfrmGroups {
    pub acquire: bool,
    pub report: bool,
}

type Rx = UnboundedReceiver<(NetlinkMessage<XfrmMessage>, SocketAddr)>;

/// A stream of [`XfrmEvent`]s (IPv6 only). Ends only if the socket fails.
pub struct XfrmEvents {
    rx: Rx,
    conn: JoinHandle<()>,
}

impl std::fmt::Debug for XfrmEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfrmEvents").finish_non_exhaustive()
    }
}

impl Drop for XfrmEvents {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl XfrmEvents {
    /// Join the groups (in the calling thread's network namespace). Must
    /// be called inside a tokio runtime.
    pub fn subscribe(groups: XfrmGroups) -> Result<XfrmEvents> {
        let (mut conn, _handle, rx) = netlink_proto::new_connection::<XfrmMessage>(NETLINK_XFRM)
            .map_err(|e| Error::io("xfrm monitor socket", e))?;
        let mut mask = 0u32;
        if groups.acquire {
            mask |= 1 << (XFRMNLGRP_ACQUIRE - 1);
        }
        if groups.report {
            mask |= 1 << (XFRMNLGRP_REPORT - 1);
        }
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, mask))
            .map_err(|e| Error::object("xfrm monitor", format!("bind groups {mask:#x}"), e))?;
        Ok(XfrmEvents {
            rx,
            conn: tokio::spawn(conn),
        })
    }

    /// The next event; `None` once the socket is gone.
    pub async fn next_event(&mut self) -> Option<XfrmEvent> {
        StreamExt::next(self).await
    }
}

fn decode(msg: XfrmMessage) -> Option<XfrmEvent> {
    match msg {
        XfrmMessage::Acquire(m) => {
            let a = &m.acquire;
            if a.selector.family != AF_INET6 && a.policy.selector.family != AF_INET6 {
                return None;
            }
            Some(XfrmEvent::Acquire {
                proto: XfrmProto::from_number(a.id.proto),
                src: a.saddr.to_ipv6(),
                dst: a.id.daddr.to_ipv6(),
                sel: Selector::from_nl(&a.selector),
                dir: PolicyDir::from_number(a.policy.direction),
                priority: a.policy.priority,
            })
        }
        XfrmMessage::Report(m) => {
            if m.report.selector.family != AF_INET6 {
                return None;
            }
            let addr = m.nlas.iter().find_map(|n| match n {
                XfrmAttrs::CareOfAddr(a) => Some(a.to_ipv6()),
                _ => None,
            });
            Some(XfrmEvent::Report {
                proto: XfrmProto::from_number(m.report.proto),
                sel: Selector::from_nl(&m.report.selector),
                addr,
            })
        }
        _ => None,
    }
}

impl Stream for XfrmEvents {
    type Item = XfrmEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<XfrmEvent>> {
        loop {
            match self.rx.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some((msg, _))) => {
                    if let NetlinkPayload::InnerMessage(m) = msg.payload {
                        if let Some(ev) = decode(m) {
                            return Poll::Ready(Some(ev));
                        }
                    }
                }
            }
        }
    }
}
