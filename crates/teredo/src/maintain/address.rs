//! What an RA answering our RS gives (RFC 4380 §5.2.1): the checks on it,
//! our address made from it, and whether a port mapping on the NAT serves it.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::LogMessage;
use super::{Event, Maintainer, Offer, Phase, Qualified, DEFAULT_MTU};
use crate::addr::{self, TeredoAddr, OBSOLETE_PREFIX};
use crate::wire::{RouterAdvertisement, TeredoPacketRepr};

impl Maintainer {
    /// Checks an RA answering our RS to `server` (RFC 4380 §5.2.1).
    pub(super) fn offer(
        &mut self,
        packet: &TeredoPacketRepr<'_>,
        server: Ipv4Addr,
    ) -> Option<Offer> {
        let auth = packet.auth.as_ref()?;
        if auth.confirmation != 0 {
            self.out.events.push(Event::Log(LogMessage::AuthFailed));
            return None;
        }
        let origin = packet.origin?;
        let ra = match RouterAdvertisement::parse(packet.ipv6) {
            Ok(ra) => ra,
            Err(e) => {
                self.out
                    .events
                    .push(Event::Log(LogMessage::InvalidRa(e.to_string())));
                return None;
            }
        };
        let pio = ra.prefixes.first()?;
        let p = pio.prefix.octets();
        let mut prefix = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        let prefix_server = Ipv4Addr::new(p[4], p[5], p[6], p[7]);
        if prefix_server != server {
            self.out
                .events
                .push(Event::Log(LogMessage::InvalidRa(format!(
                    "prefix names server {prefix_server}, expected {server}"
                ))));
            return None;
        }
        if prefix == OBSOLETE_PREFIX {
            prefix = addr::DEFAULT_PREFIX;
        }
        if !addr::prefix_is_valid(prefix) {
            self.out
                .events
                .push(Event::Log(LogMessage::InvalidRa(format!(
                    "invalid Teredo prefix {prefix:x}::/32"
                ))));
            return None;
        }
        let mtu = ra
            .mtu
            .and_then(|m| u16::try_from(m).ok())
            .unwrap_or(DEFAULT_MTU);
        Some(Offer {
            prefix,
            origin,
            mtu,
        })
    }

    pub(super) fn accept(&mut self, now: Instant, server: Ipv4Addr, offer: Offer) {
        let Offer {
            prefix,
            origin,
            mtu,
        } = offer;
        self.failures = 0;
        self.failed_rounds = 0;
        self.failed_servers = 0;
        self.no_reply_logged = false;
        self.phase = Phase::Idle {
            at: now + self.refresh(),
        };
        // RFC 5991 §3: the random flag bits stay while the mapping stays, so a
        // refresh or a re-qualification to the same mapping keeps the address.
        let same_mapping = self
            .previous_mapping
            .is_some_and(|(p, s, o, _)| p == prefix && s == server && o == origin);
        let flags = match self.previous_mapping {
            Some((_, _, _, flags)) if same_mapping => flags,
            _ => {
                let seed = (u128::from(self.generation) << 64)
                    | (u128::from(u32::from(*origin.ip())) << 16)
                    | u128::from(origin.port());
                self.secret.random_flags(seed)
            }
        };
        self.previous_mapping = Some((prefix, server, origin, flags));
        let teredo = TeredoAddr {
            prefix,
            server,
            flags,
            mapped_port: origin.port(),
            mapped_ip: *origin.ip(),
        };
        let q = Qualified {
            address: teredo.to_ipv6(),
            teredo,
            mtu,
        };
        if self.qualified == Some(q) {
            return;
        }
        self.qualified = Some(q);
        self.out.events.push(Event::Up(q));
        // A new mapping as the server sees it, or a new server: the NAT may
        // be another one too. A new MTU alone changes nothing there.
        if self.nat_tests && self.tested != Some((server, origin)) {
            self.tested = Some((server, origin));
            self.start_nat_tests(now, server);
        }
    }

    /// The port mapping the NAT granted us (PCP, NAT-PMP or UPnP), or `None`
    /// once it is gone. The client asks for the public address and port its
    /// server already sees; granted, the NAT forwards the port our address
    /// names to us from any host, as a cone NAT would (the idea of RFC 6081's
    /// UPnP extension, with any mapping protocol). The address itself never
    /// names another port than the server sees: the server checks that a
    /// client's packets come from the mapping in their source address
    /// (RFC 4380 §5.3.1).
    pub fn set_port_mapping(&mut self, mapping: Option<SocketAddrV4>) {
        self.port_mapping = mapping;
    }

    /// The port mapping, when it is the one our address names (the NAT
    /// forwards that port to us from anyone).
    pub fn port_mapping_in_use(&self) -> Option<SocketAddrV4> {
        let q = self.qualified?;
        self.port_mapping.filter(|m| *m == q.mapping())
    }
}
