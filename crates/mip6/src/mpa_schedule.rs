//! The home agent's unsolicited Mobile Prefix Advertisements (RFC 6275 §10.6.2–§10.6.3 and the
//! constants of §12; docs/protocol-notes.md#mobile-prefix-discovery), sans-IO.
//!
//! When the prefixes of a home link change, every mobile node registered on
//! that link is sent an advertisement at a random delay between
//! `MinMobPfxAdvInterval` and min(`MaxMobPfxAdvInterval`, the prefixes'
//! preferred lifetime), so that a change does not make the home agent send
//! to all of them at once. An advertisement is sent again after
//! [`PREFIX_ADV_TIMEOUT`], doubling, at most [`PREFIX_ADV_RETRIES`] times,
//! until the mobile node answers with a Mobile Prefix Solicitation (it
//! cannot trust an advertisement it did not ask for, RFC 6275 §11.4.3, and
//! asks; the solicited answer then carries the same prefixes).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::deadlines::Deadlines;

/// RFC 6275 §12 `PREFIX_ADV_TIMEOUT`: first retransmission of an unsolicited
/// advertisement (docs/protocol-notes.md#mobile-prefix-discovery).
pub const PREFIX_ADV_TIMEOUT: Duration = Duration::from_secs(3);
/// RFC 6275 §12 `PREFIX_ADV_RETRIES`: retransmissions after the first send.
pub const PREFIX_ADV_RETRIES: u32 = 3;

/// `MinMobPfxAdvInterval` and `MaxMobPfxAdvInterval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpaIntervals {
    /// Shortest delay after a change.
    pub min: Duration,
    /// Longest delay after a change (further capped by the preferred lifetime).
    pub max: Duration,
}

impl MpaIntervals {
    /// The window's upper end for prefixes preferred for `preferred`:
    /// MaxScheduleDelay = min(Max, preferred), never below Min.
    pub fn max_schedule_delay(&self, preferred: Duration) -> Duration {
        self.max.min(preferred).max(self.min)
    }
}

/// One mobile node's advertisement in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Advert {
    identifier: u16,
    /// Sends so far (0 while the first is scheduled).
    sent: u32,
    /// Wait before the next retransmission.
    timeout: Duration,
}

/// What is due: send an unsolicited advertisement to this home address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueAdvert {
    /// The mobile node's home address.
    pub home_address: Ipv6Addr,
    /// The advertisement's identifier (the same for its retransmissions).
    pub identifier: u16,
    /// 0 for the first send, then 1..=[`PREFIX_ADV_RETRIES`].
    pub retransmission: u32,
}

/// The home agent's unsolicited advertisements, by home address.
#[derive(Debug, Clone, Default)]
pub struct UnsolicitedAdverts {
    due: Deadlines<Ipv6Addr>,
    adverts: HashMap<Ipv6Addr, Advert>,
    next_identifier: u16,
}

impl UnsolicitedAdverts {
    /// None scheduled; identifiers count up from `first_identifier`.
    pub fn new(first_identifier: u16) -> Self {
        UnsolicitedAdverts {
            next_identifier: first_identifier,
            ..Self::default()
        }
    }

    /// The prefixes of `home_address`'s home link changed: schedules its
    /// advertisement at `now` + Min + (`random` mod (MaxScheduleDelay − Min)),
    /// MaxScheduleDelay being min(Max, `preferred`) (RFC 6275 §10.6.2). An
    /// advertisement already scheduled earlier, or being retransmitted,
    /// stays as it is.
    pub fn prefixes_changed(
        &mut self,
        now: Instant,
        home_address: Ipv6Addr,
        intervals: MpaIntervals,
        preferred: Duration,
        random: u64,
    ) {
        let span = (intervals.max_schedule_delay(preferred) - intervals.min).as_millis() as u64;
        let delay = intervals.min + Duration::from_millis(random.checked_rem(span).unwrap_or(0));
        let at = now + delay;
        if let Some(a) = self.adverts.get(&home_address) {
            if a.sent > 0 || self.due.get(&home_address).is_some_and(|t| t <= at) {
                return;
            }
        }
        let identifier = self.next_identifier;
        self.next_identifier = identifier.wrapping_add(1);
        self.adverts.insert(
            home_address,
            Advert {
                identifier,
                sent: 0,
                timeout: PREFIX_ADV_TIMEOUT,
            },
        );
        self.due.set(home_address, at);
    }

