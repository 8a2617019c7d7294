//! Starting the Teredo daemons of the lab: Debian's and ours.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use std::fs;

use anyhow::{bail, Context, Result};

use crate::process::signal_pid;
use crate::{our_bin, Daemon, Lab, SERVER2_IP, SERVER2_IP2, SERVER_IP, TEREDO_IFACE};

impl Lab {
    /// Starts `cmd` in `node` in the background under `name` (`lab.sh start`); it is
    /// stopped by [`Lab::stop`] or the lab's teardown.
    pub fn start<S: AsRef<OsStr>>(&self, node: &str, name: &str, cmd: &[S]) -> Result<Daemon> {
        let mut args: Vec<&OsStr> = vec![OsStr::new("start"), OsStr::new(node), OsStr::new(name)];
        args.extend(cmd.iter().map(AsRef::as_ref));
        let out = self.script(&args)?;
        self.daemon(node, name, &out)
    }

    /// Stops a daemon (SIGTERM, SIGKILL after 3 s) and waits for it to exit.
    pub fn stop(&self, d: &Daemon) -> Result<()> {
        self.script(&["stop", &d.name]).map(drop)
    }

    /// Sends a signal to a daemon (e.g. `libc::SIGHUP`).
    pub fn signal(&self, d: &Daemon, sig: i32) -> Result<()> {
        signal_pid(d.pid, sig)
    }

    /// Debian's `miredo-server` in `srv` on 192.0.2.1/192.0.2.2; returns once both UDP
    /// 3544 sockets are bound.
    pub fn start_debian_server(&self) -> Result<Daemon> {
        let out = self.script(&["start-debian-server"])?;
        self.daemon("srv", "debian-server", &out)
    }

    /// A second Debian `miredo-server` in `srv` on 192.0.2.3/192.0.2.4 (name
    /// `debian-server2`), beside the first; returns once both sockets are bound.
    pub fn start_debian_server2(&self) -> Result<Daemon> {
        let out = self.script(&[
            "start-debian-server",
            "debian-server2",
            &SERVER2_IP.to_string(),
            &SERVER2_IP2.to_string(),
        ])?;
        self.daemon("srv", "debian-server2", &out)
    }

    /// Debian's `miredo` with `RelayType relay` in `relay`; returns once it routes
    /// 2001::/32 into its tunnel.
    pub fn start_debian_relay(&self) -> Result<Daemon> {
        let out = self.script(&["start-debian-relay"])?;
        self.daemon("relay", "debian-relay", &out)
    }

    /// Debian's `miredo` client in `clN` (server 192.0.2.1, interface `teredo`, Debian's
    /// hook). Does not wait for qualification: see [`Lab::wait_teredo_addr`].
    pub fn start_debian_client(&self, n: u8) -> Result<Daemon> {
        let out = self.script(&["start-debian-client", &n.to_string()])?;
        self.daemon(&format!("cl{n}"), &format!("debian-client{n}"), &out)
    }

    /// Writes a config file into the state dir; returns its path.
    pub fn write_conf(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.state_dir.join("conf").join(name);
        fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    }

    /// Runs one of our binaries (`our_bin(bin)`) in a node as
    /// `<bin> -f -p <state>/run/<name>.pid -c <conf> [extra…]`, with `conf_text` written
    /// to `<state>/conf/<name>.conf`.
    pub fn start_ours(
        &self,
        node: &str,
        name: &str,
        bin: &str,
        conf_text: &str,
        extra: &[&str],
    ) -> Result<Daemon> {
        self.start_ours_on_bus(node, name, bin, conf_text, extra, None)
    }

    /// [`Lab::start_ours`] with `DBUS_SYSTEM_BUS_ADDRESS=<bus>` in the daemon's
    /// environment when `bus` is given (the lab's private bus, [`Lab::dbus_up`]).
    pub fn start_ours_on_bus(
        &self,
        node: &str,
        name: &str,
        bin: &str,
        conf_text: &str,
        extra: &[&str],
        bus: Option<&str>,
    ) -> Result<Daemon> {
        let env: Vec<String> = bus
            .map(|b| format!("DBUS_SYSTEM_BUS_ADDRESS={b}"))
            .into_iter()
            .collect();
        self.start_ours_with_env(node, name, bin, conf_text, extra, &env)
    }

