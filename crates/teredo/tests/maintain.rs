//! Qualification and maintenance in simulated time, against a scripted server.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use teredo::addr::{TeredoAddr, CLIENT_LINK_LOCAL, DEFAULT_PREFIX, RANDOM_FLAGS_MASK, TEREDO_PORT};
use teredo::maintain::{Event, LogMessage, Maintainer, Outputs, State, Timers, Transmit};
use teredo::security::Secret;
use teredo::wire::{emit_ra_payload, TeredoPacket, RS_PAYLOAD_LEN};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40000);

/// The maintainer and what its calls returned, taken one at a time.
struct Driven {
    m: Maintainer,
    out: Outputs,
}

impl Driven {
    fn new(timers: Timers, secret: Secret, pid: u32, now: Instant) -> Self {
        Driven {
            m: Maintainer::new(timers, secret, pid, now).with_nat_tests(false),
            out: Outputs::default(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let o = self.m.handle_timeout(now);
        self.out.append(o);
    }

    fn handle_packet(&mut self, now: Instant, pkt: &teredo::wire::TeredoPacketRepr<'_>) {
        let o = self.m.handle_packet(now, pkt);
        self.out.append(o);
    }

    fn server_resolved(&mut self, now: Instant, servers: &[Ipv4Addr]) {
        let o = self.m.server_resolved(now, servers);
        self.out.append(o);
    }

    fn requalify(&mut self, now: Instant) {
        let o = self.m.requalify(now);
        self.out.append(o);
    }

    fn next_event(&mut self) -> Option<Event> {
        (!self.out.events.is_empty()).then(|| self.out.events.remove(0))
    }

    fn next_transmit(&mut self) -> Option<Transmit> {
        (!self.out.transmits.is_empty()).then(|| self.out.transmits.remove(0))
    }
}

impl std::ops::Deref for Driven {
    type Target = Maintainer;
    fn deref(&self) -> &Maintainer {
        &self.m
    }
}

fn maintainer(timers: Timers, now: Instant) -> Driven {
    let mut m = Driven::new(timers, Secret::new([7; 16]), 4242, now);
    assert_eq!(m.poll_timeout(), Some(now), "asks for the server at once");
    m.handle_timeout(now);
    assert_eq!(m.next_event(), Some(Event::ResolveServer));
    m.server_resolved(now, &[SERVER]);
    m
}

fn events(m: &mut Driven) -> Vec<Event> {
    std::iter::from_fn(|| m.next_event()).collect()
}

fn transmits(m: &mut Driven) -> Vec<Transmit> {
    std::iter::from_fn(|| m.next_transmit()).collect()
}

/// The server's answer to an RS, as miredo-server builds it.
fn answer(rs: &Transmit, mapping: SocketAddrV4, mtu: u32) -> Vec<u8> {
    assert_eq!(rs.dst, SocketAddrV4::new(SERVER, TEREDO_PORT));
    assert_eq!(rs.payload.len(), RS_PAYLOAD_LEN);
    let parsed = TeredoPacket::parse(&rs.payload).expect("our RS parses");
    let nonce = parsed.auth.expect("RS has an auth header").nonce;
    emit_ra_payload(
        nonce,
        mapping,
        CLIENT_LINK_LOCAL,
        SERVER,
        DEFAULT_PREFIX,
        mtu,
    )
}

fn deliver(m: &mut Driven, now: Instant, payload: &[u8]) {
    let from = SocketAddrV4::new(SERVER, TEREDO_PORT);
    let pkt = TeredoPacket::parse(payload).expect("RA parses");
    assert!(Maintainer::is_qualification_packet(from, &pkt));
    m.handle_packet(now, &pkt);
}

/// Runs timers until `until`, answering no RS; returns the RS sent (with times).
fn silence(m: &mut Driven, mut now: Instant, until: Instant) -> Vec<(Instant, Transmit)> {
    let mut sent = Vec::new();
    while let Some(t) = m.poll_timeout() {
        if t > until {
            break;
        }
        now = now.max(t);
        m.handle_timeout(now);
        sent.extend(transmits(m).into_iter().map(|x| (now, x)));
    }
    sent
}

/// Qualifies at `now` and returns the address.
fn qualify(m: &mut Driven, now: Instant) -> TeredoAddr {
    let rs = transmits(m).pop().expect("an RS");
    deliver(m, now, &answer(&rs, MAPPING, 1280));
    let ev = events(m);
    let q = ev
        .iter()
        .find_map(|e| match e {
            Event::Up(q) => Some(*q),
            _ => None,
        })
        .expect("went up");
    q.teredo
}

#[test]
fn qualifies_with_mapping_from_origin_indication() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::default(), t0);
    assert_eq!(m.state(), State::Qualifying);
    let rs = transmits(&mut m);
    assert_eq!(rs.len(), 1, "one RS right after resolution");
    deliver(&mut m, t0, &answer(&rs[0], MAPPING, 1400));
    let ev = events(&mut m);
    let Some(Event::Up(q)) = ev.iter().find(|e| matches!(e, Event::Up(_))).cloned() else {
        panic!("no Up event in {ev:?}");
    };
    assert_eq!(m.state(), State::Up);
    assert_eq!(q.mtu, 1400);
    assert_eq!(q.teredo.prefix, DEFAULT_PREFIX);
    assert_eq!(q.teredo.server, SERVER);
    assert_eq!(q.mapping(), MAPPING);
    assert_eq!(
        q.teredo.flags & !RANDOM_FLAGS_MASK,
        0,
        "cone, U/G and 0x4000 bits clear"
    );
    assert_eq!(TeredoAddr::from_ipv6(&q.address), q.teredo);
    assert_eq!(m.poll_timeout(), Some(t0 + Timers::default().refresh));
}

