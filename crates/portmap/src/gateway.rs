//! The IPv4 default gateway, from the kernel's `/proc/net/route`.
//!
//! That file is the FIB in text: one header line, then one line per route
//! with tab-separated `Iface Destination Gateway Flags RefCnt Use Metric Mask
//! MTU Window IRTT`, addresses as 8 hex digits of the address in host order.

use std::io;
use std::net::Ipv4Addr;

/// `RTF_UP` and `RTF_GATEWAY` from `<linux/route.h>`.
const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;

/// A default route through a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    /// Outgoing interface.
    pub interface: String,
    /// The next hop: where PCP and NAT-PMP requests go.
    pub gateway: Ipv4Addr,
    /// Route metric; lower wins.
    pub metric: u32,
}

/// The default route with the lowest metric in `/proc/net/route` text, if any.
/// Lines that do not parse are skipped: the file is the kernel's, but a
/// reader should not fail on a column it does not need.
pub fn parse_default_route(text: &str) -> Option<DefaultRoute> {
    text.lines()
        .skip(1)
        .filter_map(parse_line)
        .min_by_key(|r| r.metric)
}

fn parse_line(line: &str) -> Option<DefaultRoute> {
    let mut f = line.split_whitespace();
    let interface = f.next()?;
    let dest = hex(f.next()?)?;
    let gateway = hex(f.next()?)?;
    let flags = hex(f.next()?)?;
    let _refcnt = f.next()?;
    let _use = f.next()?;
    let metric = f.next()?.parse().ok()?;
    let mask = hex(f.next()?)?;
    let up_via_gateway = flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY;
    if dest != 0 || mask != 0 || !up_via_gateway || gateway == 0 {
        return None;
    }
    Some(DefaultRoute {
        interface: interface.to_owned(),
        // The kernel prints the network-order word as a host integer, so
        // its native-endian bytes are the address octets in order.
        gateway: Ipv4Addr::from(gateway.to_ne_bytes()),
        metric,
    })
}

fn hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 16).ok()
}

/// Reads `/proc/net/route` of the calling thread's network namespace.
pub fn default_route() -> io::Result<Option<DefaultRoute>> {
    let text = std::fs::read_to_string("/proc/net/route")?;
    Ok(parse_default_route(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip4` as the kernel would print it on this host.
    fn k(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    /// Interface, destination, gateway, flags, metric, mask.
    type Row<'a> = (&'a str, [u8; 4], [u8; 4], u32, u32, [u8; 4]);

    fn table(rows: &[Row<'_>]) -> String {
        let mut s = String::from(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
        );
        for (ifc, dst, gw, flags, metric, mask) in rows {
            s += &format!(
                "{ifc}\t{}\t{}\t{flags:04X}\t0\t0\t{metric}\t{}\t0\t0\t0\n",
                k(*dst),
                k(*gw),
                k(*mask)
            );
        }
        s
    }

    #[test]
    fn picks_lowest_metric_default() {
        let t = table(&[
            (
                "eth0",
                [198, 18, 1, 0],
                [0; 4],
                0x1,
                100,
                [255, 255, 255, 0],
            ),
            ("wlan0", [0; 4], [10, 0, 0, 1], 0x3, 600, [0; 4]),
            ("eth0", [0; 4], [198, 18, 1, 1], 0x3, 100, [0; 4]),
        ]);
        assert_eq!(
            parse_default_route(&t),
            Some(DefaultRoute {
                interface: "eth0".into(),
                gateway: Ipv4Addr::new(198, 18, 1, 1),
                metric: 100,
            })
        );
    }

    #[test]
    fn literal_little_endian_line() {
        // As printed on x86: 010112C6 is 198.18.1.1.
        let t =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t010112C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        let want = Ipv4Addr::from(0x0101_12C6u32.to_ne_bytes());
        assert_eq!(parse_default_route(t).map(|r| r.gateway), Some(want));
        if cfg!(target_endian = "little") {
            assert_eq!(want, Ipv4Addr::new(198, 18, 1, 1));
        }
    }

    #[test]
    fn no_default_route() {
        let t = table(&[
            ("eth0", [198, 18, 1, 0], [0; 4], 0x1, 0, [255, 255, 255, 0]),
            // Down, or a default without a gateway (point-to-point).
            ("eth1", [0; 4], [10, 0, 0, 1], 0x2, 0, [0; 4]),
            ("ppp0", [0; 4], [0; 4], 0x1, 0, [0; 4]),
        ]);
        assert_eq!(parse_default_route(&t), None);
        assert_eq!(parse_default_route(""), None);
        assert_eq!(parse_default_route("header\ngarbage line\n\t\t\n"), None);
    }

    #[test]
    fn reads_this_host() {
        // Whatever the sandbox has, reading must not fail where the file exists.
        if std::path::Path::new("/proc/net/route").exists() {
            assert!(default_route().is_ok());
        }
    }
}
