//! Two clients behind one NAT that does not loop packets back (the lab's
//! NATs do no hairpinning), on one link: ours find each other by local
//! client discovery (RFC 4380 §5.2.8) and talk on the link; Debian's, which
//! has no local discovery, measured side by side, cannot.

use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{Lab, LabOpts, Nat, SERVER_IP, TEREDO_IFACE};

const QUALIFY: Duration = Duration::from_secs(15);
const PING: Duration = Duration::from_secs(8);

/// Whether `a` reaches `b` and `b` reaches `a` (pinging `a` first).
fn both_ways(lab: &Lab, a: &str, b: &str) -> Result<(bool, bool, Ipv6Addr, Ipv6Addr)> {
    let addr_a = lab.wait_teredo_addr(a, QUALIFY)?;
    let addr_b = lab.wait_teredo_addr(b, QUALIFY)?;
    let ab = lab.wait_ping6(a, addr_b, PING).is_ok();
    let ba = lab.wait_ping6(b, addr_a, PING).is_ok();
    Ok((ab, ba, addr_a, addr_b))
}

fn ours_with(discovery: bool, nat: Nat) -> Result<(bool, bool)> {
    let lab = Lab::up(LabOpts {
        pairs: vec![1],
        ..LabOpts::with_nats(&[nat])
    })?;
    lab.start_debian_server()?;
    let hook = ["--client-hook", "/nonexistent"];
    let mut conf = Lab::client_conf();
    if !discovery {
        conf.push_str("LocalDiscovery off\n");
    }
    let a = lab.start_ours("cl1", "our-client1", "miredo", &conf, &hook)?;
    let b = lab.start_ours("cl1b", "our-client1b", "miredo", &conf, &hook)?;
    let (ab, ba, addr_a, addr_b) = both_ways(&lab, "cl1", "cl1b")?;
    if ab && ba && discovery && nat != Nat::Hairpin {
        // The echo goes straight on the link, from cl1's own address: seen
        // on cl1b's interface while pings run (until one is seen, 10 s).
        let seen = std::sync::atomic::AtomicBool::new(false);
        let capture = std::thread::scope(|s| {
            let t = s.spawn(|| {
                let out = lab.exec(
                    "cl1b",
                    &[
                        "timeout",
                        "10",
                        "tcpdump",
                        "-ni",
                        "eth0",
                        "-c",
                        "1",
                        "--immediate-mode",
                        "udp and src host 198.18.1.10 and dst host 198.18.1.11",
                    ],
                );
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                out
            });
            while !seen.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = lab.ping6("cl1", addr_b);
            }
            t.join()
        });
        let out = capture
            .map_err(|_| anyhow::anyhow!("tcpdump thread panicked"))?
            .context("tcpdump")?;
        ensure!(
            out.status.success(),
            "no datagram from cl1 to cl1b on the link: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!(
        "ours: {addr_a} -> {addr_b}: {ab}, back: {ba}\n--- a ---\n{}\n--- b ---\n{}",
        a.log_text(),
        b.log_text()
    );
    lab.down()?;
    Ok((ab, ba))
}

fn debians_behind(nat: Nat) -> Result<(bool, bool)> {
    let lab = Lab::up(LabOpts {
        pairs: vec![1],
        ..LabOpts::with_nats(&[nat])
    })?;
    lab.start_debian_server()?;
    lab.start_debian_client(1)?;
    let conf = lab.write_conf(
        "debian-client1b.conf",
        &format!("ServerAddress {SERVER_IP}\nInterfaceName {TEREDO_IFACE}\n"),
    )?;
    let pidfile = lab.state_dir().join("run").join("debian-client1b.pid");
    lab.start(
        "cl1b",
        "debian-client1b",
        &[
            Path::new("/usr/sbin/miredo").as_os_str(),
            "-f".as_ref(),
            "-p".as_ref(),
            pidfile.as_os_str(),
            "-c".as_ref(),
            conf.as_os_str(),
        ],
    )?;
    let (ab, ba, _, _) = both_ways(&lab, "cl1", "cl1b")?;
    lab.down()?;
    Ok((ab, ba))
}

/// A→B and B→A for one pair.
type Pair = (bool, bool);

