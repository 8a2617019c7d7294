//! Client to client across the 4×4 matrix of NAT types with our daemons only:
//! our `miredo-server` in `srv`, our relay in `relay`, our clients in both
//! slots. Every cell that works between Debian's clients (measured in the
//! same run, with Debian's server) must work, and so must the cells where a
//! client behind a symmetric NAT initiates towards a full or restricted cone:
//! those fail between Debian's clients and work between ours
//! (docs/nat-traversal.md says why, and why the others cannot).
//!
//! As in `nat_matrix.rs`, one lab holds eight NATs: slot A (cl1–cl4) and slot
//! B (cl5–cl8) have one client behind each type. In each cell A pings B first,
//! then B pings A (the order matters behind symmetric NATs). The 16 cells are
//! independent pairs of clients, so they run in parallel, and the two labs
//! (Debian's baseline and ours) run side by side.
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use e2e::{Lab, LabOpts, Nat, TARGET_IP6, TEREDO_IFACE};

const TYPES: [Nat; 4] = [
    Nat::FullCone,
    Nat::RestrictedCone,
    Nat::PortRestricted,
    Nat::Symmetric,
];
const QUALIFY: Duration = Duration::from_secs(15);
/// Per direction. A symmetric-NAT client initiating needs a second round of
/// bubbles (spaced > 2 s) behind a restricted cone.
const PING: Duration = Duration::from_secs(8);

/// (A's NAT, B's NAT) → (A→B works, B→A works).
type Matrix = BTreeMap<(usize, usize), (bool, bool)>;

/// Cells (A's NAT, B's NAT) that fail between Debian's clients and must work
/// between ours, both directions.
const PROMISED: [(Nat, Nat); 2] = [
    (Nat::Symmetric, Nat::FullCone),
    (Nat::Symmetric, Nat::RestrictedCone),
];

fn idx(n: Nat) -> usize {
    TYPES.iter().position(|t| *t == n).unwrap_or(usize::MAX)
}

fn eight_nats() -> Vec<Nat> {
    TYPES.iter().chain(TYPES.iter()).copied().collect()
}

/// Pings every pair (A→B, then B→A), the 16 pairs in parallel.
fn measure(lab: &Lab, addrs: &[Ipv6Addr]) -> Matrix {
    let reach = |from: usize, to: usize| {
        lab.wait_ping6(&format!("cl{}", from + 1), addrs[to], PING)
            .is_ok()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .flat_map(|a| (0..4).map(move |b| (a, b)))
            .map(|(a, b)| {
                let reach = &reach;
                s.spawn(move || {
                    let ab = reach(a, 4 + b);
                    let ba = reach(4 + b, a);
                    ((a, b), (ab, ba))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(((usize::MAX, usize::MAX), (false, false)))
            })
            .collect()
    })
}

fn wait_all_addrs(lab: &Lab) -> Result<Vec<Ipv6Addr>> {
    (1..=8u8)
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), QUALIFY))
        .collect()
}

/// Debian's server and clients in both slots.
fn debian_matrix() -> Result<Matrix> {
    let lab = Lab::up(LabOpts::with_nats(&eight_nats()))?;
    lab.start_debian_server()?;
    for n in 1..=8u8 {
        lab.start_debian_client(n)?;
    }
    let addrs = wait_all_addrs(&lab)?;
    let m = measure(&lab, &addrs);
    lab.down()?;
    Ok(m)
}

