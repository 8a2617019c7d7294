//! Every directive of `miredo.conf` and `miredo-server.conf`, declared once:
//! its name, TOML key, value type and range, the files and modes that read
//! it, its default and what a SIGHUP does with it.
//!
//! The lexer matches names through [`key_of`], the TOML form accepts exactly
//! the keys and value types declared here, and the typed extraction takes
//! each directive through its entry. [`ALL`]'s order is the order of the TOML
//! keys in messages.

/// Where a directive is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `miredo.conf`, whatever the relay type.
    Miredo,
    /// `miredo.conf` with `RelayType client` (or `autoclient`).
    MiredoClient,
    /// `miredo.conf` with a relay type (`cone`, `relay`, `restricted`).
    MiredoRelay,
    /// `miredo-server.conf`.
    Serverd,
}

impl Scope {
    /// Whether the directive belongs to `miredo-server.conf` (else `miredo.conf`).
    pub fn is_serverd(self) -> bool {
        self == Scope::Serverd
    }
}

/// The value a directive takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// `client`, `autoclient`, `cone`, `relay` or `restricted` (any case).
    RelayType,
    /// A host name or an IPv4 address, resolved when the file is read.
    Ipv4Host,
    /// A host name or an IPv4 address, kept as written (the client resolves it).
    ServerName,
    /// A host name or an IPv6 address whose first 32 bits are the Teredo
    /// prefix (RFC 4380 §2.6); multicast (ff00::/8) is refused.
    Ipv6Prefix,
    /// A C integer (`strtoul` base 0) from 0 to `max`.
    Integer {
        /// The largest value.
        max: u32,
    },
    /// A network interface name, at most 15 bytes.
    InterfaceName,
    /// A syslog facility name (any case).
    Facility,
    /// A file name.
    Path,
    /// `auto`, `always` or `off` (any case).
    PortMapping,
    /// `on` or `off` (any case).
    OnOff,
}

impl Value {
    /// Whether the TOML form writes it as an integer (else as a string).
    pub fn is_integer(self) -> bool {
        matches!(self, Value::Integer { .. })
    }
}

/// What a SIGHUP does with a changed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The client or relay starts over with the new value (tunnel and socket made again).
    StartOver,
    /// Applied at once, nothing restarts.
    Live,
    /// The server binds its sockets again.
    Rebind,
    /// Kept until the daemon restarts.
    NextStart,
}

/// One directive.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    /// The name in `miredo.conf` spelling (names match case-insensitively).
    pub name: &'static str,
    /// The TOML key.
    pub key: &'static str,
    /// The value and its range.
    pub value: Value,
    /// Where it is read, and what a SIGHUP does with it there.
    pub scopes: &'static [(Scope, Reload)],
    /// The value used when the directive is absent.
    pub default: &'static str,
    /// A value other than the default.
    pub example: &'static str,
}

impl Directive {
    /// Whether the file `serverd` (else `miredo.conf`) reads it.
    pub fn in_file(&self, serverd: bool) -> bool {
        self.scopes.iter().any(|(s, _)| s.is_serverd() == serverd)
    }
}

