//! Client-to-client across the 4×4 matrix of NAT types: every cell that works
//! between two Debian clients must work between ours and a Debian client.
//!
//! One lab holds eight NATs (each type twice). Slot A (cl1–cl4) and slot B
//! (cl5–cl8) each have one client behind each type; A pings B first, then B
//! pings A (the order matters behind symmetric NATs). The baseline lab runs
//! Debian's client in both slots; the test lab runs ours in slot A.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use e2e::{Lab, LabOpts, Nat};

const TYPES: [Nat; 4] = [
    Nat::FullCone,
    Nat::RestrictedCone,
    Nat::PortRestricted,
    Nat::Symmetric,
];

/// (A's NAT, B's NAT) → (A→B works, B→A works).
type Matrix = BTreeMap<(usize, usize), (bool, bool)>;

fn run_matrix(ours_in_a: bool) -> Result<Matrix> {
    let nats: Vec<Nat> = TYPES.iter().chain(TYPES.iter()).copied().collect();
    let lab = Lab::up(LabOpts::with_nats(&nats))?;
    lab.start_debian_server()?;
    let mut daemons = Vec::new();
    for n in 1..=8u8 {
        let d = if n <= 4 && ours_in_a {
            lab.start_our_client_with_hook(n, &Lab::client_conf(), Some(Path::new("/nonexistent")))?
        } else {
            lab.start_debian_client(n)?
        };
        daemons.push(d);
    }
    let mut addrs = Vec::new();
    for n in 1..=8u8 {
        addrs.push(lab.wait_teredo_addr(&format!("cl{n}"), Duration::from_secs(10))?);
    }
    let mut m = Matrix::new();
    let reach = |from: usize, to: usize| -> bool {
        lab.wait_ping6(
            &format!("cl{}", from + 1),
            addrs[to],
            Duration::from_secs(5),
        )
        .is_ok()
    };
    for a in 0..4 {
        for b in 0..4 {
            let ab = reach(a, 4 + b);
            let ba = reach(4 + b, a);
            m.insert((a, b), (ab, ba));
        }
    }
    Ok(m)
}

fn show(m: &Matrix) -> String {
    m.iter()
        .map(|((a, b), (ab, ba))| format!("{:?}->{:?}: {ab}/{ba}", TYPES[*a], TYPES[*b]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ours_works_wherever_debian_works_across_nat_types() -> Result<()> {
    let baseline = run_matrix(false)?;
    let ours = run_matrix(true)?;
    eprintln!(
        "Debian<->Debian:\n{}\n\nours<->Debian:\n{}",
        show(&baseline),
        show(&ours)
    );
    let mut missing = Vec::new();
    for (cell, (ab, ba)) in &baseline {
        let (oab, oba) = ours[cell];
        if (*ab && !oab) || (*ba && !oba) {
            missing.push(format!("{:?}->{:?}", TYPES[cell.0], TYPES[cell.1]));
        }
    }
    assert!(
        missing.is_empty(),
        "cells that work between Debian clients but not with ours: {missing:?}"
    );
    // The cone cells work at all (the matrix is not trivially empty).
    assert!(
        baseline[&(0, 0)].0 && ours[&(0, 0)].0,
        "full cone <-> full cone must work"
    );
    Ok(())
}
