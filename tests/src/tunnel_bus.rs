//! Reading our miredo's tunnel object on the lab's private bus with
//! `busctl`, as a user would (docs/dbus.md).

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// The tunnel object of the lab's `teredo` interface.
const DEST: &str = "org.miredo_rs.Miredo1";
const PATH: &str = "/org/miredo_rs/Miredo1/teredo";
const IFACE: &str = "org.miredo_rs.Miredo1.Tunnel";

/// `busctl --address=<bus> ARGS…`: its standard output.
pub fn busctl(bus: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("busctl")
        .arg(format!("--address={bus}"))
        .args(args)
        .output()
        .context("running busctl")?;
    ensure!(
        out.status.success(),
        "busctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A property of the tunnel object, as busctl renders it (`u 3`, `s "up"`).
pub fn tunnel_property(bus: &str, prop: &str) -> Result<String> {
    busctl(bus, &["get-property", DEST, PATH, IFACE, prop])
}

/// The tunnel's `Counters`, parsed from busctl's `a{st} N "name" value …`.
pub fn tunnel_counters(bus: &str) -> Result<BTreeMap<String, u64>> {
    let text = tunnel_property(bus, "Counters")?;
    parse_st_dict(&text).with_context(|| format!("Counters: {text}"))
}

/// One counter of the tunnel's `Counters`.
pub fn tunnel_counter(bus: &str, name: &str) -> Result<u64> {
    let all = tunnel_counters(bus)?;
    all.get(name)
        .copied()
        .with_context(|| format!("no counter {name} in {all:?}"))
}

/// Whether every named counter in `counters` is at least its minimum.
pub fn counts_at_least(counters: &BTreeMap<String, u64>, minima: &[(&str, u64)]) -> bool {
    minima
        .iter()
        .all(|(name, min)| counters.get(*name).is_some_and(|v| v >= min))
}

/// busctl's rendering of an `a{st}` (`a{st} 2 "rx" 5 "tx" 7`) as a map.
pub fn parse_st_dict(text: &str) -> Result<BTreeMap<String, u64>> {
    let mut words = text.split_whitespace();
    if words.next() != Some("a{st}") {
        bail!("not an a{{st}}");
    }
    let n: usize = words.next().context("no count")?.parse()?;
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let name = words.next().context("a name missing")?;
        let value = words.next().context("a value missing")?;
        map.insert(name.trim_matches('"').to_owned(), value.parse()?);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::{counts_at_least, parse_st_dict};

    #[test]
    fn busctl_dictionaries_parse() -> anyhow::Result<()> {
        let m = parse_st_dict("a{st} 2 \"rx\" 5 \"tx\" 7\n")?;
        assert_eq!(m.get("rx"), Some(&5));
        assert_eq!(m.get("tx"), Some(&7));
        assert!(parse_st_dict("a{st} 2 \"rx\" 5").is_err());
        assert!(parse_st_dict("u 3").is_err());
        assert!(counts_at_least(&m, &[("rx", 5), ("tx", 1)]));
        assert!(!counts_at_least(&m, &[("rx", 6)]));
        assert!(!counts_at_least(&m, &[("absent", 0)]));
        Ok(())
    }
}