#[test]
fn ignores_wrong_nonce_and_reports_failed_authentication() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::default(), t0);
    let rs = transmits(&mut m).pop().expect("RS");
    let mut ra = answer(&rs, MAPPING, 1280);
    ra[4] ^= 0xff; // first nonce byte
    deliver(&mut m, t0, &ra);
    assert!(!events(&mut m).iter().any(|e| matches!(e, Event::Up(_))));
    ra[4] ^= 0xff;
    ra[12] = 1; // confirmation byte
    deliver(&mut m, t0, &ra);
    assert_eq!(events(&mut m), vec![Event::Log(LogMessage::AuthFailed)]);
    assert_eq!(m.state(), State::Qualifying);
}

#[test]
fn three_timeouts_while_up_go_down_miredo_timing() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::MIREDO, t0);
    qualify(&mut m, t0);
    // Refresh at +30 s, retries at +34 and +38, loss declared at +42.
    let sent = silence(&mut m, t0, t0 + Duration::from_secs(42));
    let times: Vec<u64> = sent.iter().map(|(t, _)| (*t - t0).as_secs()).collect();
    assert_eq!(times, vec![30, 34, 38]);
    let ev = events(&mut m);
    assert!(ev.contains(&Event::Log(LogMessage::NoReply)), "{ev:?}");
    assert!(ev.contains(&Event::Down), "{ev:?}");
    // Next attempt after the fixed 100 s restart delay, after re-resolving.
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(142)));
}

#[test]
fn default_timers_lose_the_server_within_15s_and_find_it_within_10s() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::default(), t0);
    qualify(&mut m, t0);
    let mut now = t0;
    // The server disappears right after the answered RS: worst case.
    while !events(&mut m).contains(&Event::Down) {
        now = m.poll_timeout().expect("timer");
        assert!(
            now - t0 <= Duration::from_secs(15),
            "still up after {:?}",
            now - t0
        );
        m.handle_timeout(now);
        transmits(&mut m);
    }
    // Stays unreachable for a minute: the back-off caps at restart_max.
    let back = now + Duration::from_secs(60);
    loop {
        let t = m.poll_timeout().expect("retries continue while down");
        if t > back {
            break;
        }
        m.handle_timeout(t);
        if m.next_event() == Some(Event::ResolveServer) {
            m.server_resolved(t, &[SERVER]);
        }
        transmits(&mut m);
    }
    // Server returns at `back`: the next RS it sees is answered.
    loop {
        let t = m.poll_timeout().expect("timer");
        assert!(
            t - back <= Duration::from_secs(10),
            "not retried within 10 s"
        );
        m.handle_timeout(t);
        for e in events(&mut m) {
            if e == Event::ResolveServer {
                m.server_resolved(t, &[SERVER]);
            }
        }
        if let Some(rs) = transmits(&mut m).pop() {
            if t >= back {
                deliver(&mut m, t, &answer(&rs, MAPPING, 1280));
                break;
            }
        }
    }
    assert_eq!(m.state(), State::Up);
}

#[test]
fn refresh_with_same_mapping_keeps_address_new_mapping_changes_it() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::default(), t0);
    let first = qualify(&mut m, t0);
    let t1 = m.poll_timeout().expect("refresh timer");
    m.handle_timeout(t1);
    let rs = transmits(&mut m).pop().expect("refresh RS");
    deliver(&mut m, t1, &answer(&rs, MAPPING, 1280));
    assert!(
        !events(&mut m).iter().any(|e| matches!(e, Event::Up(_))),
        "same mapping: no event, no hook"
    );
    assert_eq!(m.qualified().map(|q| q.teredo), Some(first));

    let t2 = m.poll_timeout().expect("refresh timer");
    m.handle_timeout(t2);
    let rs = transmits(&mut m).pop().expect("refresh RS");
    let moved = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 40001);
    deliver(&mut m, t2, &answer(&rs, moved, 1280));
    let ev = events(&mut m);
    let Some(Event::Up(q)) = ev.first().cloned() else {
        panic!("new mapping must give Up, got {ev:?}");
    };
    assert_eq!(q.mapping(), moved);
    assert_ne!(q.address, first.to_ipv6());
}

#[test]
fn requalify_sends_an_rs_at_once_and_keeps_the_address_meanwhile() {
    let t0 = Instant::now();
    let mut m = maintainer(Timers::default(), t0);
    qualify(&mut m, t0);
    let t1 = t0 + Duration::from_millis(300);
    m.requalify(t1);
    assert_eq!(transmits(&mut m).len(), 1, "RS sent immediately");
    assert_eq!(m.state(), State::Up, "address kept until the round fails");
}

#[test]
fn non_global_server_is_refused_and_retried() {
    let t0 = Instant::now();
    let mut m = Driven::new(Timers::default(), Secret::new([1; 16]), 1, t0);
    m.handle_timeout(t0);
    assert_eq!(m.next_event(), Some(Event::ResolveServer));
    m.server_resolved(t0, &[Ipv4Addr::new(10, 1, 2, 3)]);
    assert!(transmits(&mut m).is_empty());
    assert_eq!(
        events(&mut m),
        vec![Event::Log(LogMessage::NonGlobalServer(Ipv4Addr::new(
            10, 1, 2, 3
        )))]
    );
    let t = m.poll_timeout().expect("retry timer");
    m.handle_timeout(t);
    assert_eq!(m.next_event(), Some(Event::ResolveServer));
}
