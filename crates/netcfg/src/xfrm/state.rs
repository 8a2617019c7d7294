//! Security associations (`xfrm_usersa_info`, `XFRMA_COADDR`,
//! `XFRMA_LASTUSED`), including the route-optimization states of Mobile
//! IPv6.

use std::net::Ipv6Addr;

use netlink_packet_xfrm::{
    state::ModifyMessage as StateModifyMessage, Address, Id, LifetimeConfig, UserSaInfo, XfrmAttrs,
};

use super::types::{Selector, XfrmMode, XfrmProto, AF_INET6, XFRM_STATE_WILDRECV};

/// A state (`ip xfrm state`). For Mobile IPv6 the interesting ones have
/// `proto` Route2 or Hao, `mode` RouteOptimization and a care-of address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrmState {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub proto: XfrmProto,
    /// 0 for route2/hao (they have no SPI).
    pub spi: u32,
    pub mode: XfrmMode,
    pub reqid: u32,
    /// `XFRM_STATE_*` (e.g. [`XFRM_STATE_WILDRECV`]).
    pub flags: u8,
    pub sel: Selector,
    /// `XFRMA_COADDR`: the care-of address the RO header carries.
    pub coaddr: Option<Ipv6Addr>,
    pub replay_window: u8,
    /// `XFRMA_LASTUSED` (seconds since the epoch), as reported by the kernel.
    pub last_used: Option<u64>,
}

impl XfrmState {
    /// `ip xfrm state add src SRC dst DST proto route2|hao mode ro coa COA`
    /// with the selector `SRC/128 -> DST/128`.
    pub fn ro(proto: XfrmProto, src: Ipv6Addr, dst: Ipv6Addr, coa: Ipv6Addr) -> XfrmState {
        XfrmState {
            src,
            dst,
            proto,
            spi: 0,
            mode: XfrmMode::RouteOptimization,
            reqid: 0,
            flags: 0,
            sel: Selector::hosts(src, dst),
            coaddr: Some(coa),
            replay_window: 0,
            last_used: None,
        }
    }

    /// Replace the selector.
    pub fn selector(mut self, sel: Selector) -> XfrmState {
        self.sel = sel;
        self
    }

    /// Set `XFRM_STATE_WILDRECV`.
    pub fn wildrecv(mut self) -> XfrmState {
        self.flags |= XFRM_STATE_WILDRECV;
        self
    }

    /// The key the kernel finds it by.
    pub fn id(&self) -> XfrmStateId {
        XfrmStateId {
            src: self.src,
            dst: self.dst,
            proto: self.proto,
            spi: self.spi,
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "src {} dst {} proto {} mode {:?}",
            self.src,
            self.dst,
            self.proto.name(),
            self.mode
        );
        if let Some(c) = self.coaddr {
            s.push_str(&format!(" coa {c}"));
        }
        s
    }

    pub(crate) fn to_nl(&self) -> StateModifyMessage {
        let info = UserSaInfo {
            selector: self.sel.to_nl(),
            id: Id {
                daddr: Address::from_ipv6(&self.dst),
                spi: self.spi.to_be(),
                proto: self.proto.number(),
            },
            saddr: Address::from_ipv6(&self.src),
            lifetime_cfg: LifetimeConfig::default(),
            reqid: self.reqid,
            family: AF_INET6,
            mode: self.mode.number(),
            replay_window: self.replay_window,
            flags: self.flags,
            ..UserSaInfo::default()
        };
        let mut nlas = Vec::new();
        if let Some(c) = self.coaddr {
            nlas.push(XfrmAttrs::CareOfAddr(Address::from_ipv6(&c)));
        }
        StateModifyMessage {
            user_sa_info: info,
            nlas,
        }
    }

    pub(crate) fn from_nl(m: &StateModifyMessage) -> Option<XfrmState> {
        let info = &m.user_sa_info;
        if info.family != AF_INET6 {
            return None;
        }
        let mut s = XfrmState {
            src: info.saddr.to_ipv6(),
            dst: info.id.daddr.to_ipv6(),
            proto: XfrmProto::from_number(info.id.proto),
            spi: u32::from_be(info.id.spi),
            mode: XfrmMode::from_number(info.mode),
            reqid: info.reqid,
            flags: info.flags,
            sel: Selector::from_nl(&info.selector),
            coaddr: None,
            replay_window: info.replay_window,
            last_used: None,
        };
        for nla in &m.nlas {
            match nla {
                XfrmAttrs::CareOfAddr(a) => s.coaddr = Some(a.to_ipv6()),
                XfrmAttrs::LastUsed(t) => s.last_used = Some(*t),
                _ => {}
            }
        }
        Some(s)
    }
}

/// What identifies a state: SPI-less protocols (route2, hao) are found by
/// their addresses (`XFRMA_SRCADDR`), IPsec ones by destination + SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XfrmStateId {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub proto: XfrmProto,
    pub spi: u32,
}

impl XfrmStateId {
    pub fn describe(&self) -> String {
        format!(
            "src {} dst {} proto {} spi {:#x}",
            self.src,
            self.dst,
            self.proto.name(),
            self.spi
        )
    }
}
