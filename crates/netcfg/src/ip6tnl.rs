//! ip6ip6 tunnels (`ip -6 tunnel`, kind `ip6tnl`) over rtnetlink.
//!
//! mip6d's MN↔HA tunnel: UMIP creates it with `SIOCADDTUNNEL` on `ip6tnl0` and
//! lets the kernel name it `ip6tnlN`; we send the same parameters as
//! `IFLA_IPTUN_*` attributes in an `RTM_NEWLINK`, which the `ip6_tunnel`
//! module also answers (and the kernel loads it on demand for this link kind).
//! A handover changes the endpoints of the existing device in place
//! (`RTM_NEWLINK` on its index, the rtnetlink form of `SIOCCHGTUNNEL`), so
//! routes and addresses through it survive.

use std::net::{IpAddr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, Ip6TunnelFlags, LinkAttribute, LinkInfo as NlLinkInfo,
    LinkMessage,
};
use netlink_packet_route::IpProtocol;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// `IP6_TNL_F_IGN_ENCAP_LIMIT`: no Tunnel Encapsulation Limit option.
pub const IP6_TNL_F_IGN_ENCAP_LIMIT: u32 = 0x1;
/// `IP6_TNL_F_MIP6_DEV`: the tunnel carries Mobile IPv6 traffic; the kernel
/// then skips its check that the inner source matches the remote endpoint
/// for packets from the MN's home address.
pub const IP6_TNL_F_MIP6_DEV: u32 = 0x8;

/// `IP6_TNL_F_CAP_XMIT|CAP_RCV|CAP_PER_PACKET`: what the kernel found the
/// endpoints allow; reported in dumps, never set by us.
pub const IP6_TNL_F_CAP_MASK: u32 = 0x7_0000;

/// The hop limit UMIP gives its tunnels.
pub const MIP6_TUNNEL_HOP_LIMIT: u8 = 64;

/// Parameters of an ip6ip6 tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip6TnlSpec {
    /// Device name; `None` lets the kernel pick `ip6tnlN` like UMIP.
    pub name: Option<String>,
    pub local: Ipv6Addr,
    pub remote: Ipv6Addr,
    /// Underlying interface (`IFLA_IPTUN_LINK`), 0 for none.
    pub link: u32,
    pub hop_limit: u8,
    /// Tunnel Encapsulation Limit; only used without `IGN_ENCAP_LIMIT`.
    pub encap_limit: u8,
    /// `IP6_TNL_F_*`.
    pub flags: u32,
    /// Device group (`IFLA_GROUP`); `None` leaves the kernel's default 0.
    /// A group lets [`Netlink::del_link_group`] remove many tunnels in one
    /// request, which the kernel unregisters as one batch.
    pub group: Option<u32>,
    /// External (collect-metadata) mode, `IFLA_IPTUN_COLLECT_METADATA`:
    /// no endpoints of its own; each route through the device names them
    /// ([`crate::netlink::Ip6Encap`]), and a received packet carries its
    /// outer addresses as tunnel metadata. One such device per namespace.
    pub external: bool,
}

impl Ip6TnlSpec {
    /// The tunnel as UMIP's `tunnel_add` makes it: ip6ip6, hop limit 64,
    /// flags `MIP6_DEV | IGN_ENCAP_LIMIT`, encap limit and flow info 0 (its
    /// parameter block is zeroed before the fields are set).
    pub fn mip6(local: Ipv6Addr, remote: Ipv6Addr, link: u32) -> Ip6TnlSpec {
        Ip6TnlSpec {
            name: None,
            local,
            remote,
            link,
            hop_limit: MIP6_TUNNEL_HOP_LIMIT,
            encap_limit: 0,
            flags: IP6_TNL_F_MIP6_DEV | IP6_TNL_F_IGN_ENCAP_LIMIT,
            group: None,
            external: false,
        }
    }

