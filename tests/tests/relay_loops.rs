//! Our relay with several packet loops (`MIREDO_RELAY_LOOPS`, one per CPU
//! by default; docs/datapath.md): each Teredo peer belongs to the loop that
//! owns the IPv4 its address embeds, which the kernel's socket steering and
//! the tunnel's queues bring its traffic to. Four clients, Debian's and ours,
//! behind NATs whose public addresses belong to both loops (203.0.113.1 and
//! .2 to loop 0, .3 and .4 to loop 1), reach the IPv6-only host and are
//! reached by it, whichever side starts; the counters on D-Bus are the sum
//! over the loops.
//!
//! Needs root; fails (does not skip) otherwise.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{counts_at_least, tunnel_counters, Lab, LabOpts, Nat, TARGET_IP6, TEREDO_IFACE};

const LOOPS: &str = "2";
const PING: Duration = Duration::from_secs(10);

#[test]
fn every_loop_carries_its_peers_both_ways() -> Result<()> {
    let nats = [
        Nat::PortRestricted,
        Nat::FullCone,
        Nat::RestrictedCone,
        Nat::Symmetric,
    ];
    let lab = Lab::up(LabOpts::with_nats(&nats))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;
    let env = [
        format!("DBUS_SYSTEM_BUS_ADDRESS={bus}"),
        format!("MIREDO_RELAY_LOOPS={LOOPS}"),
    ];
    let conf = format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\n");
    let relay = lab.start_ours_with_env("relay", "our-relay", "miredo", &conf, &[], &env)?;
    lab.wait_for("our relay to route 2001::/32", PING, || {
        let routes = lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
        Ok(routes.contains("2001::/32"))
    })
    .with_context(|| relay.log_text())?;
    ensure!(
        relay
            .log_text()
            .contains(&format!("Teredo relay started ({LOOPS} packet loops)")),
        "{}",
        relay.log_text()
    );

    // Ours behind .1 (loop 0) and .3 (loop 1), Debian's behind .2 and .4.
    let client_conf = Lab::client_conf();
    for n in [1u8, 3] {
        lab.start_our_client_with_hook(
            n,
            &client_conf,
            Some(std::path::Path::new("/nonexistent")),
        )?;
    }
    for n in [2u8, 4] {
        lab.start_debian_client(n)?;
    }
    let addrs = (1..=4u8)
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), Duration::from_secs(15)))
        .collect::<Result<Vec<_>>>()?;
    // The clients start (a flow from the Teredo side), then the host does
    // (a new flow from the IPv6 side, which lands on any queue).
    std::thread::scope(|s| {
        let pings: Vec<_> = (1..=4u8)
            .map(|n| {
                let lab = &lab;
                s.spawn(move || {
                    lab.wait_ping6(&format!("cl{n}"), TARGET_IP6, PING)
                        .with_context(|| format!("cl{n} -> host via our relay"))
                })
            })
            .collect();
        pings
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("panicked"))?)
    })
    .with_context(|| relay.log_text())?;
    for (n, addr) in (1..=4u8).zip(&addrs) {
        lab.wait_ping6("tgt", *addr, PING)
            .with_context(|| format!("host -> cl{n} via our relay\n{}", relay.log_text()))?;
    }
    // Counted by both loops, summed (published every 2 s).
    lab.wait_for("the summed counters", Duration::from_secs(6), || {
        let minima = [
            ("to_tun", 8),
            ("tx", 8),
            ("udp_recv_datagrams", 8),
            ("tun_write_packets", 8),
            ("tun_read_packets", 8),
            ("udp_send_datagrams", 8),
        ];
        Ok(counts_at_least(&tunnel_counters(&bus)?, &minima))
    })
    .with_context(|| format!("{:?}", tunnel_counters(&bus)))?;
    // The same on D-Bus as in the log below: nothing handed between loops.
    let c = tunnel_counters(&bus)?;
    ensure!(
        c.get("loop_handed_datagrams") == Some(&0),
        "datagrams reached another loop than their owner's: {c:?}"
    );
    lab.stop(&relay)?;
    let log = relay.log_text();
    ensure!(!log.contains("relay packet loop "), "a loop failed:\n{log}");
    // The kernel steered every datagram to its owner: none was handed on
    // (none of these peers writes from another IPv4 than its address names).
    ensure!(
        log.contains("Packet loops handed 0 datagrams and "),
        "datagrams reached another loop than their owner's:\n{log}"
    );
    lab.down()
}
