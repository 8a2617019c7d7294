//! Client to client across the 5×5 matrix of NAT types with our daemons only:
//! our `miredo-server` in `srv`, our relay in `relay`, our clients in both
//! slots. The fifth type is a symmetric NAT that runs a port-mapping service
//! (miniupnpd: PCP, NAT-PMP and UPnP IGD, `e2e::portmap::Gateway`). Every cell
//! that works between Debian's clients (measured in the same run, with
//! Debian's server and the same gateways, which Debian's miredo never asks)
//! must work; so must the cells where a client behind a symmetric NAT
//! initiates towards a full or restricted cone, which fail between Debian's
//! clients; and so must every cell, both ways, where one of the two NATs is
//! the symmetric one with a mapping service (docs/nat-traversal.md says why,
//! and why the remaining cells cannot work).
//!
//! As in `nat_matrix.rs`, one lab holds one client behind each type in slot A
//! (cl1–cl5) and in slot B (cl6–cl10). In each cell A pings B first, then B
//! pings A (the order matters behind symmetric NATs). The 25 cells are
//! independent pairs of clients, so they run in parallel, and the two labs
//! (Debian's baseline and ours) run side by side.
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use e2e::portmap::Gateway;
use e2e::{Daemon, Lab, LabOpts, Nat, TARGET_IP6, TEREDO_IFACE};

/// The NATs of one slot, in the order of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FullCone,
    Restricted,
    PortRestricted,
    Symmetric,
    /// A symmetric NAT running miniupnpd.
    SymmetricMapping,
}

const KINDS: [Kind; 5] = [
    Kind::FullCone,
    Kind::Restricted,
    Kind::PortRestricted,
    Kind::Symmetric,
    Kind::SymmetricMapping,
];
/// NATs per slot: slot A is nat1..natN, slot B natN+1..nat2N.
const SLOT: usize = KINDS.len();

impl Kind {
    fn nat(self) -> Nat {
        match self {
            Kind::FullCone => Nat::FullCone,
            Kind::Restricted => Nat::RestrictedCone,
            Kind::PortRestricted => Nat::PortRestricted,
            Kind::Symmetric | Kind::SymmetricMapping => Nat::Symmetric,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::FullCone => "full cone",
            Kind::Restricted => "restricted",
            Kind::PortRestricted => "port-restricted",
            Kind::Symmetric => "symmetric",
            Kind::SymmetricMapping => "symmetric + mapping",
        }
    }
}

const QUALIFY: Duration = Duration::from_secs(15);
/// From qualification to the mapping granted: the NAT tests, then PCP.
const MAPPED: Duration = Duration::from_secs(15);
/// Per direction. A symmetric-NAT client initiating needs a second round of
/// bubbles (spaced > 2 s) behind a restricted cone.
const PING: Duration = Duration::from_secs(8);

/// (A's NAT, B's NAT) → (A→B works, B→A works).
type Matrix = BTreeMap<(usize, usize), (bool, bool)>;

/// Cells (A's NAT, B's NAT) that fail between Debian's clients and must work
/// between ours, both directions (besides the mapping row and column).
const PROMISED: [(Kind, Kind); 2] = [
    (Kind::Symmetric, Kind::FullCone),
    (Kind::Symmetric, Kind::Restricted),
];

fn idx(k: Kind) -> usize {
    KINDS.iter().position(|t| *t == k).unwrap_or(usize::MAX)
}

/// Both slots' NATs: nat1..nat5, then nat6..nat10.
fn lab_nats() -> Vec<Nat> {
    KINDS.iter().chain(KINDS.iter()).map(|k| k.nat()).collect()
}

/// The clients (1-based) whose NAT runs a mapping service.
fn mapped_clients() -> Vec<u8> {
    (0..2 * SLOT)
        .filter(|i| KINDS[i % SLOT] == Kind::SymmetricMapping)
        .filter_map(|i| u8::try_from(i + 1).ok())
        .collect()
}

fn clients() -> std::ops::RangeInclusive<u8> {
    1..=u8::try_from(2 * SLOT).unwrap_or(u8::MAX)
}

/// miniupnpd in the NATs of [`mapped_clients`].
fn start_gateways(lab: &Lab) -> Result<Vec<(u8, Gateway)>> {
    mapped_clients()
        .into_iter()
        .map(|n| Ok((n, Gateway::start(lab, n)?)))
        .collect()
}

