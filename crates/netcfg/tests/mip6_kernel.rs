//! The Mobile IPv6 kernel operations that work on the build host's kernel
//! (XFRM policies, proxy neighbours), and the clear failures of those that
//! need options it lacks (`CONFIG_IPV6_MIP6`, `CONFIG_IPV6_TUNNEL`). The
//! full set runs in the VM: tests/tests/vm_kernel.rs.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;

use common::{ip, lines, netns};
use netcfg::probe::{probe_current_netns, probe_kernel, KernelFeature};
use netcfg::xfrm::{
    PolicyDir, PolicyType, Selector, Template, Xfrm, XfrmEvent, XfrmEvents, XfrmGroups, XfrmMode,
    XfrmPolicy, XfrmProto, XfrmState,
};
use netcfg::{Ip6TnlSpec, Netlink, ProxyNeigh, Tun};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Whether this kernel's configuration (when it publishes one) has the
/// Mobile IPv6 options; the build host's does not (docs/vm.md).
fn host_has_mip6() -> bool {
    let config = std::process::Command::new("zcat")
        .arg("/proc/config.gz")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    config.contains("CONFIG_IPV6_MIP6=y") || config.contains("CONFIG_IPV6_MIP6=m")
}

/// The probe says what this kernel has. The build host has neither MIP6
/// nor ip6_tunnel (docs/vm.md); on a kernel configured with MIP6 only the
/// always-needed features are checked here (the VM test checks the rest).
#[test]
fn probe_reports_what_the_kernel_lacks() {
    let probe = probe_kernel().expect("probe needs root");
    eprintln!("{probe}");
    for f in [
        KernelFeature::XfrmUser,
        KernelFeature::XfrmSubPolicy,
        KernelFeature::Ipv6MultipleTables,
        KernelFeature::Ipv6Subtrees,
    ] {
        assert!(probe.has(f), "{f:?} missing:\n{probe}");
    }
    if host_has_mip6() {
        return;
    }
    assert_eq!(
        probe.missing(),
        vec![KernelFeature::Mip6, KernelFeature::Ip6Tunnel],
        "{probe}"
    );
    let msg = probe.missing_message(&KernelFeature::ALL).unwrap();
    assert!(msg.contains("CONFIG_IPV6_MIP6"), "{msg}");
    assert!(msg.contains("CONFIG_IPV6_TUNNEL"), "{msg}");
    // The probe ran in its own namespace: nothing leaked into ours.
    netns(|| async {
        assert!(Xfrm::new().unwrap().policies().await.unwrap().is_empty());
    });
}

/// Without a throwaway namespace the probe works in the caller's and
/// leaves nothing behind there.
#[test]
fn probe_in_place_cleans_up() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let rules_before = nl.rules(netcfg::Family::V6).await.unwrap();
        let probe = tokio::task::spawn_blocking(probe_current_netns)
            .await
            .unwrap()
            .unwrap();
        assert!(probe.has(KernelFeature::XfrmSubPolicy), "{probe}");
        assert!(probe.has(KernelFeature::Ipv6Subtrees), "{probe}");
        let x = Xfrm::new().unwrap();
        assert!(x.policies().await.unwrap().is_empty());
        assert!(x.states().await.unwrap().is_empty());
        assert_eq!(nl.rules(netcfg::Family::V6).await.unwrap(), rules_before);
        assert!(nl
            .routes(netcfg::Family::V6, Some(252))
            .await
            .unwrap()
            .is_empty());
        assert!(nl.ip6tnls().await.unwrap().iter().all(|t| t.is_fallback()));
    });
}

