//! The seed document's modified hook (UMIP howto: its own `$IP`, `$PRIO`,
//! `$TABLE`, `$METRIC`, `MTU=1400` override, `/128` address) works with
//! our environment, in a fresh network namespace with a real TUN.

#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use miredo::hook::{HookOutcome, HookParams, HookTracker, ScriptHook};
use netcfg::{Family, Netlink, Tun};

/// Like the seed's hook; it relies on nothing from the environment but the
/// hook variables (absolute paths only).
const SEED_HOOK: &str = r#"#!/bin/sh
IP=/sbin/ip
METRIC=1029
TABLE=teredo
PRIO=32765
MTU=1400

test "$OLD_ADDRESS" && \
"$IP" -6 rule del from "$OLD_ADDRESS" prio "$PRIO" table "$TABLE" 2>/dev/null

"$IP" -6 route flush table "$TABLE" 2>/dev/null
"$IP" -6 route flush dev "$IFACE" 2>/dev/null
"$IP" -6 address flush dev "$IFACE" 2>/dev/null

"$IP" -6 link set dev "$IFACE" "$STATE"

case "$STATE" in
        up)
                "$IP" -6 route add default dev "$IFACE" metric "$METRIC"
                "$IP" -6 address add "${LLADDRESS}/64" dev "$IFACE"
                "$IP" -6 address add "${ADDRESS}/128" dev "$IFACE"
                "$IP" link set dev "$IFACE" up mtu "$MTU"
                ;;
esac

"$IP" -6 route flush cache 2>/dev/null

exit 0
"#;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("miredo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn seed_hook_sets_mtu_1400_and_a_128() {
    let dir = tempdir("hook-seed");
    let script = dir.join("client-hook");
    write_exec(&script, SEED_HOOK);
    let hook = ScriptHook::new(&script);

    netcfg::netns::block_on_in_new_netns(move || async move {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let idx = tun.index();
        let a1: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let a2: Ipv6Addr = "2001:0:c000:201:c5e:2db6:3fff:fdf5".parse().unwrap();
        let mut t = HookTracker::new(idx);

        let up = t.up("teredo", HookParams::new(a1, 1280)).unwrap();
        assert_eq!(hook.run(&up).await, HookOutcome::Exited(0));
        let link = nl.link(idx).await.unwrap();
        assert!(link.up);
        assert_eq!(
            link.mtu, 1400,
            "the script's MTU=1400 overrides the daemon's 1280"
        );
        let addrs = nl.addresses(Some(Family::V6), Some(idx)).await.unwrap();
        assert!(
            addrs.iter().any(|a| a.addr == a1 && a.prefix_len == 128),
            "{addrs:?}"
        );
        assert!(addrs
            .iter()
            .any(|a| a.addr == HookParams::LLADDRESS && a.prefix_len == 64));
        let routes = ip(&["-6", "route", "show", "dev", "teredo"]);
        assert!(routes.contains("default metric 1029"), "{routes}");

        // A new mapping: the old /128 goes, the new one comes, still 1400.
        let change = t.up("teredo", HookParams::new(a2, 1280)).unwrap();
        assert_eq!(hook.run(&change).await, HookOutcome::Exited(0));
        let addrs = nl.addresses(Some(Family::V6), Some(idx)).await.unwrap();
        assert!(
            addrs.iter().any(|a| a.addr == a2 && a.prefix_len == 128),
            "{addrs:?}"
        );
        assert!(!addrs.iter().any(|a| a.addr == a1), "{addrs:?}");
        assert_eq!(nl.link(idx).await.unwrap().mtu, 1400);

        let down = t.down("teredo").unwrap();
        assert_eq!(hook.run(&down).await, HookOutcome::Exited(0));
        assert!(!nl.link(idx).await.unwrap().up);
        assert!(nl
            .addresses(Some(Family::V6), Some(idx))
            .await
            .unwrap()
            .is_empty());
        drop(tun);
    })
    .expect("cannot create a network namespace: this test must run as root");
    let _ = std::fs::remove_dir_all(&dir);
}
