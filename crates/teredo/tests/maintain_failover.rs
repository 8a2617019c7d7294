//! Several Teredo servers: qualification with the first that answers,
//! fail-over when the one in use is lost, return to the preferred one, in
//! simulated time against scripted servers.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use teredo::addr::{CLIENT_LINK_LOCAL, DEFAULT_PREFIX, TEREDO_PORT};
use teredo::maintain::{Event, Maintainer, Outputs, Qualified, State, Timers};
use teredo::security::Secret;
use teredo::wire::{emit_ra_payload, TeredoPacket};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const C: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const MAPPING: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40000);

/// A maintainer and the servers it talks to, each answering at once or not
/// at all.
struct World {
    m: Maintainer,
    servers: Vec<Ipv4Addr>,
    answering: Vec<Ipv4Addr>,
    /// RS to this server left unanswered before it answers again.
    lose: Option<(Ipv4Addr, u32)>,
    now: Instant,
    ups: Vec<(Instant, Qualified)>,
    downs: Vec<Instant>,
    rs: Vec<(Instant, Ipv4Addr)>,
}

impl World {
    fn new(servers: &[Ipv4Addr], answering: &[Ipv4Addr]) -> Self {
        let now = Instant::now();
        World {
            m: Maintainer::new(Timers::default(), Secret::new([3; 16]), 77, now)
                .with_nat_tests(false),
            servers: servers.to_vec(),
            answering: answering.to_vec(),
            lose: None,
            now,
            ups: Vec::new(),
            downs: Vec::new(),
            rs: Vec::new(),
        }
    }

    fn handle(&mut self, out: Outputs) {
        for ev in out.events {
            match ev {
                Event::ResolveServer => {
                    let servers = self.servers.clone();
                    let o = self.m.server_resolved(self.now, &servers);
                    self.handle(o);
                }
                Event::Up(q) => self.ups.push((self.now, q)),
                Event::Down => self.downs.push(self.now),
                _ => {}
            }
        }
        for tx in out.transmits {
            let server = *tx.dst.ip();
            assert_eq!(tx.dst.port(), TEREDO_PORT);
            self.rs.push((self.now, server));
            if !self.answering.contains(&server) {
                continue;
            }
            if let Some((s, n)) = self.lose {
                if s == server && n > 0 {
                    self.lose = (n > 1).then_some((s, n - 1));
                    continue;
                }
            }
            let rs = TeredoPacket::parse(&tx.payload).expect("our RS parses");
            let nonce = rs.auth.expect("RS has an auth header").nonce;
            let ra = emit_ra_payload(
                nonce,
                MAPPING,
                CLIENT_LINK_LOCAL,
                server,
                DEFAULT_PREFIX,
                1280,
            );
            let pkt = TeredoPacket::parse(&ra).expect("RA parses");
            let from = SocketAddrV4::new(server, TEREDO_PORT);
            assert!(Maintainer::is_qualification_packet(from, &pkt));
            let o = self.m.handle_packet(self.now, &pkt);
            self.handle(o);
        }
    }

    /// Runs every timer due up to `until`.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.m.poll_timeout() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            let o = self.m.handle_timeout(self.now);
            self.handle(o);
        }
        self.now = self.now.max(until);
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn server_in_use(&self) -> Option<Ipv4Addr> {
        self.m.qualified().map(|q| q.teredo.server)
    }
}

#[test]
fn qualifies_through_the_second_server_when_the_first_is_silent() {
    let mut w = World::new(&[A, B], &[B]);
    let t0 = w.now;
    w.run_for(Duration::from_secs(10));
    let (t, q) = w.ups.first().copied().expect("qualified");
    assert_eq!(q.teredo.server, B);
    assert!(t - t0 <= Duration::from_secs(3), "took {:?}", t - t0);
    assert_eq!(w.server_in_use(), Some(B));
}

#[test]
fn prefers_the_first_server_when_both_answer() {
    let mut w = World::new(&[A, B], &[A, B]);
    w.run_for(Duration::from_secs(60));
    assert_eq!(w.ups.len(), 1, "{:?}", w.ups);
    assert_eq!(w.server_in_use(), Some(A));
    assert!(
        w.rs.iter().all(|(_, s)| *s == A),
        "a healthy preferred server: nothing is sent to the other"
    );
}

