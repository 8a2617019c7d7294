//! XFRM policies and states over `NETLINK_XFRM` (what `ip xfrm` does).
//!
//! Mobile IPv6 on Linux is mostly XFRM: the mobile node's Home Address
//! option and the correspondent's Type 2 routing header are route-optimization
//! states (`proto hao|route2 mode ro` with a care-of address), selected by
//! sub-type policies that take precedence over IPsec's main-type ones
//! (docs/protocol-notes.md#xfrm). [`Xfrm`] is a typed client for exactly those
//! operations; message layouts come from netlink-packet-xfrm, driven by the
//! same netlink-proto connection rtnetlink uses.
//!
//! The socket belongs to the network namespace of the thread that called
//! [`Xfrm::new`].

mod events;
#[cfg(test)]
mod layout_tests;
mod migrate;
mod policy;
mod state;
mod types;

use std::sync::Arc;

use futures::StreamExt;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_xfrm::{
    policy::{DelGetMessage as PolicyDelGetMessage, FlushMessage as PolicyFlushMessage},
    state::{
        DelGetMessage as StateDelGetMessage, FlushMessage as StateFlushMessage, GetDumpMessage,
    },
    Address, UserPolicyId, UserSaId, XfrmAttrs, XfrmMessage,
};
use netlink_proto::{sys::SocketAddr, ConnectionHandle};
use tokio::task::JoinHandle;

pub use events::{XfrmEvent, XfrmEvents, XfrmGroups};
pub use migrate::Migration;
pub use policy::{PolicyAction, PolicyDir, PolicyType, Template, XfrmPolicy};
pub use state::{XfrmState, XfrmStateId};
pub use types::{
    Selector, XfrmMode, XfrmProto, IPPROTO_DSTOPTS, IPPROTO_ICMPV6, IPPROTO_MH, IPPROTO_ROUTING,
    XFRM_STATE_WILDRECV,
};

use crate::error::{Error, Result};

/// `NETLINK_XFRM`.
pub(crate) const NETLINK_XFRM: isize = 6;

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An `xfrm_user` netlink connection. Cheap to clone.
#[derive(Clone)]
pub struct Xfrm {
    handle: ConnectionHandle<XfrmMessage>,
    _conn: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for Xfrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Xfrm")
    }
}

impl Xfrm {
    /// Open an XFRM netlink socket. Must be called inside a tokio runtime.
    /// `EPROTONOSUPPORT` means the kernel lacks `CONFIG_XFRM_USER`.
    pub fn new() -> Result<Xfrm> {
        let (conn, handle, _unsolicited) =
            netlink_proto::new_connection::<XfrmMessage>(NETLINK_XFRM)
                .map_err(|e| Error::io("xfrm netlink socket", e))?;
        let task = tokio::spawn(conn);
        Ok(Xfrm {
            handle,
            _conn: Arc::new(AbortOnDrop(task)),
        })
    }

