//! Why the correspondent node cannot start (the text is what the user
//! reads; beside another role it is a warning and that role goes on).

/// A start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Without entropy there is no Kcn (RFC 6275 §5.2.1) to keep secret.
    #[error("correspondent node: no random numbers for Kcn")]
    NoRandom,
    /// The Mobility Header socket.
    #[error("correspondent node: cannot open the MH socket: {0}")]
    MhSocket(netcfg::Error),
    /// The netlink or XFRM connection.
    #[error("correspondent node: netlink: {0}")]
    Netlink(netcfg::Error),
    /// The base XFRM objects ([`super::xfrm::install_base`]).
    #[error("correspondent node: xfrm: {0}")]
    Xfrm(netcfg::Error),
}
