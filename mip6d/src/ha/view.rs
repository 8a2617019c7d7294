//! What `org.umip_rs.Mip6d1.HomeAgent` shows, and how often it is rebuilt.
//!
//! The view is the whole binding cache, so building and comparing it costs
//! O(bindings). During a burst of Binding Updates (ten thousand mobile nodes
//! refreshing) it is rebuilt at most every [`PUBLISH_EVERY`]; a lone change is
//! published at once. Only what changes the cache or the counters marks it
//! (BUs, DAD outcomes, expiry); Router Advertisements and the like do not.

use std::time::Duration;

use tokio::time::Instant;

use super::HomeAgent;

/// The shortest interval between two publications of the binding cache.
pub(super) const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Leading-edge throttle: the first change after a quiet spell is published
/// at once, later ones together at the end of the interval.
#[derive(Debug)]
pub(super) struct PublishThrottle {
    every: Duration,
    last: Option<Instant>,
    pending: bool,
}

impl Default for PublishThrottle {
    fn default() -> Self {
        Self::every(PUBLISH_EVERY)
    }
}

impl PublishThrottle {
    /// At most one publication every `every`.
    pub(super) fn every(every: Duration) -> Self {
        PublishThrottle {
            every,
            last: None,
            pending: false,
        }
    }

    /// Something the view shows may have changed.
    pub(super) fn changed(&mut self) {
        self.pending = true;
    }

    /// When the pending change is to be published, seen at `now` (`None`:
    /// nothing pending).
    pub(super) fn due(&self, now: Instant) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        Some(self.last.map_or(now, |l| (l + self.every).max(now)))
    }

    /// True (and the change counted as published) if it is time at `now`.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        match self.due(now) {
            Some(due) if due <= now => {
                self.pending = false;
                self.last = Some(now);
                true
            }
            _ => false,
        }
    }
}

impl HomeAgent {
    /// The binding cache and counters as the bus shows them.
    pub(super) fn bus_state(&self) -> bus::HomeAgentState {
        let mut binding_cache: Vec<bus::BindingInfo> = self
            .cache
            .iter()
            .map(|e| bus::BindingInfo {
                home_address: e.home_address,
                care_of_address: e.care_of_address,
                local_address: Some(e.home_agent),
                lifetime: e.lifetime,
                expires: e.expires_at,
                sequence: e.sequence,
                flags: e.flags.0,
                state: match e.state {
                    mip6::bcache::BcState::Dad => bus::BindingState::Dad,
                    mip6::bcache::BcState::Active => bus::BindingState::Registered,
                },
            })
            .collect();
        binding_cache.sort_unstable_by_key(|b| b.home_address);
        bus::HomeAgentState {
            binding_cache,
            counters: self.counters.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_change_goes_at_once_a_burst_once_per_interval() {
        let t0 = Instant::now();
        let mut t = PublishThrottle::default();
        assert_eq!(t.due(t0), None);
        t.changed();
        assert!(t.take(t0), "first change is published at once");
        t.changed();
        let t1 = t0 + Duration::from_millis(10);
        assert!(!t.take(t1), "second change waits");
        assert_eq!(t.due(t1), Some(t0 + PUBLISH_EVERY));
        assert!(t.take(t0 + PUBLISH_EVERY));
        assert_eq!(t.due(t0 + PUBLISH_EVERY), None);
        t.changed();
        let later = t0 + 10 * PUBLISH_EVERY;
        assert_eq!(t.due(later), Some(later), "after a quiet spell: at once");
    }
}
