//! Mobile prefix discovery on the mobile node (RFC 6275 §11.4.2–§11.4.3) as
//! UMIP does it (docs/protocol-notes.md#mobile-prefix-discovery):
//!
//! - the first Mobile Prefix Solicitation goes out at 90 % of min(home
//!   address valid lifetime, binding lifetime), or at once after a BA with
//!   status 1;
//! - retransmission starts at `InitialSolicitTimer` and doubles while the
//!   delay is below 32 s (so 3, 6, 12, 24, 48, 48… s with the default), until
//!   an advertisement with the same identifier arrives;
//! - an advertisement with another identifier triggers a new solicitation;
//! - prefixes whose valid lifetime is below the preferred one are ignored.
//!
//! The home agent's answer is [`solicited_advert`]: the home link's prefixes
//! with their remaining lifetimes (RFC 6275 §10.6.2, §11.4.3).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{BaStatus, FIRST_MPS_PERCENT, INITIAL_SOLICIT_TIMER, MAX_BINDACK_TIMEOUT};
use crate::wire::ndisc::{MobilePrefixAdvert, MobilePrefixSolicit};
use crate::wire::ndopt::{NdOption, PrefixInfo};

/// A home prefix as the home agent advertises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertisedPrefix {
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// Its length.
    pub prefix_len: u8,
    /// Remaining valid lifetime.
    pub valid: Duration,
    /// Remaining preferred lifetime.
    pub preferred: Duration,
}

/// The Mobile Prefix Advertisement answering `solicitation`: one Prefix
/// Information option per prefix (on-link and autonomous, as the home link's
/// RAs carry them; RFC 6275 §6.8), lifetimes in whole seconds and the
/// preferred one never above the valid one; expired prefixes are left out.
pub fn solicited_advert(
    solicitation: &MobilePrefixSolicit,
    prefixes: &[AdvertisedPrefix],
) -> MobilePrefixAdvert {
    advert(solicitation.identifier, prefixes)
}

/// An advertisement of `prefixes` with `identifier`, as
/// [`solicited_advert`] (which echoes the solicitation's) or an unsolicited
/// one ([`crate::mpa_schedule`]) makes it.
pub fn advert(identifier: u16, prefixes: &[AdvertisedPrefix]) -> MobilePrefixAdvert {
    let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    MobilePrefixAdvert {
        identifier,
        flags: 0,
        options: prefixes
            .iter()
            .filter(|p| secs(p.valid) > 0)
            .map(|p| {
                NdOption::PrefixInfo(PrefixInfo {
                    prefix_len: p.prefix_len,
                    flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
                    valid_lifetime: secs(p.valid),
                    preferred_lifetime: secs(p.preferred).min(secs(p.valid)),
                    prefix: p.prefix,
                })
            })
            .collect(),
    }
}

/// What to do with an advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpaOutcome {
    /// It answers our solicitation: these prefixes (the valid ones) apply.
    Accepted(Vec<PrefixInfo>),
    /// Unknown identifier: send this solicitation now.
    Resolicit(MobilePrefixSolicit),
}

/// The mobile node's MPS/MPA exchange for one home registration.
#[derive(Debug, Clone)]
pub struct MpsClient {
    next_identifier: u16,
    initial_timeout: Duration,
    first_at: Option<Instant>,
    outstanding: Option<(u16, Instant, Duration)>,
}

impl MpsClient {
    /// A client with UMIP's default `InitialSolicitTimer` (3 s).
    pub fn new(first_identifier: u16) -> Self {
        Self::with_initial_timeout(first_identifier, INITIAL_SOLICIT_TIMER)
    }

    /// A client with a configured `InitialSolicitTimer`.
    pub fn with_initial_timeout(first_identifier: u16, initial_timeout: Duration) -> Self {
        MpsClient {
            next_identifier: first_identifier,
            initial_timeout,
            first_at: None,
            outstanding: None,
        }
    }

    /// Schedules the first solicitation after a successful home registration.
    pub fn schedule(
        &mut self,
        now: Instant,
        home_address_valid: Duration,
        binding_lifetime: Duration,
        status: BaStatus,
    ) {
        let delay = if status == BaStatus::PREFIX_DISCOVERY_NECESSARY {
            Duration::ZERO
        } else {
            home_address_valid.min(binding_lifetime) * FIRST_MPS_PERCENT / 100
        };
        self.first_at = Some(now + delay);
    }

    /// Stops everything (deregistration, `SendMobPfxSols` off).
    pub fn cancel(&mut self) {
        self.first_at = None;
        self.outstanding = None;
    }