    /// An ip6ip6 device in external mode called `name` (`ip link add NAME
    /// type ip6tnl mode ip6ip6 external`): a mobility anchor's one tunnel
    /// for all its bindings, hop limit and flags as [`Ip6TnlSpec::mip6`].
    pub fn external(name: &str) -> Ip6TnlSpec {
        let any = Ipv6Addr::UNSPECIFIED;
        Ip6TnlSpec {
            name: Some(name.to_owned()),
            external: true,
            ..Ip6TnlSpec::mip6(any, any, 0)
        }
    }

    /// Put the device into a device group.
    pub fn in_group(mut self, group: u32) -> Ip6TnlSpec {
        self.group = Some(group);
        self
    }

    /// Name the device instead of letting the kernel choose.
    pub fn named(mut self, name: &str) -> Ip6TnlSpec {
        self.name = Some(name.to_string());
        self
    }

    fn describe(&self) -> String {
        format!(
            "{} {} -> {} link {}",
            self.name.as_deref().unwrap_or("ip6tnl"),
            self.local,
            self.remote,
            self.link
        )
    }

    fn message(&self, index: u32) -> LinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        if let Some(n) = &self.name {
            msg.attributes.push(LinkAttribute::IfName(n.clone()));
        }
        if let Some(g) = self.group {
            msg.attributes.push(LinkAttribute::Group(g));
        }
        let mut data = vec![
            InfoIpTunnel::Link(self.link),
            InfoIpTunnel::Local(IpAddr::V6(self.local)),
            InfoIpTunnel::Remote(IpAddr::V6(self.remote)),
            InfoIpTunnel::Ttl(self.hop_limit),
            InfoIpTunnel::EncapLimit(self.encap_limit),
            InfoIpTunnel::FlowInfo(0),
            InfoIpTunnel::Ipv6Flags(Ip6TunnelFlags::from_bits_retain(self.flags)),
            InfoIpTunnel::Protocol(IpProtocol::Ipv6),
        ];
        if self.external {
            data.push(InfoIpTunnel::CollectMetadata);
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Ip6Tnl),
            NlLinkInfo::Data(InfoData::IpTunnel(data)),
        ]));
        msg
    }
}

/// An ip6tnl device as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip6TnlInfo {
    pub index: u32,
    pub name: String,
    pub local: Ipv6Addr,
    pub remote: Ipv6Addr,
    pub link: u32,
    pub hop_limit: u8,
    pub encap_limit: u8,
    pub flags: u32,
    /// Inner protocol: 41 for ip6ip6, 4 for ipip6, 0 for any.
    pub proto: u8,
    pub up: bool,
    /// The kernel's `IP6_TNL_F_CAP_*` bits for these endpoints.
    pub capabilities: u32,
}

