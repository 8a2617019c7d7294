//! Route operations (`ip route`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteIp6Tunnel, RouteLwEnCapType, RouteLwTunnelEncap,
    RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::RouteMessageBuilder;

use super::{collect, Family, Netlink, TABLE_MAIN};
use crate::error::{Error, Result};

/// A device route to add or delete: `ip route add DST/LEN [from SRC/LEN]
/// [via GW] dev OIF [metric M] [table T] [proto P]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub oif: u32,
    pub metric: Option<u32>,
    pub table: u32,
    /// Source prefix (IPv6 only, `CONFIG_IPV6_SUBTREES`).
    pub src: Option<(IpAddr, u8)>,
    /// Next hop; same family as `dst`.
    pub gateway: Option<IpAddr>,
    /// `RTPROT_*`; `None` is `boot`, what `ip route add` uses. mip6d
    /// marks its routes [`RTPROT_MIP`].
    pub protocol: Option<u8>,
    /// Per-route ip6ip6 encapsulation (lightweight tunnel), for a route
    /// through an external-mode tunnel device.
    pub encap: Option<Ip6Encap>,
}

/// `encap ip6 dst D src S hoplimit H`: the outer header a route through an
/// external-mode ip6tnl device gives its packets (`RTA_ENCAP_TYPE`
/// `LWTUNNEL_ENCAP_IP6`, `RTA_ENCAP` nesting `LWTUNNEL_IP6_DST`/`_SRC`/
/// `_HOPLIMIT`; the outer header is RFC 2473 §3's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ip6Encap {
    /// Tunnel exit point (the outer destination).
    pub dst: Ipv6Addr,
    /// Tunnel entry point (the outer source).
    pub src: Ipv6Addr,
    /// The outer hop limit; 0 copies the inner one.
    pub hop_limit: u8,
}

/// `RTPROT_MIP`: the protocol UMIP marks its routes with (16, its own
/// define; current iproute2 names 16 `dhcp`). To be checked against
/// UMIP's `rtnl.h` before relying on it for compatibility.
pub const RTPROT_MIP: u8 = 16;

impl RouteSpec {
    /// `default dev OIF` (IPv6), main table, kernel default metric.
    pub fn default_v6(oif: u32) -> RouteSpec {
        RouteSpec::prefix(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0, oif)
    }

    /// `default dev OIF` (IPv4), main table.
    pub fn default_v4(oif: u32) -> RouteSpec {
        RouteSpec::prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, oif)
    }

    /// `DST/LEN dev OIF`, main table.
    pub fn prefix(dst: IpAddr, prefix_len: u8, oif: u32) -> RouteSpec {
        RouteSpec {
            dst,
            prefix_len,
            oif,
            metric: None,
            table: TABLE_MAIN,
            src: None,
            gateway: None,
            protocol: None,
            encap: None,
        }
    }

    /// Encapsulate what takes this route (`encap ip6 ...`).
    pub fn encap(mut self, encap: Ip6Encap) -> RouteSpec {
        self.encap = Some(encap);
        self
    }

    /// Set a source prefix (`from SRC/LEN`).
    pub fn from(mut self, src: IpAddr, len: u8) -> RouteSpec {
        self.src = Some((src, len));
        self
    }

    /// Set a next hop (`via GW`).
    pub fn via(mut self, gateway: IpAddr) -> RouteSpec {
        self.gateway = Some(gateway);
        self
    }

    /// Set the `RTPROT_*` protocol.
    pub fn protocol(mut self, protocol: u8) -> RouteSpec {
        self.protocol = Some(protocol);
        self
    }

    /// Set the metric (`RTA_PRIORITY`).
    pub fn metric(mut self, metric: u32) -> RouteSpec {
        self.metric = Some(metric);
        self
    }

    /// Set the table id.
    pub fn table(mut self, table: u32) -> RouteSpec {
        self.table = table;
        self
    }

    fn message(&self) -> RouteMessage {
        // `ip route add` marks routes RTPROT_BOOT, which `ip route show`
        // does not print: our routes then read exactly like the hook's.
        let protocol = self
            .protocol
            .map_or(RouteProtocol::Boot, RouteProtocol::from);
        let mut msg = match self.dst {
            IpAddr::V6(a) => {
                let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
                    .destination_prefix(a, self.prefix_len)
                    .output_interface(self.oif)
                    .table_id(self.table)
                    .protocol(protocol);
                if let Some((IpAddr::V6(s), len)) = self.src {
                    b = b.source_prefix(s, len);
                }
                if let Some(IpAddr::V6(g)) = self.gateway {
                    b = b.gateway(g);
                }
                b.build()
            }
            IpAddr::V4(a) => {
                let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(a, self.prefix_len)
                    .output_interface(self.oif)
                    .table_id(self.table)
                    .protocol(protocol);
                match self.gateway {
                    Some(IpAddr::V4(g)) => b = b.gateway(g),
                    _ => b = b.scope(RouteScope::Link),
                }
                b.build()
            }
        };
        if self.prefix_len == 0 {
            // A zero-length destination is sent as no RTA_DST at all, like ip.
            msg.attributes
                .retain(|a| !matches!(a, RouteAttribute::Destination(_)));
        }
        if let Some(m) = self.metric {
            msg.attributes.push(RouteAttribute::Priority(m));
        }
        if let Some(e) = self.encap {
            msg.attributes
                .push(RouteAttribute::EncapType(RouteLwEnCapType::Ip6));
            msg.attributes.push(RouteAttribute::Encap(vec![
                RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Destination(e.dst)),
                RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Source(e.src)),
                RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Hoplimit(e.hop_limit)),
            ]));
        }
        msg
    }
}

