//! Port prediction (`teredo::relay::prediction`, docs/nat-traversal.md#port-prediction):
//! a client behind a port-preserving symmetric NAT (lab type `preserving`),
//! or behind a sequential one (`sequential`), against each NAT type, ours ↔
//! ours (our server) and Debian ↔ Debian (Debian's server) measured side by
//! side.
//!
//! One lab per implementation: `cl1` behind the predictable NAT, and two
//! clients behind each other type — in the first set `cl1` pings first, in
//! the second the other client does, then the other way round. The cells
//! run in parallel (each pair is independent but for `cl1`, which holds one
//! side port per peer).
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure, Result};
use e2e::{Lab, LabOpts, Nat};

/// The peers' NAT types, in the order of the table.
const PEERS: [(Nat, &str); 6] = [
    (Nat::FullCone, "full cone"),
    (Nat::RestrictedCone, "restricted"),
    (Nat::PortRestricted, "port-restricted"),
    (Nat::Symmetric, "symmetric"),
    (Nat::PortPreserving, "port-preserving symmetric"),
    (Nat::Sequential, "sequential symmetric"),
];

/// Cells (peer, preserving starts) that must work both ways between ours:
/// every cone when the client behind the preserving NAT starts, and the
/// cones that admit any port of a host it wrote to when the peer starts. A
/// port-restricted peer that starts names only its keyed link-local source
/// and its mapping, so we cannot tell its server our side port; against a
/// random symmetric NAT or another preserving one, neither side can know
/// the other's port (docs/nat-traversal.md#port-prediction).
const REQUIRED: [(usize, bool); 5] = [(0, true), (1, true), (2, true), (0, false), (1, false)];

const QUALIFY: Duration = Duration::from_secs(15);
/// Per direction: a peer that reaches us first costs one more round of
/// bubbles (spaced 2 s).
const PING: Duration = Duration::from_secs(10);

/// The lab's NATs: `cl1` behind `first`, then the peers that `cl1` calls
/// first (cl2..cl7), then those that call `cl1` first (cl8..cl13).
fn lab_nats(first: Nat) -> Vec<Nat> {
    let peers = PEERS.iter().map(|(n, _)| *n);
    std::iter::once(first)
        .chain(peers.clone())
        .chain(peers)
        .collect()
}

/// (peer index, cl1 starts) → (cl1 → peer, peer → cl1), in the order pinged.
type Cells = BTreeMap<(usize, bool), (bool, bool)>;

fn clients() -> std::ops::RangeInclusive<u8> {
    1..=u8::try_from(1 + 2 * PEERS.len()).unwrap_or(u8::MAX)
}

fn measure(lab: &Lab, addrs: &[Ipv6Addr]) -> Cells {
    let reach = |from: usize, to: usize| {
        lab.wait_ping6(&format!("cl{}", from + 1), addrs[to], PING)
            .is_ok()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..PEERS.len())
            .flat_map(|p| [(p, true), (p, false)])
            .map(|(p, first)| {
                let reach = &reach;
                s.spawn(move || {
                    let peer = 1 + p + if first { 0 } else { PEERS.len() };
                    let (out, back) = if first {
                        let out = reach(0, peer);
                        (out, reach(peer, 0))
                    } else {
                        let back = reach(peer, 0);
                        (reach(0, peer), back)
                    };
                    ((p, first), (out, back))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(((usize::MAX, false), (false, false))))
            .collect()
    })
}

fn wait_addrs(lab: &Lab) -> Result<Vec<Ipv6Addr>> {
    clients()
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), QUALIFY))
        .collect()
}

fn debian_cells(first: Nat) -> Result<Cells> {
    let lab = Lab::up(LabOpts::with_nats(&lab_nats(first)))?;
    lab.start_debian_server()?;
    for n in clients() {
        lab.start_debian_client(n)?;
    }
    let addrs = wait_addrs(&lab)?;
    let cells = measure(&lab, &addrs);
    lab.down()?;
    Ok(cells)
}

/// Our cells, and `cl1`'s log.
fn our_cells(first: Nat) -> Result<(Cells, String)> {
    let lab = Lab::up(LabOpts::with_nats(&lab_nats(first)))?;
    lab.start_our_server_bound()?;
    let daemons = clients()
        .map(|n| {
            lab.start_our_client_with_hook(n, &Lab::client_conf(), Some(Path::new("/nonexistent")))
        })
        .collect::<Result<Vec<_>>>()?;
    let addrs = wait_addrs(&lab)?;
    let first = daemons.first().ok_or_else(|| anyhow!("no cl1"))?;
    // The NAT tests (about 4 s after qualifying) turn prediction on.
    lab.wait_for("cl1 to turn port prediction on", QUALIFY, || {
        Ok(first.log_text().contains("Port prediction on"))
    })
    .map_err(|e| anyhow!("{e}\ncl1's log:\n{}", first.log_text()))?;
    let cells = measure(&lab, &addrs);
    let log = first.log_text();
    lab.down()?;
    Ok((cells, log))
}

fn table(name: &str, debian: &Cells, ours: &Cells) -> String {
    let mark = |c: Option<&(bool, bool)>| match c {
        Some((a, b)) => format!(
            "{}/{}",
            if *a { "✓" } else { "✗" },
            if *b { "✓" } else { "✗" }
        ),
        None => "?".into(),
    };
    let mut s = format!(
        "| {name} ↔ | Debian, {name} starts | Debian, peer starts | ours, {name} starts | ours, peer starts |\n|---|---|---|---|---|\n",
    );
    for (p, (_, name)) in PEERS.iter().enumerate() {
        s.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            mark(debian.get(&(p, true))),
            mark(debian.get(&(p, false))),
            mark(ours.get(&(p, true))),
            mark(ours.get(&(p, false))),
        ));
    }
    s
}

/// Measures both labs side by side behind `first` and checks ours covers
/// Debian's cells and the [`REQUIRED`] ones.
fn check(first: Nat, name: &str) -> Result<()> {
    let (debian, (ours, log)) = std::thread::scope(|s| {
        let theirs = s.spawn(|| debian_cells(first));
        let ours = our_cells(first);
        let theirs = theirs
            .join()
            .map_err(|_| anyhow!("the Debian thread panicked"))?;
        Ok::<_, anyhow::Error>((theirs?, ours?))
    })?;
    eprintln!(
        "cl1 ({name}) → peer / peer → cl1:\n{}",
        table(name, &debian, &ours)
    );
    let mut missing = Vec::new();
    for (cell, (a, b)) in &debian {
        let (oa, ob) = ours.get(cell).copied().unwrap_or((false, false));
        if (*a && !oa) || (*b && !ob) {
            missing.push(format!(
                "{} ({name} starts: {}): Debian {a}/{b}, ours {oa}/{ob}",
                PEERS[cell.0].1, cell.1
            ));
        }
    }
    for (p, first) in REQUIRED {
        let (a, b) = ours.get(&(p, first)).copied().unwrap_or((false, false));
        if !(a && b) {
            missing.push(format!(
                "{} ({name} starts: {first}): ours {a}/{b}",
                PEERS[p].1
            ));
        }
    }
    ensure!(
        missing.is_empty(),
        "cells ours does not cover: {missing:#?}\ncl1's log:\n{log}"
    );
    Ok(())
}

#[test]
fn port_preserving_symmetric_nat_reaches_every_cone() -> Result<()> {
    check(Nat::PortPreserving, "preserving")
}

#[test]
fn sequential_symmetric_nat_reaches_every_cone() -> Result<()> {
    check(Nat::Sequential, "sequential")
}
