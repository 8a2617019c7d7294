//! Typed configuration models and their extraction from a directive list,
//! each directive through its entry in [`directives`](super::directives).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::directives::{
    Directive, BIND_ADDRESS, BIND_PORT, CLIENT_HOOK, INTERFACE_MTU, INTERFACE_NAME,
    LOCAL_DISCOVERY, PEER_QUEUE_BUDGET, PORT_MAPPING, PREFIX, RELAY_TYPE, SERVER_ADDRESS,
    SERVER_ADDRESS2, SERVER_BIND_ADDRESS, SERVER_BIND_ADDRESS2, SERVER_WORKERS, SYSLOG_FACILITY,
};
use super::values::{
    is_valid_prefix, parse_c_u16, parse_c_u32, Facility, PortMapping, RelayType, DEFAULT_PREFIX,
};
use super::{Diagnostic, Directives, Options};

/// Default interface MTU (relay and server).
pub const DEFAULT_MTU: u16 = 1280;
/// Most `ServerWorkers`.
pub const MAX_SERVER_WORKERS: u32 = 64;

/// Default `PeerQueueBudget` (4 MiB, a laptop client's worth).
pub const DEFAULT_PEER_QUEUE_BUDGET: u32 = teredo::peers::DEFAULT_TOTAL_QUEUE_BUDGET as u32;
/// At most this many "Superfluous directive" warnings are reported.
pub const MAX_SUPERFLUOUS: usize = 5;

/// The content of `miredo.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiredoConfig {
    /// `RelayType` (default client).
    pub relay_type: RelayType,
    /// `ServerAddress`, or the `SERVER_NAME` argument (client mode only).
    /// Not resolved here: the client resolves it when it qualifies.
    pub server_address: Option<String>,
    /// `ServerAddress` given again (our extension): the servers to fail over
    /// to, in order of preference, after `server_address`. miredo reports the
    /// repeated lines as superfluous and uses the first.
    pub fallback_servers: Vec<String>,
    /// `ServerAddress2` (client mode; parsed, unused by the 1.2.6 client).
    pub server_address2: Option<String>,
    /// `Prefix`: the first 32 bits of the Teredo prefix (relay modes).
    pub prefix: u32,
    /// `InterfaceMTU` (relay modes).
    pub interface_mtu: u16,
    /// `InterfaceName`; `None` lets the kernel pick `tun%d`.
    pub interface_name: Option<String>,
    /// `BindAddress`; `None` is INADDR_ANY.
    pub bind_address: Option<Ipv4Addr>,
    /// `BindPort`; 0 is an ephemeral port.
    pub bind_port: u16,
    /// `SyslogFacility`.
    pub syslog_facility: Facility,
    /// `ClientHook` (our extension, client mode): the hook script to run
    /// instead of `/etc/miredo/client-hook`.
    pub client_hook: Option<PathBuf>,
    /// `PortMapping` (our extension, client mode): when to ask the NAT for a
    /// mapping of the client's port.
    pub port_mapping: PortMapping,
    /// `LocalDiscovery` (our extension, client mode): whether to look for
    /// clients behind the same NAT on the link (on by default).
    pub local_discovery: bool,
    /// `PeerQueueBudget` (our extension, client and relay): the most bytes
    /// all peers may hold queued while their mappings are confirmed.
    pub peer_queue_budget: u32,
}

impl Default for MiredoConfig {
    fn default() -> Self {
        MiredoConfig {
            relay_type: RelayType::Client,
            server_address: None,
            fallback_servers: Vec::new(),
            server_address2: None,
            prefix: DEFAULT_PREFIX,
            interface_mtu: DEFAULT_MTU,
            interface_name: None,
            bind_address: None,
            bind_port: 0,
            syslog_facility: Facility::Daemon,
            client_hook: None,
            port_mapping: PortMapping::Auto,
            local_discovery: true,
            peer_queue_budget: DEFAULT_PEER_QUEUE_BUDGET,
        }
    }
}

/// The content of `miredo-server.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerdConfig {
    /// `ServerBindAddress`, or the `SERVER_NAME` argument.
    pub server_bind_address: Ipv4Addr,
    /// `ServerBindAddress2`; `None` means primary + 1.
    pub server_bind_address2: Option<Ipv4Addr>,
    /// `Prefix`: the first 32 bits of the Teredo prefix.
    pub prefix: u32,
    /// `InterfaceMTU`: the MTU advertised in router advertisements.
    pub interface_mtu: u16,
    /// `SyslogFacility`.
    pub syslog_facility: Facility,
    /// `ServerWorkers` (our extension): packet loops; 0 means one per CPU.
    pub server_workers: u32,
}

