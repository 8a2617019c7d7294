//! RFC 4380 §5.2.1's NAT tests after qualification, against a scripted server
//! with two addresses behind each kind of NAT, in simulated time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use teredo::addr::{CLIENT_LINK_LOCAL, CONE_LINK_LOCAL, DEFAULT_PREFIX, TEREDO_PORT};
use teredo::maintain::{Event, Maintainer, Outputs, Qualified, Timers};
use teredo::qualified::{NatTests, NatType};
use teredo::security::Secret;
use teredo::wire::{emit_ra_payload, RouterSolicitation, TeredoPacket};

const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 10), 3545);
const MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 3545);
const OTHER_MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 7), 3545);
/// What a symmetric NAT gives towards the second address.
const SYMMETRIC_MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 61000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nat {
    FullCone,
    Restricted,
    Symmetric,
    /// The server's second address does not answer at all.
    NoSecondary,
}

struct World {
    m: Maintainer,
    nat: Nat,
    /// Cone-test RS the network loses before it lets one through.
    lose_cone: u32,
    /// The mapping the primary address sees.
    mapping: SocketAddrV4,
    now: Instant,
    up: Option<Qualified>,
    tested: Vec<(Instant, NatTests)>,
    sent: Vec<(Instant, SocketAddrV4, bool)>,
}

impl World {
    fn new(nat: Nat) -> Self {
        let now = Instant::now();
        World {
            m: Maintainer::new(Timers::default(), Secret::new([9; 16]), 5, now),
            nat,
            lose_cone: 0,
            mapping: MAPPING,
            now,
            up: None,
            tested: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn handle(&mut self, out: Outputs) {
        for ev in out.events {
            match ev {
                Event::ResolveServer => {
                    let o = self.m.server_resolved(self.now, &[PRIMARY]);
                    self.handle(o);
                }
                Event::Up(q) => self.up = Some(q),
                Event::NatTested(t) => self.tested.push((self.now, t)),
                _ => {}
            }
        }
        for tx in out.transmits {
            let pkt = TeredoPacket::parse(&tx.payload).expect("our RS parses");
            let rs = RouterSolicitation::parse(pkt.ipv6).expect("an RS");
            let cone = rs.source == CONE_LINK_LOCAL;
            self.sent.push((self.now, tx.dst, cone));
            if cone && self.lose_cone > 0 {
                self.lose_cone -= 1;
                continue;
            }
            let nonce = pkt.auth.expect("auth header").nonce;
            let (from, mapping) = match (*tx.dst.ip(), cone) {
                (PRIMARY, false) => (PRIMARY, self.mapping),
                // The answer to the cone test leaves from the other address:
                // only a full cone lets it in.
                (PRIMARY, true) if self.nat == Nat::FullCone => (SECONDARY, self.mapping),
                (SECONDARY, false) if self.nat == Nat::Symmetric => (SECONDARY, SYMMETRIC_MAPPING),
                (SECONDARY, false) if self.nat != Nat::NoSecondary => (SECONDARY, self.mapping),
                _ => continue,
            };
            let dst = if cone {
                CONE_LINK_LOCAL
            } else {
                CLIENT_LINK_LOCAL
            };
            let ra = emit_ra_payload(nonce, mapping, dst, PRIMARY, DEFAULT_PREFIX, 1280);
            let pkt = TeredoPacket::parse(&ra).expect("RA parses");
            let src = SocketAddrV4::new(from, TEREDO_PORT);
            assert!(Maintainer::is_qualification_packet(src, &pkt));
            let o = self.m.handle_packet(self.now, &pkt);
            self.handle(o);
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(t) = self.m.poll_timeout() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            let o = self.m.handle_timeout(self.now);
            self.handle(o);
        }
        self.now = until;
    }

    fn nat_type(&self) -> NatType {
        let q = self.up.expect("qualified");
        q.nat_type(Some(LOCAL), self.tested.last().map(|(_, t)| *t))
    }
}

#[test]
fn each_kind_of_nat_is_told_apart_within_a_few_seconds() {
    for (nat, want) in [
        (Nat::FullCone, NatType::Cone),
        (Nat::Restricted, NatType::Restricted),
        (Nat::Symmetric, NatType::Symmetric),
        (Nat::NoSecondary, NatType::BehindNat),
    ] {
        let mut w = World::new(nat);
        let t0 = w.now;
        w.run_for(Duration::from_secs(20));
        assert_eq!(w.tested.len(), 1, "{nat:?}: one report, {:?}", w.tested);
        assert_eq!(w.nat_type(), want, "{nat:?}");
        let took = w.tested[0].0 - t0;
        // Silent steps cost two RS timeouts each.
        assert!(
            took <= 4 * Timers::default().rs_timeout,
            "{nat:?}: {took:?}"
        );
        let q = w.up.expect("up");
        assert_eq!(q.port_preserved(Some(LOCAL)), Some(true));
        assert!(!q.teredo.is_cone(), "the address never takes the cone flag");
    }
}

#[test]
fn the_cone_test_comes_before_anything_is_sent_to_the_second_address() {
    let mut w = World::new(Nat::FullCone);
    w.run_for(Duration::from_secs(10));
    let first_cone = w
        .sent
        .iter()
        .position(|(_, _, cone)| *cone)
        .expect("cone RS");
    let first_secondary = w
        .sent
        .iter()
        .position(|(_, dst, _)| *dst.ip() == SECONDARY)
        .expect("RS to the second address");
    assert!(first_cone < first_secondary, "{:?}", w.sent);
    assert!(w
        .sent
        .iter()
        .all(|(_, dst, cone)| !cone || *dst.ip() == PRIMARY));
}

#[test]
fn one_lost_answer_does_not_make_a_cone_look_restricted() {
    let mut w = World::new(Nat::FullCone);
    w.lose_cone = 1;
    w.run_for(Duration::from_secs(20));
    assert_eq!(w.nat_type(), NatType::Cone);
    let cone_rs = w.sent.iter().filter(|(_, _, c)| *c).count();
    assert_eq!(cone_rs, 2, "sent again after one RS timeout");
}

#[test]
fn a_new_mapping_runs_the_tests_again_and_a_refresh_does_not() {
    let mut w = World::new(Nat::Restricted);
    w.run_for(Duration::from_secs(60));
    assert_eq!(
        w.tested.len(),
        1,
        "refreshes keep the mapping: {:?}",
        w.tested
    );
    let cone_rs = w.sent.iter().filter(|(_, _, c)| *c).count();
    assert_eq!(
        cone_rs, 2,
        "one cone test, sent twice as it stays unanswered"
    );
    let o = w.m.requalify(w.now);
    w.handle(o);
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.tested.len(), 1, "re-qualifying to the same mapping");
    w.mapping = OTHER_MAPPING;
    let o = w.m.requalify(w.now);
    w.handle(o);
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.tested.len(), 2, "a new mapping is tested again");
}