/// `RelayType`.
pub const RELAY_TYPE: Directive = Directive {
    name: "RelayType",
    key: "relay_type",
    value: Value::RelayType,
    scopes: &[(Scope::Miredo, Reload::StartOver)],
    default: "client",
    example: "cone",
};
/// `ServerAddress`.
pub const SERVER_ADDRESS: Directive = Directive {
    name: "ServerAddress",
    key: "server_address",
    value: Value::ServerName,
    scopes: &[(Scope::MiredoClient, Reload::StartOver)],
    default: "none (required)",
    example: "192.0.2.1",
};
/// `ServerAddress2` (read, unused by the client, as in miredo 1.2.6).
pub const SERVER_ADDRESS2: Directive = Directive {
    name: "ServerAddress2",
    key: "server_address2",
    value: Value::ServerName,
    scopes: &[(Scope::MiredoClient, Reload::StartOver)],
    default: "none",
    example: "192.0.2.2",
};
/// `ServerBindAddress`.
pub const SERVER_BIND_ADDRESS: Directive = Directive {
    name: "ServerBindAddress",
    key: "server_bind_address",
    value: Value::Ipv4Host,
    scopes: &[(Scope::Serverd, Reload::Rebind)],
    default: "none (required)",
    example: "192.0.2.10",
};
/// `ServerBindAddress2`.
pub const SERVER_BIND_ADDRESS2: Directive = Directive {
    name: "ServerBindAddress2",
    key: "server_bind_address2",
    value: Value::Ipv4Host,
    scopes: &[(Scope::Serverd, Reload::Rebind)],
    default: "ServerBindAddress + 1",
    example: "192.0.2.20",
};
/// `Prefix`.
pub const PREFIX: Directive = Directive {
    name: "Prefix",
    key: "prefix",
    value: Value::Ipv6Prefix,
    scopes: &[
        (Scope::MiredoRelay, Reload::StartOver),
        (Scope::Serverd, Reload::Live),
    ],
    default: "2001::",
    example: "3ffe:831f::",
};
/// `InterfaceMTU`.
pub const INTERFACE_MTU: Directive = Directive {
    name: "InterfaceMTU",
    key: "interface_mtu",
    value: Value::Integer { max: 65_535 },
    scopes: &[
        (Scope::MiredoRelay, Reload::StartOver),
        (Scope::Serverd, Reload::Live),
    ],
    default: "1280",
    example: "1400",
};
/// `InterfaceName`.
pub const INTERFACE_NAME: Directive = Directive {
    name: "InterfaceName",
    key: "interface_name",
    value: Value::InterfaceName,
    scopes: &[(Scope::Miredo, Reload::StartOver)],
    default: "the kernel's choice (tun%d)",
    example: "teredo",
};
/// `BindAddress`.
pub const BIND_ADDRESS: Directive = Directive {
    name: "BindAddress",
    key: "bind_address",
    value: Value::Ipv4Host,
    scopes: &[(Scope::Miredo, Reload::StartOver)],
    default: "0.0.0.0",
    example: "192.0.2.9",
};
/// `BindPort`.
pub const BIND_PORT: Directive = Directive {
    name: "BindPort",
    key: "bind_port",
    value: Value::Integer { max: 65_535 },
    scopes: &[(Scope::Miredo, Reload::StartOver)],
    default: "0 (an ephemeral port)",
    example: "3545",
};
/// `SyslogFacility`.
pub const SYSLOG_FACILITY: Directive = Directive {
    name: "SyslogFacility",
    key: "syslog_facility",
    value: Value::Facility,
    scopes: &[
        (Scope::Miredo, Reload::Live),
        (Scope::Serverd, Reload::Live),
    ],
    default: "daemon",
    example: "local3",
};
/// `ClientHook` (our extension): the hook runner is fixed at start-up.
pub const CLIENT_HOOK: Directive = Directive {
    name: "ClientHook",
    key: "client_hook",
    value: Value::Path,
    scopes: &[(Scope::MiredoClient, Reload::NextStart)],
    default: "/etc/miredo/client-hook",
    example: "/usr/local/sbin/hook",
};
/// `PeerQueueBudget` (our extension).
pub const PEER_QUEUE_BUDGET: Directive = Directive {
    name: "PeerQueueBudget",
    key: "peer_queue_budget",
    value: Value::Integer { max: u32::MAX },
    scopes: &[(Scope::Miredo, Reload::StartOver)],
    default: "4194304",
    example: "65536",
};
/// `ServerWorkers` (our extension): packet loops of miredo-server.
pub const SERVER_WORKERS: Directive = Directive {
    name: "ServerWorkers",
    key: "server_workers",
    value: Value::Integer { max: 64 },
    scopes: &[(Scope::Serverd, Reload::NextStart)],
    default: "0 (one per CPU the process may use, at most 16)",
    example: "4",
};

/// `PortMapping` (our extension): whether the client asks its NAT for a
/// mapping of its port (PCP, NAT-PMP, UPnP IGD).
pub const PORT_MAPPING: Directive = Directive {
    name: "PortMapping",
    key: "port_mapping",
    value: Value::PortMapping,
    scopes: &[(Scope::MiredoClient, Reload::StartOver)],
    default: "auto",
    example: "off",
};

/// `LocalDiscovery` (our extension): whether the client looks for clients
/// behind the same NAT on its link (RFC 4380 §5.2.8, RFC 6081 hairpinning).
pub const LOCAL_DISCOVERY: Directive = Directive {
    name: "LocalDiscovery",
    key: "local_discovery",
    value: Value::OnOff,
    scopes: &[(Scope::MiredoClient, Reload::StartOver)],
    default: "on",
    example: "off",
};

/// Every directive.
pub static ALL: &[Directive] = &[
    RELAY_TYPE,
    SERVER_ADDRESS,
    SERVER_ADDRESS2,
    SERVER_BIND_ADDRESS,
    SERVER_BIND_ADDRESS2,
    PREFIX,
    INTERFACE_MTU,
    INTERFACE_NAME,
    BIND_ADDRESS,
    BIND_PORT,
    SYSLOG_FACILITY,
    CLIENT_HOOK,
    PORT_MAPPING,
    LOCAL_DISCOVERY,
    PEER_QUEUE_BUDGET,
    SERVER_WORKERS,
];

/// The TOML key of a directive (`InterfaceMTU` → `interface_mtu`); an
/// undeclared name in lower case.
pub fn key_of(name: &str) -> String {
    ALL.iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_ascii_lowercase(), |d| d.key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key_of("InterfaceMTU"), "interface_mtu");
        assert_eq!(key_of("bindport"), "bind_port");
        assert_eq!(key_of("Other"), "other");
    }
}