impl ServerdConfig {
    /// The secondary address: `ServerBindAddress2`, else primary + 1.
    pub fn secondary_address(&self) -> Ipv4Addr {
        self.server_bind_address2
            .unwrap_or_else(|| Ipv4Addr::from(u32::from(self.server_bind_address).wrapping_add(1)))
    }
}

/// Shared helpers over a directive list and the message sink.
struct Extractor<'a, 'o> {
    d: &'a mut Directives,
    opts: &'a Options<'o>,
    out: &'a mut Vec<Diagnostic>,
}

impl Extractor<'_, '_> {
    fn facility(&mut self) -> Facility {
        let Some((v, line)) = self.d.take(SYSLOG_FACILITY.name) else {
            return Facility::Daemon;
        };
        Facility::from_keyword(&v).unwrap_or_else(|| {
            self.out.push(Diagnostic::warning(
                Some(line),
                format!("Unknown syslog facility \"{v}\" at line {line}"),
            ));
            Facility::Daemon
        })
    }

    fn u16(&mut self, d: &Directive, default: u16) -> u16 {
        let Some((v, line)) = self.d.take(d.name) else {
            return default;
        };
        parse_c_u16(&v).unwrap_or_else(|err| {
            let label = self.d.label(d.name);
            self.out.push(Diagnostic::error(
                Some(line),
                format!("Invalid integer value \"{v}\" for {label}: {err}"),
            ));
            default
        })
    }

    fn u32(&mut self, d: &Directive, default: u32) -> u32 {
        let Some((v, line)) = self.d.take(d.name) else {
            return default;
        };
        parse_c_u32(&v).unwrap_or_else(|err| {
            let label = self.d.label(d.name);
            self.out.push(Diagnostic::error(
                Some(line),
                format!("Invalid integer value \"{v}\" for {label}: {err}"),
            ));
            default
        })
    }

    /// [`Extractor::u32`], refusing values above `max` like a bad number.
    fn u32_at_most(&mut self, d: &Directive, default: u32, max: u32) -> u32 {
        let Some((v, line)) = self.d.take(d.name) else {
            return default;
        };
        let err = match parse_c_u32(&v) {
            Ok(n) if n <= max => return n,
            Ok(_) => format!("at most {max}"),
            Err(err) => err.to_string(),
        };
        let label = self.d.label(d.name);
        self.out.push(Diagnostic::error(
            Some(line),
            format!("Invalid integer value \"{v}\" for {label}: {err}"),
        ));
        default
    }

    fn resolve4(&mut self, v: &str, line: u32) -> Option<Ipv4Addr> {
        match self.opts.resolver.resolve_ipv4(v) {
            Ok(a) => Some(a),
            Err(e) => {
                self.out.push(Diagnostic::error(
                    Some(line),
                    format!("Invalid hostname \"{v}\" at line {line}: {e}"),
                ));
                None
            }
        }
    }

    fn ipv4(&mut self, d: &Directive) -> Option<Ipv4Addr> {
        let (v, line) = self.d.take(d.name)?;
        self.resolve4(&v, line)
    }

    fn prefix(&mut self) -> u32 {
        let Some((v, line)) = self.d.take(PREFIX.name) else {
            return DEFAULT_PREFIX;
        };
        let addr = match self.opts.resolver.resolve_ipv6(&v) {
            Ok(a) => a,
            Err(e) => {
                self.out.push(Diagnostic::error(
                    Some(line),
                    format!("Invalid hostname \"{v}\" at line {line}: {e}"),
                ));
                return DEFAULT_PREFIX;
            }
        };
        let o = addr.octets();
        let prefix = u32::from_be_bytes([o[0], o[1], o[2], o[3]]);
        if !is_valid_prefix(prefix) {
            self.out.push(Diagnostic::error(
                Some(line),
                format!("Invalid Teredo IPv6 prefix: {prefix:x}::/32"),
            ));
            return DEFAULT_PREFIX;
        }
        prefix
    }

    fn superfluous(&mut self) {
        self.out.extend(self.d.superfluous(MAX_SUPERFLUOUS));
    }
}

