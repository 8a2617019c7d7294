//! Drives a `portmap::PortMapper` for `portmap_pcp` and `portmap_natpmp`
//! (not a target itself): raw datagrams from the gateway and from elsewhere,
//! answers built from the mapper's own last request with fuzzer-chosen
//! fields (so that renewals, epoch resets and refusals are reached), timer
//! expiries and a stop, checking after every call what the API promises.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use portmap::{natpmp, pcp, Config, Event, Outputs, PortMapper};

use crate::input::Input;

const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
const PORT: u16 = 3544;
const NONCE: [u8; 12] = [9; 12];

/// Which protocol's answers the synthesised records favour.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Pcp,
    NatPmp,
}

struct Driver {
    m: PortMapper,
    now: Instant,
    stopped: bool,
    /// The last request of each kind sent, to answer.
    last_pcp: Option<pcp::MapRequest>,
    last_nat: Option<natpmp::MappingRequest>,
    epoch: u32,
}

impl Driver {
    fn check(&mut self, had_mapping: bool, out: &Outputs) {
        if self.stopped {
            assert!(out.is_empty(), "output after stop: {out:?}");
        }
        for t in &out.transmits {
            assert_eq!(t.dst, SocketAddrV4::new(GW, 5351));
            if let Ok(r) = pcp::MapRequest::parse(&t.payload) {
                assert_eq!(r.map.nonce, NONCE);
                assert_eq!(r.map.internal_port, PORT);
                assert_eq!(r.client, pcp::mapped(ME));
                self.last_pcp = Some(r);
            } else if let Ok(r) = natpmp::MappingRequest::parse(&t.payload) {
                assert_eq!((r.opcode, r.internal_port), (natpmp::OP_MAP_UDP, PORT));
                self.last_nat = Some(r);
            } else {
                assert_eq!(t.payload, natpmp::external_address_request());
            }
        }
        let mut mapped = had_mapping;
        for e in &out.events {
            match *e {
                Event::Mapped {
                    external, lifetime, ..
                } => {
                    assert_ne!(external.port(), 0);
                    assert!(lifetime >= Duration::from_secs(1));
                    assert!(lifetime <= Duration::from_secs(24 * 3600));
                    mapped = true;
                }
                Event::Lost => {
                    assert!(mapped, "Lost without a mapping");
                    mapped = false;
                }
                Event::Failed(_) => mapped = false,
            }
        }
        if let Some(Event::Mapped {
            protocol, external, ..
        }) = out.events.last()
        {
            assert_eq!(self.m.mapping(), Some((*protocol, *external)));
        }
        if matches!(out.events.last(), Some(Event::Failed(_))) {
            assert_eq!(self.m.mapping(), None);
        }
    }

    fn timeout(&mut self) {
        let had = self.m.mapping().is_some();
        let out = self.m.handle_timeout(self.now);
        self.check(had, &out);
        if let Some(next) = self.m.poll_timeout() {
            assert!(next > self.now, "timer not advanced");
        } else {
            assert!(self.stopped);
        }
    }

    fn packet(&mut self, from: SocketAddrV4, payload: &[u8]) {
        let had = self.m.mapping().is_some();
        let before = self.m.stats();
        let out = self.m.handle_packet(self.now, from, payload);
        if from != SocketAddrV4::new(GW, 5351) {
            assert!(out.is_empty());
            assert_eq!(self.m.stats().wrong_source, before.wrong_source + 1);
        }
        self.check(had, &out);
    }

    fn pcp_answer(&self, input: &mut Input) -> Vec<u8> {
        let Some(req) = self.last_pcp else {
            return Vec::new();
        };
        let result = match input.u8() {
            0..=199 => 0,
            c => c % 16,
        };
        let v6 = input.u8() == 0xff;
        let port = input.u16();
        let external_addr = if v6 {
            Ipv6Addr::LOCALHOST
        } else {
            pcp::mapped(Ipv4Addr::new(203, 0, 113, input.u8()))
        };
        pcp::Response {
            opcode: pcp::OP_MAP,
            result: pcp::ResultCode::from(result),
            lifetime: u32::from(input.u16()),
            epoch: self.epoch,
            map: Some(pcp::MapBody {
                external_port: port,
                external_addr,
                ..req.map
            }),
        }
        .emit()
    }

