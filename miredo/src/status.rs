//! The client's observable state, and where it goes: the client hook (script or
//! built-in) and D-Bus. The driver reports every change through [`StatusSink`].

use std::net::{Ipv6Addr, SocketAddrV4};

use teredo::addr::CLIENT_LINK_LOCAL;
use teredo::maintain::State;
use teredo::qualified::{NatType, PortAllocation};

/// Snapshot of one Teredo tunnel, as published on D-Bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelStatus {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Down, qualifying or up.
    pub state: State,
    /// Teredo address when up.
    pub address: Option<Ipv6Addr>,
    /// MTU when up (1280 otherwise).
    pub mtu: u16,
    /// The server in use (the configured name until the first qualification).
    pub server: String,
    /// Public IPv4:port the server saw.
    pub mapped: Option<SocketAddrV4>,
    /// Number of peers in the peer list.
    pub peers: u32,
    /// `client`, `cone` or `restricted` (the D-Bus `Mode`).
    pub mode: &'static str,
    /// What the last qualification found out about the NAT (the D-Bus `NatType`).
    pub nat: NatType,
    /// The NAT kept our source port (the D-Bus `PortPreserved`).
    pub port_preserved: bool,
    /// The port mapping asked of the NAT (the D-Bus `PortMapping`): `off`,
    /// `none`, `pcp`, `nat-pmp` or `upnp`.
    pub port_mapping: &'static str,
    /// How the relay predicts the ports of a symmetric NAT (the D-Bus
    /// `PortPrediction`): `off`, `preserving` or `sequential`
    /// ([`prediction_name`]).
    pub port_prediction: &'static str,
    /// The packet path's counters, as of the last timer tick.
    pub stats: teredo::relay::Stats,
    /// How the driver batched that path's system calls, as of the same tick.
    pub path: crate::pump::PathStats,
}

impl TunnelStatus {
    /// Takes the packet path's latest counts; true when any of them changed,
    /// so that the caller publishes them.
    pub fn take_counts(
        &mut self,
        peers: u32,
        stats: teredo::relay::Stats,
        path: crate::pump::PathStats,
    ) -> bool {
        let changed = (peers, stats, path) != (self.peers, self.stats, self.path);
        self.peers = peers;
        self.stats = stats;
        self.path = path;
        changed
    }

    /// A tunnel that is down.
    pub fn new(iface: String, ifindex: u32) -> Self {
        TunnelStatus {
            iface,
            ifindex,
            state: State::Down,
            address: None,
            mtu: 1280,
            server: String::new(),
            mapped: None,
            peers: 0,
            mode: "client",
            nat: NatType::Unknown,
            port_preserved: false,
            port_mapping: "off",
            port_prediction: "off",
            stats: teredo::relay::Stats::default(),
            path: crate::pump::PathStats::default(),
        }
    }

    /// Forget the address (connectivity lost).
    pub fn clear_address(&mut self) {
        self.address = None;
        self.mapped = None;
        self.nat = NatType::Unknown;
        self.port_preserved = false;
        self.port_prediction = "off";
    }

    /// The link-local address the hook gets (docs/compat.md, "Client hook": a 1.2.6 client never
    /// has the cone flag).
    pub fn lladdress(&self) -> Option<Ipv6Addr> {
        if self.mode != "client" {
            // A relay always has it (§4.7).
            return Some(CLIENT_LINK_LOCAL);
        }
        self.address.map(|_| CLIENT_LINK_LOCAL)
    }

    /// `"down"`, `"qualifying"` or `"up"`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Down => "down",
            State::Qualifying => "qualifying",
            State::Up => "up",
        }
    }
}

/// The D-Bus `PortPrediction` of a port allocation the relay predicts
/// (`None`: no prediction).
pub fn prediction_name(p: Option<PortAllocation>) -> &'static str {
    match p {
        None => "off",
        Some(PortAllocation::Preserving) => "preserving",
        Some(PortAllocation::Sequential { .. }) => "sequential",
    }
}

/// Receives every state change of a tunnel.
#[async_trait::async_trait]
pub trait StatusSink: Send + Sync {
    /// Called after each change (state, address, MTU, peers…).
    async fn update(&self, status: &TunnelStatus);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_prediction_names_and_reset() {
        assert_eq!(prediction_name(None), "off");
        assert_eq!(
            prediction_name(Some(PortAllocation::Preserving)),
            "preserving"
        );
        assert_eq!(
            prediction_name(Some(PortAllocation::Sequential { step: 2 })),
            "sequential"
        );
        let mut st = TunnelStatus::new("teredo".into(), 1);
        assert_eq!(st.port_prediction, "off");
        st.port_prediction = "sequential";
        st.clear_address();
        assert_eq!(st.port_prediction, "off");
    }
}