/// One route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub family: Family,
    /// `None` is the default route (`::/0` or `0.0.0.0/0`).
    pub dst: Option<IpAddr>,
    pub prefix_len: u8,
    /// Source prefix of a source-specific route.
    pub src: Option<(IpAddr, u8)>,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: u32,
    /// `RTPROT_*` (2 kernel, 3 boot, 4 static, 9 ra).
    pub protocol: u8,
    /// `RTN_*` (1 unicast, 2 local, 5 multicast).
    pub kind: u8,
    /// The message itself, to delete exactly this route.
    raw: RouteMessage,
}

impl RouteInfo {
    pub(crate) fn from_message(msg: RouteMessage) -> Option<RouteInfo> {
        let family = match msg.header.address_family {
            netlink_packet_route::AddressFamily::Inet => Family::V4,
            netlink_packet_route::AddressFamily::Inet6 => Family::V6,
            _ => return None,
        };
        let mut info = RouteInfo {
            family,
            dst: None,
            prefix_len: msg.header.destination_prefix_length,
            src: None,
            oif: None,
            gateway: None,
            metric: None,
            table: u32::from(msg.header.table),
            protocol: u8::from(msg.header.protocol),
            kind: u8::from(msg.header.kind),
            raw: RouteMessage::default(),
        };
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(a) => info.dst = route_ip(a),
                RouteAttribute::Gateway(a) => info.gateway = route_ip(a),
                RouteAttribute::Source(a) => {
                    info.src = route_ip(a).map(|ip| (ip, msg.header.source_prefix_length))
                }
                RouteAttribute::Oif(i) => info.oif = Some(*i),
                RouteAttribute::Priority(m) => info.metric = Some(*m),
                RouteAttribute::Table(t) => info.table = *t,
                _ => {}
            }
        }
        info.raw = msg;
        Some(info)
    }

    /// A default route (prefix length 0).
    pub fn is_default(&self) -> bool {
        self.prefix_len == 0
    }

    /// A unicast route (not local, broadcast, multicast...).
    pub fn is_unicast(&self) -> bool {
        self.raw.header.kind == RouteType::Unicast
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Netlink {
    /// `ip [-4|-6] route show table all`, filtered to `table` when given.
    pub async fn routes(&self, family: Family, table: Option<u32>) -> Result<Vec<RouteInfo>> {
        let query = match family {
            Family::V4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
            Family::V6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
        };
        let msgs = collect("route show", self.handle.route().get(query).execute()).await?;
        Ok(msgs
            .into_iter()
            .filter_map(RouteInfo::from_message)
            .filter(|r| r.family == family)
            .filter(|r| table.is_none_or(|t| r.table == t))
            .collect())
    }

    /// `ip route add ...`.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<()> {
        self.handle
            .route()
            .add(spec.message())
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("route add", e))
    }

    /// `ip route replace ...`: adds the route or changes the one with its
    /// destination, table and metric in one request (a binding's move).
    pub async fn replace_route(&self, spec: &RouteSpec) -> Result<()> {
        self.handle
            .route()
            .add(spec.message())
            .replace()
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("route replace", e))
    }

    /// `ip route del ...`.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<()> {
        self.handle
            .route()
            .del(spec.message())
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("route del", e))
    }

    /// Delete a route obtained from [`Netlink::routes`].
    pub async fn del_route_info(&self, route: &RouteInfo) -> Result<()> {
        self.handle
            .route()
            .del(route.raw.clone())
            .execute()
            .await
            .map_err(|e| Error::from_rtnl("route del", e))
    }

    async fn flush_where(&self, family: Family, keep: impl Fn(&RouteInfo) -> bool) -> Result<()> {
        let mut first_err = None;
        for r in self.routes(family, None).await? {
            if !keep(&r) {
                continue;
            }
            if let Err(e) = self.del_route_info(&r).await {
                if !e.is_not_found() && first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// `ip [-4|-6] route flush dev X`: every route of the main table that
    /// goes out of the link (kernel prefix routes included).
    pub async fn flush_routes_dev(&self, index: u32, family: Family) -> Result<()> {
        self.flush_where(family, |r| r.table == TABLE_MAIN && r.oif == Some(index))
            .await
    }

    /// `ip [-4|-6] route flush table T`.
    pub async fn flush_table(&self, table: u32, family: Family) -> Result<()> {
        self.flush_where(family, |r| r.table == table).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    /// `HOA/128 encap ip6 dst COA src HA hoplimit 64 dev 9`: RTA_ENCAP_TYPE
    /// (21) is a u16 LWTUNNEL_ENCAP_IP6 (4); RTA_ENCAP (22) nests
    /// LWTUNNEL_IP6_DST (2) and _SRC (3), 16 bytes each in network order,
    /// and _HOPLIMIT (4), one byte (include/uapi/linux/lwtunnel.h).
    #[test]
    fn encap_route_layout() {
        let hoa: Ipv6Addr = "2001:db8:1::100".parse().unwrap();
        let coa: Ipv6Addr = "2001:db8:a::5".parse().unwrap();
        let ha: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let spec = RouteSpec::prefix(IpAddr::V6(hoa), 128, 9).encap(Ip6Encap {
            dst: coa,
            src: ha,
            hop_limit: 64,
        });
        let msg = spec.message();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let encap_type = [6u8, 0, 21, 0, 4, 0];
        assert!(buf.windows(6).any(|w| w == encap_type), "{buf:02x?}");
        let mut dst = vec![20u8, 0, 2, 0];
        dst.extend_from_slice(&coa.octets());
        let mut src = vec![20u8, 0, 3, 0];
        src.extend_from_slice(&ha.octets());
        let hop = [5u8, 0, 4, 0, 64];
        let mut nested = vec![4 + 20 + 20 + 8, 0, 22, 0];
        nested.extend_from_slice(&dst);
        nested.extend_from_slice(&src);
        nested.extend_from_slice(&hop);
        assert!(
            buf.windows(nested.len()).any(|w| w == nested.as_slice()),
            "{buf:02x?}"
        );
        // Without encap, neither attribute.
        let plain = RouteSpec::prefix(IpAddr::V6(hoa), 128, 9).message();
        let mut buf = vec![0u8; plain.buffer_len()];
        plain.emit(&mut buf);
        assert!(!buf.windows(6).any(|w| w == encap_type));
    }
}
