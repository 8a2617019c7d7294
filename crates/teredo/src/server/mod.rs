//! The Teredo server (RFC 4380 §5.3): qualification replies,
//! indirect bubbles and ping tests, and nothing else.
//!
//! [`Server::handle_packet`] takes one UDP datagram received on port 3544 of either
//! server address and returns what to do with it: an [`Action`] (an RA, a
//! packet forwarded to a Teredo client, or an IPv6 packet for the native
//! network) or the [`DropReason`]. Every call moves exactly one counter of
//! [`Counters`].
//!
//! The server keeps no per-client state and has no timers (miredo has none
//! either), so, unlike the client and relay cores, it takes no `now`.
//!
//! # Never an open relay
//!
//! Only bubbles and ICMPv6 pass (rule 2), ICMPv6 at most
//! [`MAX_FORWARD_PAYLOAD`] bytes. Native IPv6 output requires a Teredo source
//! whose embedded mapping is the datagram's own outer source (rule 5), so a
//! sender can only speak for itself; a non-Teredo source may only reach this
//! server's own Teredo clients (rule 6).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use crate::addr::{
    self, is_global_unicast_v4, server_link_local, TeredoAddr, ALL_ROUTERS, FLAG_CONE, TEREDO_PORT,
};
use crate::wire::trailers::Trailers;
use crate::wire::{
    emit_origin, emit_with_origin, icmpv6::TYPE_ROUTER_SOLICIT, AuthRepr, Ipv6Header,
    RouterAdvertisement, TeredoPacket, NEXT_HEADER_ICMPV6,
};

/// Largest IPv6 payload of a non-bubble packet the server passes on
/// (miredo `server.c`): enough for ping tests, useless as a relay.
pub const MAX_FORWARD_PAYLOAD: usize = 88;
/// Most trailer bytes forwarded after a bubble: every RFC 6081 trailer
/// once, four alternate addresses included, fits.
const MAX_FORWARD_TRAILERS: usize = 64;
/// Default advertised MTU.
pub const DEFAULT_MTU: u16 = 1280;
/// Smallest MTU the server accepts to advertise.
pub const MIN_MTU: u16 = 1280;

/// Which of the two server addresses a datagram arrived on or leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Local {
    /// `ServerBindAddress`: the address clients are configured with, and the
    /// one embedded in their Teredo addresses.
    Primary,
    /// `ServerBindAddress2`: used only to answer cone-flagged solicitations.
    Secondary,
}

impl Local {
    /// The other address.
    pub fn other(self) -> Local {
        match self {
            Local::Primary => Local::Secondary,
            Local::Secondary => Local::Primary,
        }
    }
}

/// Settings of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Primary address (`ServerBindAddress`).
    pub primary: Ipv4Addr,
    /// Secondary address (`ServerBindAddress2`, normally primary + 1).
    pub secondary: Ipv4Addr,
    /// Teredo prefix served, as its first 32 bits (`Prefix`).
    pub prefix: u32,
    /// MTU advertised in RAs (`InterfaceMTU`).
    pub mtu: u16,
}

impl ServerConfig {
    /// Settings with miredo's defaults: secondary = primary + 1, prefix
    /// 2001:0::/32, MTU 1280.
    pub fn new(primary: Ipv4Addr) -> Self {
        ServerConfig {
            primary,
            secondary: next_address(primary),
            prefix: addr::DEFAULT_PREFIX,
            mtu: DEFAULT_MTU,
        }
    }

    /// Checks what miredo checks at start-up: both addresses global unicast
    /// and distinct, the prefix not multicast, the MTU at least 1280.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        for ip in [self.primary, self.secondary] {
            if !is_global_unicast_v4(ip) {
                return Err(ServerConfigError::NotGlobal(ip));
            }
        }
        if self.primary == self.secondary {
            return Err(ServerConfigError::SameAddresses(self.primary));
        }
        if !addr::prefix_is_valid(self.prefix) {
            return Err(ServerConfigError::BadPrefix(self.prefix));
        }
        if self.mtu < MIN_MTU {
            return Err(ServerConfigError::MtuTooSmall(self.mtu));
        }
        Ok(())
    }

    /// The address `local` stands for.
    pub fn address(&self, local: Local) -> Ipv4Addr {
        match local {
            Local::Primary => self.primary,
            Local::Secondary => self.secondary,
        }
    }
}