/// Debian's pair, ours, and ours with `LocalDiscovery off`, each behind its
/// own `nat` in a lab of its own, side by side.
fn three_pairs_behind(nat: Nat) -> Result<(Pair, Pair, Pair)> {
    std::thread::scope(|s| {
        let theirs = s.spawn(|| debians_behind(nat));
        let off = s.spawn(|| ours_with(false, nat));
        let ours = ours_with(true, nat);
        let theirs = theirs
            .join()
            .map_err(|_| anyhow::anyhow!("the Debian thread panicked"))?;
        let off = off
            .join()
            .map_err(|_| anyhow::anyhow!("the LocalDiscovery off thread panicked"))?;
        Ok((theirs?, ours?, off?))
    })
}

#[test]
fn two_of_our_clients_behind_one_nat_talk_on_their_link() -> Result<()> {
    // With `LocalDiscovery off`, ours cannot meet, as Debian's.
    let (theirs, ours, off) = three_pairs_behind(Nat::PortRestricted)?;
    eprintln!(
        "same NAT, same link (port-restricted, no hairpinning): Debian {}/{}, ours {}/{}, \
         ours with LocalDiscovery off {}/{}",
        theirs.0, theirs.1, ours.0, ours.1, off.0, off.1
    );
    ensure!(ours.0 && ours.1, "ours: {ours:?}");
    ensure!(
        !off.0 && !off.1,
        "LocalDiscovery off must leave the pair as Debian's: {off:?}"
    );
    Ok(())
}

/// With multicast filtered on the link (as some access points do), our
/// clients still find each other: their bubbles through the server carry
/// their link endpoints (RFC 6081's Alternate Address trailer), and the
/// server passes them on: ours does, and so does Debian's, which forwards
/// whatever follows a bubble.
fn without_multicast(our_server: bool) -> Result<()> {
    let lab = Lab::up(LabOpts {
        pairs: vec![1],
        ..LabOpts::with_nats(&[Nat::PortRestricted])
    })?;
    if our_server {
        lab.start_our_server_bound()?;
    } else {
        lab.start_debian_server()?;
    }
    for node in ["cl1", "cl1b"] {
        lab.exec_ok(
            node,
            &[
                "nft",
                "add table ip nomcast; add chain ip nomcast out { type filter hook output priority 0; }; \
                 add rule ip nomcast out ip daddr 224.0.0.0/4 counter drop",
            ],
        )?;
    }
    let hook = ["--client-hook", "/nonexistent"];
    let conf = Lab::client_conf();
    let a = lab.start_ours("cl1", "our-client1", "miredo", &conf, &hook)?;
    let b = lab.start_ours("cl1b", "our-client1b", "miredo", &conf, &hook)?;
    let (ab, ba, _, _) = both_ways(&lab, "cl1", "cl1b")?;
    let dropped = lab.exec_ok("cl1", &["nft", "list", "table", "ip", "nomcast"])?;
    ensure!(
        ab && ba,
        "ours without multicast (our server: {our_server}): {ab}/{ba}\n{dropped}\n\
         --- a ---\n{}\n--- b ---\n{}",
        a.log_text(),
        b.log_text()
    );
    ensure!(
        !dropped.contains("packets 0 "),
        "the discovery bubbles were sent and dropped: {dropped}"
    );
    lab.down()
}

#[test]
fn without_multicast_the_link_endpoints_go_through_our_server() -> Result<()> {
    without_multicast(true)
}

#[test]
fn without_multicast_the_link_endpoints_go_through_debians_server() -> Result<()> {
    without_multicast(false)
}

/// Where the NAT hairpins (loops packets to its public address back in),
/// RFC 4380 alone is enough: Debian's pair talks, and so does ours, with or
/// without local discovery.
#[test]
fn behind_a_nat_that_hairpins_every_pair_talks() -> Result<()> {
    let (theirs, ours, off) = three_pairs_behind(Nat::Hairpin)?;
    eprintln!(
        "same NAT, hairpinning: Debian {}/{}, ours {}/{}, ours with LocalDiscovery off {}/{}",
        theirs.0, theirs.1, ours.0, ours.1, off.0, off.1
    );
    ensure!(theirs.0 && theirs.1, "Debian's: {theirs:?}");
    ensure!(ours.0 && ours.1, "ours: {ours:?}");
    ensure!(off.0 && off.1, "ours, LocalDiscovery off: {off:?}");
    Ok(())
}