/// Sub-type policies as mip6d installs them: add, list (type, priority,
/// RO templates survive the round trip), update in place, delete one,
/// delete by owner, flush; `ip xfrm policy` sees the same.
#[test]
fn xfrm_sub_policies_round_trip() {
    netns(|| async {
        let x = Xfrm::new().unwrap();
        let hoa = a("2001:db8:1::100");
        let ha = a("2001:db8:1::2");
        let cn = a("2001:db8:c::2");
        let bu = XfrmPolicy::new(
            Selector::hosts(hoa, ha).mh_type(5),
            PolicyDir::Out,
            PolicyType::Sub,
            2,
        )
        .tmpl(
            Template::ro(XfrmProto::Hao, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED).optional(),
        );
        let ro = XfrmPolicy::new(Selector::hosts(hoa, cn), PolicyDir::Out, PolicyType::Sub, 5)
            .tmpl(Template::ro(XfrmProto::Hao, hoa, cn))
            .tmpl(Template::ro(XfrmProto::Route2, hoa, cn).optional());
        let main =
            XfrmPolicy::new(Selector::hosts(hoa, cn), PolicyDir::In, PolicyType::Main, 9).block();
        for p in [&bu, &ro, &main] {
            x.add_policy(p).await.unwrap();
        }
        let err = x.add_policy(&bu).await.unwrap_err();
        assert!(err.is_exists(), "{err}");
        assert!(
            err.to_string()
                .starts_with("xfrm policy add src 2001:db8:1::100/128"),
            "{err}"
        );

        let mut got = x.policies().await.unwrap();
        got.sort_by_key(|p| p.priority);
        let strip = |mut p: XfrmPolicy| {
            p.index = 0;
            p
        };
        let got: Vec<XfrmPolicy> = got.into_iter().map(strip).collect();
        assert_eq!(got, vec![bu.clone(), ro.clone(), main.clone()]);

        let shown = ip(&["xfrm", "policy", "list", "ptype", "sub"]);
        assert!(shown.contains("proto mobility-header type 5"), "{shown}");
        assert!(
            shown.contains("proto hao") && shown.contains("mode ro"),
            "{shown}"
        );
        assert!(
            shown.contains("proto route2") && shown.contains("level use"),
            "{shown}"
        );

        // Update: new priority and template, same key.
        let mut ro2 = ro.clone();
        ro2.priority = 6;
        ro2.tmpls.truncate(1);
        x.update_policy(&ro2).await.unwrap();
        let now = x.policies().await.unwrap();
        let upd = now
            .iter()
            .find(|p| p.sel == ro.sel && p.ptype == PolicyType::Sub)
            .unwrap();
        assert_eq!((upd.priority, upd.tmpls.len()), (6, 1));

        x.del_policy(&bu.sel, bu.dir, bu.ptype).await.unwrap();
        let err = x.del_policy(&bu.sel, bu.dir, bu.ptype).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(err.to_string().contains("xfrm policy delete"), "{err}");
        // Same selector and direction, other type: not this one.
        let err = x
            .del_policy(&main.sel, main.dir, PolicyType::Sub)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");

        let n = x
            .delete_policies_where(|p| p.ptype == PolicyType::Sub)
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(x.policies().await.unwrap().len(), 1);
        x.flush_policies(PolicyType::Sub).await.unwrap();
        assert_eq!(
            x.policies().await.unwrap().len(),
            1,
            "a sub flush leaves main policies"
        );
        x.flush_policies(PolicyType::Main).await.unwrap();
        assert!(x.policies().await.unwrap().is_empty());
        assert!(lines(&ip(&["xfrm", "policy", "list"])).is_empty());
    });
}

/// Without CONFIG_IPV6_MIP6 an RO state is refused, and the error says
/// which state and why; with it (the VM) the state is added and listed.
#[test]
fn xfrm_ro_state_needs_mip6() {
    if host_has_mip6() {
        return;
    }
    netns(|| async {
        let x = Xfrm::new().unwrap();
        let st = XfrmState::ro(
            XfrmProto::Route2,
            a("2001:db8:1::100"),
            a("2001:db8:c::2"),
            a("2001:db8:a::100"),
        );
        let err = x.add_state(&st).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::EPROTONOSUPPORT), "{err}");
        assert_eq!(
            err.to_string(),
            "xfrm state add src 2001:db8:1::100 dst 2001:db8:c::2 proto route2 mode \
             RouteOptimization coa 2001:db8:a::100: Protocol not supported (os error 93)"
        );
        assert!(x.states().await.unwrap().is_empty());
    });
}

