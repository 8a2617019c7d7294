//! Per-key rate limits for what a remote peer can make a daemon do: log a line,
//! create state, send a packet.
//!
//! A [`RateLimit`] admits at most `burst` events per key in each `interval`
//! (a fixed window that starts at the key's first event) and counts the rest,
//! so a log line can say "and 4,711 more" instead of printing them. The number
//! of keys it remembers is bounded too: a spoofing sender choosing a new key for
//! every packet fills the table, and then every key shares one overflow window,
//! so memory stays bounded and the total admitted per interval is still capped.
//!
//! Time is passed in (`now`), so the cores' simulated clocks drive it in tests.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// One key's window.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    admitted: u32,
    suppressed: u64,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            start: now,
            admitted: 0,
            suppressed: 0,
        }
    }
}

/// What [`RateLimit::check`] decided for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead. `suppressed` events of this key were refused since the last
    /// admitted one (a log line should mention them).
    Yes { suppressed: u64 },
    /// Refused (and counted).
    No,
}

impl Admit {
    /// True for [`Admit::Yes`].
    pub fn is_yes(self) -> bool {
        matches!(self, Admit::Yes { .. })
    }
}

/// At most `burst` events per key per `interval`, for at most `max_keys` keys.
#[derive(Debug)]
pub struct RateLimit<K> {
    interval: Duration,
    burst: u32,
    max_keys: usize,
    windows: HashMap<K, Window>,
    /// Shared by the keys that found the table full.
    overflow: Option<Window>,
    refused: u64,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// A limit of `burst` events per key per `interval`, remembering at most
    /// `max_keys` keys (at least one).
    pub fn new(interval: Duration, burst: u32, max_keys: usize) -> RateLimit<K> {
        RateLimit {
            interval,
            burst,
            max_keys: max_keys.max(1),
            windows: HashMap::new(),
            overflow: None,
            refused: 0,
        }
    }

    /// Decides one event of `key` at `now`.
    pub fn check(&mut self, now: Instant, key: &K) -> Admit {
        let (interval, burst) = (self.interval, self.burst);
        if !self.windows.contains_key(key) && self.windows.len() >= self.max_keys {
            self.windows
                .retain(|_, w| now.saturating_duration_since(w.start) < interval);
        }
        let window = if let Some(w) = self.windows.get_mut(key) {
            w
        } else if self.windows.len() < self.max_keys {
            self.windows.entry(key.clone()).or_insert(Window::new(now))
        } else {
            self.overflow.get_or_insert(Window::new(now))
        };
        let admit = decide(window, now, interval, burst);
        if admit == Admit::No {
            self.refused += 1;
        }
        admit
    }

    /// Events refused since this limit was made.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Keys remembered now (bounded by `max_keys`).
    pub fn keys(&self) -> usize {
        self.windows.len()
    }
}

fn decide(w: &mut Window, now: Instant, interval: Duration, burst: u32) -> Admit {
    if now.saturating_duration_since(w.start) >= interval {
        w.start = now;
        w.admitted = 0;
    }
    if w.admitted < burst {
        w.admitted += 1;
        let suppressed = std::mem::take(&mut w.suppressed);
        Admit::Yes { suppressed }
    } else {
        w.suppressed += 1;
        Admit::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn admits_a_burst_per_interval_then_reports_what_it_refused() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(60 * SEC, 2, 16);
        assert_eq!(rl.check(t0, &"a"), Admit::Yes { suppressed: 0 });
        assert_eq!(rl.check(t0, &"a"), Admit::Yes { suppressed: 0 });
        for _ in 0..5 {
            assert_eq!(rl.check(t0 + SEC, &"a"), Admit::No);
        }
        // Another key has its own window.
        assert!(rl.check(t0 + SEC, &"b").is_yes());
        assert_eq!(rl.check(t0 + 60 * SEC, &"a"), Admit::Yes { suppressed: 5 });
        assert_eq!(rl.refused(), 5);
    }

    #[test]
    fn a_new_key_per_event_cannot_grow_the_table_or_the_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(60 * SEC, 1, 100);
        let admitted = (0..100_000u32).filter(|k| rl.check(t0, k).is_yes()).count();
        // 100 keys with a window each, then one shared overflow window.
        assert_eq!(admitted, 101);
        assert_eq!(rl.keys(), 100);
        // Once their windows are over, old keys make room for new ones.
        assert!(rl.check(t0 + 61 * SEC, &1_000_000).is_yes());
        assert_eq!(rl.keys(), 1);
    }
}
