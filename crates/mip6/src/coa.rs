//! Which interface and which care-of address the mobile node uses
//! (docs/protocol-notes.md#interface-and-care-of-address-choice, UMIP's
//! `mn_get_iface` and `mn_get_coa`, without the policy hooks, whose built-in
//! versions have no opinion), and the default-route metric of an interface
//! (docs/protocol-notes.md#rules-tables-and-metrics).

use std::net::Ipv6Addr;
use std::time::Duration;

/// Base of the MN's default-route metric.
pub const DEFAULT_ROUTE_METRIC_BASE: u32 = 1023;

/// An address that may serve as care-of address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoaCandidate {
    /// The address.
    pub address: Ipv6Addr,
    /// Remaining valid lifetime (`Duration::MAX` for a permanent address).
    pub valid: Duration,
    /// Remaining preferred lifetime (zero once deprecated).
    pub preferred: Duration,
}

/// A tracked mobile-node interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnInterface {
    /// Interface index.
    pub ifindex: u32,
    /// `MnIfPreference`: 1 is the most preferred, 10 the least, 0 never used.
    pub preference: u8,
    /// Marked `Tunnel enabled` (no router needed).
    pub tunnel: bool,
    /// A default router is known on it (physical interfaces).
    pub has_default_router: bool,
    /// Its CoAs, most recently seen first (UMIP inserts at the head).
    pub coas: Vec<CoaCandidate>,
}

/// The care-of address in use and its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryCoa {
    /// Interface index.
    pub ifindex: u32,
    /// Care-of address.
    pub address: Ipv6Addr,
}

fn usable(i: &MnInterface) -> bool {
    i.preference != 0
        && (i.tunnel || i.has_default_router)
        && i.coas.iter().any(|c| !c.valid.is_zero())
}

/// The interface to use: among usable ones (a CoA, and a tunnel or a default
/// router), the lowest preference number; ties go to `current_ifindex`, then
/// to the earlier interface in `ifaces` (discovery order).
pub fn select_interface(
    ifaces: &[MnInterface],
    current_ifindex: Option<u32>,
) -> Option<&MnInterface> {
    let mut best: Option<&MnInterface> = None;
    for i in ifaces.iter().filter(|i| usable(i)) {
        best = match best {
            None => Some(i),
            Some(b) if i.preference < b.preference => Some(i),
            Some(b) if i.preference == b.preference && Some(i.ifindex) == current_ifindex => {
                Some(i)
            }
            keep => keep,
        };
    }
    best
}

/// The CoA to use on `iface`: the current one if still valid and preferred,
/// else the first (most recent) preferred one, else the first still valid
/// (deprecated) one.
pub fn select_coa(iface: &MnInterface, current: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
    let preferred = |c: &&CoaCandidate| !c.valid.is_zero() && !c.preferred.is_zero();
    if let Some(cur) = current {
        if iface
            .coas
            .iter()
            .filter(preferred)
            .any(|c| c.address == cur)
        {
            return Some(cur);
        }
    }
    iface
        .coas
        .iter()
        .find(preferred)
        .or_else(|| iface.coas.iter().find(|c| !c.valid.is_zero()))
        .map(|c| c.address)
}

/// Interface, then CoA; `None` is UMIP's "invalidate" verdict (no BU is sent,
/// the existing binding ages).
pub fn select_primary_coa(
    ifaces: &[MnInterface],
    current: Option<PrimaryCoa>,
) -> Option<PrimaryCoa> {
    let iface = select_interface(ifaces, current.map(|c| c.ifindex))?;
    let current_here = current
        .filter(|c| c.ifindex == iface.ifindex)
        .map(|c| c.address);
    select_coa(iface, current_here).map(|address| PrimaryCoa {
        ifindex: iface.ifindex,
        address,
    })
}

