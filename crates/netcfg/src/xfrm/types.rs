//! What XFRM transforms and which packets it applies to: protocols, modes
//! and selectors (`include/uapi/linux/xfrm.h`: `xfrm_selector`, `xfrm_id`;
//! byte layouts in netlink-packet-xfrm). Policies are in `policy`, states
//! in `state`.
//!
//! Only IPv6 (family `AF_INET6`): Mobile IPv6 and its MN–HA IPsec are
//! IPv6-only.

use std::net::Ipv6Addr;

use netlink_packet_xfrm::{Address, Selector as NlSelector};

/// `AF_INET6` as the XFRM structures carry it.
pub(crate) const AF_INET6: u16 = 10;

/// IPv6 Routing header (carries the Type 2 routing header state).
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 Destination Options header (carries the Home Address option state).
pub const IPPROTO_DSTOPTS: u8 = 60;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// Mobility Header.
pub const IPPROTO_MH: u8 = 135;

/// `XFRM_STATE_WILDRECV`: accept inbound packets whatever their source
/// (UMIP's wildcard-receive RO states on the receiving side).
pub const XFRM_STATE_WILDRECV: u8 = 8;

/// What an XFRM state or template transforms (`id.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XfrmProto {
    Esp,
    Ah,
    Comp,
    /// Type 2 routing header (`ip xfrm ... proto route2`).
    Route2,
    /// Home Address destination option (`proto hao`).
    Hao,
    Other(u8),
}

impl XfrmProto {
    pub fn number(self) -> u8 {
        match self {
            XfrmProto::Esp => 50,
            XfrmProto::Ah => 51,
            XfrmProto::Comp => 108,
            XfrmProto::Route2 => IPPROTO_ROUTING,
            XfrmProto::Hao => IPPROTO_DSTOPTS,
            XfrmProto::Other(n) => n,
        }
    }

    pub fn from_number(n: u8) -> XfrmProto {
        match n {
            50 => XfrmProto::Esp,
            51 => XfrmProto::Ah,
            108 => XfrmProto::Comp,
            IPPROTO_ROUTING => XfrmProto::Route2,
            IPPROTO_DSTOPTS => XfrmProto::Hao,
            n => XfrmProto::Other(n),
        }
    }

    /// `ip xfrm`'s name for it.
    pub fn name(self) -> String {
        match self {
            XfrmProto::Esp => "esp".into(),
            XfrmProto::Ah => "ah".into(),
            XfrmProto::Comp => "comp".into(),
            XfrmProto::Route2 => "route2".into(),
            XfrmProto::Hao => "hao".into(),
            XfrmProto::Other(n) => n.to_string(),
        }
    }
}

/// `XFRM_MODE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XfrmMode {
    Transport,
    Tunnel,
    /// Route optimization (`mode ro`): the HAO and RH2 states.
    RouteOptimization,
    /// In-trigger: matching inbound packets raise an ACQUIRE.
    InTrigger,
    Beet,
    Other(u8),
}

impl XfrmMode {
    pub fn number(self) -> u8 {
        match self {
            XfrmMode::Transport => 0,
            XfrmMode::Tunnel => 1,
            XfrmMode::RouteOptimization => 2,
            XfrmMode::InTrigger => 3,
            XfrmMode::Beet => 4,
            XfrmMode::Other(n) => n,
        }
    }

    pub fn from_number(n: u8) -> XfrmMode {
        match n {
            0 => XfrmMode::Transport,
            1 => XfrmMode::Tunnel,
            2 => XfrmMode::RouteOptimization,
            3 => XfrmMode::InTrigger,
            4 => XfrmMode::Beet,
            n => XfrmMode::Other(n),
        }
    }
}

/// Which packets a policy or state applies to (`struct xfrm_selector`).
/// Ports are in host order; for the Mobility Header the kernel compares the
/// MH type in the source-port field, for ICMPv6 the type (source port) and
/// code (destination port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    pub src: Ipv6Addr,
    pub src_len: u8,
    pub dst: Ipv6Addr,
    pub dst_len: u8,
    /// Upper-layer protocol, 0 for any.
    pub proto: u8,
    pub sport: u16,
    pub sport_mask: u16,
    pub dport: u16,
    pub dport_mask: u16,
    /// Outgoing interface, 0 for any.
    pub ifindex: i32,
}

impl Selector {
    /// `src ::/0 dst ::/0`, any protocol.
    pub fn any() -> Selector {
        Selector {
            src: Ipv6Addr::UNSPECIFIED,
            src_len: 0,
            dst: Ipv6Addr::UNSPECIFIED,
            dst_len: 0,
            proto: 0,
            sport: 0,
            sport_mask: 0,
            dport: 0,
            dport_mask: 0,
            ifindex: 0,
        }
    }

    /// `src SRC/128 dst DST/128`; an unspecified address stays a wildcard.
    pub fn hosts(src: Ipv6Addr, dst: Ipv6Addr) -> Selector {
        Selector {
            src,
            src_len: if src.is_unspecified() { 0 } else { 128 },
            dst,
            dst_len: if dst.is_unspecified() { 0 } else { 128 },
            ..Selector::any()
        }
    }

    /// Restrict to an upper-layer protocol.
    pub fn proto(mut self, proto: u8) -> Selector {
        self.proto = proto;
        self
    }

    /// Restrict to Mobility Header messages of one type (`proto 135 type T`).
    pub fn mh_type(mut self, mh_type: u8) -> Selector {
        self.proto = IPPROTO_MH;
        self.sport = u16::from(mh_type);
        self.sport_mask = 0xffff;
        self
    }

    /// Restrict to ICMPv6 messages of one type (`proto 58 type T`).
    pub fn icmp6_type(mut self, icmp_type: u8) -> Selector {
        self.proto = IPPROTO_ICMPV6;
        self.sport = u16::from(icmp_type);
        self.sport_mask = 0xffff;
        self
    }

    /// Restrict to an outgoing interface.
    pub fn dev(mut self, ifindex: u32) -> Selector {
        self.ifindex = i32::try_from(ifindex).unwrap_or(0);
        self
    }

    pub(crate) fn to_nl(self) -> NlSelector {
        NlSelector {
            daddr: Address::from_ipv6(&self.dst),
            saddr: Address::from_ipv6(&self.src),
            dport: self.dport,
            dport_mask: self.dport_mask,
            sport: self.sport,
            sport_mask: self.sport_mask,
            family: AF_INET6,
            prefixlen_d: self.dst_len,
            prefixlen_s: self.src_len,
            proto: self.proto,
            ifindex: self.ifindex,
            user: 0,
        }
    }

    pub(crate) fn from_nl(s: &NlSelector) -> Selector {
        Selector {
            src: s.saddr.to_ipv6(),
            src_len: s.prefixlen_s,
            dst: s.daddr.to_ipv6(),
            dst_len: s.prefixlen_d,
            proto: s.proto,
            sport: s.sport,
            sport_mask: s.sport_mask,
            dport: s.dport,
            dport_mask: s.dport_mask,
            ifindex: s.ifindex,
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "src {}/{} dst {}/{}",
            self.src, self.src_len, self.dst, self.dst_len
        )?;
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
            if self.sport_mask != 0 {
                write!(f, " type {}", self.sport)?;
            }
        }
        if self.ifindex != 0 {
            write!(f, " dev {}", self.ifindex)?;
        }
        Ok(())
    }
}
