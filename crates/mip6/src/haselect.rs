//! Which home agent the mobile node registers with when its configuration
//! leaves it to discovery (`HomeAgentAddress ::`; RFC 6275 §11.4.1, UMIP's
//! `dhaad_mn.c` as docs/protocol-notes.md#dhaad describes it):
//!
//! - with a care-of address and no home agent, a DHAAD request goes from the
//!   CoA to the home prefix's home-agents anycast address
//!   ([`crate::dhaad::DhaadClient`]: 3 s doubling, 4 retransmissions); a
//!   move to another CoA restarts it from there;
//! - the reply's list (already in the HAs' preference order) becomes the
//!   candidate list and its first entry the home agent, skipping the HA that
//!   failed last unless it is the only one;
//! - when the home agent fails (no BA after `MnMaxHaConsecutiveResends`, a
//!   refusal, no mobile router service), the next candidate is tried
//!   (`Home registration failed with HA, trying next one`);
//! - with no candidate left, or no reply at all, discovery starts again after
//!   a delay: 3 s, doubling up to [`HA_UNUSABLE_TIME`] (420 s), back to 3 s once
//!   a registration succeeds. UMIP restarts at once; the delay keeps a mobile
//!   node whose only home agent refuses it from asking every few seconds;
//! - `MnResetDhaadAtHome` forgets the home agent when the home registration
//!   is deleted at home ([`HomeAgentSelection::reset`]).

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{HA_UNUSABLE_TIME, INITIAL_DHAAD_TIMEOUT};
use crate::dhaad::{DhaadClient, DhaadEvent};
use crate::wire::ndisc::{DhaadReply, DhaadRequest};

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionEvent {
    /// Send this DHAAD request from `source` to `destination`.
    SendRequest {
        /// The care-of address.
        source: Ipv6Addr,
        /// The home-agents anycast address of the home prefix.
        destination: Ipv6Addr,
        /// The message.
        request: DhaadRequest,
    },
    /// Register with this home agent (a new one: tear down what was set up
    /// for the previous one).
    UseHomeAgent(Ipv6Addr),
    /// No reply after every retransmission; discovery restarts at `retry_at`.
    NoReply {
        /// When discovery starts again.
        retry_at: Instant,
    },
    /// Every candidate failed; discovery restarts at `retry_at`.
    Exhausted {
        /// When discovery starts again.
        retry_at: Instant,
    },
}

/// The mobile node's choice of home agent by DHAAD.
#[derive(Debug, Clone)]
pub struct HomeAgentSelection {
    client: DhaadClient,
    home_prefix: Ipv6Addr,
    prefix_len: u8,
    care_of_address: Option<Ipv6Addr>,
    current: Option<Ipv6Addr>,
    candidates: VecDeque<Ipv6Addr>,
    last_failed: Option<Ipv6Addr>,
    retry_at: Option<Instant>,
    retry_delay: Duration,
}

impl HomeAgentSelection {
    /// Discovery for `home_prefix`/`prefix_len`; `first_identifier` is the
    /// first request's identifier, `mobile_router` asks for R-capable HAs.
    pub fn new(
        first_identifier: u16,
        mobile_router: bool,
        home_prefix: Ipv6Addr,
        prefix_len: u8,
    ) -> Self {
        HomeAgentSelection {
            client: DhaadClient::new(first_identifier, mobile_router),
            home_prefix,
            prefix_len,
            care_of_address: None,
            current: None,
            candidates: VecDeque::new(),
            last_failed: None,
            retry_at: None,
            retry_delay: INITIAL_DHAAD_TIMEOUT,
        }
    }

    /// The home agent in use, if one is chosen.
    pub fn home_agent(&self) -> Option<Ipv6Addr> {
        self.current
    }

    /// The candidates after the current home agent.
    pub fn remaining_candidates(&self) -> impl Iterator<Item = &Ipv6Addr> {
        self.candidates.iter()
    }

    /// True while a request is outstanding.
    pub fn discovering(&self) -> bool {
        self.client.poll_timeout().is_some()
    }