/// The address after `ip` (wrapping), miredo's default secondary address.
pub fn next_address(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).wrapping_add(1))
}

/// Why a [`ServerConfig`] cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServerConfigError {
    /// miredo's wording, so that logs match.
    #[error("Server IPv4 addresses must be global unicast ({0}).")]
    NotGlobal(Ipv4Addr),
    /// Both sockets on one address could not tell a cone NAT apart.
    #[error("Primary and secondary server addresses are both {0}.")]
    SameAddresses(Ipv4Addr),
    /// ff00::/8 cannot be a Teredo prefix.
    #[error("Invalid Teredo IPv6 prefix: {0:x}::/32")]
    BadPrefix(u32),
    /// Below the IPv6 minimum link MTU.
    #[error("MTU {0} is below 1280")]
    MtuTooSmall(u16),
}

/// What to do with an accepted datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Reply to a Router Solicitation: send `payload` (the RA) over UDP from
    /// the `from` socket to `to`.
    Advertise {
        /// The socket to send from.
        from: Local,
        /// The solicitation's outer source.
        to: SocketAddrV4,
        /// Authentication echo (if the RS had one), origin indication, RA.
        payload: Vec<u8>,
    },
    /// Send `payload` over UDP from the primary socket to a Teredo client.
    Forward {
        /// The destination's NAT mapping.
        to: SocketAddrV4,
        /// The IPv6 packet, preceded by an origin indication when the
        /// destination is a client of this server.
        payload: Vec<u8>,
    },
    /// Send the IPv6 packet `packet` natively (raw IPv6 socket) toward `dst`.
    Native {
        /// The IPv6 destination (also in `packet`).
        dst: Ipv6Addr,
        /// The whole IPv6 packet, as received.
        packet: Vec<u8>,
    },
}

impl Action {
    /// For UDP actions: the socket to send from, the destination and the
    /// payload.
    pub fn udp(&self) -> Option<(Local, SocketAddrV4, &[u8])> {
        match self {
            Action::Advertise { from, to, payload } => Some((*from, *to, payload)),
            Action::Forward { to, payload } => Some((Local::Primary, *to, payload)),
            Action::Native { .. } => None,
        }
    }
}

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// Why the server dropped a datagram, in the order of the checks
        /// (RFC 4380 §5.3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[$doc])* $variant,)+
        }

        impl DropReason {
            /// Every reason, in check order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)+];

            /// A stable snake_case name (logs, D-Bus).
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)+
                }
            }
        }
    };
}

drop_reasons! {
    /// Rule 1: not a Teredo payload carrying a valid IPv6 header.
    Malformed => "malformed",
    /// Rule 2: neither a bubble nor ICMPv6.
    NotBubbleOrIcmpv6 => "not_bubble_or_icmpv6",
    /// Rule 3: the outer source IPv4 is not global unicast.
    SourceNotGlobal => "source_not_global",
    /// Rule 5: a Teredo source whose mapping is not the outer source.
    MappingMismatch => "mapping_mismatch",
    /// Rule 6/7: a non-Teredo source to anything but a client of this server.
    NotForThisServer => "not_for_this_server",
    /// The datagram comes from one of our own sockets (or would go to one).
    Loop => "loop",
    /// Anything but an RS sent to ff02::2 or to the server's link-local.
    LinkLocalDestination => "link_local_destination",
    /// IPv6 destination unspecified, loopback, link-local or multicast.
    DestinationNotGlobal => "destination_not_global",
    /// A non-bubble whose IPv6 payload exceeds [`MAX_FORWARD_PAYLOAD`].
    TooLong => "too_long",
    /// A Teredo destination whose mapped IPv4 is not global unicast.
    MappedNotGlobal => "mapped_not_global",
}