/// Default-route metric of an interface with `MnIfPreference` `preference`
/// (1..=10): 1023 − 3 × (10 − preference), then −1 for a router advertising
/// high RFC 4191 preference (`router_preference` 1), +1 for low (−1).
pub fn default_route_metric(preference: u8, router_preference: i8) -> u32 {
    let base = DEFAULT_ROUTE_METRIC_BASE - 3 * u32::from(10u8.saturating_sub(preference));
    match router_preference {
        1 => base - 1,
        -1 => base + 1,
        _ => base,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn coa(a: &str, valid: u64, preferred: u64) -> CoaCandidate {
        CoaCandidate {
            address: a.parse().unwrap(),
            valid: Duration::from_secs(valid),
            preferred: Duration::from_secs(preferred),
        }
    }

    fn iface(
        ifindex: u32,
        preference: u8,
        tunnel: bool,
        router: bool,
        coas: Vec<CoaCandidate>,
    ) -> MnInterface {
        MnInterface {
            ifindex,
            preference,
            tunnel,
            has_default_router: router,
            coas,
        }
    }

    #[test]
    fn lowest_preference_number_wins_tunnel_or_not() {
        let eth = iface(2, 5, false, true, vec![coa("2001:db8:a::1", 100, 100)]);
        let teredo = iface(
            3,
            1,
            true,
            false,
            vec![coa("2001:0:c000:201::1", u64::MAX, u64::MAX)],
        );
        let wlan = iface(4, 3, false, true, vec![coa("2001:db8:b::1", 100, 100)]);
        let all = [eth.clone(), teredo.clone(), wlan.clone()];
        assert_eq!(select_interface(&all, None).unwrap().ifindex, 3);
        // A physical interface without a default router is not usable.
        let no_router = iface(4, 1, false, false, vec![coa("2001:db8:b::1", 100, 100)]);
        assert_eq!(
            select_interface(&[eth.clone(), no_router], None)
                .unwrap()
                .ifindex,
            2
        );
        // Preference 0 is never used; an interface without CoA neither.
        let never = iface(5, 0, true, false, vec![coa("2001:db8:c::1", 100, 100)]);
        let empty = iface(6, 1, true, false, vec![]);
        assert_eq!(
            select_interface(&[never, empty, wlan], None)
                .unwrap()
                .ifindex,
            4
        );
        assert!(select_interface(&[], None).is_none());
    }

    #[test]
    fn ties_go_to_the_current_interface_then_discovery_order() {
        let a = iface(2, 4, false, true, vec![coa("2001:db8:a::1", 100, 100)]);
        let b = iface(3, 4, true, false, vec![coa("2001:db8:b::1", 100, 100)]);
        let all = [a, b];
        assert_eq!(select_interface(&all, None).unwrap().ifindex, 2);
        assert_eq!(select_interface(&all, Some(3)).unwrap().ifindex, 3);
        assert_eq!(select_interface(&all, Some(9)).unwrap().ifindex, 2);
    }

    #[test]
    fn coa_choice_keeps_the_current_then_most_recent_preferred_then_deprecated() {
        let i = iface(
            2,
            1,
            true,
            false,
            vec![
                coa("2001:db8::3", 100, 0),  // newest, deprecated
                coa("2001:db8::2", 100, 50), // preferred
                coa("2001:db8::1", 100, 50), // preferred, older
            ],
        );
        assert_eq!(
            select_coa(&i, Some("2001:db8::1".parse().unwrap())),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(select_coa(&i, None), Some("2001:db8::2".parse().unwrap()));
        assert_eq!(
            select_coa(&i, Some("2001:db8::3".parse().unwrap())),
            Some("2001:db8::2".parse().unwrap())
        );
        let deprecated = iface(
            2,
            1,
            true,
            false,
            vec![coa("2001:db8::9", 0, 0), coa("2001:db8::3", 100, 0)],
        );
        assert_eq!(
            select_coa(&deprecated, None),
            Some("2001:db8::3".parse().unwrap())
        );
    }

    #[test]
    fn primary_coa_moves_only_when_needed() {
        let a = iface(2, 2, false, true, vec![coa("2001:db8:a::1", 100, 100)]);
        let t = iface(3, 2, true, false, vec![coa("2001:db8:b::1", 100, 100)]);
        let cur = PrimaryCoa {
            ifindex: 3,
            address: "2001:db8:b::1".parse().unwrap(),
        };
        assert_eq!(
            select_primary_coa(&[a.clone(), t.clone()], Some(cur)),
            Some(cur)
        );
        let better = iface(4, 1, false, true, vec![coa("2001:db8:c::1", 100, 100)]);
        assert_eq!(
            select_primary_coa(&[a, t, better], Some(cur))
                .unwrap()
                .ifindex,
            4
        );
        assert_eq!(select_primary_coa(&[], Some(cur)), None);
    }

    #[test]
    fn metric_follows_preference_and_router_preference() {
        assert_eq!(default_route_metric(10, 0), 1023);
        assert_eq!(default_route_metric(1, 0), 996);
        assert_eq!(default_route_metric(1, 1), 995);
        assert_eq!(default_route_metric(5, -1), 1009);
    }
}
