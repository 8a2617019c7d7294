//! Security policies (`xfrm_userpolicy_info`, `xfrm_user_tmpl`,
//! `XFRMA_POLICY_TYPE`).

use std::net::Ipv6Addr;

use netlink_packet_xfrm::{
    policy::ModifyMessage as PolicyModifyMessage, Address, Id, LifetimeConfig, UserPolicyInfo,
    UserPolicyType, UserTemplate, XfrmAttrs,
};

use super::types::{Selector, XfrmMode, XfrmProto, AF_INET6};

/// `XFRM_POLICY_IN/OUT/FWD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyDir {
    In,
    Out,
    Fwd,
}

impl PolicyDir {
    pub fn number(self) -> u8 {
        match self {
            PolicyDir::In => 0,
            PolicyDir::Out => 1,
            PolicyDir::Fwd => 2,
        }
    }

    pub fn from_number(n: u8) -> Option<PolicyDir> {
        match n {
            0 => Some(PolicyDir::In),
            1 => Some(PolicyDir::Out),
            2 => Some(PolicyDir::Fwd),
            _ => None,
        }
    }
}

/// `XFRM_POLICY_TYPE_MAIN` (IPsec) or `_SUB` (Mobile IPv6, looked up
/// before the main policies; needs `CONFIG_XFRM_SUB_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    Main,
    Sub,
}

impl PolicyType {
    pub fn number(self) -> u8 {
        match self {
            PolicyType::Main => 0,
            PolicyType::Sub => 1,
        }
    }

    fn attr(self) -> XfrmAttrs {
        XfrmAttrs::PolicyType(UserPolicyType {
            ptype: self.number(),
            reserved1: 0,
            reserved2: 0,
        })
    }
}

/// `XFRM_POLICY_ALLOW` / `XFRM_POLICY_BLOCK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    Allow,
    Block,
}

/// A policy template (`struct xfrm_user_tmpl`, `ip xfrm policy ... tmpl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template {
    /// Tunnel/state destination; unspecified for "any".
    pub dst: Ipv6Addr,
    pub src: Ipv6Addr,
    pub proto: XfrmProto,
    pub spi: u32,
    pub reqid: u32,
    pub mode: XfrmMode,
    /// `level use`: the policy applies even when no state matches.
    pub optional: bool,
    pub share: u8,
    pub aalgos: u32,
    pub ealgos: u32,
    pub calgos: u32,
}

impl Template {
    /// A route-optimization template (`tmpl proto route2|hao mode ro`).
    /// Addresses may be unspecified: the kernel then takes the state whose
    /// addresses match the flow.
    pub fn ro(proto: XfrmProto, src: Ipv6Addr, dst: Ipv6Addr) -> Template {
        Template {
            dst,
            src,
            proto,
            spi: 0,
            reqid: 0,
            mode: XfrmMode::RouteOptimization,
            optional: false,
            share: 0,
            aalgos: u32::MAX,
            ealgos: u32::MAX,
            calgos: u32::MAX,
        }
    }

    /// An IPsec template (`tmpl proto esp mode transport|tunnel reqid N`,
    /// `level required`, any algorithm). Transport mode takes its addresses
    /// from the flow, so `src`/`dst` are for tunnel mode (the outer header).
    pub fn ipsec(
        proto: XfrmProto,
        mode: XfrmMode,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        reqid: u32,
    ) -> Template {
        Template {
            dst,
            src,
            proto,
            spi: 0,
            reqid,
            mode,
            optional: false,
            share: 0,
            aalgos: u32::MAX,
            ealgos: u32::MAX,
            calgos: u32::MAX,
        }
    }

    /// `level use` instead of `level required`.
    pub fn optional(mut self) -> Template {
        self.optional = true;
        self
    }

    fn to_nl(self) -> UserTemplate {
        UserTemplate {
            id: Id {
                daddr: Address::from_ipv6(&self.dst),
                spi: self.spi.to_be(),
                proto: self.proto.number(),
            },
            family: AF_INET6,
            saddr: Address::from_ipv6(&self.src),
            reqid: self.reqid,
            mode: self.mode.number(),
            share: self.share,
            optional: u8::from(self.optional),
            aalgos: self.aalgos,
            ealgos: self.ealgos,
            calgos: self.calgos,
        }
    }

