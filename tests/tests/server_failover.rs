//! Several Teredo servers in `miredo.conf` (our extension): our client moves
//! to the second server when the first is lost, and back when it returns,
//! with our server as the first and Debian's as the second.

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use e2e::{
    Lab, LabOpts, Nat, TeredoAddr, SERVER2_IP, SERVER_IP, SERVER_IP2, TARGET_IP6, TEREDO_IFACE,
};

/// The server embedded in the client's current Teredo address.
fn server_in_use(lab: &Lab) -> Result<Option<std::net::Ipv4Addr>> {
    Ok(lab
        .teredo_addr("cl1")?
        .map(|a: Ipv6Addr| TeredoAddr::from_ipv6(&a).server))
}

/// The longest time between two answered pings in `[from, to]`.
fn longest_gap(answers: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut last = from;
    let mut gap = Duration::ZERO;
    for &t in answers.iter().filter(|t| **t >= from && **t <= to) {
        gap = gap.max(t - last);
        last = t;
    }
    gap.max(to.saturating_duration_since(last))
}

#[test]
fn fails_over_to_the_second_server_and_returns_to_the_first() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    lab.start_our_server_bound()?;
    lab.start_debian_server2()?;
    lab.start_debian_relay()?;
    let conf = format!(
        "ServerAddress {SERVER_IP}\nServerAddress {SERVER2_IP}\nInterfaceName {TEREDO_IFACE}\n"
    );
    let d = lab.start_our_client_with_hook(1, &conf, Some(Path::new("/nonexistent")))?;
    lab.wait_teredo_addr("cl1", Duration::from_secs(5))
        .with_context(|| d.log_text())?;
    ensure!(
        server_in_use(&lab)? == Some(SERVER_IP),
        "qualified with the preferred server"
    );
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))?;

    // One echo at a time, all along, to see how long connectivity is lost.
    let answers = Mutex::new(Vec::<Instant>::new());
    let stop = AtomicBool::new(false);
    let (failover, returned, gaps) = std::thread::scope(|s| -> Result<_> {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if lab.ping6("cl1", TARGET_IP6).unwrap_or(false) {
                    if let Ok(mut a) = answers.lock() {
                        a.push(Instant::now());
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result = (|| -> Result<_> {
            lab.block_ips(&[SERVER_IP, SERVER_IP2])?;
            let blocked = Instant::now();
            lab.wait_for("the second server in use", Duration::from_secs(15), || {
                Ok(server_in_use(&lab)? == Some(SERVER2_IP))
            })
            .with_context(|| d.log_text())?;
            let failover = blocked.elapsed();
            lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))
                .context("IPv6 host through the second server's address")?;
            let settled = Instant::now();

            lab.unblock_server()?;
            let back = Instant::now();
            lab.wait_for(
                "the first server in use again",
                Duration::from_secs(20),
                || Ok(server_in_use(&lab)? == Some(SERVER_IP)),
            )
            .with_context(|| d.log_text())?;
            let returned = back.elapsed();
            lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))?;
            // A few answers after the return, so that its gap is measured.
            let on_first = Instant::now();
            lab.wait_for(
                "pings answered after the return",
                Duration::from_secs(10),
                || {
                    let a = answers.lock().map(|a| a.clone()).unwrap_or_default();
                    Ok(a.iter().filter(|t| **t > on_first).count() >= 5)
                },
            )?;
            let end = Instant::now();
            let a = answers.lock().map(|a| a.clone()).unwrap_or_default();
            let gaps = (
                longest_gap(&a, blocked, settled),
                longest_gap(&a, back, end),
            );
            Ok((failover, returned, gaps))
        })();
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    eprintln!(
        "fail-over: address through the second server {failover:?} after the first was \
         blocked (longest ping gap {:?}); back on the first {returned:?} after it returned \
         (longest ping gap {:?})",
        gaps.0, gaps.1
    );
    // Worst case by design: one refresh (3 s) and two missed RS of 1 s each.
    ensure!(
        failover <= Duration::from_secs(6),
        "fail-over took {failover:?}:\n{}",
        d.log_text()
    );
    // Two answered probes of the first server, one per refresh.
    ensure!(
        returned <= Duration::from_secs(8),
        "return took {returned:?}:\n{}",
        d.log_text()
    );
    // Returning changes the address but never leaves the client without one:
    // pings miss no more than a refresh's worth.
    ensure!(
        gaps.1 <= Duration::from_secs(3),
        "connectivity lost for {:?} while returning",
        gaps.1
    );
    let log = d.log_text();
    ensure!(
        log.contains(&format!("Using Teredo server {SERVER2_IP}"))
            && log.contains(&format!("Using Teredo server {SERVER_IP}")),
        "each change of server logged once:\n{log}"
    );
    lab.stop(&d)?;
    Ok(())
}
