//! The mapper against a scripted gateway, in simulated time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::*;

const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
const PORT: u16 = 3544;
const NONCE: [u8; 12] = [7, 1, 7, 1, 7, 1, 7, 1, 7, 1, 7, 1];
const EXT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 7), 40000);

fn gw() -> SocketAddrV4 {
    SocketAddrV4::new(GW, SERVER_PORT)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn mapper(t0: Instant) -> PortMapper {
    PortMapper::new(Config::new(ME, PORT, GW, NONCE), t0)
}

/// The one PCP request in `out`, checked for the fields every request shares.
fn pcp_request(out: &Outputs) -> pcp::MapRequest {
    assert_eq!(out.transmits.len(), 1, "{out:?}");
    assert_eq!(out.transmits[0].dst, gw());
    let req = pcp::MapRequest::parse(&out.transmits[0].payload).expect("PCP MAP request");
    assert_eq!(req.client, pcp::mapped(ME));
    assert_eq!(req.map.nonce, NONCE);
    assert_eq!(req.map.protocol, pcp::PROTO_UDP);
    assert_eq!(req.map.internal_port, PORT);
    req
}

fn pcp_answer(result: pcp::ResultCode, lifetime: u32, epoch: u32, ext: SocketAddrV4) -> Vec<u8> {
    pcp::Response {
        opcode: pcp::OP_MAP,
        result,
        lifetime,
        epoch,
        map: Some(pcp::MapBody {
            nonce: NONCE,
            protocol: pcp::PROTO_UDP,
            internal_port: PORT,
            external_port: ext.port(),
            external_addr: pcp::mapped(*ext.ip()),
        }),
    }
    .emit()
}

fn pcp_ok(lifetime: u32, epoch: u32, ext: SocketAddrV4) -> Vec<u8> {
    pcp_answer(pcp::ResultCode::Success, lifetime, epoch, ext)
}

fn nat_address(epoch: u32, ip: Ipv4Addr) -> Vec<u8> {
    natpmp::Response {
        opcode: natpmp::OP_EXTERNAL_ADDRESS,
        result: natpmp::ResultCode::Success,
        epoch,
        body: natpmp::Body::ExternalAddress(ip),
    }
    .emit()
}

fn nat_mapping(epoch: u32, port: u16, lifetime: u32) -> Vec<u8> {
    natpmp::Response {
        opcode: natpmp::OP_MAP_UDP,
        result: natpmp::ResultCode::Success,
        epoch,
        body: natpmp::Body::Mapping {
            internal_port: PORT,
            external_port: port,
            lifetime,
        },
    }
    .emit()
}

fn mapped(protocol: Protocol, external: SocketAddrV4, lifetime: u64) -> Event {
    Event::Mapped {
        protocol,
        external,
        lifetime: secs(lifetime),
    }
}

/// Runs every timer up to `until`, returning what came out and when.
fn run(m: &mut PortMapper, until: Instant) -> Vec<(Instant, Outputs)> {
    let mut log = Vec::new();
    while let Some(t) = m.poll_timeout().filter(|t| *t <= until) {
        let out = m.handle_timeout(t);
        let next = m.poll_timeout();
        assert!(next.is_none_or(|n| n > t), "timer did not advance at {t:?}");
        if !out.is_empty() {
            log.push((t, out));
        }
    }
    log
}

/// A mapper holding EXT via PCP for 3600 s, granted at `t0` with epoch 1000.
fn mapped_by_pcp(t0: Instant) -> PortMapper {
    let mut m = mapper(t0);
    pcp_request(&m.handle_timeout(t0));
    let out = m.handle_packet(t0, gw(), &pcp_ok(3600, 1000, EXT));
    assert_eq!(out.events, [mapped(Protocol::Pcp, EXT, 3600)]);
    m
}

#[test]
fn pcp_success() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    assert_eq!(m.poll_timeout(), Some(t0));
    let req = pcp_request(&m.handle_timeout(t0));
    assert_eq!(req.lifetime, 7200);
    assert_eq!(req.map.external_port, 0);
    assert_eq!(req.map.external_addr, pcp::ANY_V4);
    let out = m.handle_packet(t0 + ms(3), gw(), &pcp_ok(3600, 1000, EXT));
    assert_eq!(out.events, [mapped(Protocol::Pcp, EXT, 3600)]);
    assert!(out.transmits.is_empty());
    assert_eq!(m.mapping(), Some((Protocol::Pcp, EXT)));
    assert_eq!(m.poll_timeout(), Some(t0 + ms(3) + secs(1800)));
    assert_eq!(m.stats(), Stats::default());
}

