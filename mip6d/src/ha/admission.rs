//! What one remote source may make the home agent do per minute: create new
//! bindings, and write log lines about what it sent (`docs/compat.md`, row
//! "Home agent admission"). Both are [`daemon::ratelimit::RateLimit`]s in
//! simulated time (`now` passed in); the driver only asks.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use daemon::ratelimit::{Admit, RateLimit};
use mip6::bcache::{DropReason, HomeBuVerdict};
use mip6::consts::BaStatus;

/// The window of both limits.
pub(super) const INTERVAL: Duration = Duration::from_secs(60);

/// New bindings one source (the BU's IPv6 source as sent: the care-of
/// address, or the home address at home) may create per [`INTERVAL`]. A
/// mobile node needs one per registration; a few more cover returns home
/// and departures. Refreshes and moves of existing bindings are not counted.
pub(super) const NEW_BINDINGS_PER_SOURCE: u32 = 8;

/// Sources whose log lines are remembered separately; beyond them (a
/// spoofing flood) all share one window, so the log stays bounded.
const LOG_KEYS: usize = 4096;

/// Limits new bindings per source: past [`NEW_BINDINGS_PER_SOURCE`] the BU is
/// refused with 130 (insufficient resources) rather than dropped, so a
/// legitimate mobile node behind a busy source learns why and backs off
/// (RFC 6275 §11.7.1) instead of retransmitting blindly.
#[derive(Debug)]
pub(super) struct NewBindingLimit(RateLimit<Ipv6Addr>);

impl NewBindingLimit {
    /// Remembers up to `max_keys` sources (the binding cap: that many
    /// mobile nodes registering at once from distinct care-of addresses,
    /// e.g. after a restart, each get their own window). Beyond that all
    /// new sources share one window; the cap bounds the total anyway.
    pub(super) fn new(max_keys: usize) -> NewBindingLimit {
        NewBindingLimit(RateLimit::new(INTERVAL, NEW_BINDINGS_PER_SOURCE, max_keys))
    }

    /// Passes `verdict` through, unless it creates a binding and `source`
    /// has created its share this interval: then 130.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        source: Ipv6Addr,
        verdict: HomeBuVerdict,
    ) -> HomeBuVerdict {
        match verdict {
            HomeBuVerdict::Accept(a) if a.needs_dad => {
                if self.0.check(now, &source).is_yes() {
                    HomeBuVerdict::Accept(a)
                } else {
                    HomeBuVerdict::Reject {
                        status: BaStatus::INSUFFICIENT_RESOURCES,
                        sequence: a.sequence,
                    }
                }
            }
            v => v,
        }
    }

    /// New bindings refused so far.
    #[cfg(test)]
    pub(super) fn refused(&self) -> u64 {
        self.0.refused()
    }
}

/// Mobile Prefix Advertisements one home address may draw per [`INTERVAL`]
/// by soliciting. A mobile node solicits once per home prefix lifetime or
/// binding, and again after status 1 or an unsolicited advertisement; a
/// stream of solicitations spoofed from a bound home address must not make
/// the home agent send one advertisement each through the tunnel.
pub(super) const MPAS_PER_HOME_ADDRESS: u32 = 5;

/// Limits solicited advertisements per home address.
#[derive(Debug)]
pub(super) struct MpaLimit(RateLimit<Ipv6Addr>);

impl MpaLimit {
    /// Remembers up to `max_keys` home addresses (the binding cap).
    pub(super) fn new(max_keys: usize) -> MpaLimit {
        MpaLimit(RateLimit::new(INTERVAL, MPAS_PER_HOME_ADDRESS, max_keys))
    }

    /// True if `hoa` may be answered now.
    pub(super) fn admit(&mut self, now: Instant, hoa: Ipv6Addr) -> bool {
        self.0.check(now, &hoa).is_yes()
    }
}

/// What a log line is about: one line per (source, kind) per [`INTERVAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum LogKind {
    /// A BU refused with this status.
    Refused(u8),
    /// A BU dropped.
    Dropped(DropReason),
    /// A DHAAD request answered.
    Dhaad,
}

/// Log lines about unauthenticated packets: the first per (source, kind) in
/// each [`INTERVAL`] is written, the rest counted and reported with the next.
#[derive(Debug)]
pub(super) struct LogLimit(RateLimit<(Ipv6Addr, LogKind)>);

impl Default for LogLimit {
    fn default() -> LogLimit {
        LogLimit(RateLimit::new(INTERVAL, 1, LOG_KEYS))
    }
}

