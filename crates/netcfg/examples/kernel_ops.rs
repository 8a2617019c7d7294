//! Exercises every Mobile IPv6 kernel operation of netcfg in the current
//! network namespace, for the VM test (scripts/vm/kernel-ops.sh):
//!
//!   kernel_ops probe     print the probe; exit 1 unless everything is present
//!   kernel_ops probe-here  the same in the current namespace (cleaning up)
//!   kernel_ops install   tunnel, home address, table 252 route, rules 1001/1003,
//!                        proxy entry, XFRM sub-policies and RO states; a
//!                        handover (tunnel endpoints, state CoA); checks each
//!                        through netcfg's own listings
//!   kernel_ops remove    removes all of it again, finding it by owner
//!   kernel_ops sockets   Mobility Header sockets over loopback through the MIPv6
//!                        datapath: a BU from the home address leaves with a HAO
//!                        (XFRM hao state), a BA goes to the care-of address with
//!                        an RH2 (ancillary data); each side reads the header
//!                        the other's kernel processed; a HAO on a UDP
//!                        datagram that no policy admits raises an XFRM REPORT
//!
//! Each step prints `kops: ok ...`; the first failure exits 1 with the error.

use std::net::{IpAddr, Ipv6Addr};
use std::process::ExitCode;

use netcfg::mh_socket::{MhSocket, RecvMeta, SendMeta};
use netcfg::probe::{probe_current_netns, probe_kernel, KernelFeature};
use netcfg::xfrm::{
    PolicyDir, PolicyType, Selector, Template, Xfrm, XfrmEvent, XfrmEvents, XfrmGroups, XfrmPolicy,
    XfrmProto, XfrmState,
};
use netcfg::{Family, Ip6TnlSpec, Netlink, ProxyNeigh, RouteSpec, RuleSpec};

const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const HA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
const COA_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x100);
const COA_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0x100);
/// `RT6_TABLE_MIP6`.
const TABLE_MIP6: u32 = 252;
/// Priorities of our XFRM policies: the "owner" mark `remove` looks for.
const PRIO_BU: u32 = 2;
const PRIO_RO: u32 = 5;
const IFINDEX_LO: u32 = 1;

type Res<T> = Result<T, String>;