    fn request(&mut self, now: Instant, coa: Ipv6Addr) -> SelectionEvent {
        self.retry_at = None;
        match self
            .client
            .start(now, coa, self.home_prefix, self.prefix_len)
        {
            DhaadEvent::Send {
                source,
                destination,
                request,
            } => SelectionEvent::SendRequest {
                source,
                destination,
                request,
            },
            // `start` always sends; keep the type total anyway.
            DhaadEvent::Failed => self.no_reply(now),
        }
    }

    fn later(&mut self, now: Instant) -> Instant {
        let at = now + self.retry_delay;
        self.retry_delay = (self.retry_delay * 2).min(HA_UNUSABLE_TIME);
        self.retry_at = Some(at);
        at
    }

    fn no_reply(&mut self, now: Instant) -> SelectionEvent {
        SelectionEvent::NoReply {
            retry_at: self.later(now),
        }
    }

    /// The primary care-of address is now `coa` (`None`: at home, or no
    /// usable address). Without a home agent, a request goes out from it
    /// (again, if the outstanding one left from another address); at home,
    /// discovery stops.
    pub fn care_of_address_changed(
        &mut self,
        now: Instant,
        coa: Option<Ipv6Addr>,
    ) -> Option<SelectionEvent> {
        let previous = std::mem::replace(&mut self.care_of_address, coa);
        let Some(coa) = coa else {
            self.client.cancel();
            self.retry_at = None;
            return None;
        };
        if self.current.is_some() || self.client.outstanding_source() == Some(coa) {
            return None;
        }
        // Waiting after a failure: only a new address (a new link may reach
        // the home network another way) is worth asking from at once.
        if self.retry_at.is_some() && previous == Some(coa) {
            return None;
        }
        Some(self.request(now, coa))
    }

    /// A DHAAD reply: the first acceptable candidate, if it answers the
    /// outstanding request and lists any home agent.
    pub fn on_reply(&mut self, now: Instant, reply: &DhaadReply) -> Option<SelectionEvent> {
        let list = self.client.on_reply(reply)?;
        let mut candidates: VecDeque<Ipv6Addr> = list
            .iter()
            .copied()
            // A home agent is reached from the care-of address over the
            // Internet: a loopback, link-local or otherwise unroutable entry
            // in a reply is not one (RFC 6275 §10.5 lists global addresses).
            .filter(crate::bcache::is_routable_unicast)
            .collect();
        if candidates.len() > 1 {
            if let Some(failed) = self.last_failed {
                candidates.retain(|a| *a != failed);
            }
        }
        let Some(first) = candidates.pop_front() else {
            return Some(SelectionEvent::Exhausted {
                retry_at: self.later(now),
            });
        };
        self.candidates = candidates;
        self.current = Some(first);
        Some(SelectionEvent::UseHomeAgent(first))
    }

    /// The home agent in use failed: the next candidate, or discovery later.
    pub fn home_agent_failed(&mut self, now: Instant) -> SelectionEvent {
        self.last_failed = self.current.take();
        match self.candidates.pop_front() {
            Some(next) => {
                self.current = Some(next);
                SelectionEvent::UseHomeAgent(next)
            }
            None => SelectionEvent::Exhausted {
                retry_at: self.later(now),
            },
        }
    }

    /// The home agent accepted a registration: later failures start the
    /// back-off from the beginning.
    pub fn registered(&mut self) {
        self.retry_delay = INITIAL_DHAAD_TIMEOUT;
        self.last_failed = None;
    }

    /// Forgets the home agent and the candidates (`MnResetDhaadAtHome`).
    pub fn reset(&mut self) {
        self.current = None;
        self.candidates.clear();
        self.client.cancel();
        self.retry_at = None;
    }

