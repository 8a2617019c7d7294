//! Tunnel → UDP: encapsulation, bubbles and ping tests (RFC 4380 §5.2.4,
//! RFC 4380 §5.2.4, §5.4.1).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::{
    enqueue, prediction, send_bubble_with, transmit, Action, Outputs, TeredoTunnel, PING_HOP_LIMIT,
    UNREACH_ADDR, UNREACH_ADMIN,
};
use crate::addr::{self, TeredoAddr, TEREDO_PORT};
use crate::peers::{Attempt, Queued};
use crate::wire::{EchoKind, EchoRepr, Ipv6Header};

/// Placeholder mapping of a native peer before a ping test confirms one.
const NO_MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);

impl TeredoTunnel {
    /// Handles an IPv6 packet read from the tunnel interface (without any
    /// `tun_pi` header). Bytes past the IPv6 payload length are ignored.
    pub fn handle_tun_packet(
        &mut self,
        now: Instant,
        unix_secs: u32,
        pkt: &[u8],
        out: &mut Outputs,
    ) {
        let Ok(h) = Ipv6Header::parse(pkt) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let pkt = pkt.get(..h.packet_len()).unwrap_or(pkt);
        if h.dst.is_multicast() {
            self.stats.dropped_multicast += 1;
            return;
        }
        let Some(prefix) = self.prefix() else {
            self.stats.dropped_not_qualified += 1;
            self.icmp_error(now, UNREACH_ADDR, pkt, out);
            return;
        };
        let dst_teredo = addr::is_teredo(&h.dst, prefix);
        if !dst_teredo {
            // Only a client with its own Teredo source may ping-test a
            // native destination; anything else is a routing mistake.
            let code = match self.own {
                Some(_) if addr::is_teredo(&h.src, prefix) => None,
                Some(_) => Some(UNREACH_ADMIN),
                None => Some(UNREACH_ADDR),
            };
            if let Some(code) = code {
                self.stats.dropped_no_route += 1;
                self.icmp_error(now, code, pkt, out);
                return;
            }
        }
        let teredo = TeredoAddr::from_ipv6(&h.dst);
        if dst_teredo && !addr::is_global_unicast_v4(teredo.server) {
            self.stats.dropped_non_global += 1;
            return;
        }

        let initial = if dst_teredo {
            teredo.mapping()
        } else {
            NO_MAPPING
        };
        let predict = dst_teredo && self.predicts_for(&teredo);
        let Some((mut peer, _)) = self.peers.get_or_insert(&h.dst, initial) else {
            self.stats.dropped_peer_list_full += 1;
            self.icmp_error(now, UNREACH_ADDR, pkt, out);
            return;
        };
        if peer.is_valid(now) {
            peer.last_tx = Some(now);
            self.stats.tx += 1;
            out.push(transmit(peer.via, peer.mapping), pkt);
            return;
        }
        if predict && peer.via.is_none() {
            // Our NAT keeps a fresh port: this peer gets one of its own.
            peer.via = self.ports.take(h.dst, teredo.mapping());
        }

        let limiter = if dst_teredo {
            &mut peer.bubbles
        } else {
            &mut peer.pings
        };
        let attempt = limiter.attempt(now);
        if attempt == Attempt::Blocked {
            self.stats.dropped_rate_limited += 1;
            self.icmp_error(now, UNREACH_ADDR, pkt, out);
            return;
        }
        enqueue(&mut peer, Queued::Outgoing(pkt.to_vec()), &mut self.stats);
        if attempt == Attempt::Wait {
            return;
        }
        peer.last_tx = Some(now);
        let mapping = peer.mapping;
        let via = peer.via;

        if dst_teredo {
            // Keyed on the mapping embedded in the address, which is what the
            // receive side checks replies against (RFC 4380 §5.2.3).
            let src = self.config.secret.bubble_source(teredo.mapping());
            // To a peer behind our NAT, our endpoint on the link rides along.
            let hairpin = self.hairpin_trailers(&teredo);
            let hairpin = hairpin.as_ref();
            // Our public port towards this peer, when a side port gives one,
            // is announced through its server only: the direct bubble
            // already comes from it.
            let announce = via
                .and_then(|v| self.ports.announced(v))
                .map(prediction::announce);
            let indirect = announce.as_ref().or(hairpin);
            if let Some(v) = via {
                // Behind a sequential NAT, first learn the side port's mapping.
                self.probe_side_port(v, out);
            }
            if self.on_local_link(mapping) {
                // A peer behind our NAT, found on the link (local discovery).
                let to = Action::Transmit(mapping);
                send_bubble_with(src, h.dst, to, hairpin, &mut self.stats, out);
            } else if !self.own_cone() && addr::is_global_unicast_v4(*mapping.ip()) {
                let to = transmit(via, mapping);
                send_bubble_with(src, h.dst, to, hairpin, &mut self.stats, out);
            }
            let server = Action::Transmit(SocketAddrV4::new(teredo.server, TEREDO_PORT));
            send_bubble_with(src, h.dst, server, indirect, &mut self.stats, out);
            self.discover_for_packet(now, &teredo, out);
        } else if let Some(own) = self.own {
            let ping = self.ping(own.addr, h.dst, unix_secs);
            self.stats.pings_sent += 1;
            let server = SocketAddrV4::new(own.server, TEREDO_PORT);
            out.push(Action::Transmit(server), &ping);
        }
    }

    /// A ping-test echo request from `src` (our address) to `dst`, for the
    /// server to forward (RFC 4380 §5.2.4, §5.2.9).
    pub(super) fn ping(
        &self,
        src: std::net::Ipv6Addr,
        dst: std::net::Ipv6Addr,
        unix_secs: u32,
    ) -> Vec<u8> {
        let pid = self.config.pid;
        let data = self.config.secret.ping_payload(&src, &dst, pid, unix_secs);
        EchoRepr {
            kind: EchoKind::Request,
            ident: pid as u16,
            seq: unix_secs as u16,
            data: &data,
        }
        .emit_ipv6(src, dst, PING_HOP_LIMIT)
    }
}