fn ok(what: impl std::fmt::Display) {
    println!("kops: ok {what}");
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

fn bu_policy() -> XfrmPolicy {
    // Binding Updates to the HA leave with a Home Address option.
    XfrmPolicy::new(
        Selector::hosts(HOA, HA).mh_type(5),
        PolicyDir::Out,
        PolicyType::Sub,
        PRIO_BU,
    )
    .tmpl(Template::ro(
        XfrmProto::Hao,
        Ipv6Addr::UNSPECIFIED,
        Ipv6Addr::UNSPECIFIED,
    ))
}

fn ro_policies() -> Vec<XfrmPolicy> {
    // Route-optimized traffic with the CN: HAO out, RH2 in.
    vec![
        XfrmPolicy::new(
            Selector::hosts(HOA, CN),
            PolicyDir::Out,
            PolicyType::Sub,
            PRIO_RO,
        )
        .tmpl(Template::ro(XfrmProto::Hao, HOA, CN)),
        XfrmPolicy::new(
            Selector::hosts(CN, HOA),
            PolicyDir::In,
            PolicyType::Sub,
            PRIO_RO,
        )
        .tmpl(Template::ro(XfrmProto::Route2, CN, HOA).optional()),
    ]
}

fn ro_states(coa: Ipv6Addr) -> Vec<XfrmState> {
    vec![
        XfrmState::ro(XfrmProto::Hao, HOA, CN, coa),
        XfrmState::ro(XfrmProto::Route2, CN, HOA, coa).wildrecv(),
    ]
}

async fn probe(in_place: bool) -> Res<()> {
    let f = if in_place {
        probe_current_netns
    } else {
        probe_kernel
    };
    let probe = tokio::task::spawn_blocking(f)
        .await
        .map_err(e)?
        .map_err(e)?;
    for line in probe.to_string().lines() {
        println!("kops: probe {line}");
    }
    match probe.missing_message(&KernelFeature::ALL) {
        None => {
            ok(if in_place {
                "probe in place: every feature present"
            } else {
                "probe: every feature present"
            });
            Ok(())
        }
        Some(msg) => Err(msg),
    }
}

async fn install() -> Res<()> {
    let nl = Netlink::new().map_err(e)?;
    let x = Xfrm::new().map_err(e)?;
    nl.set_link_up(IFINDEX_LO).await.map_err(e)?;

    let tnl = nl
        .add_ip6tnl(&Ip6TnlSpec::mip6(COA_A, HA, IFINDEX_LO))
        .await
        .map_err(e)?;
    check(
        tnl.flags == 0x9 && tnl.hop_limit == 64 && tnl.proto == 41 && tnl.up,
        || format!("tunnel parameters: {tnl:?}"),
    )?;
    ok(format!(
        "tunnel add {} {} -> {}",
        tnl.name, tnl.local, tnl.remote
    ));
    let dup = nl
        .add_ip6tnl(&Ip6TnlSpec::mip6(COA_A, HA, IFINDEX_LO))
        .await;
    check(dup.as_ref().is_err_and(|d| d.is_exists()), || {
        format!("a second tunnel with the same endpoints: {dup:?}")
    })?;
    ok("tunnel add with the same endpoints refused (EEXIST)");

    nl.add_home_address(tnl.index, HOA).await.map_err(e)?;
    ok("home address on the tunnel");
    nl.add_route(
        &RouteSpec::default_v6(tnl.index)
            .table(TABLE_MIP6)
            .metric(128),
    )
    .await
    .map_err(e)?;
    nl.add_route(&RouteSpec::prefix(IpAddr::V6(CN), 128, tnl.index).table(TABLE_MIP6))
        .await
        .map_err(e)?;
    nl.add_rule(&RuleSpec::from_addr(IpAddr::V6(HOA), 1001, TABLE_MIP6))
        .await
        .map_err(e)?;
    nl.add_rule(&RuleSpec::blackhole_from(IpAddr::V6(HOA), 1003))
        .await
        .map_err(e)?;
    let rules = nl.rules(Family::V6).await.map_err(e)?;
    check(
        rules
            .iter()
            .any(|r| r.priority == 1001 && r.table == TABLE_MIP6)
            && rules.iter().any(|r| r.priority == 1003 && r.action == 6),
        || format!("rules: {rules:?}"),
    )?;
    let routes = nl.routes(Family::V6, Some(TABLE_MIP6)).await.map_err(e)?;
    check(routes.len() == 2, || format!("table 252: {routes:?}"))?;
    ok("table 252 routes, rules 1001 and 1003 (blackhole)");

    let proxy = ProxyNeigh {
        index: IFINDEX_LO,
        addr: HOA,
    };
    nl.add_proxy_neigh(proxy).await.map_err(e)?;
    check(nl.proxy_neighs().await.map_err(e)? == vec![proxy], || {
        "proxy entry not listed".into()
    })?;
    ok("proxy neighbour");

    x.add_policy(&bu_policy()).await.map_err(e)?;
    for p in ro_policies() {
        x.add_policy(&p).await.map_err(e)?;
    }
    for s in ro_states(COA_A) {
        x.add_state(&s).await.map_err(e)?;
    }
    let states = x.states().await.map_err(e)?;
    check(
        states.len() == 2 && states.iter().all(|s| s.coaddr == Some(COA_A)),
        || format!("states: {states:?}"),
    )?;
    ok("xfrm sub-policies and route2/hao states with coa");

    // Handover to link B: tunnel endpoints and RO care-of address in place.
    nl.change_ip6tnl(tnl.index, &Ip6TnlSpec::mip6(COA_B, HA, IFINDEX_LO))
        .await
        .map_err(e)?;
    let moved = nl.ip6tnl_by_endpoints(COA_B, HA).await.map_err(e)?;
    check(moved.as_ref().is_some_and(|m| m.index == tnl.index), || {
        format!("tunnel after change: {moved:?}")
    })?;
    ok(format!("tunnel change {} -> local {COA_B}", tnl.name));
    for s in ro_states(COA_B) {
        x.update_state(&s).await.map_err(e)?;
    }
    let got = x.get_state(&ro_states(COA_B)[0].id()).await.map_err(e)?;
    check(
        got.as_ref().is_some_and(|s| s.coaddr == Some(COA_B)),
        || format!("state after update: {got:?}"),
    )?;
    ok("xfrm state update to the new coa");
    Ok(())
}

async fn remove() -> Res<()> {
    let nl = Netlink::new().map_err(e)?;
    let x = Xfrm::new().map_err(e)?;
    let ours = |p: &XfrmPolicy| {
        p.ptype == PolicyType::Sub && (p.priority == PRIO_BU || p.priority == PRIO_RO)
    };
    let n = x.delete_policies_where(ours).await.map_err(e)?;
    check(n == 3, || format!("{n} policies removed, 3 expected"))?;
    let n = x
        .delete_states_where(|s| s.src == HOA || s.dst == HOA)
        .await
        .map_err(e)?;
    check(n == 2, || format!("{n} states removed, 2 expected"))?;
    ok("xfrm policies and states removed by owner");

    nl.del_proxy_neigh(ProxyNeigh {
        index: IFINDEX_LO,
        addr: HOA,
    })
    .await
    .map_err(e)?;
    nl.del_rule(&RuleSpec::blackhole_from(IpAddr::V6(HOA), 1003))
        .await
        .map_err(e)?;
    nl.del_rule(&RuleSpec::from_addr(IpAddr::V6(HOA), 1001, TABLE_MIP6))
        .await
        .map_err(e)?;
    let tnl = nl
        .ip6tnl_by_endpoints(COA_B, HA)
        .await
        .map_err(e)?
        .ok_or("no tunnel with the endpoints after the handover")?;
    // The tunnel's routes go with it.
    nl.del_ip6tnl(tnl.index).await.map_err(e)?;
    let left = nl.routes(Family::V6, Some(TABLE_MIP6)).await.map_err(e)?;
    check(left.is_empty(), || format!("table 252 left: {left:?}"))?;
    let err = nl.del_ip6tnl(tnl.index).await;
    check(err.as_ref().is_err_and(|d| d.is_not_found()), || {
        format!("second delete: {err:?}")
    })?;
    ok("proxy, rules, tunnel (and its routes) removed");
    Ok(())
}

/// A Binding Update (MH type 5) and a Binding Acknowledgement (type 6),
/// 16 bytes each with a PadN (RFC 6275 §6.1.7, §6.1.8).
const BU: [u8; 16] = [59, 1, 5, 0, 0, 0, 0, 7, 0xc0, 0, 0, 15, 1, 2, 0, 0];
const BA: [u8; 16] = [59, 1, 6, 0, 0, 0, 0, 0, 0, 7, 0, 15, 1, 2, 0, 0];

/// Receive until a message of `mh_type` arrives (both sockets see every
/// MH message of the namespace).
async fn recv_type(sock: &MhSocket, mh_type: u8) -> Res<RecvMeta> {
    let wait = std::time::Duration::from_secs(5);
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 256];
    loop {
        let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .map_err(|_| format!("no MH type {mh_type} within {wait:?}"))?
            .map_err(e)?;
        if got.len >= 3 && buf[2] == mh_type {
            return Ok(got);
        }
    }
}

