//! The mobile node's route optimisation with one correspondent (RFC 6275
//! §11.6–§11.7.2; docs/protocol-notes.md), sans-IO: the Home and
//! Care-of Test runs ([`TestRun`], 5 s doubling to 32 s), the BU signed with
//! their tokens ([`crate::rr`]), the BA, handover, refresh, Binding Refresh
//! Requests and Binding Errors, and the deregistration back home, as
//! [`RoAction`]s for the driver ([`RoEntry`]).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::MN_TEST_INIT_DELAY;
use crate::rr::{binding_key, sign, verify, Kbm};
use crate::wire::mh::{
    lifetime_units, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr, TestReply,
};
use crate::wire::options::{MobilityOption, AUTHENTICATOR_LEN};

mod test_run;
pub use test_run::{TestRun, MAX_TEST_INIT_TIMEOUT};

/// What the mobile node's route optimisation with one correspondent is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoPhase {
    /// Home and care-of tests running.
    Testing,
    /// BU sent with the A flag; waiting for the BA until the instant given.
    WaitingAck {
        /// Sequence number sent.
        sequence: u16,
        /// Give up on this BU then (and test again).
        until: Instant,
        /// Key to check the BA with.
        kbm: Kbm,
    },
    /// The correspondent has the binding.
    Bound {
        /// When return routability runs again (once).
        refresh_at: Option<Instant>,
    },
    /// The correspondent did not answer or refused; nothing until then.
    Failed {
        /// When the entry may be tried again.
        until: Instant,
    },
}

/// Settings of the mobile node's route optimisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoConfig {
    /// Lifetime asked for (`MnMaxCnBindingLife`, at most 420 s).
    pub lifetime: Duration,
    /// Set the A flag (`UseCnBuAck`).
    pub ack: bool,
    /// Inits per test before giving up (`MnMaxCnConsecutiveResends`, or a
    /// default when that is 0).
    pub max_inits: u32,
}

/// What the driver does for a [`RoEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoAction {
    /// Send a Home Test Init (from the home address, through the tunnel).
    SendHomeTestInit([u8; 8]),
    /// Send a Care-of Test Init (from the care-of address, directly).
    SendCareOfTestInit([u8; 8]),
    /// Install the kernel state for `care_of_address` (HAO out, RH2 in), then
    /// send this signed BU from the home address.
    SendBindingUpdate {
        /// The BU's octets (checksum zero).
        message: Vec<u8>,
        /// Its sequence number.
        sequence: u16,
        /// The care-of address it registers.
        care_of_address: Ipv6Addr,
    },
    /// The binding is in place (lifetime granted).
    Bound(Duration),
    /// Remove the kernel state: traffic goes through the home agent again.
    RemoveState,
}

/// How long a non-answering or refusing correspondent is left alone
/// (docs/protocol-notes.md: "Non-MIPv6 or unreachable CN entry lifetime 420 s").
pub const CN_RETRY_AFTER: Duration = Duration::from_secs(420);
/// How long the mobile node waits for a BA from a correspondent.
pub const CN_BA_TIMEOUT: Duration = crate::consts::MAX_BINDACK_TIMEOUT;
/// Refresh share of a binding's lifetime (the tests run again then).
const REFRESH_PERCENT: u32 = 90;
/// How long after a BU a Binding Error with status 1 is taken as having
/// crossed it: the correspondent saw a packet with our Home Address option
/// before it processed the BU (the two come in on different sockets).
pub const BE_CROSSED_BU: Duration = Duration::from_secs(1);