    fn from_nl(t: &UserTemplate) -> Template {
        Template {
            dst: t.id.daddr.to_ipv6(),
            src: t.saddr.to_ipv6(),
            proto: XfrmProto::from_number(t.id.proto),
            spi: u32::from_be(t.id.spi),
            reqid: t.reqid,
            mode: XfrmMode::from_number(t.mode),
            optional: t.optional != 0,
            share: t.share,
            aalgos: t.aalgos,
            ealgos: t.ealgos,
            calgos: t.calgos,
        }
    }
}

/// A security policy (`ip xfrm policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrmPolicy {
    pub sel: Selector,
    pub dir: PolicyDir,
    pub ptype: PolicyType,
    /// Lower values win.
    pub priority: u32,
    pub action: PolicyAction,
    /// Kernel-assigned index (reported by dumps; 0 when adding).
    pub index: u32,
    /// `XFRM_POLICY_LOCALOK` (1), `XFRM_POLICY_ICMP` (2).
    pub flags: u8,
    pub tmpls: Vec<Template>,
}

impl XfrmPolicy {
    /// An allow policy with no templates.
    pub fn new(sel: Selector, dir: PolicyDir, ptype: PolicyType, priority: u32) -> XfrmPolicy {
        XfrmPolicy {
            sel,
            dir,
            ptype,
            priority,
            action: PolicyAction::Allow,
            index: 0,
            flags: 0,
            tmpls: Vec::new(),
        }
    }

    /// Add a template.
    pub fn tmpl(mut self, t: Template) -> XfrmPolicy {
        self.tmpls.push(t);
        self
    }

    /// Make it a block policy.
    pub fn block(mut self) -> XfrmPolicy {
        self.action = PolicyAction::Block;
        self
    }

    /// How `ip xfrm policy` would name it, for errors.
    pub fn describe(&self) -> String {
        format!(
            "{} dir {:?} ptype {:?} priority {}",
            self.sel, self.dir, self.ptype, self.priority
        )
        .to_lowercase()
    }

    pub(crate) fn to_nl(&self) -> PolicyModifyMessage {
        let info = UserPolicyInfo {
            selector: self.sel.to_nl(),
            lifetime_cfg: LifetimeConfig::default(),
            priority: self.priority,
            index: self.index,
            direction: self.dir.number(),
            action: match self.action {
                PolicyAction::Allow => 0,
                PolicyAction::Block => 1,
            },
            flags: self.flags,
            ..UserPolicyInfo::default()
        };
        let mut nlas = Vec::new();
        if !self.tmpls.is_empty() {
            nlas.push(XfrmAttrs::Template(
                self.tmpls.iter().map(|t| t.to_nl()).collect(),
            ));
        }
        nlas.push(self.ptype.attr());
        PolicyModifyMessage {
            user_policy_info: info,
            nlas,
        }
    }

    /// `None` for a policy of a family or direction we do not model
    /// (IPv4, per-socket).
    pub(crate) fn from_nl(m: &PolicyModifyMessage) -> Option<XfrmPolicy> {
        let info = &m.user_policy_info;
        if info.selector.family != AF_INET6 && info.selector.family != 0 {
            return None;
        }
        let mut p = XfrmPolicy {
            sel: Selector::from_nl(&info.selector),
            dir: PolicyDir::from_number(info.direction)?,
            ptype: PolicyType::Main,
            priority: info.priority,
            action: if info.action == 1 {
                PolicyAction::Block
            } else {
                PolicyAction::Allow
            },
            index: info.index,
            flags: info.flags,
            tmpls: Vec::new(),
        };
        for nla in &m.nlas {
            match nla {
                XfrmAttrs::Template(ts) => p.tmpls = ts.iter().map(Template::from_nl).collect(),
                XfrmAttrs::PolicyType(t) if t.ptype == 1 => p.ptype = PolicyType::Sub,
                _ => {}
            }
        }
        Some(p)
    }

    pub(crate) fn id_attrs(ptype: PolicyType) -> Vec<XfrmAttrs> {
        vec![ptype.attr()]
    }
}