/// Without CONFIG_IPV6_TUNNEL the tunnel add fails naming the tunnel.
#[test]
fn ip6tnl_needs_ip6_tunnel() {
    if host_has_mip6() {
        return;
    }
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let spec = Ip6TnlSpec::mip6(a("2001:db8:a::100"), a("2001:db8:1::2"), 0);
        let err = nl.add_ip6tnl(&spec).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("tunnel add ip6tnl 2001:db8:a::100 -> 2001:db8:1::2 link 0: "),
            "{err}"
        );
        assert!(nl.ip6tnls().await.unwrap().is_empty());
    });
}

/// Proxy NDP entries: add, list (ours and ip's), re-add, delete, delete again.
#[test]
fn proxy_neighbours() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("home0")).unwrap();
        let idx = tun.index();
        nl.set_link_up(idx).await.unwrap();
        let e1 = ProxyNeigh {
            index: idx,
            addr: a("2001:db8:1::100"),
        };
        let e2 = ProxyNeigh {
            index: idx,
            addr: a("fe80::100"),
        };
        nl.add_proxy_neigh(e1).await.unwrap();
        nl.add_proxy_neigh(e2).await.unwrap();
        assert_eq!(nl.proxy_neighs().await.unwrap(), vec![e1, e2]);
        let mut shown = lines(&ip(&["-6", "neigh", "show", "proxy"]));
        shown.sort();
        assert_eq!(
            shown,
            vec![
                "2001:db8:1::100 dev home0 proxy",
                "fe80::100 dev home0 proxy"
            ]
        );
        // The kernel treats a second add of a proxy entry as a no-op.
        nl.add_proxy_neigh(e1).await.unwrap();
        assert_eq!(nl.proxy_neighs().await.unwrap().len(), 2);
        nl.del_proxy_neigh(e1).await.unwrap();
        nl.del_proxy_neigh(e2).await.unwrap();
        assert!(nl.proxy_neighs().await.unwrap().is_empty());
        let err = nl.del_proxy_neigh(e1).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string()
                .starts_with("neigh del proxy 2001:db8:1::100 dev"),
            "{err}"
        );
    });
}

/// A packet that matches a policy whose template has no state raises an
/// ACQUIRE naming the template's protocol, the addresses and the policy.
/// (ESP here: the host kernel has no RO states; the VM covers MIP6.)
#[test]
fn xfrm_acquire_event() {
    netns(|| async {
        Netlink::new().unwrap().set_link_up(1).await.unwrap();
        let x = Xfrm::new().unwrap();
        let mut events = XfrmEvents::subscribe(XfrmGroups {
            acquire: true,
            report: true,
        })
        .unwrap();
        let lo = Ipv6Addr::LOCALHOST;
        let mut esp = Template::ro(XfrmProto::Esp, lo, lo);
        esp.mode = XfrmMode::Transport;
        let pol = XfrmPolicy::new(
            Selector::hosts(lo, lo).proto(17),
            PolicyDir::Out,
            PolicyType::Main,
            7,
        )
        .tmpl(esp);
        x.add_policy(&pol).await.unwrap();
        let sock = std::net::UdpSocket::bind("[::1]:0").unwrap();
        // The kernel drops (or holds) the datagram while the SA is missing.
        let _ = sock.send_to(b"x", "[::1]:9");
        let ev = tokio::time::timeout(std::time::Duration::from_secs(5), events.next_event())
            .await
            .expect("no ACQUIRE within 5 s")
            .unwrap();
        match ev {
            XfrmEvent::Acquire {
                proto,
                src,
                dst,
                sel,
                dir,
                priority,
            } => {
                assert_eq!((proto, src, dst), (XfrmProto::Esp, lo, lo));
                assert_eq!((sel.proto, sel.dport), (17, 9));
                assert_eq!((dir, priority), (Some(PolicyDir::Out), 7));
            }
            other => panic!("unexpected event {other:?}"),
        }
    });
}
