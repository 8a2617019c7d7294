//! Debian's clients behind every NAT type, with Debian's server and relay and
//! then with ours: every cell of the client-to-client matrix and every path to
//! the IPv6-only host that works with Debian's daemons must work with ours.
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Result};
use e2e::{Lab, LabOpts, Nat};

const QUALIFY: Duration = Duration::from_secs(15);

const TYPES: [Nat; 4] = [
    Nat::FullCone,
    Nat::RestrictedCone,
    Nat::PortRestricted,
    Nat::Symmetric,
];

/// (A's NAT, B's NAT) → (A→B works, B→A works), Debian clients in both slots (cl1–cl4
/// behind one NAT of each type, cl5–cl8 likewise); and, per client, whether it
/// reached the IPv6-only host through the relay.
type Matrix = (BTreeMap<(usize, usize), (bool, bool)>, Vec<bool>);

/// Debian's clients in every NAT type, with Debian's server and relay or ours.
fn debian_matrix(ours: bool) -> Result<Matrix> {
    let nats: Vec<Nat> = TYPES.iter().chain(TYPES.iter()).copied().collect();
    let lab = Lab::up(LabOpts::with_nats(&nats))?;
    if ours {
        lab.start_our_server_bound()?;
        lab.start_our_relay(&format!(
            "RelayType relay\nInterfaceName {}\n",
            e2e::TEREDO_IFACE
        ))?;
        lab.wait_for("our relay to route 2001::/32", QUALIFY, || {
            let r = lab.exec_ok("relay", &["ip", "-6", "route", "show"])?;
            Ok(r.contains("2001::/32"))
        })?;
    } else {
        lab.start_debian_server()?;
        lab.start_debian_relay()?;
    }
    for n in 1..=8u8 {
        lab.start_debian_client(n)?;
    }
    let addrs = (1..=8u8)
        .map(|n| lab.wait_teredo_addr(&format!("cl{n}"), QUALIFY))
        .collect::<Result<Vec<_>>>()?;
    let reach = |from: usize, to: usize| {
        lab.wait_ping6(
            &format!("cl{}", from + 1),
            addrs[to],
            Duration::from_secs(5),
        )
        .is_ok()
    };
    let native = (1..=8u8)
        .map(|n| {
            lab.wait_ping6(&format!("cl{n}"), e2e::TARGET_IP6, Duration::from_secs(5))
                .is_ok()
        })
        .collect();
    let mut m = BTreeMap::new();
    for a in 0..4 {
        for b in 0..4 {
            let ab = reach(a, 4 + b);
            let ba = reach(4 + b, a);
            m.insert((a, b), (ab, ba));
        }
    }
    lab.down()?;
    Ok((m, native))
}

/// Every cell of the NAT matrix that works between Debian's clients with Debian's
/// server also works with ours, and every Debian client that reaches the
/// IPv6-only host through Debian's relay also does through ours.
#[test]
fn nat_matrix_through_our_server_covers_debians() -> Result<()> {
    let (theirs, their_native) = debian_matrix(false)?;
    let (ours, our_native) = debian_matrix(true)?;
    for (n, (t, o)) in their_native.iter().zip(&our_native).enumerate() {
        ensure!(
            !t || *o,
            "Debian client {} ({:?}) reaches the IPv6 host through Debian's relay, not ours",
            n + 1,
            TYPES[n % 4]
        );
    }
    ensure!(
        our_native.iter().all(|r| *r),
        "every Debian client reaches the IPv6 host through our relay: {our_native:?}"
    );
    let mut missing = Vec::new();
    for (cell, (ab, ba)) in &theirs {
        let (oab, oba) = ours[cell];
        if (*ab && !oab) || (*ba && !oba) {
            missing.push(format!(
                "{:?}->{:?}: Debian's server {ab}/{ba}, ours {oab}/{oba}",
                TYPES[cell.0], TYPES[cell.1]
            ));
        }
    }
    eprintln!("Debian's server: {theirs:?}\nours: {ours:?}");
    ensure!(
        missing.is_empty(),
        "cells lost with our server: {missing:#?}"
    );
    Ok(())
}
