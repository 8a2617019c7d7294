//! Links, addresses, routes and rules, read back both through our own
//! dumps and through `ip`, in a fresh network namespace.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv6Addr};

use common::{ip, lines, netns};
use netcfg::{Family, Netlink, RouteSpec, RuleSpec, Tun, TABLE_MAIN};

const ADDR: &str = "2001:0:c000:201:18af:1a95:3fff:fdf5";
const LL: &str = "fe80::ffff:ffff:ffff";
const TABLE: u32 = 100;

#[test]
fn configure_like_the_client_hook_and_undo() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let idx = tun.index();
        let addr: Ipv6Addr = ADDR.parse().unwrap();
        let ll: Ipv6Addr = LL.parse().unwrap();

        nl.set_link_up(idx).await.unwrap();
        nl.set_mtu(idx, 1400).await.unwrap();
        let link = nl.link(idx).await.unwrap();
        assert!(link.up);
        assert_eq!(link.mtu, 1400);

        nl.add_address(idx, ll.into(), 64, true).await.unwrap();
        nl.add_address(idx, addr.into(), 32, true).await.unwrap();
        let err = nl
            .add_address(idx, addr.into(), 32, true)
            .await
            .unwrap_err();
        assert!(err.is_exists(), "{err}");
        nl.add_route(&RouteSpec::default_v6(idx).metric(1029))
            .await
            .unwrap();
        nl.add_route(&RouteSpec::default_v6(idx).table(TABLE))
            .await
            .unwrap();
        nl.add_rule(&RuleSpec::from_addr(addr.into(), 32765, TABLE))
            .await
            .unwrap();

        // Our own view.
        // Without the random link-local the kernel adds when a TUN comes up.
        let addrs: Vec<_> = nl
            .addresses(Some(Family::V6), Some(idx))
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.flags & netcfg::AddrInfo::FLAG_STABLE_PRIVACY == 0)
            .collect();
        let mut got: Vec<(IpAddr, u8)> = addrs.iter().map(|a| (a.addr, a.prefix_len)).collect();
        got.sort();
        assert_eq!(got, vec![(addr.into(), 32), (ll.into(), 64)]);
        assert!(addrs
            .iter()
            .all(|a| a.flags & netcfg::AddrInfo::FLAG_NODAD != 0));
        assert!(addrs.iter().all(|a| !a.is_tentative()));

        let main = nl.routes(Family::V6, Some(TABLE_MAIN)).await.unwrap();
        assert!(main
            .iter()
            .any(|r| r.is_default() && r.oif == Some(idx) && r.metric == Some(1029)));
        let t = nl.routes(Family::V6, Some(TABLE)).await.unwrap();
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(t[0].is_default() && t[0].oif == Some(idx));

        let rules = nl.rules(Family::V6).await.unwrap();
        let r = rules
            .iter()
            .find(|r| r.priority == 32765)
            .expect("rule 32765");
        assert_eq!(r.src, Some((addr.into(), 128)));
        assert_eq!(r.table, TABLE);
        assert_eq!(r.action, 1, "to-table action");

        // iproute2's view, as the shell hook would leave it.
        let a = ip(&["-6", "addr", "show", "dev", "teredo"]);
        assert!(a.contains(&format!("inet6 {ADDR}/32 scope global")), "{a}");
        assert!(a.contains(&format!("inet6 {LL}/64 scope link")), "{a}");
        let routes = lines(&ip(&["-6", "route", "show", "dev", "teredo"]));
        assert!(
            routes.contains(&"2001::/32 proto kernel metric 256 pref medium".to_string()),
            "{routes:?}"
        );
        assert!(
            routes.contains(&"default metric 1029 pref medium".to_string()),
            "{routes:?}"
        );
        let routes = lines(&ip(&["-6", "route", "show", "table", "100"]));
        assert_eq!(
            routes,
            vec!["default dev teredo metric 1024 pref medium".to_string()]
        );
        let rules = ip(&["-6", "rule", "show"]);
        assert!(
            rules.contains(&format!("32765:\tfrom {ADDR} lookup 100")),
            "{rules}"
        );

        // Undo, as the hook's "down" does.
        nl.del_rule(&RuleSpec::from_addr(addr.into(), 32765, TABLE))
            .await
            .unwrap();
        let err = nl
            .del_rule(&RuleSpec::from_addr(addr.into(), 32765, TABLE))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        nl.flush_table(TABLE, Family::V6).await.unwrap();
        nl.flush_routes_dev(idx, Family::V6).await.unwrap();
        nl.flush_addresses(idx, Family::V6).await.unwrap();
        nl.set_link_down(idx).await.unwrap();

        assert!(nl
            .addresses(Some(Family::V6), Some(idx))
            .await
            .unwrap()
            .is_empty());
        assert!(nl.routes(Family::V6, Some(TABLE)).await.unwrap().is_empty());
        let left: Vec<_> = nl
            .routes(Family::V6, Some(TABLE_MAIN))
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.oif == Some(idx))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(!nl
            .rules(Family::V6)
            .await
            .unwrap()
            .iter()
            .any(|r| r.priority == 32765));
        assert!(!nl.link(idx).await.unwrap().up);
    });
}

#[test]
fn relay_interface_setup() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let idx = tun.index();
        nl.set_relay_flags(idx).await.unwrap();
        nl.set_link_up(idx).await.unwrap();
        nl.set_mtu(idx, 1280).await.unwrap();
        nl.add_address(idx, LL.parse::<Ipv6Addr>().unwrap().into(), 64, false)
            .await
            .unwrap();
        netcfg::sysctl::set_accept_redirects("teredo", false).unwrap();
        let prefix: Ipv6Addr = "2001::".parse().unwrap();
        nl.add_route(&RouteSpec::prefix(prefix.into(), 32, idx).metric(1024))
            .await
            .unwrap();

        let link = nl.link(idx).await.unwrap();
        assert!(
            link.up && link.noarp && !link.multicast && !link.broadcast,
            "{link:?}"
        );
        assert_eq!(link.mtu, 1280);
        assert_eq!(
            netcfg::sysctl::get_ipv6_conf("teredo", "accept_redirects").unwrap(),
            "0"
        );
        let l = ip(&["link", "show", "teredo"]);
        assert!(l.contains("<POINTOPOINT,NOARP,UP,LOWER_UP>"), "{l}");
        let routes = lines(&ip(&["-6", "route", "show", "2001::/32"]));
        assert_eq!(
            routes,
            vec!["2001::/32 dev teredo metric 1024 pref medium".to_string()]
        );

        assert!(netcfg::sysctl::set_ipv6_conf("../x", "y", "0").is_err());
    });
}

#[test]
fn unknown_links_are_typed_errors() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        assert!(matches!(
            nl.link_index("nosuch0").await,
            Err(netcfg::Error::NoSuchLink(_))
        ));
        assert!(matches!(
            nl.link(4242).await,
            Err(netcfg::Error::NoSuchLink(_))
        ));
        let err = nl.set_link_up(4242).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
    });
}