impl LogLimit {
    /// `None`: stay silent. `Some(suffix)`: write the line, followed by
    /// `suffix` (", N more suppressed" when some were).
    pub(super) fn admit(
        &mut self,
        now: Instant,
        source: Ipv6Addr,
        kind: LogKind,
    ) -> Option<String> {
        match self.0.check(now, &(source, kind)) {
            Admit::Yes { suppressed: 0 } => Some(String::new()),
            Admit::Yes { suppressed } => Some(format!(
                " ({suppressed} more like it suppressed in the last {} s)",
                INTERVAL.as_secs()
            )),
            Admit::No => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use mip6::bcache::Accepted;
    use mip6::wire::mh::BaFlags;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn accepted(needs_dad: bool) -> HomeBuVerdict {
        HomeBuVerdict::Accept(Accepted {
            status: BaStatus::ACCEPTED,
            sequence: 7,
            care_of_address: a("2001:db8:a::1"),
            lifetime_units: 15,
            deregistration: false,
            needs_dad,
            mobile_network_prefixes: Vec::new(),
            ba_flags: BaFlags::default(),
        })
    }

    fn is_accept(v: &HomeBuVerdict) -> bool {
        matches!(v, HomeBuVerdict::Accept(_))
    }

    #[test]
    fn attack_burst_of_new_bindings_from_one_source_is_limited_with_130() {
        let t0 = Instant::now();
        let mut limit = NewBindingLimit::new(10_000);
        let attacker = a("2001:db8:a::666");
        let verdicts: Vec<_> = (0..1000)
            .map(|_| limit.admit(t0, attacker, accepted(true)))
            .collect();
        let passed = verdicts.iter().filter(|v| is_accept(v)).count();
        assert_eq!(passed, NEW_BINDINGS_PER_SOURCE as usize);
        assert!(verdicts[NEW_BINDINGS_PER_SOURCE as usize..]
            .iter()
            .all(|v| {
                *v == HomeBuVerdict::Reject {
                    status: BaStatus::INSUFFICIENT_RESOURCES,
                    sequence: 7,
                }
            }));
        assert_eq!(limit.refused(), 1000 - u64::from(NEW_BINDINGS_PER_SOURCE));
        // Another source is not affected; refreshes never count.
        assert!(is_accept(&limit.admit(
            t0,
            a("2001:db8:a::1"),
            accepted(true)
        )));
        assert!(is_accept(&limit.admit(t0, attacker, accepted(false))));
        // A minute later the source may register again.
        assert!(is_accept(&limit.admit(
            t0 + INTERVAL,
            attacker,
            accepted(true)
        )));
    }

    #[test]
    fn many_sources_each_get_a_window_up_to_the_key_table() {
        let t0 = Instant::now();
        let mut limit = NewBindingLimit::new(100);
        let src = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 1, i);
        for i in 0..100 {
            assert!(is_accept(&limit.admit(t0, src(i), accepted(true))));
        }
        // Past the table, new sources share one window of the same size.
        let shared = (100..1100)
            .filter(|&i| is_accept(&limit.admit(t0, src(i), accepted(true))))
            .count();
        assert_eq!(shared, NEW_BINDINGS_PER_SOURCE as usize);
    }

    #[test]
    fn attack_a_stream_of_solicitations_draws_a_bounded_number_of_advertisements() {
        let t0 = Instant::now();
        let mut limit = MpaLimit::new(16);
        let hoa = a("2001:db8:1::100");
        let answered = (0..1000).filter(|_| limit.admit(t0, hoa)).count();
        assert_eq!(answered, MPAS_PER_HOME_ADDRESS as usize);
        // Another mobile node is not starved by the flood.
        assert!(limit.admit(t0, a("2001:db8:1::101")));
        // The next interval answers again.
        assert!(limit.admit(t0 + INTERVAL, hoa));
    }

    #[test]
    fn one_log_line_per_source_and_kind_per_minute_then_a_count() {
        let t0 = Instant::now();
        let mut log = LogLimit::default();
        let src = a("2001:db8:a::666");
        let kind = LogKind::Refused(129);
        assert_eq!(log.admit(t0, src, kind), Some(String::new()));
        for _ in 0..41 {
            assert_eq!(log.admit(t0 + Duration::from_secs(1), src, kind), None);
        }
        // Another kind or source has its own line.
        assert!(log.admit(t0, src, LogKind::Refused(135)).is_some());
        assert!(log.admit(t0, a("2001:db8:a::1"), kind).is_some());
        let next = log.admit(t0 + INTERVAL, src, kind).unwrap();
        assert!(next.contains("41 more like it suppressed"), "{next}");
    }
}
