//! mip6d as home agent and mobile node on a kernel with the Mobile IPv6 datapath:
//! the VM of `scripts/vm.sh` (docs/vm.md) runs `scripts/vm/mip6d-*.sh` on the lab of
//! `scripts/vm/guest-lib.sh` (home link with the HA and radvd, foreign links A and B,
//! a correspondent on link C).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use e2e::{repo_root, require_root};

/// Builds the daemon the guest runs (the guest sees the host's target directory).
fn build_mip6d() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "-p", "mip6d", "--bins"])
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(
        out.status.success(),
        "cargo build -p mip6d failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs `script` in the VM and checks that every line of `expected` begins a
/// line of its output; returns the output.
fn run_guest(script: &str, expected: &[&str]) -> Result<String> {
    require_root()?;
    build_mip6d()?;
    let vm = repo_root().join("scripts/vm.sh");
    let started = Instant::now();
    let out = Command::new(&vm)
        .args(["run", script])
        .env("VM_TIMEOUT", "240")
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {}", vm.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let transcript = format!(
        "exit status {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "vm.sh run {script} took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    ensure!(
        out.status.code() == Some(0),
        "{script} failed (124 is vm.sh's time-out, 125 a guest that did not boot):\n{transcript}"
    );
    for line in expected {
        ensure!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no line starting {line:?} in the guest's output:\n{transcript}"
        );
    }
    for l in stdout.lines().filter(|l| l.starts_with("mip6d: ok")) {
        eprintln!("{l}");
    }
    Ok(stdout)
}

/// Home registration from foreign link A (BA status 0 at both ends, tunnels,
/// home address, proxy entry, the CN's ping answered), clean SIGTERM on both
/// nodes (kernel dumps equal to those before start), then (state on D-Bus, read
/// with mip6ctl) a move to link B with a running ping, and the return home (deregistration, proxy entries gone).
#[test]
fn vm_mip6d_register_move_return_home() -> Result<()> {
    run_guest(
        "scripts/vm/mip6d-home-reg.sh",
        &[
            "mip6d: ok lab up, MN on link A",
            "mip6d: ok mip6d[",
            "mip6d: ok tunnels, home address, proxy entry and routes installed",
            "mip6d: ok ping from the CN to the home address answered",
            "mip6d: ok after SIGTERM the kernel state of MN and HA equals the state before start",
            "mip6d: ok D-Bus: mip6ctl shows the MN registered with its CoA on eth-a and the HA's binding",
            "mip6d: ok ping kept working across the move to link B",
            "mip6d: ok returned home: deregistered, proxy entries gone",
            "mip6d: ok the router's neighbour entry for the home address is the MN's MAC again",
            "mip6d: ok ping from the CN to the home address answered at home",
            "mip6d: ok home agent state restored after SIGTERM",
            "mip6d: all checks passed",
        ],
    )?;
    Ok(())
}

/// The home agent's refusals (129 for an ACL deny, 132 for a home address outside
/// its prefixes, 135 for an old sequence number), and a `Tunnel enabled` interface
/// whose address a script sets: it becomes the CoA in MnIfPreference order, the MN
/// goes back to eth-a when the address goes, and never solicits a router on it.
#[test]
fn vm_mip6d_ha_status_codes_and_tunnel_interface() -> Result<()> {
    run_guest(
        "scripts/vm/mip6d-status-tunnel.sh",
        &[
            "mip6d: ok lab up, MN on the home link",
            "mip6d: ok mip6d[",
            "mip6d: ok a binding left unrefreshed expired after its 8 s lifetime; its proxy entry went",
            "mip6d: ok SIGHUP reloads the configuration",
            "mip6d: ok registered through eth-a while tnl0 has no address",
            "mip6d: ok the Tunnel interface's default route got metric 996",
            "mip6d: ok the Tunnel interface's scripted address became the CoA",
            "mip6d: ok ping from the CN to the home address through tnl0",
            "mip6d: ok back to eth-a when the Tunnel interface's address was removed",
            "mip6d: ok no Router Solicitation on the Tunnel interface",
            "mip6d: all checks passed",
        ],
    )
    .and_then(|out| {
        for status in ["status 129 ", "status 132 ", "status 135 "] {
            ensure!(
                out.lines()
                    .any(|l| l.starts_with("mip6d: ok") && l.contains(status)),
                "no refusal with {status}in:\n{out}"
            );
        }
        Ok(())
    })
}