    /// When [`Self::take_due`] has something.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due.earliest()
    }

    /// The advertisements to send now; each is scheduled again after its
    /// doubling timeout until it has been retransmitted
    /// [`PREFIX_ADV_RETRIES`] times.
    pub fn take_due(&mut self, now: Instant) -> Vec<DueAdvert> {
        let mut out = Vec::new();
        for home_address in self.due.pop_due(now) {
            let Some(a) = self.adverts.get_mut(&home_address) else {
                continue;
            };
            out.push(DueAdvert {
                home_address,
                identifier: a.identifier,
                retransmission: a.sent,
            });
            a.sent += 1;
            if a.sent > PREFIX_ADV_RETRIES {
                self.adverts.remove(&home_address);
            } else {
                self.due.set(home_address, now + a.timeout);
                a.timeout *= 2;
            }
        }
        out
    }

    /// The mobile node solicited (or its binding went): nothing more to
    /// send it. True if something was pending.
    pub fn stop(&mut self, home_address: &Ipv6Addr) -> bool {
        self.due.remove(home_address);
        self.adverts.remove(home_address).is_some()
    }

    /// Mobile nodes with an advertisement pending.
    pub fn len(&self) -> usize {
        self.adverts.len()
    }

    /// True if none is pending.
    pub fn is_empty(&self) -> bool {
        self.adverts.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
    const UMIP: MpaIntervals = MpaIntervals {
        min: Duration::from_secs(600),
        max: Duration::from_secs(86400),
    };

    /// Drives the schedule second by second; returns (second, retransmission).
    fn sends(u: &mut UnsolicitedAdverts, t0: Instant, until: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        for s in 0..=until {
            for d in u.take_due(t0 + secs(s)) {
                out.push((s, d.retransmission));
            }
        }
        out
    }

    #[test]
    fn first_send_within_the_window_then_three_retransmissions_doubling() {
        let t0 = Instant::now();
        let mut u = UnsolicitedAdverts::new(7);
        // MaxScheduleDelay = min(86400, preferred 1000) = 1000: 600 + 123 % 400.
        u.prefixes_changed(t0, HOA, UMIP, secs(1000), 123_000);
        assert_eq!(u.poll_timeout(), Some(t0 + secs(723)));
        assert_eq!(
            sends(&mut u, t0, 800),
            vec![(723, 0), (726, 1), (732, 2), (744, 3)]
        );
        assert!(u.is_empty() && u.poll_timeout().is_none());
    }

    #[test]
    fn the_delay_stays_between_min_and_the_capped_max() {
        let t0 = Instant::now();
        for random in [0, 1, 599_999, 600_000, u64::MAX] {
            let mut u = UnsolicitedAdverts::new(0);
            u.prefixes_changed(t0, HOA, UMIP, secs(1200), random);
            let at = u.poll_timeout().unwrap() - t0;
            assert!(at >= secs(600) && at < secs(1200), "{random}: {at:?}");
        }
        // A preferred lifetime below Min leaves Min; Min = Max is exact.
        let mut u = UnsolicitedAdverts::new(0);
        u.prefixes_changed(t0, HOA, UMIP, secs(10), 77);
        assert_eq!(u.poll_timeout(), Some(t0 + secs(600)));
        let fixed = MpaIntervals {
            min: secs(2),
            max: secs(2),
        };
        let mut u = UnsolicitedAdverts::new(0);
        u.prefixes_changed(t0, HOA, fixed, secs(100), 77);
        assert_eq!(u.poll_timeout(), Some(t0 + secs(2)));
    }

    #[test]
    fn a_solicitation_stops_it_and_a_later_change_keeps_the_earlier_send() {
        let t0 = Instant::now();
        let short = MpaIntervals {
            min: secs(1),
            max: secs(10),
        };
        let mut u = UnsolicitedAdverts::new(0xfffe);
        u.prefixes_changed(t0, HOA, short, secs(100), 2_000);
        u.prefixes_changed(t0 + secs(1), HOA, short, secs(100), 8_000);
        assert_eq!(u.poll_timeout(), Some(t0 + secs(3)), "the earlier stays");
        let first = u.take_due(t0 + secs(3));
        assert_eq!(first[0].identifier, 0xfffe);
        // While retransmitting, a change does not restart it.
        u.prefixes_changed(t0 + secs(4), HOA, short, secs(100), 0);
        assert_eq!(u.poll_timeout(), Some(t0 + secs(6)));
        assert_eq!(u.take_due(t0 + secs(6))[0].identifier, 0xfffe);
        assert!(u.stop(&HOA));
        assert!(u.take_due(t0 + secs(100)).is_empty());
        assert!(!u.stop(&HOA));
        // The next advertisement gets the next identifier (wrapping).
        u.prefixes_changed(t0 + secs(100), HOA, short, secs(100), 0);
        assert_eq!(u.take_due(t0 + secs(101))[0].identifier, 0xffff);
    }

    #[test]
    fn ten_thousand_mobile_nodes_are_spread_over_the_window() {
        let t0 = Instant::now();
        let mut u = UnsolicitedAdverts::new(0);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..10_000u16 {
            // xorshift: any spread source will do.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let hoa = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, i);
            u.prefixes_changed(t0, hoa, UMIP, secs(3600), x);
        }
        assert_eq!(u.len(), 10_000);
        let in_first_minute = u.take_due(t0 + secs(660)).len();
        assert!(in_first_minute < 1_000, "{in_first_minute} in 60 s");
    }
}
