//! Detecting a gateway that lost its mappings from the epoch time in its
//! answers (RFC 6887 §8.5, RFC 6886 §3.6).

use std::time::Instant;

use crate::Protocol;

/// The last epoch seen from the gateway and when, per protocol.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EpochTracker {
    last: Option<(Protocol, u32, Instant)>,
}

impl EpochTracker {
    /// Records `epoch`, received at `now`, and says whether the gateway kept
    /// its state since the previous answer. The first answer, or the first
    /// after a change of protocol, has nothing to compare with and passes.
    pub(crate) fn check(&mut self, protocol: Protocol, now: Instant, epoch: u32) -> bool {
        let prev = self.last.replace((protocol, epoch, now));
        let Some((p, prev_epoch, prev_at)) = prev else {
            return true;
        };
        if p != protocol {
            return true;
        }
        // A driver may hand us an older `now` (answers queued before a
        // timeout it processed first); that is zero elapsed time, not a jump.
        let elapsed_ms =
            u64::try_from(now.saturating_duration_since(prev_at).as_millis()).unwrap_or(u64::MAX);
        let prev = u64::from(prev_epoch);
        let curr = u64::from(epoch);
        match protocol {
            Protocol::Pcp => pcp_continuous(prev, curr, elapsed_ms / 1000),
            Protocol::NatPmp => natpmp_continuous(prev, curr, elapsed_ms),
        }
    }
}

/// RFC 6887 §8.5: the epoch may lag by one second (rounding), and the two
/// clocks may drift by 1/16 plus 2 s of slack either way; a server clock
/// running ahead is as much a sign of a restart as one running back.
fn pcp_continuous(prev: u64, curr: u64, client_delta: u64) -> bool {
    if curr + 1 < prev {
        return false;
    }
    let server_delta = curr.saturating_sub(prev);
    let server_fast = client_delta + 2 < server_delta - server_delta / 16;
    let client_fast = server_delta + 2 < client_delta - client_delta / 16;
    !server_fast && !client_fast
}

/// RFC 6886 §3.6: expect at least the previous value plus 7/8 of the local
/// elapsed time; more than 2 s short of that means the table was lost.
fn natpmp_continuous(prev: u64, curr: u64, elapsed_ms: u64) -> bool {
    let expected_ms = prev.saturating_mul(1000).saturating_add(elapsed_ms / 8 * 7);
    curr.saturating_mul(1000).saturating_add(2000) >= expected_ms
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn pcp_rules() {
        let t0 = Instant::now();
        let mut e = EpochTracker::default();
        assert!(e.check(Protocol::Pcp, t0, 1000));
        assert!(e.check(Protocol::Pcp, t0 + Duration::from_secs(100), 1100));
        // One second behind is rounding.
        assert!(e.check(Protocol::Pcp, t0 + Duration::from_secs(100), 1099));
        // Back to zero: a restart.
        assert!(!e.check(Protocol::Pcp, t0 + Duration::from_secs(200), 5));
        // Too slow: 3600 s here, 60 s there.
        assert!(!e.check(Protocol::Pcp, t0 + Duration::from_secs(3800), 65));
        // Too fast: 10 s here, 3600 s there.
        assert!(!e.check(Protocol::Pcp, t0 + Duration::from_secs(3810), 3665));
        // Drift within 1/16.
        assert!(e.check(Protocol::Pcp, t0 + Duration::from_secs(5410), 3665 + 1560));
    }

    #[test]
    fn natpmp_rules() {
        let t0 = Instant::now();
        let mut e = EpochTracker::default();
        assert!(e.check(Protocol::NatPmp, t0, 500));
        // 7/8 of 800 s is 700 s; 2 s short of 1200 is still fine.
        assert!(e.check(Protocol::NatPmp, t0 + Duration::from_secs(800), 1198));
        assert!(!e.check(Protocol::NatPmp, t0 + Duration::from_secs(1600), 1890));
        // A clock running fast is not a loss for NAT-PMP.
        assert!(e.check(Protocol::NatPmp, t0 + Duration::from_secs(1601), 99_999));
    }

    #[test]
    fn protocol_change_restarts() {
        let t0 = Instant::now();
        let mut e = EpochTracker::default();
        assert!(e.check(Protocol::Pcp, t0, 1000));
        assert!(e.check(Protocol::NatPmp, t0, 1));
    }
}
