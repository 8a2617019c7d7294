//! Dynamic Home Agent Address Discovery (RFC 6275 §10.5, §11.4.1; R flag of
//! RFC 3963 §4.4–§4.5) as UMIP does it (docs/protocol-notes.md#dhaad):
//!
//! - the MN sends the request from its primary CoA to the home-agent anycast
//!   address of its home prefix (RFC 2526), with a fresh identifier per
//!   request and the R flag if it is a mobile router;
//! - retransmission starts at `INITIAL_DHAAD_TIMEOUT` (3 s) and doubles, for
//!   `DHAAD_RETRIES` (4) retransmissions;
//! - a reply must echo the identifier (code 0 is checked by the parser) and
//!   carry R if R was asked; its address list becomes the HA candidate list;
//! - the HA answers with its home agents by preference, filtered by mobile
//!   router support if R was asked, at most [`MAX_DHAAD_ADDRESSES`].

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{DHAAD_RETRIES, INITIAL_DHAAD_TIMEOUT};
use crate::wire::ndisc::{DhaadReply, DhaadRequest, DHAAD_FLAG_MOBILE_ROUTER};

/// Most home agent addresses in one reply: what fits in 1280 octets after
/// the IPv6 header and the 8-octet ICMPv6 header.
pub const MAX_DHAAD_ADDRESSES: usize = 77;
/// The Mobile IPv6 Home-Agents anycast identifier (RFC 2526 §3).
pub const HA_ANYCAST_ID: u8 = 0x7e;

/// The home-agent anycast address of `prefix`/`prefix_len` (RFC 2526 §2):
/// for a /64, the EUI-64-format interface identifier fdff:ffff:ffff:fffe;
/// otherwise all ones after the prefix except the last 7 bits, which hold
/// the anycast identifier 0x7e.
pub fn ha_anycast(prefix: Ipv6Addr, prefix_len: u8) -> Ipv6Addr {
    let p = u128::from(prefix);
    let len = u32::from(prefix_len.min(121));
    let net = if len == 0 {
        0
    } else {
        p & (u128::MAX << (128 - len))
    };
    if prefix_len == 64 {
        return Ipv6Addr::from(net | 0xfdff_ffff_ffff_ff80 | u128::from(HA_ANYCAST_ID));
    }
    let host_ones = if len == 0 {
        u128::MAX
    } else {
        u128::MAX >> len
    };
    Ipv6Addr::from(net | (host_ones & !0x7f) | u128::from(HA_ANYCAST_ID))
}

/// What the MN side asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhaadEvent {
    /// Send this request from `source` (the primary CoA) to `destination`.
    Send {
        /// The care-of address.
        source: Ipv6Addr,
        /// The home-agent anycast address.
        destination: Ipv6Addr,
        /// The message.
        request: DhaadRequest,
    },
    /// No reply after all retransmissions.
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    source: Ipv6Addr,
    destination: Ipv6Addr,
    retransmit_at: Instant,
    timeout: Duration,
    retries: u32,
}

/// The mobile node's DHAAD exchange.
#[derive(Debug, Clone)]
pub struct DhaadClient {
    next_identifier: u16,
    mobile_router: bool,
    identifier: Option<u16>,
    outstanding: Option<Outstanding>,
}

impl DhaadClient {
    /// A client; `first_identifier` is the first request's identifier.
    pub fn new(first_identifier: u16, mobile_router: bool) -> Self {
        DhaadClient {
            next_identifier: first_identifier,
            mobile_router,
            identifier: None,
            outstanding: None,
        }
    }

    fn send(&mut self, o: Outstanding) -> DhaadEvent {
        let identifier = self.next_identifier;
        self.next_identifier = identifier.wrapping_add(1);
        self.identifier = Some(identifier);
        self.outstanding = Some(o);
        DhaadEvent::Send {
            source: o.source,
            destination: o.destination,
            request: DhaadRequest {
                identifier,
                flags: if self.mobile_router {
                    DHAAD_FLAG_MOBILE_ROUTER
                } else {
                    0
                },
            },
        }
    }