/// Our server, relay and clients; also whether each client reaches the
/// IPv6-only host through our relay.
fn our_matrix() -> Result<(Matrix, Vec<bool>)> {
    let lab = Lab::up(LabOpts::with_nats(&eight_nats()))?;
    lab.start_our_server_bound()?;
    let relay = lab.start_our_relay(&format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\n"))?;
    lab.wait_for(
        "our relay to route 2001::/32",
        Duration::from_secs(5),
        || {
            let routes =
                lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
            Ok(routes.contains("2001::/32"))
        },
    )
    .with_context(|| relay.log_text())?;
    for n in 1..=8u8 {
        // No hook: the daemon configures the interface itself.
        lab.start_our_client_with_hook(n, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    }
    let addrs = wait_all_addrs(&lab)?;
    let m = measure(&lab, &addrs);
    let native = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=8u8)
            .map(|n| {
                let lab = &lab;
                s.spawn(move || lab.wait_ping6(&format!("cl{n}"), TARGET_IP6, PING).is_ok())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    lab.down()?;
    Ok((m, native))
}

fn name(n: Nat) -> &'static str {
    match n {
        Nat::FullCone => "full cone",
        Nat::RestrictedCone => "restricted",
        Nat::PortRestricted => "port-restricted",
        Nat::Symmetric => "symmetric",
        Nat::None => "none",
    }
}

/// The matrix as the Markdown table of docs/compat.md (rows: A's NAT).
fn table(m: &Matrix) -> String {
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let mut s = String::from("| A \\ B | full cone | restricted | port-restricted | symmetric |\n");
    s.push_str("|---|---|---|---|---|\n");
    for (a, ta) in TYPES.iter().enumerate() {
        s.push_str(&format!("| {} |", name(*ta)));
        for b in 0..4 {
            let (ab, ba) = m.get(&(a, b)).copied().unwrap_or((false, false));
            s.push_str(&format!(" {}/{} |", mark(ab), mark(ba)));
        }
        s.push('\n');
    }
    s
}

#[test]
fn our_clients_server_and_relay_cover_debians_matrix_and_more() -> Result<()> {
    let (baseline, ours) = std::thread::scope(|s| {
        let theirs = s.spawn(debian_matrix);
        let ours = our_matrix();
        let theirs = theirs
            .join()
            .map_err(|_| anyhow!("the Debian matrix thread panicked"))?;
        Ok::<_, anyhow::Error>((theirs?, ours?))
    })?;
    let (ours, native) = ours;
    eprintln!(
        "Debian<->Debian (Debian's server):\n{}\nours<->ours (our server and relay):\n{}\n\
         our clients -> IPv6-only host through our relay (cl1..cl8): {native:?}",
        table(&baseline),
        table(&ours)
    );
    let mut missing = Vec::new();
    for (cell, (ab, ba)) in &baseline {
        let (oab, oba) = ours.get(cell).copied().unwrap_or((false, false));
        if (*ab && !oab) || (*ba && !oba) {
            missing.push(format!(
                "{}->{}: Debian {ab}/{ba}, ours {oab}/{oba}",
                name(TYPES[cell.0]),
                name(TYPES[cell.1])
            ));
        }
    }
    for (a, b) in PROMISED {
        let (ab, ba) = ours
            .get(&(idx(a), idx(b)))
            .copied()
            .unwrap_or((false, false));
        if !(ab && ba) {
            missing.push(format!(
                "{}->{} (promised beyond miredo): ours {ab}/{ba}",
                name(a),
                name(b)
            ));
        }
    }
    ensure!(
        missing.is_empty(),
        "cells our daemons do not cover: {missing:#?}"
    );
    ensure!(
        baseline.get(&(0, 0)).is_some_and(|c| c.0),
        "full cone <-> full cone must work between Debian's clients"
    );
    ensure!(
        native.iter().all(|ok| *ok),
        "our clients that did not reach the IPv6-only host through our relay: {:?}",
        native
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .map(|(i, _)| format!("cl{} ({})", i + 1, name(TYPES[i % 4])))
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// Debian's client behind a symmetric NAT needs no change to initiate towards
/// ours behind a full or restricted cone: our clients answer its direct bubble
/// and bubble its address before trusting the port it really sends from.
#[test]
fn debian_client_behind_symmetric_nat_initiates_towards_ours() -> Result<()> {
    let nats = [Nat::Symmetric, Nat::FullCone, Nat::RestrictedCone];
    let lab = Lab::up(LabOpts::with_nats(&nats))?;
    lab.start_our_server_bound()?;
    lab.start_debian_client(1)?;
    for n in 2..=3u8 {
        lab.start_our_client_with_hook(n, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    }
    let addrs = (1..=3u8)
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), QUALIFY))
        .collect::<Result<Vec<_>>>()?;
    for (n, nat) in [(2usize, Nat::FullCone), (3, Nat::RestrictedCone)] {
        lab.wait_ping6("cl1", addrs[n - 1], PING)
            .with_context(|| format!("Debian (symmetric) -> ours ({})", name(nat)))?;
    }
    lab.down()
}
