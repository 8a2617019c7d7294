//! What mip6d asks of routes and rules beyond miredo's: table 252 routes
//! with a source prefix, a gateway and protocol `mip`, rules 1000 (`to`),
//! 1001 (`from` -> 252) and 1003/1004 (blackhole), in a fresh namespace;
//! the home address flag; a [`netcfg::Ledger`] undoing all of it.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv6Addr};

use common::{ip, lines, netns};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, XfrmPolicy};
use netcfg::{Family, Ledger, Netlink, ProxyNeigh, RouteSpec, RuleSpec, RTPROT_MIP, TABLE_MAIN};

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn table_252_routes_and_mip6_rules() {
    netns(|| async {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let nl = Netlink::new().unwrap();
        let v0 = nl.link_index("v0").await.unwrap();
        nl.set_link_up(v0).await.unwrap();
        nl.set_link_up(nl.link_index("v1").await.unwrap())
            .await
            .unwrap();
        let hoa = a("2001:db8:1::100");
        let route = RouteSpec::prefix(a("2001:db8:c::"), 64, v0)
            .from(hoa, 128)
            .via(a("fe80::1"))
            .metric(128)
            .table(252)
            .protocol(RTPROT_MIP);
        nl.add_route(&route).await.unwrap();
        let got = nl.routes(Family::V6, Some(252)).await.unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].src, Some((hoa, 128)));
        assert_eq!(got[0].gateway, Some(a("fe80::1")));
        assert_eq!((got[0].metric, got[0].protocol), (Some(128), RTPROT_MIP));
        assert_eq!(
            lines(&ip(&["-6", "route", "show", "table", "252"])),
            vec!["2001:db8:c::/64 from 2001:db8:1::100 via fe80::1 dev v0 proto dhcp metric 128 pref medium"]
        );
        nl.del_route(&route).await.unwrap();
        assert!(nl.routes(Family::V6, Some(252)).await.unwrap().is_empty());

        let to_mnp = RuleSpec::from_addr(hoa, 1000, TABLE_MAIN);
        let to_mnp = RuleSpec {
            src: None,
            ..to_mnp.to(a("2001:db8:77::"), 64)
        };
        let rules = [
            to_mnp,
            RuleSpec::from_addr(hoa, 1001, 252),
            RuleSpec::blackhole_from(hoa, 1003),
            // "from all": no source at all (`from ::` would be ::/128).
            RuleSpec {
                src: None,
                ..RuleSpec::blackhole_from(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1004)
            },
        ];
        for r in &rules {
            nl.add_rule(r).await.unwrap();
        }
        let shown: Vec<String> = lines(&ip(&["-6", "rule", "show"]))
            .into_iter()
            .filter(|l| l.starts_with("100"))
            .collect();
        assert_eq!(
            shown,
            vec![
                "1000:\tfrom all to 2001:db8:77::/64 lookup main",
                "1001:\tfrom 2001:db8:1::100 lookup 252",
                "1003:\tfrom 2001:db8:1::100 blackhole",
                "1004:\tfrom all blackhole",
            ]
        );
        let ours = nl.rules(Family::V6).await.unwrap();
        let r1000 = ours.iter().find(|r| r.priority == 1000).unwrap();
        assert_eq!(r1000.dst, Some((a("2001:db8:77::"), 64)));
        for r in &rules {
            nl.del_rule(r).await.unwrap();
        }
        assert!(nl
            .rules(Family::V6)
            .await
            .unwrap()
            .iter()
            .all(|r| !(1000..1005).contains(&r.priority)));
    });
}

/// What the ledger touches, without what the kernel adds on its own and
/// at its own pace once a link is up (kernel routes, link-local addresses).
fn dump() -> String {
    let mut out = String::new();
    for args in [
        &["-6", "rule", "show"][..],
        &["-6", "route", "show", "table", "all"],
        &["-6", "-o", "addr", "show", "scope", "global"],
        &["-6", "neigh", "show", "proxy"],
        &["xfrm", "policy", "list"],
    ] {
        for line in ip(args).lines().filter(|l| !l.contains("proto kernel")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn ledger_undoes_what_was_installed() {
    netns(|| async {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let mut l = Ledger::open().unwrap();
        let v0 = l.nl.link_index("v0").await.unwrap();
        l.nl.set_link_up(v0).await.unwrap();
        let before = dump();

        let hoa: Ipv6Addr = "2001:db8:1::100".parse().unwrap();
        l.add_home_address(v0, hoa).await.unwrap();
        let route = RouteSpec::default_v6(v0).table(252).metric(128);
        l.add_route(route.clone()).await.unwrap();
        l.add_rule(RuleSpec::from_addr(IpAddr::V6(hoa), 1001, 252))
            .await
            .unwrap();
        l.add_rule(RuleSpec::blackhole_from(IpAddr::V6(hoa), 1003))
            .await
            .unwrap();
        l.add_proxy(ProxyNeigh {
            index: v0,
            addr: hoa,
        })
        .await
        .unwrap();
        let sel = Selector::hosts(hoa, "2001:db8:1::2".parse().unwrap()).mh_type(5);
        l.add_policy(&XfrmPolicy::new(sel, PolicyDir::Out, PolicyType::Sub, 2))
            .await
            .unwrap();
        assert_eq!(l.installed().count(), 6);
        let addrs = ip(&["-6", "addr", "show", "dev", "v0"]);
        assert!(
            addrs.contains("inet6 2001:db8:1::100/128 scope global nodad home"),
            "{addrs}"
        );
        assert_ne!(dump(), before);

        // Gone behind the ledger's back: not an error at teardown.
        l.nl.del_route(&route).await.unwrap();
        let errors = l.teardown().await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(l.installed().count(), 0);
        assert_eq!(dump(), before);
    });
}

/// Many routes and proxy entries removed with requests in flight together
/// (a home agent's exit): all gone, the ledger empty, one already gone
/// not an error, and a request the kernel refuses reported.
#[test]
fn ledger_removes_many_at_once() {
    netns(|| async {
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        let mut l = Ledger::open().unwrap();
        let d0 = l.nl.link_index("d0").await.unwrap();
        l.nl.set_link_up(d0).await.unwrap();
        let before = dump();
        const N: u16 = 500;
        let mut items = Vec::new();
        for i in 1..=N {
            let hoa = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, i);
            let route = RouteSpec::prefix(IpAddr::V6(hoa), 128, d0).metric(192);
            l.add_route(route.clone()).await.unwrap();
            let proxy = ProxyNeigh {
                index: d0,
                addr: hoa,
            };
            l.add_proxy(proxy).await.unwrap();
            items.push(netcfg::Item::Route(route));
            items.push(netcfg::Item::Proxy(proxy));
        }
        assert_eq!(l.installed().count(), 2 * usize::from(N));
        assert_eq!(
            lines(&ip(&["-6", "neigh", "show", "proxy"])).len(),
            usize::from(N)
        );
        // Gone behind the ledger's back: not a failure.
        l.nl.del_proxy_neigh(ProxyNeigh {
            index: d0,
            addr: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, 7),
        })
        .await
        .unwrap();
        // One the kernel refuses (a /129): reported, the rest still removed.
        let absent = netcfg::Item::Route(RouteSpec::prefix(a("2001:db8:9::1"), 129, d0));
        items.push(absent.clone());
        let failed = l.remove_many(items).await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, absent);
        assert_eq!(l.installed().count(), 0);
        assert_eq!(dump(), before);
    });
}
