//! Which main-type XFRM policies an `IPsecPolicySet` stands for (reference
//! §2.6, §5; RFC 3776 §4, RFC 4877 §4.4): pure derivation, no kernel.
//!
//! Every policy of a set is expanded per home address (as a /128) and
//! written from one node's point of view; the mobile node's outbound policy
//! is the home agent's inbound one. Transport-mode types protect signalling
//! between the home address and the home agent, with selectors on the
//! addresses XFRM sees: the home address, because the kernel applies the
//! policy to the flow before the Home Address option (or Type 2 routing
//! header) puts the care-of address in the IPv6 header, and matches inbound
//! packets after that option has been processed. Their templates carry no
//! addresses: the static SAs the administrator installs are keyed on home
//! address and home agent. Tunnel-mode types protect what goes through the
//! home agent (HoTI/HoT, all MH, all traffic) in an ESP tunnel between the
//! care-of address and the home agent, so their templates name the tunnel's
//! mobile end; [`tunnel_policies`] takes it as `endpoint`.

use std::net::Ipv6Addr;

use mip6::consts::{mh_type, IPPROTO_ICMPV6, IPPROTO_MH};
use mip6::wire::ndisc::{TYPE_MOBILE_PREFIX_ADVERT, TYPE_MOBILE_PREFIX_SOLICIT};
use netcfg::xfrm::{
    Migration, PolicyDir, PolicyType, Selector, Template, XfrmMode, XfrmPolicy, XfrmProto,
};

use crate::config::{IpsecPolicy, IpsecPolicyType};

/// Priority of the policies for BU/BA and all MH (UMIP's home-signalling
/// priority). Main-type policies are looked up in their own table after the
/// Mobile IPv6 sub-policies, so these numbers only rank IPsec policies
/// among themselves: signalling before ICMPv6 and "any" before tunnels.
pub const PRIO_SIGNALLING: u32 = 2;
/// Priority of MobPfxDisc, ICMP and any.
pub const PRIO_TRANSPORT_DATA: u32 = 4;
/// Priority of the tunnel-mode types, below every transport one: a
/// `TunnelPayload` policy (home address ↔ anything) must not catch the
/// BU/BA that a `HomeRegBinding` policy protects in transport mode.
pub const PRIO_TUNNEL: u32 = 9;

/// Whose policies: which end of the mobile node–home agent security
/// associations this node is (not its `NodeConfig` role, `bus::Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The node with the home address.
    MobileNode,
    /// The node with the home agent address.
    HomeAgent,
}

/// The ESP template of `policy` in the direction whose SAs carry `reqid`.
fn esp(mode: XfrmMode, src: Ipv6Addr, dst: Ipv6Addr, reqid: u32) -> Template {
    Template::ipsec(XfrmProto::Esp, mode, src, dst, reqid)
}

fn with_action(p: XfrmPolicy, policy: &IpsecPolicy) -> XfrmPolicy {
    if policy.allow {
        p
    } else {
        p.block()
    }
}

/// The transport-mode selector for traffic from `src` to `dst` that
/// `kind` covers; `from_mn` tells whether `src` is the mobile node.
fn transport_selector(
    kind: IpsecPolicyType,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    from_mn: bool,
) -> Option<Selector> {
    let hosts = Selector::hosts(src, dst);
    Some(match kind {
        IpsecPolicyType::HomeRegBinding => {
            hosts.mh_type(if from_mn { mh_type::BU } else { mh_type::BA })
        }
        IpsecPolicyType::Mh => hosts.proto(IPPROTO_MH),
        IpsecPolicyType::MobPfxDisc => hosts.icmp6_type(if from_mn {
            TYPE_MOBILE_PREFIX_SOLICIT
        } else {
            TYPE_MOBILE_PREFIX_ADVERT
        }),
        IpsecPolicyType::Icmp => hosts.proto(IPPROTO_ICMPV6),
        IpsecPolicyType::Any => hosts,
        IpsecPolicyType::TunnelHomeTesting
        | IpsecPolicyType::TunnelMh
        | IpsecPolicyType::TunnelPayload => return None,
    })
}

