//! Address operations (`ip address`).

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};

use super::{Family, Netlink};
use crate::error::{Error, Result};

/// One address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `RT_SCOPE_*` (0 global, 253 link, 254 host).
    pub scope: u8,
    /// `IFA_F_*` flags (tentative, nodad, deprecated, ...).
    pub flags: u32,
}

impl AddrInfo {
    pub const FLAG_NODAD: u32 = AddressFlags::Nodad.bits();
    pub const FLAG_TENTATIVE: u32 = AddressFlags::Tentative.bits();
    pub const FLAG_DADFAILED: u32 = AddressFlags::Dadfailed.bits();
    pub const FLAG_DEPRECATED: u32 = AddressFlags::Deprecated.bits();
    /// `IFA_F_OPTIMISTIC`: usable while DAD runs (RFC 4429).
    pub const FLAG_OPTIMISTIC: u32 = AddressFlags::Optimistic.bits();
    /// `IFA_F_HOMEADDRESS`: a Mobile IPv6 home address (source address
    /// selection prefers it, RFC 6724 rule 4).
    pub const FLAG_HOMEADDRESS: u32 = AddressFlags::Homeaddress.bits();
    /// Set on the random link-local address the kernel gives a TUN.
    pub const FLAG_STABLE_PRIVACY: u32 = AddressFlags::StablePrivacy.bits();

    /// Build from an `RTM_NEWADDR`/`RTM_DELADDR`; `None` when it carries no
    /// unicast address.
    pub(crate) fn from_message(msg: &AddressMessage) -> Option<AddrInfo> {
        let mut local = None;
        let mut address = None;
        let mut flags = u32::from(msg.header.flags.bits());
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(a) => local = Some(*a),
                AddressAttribute::Address(a) => address = Some(*a),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        // IPv4 reports the own address in IFA_LOCAL (IFA_ADDRESS is the peer
        // on point-to-point links); IPv6 in IFA_ADDRESS unless it has a peer.
        let addr = local.or(address)?;
        Some(AddrInfo {
            index: msg.header.index,
            addr,
            prefix_len: msg.header.prefix_len,
            scope: u8::from(msg.header.scope),
            flags,
        })
    }

    /// True for an IPv6 address still doing DAD.
    pub fn is_tentative(&self) -> bool {
        self.flags & Self::FLAG_TENTATIVE != 0
    }
}

impl Netlink {
    async fn address_messages(
        &self,
        family: Option<Family>,
        index: Option<u32>,
    ) -> Result<Vec<AddressMessage>> {
        let mut req = self.handle.address().get();
        if let Some(i) = index {
            req = req.set_link_index_filter(i);
        }
        let msgs: Vec<AddressMessage> = req
            .execute()
            .map_err(|e| Error::from_rtnl("address show", e))
            .try_collect()
            .await?;
        Ok(msgs
            .into_iter()
            .filter(|m| family.is_none_or(|f| m.header.family == f.af()))
            .filter(|m| index.is_none_or(|i| m.header.index == i))
            .collect())
    }

    /// `ip address show [dev X]`, optionally one family only.
    pub async fn addresses(
        &self,
        family: Option<Family>,
        index: Option<u32>,
    ) -> Result<Vec<AddrInfo>> {
        let msgs = self.address_messages(family, index).await?;
        Ok(msgs.iter().filter_map(AddrInfo::from_message).collect())
    }

    /// `ip address add ADDR/LEN dev X [nodad]`. `nodad` only means
    /// something for IPv6.
    pub async fn add_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        nodad: bool,
    ) -> Result<()> {
        let mut req = self.handle.address().add(index, addr, prefix_len);
        if nodad && addr.is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| Error::from_rtnl("address add", e))
    }

    /// `ip address add ADDR/128 dev X home nodad`: how mip6d puts the home
    /// address on the tunnel while away from home
    /// (docs/protocol-notes.md#handover-on-an-address-change).
    pub async fn add_home_address(&self, index: u32, addr: std::net::Ipv6Addr) -> Result<()> {
        let mut req = self.handle.address().add(index, IpAddr::V6(addr), 128);
        let msg = req.message_mut();
        msg.header.flags |= AddressHeaderFlags::Nodad | AddressHeaderFlags::Homeaddress;
        msg.attributes.push(AddressAttribute::Flags(
            AddressFlags::Nodad | AddressFlags::Homeaddress,
        ));
        req.execute().await.map_err(|e| {
            Error::from_rtnl_object("address add", format!("{addr}/128 home dev {index}"), e)
        })
    }

    /// `ip address del ADDR/LEN dev X`.
    pub async fn del_address(&self, index: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix_len;
        msg.header.family = match addr {
            IpAddr::V4(_) => Family::V4.af(),
            IpAddr::V6(_) => Family::V6.af(),
        };
        msg.attributes.push(AddressAttribute::Address(addr));
        if addr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(addr));
        }
        self.handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("address del", e))
    }

    /// `ip [-4|-6] address flush dev X`: delete every address of `family`
    /// on the link. Addresses that vanish meanwhile are not an error.
    pub async fn flush_addresses(&self, index: u32, family: Family) -> Result<()> {
        let msgs = self.address_messages(Some(family), Some(index)).await?;
        let mut first_err = None;
        for msg in msgs {
            if let Err(e) = self.handle.address().del(msg).execute().await {
                let e = Error::from_rtnl("address flush", e);
                if !e.is_not_found() && first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
