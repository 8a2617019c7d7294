//! A port-mapping gateway in a NAT of the lab: a real miniupnpd (UPnP IGD,
//! NAT-PMP and PCP) run by `scripts/lab/portmap.sh`.
//!
//! [`GatewayOpts`] varies it: extra configuration lines (`PORTMAP_CONF_EXTRA`,
//! e.g. a shorter `max_lifetime`), or a gateway that speaks UPnP only.

use std::io::Write as _;
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
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let out = Command::new(script())
        .args(args)
        .envs(env.iter().copied())
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

/// The nft table, in the NAT's namespace, that turns PCP and NAT-PMP away
/// for [`GatewayOpts::upnp_only`].
const UPNP_ONLY_TABLE: &str = "portmap_upnp_only";

/// How [`Gateway::start_with`] runs miniupnpd.
#[derive(Debug, Clone, Default)]
pub struct GatewayOpts {
    /// Lines appended to miniupnpd's configuration (`PORTMAP_CONF_EXTRA`);
    /// a later numeric option overrides portmap.sh's, e.g. `max_lifetime=121`.
    pub conf_extra: String,
    /// A gateway that speaks UPnP IGD only. miniupnpd cannot be told so by a
    /// line after portmap.sh's `enable_pcp_pmp=yes` (its parser only ever sets
    /// that flag), so the NAT rejects the LAN's datagrams to port 5351 with an
    /// ICMP port unreachable, which is what a router without a PCP or NAT-PMP
    /// server answers.
    pub upnp_only: bool,
}

/// One line of miniupnpd's lease file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `UDP` or `TCP`.
    pub protocol: String,
    /// The external port.
    pub external_port: u16,
    /// Where it is forwarded.
    pub internal: SocketAddrV4,
    /// When it expires (seconds since the Unix epoch: portmap.sh sets
    /// `system_uptime=no`).
    pub expires: u64,
    /// The description (UPnP) or `PCP MAP <nonce>`.
    pub description: String,
}

/// miniupnpd in `natN`, stopped (and its rules removed) when dropped.
pub struct Gateway {
    netns: String,
    dir: PathBuf,
    upnp_only: bool,
}

impl Gateway {
    /// Starts miniupnpd in `natN`, serving `clN`'s LAN (198.18.N.0/24).
    pub fn start(lab: &Lab, n: u8) -> Result<Gateway> {
        Gateway::start_with(lab, n, &GatewayOpts::default())
    }

    /// [`Gateway::start`] with options.
    pub fn start_with(lab: &Lab, n: u8, opts: &GatewayOpts) -> Result<Gateway> {
        run(&["prepare"])?;
        let netns = lab.netns(&format!("nat{n}"));
        let dir = lab.state_dir().join(format!("portmap{n}"));
        let dir_s = dir.to_string_lossy().into_owned();
        let mut env = Vec::new();
        if !opts.conf_extra.is_empty() {
            env.push(("PORTMAP_CONF_EXTRA", opts.conf_extra.as_str()));
        }
        run_env(
            &[
                "start",
                &netns,
                "lan",
                "wan",
                &format!("198.18.{n}.0/24"),
                &dir_s,
            ],
            &env,
        )?;
        let mut gw = Gateway {
            netns,
            dir,
            upnp_only: false,
        };
        if opts.upnp_only {
            // On error, dropping `gw` stops miniupnpd again.
            gw.nft(&format!(
                "table inet {UPNP_ONLY_TABLE} {{\n\
                 chain input {{\n\
                 type filter hook input priority filter - 1; policy accept;\n\
                 iifname \"lan\" udp dport 5351 reject\n\
                 }}\n\
                 }}\n"
            ))?;
            gw.upnp_only = true;
        }
        Ok(gw)
    }

    /// Loads an nft ruleset into the NAT's namespace.
    fn nft(&self, ruleset: &str) -> Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running nft")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ruleset.as_bytes())
                .context("writing to nft")?;
        }
        let out = child.wait_with_output().context("waiting for nft")?;
        if !out.status.success() {
            bail!(
                "nft -f in {} failed ({}):\n{ruleset}{}",
                self.netns,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
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

    /// The lease file, parsed (`PROTO:EXT_PORT:INT_IP:INT_PORT:EXPIRY:DESC`);
    /// lines that do not parse (a file being rewritten) are left out.
    pub fn lease_entries(&self) -> Vec<Lease> {
        self.leases()
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(6, ':');
                let protocol = f.next()?.to_owned();
                let external_port = f.next()?.parse().ok()?;
                let ip = f.next()?.parse().ok()?;
                let port = f.next()?.parse().ok()?;
                let expires = f.next()?.parse().ok()?;
                Some(Lease {
                    protocol,
                    external_port,
                    internal: SocketAddrV4::new(ip, port),
                    expires,
                    description: f.next().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let dir = self.dir.to_string_lossy().into_owned();
        if let Err(e) = run(&["stop", &dir]) {
            eprintln!("stopping miniupnpd: {e}");
        }
        if self.upnp_only {
            if let Err(e) = self.nft(&format!("delete table inet {UPNP_ONLY_TABLE}\n")) {
                eprintln!("removing {UPNP_ONLY_TABLE}: {e}");
            }
        }
    }
}
