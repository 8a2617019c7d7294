//! Bounds on the bubbles a client sends because of a datagram it received.
//!
//! RFC 4380 §5.2.6 limits the bubbles sent to one *peer* (at most one every
//! 2 s, four in all before giving up; [`crate::peers::RateLimit`]). A received
//! datagram chooses the peer, though: a sender that varies the flags or port
//! of the Teredo address it claims gets a fresh peer, and a fresh limit, per
//! datagram, all aimed at one IPv4. So every bubble sent in answer to a
//! received datagram (the direct bubble to an origin indication, the answer to
//! a direct bubble, and the bubbles of an unexpected Teredo endpoint; see
//! `docs/nat-traversal.md`) also passes two limits here:
//!
//! - per destination IPv4: at most [`DEST_BURST`] per [`DEST_WINDOW`], the
//!   RFC 4380 budget of one peer (4 bubbles) per spacing interval (2 s), which
//!   leaves room for the two or three answers one genuine exchange gives one
//!   host in a round;
//! - in all: at most [`GLOBAL_BURST`] per [`GLOBAL_WINDOW`].
//!
//! Bubbles for packets read from the tunnel (our own traffic) are bounded per
//! peer only, as RFC 4380 says. The table of destinations is bounded: with
//! the global limit, no more than `GLOBAL_BURST × DEST_WINDOW / GLOBAL_WINDOW`
//! destinations can be live at once, and expired windows are pruned when the
//! table is full.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::peers::{ATTEMPT_SPACING, MAX_ATTEMPTS};

/// Bubbles in answer to received datagrams, per destination IPv4 and window.
pub const DEST_BURST: u32 = MAX_ATTEMPTS as u32;
/// The per-destination window.
pub const DEST_WINDOW: Duration = ATTEMPT_SPACING;
/// Bubbles in answer to received datagrams, to all destinations, per window.
pub const GLOBAL_BURST: u32 = 32;
/// The global window.
pub const GLOBAL_WINDOW: Duration = Duration::from_secs(1);
/// Destinations remembered at most (see the module documentation).
const MAX_DESTS: usize = 256;

/// Why a bubble was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The destination IPv4 had its share.
    Dest,
    /// Everyone had their share.
    Global,
}

/// A fixed window: `count` events since `start`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    /// Restarts the window if it is over at `now`, then says whether one more
    /// event fits (without counting it).
    fn room(&mut self, now: Instant, window: Duration, burst: u32) -> bool {
        if now.saturating_duration_since(self.start) >= window {
            *self = Window {
                start: now,
                count: 0,
            };
        }
        self.count < burst
    }
}

/// The two limits. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct ReplyLimiter {
    dests: HashMap<Ipv4Addr, Window>,
    global: Option<Window>,
}

impl ReplyLimiter {
    /// Decides one bubble to `dst` at `now`, counting it if it may go.
    pub(crate) fn allow(&mut self, now: Instant, dst: Ipv4Addr) -> Result<(), Refused> {
        let global = self.global.get_or_insert(Window {
            start: now,
            count: 0,
        });
        if !global.room(now, GLOBAL_WINDOW, GLOBAL_BURST) {
            return Err(Refused::Global);
        }
        if !self.dests.contains_key(&dst) && self.dests.len() >= MAX_DESTS {
            self.dests
                .retain(|_, w| now.saturating_duration_since(w.start) < DEST_WINDOW);
            if self.dests.len() >= MAX_DESTS {
                // Cannot happen under the global limit; refuse rather than grow.
                return Err(Refused::Global);
            }
        }
        let w = self.dests.entry(dst).or_insert(Window {
            start: now,
            count: 0,
        });
        if !w.room(now, DEST_WINDOW, DEST_BURST) {
            return Err(Refused::Dest);
        }
        w.count += 1;
        global.count += 1;
        Ok(())
    }

    /// Destinations remembered now.
    #[cfg(test)]
    fn dests(&self) -> usize {
        self.dests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xc633_0000 + n)
    }

    #[test]
    fn per_destination_window() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::default();
        let ok = (0..50).filter(|_| l.allow(t0, ip(1)).is_ok()).count();
        assert_eq!(ok, DEST_BURST as usize);
        assert_eq!(l.allow(t0, ip(1)), Err(Refused::Dest));
        assert!(l.allow(t0, ip(2)).is_ok(), "another host has its own share");
        assert_eq!(
            l.allow(t0 + DEST_WINDOW - Duration::from_millis(1), ip(1)),
            Err(Refused::Dest)
        );
        assert!(l.allow(t0 + DEST_WINDOW, ip(1)).is_ok());
    }

    #[test]
    fn global_window_and_bounded_table() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::default();
        let mut sent = 0;
        let mut t = t0;
        // A new destination every millisecond for ten seconds.
        for n in 0..10_000 {
            if l.allow(t, ip(n)).is_ok() {
                sent += 1;
            }
            assert!(l.dests() <= MAX_DESTS);
            t += Duration::from_millis(1);
        }
        assert_eq!(sent, 10 * GLOBAL_BURST);
        assert_eq!(l.allow(t0, ip(0)), Err(Refused::Global));
    }
}
