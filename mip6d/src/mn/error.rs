//! Why the mobile node cannot start (the text is what the user reads).

/// A start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Nothing to register.
    #[error("no MnHomeLink in the configuration: nothing to do")]
    NoHomeLink,
    /// Two `MnHomeLink` blocks name one home agent: the tunnel and the
    /// routes towards it would be one per home address.
    #[error(
        "two MnHomeLink blocks name home agent {0}: each home address needs its own home agent \
         (or DHAAD)"
    )]
    SharedHomeAgent(std::net::Ipv6Addr),
    /// The netlink or XFRM connection.
    #[error("netlink: {0}")]
    Netlink(netcfg::Error),
    /// `IPsecPolicySet`'s transport-mode policies.
    #[error("IPsec policies: {0}")]
    Ipsec(netcfg::Error),
    /// The Mobility Header socket.
    #[error("Unable to open MH socket! Do you have root permissions? ({0})")]
    MhSocket(netcfg::Error),
    /// The ICMPv6 socket.
    #[error("Unable to open ICMPv6 socket! ({0})")]
    Icmp6Socket(netcfg::Error),
    /// The link and address notifications.
    #[error("netlink events: {0}")]
    Events(netcfg::Error),
    /// The link dump.
    #[error("link dump: {0}")]
    LinkDump(netcfg::Error),
}