#[test]
fn renewal_at_half_lifetime() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    assert!(run(&mut m, t0 + secs(1800) - ms(1)).is_empty());
    let out = m.handle_timeout(t0 + secs(1800));
    let req = pcp_request(&out);
    // The renewal suggests what we hold.
    assert_eq!(req.map.external_port, EXT.port());
    assert_eq!(req.map.external_addr, pcp::mapped(*EXT.ip()));
    // Same endpoint: nothing to tell.
    let out = m.handle_packet(t0 + secs(1800), gw(), &pcp_ok(3600, 2800, EXT));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(m.poll_timeout(), Some(t0 + secs(3600)));
    // A new port at the next renewal is news.
    pcp_request(&m.handle_timeout(t0 + secs(3600)));
    let moved = SocketAddrV4::new(*EXT.ip(), 40001);
    let out = m.handle_packet(t0 + secs(3600), gw(), &pcp_ok(3600, 4600, moved));
    assert_eq!(out.events, [mapped(Protocol::Pcp, moved, 3600)]);
}

#[test]
fn natpmp_only_gateway() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    pcp_request(&m.handle_timeout(t0));
    // RFC 6886 §3.5 "Unsupported Version" for our PCP opcode 1.
    let out = m.handle_packet(t0 + ms(2), gw(), &[0, 129, 0, 1, 0, 0, 0, 50]);
    assert_eq!(out.transmits.len(), 2, "{out:?}");
    assert_eq!(out.transmits[0].payload, natpmp::external_address_request());
    let req = natpmp::MappingRequest::parse(&out.transmits[1].payload).expect("mapping request");
    assert_eq!((req.opcode, req.internal_port), (natpmp::OP_MAP_UDP, PORT));
    assert_eq!((req.external_port, req.lifetime), (0, 7200));
    // Half an answer: only the missing request is sent again.
    assert!(m
        .handle_packet(t0 + ms(4), gw(), &nat_address(50, *EXT.ip()))
        .is_empty());
    let out = m.handle_timeout(t0 + ms(252));
    assert_eq!(out.transmits.len(), 1);
    assert!(natpmp::MappingRequest::parse(&out.transmits[0].payload).is_ok());
    let out = m.handle_packet(t0 + ms(253), gw(), &nat_mapping(50, 61000, 7200));
    let ext = SocketAddrV4::new(*EXT.ip(), 61000);
    assert_eq!(out.events, [mapped(Protocol::NatPmp, ext, 7200)]);
    // Renewals stay on NAT-PMP and suggest the port we hold.
    let out = m.handle_timeout(t0 + ms(253) + secs(3600));
    assert_eq!(out.transmits.len(), 2);
    let req = natpmp::MappingRequest::parse(&out.transmits[1].payload).expect("renewal");
    assert_eq!(req.external_port, 61000);
}

#[test]
fn pcp_version_1_also_falls_back() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    let mut v1 = pcp_answer(pcp::ResultCode::UnsuppVersion, 0, 9, EXT);
    v1[0] = 1;
    assert_eq!(m.handle_packet(t0, gw(), &v1).transmits.len(), 2);
}

#[test]
fn silence_fails_fast_then_retries_with_backoff() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    let log = run(&mut m, t0 + secs(10));
    let pcp_sends: Vec<_> = log
        .iter()
        .filter(|(_, o)| o.transmits.len() == 1)
        .map(|(t, _)| *t - t0)
        .collect();
    assert_eq!(pcp_sends, [ms(0), ms(250), ms(750)]);
    let nat_sends: Vec<_> = log
        .iter()
        .filter(|(_, o)| o.transmits.len() == 2)
        .map(|(t, _)| *t - t0)
        .collect();
    assert_eq!(nat_sends, [ms(1750), ms(2000), ms(2500)]);
    let (failed_at, out) = log.last().expect("a failure");
    assert_eq!(out.events, [Event::Failed(Failure::NoAnswer)]);
    assert_eq!(*failed_at - t0, ms(3500));
    // Later attempts start again from PCP, a minute, then two minutes later.
    let again = *failed_at + secs(60);
    assert_eq!(m.poll_timeout(), Some(again));
    pcp_request(&m.handle_timeout(again));
    let log = run(&mut m, again + secs(10));
    let (second, _) = log.last().expect("a second failure");
    assert_eq!(m.poll_timeout(), Some(*second + secs(120)));
    // The pause stops growing at 30 minutes.
    let mut last = *second;
    for _ in 0..10 {
        let log = run(&mut m, last + secs(3600));
        last = log.last().expect("failure").0;
    }
    assert_eq!(m.poll_timeout(), Some(last + secs(1800)));
}

#[test]
fn silent_pcp_then_natpmp_answers() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    run(&mut m, t0 + ms(1750));
    let out = m.handle_packet(t0 + ms(1760), gw(), &nat_address(7, *EXT.ip()));
    assert!(out.is_empty());
    let out = m.handle_packet(t0 + ms(1761), gw(), &nat_mapping(7, EXT.port(), 600));
    assert_eq!(out.events, [mapped(Protocol::NatPmp, EXT, 600)]);
}

