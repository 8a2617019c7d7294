//! The NAT tests our client runs after qualifying (RFC 4380 §5.2.1: cone and
//! symmetric), behind each of the lab's NATs, with Debian's server and with
//! ours: the log names the type once.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{Lab, LabOpts, Nat};

const NATS: [(Nat, &str); 5] = [
    (Nat::FullCone, "cone"),
    (Nat::RestrictedCone, "restricted"),
    (Nat::PortRestricted, "restricted"),
    (Nat::Symmetric, "symmetric"),
    (Nat::None, "none"),
];

fn check(ours_server: bool) -> Result<()> {
    let nats: Vec<Nat> = NATS.iter().map(|(n, _)| *n).collect();
    let lab = Lab::up(LabOpts::with_nats(&nats))?;
    if ours_server {
        lab.start_our_server_bound()?;
    } else {
        lab.start_debian_server()?;
    }
    let mut clients = Vec::new();
    for n in 1..=NATS.len() {
        let n = u8::try_from(n)?;
        clients.push(lab.start_our_client(n, &Lab::client_conf())?);
    }
    for (i, ((nat, want), d)) in NATS.iter().zip(&clients).enumerate() {
        let node = format!("cl{}", i + 1);
        lab.wait_teredo_addr(&node, Duration::from_secs(10))
            .with_context(|| d.log_text())?;
        if *want == "none" {
            // No NAT: said at qualification, no test needed to say it.
            continue;
        }
        let line = format!("NAT type: {want} ");
        lab.wait_for(
            &format!("{nat:?}: {line:?}"),
            Duration::from_secs(10),
            || Ok(d.log_text().contains(&line)),
        )
        .with_context(|| d.log_text())?;
        ensure!(
            d.log_text().matches("NAT type: ").count() == 1,
            "{nat:?}: logged once:\n{}",
            d.log_text()
        );
    }
    lab.down()
}

#[test]
fn each_nat_is_named_behind_debians_server() -> Result<()> {
    check(false)
}

#[test]
fn each_nat_is_named_behind_our_server() -> Result<()> {
    check(true)
}
