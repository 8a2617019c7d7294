//! A port-mapping gateway in a NAT of the lab: a real miniupnpd (UPnP IGD,
//! NAT-PMP and PCP) run by `scripts/lab/portmap.sh`.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{repo_root, Lab};

/// `scripts/lab/portmap.sh`.
fn script() -> PathBuf {
    repo_root().join("scripts/lab/portmap.sh")
}

fn run(args: &[&str]) -> Result<String> {
    let out = Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running portmap.sh")?;
    if !out.status.success() {
        bail!(
            "portmap.sh {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// miniupnpd in `natN`, stopped (and its rules removed) when dropped.
pub struct Gateway {
    netns: String,
    dir: PathBuf,
}

impl Gateway {
    /// Starts miniupnpd in `natN`, serving `clN`'s LAN (198.18.N.0/24).
    pub fn start(lab: &Lab, n: u8) -> Result<Gateway> {
        run(&["prepare"])?;
        let netns = lab.netns(&format!("nat{n}"));
        let dir = lab.state_dir().join(format!("portmap{n}"));
        let dir_s = dir.to_string_lossy().into_owned();
        run(&[
            "start",
            &netns,
            "lan",
            "wan",
            &format!("198.18.{n}.0/24"),
            &dir_s,
        ])?;
        Ok(Gateway { netns, dir })
    }

    /// The UDP mappings installed: (external port, internal endpoint).
    pub fn udp_mappings(&self) -> Result<Vec<(u16, SocketAddrV4)>> {
        let text = run(&["rules", &self.netns])?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                (f.next()? == "udp").then_some(())?;
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect())
    }

    /// The server's log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("miniupnpd.log")).unwrap_or_default()
    }

    /// The lease file's text (one line per mapping, with its expiry).
    pub fn leases(&self) -> String {
        std::fs::read_to_string(self.dir.join("upnp.leases")).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let dir = self.dir.to_string_lossy().into_owned();
        if let Err(e) = run(&["stop", &dir]) {
            eprintln!("stopping miniupnpd: {e}");
        }
    }
}
