//! The request the unprivileged daemon sends to the root hook runner
//! ([`crate::privproc`]), and its checks.
//!
//! The daemon faces the network and must be assumed compromised, so the
//! request carries no path and no environment text: only typed fields,
//! from which the runner builds the environment itself
//! ([`HookEvent::env`]) and runs the script it was given at start-up.
//!
//! Frame (big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, [`VERSION`] |
//! | 1 | kind, [`KIND_RUN`] |
//! | 2 | body length, at most [`MAX_BODY`] |
//! | 1 | `STATE`: 1 up, 2 down, 3 destroy |
//! | 1 | `OLD_STATE`: 1 up, 2 down |
//! | 4 | `IFINDEX` |
//! | 1 + n | `IFACE`: length n (1–15), then n bytes |
//! | 1 | which parameter sets follow: bit 0 current, bit 1 old |
//! | 36 | current `ADDRESS` (16), `LLADDRESS` (16), `MTU` (4), if bit 0 |
//! | 36 | `OLD_ADDRESS`, `OLD_LLADDRESS`, `OLD_MTU`, if bit 1 |
//!
//! The header is read first and the body is then always read whole, so a
//! refused request never leaves the stream out of step. The answer is one
//! `i32`: the hook's status ([`super::HookOutcome::status`]) or
//! [`STATUS_REFUSED`].
//!
//! [`check`] holds what a request must satisfy beyond its syntax: the
//! values a Teredo client can produce (reference to `docs/compat.md`,
//! "Client hook"), and the event shapes [`super::HookTracker`] produces.

use std::net::Ipv6Addr;

use super::{HookEvent, HookParams, HookState, OldState};

/// Frame version.
pub const VERSION: u8 = 1;
/// The only request kind: run the hook for one event.
pub const KIND_RUN: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 4;
/// Longest body: every field present, a 15-byte name.
pub const MAX_BODY: usize = 1 + 1 + 4 + 1 + wire6::IF_NAME_MAX + 1 + 2 * PARAMS_LEN;
/// Status answered for a refused request (never an exit code, which is
/// 0–255, nor the -1 of a killed hook).
pub const STATUS_REFUSED: i32 = -2;

/// IPv6 minimum link MTU (RFC 8200 §5); privproc refuses less too.
pub const MIN_MTU: u32 = 1280;
/// Largest MTU a TUN interface takes.
pub const MAX_MTU: u32 = 65535;

const PARAMS_LEN: usize = 16 + 16 + 4;
const HAS_CURRENT: u8 = 1;
const HAS_OLD: u8 = 2;