async fn sockets() -> Res<()> {
    let nl = Netlink::new().map_err(e)?;
    let x = Xfrm::new().map_err(e)?;
    nl.set_link_up(IFINDEX_LO).await.map_err(e)?;
    nl.add_address(IFINDEX_LO, IpAddr::V6(HA), 128, true)
        .await
        .map_err(e)?;
    nl.add_address(IFINDEX_LO, IpAddr::V6(COA_A), 128, true)
        .await
        .map_err(e)?;
    nl.add_home_address(IFINDEX_LO, HOA).await.map_err(e)?;

    // MN side: BUs to the HA leave with a HAO. HA side: a HAO from this
    // HoA is accepted. One hao state (HoA -> HA, coa) serves both.
    x.add_state(&XfrmState::ro(XfrmProto::Hao, HOA, HA, COA_A))
        .await
        .map_err(e)?;
    x.add_policy(&bu_policy()).await.map_err(e)?;
    x.add_policy(
        &XfrmPolicy::new(
            Selector::hosts(HOA, HA),
            PolicyDir::In,
            PolicyType::Sub,
            PRIO_BU,
        )
        .tmpl(Template::ro(XfrmProto::Hao, HOA, HA)),
    )
    .await
    .map_err(e)?;
    // MN side: an RH2 from the HA to the HoA is accepted.
    x.add_state(&XfrmState::ro(XfrmProto::Route2, HA, HOA, COA_A))
        .await
        .map_err(e)?;
    x.add_policy(
        &XfrmPolicy::new(
            Selector::hosts(HA, HOA),
            PolicyDir::In,
            PolicyType::Sub,
            PRIO_BU,
        )
        .tmpl(Template::ro(XfrmProto::Route2, HA, HOA)),
    )
    .await
    .map_err(e)?;

    let mn = MhSocket::open().map_err(e)?;
    let ha = MhSocket::open().map_err(e)?;
    let from_hoa = SendMeta {
        src: Some(HOA),
        ..SendMeta::default()
    };
    mn.send(&BU, HA, &from_hoa).await.map_err(e)?;
    let bu = recv_type(&ha, 5).await?;
    check(
        bu.src == Some(HOA) && bu.dst == Some(HA) && bu.hao_address() == Some(COA_A),
        || format!("BU as the HA saw it: {bu:?}"),
    )?;
    ok(format!(
        "BU from {HOA} arrived with a HAO carrying {COA_A} (xfrm hao state)"
    ));

    ha.send_via_coa(&BA, HOA, COA_A, Some(HA))
        .await
        .map_err(e)?;
    let ba = recv_type(&mn, 6).await?;
    check(
        ba.src == Some(HA) && ba.dst == Some(HOA) && ba.rh2_address() == Some(COA_A),
        || format!("BA as the MN saw it: {ba:?}"),
    )?;
    ok(format!(
        "BA to {HOA} via {COA_A} arrived with an RH2 (ancillary data)"
    ));

    // Without an inbound policy for it, a HAO on anything but a Mobility
    // Header message is refused and reported: the cue for a Binding Error.
    let mut events = XfrmEvents::subscribe(XfrmGroups {
        acquire: false,
        report: true,
    })
    .map_err(e)?;
    x.del_policy(&Selector::hosts(HOA, HA), PolicyDir::In, PolicyType::Sub)
        .await
        .map_err(e)?;
    x.add_policy(
        &XfrmPolicy::new(
            Selector::hosts(HOA, HA).proto(17),
            PolicyDir::Out,
            PolicyType::Sub,
            PRIO_RO,
        )
        .tmpl(Template::ro(XfrmProto::Hao, HOA, HA)),
    )
    .await
    .map_err(e)?;
    let udp = std::net::UdpSocket::bind((HOA, 0)).map_err(e)?;
    udp.send_to(b"data", (HA, 9)).map_err(e)?;
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), events.next_event())
        .await
        .map_err(|_| "no XFRM report within 5 s".to_string())?;
    let reported = matches!(
        &ev,
        Some(XfrmEvent::Report { proto: XfrmProto::Hao, sel, addr: Some(COA_A) })
            if sel.src == HOA && sel.dst == HA && sel.proto == 17
    );
    check(reported, || format!("report: {ev:?}"))?;
    ok(format!(
        "HAO without an inbound policy reported (hao, {HOA} -> {HA}, addr {COA_A})"
    ));

    x.flush_policies(PolicyType::Sub).await.map_err(e)?;
    x.flush_states(XfrmProto::Hao).await.map_err(e)?;
    x.flush_states(XfrmProto::Route2).await.map_err(e)?;
    check(
        x.states().await.map_err(e)?.is_empty() && x.policies().await.map_err(e)?.is_empty(),
        || "xfrm flush left something".into(),
    )?;
    ok("xfrm flush of sub policies and route2/hao states");
    Ok(())
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("kops: runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        match mode.as_str() {
            "probe" => probe(false).await,
            "probe-here" => probe(true).await,
            "install" => install().await,
            "remove" => remove().await,
            "sockets" => sockets().await,
            other => Err(format!(
                "usage: kernel_ops probe|install|remove|sockets (got {other:?})"
            )),
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            println!("kops: FAILED {mode}: {msg}");
            ExitCode::FAILURE
        }
    }
}