    /// Starts discovery for the home prefix from `care_of_address`.
    pub fn start(
        &mut self,
        now: Instant,
        care_of_address: Ipv6Addr,
        home_prefix: Ipv6Addr,
        prefix_len: u8,
    ) -> DhaadEvent {
        self.send(Outstanding {
            source: care_of_address,
            destination: ha_anycast(home_prefix, prefix_len),
            retransmit_at: now + INITIAL_DHAAD_TIMEOUT,
            timeout: INITIAL_DHAAD_TIMEOUT,
            retries: 0,
        })
    }

    /// When to call [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outstanding.map(|o| o.retransmit_at)
    }

    /// The care-of address the outstanding request was sent from.
    pub fn outstanding_source(&self) -> Option<Ipv6Addr> {
        self.outstanding.map(|o| o.source)
    }

    /// Forgets the outstanding request (a late reply is then ignored).
    pub fn cancel(&mut self) {
        self.outstanding = None;
        self.identifier = None;
    }

    /// Retransmits, or gives up after `DHAAD_RETRIES` retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<DhaadEvent> {
        let o = self.outstanding?;
        if o.retransmit_at > now {
            return None;
        }
        if o.retries >= DHAAD_RETRIES {
            self.outstanding = None;
            self.identifier = None;
            return Some(DhaadEvent::Failed);
        }
        let timeout = o.timeout * 2;
        Some(self.send(Outstanding {
            retransmit_at: now + timeout,
            timeout,
            retries: o.retries + 1,
            ..o
        }))
    }

    /// A reply: the HA candidates if it answers the outstanding request.
    pub fn on_reply(&mut self, reply: &DhaadReply) -> Option<Vec<Ipv6Addr>> {
        if self.outstanding.is_none() || Some(reply.identifier) != self.identifier {
            return None;
        }
        if self.mobile_router && reply.flags & DHAAD_FLAG_MOBILE_ROUTER == 0 {
            return None;
        }
        self.outstanding = None;
        self.identifier = None;
        Some(reply.home_agents.clone())
    }
}

/// A home agent on the home link, as learned from RAs (Home Agent
/// Information option and R-flagged prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHomeAgent {
    /// Its global address.
    pub address: Ipv6Addr,
    /// Home Agent Preference.
    pub preference: i16,
    /// Supports mobile routers (RFC 3963).
    pub mobile_router: bool,
}