/// The mobile node's route optimisation with one correspondent (RFC 6275
/// §11.6, §11.7.2): the two tests, the BU signed with their tokens, the BA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoEntry {
    /// The correspondent.
    pub cn: Ipv6Addr,
    /// Our home address.
    pub hoa: Ipv6Addr,
    /// Our care-of address.
    pub coa: Ipv6Addr,
    /// Phase.
    pub phase: RoPhase,
    /// When the correspondent's binding ends, while one exists.
    pub expires: Option<Instant>,
    home: Option<TestRun>,
    care_of: Option<TestRun>,
    sequence: u16,
    config: RoConfig,
    /// Back home: only the home test, then a BU with lifetime 0.
    deregistering: bool,
    /// When the last BU went out.
    bu_sent_at: Option<Instant>,
    /// Tests restarted by a BA (135–138) since the last binding: when the
    /// last such run started and how long the next one waits after it.
    ba_restart: Option<(Instant, Duration)>,
}

impl RoEntry {
    /// Starts both tests.
    pub fn start(
        now: Instant,
        cn: Ipv6Addr,
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
        first_sequence: u16,
        cookies: ([u8; 8], [u8; 8]),
        config: RoConfig,
    ) -> (RoEntry, Vec<RoAction>) {
        let mut e = RoEntry {
            cn,
            hoa,
            coa,
            phase: RoPhase::Testing,
            expires: None,
            home: None,
            care_of: None,
            sequence: first_sequence.wrapping_sub(1),
            config,
            deregistering: false,
            bu_sent_at: None,
            ba_restart: None,
        };
        let actions = e.retest(now, true, true, cookies);
        (e, actions)
    }

    fn retest(
        &mut self,
        now: Instant,
        home: bool,
        care_of: bool,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        self.retest_from(now, now, home, care_of, cookies)
    }

    /// The tests again, their first inits at `start` (now, or later by the
    /// timer).
    fn retest_from(
        &mut self,
        now: Instant,
        start: Instant,
        home: bool,
        care_of: bool,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        let mut out = Vec::new();
        let run = |address, cookie| {
            if start > now {
                TestRun::start_at(start, address, cookie)
            } else {
                TestRun::start(now, address, cookie)
            }
        };
        if home || self.home.as_ref().and_then(|h| h.token(now)).is_none() {
            self.home = Some(run(self.hoa, cookies.0));
            if start <= now {
                out.push(RoAction::SendHomeTestInit(cookies.0));
            }
        }
        let care_of_needed = care_of || self.care_of.as_ref().and_then(|c| c.token(now)).is_none();
        if care_of_needed && !self.deregistering {
            self.care_of = Some(run(self.coa, cookies.1));
            if start <= now {
                out.push(RoAction::SendCareOfTestInit(cookies.1));
            }
        }
        if !matches!(self.phase, RoPhase::Bound { .. }) {
            self.phase = RoPhase::Testing;
        }
        out.extend(self.maybe_bu(now));
        out
    }

