//! Our miredo client in the lab, against Debian's miredo-server and relay.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{
    busctl, counts_at_least, nat_public_ip, tunnel_counters, tunnel_property, Lab, LabOpts, Nat,
    TeredoAddr, SERVER_IP, TARGET_IP6, TEREDO_IFACE,
};

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
    let path = "/org/miredo_rs/Miredo1/teredo";
    let get = |prop: &str| tunnel_property(&bus, prop);
    lab.wait_for("State up on D-Bus", Duration::from_secs(5), || {
        Ok(get("State")?.trim() == "s \"up\"")
    })
    .with_context(|| d.log_text())?;
    assert_eq!(get("Address")?.trim(), format!("s \"{first}\""));
    assert_eq!(get("InterfaceName")?.trim(), "s \"teredo\"");
    assert_eq!(get("Mtu")?.trim(), "u 1280");
    let intro = busctl(&bus, &["introspect", "org.miredo_rs.Miredo1", path])?;
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

    // Traffic reaches the counters, the tunnel's and the packet path's, at
    // the client's next timer tick (the relay's peer timers: seconds).
    for _ in 0..3 {
        lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(10))?;
    }
    lab.wait_for("the pings in the counters", Duration::from_secs(10), || {
        let minima = [
            ("tx", 3),
            ("to_tun", 3),
            ("udp_send_datagrams", 3),
            ("udp_recv_datagrams", 3),
            ("tun_read_packets", 3),
            ("tun_write_packets", 3),
        ];
        Ok(counts_at_least(&tunnel_counters(&bus)?, &minima))
    })
    .with_context(|| format!("{:?}", tunnel_counters(&bus)))?;

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

/// Where the spoofed datagrams send our client's bubbles (nobody lives there;
/// the wan router counts what is routed to them).
const VICTIM: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const VICTIM_PORT: u16 = 5000;
const FAKE_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 77);
/// A Teredo peer our client is asked to reach afterwards: its bubbles mark
/// the end of the attack's processing (the client handles packets in order).
const MARKER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 88);
/// The port our relay binds, so the test can speak from it once it is gone.
const OUR_RELAY_PORT: u16 = 3545;
/// The most bubbles a client may send one IPv4 per 2 s in answer to what it
/// receives (`teredo::relay::replies::DEST_BURST`).
const DEST_BURST: u64 = 4;

/// An ICMPv6 echo request in UDP from the Teredo address `src` to `dst`.
fn echo_from(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    p
}

/// Packets counted by the rule commented `name` in `table` of `node`.
fn nft_count(lab: &Lab, node: &str, name: &str) -> Result<u64> {
    let text = lab.exec_ok(node, &["nft", "list", "table", "inet", "probe"])?;
    let line = text
        .lines()
        .find(|l| l.contains(&format!("comment \"{name}\"")))
        .with_context(|| format!("no rule {name} in {text}"))?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "packets" {
            return Ok(words.next().context("packets value")?.parse()?);
        }
    }
    anyhow::bail!("no packet count in {line}")
}

fn nft_probe(lab: &Lab, node: &str, rules: &[(&str, String)]) -> Result<()> {
    let mut script = String::from(
        "table inet probe {\n chain pre {\n  type filter hook prerouting priority -300;\n",
    );
    for (name, rule) in rules {
        script.push_str(&format!("  {rule} counter comment \"{name}\"\n"));
    }
    script.push_str(" }\n}\n");
    let path = lab.state_dir().join(format!("probe-{node}.nft"));
    std::fs::write(&path, script)?;
    lab.exec_ok(node, &["nft", "-f", &path.to_string_lossy()])?;
    Ok(())
}

#[test]
fn spoofed_sources_through_the_relay_hole_are_not_reflected() -> Result<()> {
    // Our client behind a port-restricted NAT talks to the IPv6 host through
    // our relay, which leaves a hole in its NAT for the relay's IPv4:port.
    // Speaking from there, 64 datagrams each claim a Teredo source (flags
    // varied: 64 peers) that names a victim's IPv4:port and a fake server.
    // Once, each one made the client bubble both: 128 bubbles.
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    lab.start_debian_server()?;
    let relay = lab.start_our_relay(&format!(
        "RelayType relay\nInterfaceName {TEREDO_IFACE}\nBindPort {OUR_RELAY_PORT}\n"
    ))?;
    let d = lab.start_our_client(1, &Lab::client_conf())?;
    let addr = lab
        .wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| d.log_text())?;
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(10))
        .with_context(|| format!("through our relay\n{}", relay.log_text()))?;
    // The relay goes; the NAT keeps its hole (conntrack: 120 s once assured).
    lab.stop(&relay)?;

    nft_probe(
        &lab,
        "wan",
        &[
            (
                "victim",
                format!("ip daddr {VICTIM} udp dport {VICTIM_PORT}"),
            ),
            ("fake_server", format!("ip daddr {FAKE_SERVER}")),
            ("marker", format!("ip daddr {MARKER}")),
        ],
    )?;
    nft_probe(
        &lab,
        "cl1",
        &[(
            "spoofed",
            format!("ip saddr {} udp sport {OUR_RELAY_PORT}", e2e::RELAY_IP),
        )],
    )?;

    let mapped_port = TeredoAddr::from_ipv6(&addr).mapped_port;
    let datagrams: Vec<String> = (0..64u16)
        .map(|i| {
            let src = TeredoAddr {
                prefix: 0x2001_0000,
                server: FAKE_SERVER,
                flags: (i * 0x0101) & 0x3cff,
                mapped_port: VICTIM_PORT,
                mapped_ip: VICTIM,
            }
            .to_ipv6();
            echo_from(src, addr)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0',{OUR_RELAY_PORT}))\n\
         for h in {datagrams:?}:\n    s.sendto(bytes.fromhex(h),('{}',{mapped_port}))\n",
        nat_public_ip(1)
    );
    lab.exec_ok("relay", &["python3", "-c", &script])?;
    lab.wait_for(
        "the 64 datagrams to pass the client's NAT",
        Duration::from_secs(5),
        || Ok(nft_count(&lab, "cl1", "spoofed")? >= 64),
    )?;

    // Then a packet of our own to a Teredo peer: once its bubbles leave,
    // everything received before has been handled.
    let marker = TeredoAddr {
        prefix: 0x2001_0000,
        server: MARKER,
        flags: 0,
        mapped_port: 7000,
        mapped_ip: MARKER,
    }
    .to_ipv6();
    lab.exec(
        "cl1",
        &["ping", "-6", "-c", "1", "-W", "1", &marker.to_string()],
    )?;
    lab.wait_for(
        "the marker's bubbles at the wan router",
        Duration::from_secs(5),
        || Ok(nft_count(&lab, "wan", "marker")? >= 1),
    )
    .with_context(|| d.log_text())?;

    let victim = nft_count(&lab, "wan", "victim")?;
    let fake = nft_count(&lab, "wan", "fake_server")?;
    eprintln!("bubbles to the victim: {victim}, to the fake server: {fake}");
    ensure!(
        victim <= DEST_BURST && fake <= DEST_BURST,
        "64 spoofed datagrams made our client send {victim} bubbles to the victim \
         and {fake} to the fake server (at most {DEST_BURST} each)"
    );
    // What we send now: nothing at all (as Debian's miredo).
    ensure!(victim + fake == 0, "{victim} + {fake} bubbles");
    Ok(())
}
