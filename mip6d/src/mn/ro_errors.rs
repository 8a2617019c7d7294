//! Route optimisation and the errors that say a peer has no Mobile IPv6
//! (RFC 6275 §11.3.6), decided without I/O:
//!
//! - a Binding Error with status 2 (unrecognised MH type) from a
//!   correspondent, or an ICMPv6 Parameter Problem quoting one of our
//!   packets to it with the pointer at the Mobility Header's protocol number
//!   (code 1) or at the Home Address option (code 2): its binding update
//!   list entry and kernel state go, and no return routability is tried
//!   with it for 420 s (`mip6::ro::CN_RETRY_AFTER`). A code 2 from a
//!   correspondent that took part in return routability is logged as UMIP
//!   logs it ("CN participated in RO but can't handle HAO").
//! - a Parameter Problem from the home agent is the home registration's
//!   (`super::registration::Registration::handle_param_problem`).
//!
//! The quoted packet must be one of ours to that peer (from the home
//! address, or with it in the Home Address option) and the error must come
//! from that peer, so a third party cannot end route optimisation with a
//! forged error about a packet it never saw.

use std::net::Ipv6Addr;
use std::time::Instant;

use mip6::ro::RoPhase;
use mip6::wire::param_problem::{Culprit, ParamProblem};
use tracing::{error, info};

use super::ro::{RoAction, RouteOptimisation};

impl RouteOptimisation {
    /// An ICMPv6 Parameter Problem from `src`; `None` when it is not about
    /// a correspondent route optimisation knows.
    pub(super) fn handle_param_problem(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        src: Ipv6Addr,
        problem: &ParamProblem,
    ) -> Option<Vec<RoAction>> {
        let cn = problem.destination;
        if src != cn || !problem.involves(hoa, cn) {
            return None;
        }
        let entry = self.peers.get(&cn)?;
        let what = match problem.culprit {
            Culprit::MobilityHeader => "ICMPv6 Parameter Problem on the Mobility Header",
            Culprit::HomeAddressOption => {
                if entry.took_part() {
                    error!("CN participated in RO but can't handle HAO ({cn})");
                }
                "ICMPv6 Parameter Problem on the Home Address option"
            }
        };
        Some(self.not_supported(now, hoa, cn, what))
    }

    /// `cn` has no Mobile IPv6 (`why` says how we know): its state goes and
    /// it is left alone for 420 s.
    pub(super) fn not_supported(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        cn: Ipv6Addr,
        why: &str,
    ) -> Vec<RoAction> {
        let Some(e) = self.peers.get_mut(&cn) else {
            return Vec::new();
        };
        // Already left alone (the HoTI's and the CoTI's errors both come).
        if matches!(e.phase, RoPhase::Failed { until } if until > now) {
            return Vec::new();
        }
        info!(
            "route optimisation: {cn} does not support Mobile IPv6 ({why}): \
             none with it for {} s",
            mip6::ro::CN_RETRY_AFTER.as_secs()
        );
        let actions = e.handle_not_supported(now);
        let mut out = Vec::new();
        self.translate(hoa, cn, actions, &mut out);
        out
    }
}
