//! Which tunnelled packets an external-mode ip6tnl device lets in: tc
//! flower filters on its ingress (`tc filter add dev D ingress prio 1
//! handle H protocol ipv6 flower enc_src_ip OUTER src_ip INNER/LEN`),
//! one per (outer source, inner source prefix) pair, and below them one
//! that drops the rest.
//!
//! A device in external mode has no remote endpoint, so the kernel takes a
//! packet from any outer source; what it hands up with the inner packet is
//! the outer header as tunnel metadata, which flower's `enc_*` keys match.
//! Filters whose masks are equal share one hash table, so a packet costs
//! one lookup per distinct mask whatever the number of filters.
//!
//! Netlink layout: `RTM_NEWTFILTER` with `tcmsg.tcm_info` = priority << 16
//! | protocol (network order), `TCA_KIND` "flower", `TCA_OPTIONS` nesting
//! `TCA_FLOWER_KEY_*` (include/uapi/linux/pkt_cls.h); the drop is a `gact`
//! action whose `TCA_GACT_PARMS` is a `struct tc_gen` with action
//! `TC_ACT_SHOT`.

use std::net::Ipv6Addr;

use futures::StreamExt;
use netlink_packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionOption, TcAttribute, TcFilterFlowerOption, TcHandle,
    TcMessage, TcOption,
};
use netlink_packet_route::RouteNetlinkMessage;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// `ETH_P_IPV6`.
const ETH_P_IPV6: u16 = 0x86dd;
/// `ETH_P_ALL`: the drop filter takes every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// Priority of the per-binding filters: looked at first.
const PRIO_ALLOW: u16 = 1;
/// Priority of the filter that drops what no binding allowed.
const PRIO_DROP_REST: u16 = 2;
/// The drop filter's handle.
const HANDLE_DROP_REST: u32 = 1;
/// `TCA_GACT_PARMS`.
const TCA_GACT_PARMS: u16 = 2;
/// `TC_ACT_SHOT`.
const TC_ACT_SHOT: i32 = 2;

/// One allowed pair: a packet that came through the device with outer
/// source `outer_src` may have an inner source in `inner_src`/`inner_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelSourceFilter {
    /// The external-mode tunnel device.
    pub index: u32,
    /// The filter's handle, unique on the device (chosen by the caller).
    pub handle: u32,
    /// The outer source allowed (a care-of address).
    pub outer_src: Ipv6Addr,
    /// The inner source prefix allowed with it.
    pub inner_src: Ipv6Addr,
    /// Its length.
    pub inner_len: u8,
}

/// A netmask of `len` bits.
fn mask(len: u8) -> Ipv6Addr {
    let bits = u32::from(len.min(128));
    Ipv6Addr::from(u128::MAX.checked_shl(128 - bits).unwrap_or(0))
}

/// A filter message on `index`'s ingress.
fn filter_message(index: u32, prio: u16, protocol: u16, handle: u32) -> TcMessage {
    let mut msg = TcMessage::with_index(i32::try_from(index).unwrap_or(i32::MAX));
    msg.header.parent = TcHandle::INGRESS;
    msg.header.handle = TcHandle::from(handle);
    msg.header.info = (u32::from(prio) << 16) | u32::from(protocol.to_be());
    msg.attributes.push(TcAttribute::Kind("flower".to_owned()));
    msg
}

impl TunnelSourceFilter {
    fn message(&self) -> TcMessage {
        let mut msg = filter_message(self.index, PRIO_ALLOW, ETH_P_IPV6, self.handle);
        let net = Ipv6Addr::from(u128::from(self.inner_src) & u128::from(mask(self.inner_len)));
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::Flower(TcFilterFlowerOption::EthType(ETH_P_IPV6)),
            TcOption::Flower(TcFilterFlowerOption::EncKeyIpv6Src(self.outer_src)),
            TcOption::Flower(TcFilterFlowerOption::EncKeyIpv6SrcMask(mask(128))),
            TcOption::Flower(TcFilterFlowerOption::Ipv6Src(net)),
            TcOption::Flower(TcFilterFlowerOption::Ipv6SrcMask(mask(self.inner_len))),
        ]));
        msg
    }
}

/// The filter below every allowed pair: drop.
fn drop_rest_message(index: u32) -> TcMessage {
    let mut msg = filter_message(index, PRIO_DROP_REST, ETH_P_ALL, HANDLE_DROP_REST);
    // struct tc_gen { index, capab, action, refcnt, bindcnt }, host order.
    let mut gen = Vec::with_capacity(20);
    for field in [0i32, 0, TC_ACT_SHOT, 0, 0] {
        gen.extend_from_slice(&field.to_ne_bytes());
    }
    let mut drop = TcAction::default();
    drop.attributes = vec![
        TcActionAttribute::Kind("gact".to_owned()),
        TcActionAttribute::Options(vec![TcActionOption::Other(DefaultNla::new(
            TCA_GACT_PARMS,
            gen,
        ))]),
    ];
    msg.attributes
        .push(TcAttribute::Options(vec![TcOption::Flower(
            TcFilterFlowerOption::Actions(vec![drop]),
        )]));
    msg
}

