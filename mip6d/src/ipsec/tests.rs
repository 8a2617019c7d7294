//! The policies an `IPsecPolicySet` becomes, for both roles, down to the
//! bytes netcfg sends for one of them.

#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;

use netcfg::xfrm::{
    PolicyAction, PolicyDir, PolicyType, Selector, XfrmMode, XfrmPolicy, XfrmProto,
};

use super::policies::{
    transport_policies, tunnel_migrations, tunnel_policies, PRIO_SIGNALLING, PRIO_TRANSPORT_DATA,
    PRIO_TUNNEL,
};
use super::{transport_set, Endpoint, TunnelIpsec};
use crate::config::{parse, Config, Offline};

const HA: &str = "2001:db8:1::2";
const HOA: &str = "2001:db8:1::100";
const COA: &str = "2001:db8:a::100";

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn config(body: &str) -> Config {
    let text = format!(
        "NodeConfig MN;\nIPsecPolicySet {{\n  HomeAgentAddress {HA};\n  HomeAddress {HOA}/64;\n{body}}}\n"
    );
    parse(text.as_bytes(), "test.conf", &Offline::default())
        .unwrap()
        .config
}

fn only(config: &Config) -> (Ipv6Addr, Ipv6Addr, crate::config::IpsecPolicy) {
    let mut all = config.ipsec_policies();
    let (ha, hoa, p) = all.next().unwrap();
    assert!(all.next().is_none());
    (ha, hoa, p.clone())
}

/// One template, ESP, with this mode, reqid and endpoints.
fn assert_esp(p: &XfrmPolicy, mode: XfrmMode, reqid: u32, src: &str, dst: &str) {
    assert_eq!(p.tmpls.len(), 1, "{p:?}");
    let t = p.tmpls[0];
    assert_eq!(t.proto, XfrmProto::Esp);
    assert_eq!(t.mode, mode);
    assert_eq!(t.reqid, reqid);
    assert!(!t.optional, "level required");
    assert_eq!((t.src, t.dst), (a(src), a(dst)), "template endpoints");
}