/// Pings every pair (A→B, then B→A), the 25 pairs in parallel.
fn measure(lab: &Lab, addrs: &[Ipv6Addr]) -> Matrix {
    let reach = |from: usize, to: usize| {
        lab.wait_ping6(&format!("cl{}", from + 1), addrs[to], PING)
            .is_ok()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..SLOT)
            .flat_map(|a| (0..SLOT).map(move |b| (a, b)))
            .map(|(a, b)| {
                let reach = &reach;
                s.spawn(move || {
                    let ab = reach(a, SLOT + b);
                    let ba = reach(SLOT + b, a);
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
    clients()
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), QUALIFY))
        .collect()
}

/// Debian's server and clients in both slots (the gateways run, unasked).
fn debian_matrix() -> Result<Matrix> {
    let lab = Lab::up(LabOpts::with_nats(&lab_nats()))?;
    let gateways = start_gateways(&lab)?;
    lab.start_debian_server()?;
    for n in clients() {
        lab.start_debian_client(n)?;
    }
    let addrs = wait_all_addrs(&lab)?;
    let m = measure(&lab, &addrs);
    for (n, gw) in &gateways {
        let rules = gw.udp_mappings()?;
        ensure!(
            rules.is_empty(),
            "Debian's client {n} has a mapping on its NAT? {rules:?}"
        );
    }
    drop(gateways);
    lab.down()?;
    Ok(m)
}

/// Waits until the client behind each gateway holds its mapping, so that the
/// cells measure the NAT with the mapping, not before it.
fn wait_mappings(lab: &Lab, clients: &[Daemon], gateways: &[(u8, Gateway)]) -> Result<()> {
    for (n, gw) in gateways {
        let c = &clients[usize::from(*n) - 1];
        lab.wait_for(&format!("cl{n}'s mapping on its NAT"), MAPPED, || {
            Ok(c.log_text().contains("Port mapping on the NAT: "))
        })
        .with_context(|| format!("{}\nminiupnpd:\n{}", c.log_text(), gw.log_text()))?;
        let rules = gw.udp_mappings()?;
        ensure!(rules.len() == 1, "cl{n}: one mapping on its NAT: {rules:?}");
    }
    Ok(())
}

/// Our server, relay and clients; also whether each client reaches the
/// IPv6-only host through our relay.
fn our_matrix() -> Result<(Matrix, Vec<bool>)> {
    let lab = Lab::up(LabOpts::with_nats(&lab_nats()))?;
    let gateways = start_gateways(&lab)?;
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
    let daemons = clients()
        // No hook: the daemon configures the interface itself.
        .map(|n| {
            lab.start_our_client_with_hook(n, &Lab::client_conf(), Some(Path::new("/nonexistent")))
        })
        .collect::<Result<Vec<_>>>()?;
    let addrs = wait_all_addrs(&lab)?;
    wait_mappings(&lab, &daemons, &gateways)?;
    let m = measure(&lab, &addrs);
    let native = std::thread::scope(|s| {
        let handles: Vec<_> = clients()
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
    drop(gateways);
    lab.down()?;
    Ok((m, native))
}

/// The matrix as a Markdown table (rows: A's NAT), as in docs/nat-traversal.md.
fn table(m: &Matrix) -> String {
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let mut s = String::from("| A \\ B |");
    for k in KINDS {
        s.push_str(&format!(" {} |", k.name()));
    }
    s.push_str(&format!("\n|{}\n", "---|".repeat(SLOT + 1)));
    for (a, ka) in KINDS.iter().enumerate() {
        s.push_str(&format!("| {} |", ka.name()));
        for b in 0..SLOT {
            let (ab, ba) = m.get(&(a, b)).copied().unwrap_or((false, false));
            s.push_str(&format!(" {}/{} |", mark(ab), mark(ba)));
        }
        s.push('\n');
    }
    s
}

/// The cells that must work both ways between our clients whatever Debian's
/// do: the promised ones, and the row and column of the NAT with a mapping
/// service.
fn required() -> Vec<(usize, usize, &'static str)> {
    let mut cells: Vec<_> = PROMISED
        .iter()
        .map(|(a, b)| (idx(*a), idx(*b), "promised beyond miredo"))
        .collect();
    let m = idx(Kind::SymmetricMapping);
    for k in 0..SLOT {
        cells.push((m, k, "one NAT offers a mapping"));
        if k != m {
            cells.push((k, m, "one NAT offers a mapping"));
        }
    }
    cells
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
         our clients -> IPv6-only host through our relay (cl1..cl{}): {native:?}",
        table(&baseline),
        table(&ours),
        2 * SLOT
    );
    let cell_name = |(a, b): (usize, usize)| format!("{}->{}", KINDS[a].name(), KINDS[b].name());
    let mut missing = Vec::new();
    for (cell, (ab, ba)) in &baseline {
        let (oab, oba) = ours.get(cell).copied().unwrap_or((false, false));
        if (*ab && !oab) || (*ba && !oba) {
            missing.push(format!(
                "{}: Debian {ab}/{ba}, ours {oab}/{oba}",
                cell_name(*cell)
            ));
        }
    }
    for (a, b, why) in required() {
        let (ab, ba) = ours.get(&(a, b)).copied().unwrap_or((false, false));
        if !(ab && ba) {
            missing.push(format!("{} ({why}): ours {ab}/{ba}", cell_name((a, b))));
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
            .map(|(i, _)| format!("cl{} ({})", i + 1, KINDS[i % SLOT].name()))
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
    for (n, kind) in [(2usize, Kind::FullCone), (3, Kind::Restricted)] {
        lab.wait_ping6("cl1", addrs[n - 1], PING)
            .with_context(|| format!("Debian (symmetric) -> ours ({})", kind.name()))?;
    }
    lab.down()
}