impl Netlink {
    async fn tc_request(
        &self,
        op: &'static str,
        what: String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<()> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.raw().clone();
        let mut answers = handle
            .request(req)
            .map_err(|e| Error::from_rtnl_object(op, what.clone(), e))?;
        while let Some(answer) = answers.next().await {
            if let NetlinkPayload::Error(e) = answer.payload {
                if e.code.is_some() {
                    return Err(Error::from_rtnl_object(
                        op,
                        what,
                        rtnetlink::Error::NetlinkError(e),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `tc qdisc add dev D ingress` and, below the filters to come, the one
    /// that drops every packet no [`TunnelSourceFilter`] allows.
    pub async fn add_tunnel_ingress_guard(&self, index: u32) -> Result<()> {
        let mut qdisc = TcMessage::with_index(i32::try_from(index).unwrap_or(i32::MAX));
        qdisc.header.parent = TcHandle::INGRESS;
        qdisc.header.handle = TcHandle::from(0xffff_0000);
        qdisc
            .attributes
            .push(TcAttribute::Kind("ingress".to_owned()));
        self.tc_request(
            "qdisc add",
            format!("ingress on {index}"),
            RouteNetlinkMessage::NewQueueDiscipline(qdisc),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await?;
        self.tc_request(
            "filter add",
            format!("drop on {index}"),
            RouteNetlinkMessage::NewTrafficFilter(drop_rest_message(index)),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
    }

    /// `tc filter replace ... flower enc_src_ip ... src_ip ...`: adds the
    /// pair or changes the filter with its handle (a binding's move).
    pub async fn replace_tunnel_source_filter(&self, f: &TunnelSourceFilter) -> Result<()> {
        self.tc_request(
            "filter replace",
            format!(
                "{} from {} via {}/{}",
                f.handle, f.outer_src, f.inner_src, f.inner_len
            ),
            RouteNetlinkMessage::NewTrafficFilter(f.message()),
            NLM_F_CREATE,
        )
        .await
    }

    /// `tc filter del dev D ingress prio 1 handle H protocol ipv6 flower`.
    pub async fn del_tunnel_source_filter(&self, f: &TunnelSourceFilter) -> Result<()> {
        let msg = filter_message(f.index, PRIO_ALLOW, ETH_P_IPV6, f.handle);
        self.tc_request(
            "filter del",
            format!("{} on {}", f.handle, f.index),
            RouteNetlinkMessage::DelTrafficFilter(msg),
            0,
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn bytes(msg: &TcMessage) -> Vec<u8> {
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    /// The tcmsg header (family, pad, ifindex, handle, parent, info) and the
    /// flower keys: ETH_TYPE (8) big-endian, IPV6_SRC (14) / _MASK (15),
    /// ENC_IPV6_SRC (31) / _MASK (32), 16 bytes each.
    #[test]
    fn allow_filter_layout() {
        let f = TunnelSourceFilter {
            index: 7,
            handle: 0x2a,
            outer_src: "2001:db8:a::5".parse().unwrap(),
            inner_src: "2001:db8:5:1::77".parse().unwrap(),
            inner_len: 64,
        };
        let buf = bytes(&f.message());
        assert_eq!(buf[4..8], 7i32.to_ne_bytes());
        assert_eq!(buf[8..12], 0x2au32.to_ne_bytes());
        assert_eq!(buf[12..16], 0xffff_fff1u32.to_ne_bytes());
        // prio 1, protocol 0x86dd in network order.
        let info = (1u32 << 16) | u32::from(0x86ddu16.to_be());
        assert_eq!(buf[16..20], info.to_ne_bytes());
        assert!(buf.windows(6).any(|w| w == [6, 0, 8, 0, 0x86, 0xdd]));
        let nla = |kind: u8, a: &str| {
            let mut v = vec![20u8, 0, kind, 0];
            v.extend_from_slice(&a.parse::<Ipv6Addr>().unwrap().octets());
            v
        };
        for want in [
            nla(31, "2001:db8:a::5"),
            nla(32, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            // The inner source is sent as its prefix.
            nla(14, "2001:db8:5:1::"),
            nla(15, "ffff:ffff:ffff:ffff::"),
        ] {
            assert!(buf.windows(20).any(|w| w == want.as_slice()), "{want:02x?}");
        }
    }

    /// The drop filter: prio 2, every protocol, a gact action whose tc_gen
    /// says TC_ACT_SHOT.
    #[test]
    fn drop_rest_layout() {
        let buf = bytes(&drop_rest_message(7));
        let info = (2u32 << 16) | u32::from(0x0003u16.to_be());
        assert_eq!(buf[16..20], info.to_ne_bytes());
        assert!(buf.windows(5).any(|w| w == *b"gact\0"));
        let mut gen = vec![24u8, 0, 2, 0];
        for field in [0i32, 0, 2, 0, 0] {
            gen.extend_from_slice(&field.to_ne_bytes());
        }
        assert!(buf.windows(24).any(|w| w == gen.as_slice()), "{buf:02x?}");
    }

    #[test]
    fn masks() {
        assert_eq!(mask(0), Ipv6Addr::UNSPECIFIED);
        assert_eq!(mask(48), "ffff:ffff:ffff::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(mask(200), mask(128));
    }
}