/// Why a request was refused. The text goes to the runner's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown version {0}")]
    Version(u8),
    #[error("unknown request kind {0}")]
    Kind(u8),
    #[error("body of {0} bytes (at most {MAX_BODY})")]
    TooLong(usize),
    #[error("truncated")]
    Truncated,
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("bad STATE {0}")]
    State(u8),
    #[error("bad OLD_STATE {0}")]
    OldState(u8),
    #[error("bad parameter flags {0:#04x}")]
    Flags(u8),
    #[error("IFINDEX 0")]
    Ifindex,
    #[error("bad interface name {0:?}")]
    Iface(String),
    #[error("{0} present exactly when {1}")]
    Shape(&'static str, &'static str),
    #[error("{0} {1} is not a unicast address")]
    Address(&'static str, Ipv6Addr),
    #[error("{0} {1} is not link-local")]
    LinkLocal(&'static str, Ipv6Addr),
    #[error("{0} {1} out of range {MIN_MTU}-{MAX_MTU}")]
    Mtu(&'static str, u32),
}

/// The request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: u8,
    /// Body length: the reader consumes this many bytes whatever else is
    /// wrong, so the next request starts in step.
    pub len: usize,
}

impl Header {
    /// Any four bytes are a header; [`decode_body`] judges it.
    pub fn parse(b: [u8; HEADER_LEN]) -> Header {
        Header {
            version: b[0],
            kind: b[1],
            len: usize::from(u16::from_be_bytes([b[2], b[3]])),
        }
    }
}

/// Whether `name` is an interface name the runner passes to a script as
/// `IFACE`: 1–15 bytes of letters, digits, `.`, `_` and `-`, not starting
/// with `-` (it would read as an option to `ip`), not `.` or `..`. The
/// kernel takes more (any byte but `/`, `:`, NUL and white space); the
/// rest has no business in a shell script's arguments.
pub fn valid_iface(name: &str) -> bool {
    (1..=wire6::IF_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.starts_with('-')
        && name != "."
        && name != ".."
}

/// Encodes `ev` as a whole frame. `ev` must pass [`check`] for the runner
/// to accept it (a name over 255 bytes is cut, so the frame stays
/// well-formed).
pub fn encode(ev: &HookEvent) -> Vec<u8> {
    let mut body = Vec::with_capacity(MAX_BODY);
    body.push(match ev.state {
        HookState::Up => 1,
        HookState::Down => 2,
        HookState::Destroy => 3,
    });
    body.push(match ev.old_state {
        OldState::Up => 1,
        OldState::Down => 2,
    });
    body.extend_from_slice(&ev.ifindex.to_be_bytes());
    // Cut to what the length byte holds; the runner refuses more than 15.
    let name = &ev.iface.as_bytes()[..ev.iface.len().min(usize::from(u8::MAX))];
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    let flags = if ev.current.is_some() { HAS_CURRENT } else { 0 }
        | if ev.old.is_some() { HAS_OLD } else { 0 };
    body.push(flags);
    for p in [&ev.current, &ev.old].into_iter().flatten() {
        body.extend_from_slice(&p.address.octets());
        body.extend_from_slice(&p.lladdress.octets());
        body.extend_from_slice(&p.mtu.to_be_bytes());
    }
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
    frame.extend_from_slice(&[VERSION, KIND_RUN]);
    // At most 1+1+4+1+255+1+72 bytes: fits.
    frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A cursor that fails with [`RequestError::Truncated`].
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RequestError> {
        if self.0.len() < n {
            return Err(RequestError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, RequestError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, RequestError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn addr(&mut self) -> Result<Ipv6Addr, RequestError> {
        let b = self.take(16)?;
        let mut o = [0u8; 16];
        o.copy_from_slice(b);
        Ok(Ipv6Addr::from(o))
    }

    fn params(&mut self) -> Result<HookParams, RequestError> {
        Ok(HookParams {
            address: self.addr()?,
            lladdress: self.addr()?,
            mtu: self.u32()?,
        })
    }
}

/// Decodes and [`check`]s the body of a request with header `h`.
pub fn decode_body(h: Header, body: &[u8]) -> Result<HookEvent, RequestError> {
    if h.version != VERSION {
        return Err(RequestError::Version(h.version));
    }
    if h.kind != KIND_RUN {
        return Err(RequestError::Kind(h.kind));
    }
    if h.len > MAX_BODY {
        return Err(RequestError::TooLong(h.len));
    }
    if body.len() != h.len {
        return Err(RequestError::Truncated);
    }
    let mut r = Reader(body);
    let state = match r.u8()? {
        1 => HookState::Up,
        2 => HookState::Down,
        3 => HookState::Destroy,
        s => return Err(RequestError::State(s)),
    };
    let old_state = match r.u8()? {
        1 => OldState::Up,
        2 => OldState::Down,
        s => return Err(RequestError::OldState(s)),
    };
    let ifindex = r.u32()?;
    let n = usize::from(r.u8()?);
    let raw = r.take(n)?;
    let iface = String::from_utf8_lossy(raw).into_owned();
    let flags = r.u8()?;
    if flags & !(HAS_CURRENT | HAS_OLD) != 0 {
        return Err(RequestError::Flags(flags));
    }
    let current = if flags & HAS_CURRENT != 0 {
        Some(r.params()?)
    } else {
        None
    };
    let old = if flags & HAS_OLD != 0 {
        Some(r.params()?)
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(RequestError::Trailing(r.0.len()));
    }
    let ev = HookEvent {
        state,
        old_state,
        iface,
        ifindex,
        current,
        old,
    };
    check(&ev)?;
    Ok(ev)
}

/// Decodes a whole frame (header and body, nothing after): the decoder
/// the runner uses, in one piece.
pub fn decode(frame: &[u8]) -> Result<HookEvent, RequestError> {
    if frame.len() < HEADER_LEN {
        return Err(RequestError::Truncated);
    }
    let (head, body) = frame.split_at(HEADER_LEN);
    let h = Header::parse([head[0], head[1], head[2], head[3]]);
    if body.len() > h.len {
        return Err(RequestError::Trailing(body.len() - h.len));
    }
    decode_body(h, body)
}

fn check_params(p: &HookParams, which: [&'static str; 3]) -> Result<(), RequestError> {
    let a = p.address;
    // Teredo addresses are global unicast under the configured prefix,
    // which is never multicast (the configuration refuses ff00::/8).
    if a.is_unspecified() || a.is_loopback() || a.is_multicast() || is_link_local(a) {
        return Err(RequestError::Address(which[0], a));
    }
    if !is_link_local(p.lladdress) {
        return Err(RequestError::LinkLocal(which[1], p.lladdress));
    }
    if !(MIN_MTU..=MAX_MTU).contains(&p.mtu) {
        return Err(RequestError::Mtu(which[2], p.mtu));
    }
    Ok(())
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// What a request must satisfy beyond its syntax: a usable interface name
/// and index, in-range parameters, and the shape [`super::HookTracker`]
/// gives every event (`ADDRESS`… exactly with `STATE=up`, `OLD_*` exactly
/// with `OLD_STATE=up`).
pub fn check(ev: &HookEvent) -> Result<(), RequestError> {
    if ev.ifindex == 0 || i32::try_from(ev.ifindex).is_err() {
        return Err(RequestError::Ifindex);
    }
    if !valid_iface(&ev.iface) {
        return Err(RequestError::Iface(ev.iface.clone()));
    }
    if ev.current.is_some() != (ev.state == HookState::Up) {
        return Err(RequestError::Shape("ADDRESS", "STATE=up"));
    }
    if ev.old.is_some() != (ev.old_state == OldState::Up) {
        return Err(RequestError::Shape("OLD_ADDRESS", "OLD_STATE=up"));
    }
    if let Some(p) = &ev.current {
        check_params(p, ["ADDRESS", "LLADDRESS", "MTU"])?;
    }
    if let Some(p) = &ev.old {
        check_params(p, ["OLD_ADDRESS", "OLD_LLADDRESS", "OLD_MTU"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::HookTracker;

    fn p(last: u16, mtu: u32) -> HookParams {
        HookParams::new(Ipv6Addr::new(0x2001, 0, 0xc000, 0x201, 0, 0, 0, last), mtu)
    }

    /// Every event shape the tracker produces.
    fn events() -> Vec<HookEvent> {
        let mut t = HookTracker::new(7);
        let mut v = vec![
            t.up("teredo", p(1, 1280)).expect("up"),
            t.up("teredo", p(2, 1400)).expect("change"),
            t.down("teredo").expect("down"),
        ];
        v.extend(t.clone().shutdown("teredo"));
        t.up("teredo", p(3, 65535));
        v.extend(t.shutdown("teredo"));
        v
    }

    #[test]
    fn every_tracker_event_round_trips() {
        for ev in events() {
            let frame = encode(&ev);
            assert!(frame.len() - HEADER_LEN <= MAX_BODY);
            assert_eq!(decode(&frame), Ok(ev));
        }
    }

    #[test]
    fn a_changed_byte_is_refused_or_still_valid() {
        // Flip each byte of each frame: the result is refused or decodes to
        // an event that passes the checks (never a panic).
        for ev in events() {
            let frame = encode(&ev);
            for i in 0..frame.len() {
                for x in [0x01, 0x80, 0xff] {
                    let mut f = frame.clone();
                    f[i] ^= x;
                    if let Ok(e) = decode(&f) {
                        assert_eq!(check(&e), Ok(()));
                    }
                }
            }
            for cut in 0..frame.len() {
                assert!(decode(&frame[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn fuzz_seeds_are_valid_requests() {
        // The seeds of fuzz/corpus/hook_request must follow the format.
        for seed in [
            &include_bytes!("../../../fuzz/corpus/hook_request/up-first")[..],
            &include_bytes!("../../../fuzz/corpus/hook_request/up-change")[..],
            &include_bytes!("../../../fuzz/corpus/hook_request/destroy-stale-old")[..],
        ] {
            let ev = decode(seed).expect("seed decodes");
            assert_eq!(encode(&ev), seed);
        }
    }

    fn with(f: impl FnOnce(&mut HookEvent)) -> Result<HookEvent, RequestError> {
        let mut ev = events()[0].clone();
        f(&mut ev);
        decode(&encode(&ev))
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        assert_eq!(with(|e| e.ifindex = 0), Err(RequestError::Ifindex));
        assert_eq!(with(|e| e.ifindex = u32::MAX), Err(RequestError::Ifindex));
        for bad in [
            "",
            "-teredo",
            ".",
            "..",
            "te redo",
            "a/b",
            "x=y",
            "LD_PRELOAD=/x",
            "teredo\nSTATE=up",
            "t\u{e9}redo",
        ] {
            assert!(
                matches!(with(|e| e.iface = bad.into()), Err(RequestError::Iface(_))),
                "{bad:?}"
            );
        }
        for mtu in [0, 1279, 65536, u32::MAX] {
            assert_eq!(
                with(|e| e.current = Some(p(1, mtu))),
                Err(RequestError::Mtu("MTU", mtu))
            );
        }
        for a in ["::", "::1", "ff02::1", "fe80::1"] {
            let a: Ipv6Addr = a.parse().expect("address");
            assert_eq!(
                with(|e| e.current = Some(HookParams::new(a, 1280))),
                Err(RequestError::Address("ADDRESS", a))
            );
        }
        let not_ll = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        assert_eq!(
            with(|e| e.current = Some(HookParams {
                lladdress: not_ll,
                ..p(1, 1280)
            })),
            Err(RequestError::LinkLocal("LLADDRESS", not_ll))
        );
        assert!(matches!(
            with(|e| e.current = None),
            Err(RequestError::Shape(..))
        ));
        assert!(matches!(
            with(|e| e.old = Some(p(9, 1280))),
            Err(RequestError::Shape(..))
        ));
    }

    #[test]
    fn framing_errors() {
        let frame = encode(&events()[0]);
        let mut f = frame.clone();
        f[0] = 0;
        assert_eq!(decode(&f), Err(RequestError::Version(0)));
        let mut f = frame.clone();
        f[1] = 2;
        assert_eq!(decode(&f), Err(RequestError::Kind(2)));
        let mut f = frame.clone();
        f.extend_from_slice(b"/tmp/x");
        assert_eq!(decode(&f), Err(RequestError::Trailing(6)));
        // A body that claims more than the largest request.
        let mut f = vec![VERSION, KIND_RUN];
        f.extend_from_slice(&((MAX_BODY + 1) as u16).to_be_bytes());
        f.resize(HEADER_LEN + MAX_BODY + 1, 0);
        assert_eq!(decode(&f), Err(RequestError::TooLong(MAX_BODY + 1)));
        // Extra bytes inside the stated body length.
        let mut f = frame.clone();
        let len = u16::from_be_bytes([f[2], f[3]]) + 3;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        f.extend_from_slice(b"abc");
        assert_eq!(decode(&f), Err(RequestError::Trailing(3)));
        // Unknown flag bits.
        let mut f = frame;
        let at = HEADER_LEN + 1 + 1 + 4 + 1 + "teredo".len();
        f[at] |= 4;
        assert_eq!(decode(&f), Err(RequestError::Flags(f[at])));
    }
}