    /// When to call [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Retransmits the request, gives up on it, or starts discovery again.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SelectionEvent> {
        if let Some(ev) = self.client.handle_timeout(now) {
            return Some(match ev {
                DhaadEvent::Send {
                    source,
                    destination,
                    request,
                } => SelectionEvent::SendRequest {
                    source,
                    destination,
                    request,
                },
                DhaadEvent::Failed => self.no_reply(now),
            });
        }
        match (self.retry_at, self.care_of_address) {
            (Some(at), Some(coa)) if at <= now && self.current.is_none() => {
                Some(self.request(now, coa))
            }
            (Some(at), None) if at <= now => {
                self.retry_at = None;
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const COA: &str = "2001:db8:a::50";

    fn selection() -> HomeAgentSelection {
        HomeAgentSelection::new(100, false, a("2001:db8:1::"), 64)
    }

    fn request_id(ev: Option<SelectionEvent>) -> u16 {
        match ev {
            Some(SelectionEvent::SendRequest {
                source,
                destination,
                request,
            }) => {
                assert_eq!(destination, a("2001:db8:1::fdff:ffff:ffff:fffe"));
                assert_eq!(request.flags, 0);
                let _ = source;
                request.identifier
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn reply(identifier: u16, has: &[&str]) -> DhaadReply {
        DhaadReply {
            identifier,
            flags: 0,
            home_agents: has.iter().map(|s| a(s)).collect(),
        }
    }

    #[test]
    fn first_candidate_of_the_reply_is_used_then_the_next_ones() {
        let t0 = Instant::now();
        let mut s = selection();
        assert_eq!(s.home_agent(), None);
        let id = request_id(s.care_of_address_changed(t0, Some(a(COA))));
        assert!(s.discovering());
        assert_eq!(s.on_reply(t0, &reply(id + 1, &["2001:db8:1::9"])), None);
        let ev = s.on_reply(t0, &reply(id, &["2001:db8:1::3", "2001:db8:1::2"]));
        assert_eq!(ev, Some(SelectionEvent::UseHomeAgent(a("2001:db8:1::3"))));
        assert_eq!(s.home_agent(), Some(a("2001:db8:1::3")));
        assert!(!s.discovering());
        // A known home agent: a new CoA asks nothing.
        assert_eq!(
            s.care_of_address_changed(t0, Some(a("2001:db8:b::50"))),
            None
        );
        assert_eq!(
            s.home_agent_failed(t0),
            SelectionEvent::UseHomeAgent(a("2001:db8:1::2"))
        );
        let SelectionEvent::Exhausted { retry_at } = s.home_agent_failed(t0) else {
            panic!("candidates left")
        };
        assert_eq!(retry_at, t0 + Duration::from_secs(3));
        assert_eq!(s.poll_timeout(), Some(retry_at));
        assert_eq!(s.handle_timeout(t0 + Duration::from_secs(2)), None);
        let id2 = request_id(s.handle_timeout(retry_at));
        assert_eq!(id2, id + 1);
        // The HA that failed last is skipped while another is listed...
        let ev = s.on_reply(retry_at, &reply(id2, &["2001:db8:1::2", "2001:db8:1::3"]));
        assert_eq!(ev, Some(SelectionEvent::UseHomeAgent(a("2001:db8:1::3"))));
    }

    #[test]
    fn the_only_home_agent_is_tried_again_after_a_growing_delay() {
        let t0 = Instant::now();
        let mut s = selection();
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..10 {
            let id = request_id(s.care_of_address_changed(now, Some(a(COA))).or_else(|| {
                let at = s.poll_timeout().unwrap();
                delays.push((at - now).as_secs());
                now = at;
                s.handle_timeout(now)
            }));
            let ev = s.on_reply(now, &reply(id, &["2001:db8:1::2"]));
            assert_eq!(ev, Some(SelectionEvent::UseHomeAgent(a("2001:db8:1::2"))));
            assert!(matches!(
                s.home_agent_failed(now),
                SelectionEvent::Exhausted { .. }
            ));
        }
        assert_eq!(delays, [3, 6, 12, 24, 48, 96, 192, 384, 420]);
        // A success resets the back-off.
        s.registered();
        let at = s.poll_timeout().unwrap();
        let id = request_id(s.handle_timeout(at));
        s.on_reply(at, &reply(id, &["2001:db8:1::2"]));
        let SelectionEvent::Exhausted { retry_at } = s.home_agent_failed(at) else {
            panic!()
        };
        assert_eq!(retry_at - at, Duration::from_secs(3));
    }

    #[test]
    fn no_reply_retransmits_then_waits_and_asks_again() {
        let t0 = Instant::now();
        let mut s = selection();
        request_id(s.care_of_address_changed(t0, Some(a(COA))));
        let mut sent = 1;
        let (now, retry_at) = loop {
            let now = s.poll_timeout().unwrap();
            match s.handle_timeout(now) {
                Some(SelectionEvent::SendRequest { .. }) => sent += 1,
                Some(SelectionEvent::NoReply { retry_at }) => break (now, retry_at),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(sent, 5, "one request and DHAAD_RETRIES = 4 retransmissions");
        assert_eq!(now - t0, Duration::from_secs(3 + 6 + 12 + 24 + 48));
        assert_eq!(retry_at, now + Duration::from_secs(3));
        request_id(s.handle_timeout(retry_at));
    }

    #[test]
    fn a_move_restarts_the_request_and_home_stops_it() {
        let t0 = Instant::now();
        let mut s = selection();
        let id = request_id(s.care_of_address_changed(t0, Some(a(COA))));
        assert_eq!(s.care_of_address_changed(t0, Some(a(COA))), None);
        let Some(SelectionEvent::SendRequest {
            source, request, ..
        }) = s.care_of_address_changed(t0, Some(a("2001:db8:b::50")))
        else {
            panic!("no request from the new CoA")
        };
        assert_eq!(source, a("2001:db8:b::50"));
        assert_eq!(request.identifier, id + 1);
        assert_eq!(
            s.on_reply(t0, &reply(id, &["2001:db8:1::2"])),
            None,
            "stale"
        );
        assert_eq!(s.care_of_address_changed(t0, None), None);
        assert!(!s.discovering());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn reset_forgets_the_home_agent() {
        let t0 = Instant::now();
        let mut s = selection();
        let id = request_id(s.care_of_address_changed(t0, Some(a(COA))));
        s.on_reply(t0, &reply(id, &["2001:db8:1::2", "2001:db8:1::3"]));
        s.care_of_address_changed(t0, None);
        assert_eq!(s.home_agent(), Some(a("2001:db8:1::2")), "kept at home");
        s.reset();
        assert_eq!(s.home_agent(), None);
        assert_eq!(s.remaining_candidates().count(), 0);
        request_id(s.care_of_address_changed(t0, Some(a(COA))));
    }

    #[test]
    fn unroutable_home_agents_in_a_reply_are_skipped() {
        let t0 = Instant::now();
        let mut s = selection();
        let id = request_id(s.care_of_address_changed(t0, Some(a(COA))));
        let forged = reply(id, &["::1", "fe80::1", "::ffff:192.0.2.1", "ff02::2", "::"]);
        assert!(matches!(
            s.on_reply(t0, &forged),
            Some(SelectionEvent::Exhausted { .. })
        ));
        assert_eq!(s.home_agent(), None);
        let id = request_id(s.handle_timeout(t0 + Duration::from_secs(3)));
        let ev = s.on_reply(t0, &reply(id, &["fe80::1", "2001:db8:1::2"]));
        assert_eq!(ev, Some(SelectionEvent::UseHomeAgent(a("2001:db8:1::2"))));
    }

    #[test]
    fn an_empty_reply_counts_as_exhausted() {
        let t0 = Instant::now();
        let mut s = selection();
        let id = request_id(s.care_of_address_changed(t0, Some(a(COA))));
        assert!(matches!(
            s.on_reply(t0, &reply(id, &[])),
            Some(SelectionEvent::Exhausted { .. })
        ));
        assert_eq!(s.home_agent(), None);
    }
}