    /// When to call [`Self::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.first_at, self.outstanding.map(|o| o.1)]
            .into_iter()
            .flatten()
            .min()
    }

    fn solicit(&mut self, now: Instant, timeout: Duration) -> MobilePrefixSolicit {
        let identifier = self.next_identifier;
        self.next_identifier = identifier.wrapping_add(1);
        self.first_at = None;
        self.outstanding = Some((identifier, now + timeout, timeout));
        MobilePrefixSolicit { identifier }
    }

    /// The solicitation to send (from the home address to the HA) if one is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<MobilePrefixSolicit> {
        if let Some((_, at, timeout)) = self.outstanding {
            if at <= now {
                let next = if timeout < MAX_BINDACK_TIMEOUT {
                    timeout * 2
                } else {
                    timeout
                };
                return Some(self.solicit(now, next));
            }
        }
        match self.first_at {
            Some(at) if at <= now => Some(self.solicit(now, self.initial_timeout)),
            _ => None,
        }
    }

    /// Handles an advertisement from the home agent.
    pub fn on_advert(&mut self, now: Instant, mpa: &MobilePrefixAdvert) -> MpaOutcome {
        match self.outstanding {
            Some((id, _, _)) if id == mpa.identifier => {
                self.outstanding = None;
                MpaOutcome::Accepted(
                    mpa.options
                        .iter()
                        .filter_map(|o| match o {
                            NdOption::PrefixInfo(p) if p.valid_lifetime >= p.preferred_lifetime => {
                                Some(*p)
                            }
                            _ => None,
                        })
                        .collect(),
                )
            }
            _ => MpaOutcome::Resolicit(self.solicit(now, self.initial_timeout)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn pio(valid: u32, preferred: u32) -> NdOption {
        NdOption::PrefixInfo(PrefixInfo {
            prefix_len: 64,
            flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
            valid_lifetime: valid,
            preferred_lifetime: preferred,
            prefix: "2001:db8:1::".parse().unwrap(),
        })
    }

    #[test]
    fn first_solicitation_at_90_percent_then_back_off() {
        let t0 = Instant::now();
        let mut c = MpsClient::new(5);
        c.schedule(t0, secs(1000), secs(600), BaStatus::ACCEPTED);
        assert_eq!(c.poll_timeout(), Some(t0 + secs(540)));
        assert_eq!(c.handle_timeout(t0 + secs(539)), None);
        let mut now = t0 + secs(540);
        assert_eq!(
            c.handle_timeout(now),
            Some(MobilePrefixSolicit { identifier: 5 })
        );
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = c.poll_timeout().unwrap();
            gaps.push((next - now).as_secs());
            now = next;
            assert!(c.handle_timeout(now).is_some());
        }
        assert_eq!(gaps, [3, 6, 12, 24, 48, 48]);
    }

    #[test]
    fn status_1_solicits_at_once_and_advert_must_match() {
        let t0 = Instant::now();
        let mut c = MpsClient::new(1);
        c.schedule(
            t0,
            secs(1000),
            secs(600),
            BaStatus::PREFIX_DISCOVERY_NECESSARY,
        );
        assert_eq!(
            c.handle_timeout(t0),
            Some(MobilePrefixSolicit { identifier: 1 })
        );
        let mut mpa = MobilePrefixAdvert {
            identifier: 9,
            flags: 0,
            options: vec![pio(3600, 1800), pio(100, 200)],
        };
        assert_eq!(
            c.on_advert(t0, &mpa),
            MpaOutcome::Resolicit(MobilePrefixSolicit { identifier: 2 })
        );
        mpa.identifier = 2;
        let MpaOutcome::Accepted(p) = c.on_advert(t0, &mpa) else {
            panic!()
        };
        assert_eq!(p.len(), 1, "valid < preferred is ignored");
        assert_eq!(c.poll_timeout(), None);
        c.schedule(t0, secs(10), secs(600), BaStatus::ACCEPTED);
        c.cancel();
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn the_home_agent_answers_with_remaining_lifetimes() {
        let p = |valid, preferred| AdvertisedPrefix {
            prefix: "2001:db8:1::".parse().unwrap(),
            prefix_len: 64,
            valid: Duration::from_millis(valid),
            preferred: Duration::from_millis(preferred),
        };
        let mpa = solicited_advert(
            &MobilePrefixSolicit { identifier: 77 },
            &[p(300_900, 120_100), p(500, 0), p(10_000, 20_000)],
        );
        assert_eq!(mpa.identifier, 77);
        assert_eq!(mpa.options, [pio(300, 120), pio(10, 10)]);
        // What the mobile node accepts from it.
        let mut c = MpsClient::new(77);
        let t0 = Instant::now();
        c.schedule(t0, secs(10), secs(10), BaStatus::PREFIX_DISCOVERY_NECESSARY);
        assert!(c.handle_timeout(t0).is_some());
        let MpaOutcome::Accepted(accepted) = c.on_advert(t0, &mpa) else {
            panic!("not accepted")
        };
        assert_eq!(accepted.len(), 2);
    }
}