/// How many reasons there are.
pub const DROP_REASONS: usize = DropReason::ALL.len();

/// What the server did, since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Router Solicitations answered with an RA.
    pub rs_answered: u64,
    /// Packets forwarded over UDP to Teredo clients.
    pub forwarded_teredo: u64,
    /// Packets sent out natively.
    pub forwarded_native: u64,
    /// Drops, indexed by [`DropReason`] position in [`DropReason::ALL`].
    pub dropped: [u64; DROP_REASONS],
}

impl Counters {
    /// Drops counted under `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Every datagram handled.
    pub fn total(&self) -> u64 {
        self.rs_answered + self.forwarded_teredo + self.forwarded_native + self.dropped_total()
    }
}

/// Adds another core's counters (a server running several cores).
impl std::ops::AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, other: &Counters) {
        self.rs_answered += other.rs_answered;
        self.forwarded_teredo += other.forwarded_teredo;
        self.forwarded_native += other.forwarded_native;
        for (mine, theirs) in self.dropped.iter_mut().zip(other.dropped) {
            *mine += theirs;
        }
    }
}

/// A Teredo server's packet logic. See the module documentation.
#[derive(Debug, Clone)]
pub struct Server {
    config: ServerConfig,
    link_local: Ipv6Addr,
    counters: Counters,
}

impl Server {
    /// A server for `config` (validate it first with
    /// [`ServerConfig::validate`]; an invalid one still never panics).
    pub fn new(config: ServerConfig) -> Self {
        Server {
            config,
            link_local: server_link_local(config.primary),
            counters: Counters::default(),
        }
    }