    /// When [`RoEntry::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tests = [&self.home, &self.care_of]
            .into_iter()
            .flatten()
            .filter_map(|t| t.retransmit_at);
        let phase = match &self.phase {
            RoPhase::Testing => None,
            RoPhase::WaitingAck { until, .. } => Some(*until),
            RoPhase::Bound { refresh_at } => *refresh_at,
            RoPhase::Failed { until } => Some(*until),
        };
        tests.chain(phase).chain(self.expires).min()
    }

    /// True once the entry has nothing more to do and may be forgotten.
    pub fn is_done(&self, now: Instant) -> bool {
        self.expires.is_none() && matches!(self.phase, RoPhase::Failed { until } if now >= until)
    }

    /// Retransmissions, BA timeout, refresh and expiry.
    pub fn handle_timeout(&mut self, now: Instant, cookies: ([u8; 8], [u8; 8])) -> Vec<RoAction> {
        let mut out = Vec::new();
        if self.expires.is_some_and(|e| now >= e) {
            self.expires = None;
            if matches!(self.phase, RoPhase::Bound { .. }) || self.deregistering {
                self.phase = RoPhase::Failed { until: now };
                self.home = None;
                self.care_of = None;
            }
            out.push(RoAction::RemoveState);
        }
        match self.phase.clone() {
            RoPhase::Bound {
                refresh_at: Some(r),
            } if now >= r => {
                self.phase = RoPhase::Bound { refresh_at: None };
                out.extend(self.retest(now, true, true, cookies));
                return out;
            }
            RoPhase::WaitingAck { until, .. } if now >= until => {
                self.phase = RoPhase::Testing;
                out.extend(self.retest(now, true, true, cookies));
                return out;
            }
            RoPhase::Failed { .. } => return out,
            _ => {}
        }
        let max = self.config.max_inits;
        let mut exhausted = false;
        for (test, home) in [(&mut self.home, true), (&mut self.care_of, false)] {
            let Some(t) = test.as_mut() else { continue };
            if t.due(now) {
                exhausted |= t.sent > max;
                out.push(if home {
                    RoAction::SendHomeTestInit(t.cookie)
                } else {
                    RoAction::SendCareOfTestInit(t.cookie)
                });
            }
        }
        if exhausted {
            self.home = None;
            self.care_of = None;
            self.phase = RoPhase::Failed {
                until: now + CN_RETRY_AFTER,
            };
            // (A binding still in place stays until it expires.)
            return Vec::new();
        }
        out
    }

    /// A Home Test (`home`) or Care-of Test from the correspondent.
    pub fn handle_test_reply(
        &mut self,
        now: Instant,
        home: bool,
        reply: &TestReply,
    ) -> Vec<RoAction> {
        let test = if home {
            &mut self.home
        } else {
            &mut self.care_of
        };
        let taken = test.as_mut().is_some_and(|t| {
            t.handle_reply(now, &reply.cookie, reply.nonce_index, reply.keygen_token)
        });
        if taken {
            self.maybe_bu(now)
        } else {
            Vec::new()
        }
    }

    /// Both tokens in hand (the home one alone for a deregistration): the BU.
    fn maybe_bu(&mut self, now: Instant) -> Vec<RoAction> {
        let Some(h) = self.home.as_ref().and_then(|t| t.token(now)) else {
            return Vec::new();
        };
        let c = self.care_of.as_ref().and_then(|t| t.token(now));
        if c.is_none() && !self.deregistering {
            return Vec::new();
        }
        // RFC 6275 §5.2.5: a deregistration's key is the home token's hash.
        let kbm = binding_key(&h.1, c.as_ref().map(|c| &c.1));
        self.sequence = self.sequence.wrapping_add(1);
        let lifetime = if self.deregistering {
            Duration::ZERO
        } else {
            self.config
                .lifetime
                .min(crate::consts::MAX_RR_BINDING_LIFETIME)
        };
        let flags = if self.config.ack { BuFlags::ACK } else { 0 };
        let mut repr = MhRepr::new(MhMessage::BindingUpdate(BindingUpdate {
            sequence: self.sequence,
            flags: BuFlags(flags),
            lifetime_units: lifetime_units(lifetime.as_secs() as u32),
        }));
        repr.options = vec![
            MobilityOption::NonceIndices {
                home: h.0,
                care_of: c.map_or(0, |c| c.0),
            },
            MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]),
        ];
        let Ok(mut message) = repr.emit_without_checksum() else {
            return Vec::new();
        };
        if sign(&kbm, &self.coa, &self.cn, &mut message).is_err() {
            return Vec::new();
        }
        let granted = Duration::from_secs(
            u64::from(lifetime_units(lifetime.as_secs() as u32))
                * u64::from(crate::consts::LIFETIME_UNIT_SECS),
        );
        self.bu_sent_at = Some(now);
        let mut out = vec![RoAction::SendBindingUpdate {
            message,
            sequence: self.sequence,
            care_of_address: self.coa,
        }];
        if self.config.ack {
            self.phase = RoPhase::WaitingAck {
                sequence: self.sequence,
                until: now + CN_BA_TIMEOUT,
                kbm,
            };
        } else if self.deregistering {
            self.finished(now);
        } else {
            out.extend(self.bound(now, granted));
        }
        out
    }

    /// Nothing left at the correspondent: the entry may go.
    fn finished(&mut self, now: Instant) {
        self.expires = None;
        self.home = None;
        self.care_of = None;
        self.phase = RoPhase::Failed { until: now };
    }

    fn bound(&mut self, now: Instant, lifetime: Duration) -> Vec<RoAction> {
        self.ba_restart = None;
        self.expires = Some(now + lifetime);
        self.phase = RoPhase::Bound {
            refresh_at: Some(now + lifetime * REFRESH_PERCENT / 100),
        };
        vec![RoAction::Bound(lifetime)]
    }

    /// A BA from the correspondent (`mh` as received, for its authenticator).
    pub fn handle_binding_ack(
        &mut self,
        now: Instant,
        ba: &BindingAck,
        mh: &[u8],
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        let RoPhase::WaitingAck { sequence, kbm, .. } = self.phase.clone() else {
            return Vec::new();
        };
        if ba.sequence != sequence && ba.status != crate::consts::BaStatus::SEQUENCE_OUT_OF_WINDOW {
            return Vec::new();
        }
        match ba.status.0 {
            0..=127 if verify(&kbm, &self.coa, &self.cn, mh) && self.deregistering => {
                self.finished(now);
                Vec::new()
            }
            0..=127 if verify(&kbm, &self.coa, &self.cn, mh) => {
                self.bound(now, Duration::from_secs(u64::from(ba.lifetime_secs())))
            }
            0..=127 => Vec::new(),
            135 if verify(&kbm, &self.coa, &self.cn, mh) => {
                self.sequence = ba.sequence;
                self.phase = RoPhase::Testing;
                self.restart_after_ba(now, true, true, cookies)
            }
            136 => self.restart_after_ba(now, true, false, cookies),
            137 => self.restart_after_ba(now, false, true, cookies),
            138 => self.restart_after_ba(now, true, true, cookies),
            _ => {
                self.phase = RoPhase::Failed {
                    until: now + CN_RETRY_AFTER,
                };
                self.expires = None;
                vec![RoAction::RemoveState]
            }
        }
    }

    /// The tests again after a BA asked for it. 136–138 cannot carry an
    /// authenticator (the correspondent has no Kbm for expired nonces), so
    /// anyone who sees our BU can forge one: the first restart since the
    /// last binding is immediate, each further one waits for the test
    /// back-off ([`MN_TEST_INIT_DELAY`] doubling to [`MAX_TEST_INIT_TIMEOUT`])
    /// after the previous, so forged BAs cannot drive a test-and-BU loop at
    /// the round-trip rate.
    fn restart_after_ba(
        &mut self,
        now: Instant,
        home: bool,
        care_of: bool,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        let (start, wait) = match self.ba_restart {
            None => (now, MN_TEST_INIT_DELAY),
            Some((last, wait)) => (
                (last + wait).max(now),
                (wait * 2).min(MAX_TEST_INIT_TIMEOUT),
            ),
        };
        self.ba_restart = Some((start, wait));
        self.retest_from(now, start, home, care_of, cookies)
    }

    /// True when a Binding Error with status 1 now has crossed our BU: one
    /// is awaiting its BA, or went out less than [`BE_CROSSED_BU`] ago. The
    /// correspondent's answer to that BU settles the binding, so the error
    /// is ignored (RFC 6275 §11.3.6 lets the mobile node ignore it when it
    /// knows the communication progresses).
    pub fn binding_error_crossed_bu(&self, now: Instant) -> bool {
        matches!(self.phase, RoPhase::WaitingAck { .. })
            || self
                .bu_sent_at
                .is_some_and(|t| now.saturating_duration_since(t) < BE_CROSSED_BU)
    }

    /// A Binding Error with status 1 from the correspondent (it has no
    /// binding for our Home Address option, e.g. after a restart): the
    /// state goes and the entry ends; the next packet triggers a new run.
    /// One that crossed our BU ([`RoEntry::binding_error_crossed_bu`]) is
    /// ignored.
    pub fn handle_binding_error(&mut self, now: Instant) -> Vec<RoAction> {
        if self.binding_error_crossed_bu(now) {
            return Vec::new();
        }
        self.finished(now);
        vec![RoAction::RemoveState]
    }

    /// The correspondent does not support Mobile IPv6 (RFC 6275 §11.3.6: a
    /// Binding Error with status 2, or an ICMPv6 Parameter Problem naming
    /// the Mobility Header or the Home Address option): its state goes and
    /// no route optimisation is tried with it for [`CN_RETRY_AFTER`].
    pub fn handle_not_supported(&mut self, now: Instant) -> Vec<RoAction> {
        self.expires = None;
        self.home = None;
        self.care_of = None;
        self.phase = RoPhase::Failed {
            until: now + CN_RETRY_AFTER,
        };
        vec![RoAction::RemoveState]
    }

    /// True once a BU went to the correspondent: it took part in return
    /// routability.
    pub fn took_part(&self) -> bool {
        self.bu_sent_at.is_some()
    }

    /// A Binding Refresh Request from the correspondent: both tests again
    /// if the binding is in place and no refresh runs yet (the driver asks
    /// only for a binding in use, RFC 6275 §11.7.4).
    pub fn handle_refresh_request(
        &mut self,
        now: Instant,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        match self.phase {
            RoPhase::Bound {
                refresh_at: Some(_),
            } => {
                self.phase = RoPhase::Bound { refresh_at: None };
                self.retest(now, true, true, cookies)
            }
            _ => Vec::new(),
        }
    }

    /// True when a bound entry's refresh is due; the driver then calls
    /// [`RoEntry::skip_refresh`] if the binding was not used lately (UMIP
    /// refreshes only bindings in use), before [`RoEntry::handle_timeout`].
    pub fn refresh_due(&self, now: Instant) -> bool {
        matches!(self.phase, RoPhase::Bound { refresh_at: Some(r) } if now >= r)
    }

    /// No refresh this time: the binding is left to expire.
    pub fn skip_refresh(&mut self) {
        if let RoPhase::Bound { refresh_at } = &mut self.phase {
            *refresh_at = None;
        }
    }

    /// Back on the home link (RFC 6275 §11.5.4): if the correspondent has
    /// a binding, the home test from the home address and a BU with lifetime
    /// 0 and care-of = home address, signed with the home token alone. With
    /// `unacknowledged_too`, a BU still awaiting its BA counts as a binding
    /// (the correspondent may hold it); without, such an entry just ends
    /// (`MnFlushAllAtHome`).
    pub fn deregister(
        &mut self,
        now: Instant,
        cookie: [u8; 8],
        unacknowledged_too: bool,
    ) -> Vec<RoAction> {
        let awaiting_ba = matches!(self.phase, RoPhase::WaitingAck { .. });
        if self.expires.is_none() && !(unacknowledged_too && awaiting_ba) {
            self.finished(now);
            return Vec::new();
        }
        self.deregistering = true;
        self.coa = self.hoa;
        self.care_of = None;
        self.home = Some(TestRun::start(now, self.hoa, cookie));
        self.phase = RoPhase::Testing;
        vec![RoAction::SendHomeTestInit(cookie)]
    }

    /// A new care-of address: the care-of test again (the home token is
    /// kept while valid), then a new BU.
    pub fn handover(
        &mut self,
        now: Instant,
        coa: Ipv6Addr,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        self.coa = coa;
        if matches!(self.phase, RoPhase::Failed { .. }) || self.deregistering {
            return Vec::new();
        }
        let home = self.home.as_ref().and_then(|t| t.token(now)).is_none();
        self.retest(now, home, true, cookies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "ro_tests.rs"]
mod tests;
