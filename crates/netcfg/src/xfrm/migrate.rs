//! `XFRM_MSG_MIGRATE` (`ip xfrm policy migrate`… as PF_KEY's MIGRATE): move the tunnel
//! endpoints of a policy's templates, and the states they resolve to, from one address pair to
//! another in one kernel operation. This is how a mobile node's tunnel-mode IPsec follows its
//! care-of address (RFC 4877 §4.4, docs/protocol-notes.md#handover-on-an-address-change item
//! 5): the security associations keep their SPIs, keys and sequence numbers, only their outer
//! addresses change. Needs `CONFIG_XFRM_MIGRATE` (`ENOPROTOOPT` without it).

use std::net::Ipv6Addr;

use netlink_packet_xfrm::{
    Address, MigrateMessage, UserKmAddress, UserMigrate, UserPolicyId, XfrmAttrs, XfrmMessage,
};

use super::policy::{PolicyDir, PolicyType, XfrmPolicy};
use super::types::{Selector, XfrmMode, XfrmProto, AF_INET6};
use super::Xfrm;
use crate::error::Result;

/// One `struct xfrm_user_migrate`: templates (and states) with this
/// protocol, mode and reqid whose endpoints are `old_src → old_dst` get
/// `new_src → new_dst`. For transport mode the kernel matches templates on
/// protocol, mode and reqid only, and moves states whose addresses match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub proto: XfrmProto,
    pub mode: XfrmMode,
    /// 0: any reqid.
    pub reqid: u32,
    pub old_src: Ipv6Addr,
    pub old_dst: Ipv6Addr,
    pub new_src: Ipv6Addr,
    pub new_dst: Ipv6Addr,
}

impl Migration {
    fn to_nl(self) -> UserMigrate {
        UserMigrate {
            old_daddr: Address::from_ipv6(&self.old_dst),
            old_saddr: Address::from_ipv6(&self.old_src),
            new_daddr: Address::from_ipv6(&self.new_dst),
            new_saddr: Address::from_ipv6(&self.new_src),
            proto: self.proto.number(),
            mode: self.mode.number(),
            reserved: 0,
            reqid: self.reqid,
            old_family: AF_INET6,
            new_family: AF_INET6,
        }
    }
}

/// The message for the policy `sel`/`dir`/`ptype` (found by exact
/// selector, as the kernel's `xfrm_migrate_policy_find` does). `local` and
/// `remote` become `XFRMA_KMADDRESS`, the key manager's new endpoints that
/// the kernel passes on to listeners of the MIGRATE group (an IKE daemon).
pub(crate) fn migrate_message(
    sel: &Selector,
    dir: PolicyDir,
    ptype: PolicyType,
    migrations: &[Migration],
    km_local_remote: Option<(Ipv6Addr, Ipv6Addr)>,
) -> MigrateMessage {
    let mut nlas: Vec<XfrmAttrs> = migrations
        .iter()
        .map(|m| XfrmAttrs::Migrate(m.to_nl()))
        .collect();
    if let Some((local, remote)) = km_local_remote {
        nlas.push(XfrmAttrs::KmAddress(UserKmAddress {
            local: Address::from_ipv6(&local),
            remote: Address::from_ipv6(&remote),
            reserved: 0,
            family: AF_INET6,
        }));
    }
    nlas.extend(XfrmPolicy::id_attrs(ptype));
    MigrateMessage {
        user_policy_id: UserPolicyId {
            selector: sel.to_nl(),
            index: 0,
            direction: dir.number(),
        },
        nlas,
    }
}

impl Xfrm {
    /// `XFRM_MSG_MIGRATE` for one policy. `ENOENT` when no policy has this
    /// selector; `ENODATA` when none of its templates matches a migration.
    /// States that match no migration are left alone (not an error).
    pub async fn migrate_policy(
        &self,
        sel: &Selector,
        dir: PolicyDir,
        ptype: PolicyType,
        migrations: &[Migration],
        km_local_remote: Option<(Ipv6Addr, Ipv6Addr)>,
    ) -> Result<()> {
        let msg = migrate_message(sel, dir, ptype, migrations, km_local_remote);
        self.ack(
            "xfrm policy migrate",
            || format!("{sel} dir {dir:?} ptype {ptype:?}").to_lowercase(),
            XfrmMessage::Migrate(msg),
            0,
        )
        .await
    }
}