    /// [`Lab::start_ours`] with `env` (`NAME=value` each) in the daemon's
    /// environment.
    pub fn start_ours_with_env(
        &self,
        node: &str,
        name: &str,
        bin: &str,
        conf_text: &str,
        extra: &[&str],
        env: &[String],
    ) -> Result<Daemon> {
        let path = our_bin(bin);
        if !path.exists() {
            bail!(
                "{} not found: build it first (`cargo build -p miredo`) or set {}_BIN",
                path.display(),
                bin.to_ascii_uppercase().replace('-', "_")
            );
        }
        let conf = self.write_conf(&format!("{name}.conf"), conf_text)?;
        let pidfile = self.state_dir.join("run").join(format!("{name}.pid"));
        let mut cmd: Vec<&OsStr> = Vec::new();
        if !env.is_empty() {
            cmd.push(OsStr::new("/usr/bin/env"));
            cmd.extend(env.iter().map(OsStr::new));
        }
        cmd.extend([
            path.as_os_str(),
            OsStr::new("-f"),
            OsStr::new("-p"),
            pidfile.as_os_str(),
            OsStr::new("-c"),
            conf.as_os_str(),
        ]);
        cmd.extend(extra.iter().map(OsStr::new));
        self.start(node, name, &cmd)
    }

    /// Our `miredo` client in `clN` (name `our-client<N>`), with `conf_text` as its
    /// configuration and no hook override.
    pub fn start_our_client(&self, n: u8, conf_text: &str) -> Result<Daemon> {
        self.start_our_client_with_hook(n, conf_text, None)
    }

    /// Our `miredo` client in `clN`, adding `--client-hook <hook>` when given.
    pub fn start_our_client_with_hook(
        &self,
        n: u8,
        conf_text: &str,
        hook: Option<&Path>,
    ) -> Result<Daemon> {
        let hook_s = hook.map(|h| h.to_string_lossy().into_owned());
        let mut extra = Vec::new();
        if let Some(h) = &hook_s {
            extra.push("--client-hook");
            extra.push(h.as_str());
        }
        self.start_ours(
            &format!("cl{n}"),
            &format!("our-client{n}"),
            "miredo",
            conf_text,
            &extra,
        )
    }

    /// Our `miredo` in relay mode in `relay` (name `our-relay`).
    pub fn start_our_relay(&self, conf_text: &str) -> Result<Daemon> {
        self.start_ours("relay", "our-relay", "miredo", conf_text, &[])
    }

    /// Our `miredo-server` in `srv` (name `our-server`).
    pub fn start_our_server(&self, conf_text: &str) -> Result<Daemon> {
        self.start_ours("srv", "our-server", "miredo-server", conf_text, &[])
    }

    /// Our `miredo-server` in `srv`, started like Debian's (192.0.2.1/.2, `-u miredo-server`,
    /// name `our-server`), on the lab's bus when [`Lab::dbus_up`] ran first; returns once
    /// both UDP 3544 sockets are bound.
    pub fn start_our_server_bound(&self) -> Result<Daemon> {
        let bin = our_bin("miredo-server");
        if !bin.exists() {
            bail!(
                "{} not found: build it first (`cargo build -p miredo`)",
                bin.display()
            );
        }
        let out = self.script(&[OsStr::new("start-ours-server"), bin.as_os_str()])?;
        self.daemon("srv", "our-server", &out)
    }

    /// A client configuration for the lab's server (`ServerAddress 192.0.2.1`,
    /// `InterfaceName teredo`).
    pub fn client_conf() -> String {
        format!("ServerAddress {SERVER_IP}\nInterfaceName {TEREDO_IFACE}\n")
    }
}