impl Ip6TnlInfo {
    fn from_message(msg: &LinkMessage) -> Option<Ip6TnlInfo> {
        let mut info = Ip6TnlInfo {
            index: msg.header.index,
            name: String::new(),
            local: Ipv6Addr::UNSPECIFIED,
            remote: Ipv6Addr::UNSPECIFIED,
            link: 0,
            hop_limit: 0,
            encap_limit: 0,
            flags: 0,
            proto: 0,
            capabilities: 0,
            up: msg
                .header
                .flags
                .contains(netlink_packet_route::link::LinkFlags::Up),
        };
        let mut is_ip6tnl = false;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => info.name.clone_from(n),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            NlLinkInfo::Kind(InfoKind::Ip6Tnl) => is_ip6tnl = true,
                            NlLinkInfo::Data(InfoData::IpTunnel(data)) => {
                                info.fill(data);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        is_ip6tnl.then_some(info)
    }

    fn fill(&mut self, data: &[InfoIpTunnel]) {
        for d in data {
            match d {
                InfoIpTunnel::Link(l) => self.link = *l,
                InfoIpTunnel::Local(IpAddr::V6(a)) => self.local = *a,
                InfoIpTunnel::Remote(IpAddr::V6(a)) => self.remote = *a,
                InfoIpTunnel::Ttl(t) => self.hop_limit = *t,
                InfoIpTunnel::EncapLimit(e) => self.encap_limit = *e,
                InfoIpTunnel::Ipv6Flags(f) => {
                    self.flags = f.bits() & !IP6_TNL_F_CAP_MASK;
                    self.capabilities = f.bits() & IP6_TNL_F_CAP_MASK;
                }
                InfoIpTunnel::Protocol(p) => self.proto = ip_protocol_number(p),
                _ => {}
            }
        }
    }

    /// The kernel's fallback device `ip6tnl0` that every namespace gets
    /// once the module is loaded; never ours to change or delete.
    pub fn is_fallback(&self) -> bool {
        self.local.is_unspecified() && self.remote.is_unspecified() && self.name == "ip6tnl0"
    }
}

fn ip_protocol_number(p: &IpProtocol) -> u8 {
    match p {
        IpProtocol::Ipv6 => 41,
        IpProtocol::Ipip => 4,
        IpProtocol::Hopopts => 0,
        IpProtocol::Other(n) => u8::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

impl Netlink {
    /// `ip -6 tunnel show`: every ip6tnl device (the fallback `ip6tnl0`
    /// included; see [`Ip6TnlInfo::is_fallback`]).
    pub async fn ip6tnls(&self) -> Result<Vec<Ip6TnlInfo>> {
        let msgs: Vec<LinkMessage> = self
            .raw()
            .link()
            .get()
            .execute()
            .map_err(|e| Error::from_rtnl("tunnel show", e))
            .try_collect()
            .await?;
        Ok(msgs.iter().filter_map(Ip6TnlInfo::from_message).collect())
    }

    /// The ip6tnl device called `name`, if there is one.
    pub async fn ip6tnl_by_name(&self, name: &str) -> Result<Option<Ip6TnlInfo>> {
        let found: std::result::Result<Vec<LinkMessage>, _> = self
            .raw()
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_collect()
            .await;
        match found.map_err(|e| Error::from_rtnl("tunnel show", e)) {
            Ok(msgs) => Ok(msgs.iter().find_map(Ip6TnlInfo::from_message)),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes every device in device group `group` with one request
    /// (`ip link delete group G`): the kernel unregisters them as one batch,
    /// which for thousands of devices is far faster than one by one.
    pub async fn del_link_group(&self, group: u32) -> Result<()> {
        let mut req = self.raw().link().del(0);
        req.message_mut()
            .attributes
            .push(LinkAttribute::Group(group));
        req.execute()
            .await
            .map_err(|e| Error::from_rtnl_object("link delete", format!("group {group}"), e))
    }

    /// The ip6tnl device with these endpoints (the kernel allows one per pair).
    pub async fn ip6tnl_by_endpoints(
        &self,
        local: Ipv6Addr,
        remote: Ipv6Addr,
    ) -> Result<Option<Ip6TnlInfo>> {
        Ok(self
            .ip6tnls()
            .await?
            .into_iter()
            .find(|t| t.local == local && t.remote == remote && !t.is_fallback()))
    }

    /// `ip -6 tunnel add [NAME] mode ip6ip6 local L remote R ...` and
    /// `ip link set up`; returns the new device. `EEXIST` when a tunnel
    /// with the same endpoints exists; `EOPNOTSUPP` without `ip6_tunnel`.
    pub async fn add_ip6tnl(&self, spec: &Ip6TnlSpec) -> Result<Ip6TnlInfo> {
        let mut msg = spec.message(0);
        msg.header.flags |= netlink_packet_route::link::LinkFlags::Up;
        msg.header.change_mask |= netlink_packet_route::link::LinkFlags::Up;
        self.raw()
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| Error::from_rtnl_object("tunnel add", spec.describe(), e))?;
        // Kernels before 6.2 do not echo a created link. A named one is
        // looked up by its name (one lookup, whatever the number of links);
        // otherwise find it again by its endpoints, which are unique among
        // ip6tnl devices (a dump of every link).
        let found = match &spec.name {
            Some(name) => self.ip6tnl_by_name(name).await?,
            None => self
                .ip6tnls()
                .await?
                .into_iter()
                .find(|t| t.local == spec.local && t.remote == spec.remote),
        };
        let found = found.ok_or_else(|| Error::Protocol {
            op: "tunnel add",
            detail: format!("{} created but not listed", spec.describe()),
        })?;
        Ok(found)
    }

    /// `ip -6 tunnel change`: new endpoints, link or flags for the device
    /// `index` in place (a handover). `spec.name` is ignored.
    pub async fn change_ip6tnl(&self, index: u32, spec: &Ip6TnlSpec) -> Result<()> {
        let mut spec = spec.clone();
        spec.name = None;
        self.raw()
            .link()
            .change(spec.message(index))
            .execute()
            .await
            .map_err(|e| {
                Error::from_rtnl_object("tunnel change", format!("{index}: {}", spec.describe()), e)
            })
    }

    /// `ip -6 tunnel del`: delete the device `index`.
    pub async fn del_ip6tnl(&self, index: u32) -> Result<()> {
        self.raw()
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| Error::from_rtnl_object("tunnel del", format!("index {index}"), e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, Parseable};

    /// The attributes the kernel's `ip6_tnl_netlink_parms` reads, in the
    /// layout of `include/uapi/linux/if_tunnel.h`: IFLA_IPTUN_FLAGS is a
    /// host-order u32, IFLA_IPTUN_PROTO a u8, FLOWINFO big-endian.
    #[test]
    fn mip6_spec_encodes_umip_parameters() {
        let spec = Ip6TnlSpec::mip6(
            "2001:db8:a::100".parse().unwrap(),
            "2001:db8:1::2".parse().unwrap(),
            7,
        );
        let msg = spec.message(0);
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        // IFLA_IPTUN_FLAGS (8), len 8, value 0x9 little-endian.
        let flags_nla = [8u8, 0, 8, 0, 9, 0, 0, 0];
        assert!(buf.windows(8).any(|w| w == flags_nla), "{buf:02x?}");
        // IFLA_IPTUN_PROTO (9) = 41, IFLA_IPTUN_TTL (4) = 64, LINK (1) = 7.
        assert!(buf.windows(5).any(|w| w == [5, 0, 9, 0, 41]));
        assert!(buf.windows(5).any(|w| w == [5, 0, 4, 0, 64]));
        assert!(buf.windows(8).any(|w| w == [8, 0, 1, 0, 7, 0, 0, 0]));
        assert!(buf.windows(6).any(|w| w == *b"ip6tnl"));

        let parsed = LinkMessage::parse(&buf[..]).unwrap();
        let info = Ip6TnlInfo::from_message(&parsed)
            .map(|i| (i.local, i.remote, i.link, i.hop_limit, i.flags, i.proto));
        assert_eq!(
            info,
            Some((spec.local, spec.remote, 7, 64, 0x9, 41)),
            "round trip"
        );
        // Not external: no IFLA_IPTUN_COLLECT_METADATA (19).
        assert!(!buf.windows(4).any(|w| w == [4, 0, 19, 0]));
    }

    /// External mode is the flag attribute IFLA_IPTUN_COLLECT_METADATA
    /// (19, no payload: a 4-byte NLA), with the device's name.
    #[test]
    fn external_spec_has_the_collect_metadata_flag() {
        let msg = Ip6TnlSpec::external("mip6tnl").message(0);
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        assert!(buf.windows(4).any(|w| w == [4, 0, 19, 0]), "{buf:02x?}");
        assert!(buf.windows(7).any(|w| w == *b"mip6tnl"));
        assert!(buf.windows(5).any(|w| w == [5, 0, 9, 0, 41]));
    }
}