#[test]
fn home_reg_binding_on_the_mobile_node_protects_bu_out_and_ba_in() {
    let c = config("  IPsecPolicy HomeRegBinding UseESP 11 12;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::MobileNode, ha, hoa, &p);
    assert_eq!(v.len(), 2);
    let (out, inp) = (&v[0], &v[1]);
    assert_eq!(out.dir, PolicyDir::Out);
    assert_eq!(out.ptype, PolicyType::Main);
    assert_eq!(out.priority, PRIO_SIGNALLING);
    assert_eq!(out.sel, Selector::hosts(a(HOA), a(HA)).mh_type(5));
    assert_esp(out, XfrmMode::Transport, 11, "::", "::");
    assert_eq!(inp.dir, PolicyDir::In);
    assert_eq!(inp.sel, Selector::hosts(a(HA), a(HOA)).mh_type(6));
    assert_esp(inp, XfrmMode::Transport, 12, "::", "::");
    assert_eq!(out.action, PolicyAction::Allow);
}

#[test]
fn the_home_agent_mirrors_the_mobile_node() {
    let c = config("  IPsecPolicy HomeRegBinding UseESP 11 12;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::HomeAgent, ha, hoa, &p);
    let (out, inp) = (&v[0], &v[1]);
    assert_eq!(
        (out.dir, out.sel),
        (PolicyDir::Out, Selector::hosts(a(HA), a(HOA)).mh_type(6))
    );
    assert_eq!(out.tmpls[0].reqid, 12, "towards the MN: reqid_toMN");
    // Every MH type inbound: the kernel finds no type in a BU sent at
    // home (no extension header), which a type-5 selector let in clear.
    assert_eq!(
        (inp.dir, inp.sel),
        (PolicyDir::In, Selector::hosts(a(HOA), a(HA)).proto(135))
    );
    assert_eq!(inp.sel.sport_mask, 0, "no MH type");
    assert_eq!(inp.tmpls[0].reqid, 11, "towards the HA: reqid_toHA");
}

#[test]
fn which_pairs_protect_home_registration() {
    use super::protects_home_registration;
    for (body, protected) in [
        ("  IPsecPolicy HomeRegBinding UseESP 11 12;\n", true),
        ("  IPsecPolicy Mh UseESP 11 12;\n", true),
        ("  IPsecPolicy any UseESP 11 12;\n", true),
        ("  IPsecPolicy TunnelPayload UseESP 14 15;\n", false),
        ("  IPsecPolicy MobPfxDisc UseESP 14 15;\n", false),
        ("  IPsecPolicy HomeRegBinding UseESP 11 12 false;\n", false),
    ] {
        let c = config(body);
        assert_eq!(
            protects_home_registration(&c, a(HA), a(HOA)),
            protected,
            "{body}"
        );
        assert!(!protects_home_registration(&c, a(HA), a("2001:db8:1::300")));
        assert!(!protects_home_registration(&c, a("2001:db8:1::3"), a(HOA)));
    }
    let mut c = config("  IPsecPolicy HomeRegBinding UseESP 11 12;\n");
    c.use_mn_ha_ipsec = false;
    assert!(!protects_home_registration(&c, a(HA), a(HOA)));
}

#[test]
fn one_reqid_serves_both_directions_and_none_means_zero() {
    let c = config("  IPsecPolicy Mh UseESP 7;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::MobileNode, ha, hoa, &p);
    assert!(v.iter().all(|p| p.tmpls[0].reqid == 7));
    assert!(v
        .iter()
        .all(|p| p.sel.proto == 135 && p.sel.sport_mask == 0));
    let c = config("  IPsecPolicy Mh UseESP;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::MobileNode, ha, hoa, &p);
    assert!(v.iter().all(|p| p.tmpls[0].reqid == 0));
}

#[test]
fn prefix_discovery_icmp_and_any_selectors() {
    let c = config("  IPsecPolicy MobPfxDisc UseESP 3;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::MobileNode, ha, hoa, &p);
    assert_eq!(v[0].sel, Selector::hosts(a(HOA), a(HA)).icmp6_type(146));
    assert_eq!(v[1].sel, Selector::hosts(a(HA), a(HOA)).icmp6_type(147));
    assert_eq!(v[0].priority, PRIO_TRANSPORT_DATA);
    let c = config("  IPsecPolicy ICMP UseESP 3;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::HomeAgent, ha, hoa, &p);
    assert_eq!(v[1].sel, Selector::hosts(a(HOA), a(HA)).proto(58));
    let c = config("  IPsecPolicy any UseESP 3;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::HomeAgent, ha, hoa, &p);
    assert_eq!(v[0].sel, Selector::hosts(a(HA), a(HOA)));
}

#[test]
fn false_makes_block_policies() {
    let c = config("  IPsecPolicy HomeRegBinding UseESP 1 false;\n");
    let (ha, hoa, p) = only(&c);
    let v = transport_policies(Endpoint::MobileNode, ha, hoa, &p);
    assert!(v.iter().all(|p| p.action == PolicyAction::Block));
}

#[test]
fn tunnel_types_have_no_transport_policy_and_vice_versa() {
    let c = config("  IPsecPolicy TunnelPayload UseESP 14 15;\n");
    let (ha, hoa, p) = only(&c);
    assert!(transport_policies(Endpoint::MobileNode, ha, hoa, &p).is_empty());
    let c = config("  IPsecPolicy Mh UseESP 14 15;\n");
    let (ha, hoa, p) = only(&c);
    assert!(tunnel_policies(Endpoint::MobileNode, ha, hoa, &p, a(COA)).is_empty());
}

#[test]
fn tunnel_payload_on_the_mobile_node() {
    let c = config("  IPsecPolicy TunnelPayload UseESP 14 15;\n");
    let (ha, hoa, p) = only(&c);
    let v = tunnel_policies(Endpoint::MobileNode, ha, hoa, &p, a(COA));
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].dir, PolicyDir::Out);
    assert_eq!(v[0].sel, Selector::hosts(a(HOA), Ipv6Addr::UNSPECIFIED));
    assert_eq!(v[0].priority, PRIO_TUNNEL);
    assert_esp(&v[0], XfrmMode::Tunnel, 14, COA, HA);
    assert_eq!(v[1].dir, PolicyDir::In);
    assert_eq!(v[1].sel, Selector::hosts(Ipv6Addr::UNSPECIFIED, a(HOA)));
    assert_esp(&v[1], XfrmMode::Tunnel, 15, HA, COA);
}

#[test]
fn tunnel_policies_on_the_home_agent_include_forward() {
    let c = config("  IPsecPolicy TunnelHomeTesting UseESP 21 22;\n");
    let (ha, hoa, p) = only(&c);
    let v = tunnel_policies(Endpoint::HomeAgent, ha, hoa, &p, a(COA));
    let dirs: Vec<_> = v.iter().map(|p| p.dir).collect();
    assert_eq!(dirs, [PolicyDir::In, PolicyDir::Fwd, PolicyDir::Out]);
    let hoti = Selector::hosts(a(HOA), Ipv6Addr::UNSPECIFIED).mh_type(1);
    assert_eq!((v[0].sel, v[1].sel), (hoti, hoti));
    assert_esp(&v[1], XfrmMode::Tunnel, 21, COA, HA);
    assert_eq!(
        v[2].sel,
        Selector::hosts(Ipv6Addr::UNSPECIFIED, a(HOA)).mh_type(3)
    );
    assert_esp(&v[2], XfrmMode::Tunnel, 22, HA, COA);
}

#[test]
fn migrations_move_the_mobile_end_only() {
    let c = config("  IPsecPolicy TunnelMh UseESP 14 15;\n");
    let (ha, hoa, p) = only(&c);
    let v = tunnel_migrations(Endpoint::MobileNode, ha, hoa, &p, a(HOA), a(COA));
    assert_eq!(v.len(), 2);
    let (out, m, km) = &v[0];
    assert_eq!(out.dir, PolicyDir::Out);
    assert_eq!(
        out.sel,
        Selector::hosts(a(HOA), Ipv6Addr::UNSPECIFIED).proto(135)
    );
    assert_eq!((m.old_src, m.old_dst), (a(HOA), a(HA)));
    assert_eq!((m.new_src, m.new_dst), (a(COA), a(HA)));
    assert_eq!(
        (m.reqid, m.proto, m.mode),
        (14, XfrmProto::Esp, XfrmMode::Tunnel)
    );
    assert_eq!(*km, (a(COA), a(HA)));
    let (_, m, km) = &v[1];
    assert_eq!(
        (m.old_src, m.old_dst, m.new_src, m.new_dst),
        (a(HA), a(HOA), a(HA), a(COA))
    );
    assert_eq!(m.reqid, 15);
    assert_eq!(*km, (a(COA), a(HA)), "local is the MN's end for in too");
}

#[test]
fn use_mn_ha_ipsec_off_installs_nothing() {
    let mut c = config(
        "  IPsecPolicy HomeRegBinding UseESP 11 12;\n  IPsecPolicy TunnelPayload UseESP 14 15;\n",
    );
    assert_eq!(
        transport_set(&c, Endpoint::MobileNode, Some(a(HOA))).len(),
        2
    );
    assert_eq!(
        transport_set(&c, Endpoint::MobileNode, Some(a(COA))).len(),
        0
    );
    assert_eq!(
        TunnelIpsec::new(&c, Endpoint::MobileNode, a(HA), a(HOA))
            .entries
            .len(),
        1
    );
    c.use_mn_ha_ipsec = false;
    assert!(transport_set(&c, Endpoint::HomeAgent, None).is_empty());
    assert!(TunnelIpsec::new(&c, Endpoint::MobileNode, a(HA), a(HOA))
        .entries
        .is_empty());
}

#[test]
fn every_home_address_of_a_set_gets_its_policies() {
    let text = format!(
        "NodeConfig HA;\nIPsecPolicySet {{\n  HomeAgentAddress {HA};\n  HomeAddress {HOA}/64;\n  \
         HomeAddress 2001:db8:1::200/64;\n  IPsecPolicy Mh UseESP 1 2;\n}}\n"
    );
    let c = parse(text.as_bytes(), "t.conf", &Offline::default())
        .unwrap()
        .config;
    let v = transport_set(&c, Endpoint::HomeAgent, None);
    assert_eq!(v.len(), 4);
    assert_eq!(v[2].sel.dst, a("2001:db8:1::200"));
    assert_eq!(v[2].sel.dst_len, 128, "a home address is a /128 selector");
}
