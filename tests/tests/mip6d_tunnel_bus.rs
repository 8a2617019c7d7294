//! mip6d's side of the D-Bus contract (docs/dbus.md): the watcher a mobile node runs
//! for its `Tunnel enabled` interfaces hears our miredo's `AddressChanged` on a
//! private system bus, in the host lab (no MIPv6 kernel needed for this part):
//! `up` with the Teredo address, `down` when the Teredo server is lost (the State
//! property first, then the hook's AddressChanged), and again
//! after a restart of the bus (miredo reconnects and publishes again) and of
//! miredo.

use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use e2e::{Lab, LabOpts, Nat};
use mip6d::mn::tunnel_bus::{watch, TunnelNotice, TunnelState};
use tokio::sync::mpsc::Receiver;

/// Waits (bounded) for the next notice that satisfies `want`, skipping others.
fn next_notice(
    rt: &tokio::runtime::Runtime,
    rx: &mut Receiver<TunnelNotice>,
    what: &str,
    timeout: Duration,
    want: impl Fn(&TunnelNotice) -> bool,
) -> Result<TunnelNotice> {
    rt.block_on(async {
        tokio::time::timeout(timeout, async {
            while let Some(n) = rx.recv().await {
                if want(&n) {
                    return Ok(n);
                }
                eprintln!("(skipped notice {n:?} while waiting for {what})");
            }
            Err(anyhow!("the watcher stopped while waiting for {what}"))
        })
        .await
        .map_err(|_| anyhow!("no notice {what} within {timeout:?}"))?
    })
}

fn start_miredo(lab: &Lab, bus: &str, name: &str) -> Result<e2e::Daemon> {
    lab.start_ours_on_bus(
        "cl1",
        name,
        "miredo",
        &Lab::client_conf(),
        &["--client-hook", "/nonexistent"],
        Some(&without_guid(bus)),
    )
}

/// The bus address without its guid, as a real system bus address is: the
/// guid changes when dbus-daemon restarts.
fn without_guid(address: &str) -> String {
    address.split(",guid=").next().unwrap_or(address).to_owned()
}

#[test]
fn watcher_follows_miredo_across_server_loss_and_bus_and_daemon_restarts() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    lab.start_debian_server()?;
    lab.start_debian_relay()?;
    let bus = lab.dbus_up()?;
    // The watcher reads DBUS_SYSTEM_BUS_ADDRESS, as mip6d does; this is the
    // only test of this binary, so setting it is safe.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", without_guid(&bus));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // "teredo" is watched, "other0" too (nothing comes for it); the watcher
    // starts before miredo, as at boot.
    let mut rx = rt.block_on(async { watch(vec!["teredo".into(), "other0".into()]) });

    let d = start_miredo(&lab, &bus, "bus-client")?;
    let addr = lab
        .wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| format!("miredo did not qualify; log:\n{}", d.log_text()))?;
    let up = next_notice(&rt, &mut rx, "up", Duration::from_secs(10), |n| {
        matches!(n.state, TunnelState::Up(_))
    })?;
    ensure!(up.interface == "teredo", "notice for {}", up.interface);
    ensure!(
        up.state == TunnelState::Up(addr),
        "{up:?}, kernel has {addr}"
    );
    // (From the signal or, if the watcher connected after miredo qualified,
    // from the properties read at connection.)
    ensure!(up.mtu == 1280, "{up:?}");

    lab.block_server()?;
    // First the State property (no MTU), published before the hook removes the
    // address, then the hook's AddressChanged.
    let down = next_notice(&rt, &mut rx, "down", Duration::from_secs(40), |n| {
        n.state == TunnelState::Down
    })?;
    ensure!(
        down.signal && down.interface == "teredo" && down.mtu == 0,
        "{down:?}"
    );
    let hook_down = next_notice(
        &rt,
        &mut rx,
        "the hook's down",
        Duration::from_secs(5),
        |n| n.state == TunnelState::Down,
    )?;
    ensure!(hook_down.mtu == 1280, "{hook_down:?}");
    lab.unblock_server()?;
    let back = next_notice(
        &rt,
        &mut rx,
        "up after the server's return",
        Duration::from_secs(40),
        |n| n.state == TunnelState::Up(addr),
    )?;
    ensure!(back.signal, "{back:?}");

    // The bus goes away and comes back at the same socket. miredo's next
    // publication fails, so it reconnects and publishes again: the server's
    // loss reaches the reconnected watcher.
    lab.dbus_down()?;
    lab.dbus_up()?;
    lab.block_server()?;
    next_notice(
        &rt,
        &mut rx,
        "down after the bus restart",
        Duration::from_secs(40),
        |n| n.state == TunnelState::Down,
    )
    .with_context(|| format!("miredo's log:\n{}", d.log_text()))?;
    lab.unblock_server()?;
    next_notice(
        &rt,
        &mut rx,
        "up after the bus restart",
        Duration::from_secs(40),
        |n| n.state == TunnelState::Up(addr) && n.signal,
    )?;

    // miredo restarts: the watcher hears of its new instance (by its signal,
    // or by the properties it reads if it reconnected after miredo qualified).
    lab.stop(&d)?;
    next_notice(
        &rt,
        &mut rx,
        "down at miredo's exit",
        Duration::from_secs(10),
        |n| n.state == TunnelState::Down,
    )?;
    let bus = lab.dbus_address().context("no bus")?;
    let d = start_miredo(&lab, &bus, "bus-client-2")?;
    let again = next_notice(
        &rt,
        &mut rx,
        "up after the restart",
        Duration::from_secs(20),
        |n| matches!(n.state, TunnelState::Up(_)),
    )
    .with_context(|| format!("miredo's log:\n{}", d.log_text()))?;
    ensure!(again.interface == "teredo", "{again:?}");
    lab.stop(&d)?;
    next_notice(
        &rt,
        &mut rx,
        "down at miredo's exit",
        Duration::from_secs(10),
        |n| n.state == TunnelState::Down,
    )?;
    lab.down()
}
