//! Lab helpers for the end-to-end tests.
//!
//! [`Lab::up`] builds a private set of network namespaces with `scripts/lab.sh` (see the
//! comment block at the top of that script for the topology) under a prefix unique to this
//! process and lab, so tests may run in parallel threads. Dropping the [`Lab`] tears it all
//! down: the processes it recorded, its namespaces and its state directory.
//!
//! Every test needs root (network namespaces, nftables, TUN). The harness does not skip when
//! it is not root: [`Lab::up`] fails with a message that says so.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

mod check_script;
mod daemons;
mod netns;
pub mod portmap;
mod process;
mod topology;
mod tunnel_bus;
pub mod vm;

pub use check_script::run_check_script;
pub use process::{Daemon, LabChild};
pub use teredo;
pub use teredo::addr::TeredoAddr;
pub use topology::*;
pub use tunnel_bus::{
    busctl, counts_at_least, parse_st_dict, tunnel_counter, tunnel_counters, tunnel_property,
};

/// The repository root (`tests/..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `scripts/lab.sh`.
pub fn lab_script() -> PathBuf {
    repo_root().join("scripts/lab.sh")
}

/// Path of one of the project's binaries: `$MIREDO_BIN` for `miredo`,
/// `$MIREDO_SERVER_BIN` for `miredo-server`, `$MIREDO_CHECKCONF_BIN` for
/// `miredo-checkconf`; otherwise `<target dir>/debug/<name>` where the target dir is
/// `$CARGO_TARGET_DIR` or `<repo>/target`.
pub fn our_bin(name: &str) -> PathBuf {
    let var = format!("{}_BIN", name.to_ascii_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let target = if target.is_relative() {
        repo_root().join(target)
    } else {
        target
    };
    target.join("debug").join(name)
}

/// Fails unless the effective user is root.
pub fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        bail!(
            "the end-to-end tests need root (network namespaces, nftables, /dev/net/tun); \
             euid is {euid}: run them as root, e.g. `sudo -E cargo test -p e2e`"
        );
    }
    Ok(())
}

/// Polls `check` every 20 ms until it returns `Ok(true)`, for at most `timeout`.
///
/// An `Err` from `check` does not stop the wait; the last one is reported on time-out.
pub fn wait_for<F>(desc: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Result<bool>,
{
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() >= timeout {
            let mut msg = format!("timed out after {timeout:?} waiting for {desc}");
            if let Some(e) = last_err {
                let _ = write!(msg, " (last error: {e:#})");
            }
            bail!(msg);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_prefix() -> String {
    fn base36(mut v: u64) -> String {
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut out = Vec::new();
        loop {
            out.push(DIGITS[(v % 36) as usize]);
            v /= 36;
            if v == 0 {
                break;
            }
        }
        out.reverse();
        String::from_utf8(out).unwrap_or_default()
    }
    let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
    // "mr" + PID (5 base-36 digits, zero-padded: PIDs are < 2^22) + counter.
    format!(
        "mr{:0>5}{}",
        base36(u64::from(std::process::id())),
        base36(u64::from(n))
    )
}

fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&err);
    }
    s
}

/// One lab: a set of namespaces `<prefix>-<node>` (nodes `srv`, `relay`, `v6`, `tgt`,
/// `wan`, `natN`, `clN`) and a state directory.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    state_dir: PathBuf,
    nats: Vec<Nat>,
    dbus_address: Mutex<Option<String>>,
    spawned: AtomicU32,
    down: bool,
}

impl Lab {
    /// Builds a lab (`lab.sh up`) under a fresh prefix. Fails clearly when not root.
    pub fn up(opts: LabOpts) -> Result<Lab> {
        require_root()?;
        let script = lab_script();
        if !script.exists() {
            bail!("{} not found", script.display());
        }
        // Labs left by crashed test processes (their owner PID is gone).
        let _ = Command::new(&script)
            .arg("gc")
            .stdin(Stdio::null())
            .output();
        let prefix = unique_prefix();
        let nats: Vec<&str> = opts.nats.iter().map(|n| n.as_arg()).collect();
        let mut args = vec![
            "up".to_string(),
            "--nats".into(),
            nats.join(","),
            "--owner".into(),
            std::process::id().to_string(),
        ];
        if let Some(t) = opts.udp_timeout {
            args.push("--udp-timeout".into());
            args.push(t.to_string());
        }
        if !opts.pairs.is_empty() {
            let pairs: Vec<String> = opts.pairs.iter().map(u8::to_string).collect();
            args.push("--pair".into());
            args.push(pairs.join(","));
        }
        let out = Command::new(&script)
            .arg("--prefix")
            .arg(&prefix)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !out.status.success() {
            bail!(
                "lab.sh up failed ({}):\n{}\n(hint: `scripts/lab.sh check` lists missing tools)",
                out.status,
                output_text(&out)
            );
        }
        let state_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let lab = Lab {
            prefix,
            state_dir,
            nats: opts.nats,
            dbus_address: Mutex::new(None),
            spawned: AtomicU32::new(0),
            down: false,
        };
        if opts.dbus {
            lab.dbus_up()?;
        }
        Ok(lab)
    }

