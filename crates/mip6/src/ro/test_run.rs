//! One Home or Care-of Test run of the mobile node (RFC 6275 §11.6.1,
//! §11.6.2): init retransmission with back-off, and the token of the reply.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{MAX_TOKEN_LIFETIME, MN_TEST_INIT_DELAY};
use crate::rr::Token;

/// Maximal retransmission interval of HoTI/CoTI (RFC 6275 §12 gives
/// MAX_BINDACK_TIMEOUT for it; UMIP doubles from 5 s up to 32 s,
/// docs/protocol-notes.md).
pub const MAX_TEST_INIT_TIMEOUT: Duration = Duration::from_secs(32);

/// One of the mobile node's two tests towards a correspondent (RFC 6275
/// §11.6.1, §11.6.2): the cookie of the last init, the retransmission
/// timer (5 s doubling to 32 s), and the token once the reply came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The cookie of the init in flight (a new one per run).
    pub cookie: [u8; 8],
    /// The address tested (home or care-of).
    pub address: Ipv6Addr,
    /// When to send the init again, while no reply came.
    pub retransmit_at: Option<Instant>,
    backoff: Duration,
    /// Inits sent in this run.
    pub sent: u32,
    /// The reply: nonce index, token and when it came.
    pub reply: Option<(u16, Token, Instant)>,
}

impl TestRun {
    /// A run that sends its first init now.
    pub fn start(now: Instant, address: Ipv6Addr, cookie: [u8; 8]) -> TestRun {
        TestRun {
            cookie,
            address,
            retransmit_at: Some(now + MN_TEST_INIT_DELAY),
            backoff: MN_TEST_INIT_DELAY,
            sent: 1,
            reply: None,
        }
    }

    /// A run whose first init goes at `at` (by [`TestRun::due`]), then on
    /// the usual back-off.
    pub fn start_at(at: Instant, address: Ipv6Addr, cookie: [u8; 8]) -> TestRun {
        TestRun {
            cookie,
            address,
            retransmit_at: Some(at),
            backoff: MN_TEST_INIT_DELAY / 2,
            sent: 0,
            reply: None,
        }
    }

    /// True if the init is due again; arms the next (doubled) timeout.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.retransmit_at {
            Some(t) if now >= t => {
                self.backoff = (self.backoff * 2).min(MAX_TEST_INIT_TIMEOUT);
                self.retransmit_at = Some(now + self.backoff);
                self.sent += 1;
                true
            }
            _ => false,
        }
    }

    /// Takes a reply if its cookie matches; `false` (ignored) otherwise.
    pub fn handle_reply(
        &mut self,
        now: Instant,
        cookie: &[u8; 8],
        index: u16,
        token: Token,
    ) -> bool {
        if *cookie != self.cookie || self.reply.is_some() {
            return false;
        }
        self.reply = Some((index, token, now));
        self.retransmit_at = None;
        true
    }

    /// The token while it is usable ([`MAX_TOKEN_LIFETIME`] since the reply).
    pub fn token(&self, now: Instant) -> Option<(u16, Token)> {
        let (i, t, at) = self.reply?;
        (now.saturating_duration_since(at) < MAX_TOKEN_LIFETIME).then_some((i, t))
    }
}
