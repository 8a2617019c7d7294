#![no_main]
//! The ICMPv6 messages mip6d reads from the network (RS/RA/NS/NA, DHAAD
//! request and reply, Mobile Prefix Solicitation and Advertisement; RFC 4861,
//! RFC 6275 §6.5–§6.8, §7) and the sans-IO code that consumes them. The input
//! is one ICMPv6 message as a raw socket reads it. Checked:
//! - no parser or consumer panics;
//! - what parses re-emits, with a checksum that verifies, to bytes that parse
//!   back to the same value, and re-emitting that gives the same bytes;
//! - the options area on its own round-trips the same way;
//! - a Parameter Problem (RFC 4443 §3.4) parses without panic, and one it
//!   names the Mobility Header or the Home Address option of has code 1 or 2;
//! - each consumer keeps its promises: the HA list only learns R-flagged
//!   addresses, a DHAAD reply never exceeds `MAX_DHAAD_ADDRESSES` and echoes
//!   the request, a reply is only taken when it answers the request sent, an
//!   accepted MPA yields only prefixes whose valid lifetime covers the
//!   preferred one.
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mip6::consts::BaStatus;
use mip6::dhaad::{dhaad_reply, DhaadClient, KnownHomeAgent, MAX_DHAAD_ADDRESSES};
use mip6::halist::HomeAgentList;
use mip6::haselect::{HomeAgentSelection, SelectionEvent};
use mip6::mpd::{solicited_advert, AdvertisedPrefix, MpaOutcome, MpsClient};
use mip6::wire::ndisc::DHAAD_FLAG_MOBILE_ROUTER;
use mip6::wire::ndopt::{emit_nd_options, parse_nd_options};
use mip6::wire::param_problem::{Culprit, ParamProblem};
use mip6::wire::{DhaadReply, DhaadRequest, NdRepr, PrefixInfo, RouterAdvert};

const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const HOME_PREFIX: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x50);
/// The identifier our clients use for their first request (the seeds carry it).
const FIRST_ID: u16 = 0x1234;

fuzz_target!(|data: &[u8]| {
    let _ = NdRepr::parse_verified(data, &SRC, &DST);
    if let Ok(Some(p)) = ParamProblem::parse(data) {
        let code = data[1];
        match p.culprit {
            Culprit::MobilityHeader => assert_eq!(code, 1),
            Culprit::HomeAddressOption => assert_eq!(code, 2),
        }
        let _ = p.involves(COA, SRC);
    }
    if let Ok(nd) = NdRepr::parse(data) {
        round_trip(&nd);
        consume(&nd);
    }
    // The options area alone (every ND message ends with one).
    if let Ok(opts) = parse_nd_options(data) {
        let mut bytes = Vec::new();
        if emit_nd_options(&mut bytes, &opts).is_ok() {
            assert_eq!(parse_nd_options(&bytes).as_ref(), Ok(&opts));
        }
    }
});

fn round_trip(nd: &NdRepr) {
    let Ok(bytes) = nd.emit(&SRC, &DST) else {
        return;
    };
    let again = NdRepr::parse_verified(&bytes, &SRC, &DST);
    assert_eq!(again.as_ref(), Ok(nd));
    assert_eq!(nd.emit(&SRC, &DST).as_ref(), Ok(&bytes));
    let plain = nd.emit_without_checksum().expect("emitted once already");
    assert_eq!(NdRepr::parse(&plain).as_ref(), Ok(nd));
}

fn consume(nd: &NdRepr) {
    let now = Instant::now();
    match nd {
        NdRepr::RouterAdvert(ra) => router_advert(now, ra),
        NdRepr::DhaadRequest(req) => dhaad_request(req),
        NdRepr::DhaadReply(reply) => dhaad_reply_received(now, reply),
        NdRepr::MobilePrefixSolicit(mps) => {
            let prefixes = [AdvertisedPrefix {
                prefix: HOME_PREFIX,
                prefix_len: 64,
                valid: Duration::from_secs(86400),
                preferred: Duration::from_secs(14400),
            }];
            let mpa = solicited_advert(mps, &prefixes);
            assert_eq!(mpa.identifier, mps.identifier);
            round_trip(&NdRepr::MobilePrefixAdvert(mpa));
        }
        NdRepr::MobilePrefixAdvert(mpa) => {
            let mut client = MpsClient::new(FIRST_ID);
            client.schedule(now, Duration::ZERO, Duration::ZERO, BaStatus::ACCEPTED);
            let sent = client.handle_timeout(now).expect("first solicitation due");
            match client.handle_advert(now, mpa) {
                MpaOutcome::Accepted(p) => {
                    assert_eq!(mpa.identifier, sent.identifier);
                    assert!(p.iter().all(|p| p.valid_lifetime >= p.preferred_lifetime));
                }
                MpaOutcome::Resolicit(s) => assert_ne!(mpa.identifier, sent.identifier, "{s:?}"),
            }
        }
        _ => {}
    }
}

fn router_advert(now: Instant, ra: &RouterAdvert) {
    let _ = (ra.preference(), ra.adv_interval_ms(), ra.mtu());
    let mut list = HomeAgentList::new();
    let change = list.handle_router_advert(now, 1, SRC, ra);
    let r_flagged: Vec<Ipv6Addr> = ra
        .prefixes()
        .filter(|p| p.flags & PrefixInfo::ROUTER_ADDRESS != 0)
        .map(|p| p.prefix)
        .collect();
    assert!(change.added.iter().all(|a| r_flagged.contains(a)));
    assert!(list
        .entries()
        .iter()
        .all(|e| r_flagged.contains(&e.address)));
    assert!(list.entries().iter().all(|e| e.expires_at > now));
    // The same router withdrawing its H flag empties the list.
    let mut gone = ra.clone();
    gone.flags &= !RouterAdvert::HOME_AGENT;
    list.handle_router_advert(now, 1, SRC, &gone);
    assert!(list.entries().is_empty());
}

fn dhaad_request(req: &DhaadRequest) {
    // More home agents than a reply may carry, of both kinds.
    let known: Vec<KnownHomeAgent> = (0..100u16)
        .map(|i| KnownHomeAgent {
            address: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, i),
            preference: i16::try_from(i % 7).unwrap_or(0) - 3,
            mobile_router: i % 3 == 0,
        })
        .collect();
    let reply = dhaad_reply(req, &known);
    assert_eq!(reply.identifier, req.identifier);
    assert!(reply.home_agents.len() <= MAX_DHAAD_ADDRESSES);
    round_trip(&NdRepr::DhaadReply(reply));
}

fn dhaad_reply_received(now: Instant, reply: &DhaadReply) {
    let mut client = DhaadClient::new(FIRST_ID, false);
    client.start(now, COA, HOME_PREFIX, 64);
    if let Some(list) = client.handle_reply(reply) {
        assert_eq!(reply.identifier, FIRST_ID);
        assert_eq!(list, reply.home_agents);
        // Answered: a second copy is ignored.
        assert_eq!(client.handle_reply(reply), None);
    }
    let mut select = HomeAgentSelection::new(
        FIRST_ID,
        reply.flags & DHAAD_FLAG_MOBILE_ROUTER != 0,
        HOME_PREFIX,
        64,
    );
    select.care_of_address_changed(now, Some(COA));
    if let Some(SelectionEvent::UseHomeAgent(ha)) = select.handle_reply(now, reply) {
        assert!(reply.home_agents.contains(&ha));
        assert!(!ha.is_unspecified() && !ha.is_multicast());
    }
}
