//! Per-interface IPv6 sysctls under `/proc/sys/net/ipv6/conf/<if>/`.
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
