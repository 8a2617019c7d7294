//! The built-in hook leaves the state Debian's iproute2 hook leaves
//! (docs/compat.md "Client hook", checked against the real miredo 1.2.6 + hook), and
//! `Hook` falls back to it only when the script is missing.

#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use miredo::hook::{BuiltinHook, Hook, HookOutcome, HookParams, HookTracker, ScriptHook};
use netcfg::{Netlink, RtTables, Tun};

const TABLE_ID: u32 = 100;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("miredo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ip(args: &[&str]) -> Vec<String> {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A built-in hook whose rt_tables knows `teredo` (or not).
fn builtin(dir: &Path, with_table: bool) -> BuiltinHook {
    let file = dir.join("rt_tables");
    let text = if with_table {
        format!("255 local\n254 main\n{TABLE_ID}\tteredo\n")
    } else {
        "255 local\n254 main\n".to_string()
    };
    std::fs::write(&file, text).unwrap();
    BuiltinHook {
        rt_tables: RtTables::with_paths(vec![file], vec![]),
        ..BuiltinHook::default()
    }
}

/// `inet6 ADDR/LEN scope ...` lines of the interface, without the kernel's
/// own random link-local address (stable-privacy), which the real hook
/// leaves in place too.
fn addr_lines() -> Vec<String> {
    let mut v: Vec<String> = ip(&["-6", "addr", "show", "dev", "teredo"])
        .into_iter()
        .filter(|l| l.starts_with("inet6 ") && !l.contains("stable-privacy"))
        // DAD state is the kernel's timing, not the hook's result.
        .map(|l| l.replace(" tentative", ""))
        .collect();
    v.sort();
    v
}

fn rules() -> Vec<String> {
    ip(&["-6", "rule", "show"])
        .into_iter()
        .filter(|l| l.starts_with("32765:"))
        .collect()
}

fn assert_up_state(addr: Ipv6Addr) {
    assert_eq!(
        addr_lines(),
        vec![
            format!("inet6 {addr}/32 scope global"),
            "inet6 fe80::ffff:ffff:ffff/64 scope link".to_string(),
        ]
    );
    // Exactly what `ip -6 route show dev teredo` printed under Debian's miredo.
    assert_eq!(
        ip(&["-6", "route", "show", "dev", "teredo"]),
        vec![
            "2001::/32 proto kernel metric 256 pref medium",
            "fe80::/64 proto kernel metric 256 pref medium",
            "default metric 1029 pref medium",
        ]
    );
    assert_eq!(
        ip(&["-6", "route", "show", "table", "100"]),
        vec!["default dev teredo metric 1024 pref medium"]
    );
    assert_eq!(rules(), vec![format!("32765:\tfrom {addr} lookup 100")]);
}

#[test]
fn builtin_hook_matches_debians_hook() {
    let dir = tempdir("hook-builtin");
    let hook = builtin(&dir, true);
    netcfg::netns::block_on_in_new_netns(move || async move {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let idx = tun.index();
        let a1: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let a2: Ipv6Addr = "2001:0:c000:201:c5e:2db6:3fff:fdf5".parse().unwrap();
        let mut t = HookTracker::new(idx);
        let ok = HookOutcome::Builtin { failures: 0 };

        assert_eq!(
            hook.run(&t.up("teredo", HookParams::new(a1, 1280)).unwrap())
                .await,
            ok
        );
        let link = nl.link(idx).await.unwrap();
        assert!(link.up && link.mtu == 1280, "{link:?}");
        assert_up_state(a1);

        // up -> up: no stale address, route or rule of A1 is left.
        assert_eq!(
            hook.run(&t.up("teredo", HookParams::new(a2, 1400)).unwrap())
                .await,
            ok
        );
        assert_up_state(a2);
        assert_eq!(nl.link(idx).await.unwrap().mtu, 1400);

        // Connectivity lost: all gone, link down.
        assert_eq!(hook.run(&t.down("teredo").unwrap()).await, ok);
        assert!(!nl.link(idx).await.unwrap().up);
        assert!(addr_lines().is_empty());
        assert!(ip(&["-6", "route", "show", "dev", "teredo"]).is_empty());
        assert!(ip(&["-6", "route", "show", "table", "100"]).is_empty());
        assert!(rules().is_empty());

        // Back, then exit: down removes everything, destroy does nothing.
        assert_eq!(
            hook.run(&t.up("teredo", HookParams::new(a1, 1280)).unwrap())
                .await,
            ok
        );
        assert_up_state(a1);
        let [down, destroy] = t.shutdown("teredo");
        assert_eq!(hook.run(&down).await, ok);
        assert!(rules().is_empty() && addr_lines().is_empty());
        assert_eq!(hook.run(&destroy).await, ok);
        assert!(!nl.link(idx).await.unwrap().up);
        drop(tun);
    })
    .expect("cannot create a network namespace: this test must run as root");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_teredo_table_only_the_main_table_is_used() {
    let dir = tempdir("hook-builtin-notable");
    let hook = builtin(&dir, false);
    netcfg::netns::block_on_in_new_netns(move || async move {
        let tun = Tun::create(Some("teredo")).unwrap();
        let a1: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let mut t = HookTracker::new(tun.index());
        let out = hook
            .run(&t.up("teredo", HookParams::new(a1, 1280)).unwrap())
            .await;
        assert_eq!(out, HookOutcome::Builtin { failures: 0 });
        assert_eq!(addr_lines().len(), 2);
        assert!(ip(&["-6", "route", "show", "dev", "teredo"])
            .contains(&"default metric 1029 pref medium".to_string()));
        assert!(rules().is_empty());
    })
    .expect("cannot create a network namespace: this test must run as root");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hook_uses_the_script_when_present_and_the_builtin_otherwise() {
    let dir = tempdir("hook-choice");
    let script = dir.join("client-hook");
    let marker = dir.join("ran");
    let builtin = builtin(&dir, false);
    let hook = Hook::with_parts(ScriptHook::new(&script), builtin);
    let (script2, marker2) = (script.clone(), marker.clone());
    netcfg::netns::block_on_in_new_netns(move || async move {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let a1: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let mut t = HookTracker::new(tun.index());

        // No script: the built-in configures the interface.
        let up = t.up("teredo", HookParams::new(a1, 1280)).unwrap();
        assert_eq!(hook.run(&up).await, HookOutcome::Builtin { failures: 0 });
        assert!(nl.link(tun.index()).await.unwrap().up);

        // The script appears: it runs instead (and only it).
        {
            use std::os::unix::fs::PermissionsExt;
            let body = format!("#!/bin/sh\necho \"$STATE\" > {}\n", marker2.display());
            std::fs::write(&script2, body).unwrap();
            std::fs::set_permissions(&script2, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let down = t.down("teredo").unwrap();
        assert_eq!(hook.run(&down).await, HookOutcome::Exited(0));
        assert_eq!(std::fs::read_to_string(&marker2).unwrap(), "down\n");
        assert!(
            nl.link(tun.index()).await.unwrap().up,
            "the built-in did not run"
        );
    })
    .expect("cannot create a network namespace: this test must run as root");
    let _ = std::fs::remove_dir_all(&dir);
}