    fn nat_answers(&self, input: &mut Input) -> [Vec<u8>; 2] {
        let result = match input.u8() {
            0..=199 => 0,
            c => u16::from(c % 8),
        };
        let address = natpmp::Response {
            opcode: natpmp::OP_EXTERNAL_ADDRESS,
            result: natpmp::ResultCode::from(result),
            epoch: self.epoch,
            body: natpmp::Body::ExternalAddress(Ipv4Addr::new(198, 51, 100, input.u8())),
        }
        .emit();
        let internal_port = self.last_nat.map_or(PORT, |r| r.internal_port);
        let mapping = natpmp::Response {
            opcode: natpmp::OP_MAP_UDP,
            result: natpmp::ResultCode::from(result),
            epoch: self.epoch,
            body: natpmp::Body::Mapping {
                internal_port,
                external_port: input.u16(),
                lifetime: u32::from(input.u16()),
            },
        }
        .emit();
        [address, mapping]
    }
}

/// Flips one byte of `b` now and then, so near-valid answers are tried.
fn corrupt(input: &mut Input, mut b: Vec<u8>) -> Vec<u8> {
    let at = usize::from(input.u8());
    if at < b.len() {
        b[at] ^= input.u8() | 1;
    }
    b
}

pub fn drive(data: &[u8], flavor: Flavor) {
    let t0 = Instant::now();
    let mut input = Input::new(data);
    let mut d = Driver {
        m: PortMapper::new(Config::new(ME, PORT, GW, NONCE), t0),
        now: t0,
        stopped: false,
        last_pcp: None,
        last_nat: None,
        epoch: 1000,
    };
    let gw = d.m.server();
    d.timeout();
    if flavor == Flavor::NatPmp && input.bool() {
        // The NAT-PMP gateway's answer to PCP: straight to NAT-PMP.
        d.packet(gw, &[0, 129, 0, 1, 0, 0, 0, 1]);
    }
    while !input.is_empty() {
        let kind = input.u8();
        match kind % 8 {
            0 => {
                let ms = u64::from(input.u16()) << (kind >> 5);
                d.now += Duration::from_millis(ms);
                d.epoch = d.epoch.wrapping_add(u32::try_from(ms / 1000).unwrap_or(0));
                if d.m.poll_timeout().is_some_and(|t| t <= d.now) {
                    d.timeout();
                }
            }
            1 => {
                if let Some(t) = d.m.poll_timeout() {
                    d.epoch = d.epoch.wrapping_add(
                        u32::try_from(t.saturating_duration_since(d.now).as_secs()).unwrap_or(0),
                    );
                    d.now = d.now.max(t);
                    d.timeout();
                }
            }
            2 => {
                let chunk = input.chunk().to_vec();
                d.packet(gw, &chunk);
            }
            3 => {
                let from = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, input.u8()), input.u16());
                let chunk = input.chunk().to_vec();
                d.packet(from, &chunk);
            }
            4 | 5 => match flavor {
                Flavor::Pcp => {
                    let a = d.pcp_answer(&mut input);
                    let a = corrupt(&mut input, a);
                    d.packet(gw, &a);
                }
                Flavor::NatPmp => {
                    let [a, m] = d.nat_answers(&mut input);
                    let a = corrupt(&mut input, a);
                    d.packet(gw, &a);
                    d.packet(gw, &m);
                }
            },
            6 => {
                // A reboot: the epoch starts again, and maybe an announcement.
                d.epoch = u32::from(input.u8());
                let announce = match flavor {
                    Flavor::Pcp => pcp::Response {
                        opcode: pcp::OP_ANNOUNCE,
                        result: pcp::ResultCode::Success,
                        lifetime: 0,
                        epoch: d.epoch,
                        map: None,
                    }
                    .emit(),
                    Flavor::NatPmp => d.nat_answers(&mut input)[0].clone(),
                };
                if input.bool() {
                    d.packet(gw, &announce);
                }
            }
            _ => {
                if kind == 0xff {
                    let had = d.m.mapping().is_some();
                    let out = d.m.stop(d.now);
                    assert!(out.events.is_empty());
                    assert!(out.transmits.len() <= 1);
                    d.check(had, &out);
                    d.stopped = true;
                    assert_eq!(d.m.poll_timeout(), None);
                    assert_eq!(d.m.mapping(), None);
                }
            }
        }
    }
}