#[test]
fn a_port_mapping_counts_only_where_the_server_sees_us() {
    let mut w = World::new(Nat::Symmetric);
    w.run_for(Duration::from_secs(10));
    let before = w.up.expect("up");
    assert_eq!(w.m.port_mapping_in_use(), None);
    // The NAT granted the public endpoint the server sees: it now forwards
    // it from anyone. The address stays.
    w.m.set_port_mapping(Some(MAPPING));
    assert_eq!(w.m.port_mapping_in_use(), Some(MAPPING));
    w.run_for(Duration::from_secs(60));
    assert_eq!(w.up.map(|q| q.address), Some(before.address));
    assert_eq!(w.tested.len(), 1);
    assert_eq!(w.nat_type(), NatType::Symmetric, "still the NAT's own type");
    // Another port (the NAT did not grant the one asked for) or another
    // address (a NAT behind another NAT) is not where peers reach us.
    for other in [
        SocketAddrV4::new(*MAPPING.ip(), 4000),
        SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 9), MAPPING.port()),
    ] {
        w.m.set_port_mapping(Some(other));
        assert_eq!(w.m.port_mapping_in_use(), None, "{other}");
    }
    // A new mapping as the server sees it: the old port mapping is stale.
    w.m.set_port_mapping(Some(MAPPING));
    w.mapping = OTHER_MAPPING;
    let o = w.m.requalify(w.now);
    w.handle(o);
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.up.map(|q| q.mapping()), Some(OTHER_MAPPING));
    assert_eq!(w.m.port_mapping_in_use(), None);
    w.m.set_port_mapping(None);
    assert_eq!(w.m.port_mapping_in_use(), None);
}