/// Extracts a [`MiredoConfig`], consuming the directives the mode uses and
/// appending miredo's messages to `out` (then the superfluous-directive
/// warnings). Returns `None` only when the relay type is invalid (miredo
/// stops there); other errors are in `out`.
pub fn extract_miredo(
    d: &mut Directives,
    opts: &Options<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<MiredoConfig> {
    let mut x = Extractor { d, opts, out };
    let mut c = MiredoConfig {
        syslog_facility: x.facility(),
        ..MiredoConfig::default()
    };
    if let Some((v, line)) = x.d.take(RELAY_TYPE.name) {
        match RelayType::from_keyword(&v) {
            Some(t) => c.relay_type = t,
            None => {
                x.out.push(Diagnostic::error(
                    Some(line),
                    format!("Invalid relay type \"{v}\" at line {line}"),
                ));
                return None;
            }
        }
        if c.relay_type == RelayType::Restricted && !opts.checkconf {
            x.out.push(Diagnostic::warning(
                Some(line),
                format!(
                    "Using deprecated \"restricted\" relay type which is STRONGLY \
                     DISCOURAGED (at line {line})."
                ),
            ));
        }
    }

    if c.relay_type.is_client() {
        match opts.server_name {
            Some(name) => c.server_address = Some(name.to_owned()),
            None => match x.d.take(SERVER_ADDRESS.name) {
                Some((v, line)) => {
                    if opts.checkconf {
                        x.resolve4(&v, line);
                    }
                    c.server_address = Some(v);
                    while let Some((v, line)) = x.d.take_next(SERVER_ADDRESS.name) {
                        if opts.checkconf {
                            x.resolve4(&v, line);
                        }
                        c.fallback_servers.push(v);
                    }
                }
                None => x
                    .out
                    .push(Diagnostic::error(None, "Server address not specified")),
            },
        }
        if let Some((v, line)) = x.d.take(SERVER_ADDRESS2.name) {
            if opts.checkconf {
                x.resolve4(&v, line);
            }
            c.server_address2 = Some(v);
        }
        c.client_hook = x.d.take(CLIENT_HOOK.name).map(|(v, _)| PathBuf::from(v));
        if let Some((v, line)) = x.d.take(LOCAL_DISCOVERY.name) {
            match v.to_ascii_lowercase().as_str() {
                "on" => c.local_discovery = true,
                "off" => c.local_discovery = false,
                _ => {
                    let label = x.d.label(LOCAL_DISCOVERY.name);
                    x.out.push(Diagnostic::error(
                        Some(line),
                        format!(
                            "Invalid value \"{v}\" for {label} at line {line}: expected on or off"
                        ),
                    ));
                }
            }
        }
        if let Some((v, line)) = x.d.take(PORT_MAPPING.name) {
            match PortMapping::from_keyword(&v) {
                Some(m) => c.port_mapping = m,
                None => {
                    let label = x.d.label(PORT_MAPPING.name);
                    x.out.push(Diagnostic::error(
                        Some(line),
                        format!(
                            "Invalid value \"{v}\" for {label} at line {line}: \
                             expected auto, always or off"
                        ),
                    ));
                }
            }
        }
    } else {
        c.prefix = x.prefix();
        c.interface_mtu = x.u16(&INTERFACE_MTU, DEFAULT_MTU);
    }

    c.bind_address = x.ipv4(&BIND_ADDRESS);
    c.bind_port = x.u16(&BIND_PORT, 0);
    c.peer_queue_budget = x.u32(&PEER_QUEUE_BUDGET, DEFAULT_PEER_QUEUE_BUDGET);
    if let Some((v, line)) = x.d.take(INTERFACE_NAME.name) {
        // Deviation: miredo only fails later, when creating the tunnel.
        if v.len() > wire6::IF_NAME_MAX {
            x.out.push(Diagnostic::error(
                Some(line),
                format!(
                    "Interface name \"{v}\" too long (at most {} characters) \
                     at line {line}",
                    wire6::IF_NAME_MAX
                ),
            ));
        }
        c.interface_name = Some(v);
    }
    x.superfluous();
    Some(c)
}

/// Extracts a [`ServerdConfig`] like [`extract_miredo`]. Returns `None` when
/// no usable primary server address is known.
pub fn extract_serverd(
    d: &mut Directives,
    opts: &Options<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<ServerdConfig> {
    let mut x = Extractor { d, opts, out };
    let syslog_facility = x.facility();
    let (primary, secondary) = match opts.server_name {
        Some(name) => match opts.resolver.resolve_ipv4(name) {
            Ok(a) => (Some(a), None),
            Err(e) => {
                x.out.push(Diagnostic::error(
                    None,
                    format!("Invalid server hostname \"{name}\": {e}"),
                ));
                (None, None)
            }
        },
        None => {
            let primary = match x.d.take(SERVER_BIND_ADDRESS.name) {
                Some((v, line)) => x.resolve4(&v, line),
                None => {
                    x.out
                        .push(Diagnostic::error(None, "Server address not specified"));
                    None
                }
            };
            (primary, x.ipv4(&SERVER_BIND_ADDRESS2))
        }
    };
    let prefix = x.prefix();
    let interface_mtu = x.u16(&INTERFACE_MTU, DEFAULT_MTU);
    let server_workers = x.u32_at_most(&SERVER_WORKERS, 0, MAX_SERVER_WORKERS);
    x.superfluous();
    Some(ServerdConfig {
        server_bind_address: primary?,
        server_bind_address2: secondary,
        prefix,
        interface_mtu,
        syslog_facility,
        server_workers,
    })
}