/// The HA's reply to `request`: home agents by descending preference (stable
/// for equal ones), only mobile-router capable ones if R was asked, at most
/// [`MAX_DHAAD_ADDRESSES`].
pub fn dhaad_reply(request: &DhaadRequest, home_agents: &[KnownHomeAgent]) -> DhaadReply {
    let wants_mr = request.flags & DHAAD_FLAG_MOBILE_ROUTER != 0;
    let mut list: Vec<&KnownHomeAgent> = home_agents
        .iter()
        .filter(|h| !wants_mr || h.mobile_router)
        .collect();
    list.sort_by_key(|h| std::cmp::Reverse(h.preference));
    DhaadReply {
        identifier: request.identifier,
        flags: request.flags & DHAAD_FLAG_MOBILE_ROUTER,
        home_agents: list
            .into_iter()
            .take(MAX_DHAAD_ADDRESSES)
            .map(|h| h.address)
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn anycast_addresses_of_rfc2526() {
        assert_eq!(
            ha_anycast(a("2001:db8:1::"), 64),
            a("2001:db8:1::fdff:ffff:ffff:fffe")
        );
        // Host bits of the given prefix are cleared first.
        assert_eq!(
            ha_anycast(a("2001:db8:1::1234"), 64),
            a("2001:db8:1::fdff:ffff:ffff:fffe")
        );
        assert_eq!(
            ha_anycast(a("2001:db8:1::"), 48),
            a("2001:db8:1:ffff:ffff:ffff:ffff:fffe")
        );
        assert_eq!(
            ha_anycast(a("2001:db8:1:2:3::"), 80),
            a("2001:db8:1:2:3:ffff:ffff:fffe")
        );
    }

    #[test]
    fn retransmits_from_3s_doubling_four_times_then_fails() {
        let t0 = Instant::now();
        let mut c = DhaadClient::new(7, false);
        let DhaadEvent::Send {
            destination,
            request,
            ..
        } = c.start(t0, a("2001:db8:a::50"), a("2001:db8:1::"), 64)
        else {
            panic!()
        };
        assert_eq!(destination, a("2001:db8:1::fdff:ffff:ffff:fffe"));
        assert_eq!(
            request,
            DhaadRequest {
                identifier: 7,
                flags: 0
            }
        );
        let mut now = t0;
        let mut gaps = Vec::new();
        let mut ids = Vec::new();
        loop {
            let next = c.poll_timeout().unwrap();
            gaps.push((next - now).as_secs());
            now = next;
            match c.handle_timeout(now).unwrap() {
                DhaadEvent::Send { request, .. } => ids.push(request.identifier),
                DhaadEvent::Failed => break,
            }
        }
        assert_eq!(gaps, [3, 6, 12, 24, 48]);
        assert_eq!(ids, [8, 9, 10, 11]);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn reply_must_echo_the_identifier_and_the_r_flag() {
        let t0 = Instant::now();
        let mut c = DhaadClient::new(1, true);
        c.start(t0, a("2001:db8:a::50"), a("2001:db8:1::"), 64);
        let mut reply = DhaadReply {
            identifier: 2,
            flags: DHAAD_FLAG_MOBILE_ROUTER,
            home_agents: vec![a("2001:db8:1::1")],
        };
        assert_eq!(c.on_reply(&reply), None);
        reply.identifier = 1;
        reply.flags = 0;
        assert_eq!(c.on_reply(&reply), None);
        reply.flags = DHAAD_FLAG_MOBILE_ROUTER;
        assert_eq!(c.on_reply(&reply), Some(vec![a("2001:db8:1::1")]));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.on_reply(&reply), None, "answered once");
    }

    #[test]
    fn ha_reply_orders_by_preference_and_filters_mobile_routers() {
        let has = [
            KnownHomeAgent {
                address: a("2001:db8:1::1"),
                preference: 0,
                mobile_router: true,
            },
            KnownHomeAgent {
                address: a("2001:db8:1::2"),
                preference: 10,
                mobile_router: false,
            },
            KnownHomeAgent {
                address: a("2001:db8:1::3"),
                preference: -5,
                mobile_router: true,
            },
        ];
        let r = dhaad_reply(
            &DhaadRequest {
                identifier: 9,
                flags: 0,
            },
            &has,
        );
        assert_eq!(r.identifier, 9);
        assert_eq!(
            r.home_agents,
            [a("2001:db8:1::2"), a("2001:db8:1::1"), a("2001:db8:1::3")]
        );
        let r = dhaad_reply(
            &DhaadRequest {
                identifier: 9,
                flags: DHAAD_FLAG_MOBILE_ROUTER,
            },
            &has,
        );
        assert_eq!(r.flags, DHAAD_FLAG_MOBILE_ROUTER);
        assert_eq!(r.home_agents, [a("2001:db8:1::1"), a("2001:db8:1::3")]);
        let many: Vec<KnownHomeAgent> = (0..100u16)
            .map(|i| KnownHomeAgent {
                address: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i),
                preference: 0,
                mobile_router: false,
            })
            .collect();
        let r = dhaad_reply(
            &DhaadRequest {
                identifier: 1,
                flags: 0,
            },
            &many,
        );
        assert_eq!(r.home_agents.len(), MAX_DHAAD_ADDRESSES);
    }
}