#[test]
fn epoch_reset_on_renewal_is_lost_then_remapped() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    let t = t0 + secs(1800);
    pcp_request(&m.handle_timeout(t));
    // The gateway rebooted: its epoch went back.
    let out = m.handle_packet(t, gw(), &pcp_ok(3600, 30, EXT));
    assert_eq!(out.events, [Event::Lost]);
    let req = pcp_request(&out);
    assert_eq!(req.map.external_port, EXT.port(), "asks for the same again");
    assert_eq!(m.mapping(), None);
    let out = m.handle_packet(t + ms(2), gw(), &pcp_ok(3600, 30, EXT));
    assert_eq!(out.events, [mapped(Protocol::Pcp, EXT, 3600)]);
}

#[test]
fn announce_with_new_epoch_is_lost() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    let announce = pcp::Response {
        opcode: pcp::OP_ANNOUNCE,
        result: pcp::ResultCode::Success,
        lifetime: 0,
        epoch: 2,
        map: None,
    }
    .emit();
    let out = m.handle_packet(t0 + secs(100), gw(), &announce);
    assert_eq!(out.events, [Event::Lost]);
    pcp_request(&out);
}

#[test]
fn natpmp_address_announcement() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    m.handle_packet(t0, gw(), &[0, 129, 0, 1, 0, 0, 0, 50]);
    m.handle_packet(t0, gw(), &nat_address(50, *EXT.ip()));
    m.handle_packet(t0, gw(), &nat_mapping(50, EXT.port(), 7200));
    assert_eq!(m.mapping(), Some((Protocol::NatPmp, EXT)));
    // Same address, sane epoch: nothing.
    let t = t0 + secs(100);
    assert!(m
        .handle_packet(t, gw(), &nat_address(150, *EXT.ip()))
        .is_empty());
    // New address: ask again and report the new endpoint.
    let new_ip = Ipv4Addr::new(198, 51, 100, 9);
    let out = m.handle_packet(t, gw(), &nat_address(151, new_ip));
    assert_eq!(out.transmits.len(), 2);
    m.handle_packet(t, gw(), &nat_address(151, new_ip));
    let out = m.handle_packet(t, gw(), &nat_mapping(151, EXT.port(), 7200));
    let ext = SocketAddrV4::new(new_ip, EXT.port());
    assert_eq!(out.events, [mapped(Protocol::NatPmp, ext, 7200)]);
    // Epoch back to zero in an announcement: lost, asked again.
    let out = m.handle_packet(t + secs(5), gw(), &nat_address(0, new_ip));
    assert_eq!(out.events, [Event::Lost]);
    assert_eq!(out.transmits.len(), 2);
}

#[test]
fn refused_renewal_is_lost_and_failed() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    let t = t0 + secs(1800);
    pcp_request(&m.handle_timeout(t));
    // NOT_AUTHORIZED for the next 50 minutes.
    let no = pcp_answer(pcp::ResultCode::NotAuthorized, 3000, 2800, EXT);
    let out = m.handle_packet(t, gw(), &no);
    assert_eq!(
        out.events,
        [
            Event::Lost,
            Event::Failed(Failure::Pcp(pcp::ResultCode::NotAuthorized))
        ]
    );
    // The server's error lifetime, capped at the longest back-off.
    assert_eq!(m.poll_timeout(), Some(t + secs(1800)));
}

#[test]
fn unanswered_renewals_until_expiry() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    let log = run(&mut m, t0 + secs(3600) - ms(1));
    assert!(log.iter().all(|(_, o)| o.events.is_empty()));
    // Retries close in on the expiry, halving the time left.
    assert!(log.len() > 9, "{}", log.len());
    let out = m.handle_timeout(m.poll_timeout().expect("timer"));
    assert_eq!(out.events, [Event::Lost]);
    pcp_request(&out);
    let log = run(&mut m, t0 + secs(3610));
    let failed: Vec<_> = log.iter().flat_map(|(_, o)| o.events.clone()).collect();
    assert_eq!(failed, [Event::Failed(Failure::NoAnswer)]);
}

