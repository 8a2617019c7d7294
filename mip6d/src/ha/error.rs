//! Why the home agent cannot start (the text is what the user reads).

use crate::kernel::RULE_PRIO_FWD;

/// A start-up failure; the kernel state installed so far is removed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The netlink or XFRM connection.
    #[error("netlink: {0}")]
    Netlink(netcfg::Error),
    /// The Mobility Header socket.
    #[error("Unable to open MH socket! Do you have root permissions? ({0})")]
    MhSocket(netcfg::Error),
    /// The ICMPv6 socket.
    #[error("Unable to open ICMPv6 socket! ({0})")]
    Icmp6Socket(netcfg::Error),
    /// The raw IPv6 socket (DAD).
    #[error("raw IPv6 socket: {0}")]
    RawSocket(netcfg::Error),
    /// The socket holding the anycast memberships.
    #[error("anycast socket: {0}")]
    AnycastSocket(std::io::Error),
    /// The link dump.
    #[error("link dump: {0}")]
    LinkDump(netcfg::Error),
    /// No interface to serve.
    #[error("no home agent interface found")]
    NoInterface,
    /// `proxy_ndp` on an HA interface.
    #[error("proxy_ndp on {iface}: {source}")]
    ProxyNdp {
        /// The interface.
        iface: String,
        /// The sysctl's error.
        source: std::io::Error,
    },
    /// The forwarding rule.
    #[error("rule {prio}: {0}", prio = RULE_PRIO_FWD)]
    ForwardRule(netcfg::Error),
    /// The wildcard HAO receive state.
    #[error("xfrm HAO receive state: {0}")]
    HaoState(netcfg::Error),
    /// The sub-policy letting BUs with an HAO in.
    #[error("xfrm BU policy: {0}")]
    BuPolicy(netcfg::Error),
    /// The sub-policy letting MPSs with an HAO in.
    #[error("xfrm MPS policy: {0}")]
    MpsPolicy(netcfg::Error),
    /// `IPsecPolicySet`'s transport-mode policies.
    #[error("IPsec policies: {0}")]
    Ipsec(netcfg::Error),
}