    /// Send a request that the kernel acknowledges.
    async fn ack(
        &self,
        op: &'static str,
        object: impl FnOnce() -> String,
        msg: XfrmMessage,
        flags: u16,
    ) -> Result<()> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut replies = self
            .handle
            .request(req, SocketAddr::new(0, 0))
            .map_err(|e| Error::Protocol {
                op,
                detail: e.to_string(),
            })?;
        while let Some(reply) = replies.next().await {
            if let NetlinkPayload::Error(e) = reply.payload {
                if e.code.is_some() {
                    return Err(Error::object(op, object(), e.to_io()));
                }
                return Ok(());
            }
        }
        // netlink-proto ends the stream at the kernel's ACK without
        // passing a successful one on.
        Ok(())
    }

    /// Send a request and collect every answer (a dump, or one GET reply).
    async fn query(
        &self,
        op: &'static str,
        msg: XfrmMessage,
        dump: bool,
    ) -> Result<Vec<XfrmMessage>> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        let mut replies = self
            .handle
            .request(req, SocketAddr::new(0, 0))
            .map_err(|e| Error::Protocol {
                op,
                detail: e.to_string(),
            })?;
        let mut out = Vec::new();
        while let Some(reply) = replies.next().await {
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(Error::io(op, e.to_io()));
                }
                NetlinkPayload::Done(_) => break,
                _ => {}
            }
            if !dump && !out.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    // ---- policies ----

    /// `ip xfrm policy add`. `EEXIST` if a policy with the same selector,
    /// direction, type and priority... exists.
    pub async fn add_policy(&self, p: &XfrmPolicy) -> Result<()> {
        self.ack(
            "xfrm policy add",
            || p.describe(),
            XfrmMessage::AddPolicy(p.to_nl()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    /// `ip xfrm policy update`: add, or replace the policy with the same
    /// selector, direction and type (new templates, priority, action).
    pub async fn update_policy(&self, p: &XfrmPolicy) -> Result<()> {
        self.ack(
            "xfrm policy update",
            || p.describe(),
            XfrmMessage::UpdatePolicy(p.to_nl()),
            NLM_F_CREATE,
        )
        .await
    }

    /// `ip xfrm policy delete`: the policy of type `ptype` with exactly this
    /// selector and direction.
    pub async fn del_policy(
        &self,
        sel: &Selector,
        dir: PolicyDir,
        ptype: PolicyType,
    ) -> Result<()> {
        let msg = PolicyDelGetMessage {
            user_policy_id: UserPolicyId {
                selector: sel.to_nl(),
                index: 0,
                direction: dir.number(),
            },
            nlas: XfrmPolicy::id_attrs(ptype),
        };
        self.ack(
            "xfrm policy delete",
            || format!("{sel} dir {dir:?} ptype {ptype:?}").to_lowercase(),
            XfrmMessage::DeletePolicy(msg),
            0,
        )
        .await
    }

    /// `ip xfrm policy list`: every IPv6 policy, main and sub types.
    pub async fn policies(&self) -> Result<Vec<XfrmPolicy>> {
        let msgs = self
            .query(
                "xfrm policy list",
                XfrmMessage::GetPolicy(PolicyDelGetMessage::default()),
                true,
            )
            .await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                XfrmMessage::AddPolicy(p) | XfrmMessage::UpdatePolicy(p) => XfrmPolicy::from_nl(p),
                _ => None,
            })
            .collect())
    }

    /// `ip xfrm policy flush [ptype sub]`: every policy of that type.
    pub async fn flush_policies(&self, ptype: PolicyType) -> Result<()> {
        self.ack(
            "xfrm policy flush",
            || format!("ptype {ptype:?}").to_lowercase(),
            XfrmMessage::FlushPolicy(PolicyFlushMessage {
                nlas: XfrmPolicy::id_attrs(ptype),
            }),
            0,
        )
        .await
    }

    /// Delete every policy `owned` selects (how a daemon removes what it
    /// installed, e.g. by priority and addresses); returns how many went.
    /// Policies that vanish meanwhile are not an error.
    pub async fn delete_policies_where(
        &self,
        owned: impl Fn(&XfrmPolicy) -> bool,
    ) -> Result<usize> {
        let mut n = 0;
        for p in self.policies().await? {
            if !owned(&p) {
                continue;
            }
            match self.del_policy(&p.sel, p.dir, p.ptype).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    // ---- states ----

    /// `ip xfrm state add`. For `proto route2|hao mode ro` without
    /// `CONFIG_IPV6_MIP6` the kernel answers `EPROTONOSUPPORT`.
    pub async fn add_state(&self, s: &XfrmState) -> Result<()> {
        self.ack(
            "xfrm state add",
            || s.describe(),
            XfrmMessage::AddSa(s.to_nl()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    /// `ip xfrm state update`: change an existing state (e.g. a new
    /// care-of address after a handover). `ESRCH` if there is none.
    pub async fn update_state(&self, s: &XfrmState) -> Result<()> {
        self.ack(
            "xfrm state update",
            || s.describe(),
            XfrmMessage::UpdateSa(s.to_nl()),
            0,
        )
        .await
    }

    fn state_id_message(id: &XfrmStateId) -> StateDelGetMessage {
        StateDelGetMessage {
            user_sa_id: UserSaId {
                daddr: Address::from_ipv6(&id.dst),
                spi: id.spi.to_be(),
                family: types::AF_INET6,
                proto: id.proto.number(),
            },
            // SPI-less states are looked up by (src, dst, proto).
            nlas: vec![XfrmAttrs::SrcAddr(Address::from_ipv6(&id.src))],
        }
    }

    /// `ip xfrm state delete`.
    pub async fn del_state(&self, id: &XfrmStateId) -> Result<()> {
        self.ack(
            "xfrm state delete",
            || id.describe(),
            XfrmMessage::DeleteSa(Self::state_id_message(id)),
            0,
        )
        .await
    }

    /// `ip xfrm state get`: one state with its current `last_used`, or
    /// `None` when there is no such state.
    pub async fn get_state(&self, id: &XfrmStateId) -> Result<Option<XfrmState>> {
        match self
            .query(
                "xfrm state get",
                XfrmMessage::GetSa(Self::state_id_message(id)),
                false,
            )
            .await
        {
            Ok(msgs) => Ok(msgs.iter().find_map(|m| match m {
                XfrmMessage::AddSa(s) | XfrmMessage::UpdateSa(s) => XfrmState::from_nl(s),
                _ => None,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(Error::Kernel { op, source }) => Err(Error::object(op, id.describe(), source)),
            Err(e) => Err(e),
        }
    }

    /// `ip xfrm state list`: every IPv6 state.
    pub async fn states(&self) -> Result<Vec<XfrmState>> {
        let msgs = self
            .query(
                "xfrm state list",
                XfrmMessage::GetDumpSa(GetDumpMessage::default()),
                true,
            )
            .await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                XfrmMessage::AddSa(s) | XfrmMessage::UpdateSa(s) => XfrmState::from_nl(s),
                _ => None,
            })
            .collect())
    }

    /// `ip xfrm state flush proto P`. The kernel's "any" protocol covers
    /// only ESP/AH/IPcomp, so route2 and hao states need their own flush.
    pub async fn flush_states(&self, proto: XfrmProto) -> Result<()> {
        self.ack(
            "xfrm state flush",
            || format!("proto {}", proto.name()),
            XfrmMessage::FlushSa(StateFlushMessage {
                protocol: proto.number(),
            }),
            0,
        )
        .await
    }

    /// Delete every state `owned` selects; returns how many went.
    pub async fn delete_states_where(&self, owned: impl Fn(&XfrmState) -> bool) -> Result<usize> {
        let mut n = 0;
        for s in self.states().await? {
            if !owned(&s) {
                continue;
            }
            match self.del_state(&s.id()).await {
                Ok(()) => n += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}
