//! UDP → tunnel: decapsulation and peer validation (RFC 4380 §5.2.3,
//! RFC 4380 §5.2.5, §5.4.2).

use std::net::{Ipv6Addr, SocketAddrV4};
use std::time::Instant;

use super::{
    enqueue, flush_queue, local, reply_bubble, reply_bubble_from, reply_bubble_to, Action, Outputs,
    OwnAddress, TeredoTunnel,
};
use crate::addr::{self, TeredoAddr, TEREDO_PORT};
use crate::peers::{Attempt, Queued};
use crate::wire::icmpv6::{ErrorRepr, TYPE_DST_UNREACH};
use crate::wire::trailers::packet_trailers;
use crate::wire::{
    verify_icmpv6_checksum, EchoKind, EchoRepr, Ipv6Header, TeredoPacket, NEXT_HEADER_ICMPV6,
};

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl TeredoTunnel {
    /// Handles a UDP datagram received on the Teredo socket from `from`.
    ///
    /// The caller has already given qualification packets
    /// ([`super::is_qualification_packet`]) to the maintainer instead.
    pub fn handle_udp_packet(
        &mut self,
        now: Instant,
        unix_secs: u32,
        from: SocketAddrV4,
        payload: &[u8],
        out: &mut Outputs,
    ) {
        self.handle_udp_packet_via(now, unix_secs, from, None, payload, out);
    }

    /// [`TeredoTunnel::handle_udp_packet`] for a datagram received on the
    /// side socket bound to `via` (`None`: the Teredo socket), where answers
    /// to it go out from ([`super::prediction`]).
    pub fn handle_udp_packet_via(
        &mut self,
        now: Instant,
        unix_secs: u32,
        from: SocketAddrV4,
        via: Option<u16>,
        payload: &[u8],
        out: &mut Outputs,
    ) {
        let Ok(pkt) = TeredoPacket::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Ok(h) = pkt.ipv6_header() else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(prefix) = self.prefix() else {
            self.stats.dropped_not_qualified += 1;
            return;
        };
        let bubble = h.is_bubble();
        let src_teredo = addr::is_teredo(&h.src, prefix);

        if let Some(own) = self.own {
            if let (Some(via), Some(auth), Some(origin)) = (via, pkt.auth, pkt.origin) {
                // Our server's answer to a side port's probe (`prediction`).
                let server = SocketAddrV4::new(own.server, TEREDO_PORT);
                if from == server && self.probe_answered(now, via, auth.nonce, origin, out) {
                    self.stats.rx += 1;
                    return;
                }
            }
            if bubble && h.dst == local::ALL_NODES && pkt.auth.is_none() && pkt.origin.is_none() {
                // A unicast discovery bubble from a client behind our NAT
                // (RFC 4380 §5.2.8).
                self.discovered(now, from, h.src, false, out);
                return;
            }
            if from == SocketAddrV4::new(own.server, TEREDO_PORT) {
                // From our server: an indirect bubble (or packet) to answer
                // with a direct bubble, addresses swapped.
                // Spoofable by anyone who can reach us from the server's
                // endpoint, hence the limits of `replies`.
                let target = match pkt.origin {
                    Some(origin) => Some(origin),
                    None if bubble && src_teredo => Some(TeredoAddr::from_ipv6(&h.src).mapping()),
                    None => None,
                };
                if let Some(dst) = target {
                    let b = (h.dst, h.src, dst);
                    // With port prediction, the answer to a peer's bubble
                    // leaves from that peer's side port.
                    let side = if bubble {
                        self.side_port_towards(now, &h.src, dst, out)
                    } else {
                        None
                    };
                    reply_bubble_from(&mut self.replies, now, b, false, side, &mut self.stats, out);
                    if bubble {
                        if let Ok(t) = packet_trailers(payload, &pkt) {
                            if self.behind_our_nat(*dst.ip()) {
                                // From a peer behind our NAT: answer at its
                                // endpoints on our link too, in case the NAT
                                // does not loop the answer back (RFC 6081
                                // hairpinning).
                                self.answer_at_alternates(now, (h.dst, h.src), &t, out);
                            } else {
                                // At the public port it announces, if any
                                // (RFC 6081 port prediction).
                                self.answer_random_port(now, (h.dst, h.src), dst, &t, side, out);
                            }
                        }
                    }
                }
                if bubble {
                    self.stats.rx += 1;
                    self.stats.bubbles_received += 1;
                    return;
                }
            }
            if bubble && h.dst == own.addr && is_link_local(&h.src) {
                // A peer's direct bubble (its keyed link-local source). Answer
                // it where it came from, addresses swapped, as we answer an
                // origin indication: behind a symmetric NAT the peer's mapping
                // towards us is not the one in its address, and only this
                // reply gets through its NAT (docs/nat-traversal.md). One
                // datagram of the same size back to its sender, within the
                // limits of `replies`.
                // A peer behind our own NAT writes from its endpoint on our
                // link, perhaps a private address (local discovery).
                // From the socket it came to: with port prediction, perhaps
                // a side port (`prediction`).
                let local = self.on_local_link(from);
                let b = (h.dst, h.src, from);
                let (limiter, stats) = (&mut self.replies, &mut self.stats);
                reply_bubble_from(limiter, now, b, local, via, stats, out);
                self.stats.rx += 1;
                self.stats.bubbles_received += 1;
                return;
            }
            if is_link_local(&h.src) {
                self.stats.dropped_link_local += 1;
                return;
            }
        } else if !src_teredo {
            self.stats.dropped_foreign_prefix += 1;
            return;
        }
        if h.dst.is_multicast() {
            self.stats.dropped_multicast += 1;
            return;
        }

        let client = self.own;
        if let Some(mut peer) = self.peers.get_mut(&h.src) {
            if peer.trusted && peer.mapping == from {
                peer.touch_rx(now);
                flush_queue(&mut peer, &mut self.stats, out);
                self.stats.rx += 1;
                if bubble {
                    // miredo hands these to the kernel, which discards them.
                    self.stats.bubbles_received += 1;
                } else {
                    self.stats.to_tun += 1;
                    out.push(Action::ToTun, pkt.ipv6);
                }
                return;
            }
            if let Some(own) = client {
                let cfg = &self.config;
                if is_ping_reply(cfg, &own, pkt.ipv6, unix_secs) {
                    peer.confirm(from, now);
                    flush_queue(&mut peer, &mut self.stats, out);
                    self.stats.rx += 1;
                    return;
                }
            }
        }

        if src_teredo {
            let embedded = TeredoAddr::from_ipv6(&h.src).mapping();
            let matched = embedded == from
                || (bubble
                    && h.dst.octets()[8..] == self.config.secret.bubble_interface_id(embedded));
            if matched {
                let mut peer = if client.is_some() {
                    match self.peers.get_or_insert(&h.src, from) {
                        Some((peer, _)) => peer,
                        None => {
                            self.stats.dropped_peer_list_full += 1;
                            return;
                        }
                    }
                } else {
                    match self.peers.get_mut(&h.src) {
                        Some(peer) => peer,
                        None => {
                            self.stats.dropped_unknown_peer += 1;
                            return;
                        }
                    }
                };
                peer.confirm(from, now);
                flush_queue(&mut peer, &mut self.stats, out);
                self.stats.rx += 1;
                if bubble {
                    self.stats.bubbles_received += 1;
                } else {
                    self.stats.to_tun += 1;
                    out.push(Action::ToTun, pkt.ipv6);
                }
                return;
            }
        }

        let embedded = TeredoAddr::from_ipv6(&h.src).mapping();
        // A peer behind our NAT writing from its endpoint on our link, which
        // its address cannot name (local discovery, RFC 6081 hairpinning).
        let on_link = self.on_local_link(from) && self.behind_our_nat(*embedded.ip());
        if let (Some(_), true, false, true) = (
            client,
            src_teredo,
            bubble,
            embedded.ip() == from.ip() || on_link,
        ) {
            // A Teredo peer writing from another port than the one in its
            // address (a symmetric NAT). Do not trust the source; bubble the
            // claimed address through its server instead, as if we had data
            // for it: the genuine peer answers with a direct bubble carrying
            // our keyed hash from its real endpoint, which confirms it there
            // and releases this packet if it came from that same endpoint.
            //
            // Only the port may differ: a symmetric NAT gives one host the
            // same public IPv4 towards every destination ("paired" pooling,
            // RFC 4787 §4.1, REQ-2). A datagram whose address names another
            // IPv4 than the one it came from is dropped below, as RFC 4380
            // §5.2.3 says; otherwise anyone could make us bubble a third
            // host and a server of their choice.
            let claimed_server = TeredoAddr::from_ipv6(&h.src).server;
            let bubble_src = self.config.secret.bubble_source(embedded);
            let Some((mut peer, _)) = self.peers.get_or_insert(&h.src, embedded) else {
                self.stats.dropped_peer_list_full += 1;
                return;
            };
            if peer.trusted || !addr::is_global_unicast_v4(claimed_server) {
                self.stats.dropped_unauthenticated += 1;
                return;
            }
            let attempt = peer.bubbles.attempt(now);
            if attempt == Attempt::Blocked {
                self.stats.dropped_unauthenticated += 1;
                return;
            }
            let item = Queued::Incoming {
                from,
                packet: pkt.ipv6.to_vec(),
            };
            if enqueue(&mut peer, item, &mut self.stats) {
                self.stats.rx += 1;
            }
            if attempt == Attempt::Send {
                peer.last_tx = Some(now);
                if on_link {
                    // Only the owner of the address at that endpoint
                    // answers this one.
                    let b = (bubble_src, h.src, from);
                    reply_bubble_to(&mut self.replies, now, b, true, &mut self.stats, out);
                } else {
                    let server = SocketAddrV4::new(claimed_server, TEREDO_PORT);
                    let (limiter, stats) = (&mut self.replies, &mut self.stats);
                    let b = (bubble_src, h.src, embedded);
                    reply_bubble_from(limiter, now, b, false, peer.via, stats, out);
                    reply_bubble(limiter, now, (bubble_src, h.src, server), stats, out);
                }
            }
            return;
        }

        if let (Some(own), false) = (client, src_teredo) {
            // A native host (through some relay): queue, and ping-test it
            // through our server to learn which relay it is behind.
            let Some((mut peer, _)) = self.peers.get_or_insert(&h.src, from) else {
                self.stats.dropped_peer_list_full += 1;
                return;
            };
            let attempt = peer.pings.attempt(now);
            if attempt == Attempt::Blocked {
                self.stats.dropped_rate_limited += 1;
                return;
            }
            let item = Queued::Incoming {
                from,
                packet: pkt.ipv6.to_vec(),
            };
            if enqueue(&mut peer, item, &mut self.stats) {
                self.stats.rx += 1;
            }
            if attempt == Attempt::Send {
                peer.last_tx = Some(now);
                let ping = self.ping(own.addr, h.src, unix_secs);
                self.stats.pings_sent += 1;
                let server = SocketAddrV4::new(own.server, TEREDO_PORT);
                out.push(Action::Transmit(server), &ping);
            }
            return;
        }
        self.stats.dropped_unauthenticated += 1;
    }
}