#[test]
fn foreign_answers_are_ignored_and_counted() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    let good = pcp_ok(3600, 1000, EXT);
    let other_host = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 66), SERVER_PORT);
    let other_port = SocketAddrV4::new(GW, 5350);
    assert!(m.handle_packet(t0, other_host, &good).is_empty());
    assert!(m.handle_packet(t0, other_port, &good).is_empty());
    let mut wrong_nonce = good.clone();
    wrong_nonce[24] ^= 1;
    let mut wrong_proto = good.clone();
    wrong_proto[36] = 6;
    let mut wrong_port = good.clone();
    wrong_port[41] ^= 1;
    let mut wrong_opcode = good.clone();
    wrong_opcode[1] = 0x82;
    for bad in [wrong_nonce, wrong_proto, wrong_port, wrong_opcode] {
        assert!(m.handle_packet(t0, gw(), &bad).is_empty());
    }
    assert!(m.handle_packet(t0, gw(), &good[..59]).is_empty());
    assert!(m.handle_packet(t0, gw(), b"garbage!").is_empty());
    // Success that grants nothing usable.
    let v6 = pcp::Response::parse(&good).map(|mut r| {
        if let Some(b) = r.map.as_mut() {
            b.external_addr = "2001:db8::1".parse().expect("literal");
        }
        r.emit()
    });
    assert!(m.handle_packet(t0, gw(), &v6.expect("valid")).is_empty());
    assert!(m.handle_packet(t0, gw(), &pcp_ok(0, 1000, EXT)).is_empty());
    assert_eq!(
        m.stats(),
        Stats {
            wrong_source: 2,
            malformed: 4,
            mismatched: 4,
            unexpected: 0,
        }
    );
    assert_eq!(m.mapping(), None);
    // The real answer still works, and a duplicate of it is only counted.
    assert_eq!(m.handle_packet(t0, gw(), &good).events.len(), 1);
    assert!(m.handle_packet(t0, gw(), &good).is_empty());
    assert_eq!(m.stats().unexpected, 1);
}

#[test]
fn foreign_natpmp_answers_are_ignored() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    m.handle_packet(t0, gw(), &[0, 129, 0, 1, 0, 0, 0, 50]);
    let mut other_port = nat_mapping(50, 1234, 7200);
    other_port[9] ^= 1;
    let mut tcp = nat_mapping(50, 1234, 7200);
    tcp[1] = 130;
    assert!(m.handle_packet(t0, gw(), &other_port).is_empty());
    assert!(m.handle_packet(t0, gw(), &tcp).is_empty());
    assert!(m.handle_packet(t0, gw(), &pcp_ok(10, 10, EXT)).is_empty());
    assert!(m
        .handle_packet(t0, gw(), &nat_mapping(50, 0, 7200))
        .is_empty());
    let s = m.stats();
    assert_eq!((s.mismatched, s.malformed), (2, 2));
}

#[test]
fn stop_deletes_pcp_mapping() {
    let t0 = Instant::now();
    let mut m = mapped_by_pcp(t0);
    let out = m.stop(t0 + secs(5));
    let req = pcp_request(&out);
    assert_eq!(req.lifetime, 0);
    assert!(out.events.is_empty());
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.mapping(), None);
    assert!(m.handle_timeout(t0 + secs(5000)).is_empty());
    assert!(m
        .handle_packet(t0 + secs(6), gw(), &pcp_ok(3600, 1006, EXT))
        .is_empty());
    assert!(m.stop(t0 + secs(7)).is_empty(), "the delete goes once");
}

#[test]
fn stop_deletes_natpmp_mapping() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    m.handle_packet(t0, gw(), &[0, 129, 0, 1, 0, 0, 0, 50]);
    m.handle_packet(t0, gw(), &nat_address(50, *EXT.ip()));
    m.handle_packet(t0, gw(), &nat_mapping(50, EXT.port(), 7200));
    let out = m.stop(t0);
    assert_eq!(out.transmits.len(), 1);
    let req = natpmp::MappingRequest::parse(&out.transmits[0].payload).expect("delete");
    assert_eq!((req.lifetime, req.external_port), (0, 0));
}

#[test]
fn stop_while_asking_or_failed() {
    let t0 = Instant::now();
    let mut m = mapper(t0);
    m.handle_timeout(t0);
    // A request is out and may have been granted: delete it too.
    assert_eq!(pcp_request(&m.stop(t0)).lifetime, 0);
    let mut m = mapper(t0);
    run(&mut m, t0 + secs(5));
    assert!(m.stop(t0 + secs(5)).is_empty(), "nothing to delete");
}

#[test]
fn the_suggested_external_endpoint_is_asked_for_first() {
    let t0 = Instant::now();
    let want = SocketAddrV4::new(*EXT.ip(), 40123);
    let mut m = PortMapper::new(
        Config::new(ME, PORT, GW, NONCE).with_suggested_external(want),
        t0,
    );
    let req = pcp_request(&m.handle_timeout(t0));
    assert_eq!(req.map.external_port, 40123);
    assert_eq!(req.map.external_addr, pcp::mapped(*EXT.ip()));
    // Over NAT-PMP, the port.
    let out = m.handle_packet(t0 + ms(2), gw(), &[0, 129, 0, 1, 0, 0, 0, 50]);
    let req = natpmp::MappingRequest::parse(&out.transmits[1].payload).expect("mapping request");
    assert_eq!(req.external_port, 40123);
}
