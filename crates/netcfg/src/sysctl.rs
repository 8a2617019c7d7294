//! Per-interface IPv6 sysctls under `/proc/sys/net/ipv6/conf/<if>/` and
//! `/proc/sys/net/ipv6/neigh/<if>/`.
//!
//! `/proc/sys/net` belongs to the network namespace of the thread that
//! opens the file.

use std::io;
use std::path::PathBuf;

fn conf_path(ifname: &str, key: &str) -> io::Result<PathBuf> {
    let bad =
        |s: &str| s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0');
    if bad(ifname) || bad(key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl name {ifname}/{key}"),
        ));
    }
    Ok(PathBuf::from("/proc/sys/net/ipv6/conf")
        .join(ifname)
        .join(key))
}

/// Write `net.ipv6.conf.<ifname>.<key> = value`.
pub fn set_ipv6_conf(ifname: &str, key: &str, value: &str) -> io::Result<()> {
    std::fs::write(conf_path(ifname, key)?, format!("{value}\n"))
}

/// Read `net.ipv6.conf.<ifname>.<key>` (trimmed).
pub fn get_ipv6_conf(ifname: &str, key: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(conf_path(ifname, key)?)?
        .trim()
        .to_string())
}

/// `net.ipv6.conf.<ifname>.accept_redirects` (miredo's relay sets it to 0).
pub fn set_accept_redirects(ifname: &str, accept: bool) -> io::Result<()> {
    set_ipv6_conf(ifname, "accept_redirects", if accept { "1" } else { "0" })
}

fn neigh_path(ifname: &str, key: &str) -> io::Result<PathBuf> {
    // The same name checks as conf/.
    conf_path(ifname, key)?;
    Ok(PathBuf::from("/proc/sys/net/ipv6/neigh")
        .join(ifname)
        .join(key))
}

fn with_path(path: &std::path::Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn write_value(path: &std::path::Path, value: &str) -> io::Result<()> {
    std::fs::write(path, format!("{value}\n")).map_err(|e| with_path(path, e))
}

fn read_value(path: &std::path::Path) -> io::Result<String> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| with_path(path, e))?
        .trim()
        .to_string())
}

/// Write `net.ipv6.neigh.<ifname>.<key> = value` (mip6d sets
/// `base_reachable_time_ms` and `retrans_time_ms` from RAs).
pub fn set_ipv6_neigh(ifname: &str, key: &str, value: &str) -> io::Result<()> {
    write_value(&neigh_path(ifname, key)?, value)
}

/// Read `net.ipv6.neigh.<ifname>.<key>` (trimmed).
pub fn get_ipv6_neigh(ifname: &str, key: &str) -> io::Result<String> {
    read_value(&neigh_path(ifname, key)?)
}

/// Changes IPv6 sysctls and remembers the value each had before its first
/// change, so a daemon can put everything back at exit (mip6d restores
/// the `conf/<if>/*` and `conf/default/*` values it zeroed, docs/protocol-notes.md#sysctls).
/// Errors name the file.
#[derive(Debug, Default)]
pub struct SysctlSaver {
    saved: Vec<(PathBuf, String)>,
}

impl SysctlSaver {
    pub fn new() -> SysctlSaver {
        SysctlSaver::default()
    }

    fn set(&mut self, path: PathBuf, value: &str) -> io::Result<()> {
        if !self.saved.iter().any(|(p, _)| *p == path) {
            let old = read_value(&path)?;
            self.saved.push((path.clone(), old));
        }
        write_value(&path, value)
    }

    /// `net.ipv6.conf.<ifname>.<key> = value`, remembering the old value.
    pub fn set_ipv6_conf(&mut self, ifname: &str, key: &str, value: &str) -> io::Result<()> {
        self.set(conf_path(ifname, key)?, value)
    }

    /// `net.ipv6.neigh.<ifname>.<key> = value`, remembering the old value.
    pub fn set_ipv6_neigh(&mut self, ifname: &str, key: &str, value: &str) -> io::Result<()> {
        self.set(neigh_path(ifname, key)?, value)
    }

    /// How many sysctls would be restored.
    pub fn len(&self) -> usize {
        self.saved.len()
    }

    pub fn is_empty(&self) -> bool {
        self.saved.is_empty()
    }

    /// Forget the entries of an interface that went away (its files vanish
    /// with it).
    pub fn forget_interface(&mut self, ifname: &str) {
        self.saved
            .retain(|(p, _)| p.parent().and_then(|d| d.file_name()) != Some(ifname.as_ref()));
    }

    /// Write every remembered value back, newest change first; returns the
    /// failures (each naming its file) and forgets everything.
    pub fn restore(&mut self) -> Vec<io::Error> {
        let mut errors = Vec::new();
        while let Some((path, old)) = self.saved.pop() {
            if let Err(e) = write_value(&path, &old) {
                errors.push(e);
            }
        }
        errors
    }
}