/// True if `ipv6` (from the peer at its source address) answers one of our
/// ping tests: an echo reply with our identifier and a valid, fresh HMAC, or
/// a Destination Unreachable from the pinged address quoting such a request.
fn is_ping_reply(cfg: &super::Config, own: &OwnAddress, ipv6: &[u8], unix_secs: u32) -> bool {
    let Ok(h) = Ipv6Header::parse(ipv6) else {
        return false;
    };
    if h.next_header != NEXT_HEADER_ICMPV6 {
        return false;
    }
    let check = |echo: &EchoRepr<'_>| {
        echo.ident == cfg.pid as u16
            && cfg
                .secret
                .ping_check(&own.addr, &h.src, cfg.pid, echo.seq, echo.data, unix_secs)
    };
    if let Ok((_, echo)) = EchoRepr::parse_ipv6(ipv6) {
        return echo.kind == EchoKind::Reply && check(&echo);
    }
    if !verify_icmpv6_checksum(&h.src, &h.dst, h.payload) {
        return false;
    }
    let Ok(err) = ErrorRepr::parse(h.payload) else {
        return false;
    };
    if err.msg_type != TYPE_DST_UNREACH {
        return false;
    }
    let Ok(quoted) = Ipv6Header::parse(err.quoted) else {
        return false;
    };
    quoted.src == own.addr
        && quoted.dst == h.src
        && quoted.next_header == NEXT_HEADER_ICMPV6
        && EchoRepr::parse(quoted.payload)
            .is_ok_and(|echo| echo.kind == EchoKind::Request && check(&echo))
}