    /// The lab's prefix (namespaces are `<prefix>-<node>`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace name of a node.
    pub fn netns(&self, node: &str) -> String {
        format!("{}-{}", self.prefix, node)
    }

    /// Where configs, logs and pidfiles live.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The NAT types, `nat1` first.
    pub fn nats(&self) -> &[Nat] {
        &self.nats
    }

    /// Runs `lab.sh --prefix <prefix> <args…>`; errors (with its output) on failure.
    pub fn script<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        let out = Command::new(lab_script())
            .arg("--prefix")
            .arg(&self.prefix)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running lab.sh")?;
        if !out.status.success() {
            let a: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            bail!(
                "lab.sh {} failed ({}):\n{}",
                a.join(" "),
                out.status,
                output_text(&out)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn netns_command<S: AsRef<OsStr>>(&self, node: &str, cmd: &[S]) -> Command {
        let mut c = Command::new("ip");
        c.arg("netns")
            .arg("exec")
            .arg(self.netns(node))
            .args(cmd)
            .stdin(Stdio::null());
        c
    }

    /// Runs a command in a node and collects its output (whatever its exit status).
    pub fn exec<S: AsRef<OsStr>>(&self, node: &str, cmd: &[S]) -> Result<Output> {
        self.netns_command(node, cmd)
            .output()
            .with_context(|| format!("ip netns exec {}", self.netns(node)))
    }

    /// Runs a command in a node; its stdout, or an error with its output if it failed.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, node: &str, cmd: &[S]) -> Result<String> {
        let out = self.exec(node, cmd)?;
        if !out.status.success() {
            let a: Vec<_> = cmd.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            bail!(
                "[{node}] `{}` failed ({}):\n{}",
                a.join(" "),
                out.status,
                output_text(&out)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a command in a node, output to a log file in the state dir; the returned
    /// handle stops it (SIGTERM, then SIGKILL) when dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, node: &str, cmd: &[S]) -> Result<LabChild> {
        let k = self.spawned.fetch_add(1, Ordering::Relaxed);
        let log = self
            .state_dir
            .join("logs")
            .join(format!("spawn{k}-{node}.log"));
        let f = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let f2 = f.try_clone()?;
        let child = self
            .netns_command(node, cmd)
            .stdout(f)
            .stderr(f2)
            .spawn()
            .with_context(|| format!("spawning in {}", self.netns(node)))?;
        Ok(LabChild { child, log })
    }

    /// [`wait_for`], as a method for convenience.
    pub fn wait_for<F>(&self, desc: &str, timeout: Duration, check: F) -> Result<()>
    where
        F: FnMut() -> Result<bool>,
    {
        wait_for(desc, timeout, check)
    }

    /// The global address on a node's `teredo` interface, if any (`None` if the
    /// interface is missing or has none).
    pub fn teredo_addr(&self, node: &str) -> Result<Option<Ipv6Addr>> {
        self.iface_addr6(node, TEREDO_IFACE)
    }

    /// The first global IPv6 address on an interface of a node.
    pub fn iface_addr6(&self, node: &str, iface: &str) -> Result<Option<Ipv6Addr>> {
        let out = self.exec(
            node,
            &[
                "ip", "-6", "-o", "addr", "show", "dev", iface, "scope", "global",
            ],
        )?;
        if !out.status.success() {
            return Ok(None); // no such interface (yet)
        }
        parse_ip_addr_output(&String::from_utf8_lossy(&out.stdout))
    }

    /// Waits (polling every 20 ms) for a global address on the node's `teredo`
    /// interface.
    pub fn wait_teredo_addr(&self, node: &str, timeout: Duration) -> Result<Ipv6Addr> {
        let mut addr = None;
        wait_for(&format!("a Teredo address on {node}"), timeout, || {
            addr = self.teredo_addr(node)?;
            Ok(addr.is_some())
        })?;
        addr.ok_or_else(|| anyhow!("no Teredo address on {node}"))
    }

    /// One `ping -6 -c1 -W1` from a node; true if answered.
    pub fn ping6(&self, node: &str, dst: Ipv6Addr) -> Result<bool> {
        let out = self.exec(node, &["ping", "-6", "-n", "-c1", "-W1", &dst.to_string()])?;
        Ok(out.status.success())
    }

    /// One `ping -4 -c1 -W1` from a node; true if answered.
    pub fn ping4(&self, node: &str, dst: Ipv4Addr) -> Result<bool> {
        let out = self.exec(node, &["ping", "-4", "-n", "-c1", "-W1", &dst.to_string()])?;
        Ok(out.status.success())
    }

    /// Pings (one echo at a time, each waiting up to 1 s) until one is answered.
    pub fn wait_ping6(&self, node: &str, dst: Ipv6Addr, timeout: Duration) -> Result<()> {
        wait_for(&format!("{node} to ping {dst}"), timeout, || {
            self.ping6(node, dst)
        })
    }

    fn daemon(&self, node: &str, name: &str, pid_out: &str) -> Result<Daemon> {
        let pid = pid_out
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| anyhow!("lab.sh printed no PID for {name}: {pid_out:?}"))?;
        Ok(Daemon {
            name: name.to_string(),
            node: node.to_string(),
            pid,
            pidfile: self.state_dir.join("run").join(format!("{name}.pid")),
            log: self.state_dir.join("logs").join(format!("{name}.log")),
        })
    }

    /// Renumbers `clN` to `ip` (must be in 198.18.N.0/24): new address added, old removed.
    pub fn set_client_ip(&self, n: u8, ip: Ipv4Addr) -> Result<()> {
        self.script(&["client-ip", &n.to_string(), &ip.to_string()])
            .map(drop)
    }

    /// Renumbers `natN`'s public address to `ip` (must be in 203.0.113.0/24).
    pub fn set_nat_ip(&self, n: u8, ip: Ipv4Addr) -> Result<()> {
        self.script(&["nat-ip", &n.to_string(), &ip.to_string()])
            .map(drop)
    }

    /// Drops all IPv4 to and from the server's two addresses at the wan router.
    pub fn block_server(&self) -> Result<()> {
        self.script(&["block-server"]).map(drop)
    }

    /// Drops all IPv4 to and from `ips` at the wan router (replaces no other
    /// block: one block at a time).
    pub fn block_ips(&self, ips: &[Ipv4Addr]) -> Result<()> {
        let mut args = vec!["block-server".to_owned()];
        args.extend(ips.iter().map(ToString::to_string));
        self.script(&args).map(drop)
    }

    /// Undoes [`Lab::block_server`] (idempotent).
    pub fn unblock_server(&self) -> Result<()> {
        self.script(&["unblock-server"]).map(drop)
    }

    /// Starts the lab's private system bus (policy files: the repo's `conf/*.conf`);
    /// returns its address, for `DBUS_SYSTEM_BUS_ADDRESS`. Idempotent.
    pub fn dbus_up(&self) -> Result<String> {
        let mut g = self
            .dbus_address
            .lock()
            .map_err(|_| anyhow!("dbus mutex poisoned"))?;
        if let Some(a) = &*g {
            return Ok(a.clone());
        }
        let a = self.script(&["dbus-up"])?.trim().to_string();
        if a.is_empty() {
            bail!("dbus-up printed no address");
        }
        *g = Some(a.clone());
        Ok(a)
    }

    /// The private bus's address, if started.
    pub fn dbus_address(&self) -> Option<String> {
        self.dbus_address.lock().ok().and_then(|g| g.clone())
    }

    /// Stops the private bus.
    pub fn dbus_down(&self) -> Result<()> {
        if let Ok(mut g) = self.dbus_address.lock() {
            *g = None;
        }
        self.script(&["dbus-down"]).map(drop)
    }

    /// Tears the lab down now, reporting failures (dropping does the same, quietly).
    pub fn down(mut self) -> Result<()> {
        self.down = true;
        self.script(&["down"]).map(drop)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        if let Err(e) = self.script(&["down"]) {
            eprintln!("lab {}: teardown: {e:#}", self.prefix);
        }
    }
}

/// Parses the first address out of `ip -6 -o addr show` output.
pub fn parse_ip_addr_output(text: &str) -> Result<Option<Ipv6Addr>> {
    for line in text.lines() {
        let mut it = line.split_whitespace();
        while let Some(tok) = it.next() {
            if tok == "inet6" {
                let a = it
                    .next()
                    .ok_or_else(|| anyhow!("no address after inet6 in {line:?}"))?;
                let a = a.split('/').next().unwrap_or(a);
                return Ok(Some(
                    a.parse()
                        .with_context(|| format!("bad address {a:?} in {line:?}"))?,
                ));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_output() -> Result<()> {
        let s = "7: teredo    inet6 2001:0:c000:201:20a8:6cd3:34ff:8efe/32 scope global \\       valid_lft forever preferred_lft forever\n";
        let want: Ipv6Addr = "2001:0:c000:201:20a8:6cd3:34ff:8efe".parse()?;
        assert_eq!(parse_ip_addr_output(s)?, Some(want));
        assert_eq!(parse_ip_addr_output("")?, None);
        Ok(())
    }

    #[test]
    fn prefixes_are_unique_and_short() {
        let a = unique_prefix();
        let b = unique_prefix();
        assert_ne!(a, b);
        assert!(a.len() <= 12 && a.starts_with("mr"), "{a}");
    }

    #[test]
    fn wait_for_times_out_with_description() {
        let r = wait_for("nothing", Duration::from_millis(50), || Ok(false));
        assert!(matches!(r, Err(e) if e.to_string().contains("waiting for nothing")));
    }

    #[test]
    fn our_bin_defaults_to_the_target_dir() {
        if std::env::var_os("MIREDO_BIN").is_none()
            && std::env::var_os("CARGO_TARGET_DIR").is_none()
        {
            assert_eq!(our_bin("miredo"), repo_root().join("target/debug/miredo"));
        }
    }
}
