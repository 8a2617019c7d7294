//! The seed scenario (issue 4, `../shared/seed/umip-miredo-howto.txt`) end to end in the
//! VM of `scripts/vm.sh` (docs/vm.md): a mobile node with `eth0`, `wlan0` and a
//! `teredo` interface marked `Tunnel enabled`, miredo giving the Teredo care-of address
//! on IPv4-only networks behind NATs, our home agent, a correspondent pinging the home
//! address. The lab is `scripts/vm/seed-lib.sh`, the steps `scripts/vm/seed-scenario.sh`.
//!
//! Needs root and `scripts/deps.sh` (plus Debian's miredo and miredo-server, nftables,
//! dbus); fails, never skips, without them.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use e2e::{repo_root, require_root};

/// Builds the binaries the guest runs (it sees the host's target directory), once per
/// test process.
fn build_daemons() -> Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(&cargo)
                .args(["build", "-p", "miredo", "-p", "mip6d", "--bins"])
                .current_dir(repo_root())
                .output()
                .map_err(|e| format!("cannot run {cargo}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "cargo build -p miredo -p mip6d failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Runs `seed-scenario.sh IMPL` in the VM and checks that every line of `expected`
/// begins a line of its output; returns the output.
fn run_seed(args: &[&str], expected: &[&str]) -> Result<String> {
    require_root()?;
    build_daemons()?;
    let vm = repo_root().join("scripts/vm.sh");
    let started = Instant::now();
    let out = Command::new(&vm)
        .args(["run", "scripts/vm/seed-scenario.sh"])
        .args(args)
        // About 1 min (ours) and 1.5 min (Debian's, whose refresh is 30 s) on an idle
        // machine; the rest is room for a loaded CI machine under TCG.
        .env("VM_TIMEOUT", "420")
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
        "vm.sh run seed-scenario.sh {} took {:.1}s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    ensure!(
        out.status.code() == Some(0),
        "seed-scenario.sh {} failed (124 is vm.sh's time-out, 125 a guest that did not \
         boot):\n{transcript}",
        args.join(" ")
    );
    for line in expected {
        ensure!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no line starting {line:?} in the guest's output:\n{transcript}"
        );
    }
    for l in stdout.lines().filter(|l| l.starts_with("seed: ")) {
        eprintln!("{l}");
    }
    Ok(stdout)
}

/// Our miredo and our mip6d on one bus: native IPv6 → IPv4-only network (Teredo CoA
/// registered, BA status 0, CN→HoA ping through the tunnel); IPv4 network change (new
/// Teredo address, new BU/BA, ping keeps flowing); back on native IPv6 (eth0 preferred,
/// the Teredo binding replaced); Teredo server lost (miredo down, no CoA) and back
/// (re-registered); busctl's view of both daemons agrees with `ip` at every step. The
/// Teredo server and relay have `InterfaceMTU 1400`, so 1280-byte packets to and from
/// the home address cross the 40-byte home tunnel (docs/mobile-ipv6-over-teredo.md).
#[test]
fn vm_seed_ours_native_to_teredo_network_change_back_and_server_loss() -> Result<()> {
    run_seed(
        &["ours", "1400"],
        &[
            "seed: ok lab up",
            "seed: ok registered from link A: mip6d registered, CoA 2001:db8:a:",
            "seed: ok 1. eth0 lost, wlan0 198.18.1.",
            "seed: ok 1. CN -> HoA ping answered through the tunnel over Teredo",
            "seed: ok 1. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: ok 1. mip6ctl status: care-of address 2001:0:c000:201:",
            "seed: ok Teredo MTU 1400 (server and relay InterfaceMTU): mtu 1400",
            "seed: mtu cn-to-hoa inner 1280 bytes (ping -s 1232): ",
            "seed: mtu hoa-to-cn inner 1280 bytes (ping -s 1232): ",
            "seed: ok 2. wlan0 198.18.2.",
            "seed: ok 2. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: ok 3. eth0 back on link A: eth0 preferred, Teredo binding replaced",
            "seed: ok 4. eth0 lost again: on Teredo",
            "seed: ok 4. server blocked: miredo not up",
            "seed: ok 4. server back: Teredo 2001:0:c000:201:",
            "seed: all checks passed (ours)",
        ],
    )?;
    Ok(())
}

/// Debian's miredo (netlink only, no D-Bus) in place of ours: the MN still moves from
/// native IPv6 to its Teredo CoA, and follows an IPv4 network change once that miredo's
/// 30 s refresh notices it. The MTU as in the seed how-to: the server advertises 1280,
/// a client hook sets 1400 on `teredo` and the relay accepts 1400, so 1280-byte packets
/// to and from the home address cross the home tunnel.
#[test]
fn vm_seed_debian_miredo_native_to_teredo_and_network_change() -> Result<()> {
    run_seed(
        &["debian", "hook:1400"],
        &[
            "seed: ok lab up",
            "seed: ok Debian's miredo qualified on network 1",
            "seed: ok registered from link A: mip6d registered, CoA 2001:db8:a:",
            "seed: ok 1. eth0 lost, wlan0 198.18.1.",
            "seed: ok 1. CN -> HoA ping answered through the tunnel over Teredo",
            "seed: ok Teredo MTU 1400 from the client hook (relay InterfaceMTU 1400",
            "seed: mtu cn-to-hoa inner 1280 bytes (ping -s 1232): ",
            "seed: mtu hoa-to-cn inner 1280 bytes (ping -s 1232): ",
            "seed: ok 2. wlan0 198.18.2.",
            "seed: ok 2. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: all checks passed (debian)",
        ],
    )?;
    Ok(())
}
