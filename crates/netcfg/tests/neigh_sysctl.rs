//! Router neighbour entries (STALE with a link-layer address, then PROBE)
//! and sysctls changed and restored, in a fresh namespace with a veth pair.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;

use common::{ip, lines, netns};
use netcfg::sysctl::{get_ipv6_conf, get_ipv6_neigh, SysctlSaver};
use netcfg::{NeighEntry, Netlink, NudState};

const LL: [u8; 6] = [2, 0, 0, 0, 0, 1];

#[test]
fn router_entry_stale_then_probe_then_gone() {
    netns(|| async {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let nl = Netlink::new().unwrap();
        let v0 = nl.link_index("v0").await.unwrap();
        nl.set_link_up(v0).await.unwrap();
        let rtr: Ipv6Addr = "fe80::1".parse().unwrap();
        let mut e = NeighEntry {
            index: v0,
            addr: rtr,
            lladdr: Some(LL.to_vec()),
            state: NudState::Stale,
            router: true,
        };
        nl.set_neigh(&e).await.unwrap();
        assert_eq!(nl.neigh(v0, rtr).await.unwrap(), Some(e.clone()));
        assert_eq!(
            lines(&ip(&["-6", "neigh", "show", "dev", "v0"])),
            vec!["fe80::1 lladdr 02:00:00:00:00:01 router STALE"]
        );

        e.state = NudState::Probe;
        e.lladdr = None;
        nl.set_neigh(&e).await.unwrap();
        let got = nl.neigh(v0, rtr).await.unwrap().unwrap();
        // The kernel keeps the cached address; PROBE may already have moved
        // on (to FAILED, as nothing answers on v1).
        assert_eq!(got.lladdr.as_deref(), Some(&LL[..]));
        assert!(
            matches!(got.state, NudState::Probe | NudState::Failed),
            "{got:?}"
        );

        nl.del_neigh(v0, rtr).await.unwrap();
        assert_eq!(nl.neigh(v0, rtr).await.unwrap(), None);
        let err = nl.del_neigh(v0, rtr).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string().starts_with("neigh del fe80::1 dev "),
            "{err}"
        );
    });
}

#[test]
fn sysctl_saver_restores_first_values() {
    netns(|| async {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let accept_ra = get_ipv6_conf("v0", "accept_ra").unwrap();
        let reach = get_ipv6_neigh("v0", "base_reachable_time_ms").unwrap();
        let mut s = SysctlSaver::new();
        s.set_ipv6_conf("v0", "accept_ra", "0").unwrap();
        s.set_ipv6_conf("v0", "accept_ra", "2").unwrap();
        s.set_ipv6_neigh("v0", "base_reachable_time_ms", "40000")
            .unwrap();
        s.set_ipv6_conf("v1", "forwarding", "1").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(get_ipv6_conf("v0", "accept_ra").unwrap(), "2");
        assert_eq!(
            get_ipv6_neigh("v0", "base_reachable_time_ms").unwrap(),
            "40000"
        );
        let err = s.set_ipv6_conf("nosuch0", "accept_ra", "0").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/proc/sys/net/ipv6/conf/nosuch0/accept_ra: "),
            "{err}"
        );

        // v1 goes away: its entry is forgotten, the rest restored.
        ip(&["link", "del", "v0"]);
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        s.set_ipv6_conf("v0", "accept_ra", "0").unwrap();
        s.forget_interface("v1");
        assert_eq!(s.len(), 2);
        assert!(s.restore().is_empty());
        assert!(s.is_empty());
        assert_eq!(get_ipv6_conf("v0", "accept_ra").unwrap(), accept_ra);
        assert_eq!(
            get_ipv6_neigh("v0", "base_reachable_time_ms").unwrap(),
            reach
        );
    });
}
