//! Policy routing rules (`ip rule`).

use std::net::IpAddr;

use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

use super::{collect, Family, Netlink};
use crate::error::{Error, Result};

/// `ip rule add|del [from SRC/LEN] [to DST/LEN] [prio P] table T|blackhole`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    pub family: Family,
    pub src: Option<(IpAddr, u8)>,
    /// `to DST/LEN` (mip6d's rule 1000: traffic to a mobile network prefix).
    pub dst: Option<(IpAddr, u8)>,
    pub priority: Option<u32>,
    pub table: u32,
    /// `blackhole` instead of a table lookup (mip6d's rules 1003 and 1004:
    /// nothing leaves from the home address while it is not usable).
    pub blackhole: bool,
}

impl RuleSpec {
    /// `from ADDR prio P table T`, ADDR as a host prefix (/32 or /128),
    /// which is what `ip rule ... from ADDR` means.
    pub fn from_addr(addr: IpAddr, priority: u32, table: u32) -> RuleSpec {
        let (family, len) = match addr {
            IpAddr::V4(_) => (Family::V4, 32),
            IpAddr::V6(_) => (Family::V6, 128),
        };
        RuleSpec {
            family,
            src: Some((addr, len)),
            dst: None,
            priority: Some(priority),
            table,
            blackhole: false,
        }
    }

    /// `from ADDR prio P blackhole` (ADDR as a host prefix).
    pub fn blackhole_from(addr: IpAddr, priority: u32) -> RuleSpec {
        RuleSpec {
            blackhole: true,
            table: 0,
            ..RuleSpec::from_addr(addr, priority, 0)
        }
    }

    /// Add `to DST/LEN`.
    pub fn to(mut self, dst: IpAddr, len: u8) -> RuleSpec {
        self.dst = Some((dst, len));
        self
    }

    fn message(&self, action: RuleAction) -> RuleMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = self.family.af();
        msg.header.action = action;
        if !self.blackhole {
            if self.table < 256 {
                msg.header.table = self.table as u8;
            }
            // Always send FRA_TABLE too: it is what the kernel reports back and
            // covers ids above 255.
            msg.attributes.push(RuleAttribute::Table(self.table));
        }
        if let Some((addr, len)) = self.src {
            msg.header.src_len = len;
            msg.attributes.push(RuleAttribute::Source(addr));
        }
        if let Some((addr, len)) = self.dst {
            msg.header.dst_len = len;
            msg.attributes.push(RuleAttribute::Destination(addr));
        }
        if let Some(p) = self.priority {
            msg.attributes.push(RuleAttribute::Priority(p));
        }
        msg
    }
}

/// One rule as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub family: Family,
    pub src: Option<(IpAddr, u8)>,
    pub dst: Option<(IpAddr, u8)>,
    pub priority: u32,
    pub table: u32,
    /// `FR_ACT_*` (1 = to table).
    pub action: u8,
}

impl RuleInfo {
    fn from_message(msg: &RuleMessage) -> Option<RuleInfo> {
        let family = if msg.header.family == Family::V4.af() {
            Family::V4
        } else if msg.header.family == Family::V6.af() {
            Family::V6
        } else {
            return None;
        };
        let mut info = RuleInfo {
            family,
            src: None,
            dst: None,
            priority: 0,
            table: u32::from(msg.header.table),
            action: u8::from(msg.header.action),
        };
        for attr in &msg.attributes {
            match attr {
                RuleAttribute::Source(a) => info.src = Some((*a, msg.header.src_len)),
                RuleAttribute::Destination(a) => info.dst = Some((*a, msg.header.dst_len)),
                RuleAttribute::Priority(p) => info.priority = *p,
                RuleAttribute::Table(t) => info.table = *t,
                _ => {}
            }
        }
        Some(info)
    }
}

impl Netlink {
    /// `ip [-4|-6] rule show`.
    pub async fn rules(&self, family: Family) -> Result<Vec<RuleInfo>> {
        let msgs = collect(
            "rule show",
            self.handle.rule().get(family.ip_version()).execute(),
        )
        .await?;
        Ok(msgs
            .iter()
            .filter_map(RuleInfo::from_message)
            .filter(|r| r.family == family)
            .collect())
    }

    /// `ip rule add ...` with the to-table action (rtnetlink's default
    /// action is "unspec", which the kernel turns into a useless rule).
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<()> {
        let mut req = self.handle.rule().add();
        let action = if spec.blackhole {
            RuleAction::Blackhole
        } else {
            RuleAction::ToTable
        };
        *req.message_mut() = spec.message(action);
        req.execute()
            .await
            .map_err(|e| Error::from_rtnl("rule add", e))
    }

    /// `ip rule del ...`: the kernel deletes the first rule matching every
    /// field given (the action is left as a wildcard unless blackhole,
    /// like ip does).
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<()> {
        let action = if spec.blackhole {
            RuleAction::Blackhole
        } else {
            RuleAction::Unspec
        };
        self.handle
            .rule()
            .del(spec.message(action))
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("rule del", e))
    }
}