/// The two transport-mode policies (out, in) of one `IPsecPolicy` for the
/// pair `ha`/`hoa`; none for a tunnel-mode type.
///
/// One deviation (ours, `docs/compat.md` row "MN–HA IPsec"): the home
/// agent's inbound `HomeRegBinding` policy selects every Mobility Header
/// from the home address, not only type 5. On input the kernel (6.1's
/// `_decode_session6`) finds the MH type only behind exactly one extension
/// header, so a BU sent at home (no HAO) had no type, matched no policy and
/// was taken in clear: anyone on the path could deregister the mobile node.
/// The protocol is always found. The mobile node sends its home agent no
/// other MH type in transport mode (HoTI goes to correspondents through the
/// tunnel), so nothing legitimate is refused.
pub fn transport_policies(
    role: Endpoint,
    ha: Ipv6Addr,
    hoa: Ipv6Addr,
    policy: &IpsecPolicy,
) -> Vec<XfrmPolicy> {
    let prio = match policy.kind {
        IpsecPolicyType::HomeRegBinding | IpsecPolicyType::Mh => PRIO_SIGNALLING,
        _ => PRIO_TRANSPORT_DATA,
    };
    let (Some(mut to_ha), Some(to_mn)) = (
        transport_selector(policy.kind, hoa, ha, true),
        transport_selector(policy.kind, ha, hoa, false),
    ) else {
        return Vec::new();
    };
    if role == Endpoint::HomeAgent && policy.kind == IpsecPolicyType::HomeRegBinding {
        to_ha = Selector::hosts(hoa, ha).proto(IPPROTO_MH);
    }
    let any = Ipv6Addr::UNSPECIFIED;
    let to_ha = |dir| {
        XfrmPolicy::new(to_ha, dir, PolicyType::Main, prio).tmpl(esp(
            XfrmMode::Transport,
            any,
            any,
            policy.reqid_to_ha,
        ))
    };
    let to_mn = |dir| {
        XfrmPolicy::new(to_mn, dir, PolicyType::Main, prio).tmpl(esp(
            XfrmMode::Transport,
            any,
            any,
            policy.reqid_to_mn,
        ))
    };
    let pair = match role {
        Endpoint::MobileNode => [to_ha(PolicyDir::Out), to_mn(PolicyDir::In)],
        Endpoint::HomeAgent => [to_mn(PolicyDir::Out), to_ha(PolicyDir::In)],
    };
    pair.into_iter().map(|p| with_action(p, policy)).collect()
}

/// The tunnel-mode policies of one `IPsecPolicy` for `ha`/`hoa` with the
/// tunnel's mobile end at `endpoint` (the care-of address; the home address
/// before the first move, where the administrator's SAs start): on the
/// mobile node out (home address → any) and in (any → home address); on the
/// home agent the same seen from there, plus forward for what it decapsulates
/// and routes on. None for a transport-mode type.
pub fn tunnel_policies(
    role: Endpoint,
    ha: Ipv6Addr,
    hoa: Ipv6Addr,
    policy: &IpsecPolicy,
    endpoint: Ipv6Addr,
) -> Vec<XfrmPolicy> {
    if !policy.kind.is_tunnel() {
        return Vec::new();
    }
    let any = Ipv6Addr::UNSPECIFIED;
    let narrow = |sel: Selector, from_mn: bool| match policy.kind {
        IpsecPolicyType::TunnelHomeTesting => {
            sel.mh_type(if from_mn { mh_type::HOTI } else { mh_type::HOT })
        }
        IpsecPolicyType::TunnelMh => sel.proto(IPPROTO_MH),
        _ => sel,
    };
    let from_mn = narrow(Selector::hosts(hoa, any), true);
    let to_mn = narrow(Selector::hosts(any, hoa), false);
    let up = esp(XfrmMode::Tunnel, endpoint, ha, policy.reqid_to_ha);
    let down = esp(XfrmMode::Tunnel, ha, endpoint, policy.reqid_to_mn);
    let p = |sel, dir, t| XfrmPolicy::new(sel, dir, PolicyType::Main, PRIO_TUNNEL).tmpl(t);
    let list = match role {
        Endpoint::MobileNode => vec![
            p(from_mn, PolicyDir::Out, up),
            p(to_mn, PolicyDir::In, down),
        ],
        Endpoint::HomeAgent => vec![
            p(from_mn, PolicyDir::In, up),
            p(from_mn, PolicyDir::Fwd, up),
            p(to_mn, PolicyDir::Out, down),
        ],
    };
    list.into_iter().map(|p| with_action(p, policy)).collect()
}

/// For each tunnel-mode policy, the `XFRM_MSG_MIGRATE` that moves its
/// template (and the SAs with that reqid and those endpoints) from the
/// mobile end `old` to `new`, with the key manager's addresses.
pub fn tunnel_migrations(
    role: Endpoint,
    ha: Ipv6Addr,
    hoa: Ipv6Addr,
    policy: &IpsecPolicy,
    old: Ipv6Addr,
    new: Ipv6Addr,
) -> Vec<(XfrmPolicy, Migration, (Ipv6Addr, Ipv6Addr))> {
    let before = tunnel_policies(role, ha, hoa, policy, old);
    let after = tunnel_policies(role, ha, hoa, policy, new);
    before
        .into_iter()
        .zip(after)
        .filter_map(|(b, a)| {
            let (tb, ta) = (b.tmpls.first()?, a.tmpls.first()?);
            let m = Migration {
                proto: tb.proto,
                mode: tb.mode,
                reqid: tb.reqid,
                old_src: tb.src,
                old_dst: tb.dst,
                new_src: ta.src,
                new_dst: ta.dst,
            };
            // The key manager's local and remote addresses after the move.
            let km = if a.dir == PolicyDir::Out {
                (ta.src, ta.dst)
            } else {
                (ta.dst, ta.src)
            };
            Some((a, m, km))
        })
        .collect()
}