#[test]
fn fails_over_within_5s_whenever_the_server_in_use_is_lost() {
    // The server stops at every 100 ms of a refresh interval: the worst case
    // is right after an answered refresh.
    for offset_ms in (0..3000).step_by(100) {
        let mut w = World::new(&[A, B], &[A, B]);
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.server_in_use(), Some(A));
        w.run_for(Duration::from_millis(offset_ms));
        w.answering = vec![B];
        let blocked = w.now;
        w.run_for(Duration::from_secs(10));
        let (t, q) = *w.ups.last().expect("up");
        assert_eq!(q.teredo.server, B, "offset {offset_ms} ms");
        assert!(
            t - blocked <= Duration::from_secs(5),
            "offset {offset_ms} ms: on B after {:?}",
            t - blocked
        );
        assert!(w.downs.is_empty(), "moved without going down first");
    }
}

#[test]
fn one_lost_answer_does_not_move_the_client() {
    let mut w = World::new(&[A, B], &[A, B]);
    w.run_for(Duration::from_secs(1));
    w.lose = Some((A, 1));
    w.run_for(Duration::from_secs(30));
    assert_eq!(w.ups.len(), 1, "address unchanged: {:?}", w.ups);
    assert_eq!(w.server_in_use(), Some(A));
    assert!(w.rs.iter().any(|(_, s)| *s == B), "B was probed");
}

#[test]
fn returns_to_the_preferred_server_without_a_gap() {
    let mut w = World::new(&[A, B], &[B]);
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.server_in_use(), Some(B));
    w.answering = vec![A, B];
    let back = w.now;
    w.run_for(Duration::from_secs(20));
    let (t, q) = *w.ups.last().expect("up");
    assert_eq!(q.teredo.server, A);
    let refresh = Timers::default().failover_refresh;
    assert!(
        t - back <= 2 * refresh,
        "back on A {:?} after it returned",
        t - back
    );
    assert!(w.downs.is_empty(), "never down: {:?}", w.downs);
    assert_eq!(w.m.state(), State::Up);
}

#[test]
fn a_preferred_server_answering_every_other_probe_does_not_win_the_client_back() {
    let mut w = World::new(&[A, B], &[B]);
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.server_in_use(), Some(B));
    for _ in 0..20 {
        // Each refresh sends one probe to A: let one in two through.
        w.answering = vec![A, B];
        w.lose = Some((A, 1));
        w.run_for(Timers::default().failover_refresh);
        w.lose = None;
        w.run_for(Timers::default().failover_refresh);
    }
    assert_eq!(w.server_in_use(), Some(B), "{:?}", w.ups);
}

#[test]
fn every_server_lost_goes_down_then_retries_from_the_preferred() {
    let mut w = World::new(&[A, B, C], &[A, B, C]);
    w.run_for(Duration::from_secs(1));
    w.answering.clear();
    w.run_for(Duration::from_secs(30));
    assert_eq!(w.downs.len(), 1, "one loss");
    assert_ne!(w.m.state(), State::Up);
    for s in [B, C] {
        assert!(w.rs.iter().any(|(_, x)| *x == s), "{s} tried");
    }
    // Every round after a pause (a gap of more than one RS timeout) starts
    // with the preferred server.
    let after_pauses: Vec<Ipv4Addr> =
        w.rs.windows(2)
            .filter(|p| p[1].0 - p[0].0 > Timers::default().failover_rs_timeout)
            .map(|p| p[1].1)
            .collect();
    assert!(!after_pauses.is_empty());
    assert!(after_pauses.iter().all(|s| *s == A), "{after_pauses:?}");
    w.answering = vec![A, B, C];
    w.run_for(Duration::from_secs(30));
    assert_eq!(w.server_in_use(), Some(A));
}

#[test]
fn resolution_keeps_the_order_and_drops_duplicates_and_non_global_addresses() {
    let mut w = World::new(&[Ipv4Addr::new(10, 0, 0, 1), B, A, B], &[A]);
    w.run_for(Duration::from_secs(10));
    let tried: Vec<Ipv4Addr> = w.rs.iter().map(|(_, s)| *s).collect();
    assert_eq!(tried.first(), Some(&B), "B before A, as resolved");
    assert!(!tried.contains(&Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(w.server_in_use(), Some(A));
}