    /// Applies new settings (a reload), keeping the counters.
    pub fn reconfigure(&mut self, config: ServerConfig) {
        self.config = config;
        self.link_local = server_link_local(config.primary);
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The link-local address RAs come from: `fe80::8000:f227:<~primary>`.
    pub fn link_local(&self) -> Ipv6Addr {
        self.link_local
    }

    /// Handles one datagram received from `src` on the `local` socket, and
    /// counts the outcome.
    pub fn handle_packet(
        &mut self,
        local: Local,
        src: SocketAddrV4,
        datagram: &[u8],
    ) -> Result<Action, DropReason> {
        let outcome = self.decide(local, src, datagram);
        match &outcome {
            Ok(Action::Advertise { .. }) => self.counters.rs_answered += 1,
            Ok(Action::Forward { .. }) => self.counters.forwarded_teredo += 1,
            Ok(Action::Native { .. }) => self.counters.forwarded_native += 1,
            Err(reason) => self.counters.dropped[*reason as usize] += 1,
        }
        outcome
    }

    fn is_own(&self, ep: SocketAddrV4) -> bool {
        ep.port() == TEREDO_PORT
            && (*ep.ip() == self.config.primary || *ep.ip() == self.config.secondary)
    }

    fn decide(
        &self,
        local: Local,
        src: SocketAddrV4,
        datagram: &[u8],
    ) -> Result<Action, DropReason> {
        use DropReason::*;

        // Rule 1.
        let packet = TeredoPacket::parse(datagram).map_err(|_| Malformed)?;
        let ip = Ipv6Header::parse(packet.ipv6).map_err(|_| Malformed)?;
        // Rule 2.
        let bubble = ip.is_bubble();
        if !bubble && ip.next_header != NEXT_HEADER_ICMPV6 {
            return Err(NotBubbleOrIcmpv6);
        }
        // Rule 3.
        if !is_global_unicast_v4(*src.ip()) {
            return Err(SourceNotGlobal);
        }
        let icmp_type = (!bubble).then(|| ip.payload.first().copied()).flatten();
        let is_rs = icmp_type == Some(TYPE_ROUTER_SOLICIT)
            && crate::wire::RouterSolicitation::parse(packet.ipv6).is_ok();
        let prefix = self.config.prefix;
        // Rule 4: a solicitation from a link-local address to all routers.
        let solicitation = is_link_local(&ip.src) && ip.dst == ALL_ROUTERS && is_rs;
        if !solicitation {
            if addr::is_teredo(&ip.src, prefix) {
                // Rule 5: a Teredo source speaks only for its own mapping.
                if TeredoAddr::from_ipv6(&ip.src).mapping() != src {
                    return Err(MappingMismatch);
                }
            } else if !(addr::is_teredo(&ip.dst, prefix)
                && TeredoAddr::from_ipv6(&ip.dst).server == self.config.primary)
            {
                // Rules 6 and 7.
                return Err(NotForThisServer);
            }
        }

        if self.is_own(src) {
            return Err(Loop);
        }
        if ip.dst == ALL_ROUTERS || ip.dst == self.link_local {
            if !is_rs {
                return Err(LinkLocalDestination);
            }
            return Ok(self.advertise(local, src, &packet.auth, &ip));
        }
        if !is_global_unicast_v6(&ip.dst) {
            return Err(DestinationNotGlobal);
        }
        if !bubble && ip.payload.len() > MAX_FORWARD_PAYLOAD {
            return Err(TooLong);
        }
        if !addr::is_teredo(&ip.dst, prefix) {
            return Ok(Action::Native {
                dst: ip.dst,
                packet: packet.ipv6.to_vec(),
            });
        }
        let dst = TeredoAddr::from_ipv6(&ip.dst);
        let to = dst.mapping();
        if !is_global_unicast_v4(*to.ip()) {
            return Err(MappedNotGlobal);
        }
        if self.is_own(to) {
            return Err(Loop);
        }
        let mut payload = if dst.server == self.config.primary {
            emit_with_origin(src, packet.ipv6)
        } else {
            packet.ipv6.to_vec()
        };
        if bubble {
            // RFC 6081 trailers after a bubble go with it (a client behind
            // the same NAT learns its peer's endpoint on their link from
            // them); a list that does not parse is left behind.
            let rest = datagram.get(packet.buffer_len()..).unwrap_or_default();
            if !rest.is_empty()
                && rest.len() <= MAX_FORWARD_TRAILERS
                && Trailers::parse(rest).is_ok()
            {
                payload.extend_from_slice(rest);
            }
        }
        Ok(Action::Forward { to, payload })
    }

    /// The reply to a solicitation (RFC 4380 §5.3.1; 117 bytes with
    /// an authentication header): it leaves from the address the RS arrived
    /// on, or from the other one when the RS source carries the cone flag, so
    /// that only a client behind a cone NAT receives it.
    fn advertise(
        &self,
        local: Local,
        src: SocketAddrV4,
        auth: &Option<AuthRepr<'_>>,
        rs: &Ipv6Header<'_>,
    ) -> Action {
        let mut payload = Vec::with_capacity(crate::wire::RA_PAYLOAD_LEN);
        if let Some(a) = auth {
            AuthRepr::with_nonce(a.nonce).emit(&mut payload);
        }
        emit_origin(src, &mut payload);
        RouterAdvertisement::teredo_server(
            self.config.primary,
            self.config.prefix,
            rs.src,
            u32::from(self.config.mtu),
        )
        .emit(&mut payload);
        let cone = u16::from_be_bytes([rs.src.octets()[8], rs.src.octets()[9]]) & FLAG_CONE != 0;
        Action::Advertise {
            from: if cone { local.other() } else { local },
            to: src,
            payload,
        }
    }
}

/// True for fe80::/10.
fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The IPv6 destinations a server passes on: not unspecified, loopback,
/// link-local (fe80::/10) or multicast (RFC 4380 §5.3).
pub fn is_global_unicast_v6(a: &Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || is_link_local(a))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
