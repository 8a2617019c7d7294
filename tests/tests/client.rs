//! Our miredo client in the lab, against Debian's miredo-server and relay.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{nat_public_ip, Lab, LabOpts, Nat, TeredoAddr, SERVER_IP, TARGET_IP6, TEREDO_IFACE};

fn lab_with_peers(nats: &[Nat]) -> Result<Lab> {
    let lab = Lab::up(LabOpts::with_nats(nats))?;
    lab.start_debian_server()?;
    lab.start_debian_relay()?;
    Ok(lab)
}

#[test]
fn qualifies_decodes_to_nat_and_pings_ipv6_host_both_ways() -> Result<()> {
    let lab = lab_with_peers(&[Nat::PortRestricted])?;
    let d =
        lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    let addr = lab
        .wait_teredo_addr("cl1", Duration::from_secs(5))
        .with_context(|| format!("our client did not qualify; log:\n{}", d.log_text()))?;
    let t = TeredoAddr::from_ipv6(&addr);
    assert_eq!(t.server, SERVER_IP, "server field of {addr}");
    assert_eq!(t.mapped_ip, nat_public_ip(1), "mapped IPv4 of {addr}");
    assert_eq!(t.flags & 0x8000, 0, "no cone flag");
    // Built-in hook: link-local /64, address /32, default route metric 1029.
    let routes = lab.exec_ok("cl1", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
    assert!(
        routes.contains("default") && routes.contains("metric 1029"),
        "{routes}"
    );
    let addrs = lab.exec_ok("cl1", &["ip", "-6", "addr", "show", "dev", TEREDO_IFACE])?;
    assert!(addrs.contains(&format!("{addr}/32")), "{addrs}");
    assert!(addrs.contains("fe80::ffff:ffff:ffff/64"), "{addrs}");
    assert_eq!(
        addrs.matches("inet6 fe80:").count(),
        1,
        "no kernel-generated link-local beside the hook's: {addrs}"
    );

    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))
        .context("client -> IPv6-only host through Debian's relay")?;
    lab.wait_ping6("tgt", addr, Duration::from_secs(5))
        .context("IPv6-only host -> client through Debian's relay")?;
    lab.stop(&d)?;
    ensure!(
        !d.pidfile.exists(),
        "pidfile {} left behind",
        d.pidfile.display()
    );
    Ok(())
}

/// A hook that appends its environment, one `env` dump per call, to a file.
fn logging_hook(lab: &Lab) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let out = lab.state_dir().join("hook-calls.log");
    let script = lab.state_dir().join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n/usr/bin/env | /usr/bin/sort >> {out}\necho --- >> {out}\n\
             # do what Debian's hook does, so the interface is usable\n\
             exec /etc/miredo/client-hook\n",
            out = out.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok((script, out))
}

fn hook_calls(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split("---\n")
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            c.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Variable names, without PWD (dash sets it itself, as it does under miredo).
fn keys(call: &BTreeMap<String, String>) -> Vec<&str> {
    call.keys()
        .map(String::as_str)
        .filter(|k| *k != "PWD")
        .collect()
}

#[test]
fn hook_sees_miredos_environment_at_up_change_down_destroy() -> Result<()> {
    let lab = lab_with_peers(&[Nat::PortRestricted])?;
    let (script, out) = logging_hook(&lab)?;
    let d = lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(&script))?;
    let first = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;

    // A new NAT public address gives a new mapping: up -> up with OLD_*.
    lab.set_nat_ip(1, Ipv4Addr::new(203, 0, 113, 77))?;
    // New client IPv4 too, so our netlink watch re-qualifies at once.
    lab.set_client_ip(1, Ipv4Addr::new(198, 18, 1, 20))?;
    lab.wait_for("new Teredo address", Duration::from_secs(10), || {
        Ok(lab.teredo_addr("cl1")?.is_some_and(|a| a != first))
    })?;
    lab.stop(&d)?;

    let calls = hook_calls(&out);
    let mut states: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c["STATE"].as_str(), c["OLD_STATE"].as_str()))
        .collect();
    // The client's renumbering is two netlink events (add, then delete); on a
    // loaded machine they may fall into two re-qualifications, each with a
    // real new mapping: one `up -> up` or several, never a `down` between.
    states.dedup();
    assert_eq!(
        states,
        vec![
            ("up", "down"),
            ("up", "up"),
            ("down", "up"),
            ("destroy", "up")
        ],
        "hook sequence; log:\n{}",
        d.log_text()
    );
    let last_up = calls.len() - 3;
    assert_eq!(
        keys(&calls[0]),
        vec![
            "ADDRESS",
            "IFACE",
            "IFINDEX",
            "LLADDRESS",
            "MTU",
            "OLD_STATE",
            "STATE"
        ],
        "first up: no PATH, no OLD_*"
    );
    assert_eq!(calls[0]["ADDRESS"], first.to_string());
    assert_eq!(calls[0]["LLADDRESS"], "fe80::ffff:ffff:ffff");
    assert_eq!(calls[0]["MTU"], "1280");
    assert_eq!(calls[0]["IFACE"], TEREDO_IFACE);
    assert_eq!(
        keys(&calls[1]),
        vec![
            "ADDRESS",
            "IFACE",
            "IFINDEX",
            "LLADDRESS",
            "MTU",
            "OLD_ADDRESS",
            "OLD_LLADDRESS",
            "OLD_MTU",
            "OLD_STATE",
            "STATE"
        ]
    );
    assert_eq!(calls[1]["OLD_ADDRESS"], first.to_string());
    for pair in calls[1..=last_up].windows(2) {
        assert_eq!(
            pair[1]["OLD_ADDRESS"], pair[0]["ADDRESS"],
            "each change names the one before"
        );
    }
    for c in &calls[last_up + 1..] {
        assert_eq!(
            keys(c),
            vec![
                "IFACE",
                "IFINDEX",
                "OLD_ADDRESS",
                "OLD_LLADDRESS",
                "OLD_MTU",
                "OLD_STATE",
                "STATE"
            ]
        );
        assert_eq!(
            c["OLD_ADDRESS"], calls[last_up]["ADDRESS"],
            "down/destroy carry the last OLD_*"
        );
    }
    Ok(())
}

#[test]
fn own_ipv4_change_requalifies_at_once() -> Result<()> {
    let lab = lab_with_peers(&[Nat::PortRestricted])?;
    let d =
        lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    let first = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    lab.set_client_ip(1, Ipv4Addr::new(198, 18, 1, 30))?;
    // miredo needs its next 30 s refresh (or never notices); we re-qualify on the
    // netlink event. The bound leaves room for a loaded CI machine.
    lab.wait_for(
        "re-qualification after the IPv4 change",
        Duration::from_secs(3),
        || Ok(d.log_text().contains("re-qualifying")),
    )?;
    let log = d.log_text();
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))
        .with_context(|| format!("ping after renumbering; log:\n{log}"))?;
    let now = lab.teredo_addr("cl1")?.context("address gone")?;
    eprintln!("address {first} -> {now}");
    Ok(())
}

#[test]
fn server_loss_goes_down_within_15s_and_return_comes_up_within_10s() -> Result<()> {
    let lab = lab_with_peers(&[Nat::PortRestricted])?;
    let d =
        lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    lab.block_server()?;
    lab.wait_for("down after server loss", Duration::from_secs(15), || {
        Ok(lab.teredo_addr("cl1")?.is_none())
    })
    .with_context(|| d.log_text())?;
    assert!(
        d.log_text().contains("Lost Teredo connectivity"),
        "{}",
        d.log_text()
    );
    lab.unblock_server()?;
    lab.wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| {
            format!(
                "not up within 10 s of the server's return:\n{}",
                d.log_text()
            )
        })?;
    Ok(())
}

#[test]
fn our_client_and_debian_client_ping_each_other_across_cone_nats() -> Result<()> {
    let lab = lab_with_peers(&[Nat::FullCone, Nat::RestrictedCone])?;
    let ours =
        lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    let _theirs = lab.start_debian_client(2)?;
    let a = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    let b = lab.wait_teredo_addr("cl2", Duration::from_secs(5))?;
    lab.wait_ping6("cl1", b, Duration::from_secs(10))
        .with_context(|| format!("ours -> Debian; log:\n{}", ours.log_text()))?;
    lab.wait_ping6("cl2", a, Duration::from_secs(10))
        .with_context(|| format!("Debian -> ours; log:\n{}", ours.log_text()))?;
    Ok(())
}

#[test]
fn dbus_shows_state_and_signals_address_changes() -> Result<()> {
    let lab = lab_with_peers(&[Nat::PortRestricted])?;
    let bus = lab.dbus_up()?;
    let d = lab.start_ours_on_bus(
        "cl1",
        "dbus-client",
        "miredo",
        &Lab::client_conf(),
        &["--client-hook", "/nonexistent"],
        Some(&bus),
    )?;
    let first = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    let busctl = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("busctl")
            .arg(format!("--address={bus}"))
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let path = "/org/miredo_rs/Miredo1/teredo";
    let get = |prop: &str| {
        busctl(&[
            "get-property",
            "org.miredo_rs.Miredo1",
            path,
            "org.miredo_rs.Miredo1.Tunnel",
            prop,
        ])
    };
    lab.wait_for("State up on D-Bus", Duration::from_secs(5), || {
        Ok(get("State")?.trim() == "s \"up\"")
    })
    .with_context(|| d.log_text())?;
    assert_eq!(get("Address")?.trim(), format!("s \"{first}\""));
    assert_eq!(get("InterfaceName")?.trim(), "s \"teredo\"");
    assert_eq!(get("Mtu")?.trim(), "u 1280");
    let intro = busctl(&["introspect", "org.miredo_rs.Miredo1", path])?;
    for member in [
        "AddressChanged",
        "Requalify",
        "Status",
        "MappedAddress",
        "Peers",
    ] {
        assert!(
            intro.contains(member),
            "introspection lacks {member}:\n{intro}"
        );
    }

    // A subscriber sees AddressChanged when the address changes.
    let monitor = lab.spawn(
        "cl1",
        &[
            "dbus-monitor",
            "--address",
            bus.as_str(),
            "type='signal',interface='org.miredo_rs.Miredo1.Tunnel',member='AddressChanged'",
        ],
    )?;
    lab.wait_for("monitor attached", Duration::from_secs(5), || {
        Ok(monitor.log_text().contains("NameAcquired") || monitor.log_text().contains("signal"))
    })?;
    lab.set_nat_ip(1, Ipv4Addr::new(203, 0, 113, 88))?;
    lab.set_client_ip(1, Ipv4Addr::new(198, 18, 1, 40))?;
    let mut second = None;
    lab.wait_for("new address", Duration::from_secs(10), || {
        second = lab.teredo_addr("cl1")?.filter(|a| *a != first);
        Ok(second.is_some())
    })?;
    let second = second.context("new address")?;
    lab.wait_for("AddressChanged signal", Duration::from_secs(5), || {
        Ok(monitor.log_text().contains(&second.to_string()))
    })
    .with_context(|| format!("monitor saw:\n{}", monitor.log_text()))?;
    Ok(())
}
