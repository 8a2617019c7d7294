#![no_main]
//! The home agent's Binding Update path (RFC 6275 §10.3, RFC 3963 §6):
//! `check_home_bu` with a context built from the input, then the binding
//! cache (`apply`, `dad_finished`, `remove`, `handle_timeout`) in simulated
//! time, driven by a sequence of events. Checked after every event:
//! - nothing panics;
//! - a BU without H, with return-routability options, from or for an
//!   address a binding may not use, is never accepted;
//! - only an accepted BU changes the cache (a Drop, Ignore or Reject leaves
//!   it as it was), the cache holds at most the new bindings accepted, and
//!   each change is the one `apply` reported;
//! - an accepted registration grants a lifetime within the BU's, the cap and
//!   the home prefix's valid lifetime; a sequence number only moves forward;
//! - every BA (verdict, DAD outcome) emits and parses back unchanged;
//! - `poll_timeout` is the earliest expiry, and `handle_timeout(now)` leaves
//!   no expired entry.
#[path = "common/input.rs"]
mod input;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use input::Input;
use libfuzzer_sys::fuzz_target;
use mip6::bcache::{
    check_home_bu, is_routable_unicast, AclDecision, BcChange, BcState, BindingCache, DadOutcome,
    HomeBuContext, HomeBuVerdict, HomePrefixLifetimes,
};
use mip6::consts::BaStatus;
use mip6::seq::seq_greater;
use mip6::wire::options::parse_options;
use mip6::wire::{BindingUpdate, BuFlags, MhRepr, MobilityOption};

const HA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const MNP: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0), 64);

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    // A small cap, so that sequences of BUs reach it.
    let mut cache = BindingCache::with_max_bindings(8);
    let mut now = Instant::now();
    let mut created = 0usize;
    let mut events = 0;
    while !input.is_empty() && events < 64 {
        events += 1;
        let before: Vec<_> = sorted(&cache);
        match input.u8() % 5 {
            0..=2 => {
                let changed = bu(&mut cache, now, &mut input);
                if !changed {
                    assert_eq!(sorted(&cache), before, "refused BU changed the cache");
                }
            }
            3 => {
                let hoa = input.addr();
                let duplicate = input.bool();
                let state = cache.get(&hoa).map(|e| e.state);
                match cache.dad_finished(now, &hoa, duplicate) {
                    None => assert_ne!(state, Some(BcState::Dad)),
                    Some(DadOutcome::Installed(ba)) => {
                        assert!(!duplicate && state == Some(BcState::Dad));
                        assert_eq!(cache.get(&hoa).map(|e| e.state), Some(BcState::Active));
                        ba_round_trip(&ba);
                    }
                    Some(DadOutcome::Duplicate(ba)) => {
                        assert!(duplicate && cache.get(&hoa).is_none());
                        ba_round_trip(&ba);
                    }
                }
            }
            _ => {
                now += Duration::from_secs(u64::from(input.u16()));
                if input.u8() == 0 {
                    let hoa = input.addr();
                    cache.remove(&hoa);
                }
                for e in cache.handle_timeout(now) {
                    assert!(e.expires_at <= now);
                }
                assert!(cache.iter().all(|e| e.expires_at > now));
            }
        }
        if let Some(e) = cache.iter().find(|e| e.state == BcState::Dad) {
            assert!(cache
                .existing(&e.home_address)
                .is_some_and(|x| x.dad_in_progress));
        }
        if let (Some(t), n) = (cache.poll_timeout(), cache.len()) {
            assert!(n > 0);
            assert_eq!(Some(t), cache.iter().map(|e| e.expires_at).min());
        } else {
            assert!(cache.is_empty(), "entries without a deadline");
        }
        created += usize::from(cache.len() > before.len());
        assert!(cache.len() <= created);
        assert!(cache.len() <= 8, "the cap holds");
    }
});

fn sorted(cache: &BindingCache) -> Vec<mip6::bcache::BcEntry> {
    let mut v: Vec<_> = cache.iter().cloned().collect();
    v.sort_by_key(|e| e.home_address);
    v
}

fn ba_round_trip(ba: &MhRepr) {
    let bytes = ba.emit(&HA, &HA).expect("BA emits");
    assert_eq!(MhRepr::parse_verified(&bytes, &HA, &HA).as_ref(), Ok(ba));
}

/// One BU through the checks and, if accepted, into the cache: the HA's
/// use of the API in one place. True if the cache may have changed.
fn bu(cache: &mut BindingCache, now: Instant, input: &mut Input) -> bool {
    let home_address = input.addr();
    let packet_source = input.addr();
    let bu = BindingUpdate {
        sequence: input.u16(),
        flags: BuFlags(input.u16() & 0xff00),
        lifetime_units: if input.bool() { 0 } else { input.u16() },
    };
    let mut options = Vec::new();
    match input.u8() % 4 {
        0 => {}
        1 => options.push(MobilityOption::AlternateCoa(input.addr())),
        2 => options.push(MobilityOption::MobileNetworkPrefix {
            prefix_len: MNP.1,
            prefix: MNP.0,
        }),
        // Arbitrary options, as the Mobility Header parser returns them.
        _ => options = parse_options(input.chunk()).unwrap_or_default(),
    }
    let acl_prefixes = [MNP];
    let flags = input.u8();
    let ctx = HomeBuContext {
        packet_source,
        home_address,
        bu,
        options: &options,
        existing: cache.existing(&home_address),
        coa_has_binding: cache.has_binding(&mip6::bcache::care_of_address(packet_source, &options)),
        dst_is_ha_address: flags & 1 == 0,
        home_prefix: (flags & 2 == 0).then(|| HomePrefixLifetimes {
            valid: Duration::from_secs(u64::from(input.u16())),
            preferred: Duration::from_secs(u64::from(input.u16())),
        }),
        served_prefix_covers_hoa: flags & 4 != 0,
        accept_mobile_router: flags & 8 == 0,
        acl: AclDecision {
            status: if flags & 16 == 0 {
                BaStatus::ACCEPTED
            } else {
                BaStatus(input.u8() | 0x80)
            },
            prefixes: (flags & 32 != 0).then_some(&acl_prefixes[..]),
        },
        max_binding_life: Duration::from_secs(u64::from(input.u16()) * 4),
        key_mgmt_capable: flags & 64 != 0,
        ipsec_required: flags & 128 != 0,
        // Taken from the address rather than the input, so the seeds' layout holds.
        ipsec_protected: home_address.octets()[15] & 1 == 0,
        cache_full: cache.is_full(),
    };
    let verdict = check_home_bu(&ctx);
    if let Some(ba) = verdict.binding_ack() {
        ba_round_trip(&ba);
    }
    let HomeBuVerdict::Accept(acc) = verdict else {
        if let HomeBuVerdict::Reject { status, .. } = verdict {
            assert!(status.0 >= 128);
        }
        return false;
    };
    // What may never be accepted.
    assert!(bu.flags.contains(BuFlags::HOME));
    assert!(!options.iter().any(|o| matches!(
        o,
        MobilityOption::NonceIndices { .. } | MobilityOption::BindingAuthData(_)
    )));
    assert!(is_routable_unicast(&home_address) && is_routable_unicast(&acc.care_of_address));
    assert!(acc.status.0 < 128);
    assert!(
        !ctx.ipsec_required || ctx.ipsec_protected,
        "unprotected BU accepted"
    );
    assert!(
        ctx.existing.is_some() || !ctx.cache_full,
        "new binding past the cap"
    );
    if let Some(e) = ctx.existing {
        assert!(seq_greater(bu.sequence, e.sequence) && !e.dad_in_progress);
    }
    if acc.deregistration {
        assert!(ctx.existing.is_some() && acc.lifetime_units == 0);
    } else {
        assert!(acc.lifetime_units > 0);
        assert!(acc.lifetime() <= ctx.max_binding_life);
        assert!(acc.lifetime_units <= bu.lifetime_units);
        if let Some(p) = ctx.home_prefix {
            assert!(acc.lifetime() <= p.valid);
        }
        assert_eq!(acc.needs_dad, ctx.existing.is_none());
    }
    let len = cache.len();
    match cache.apply(now, home_address, HA, &bu, &acc) {
        BcChange::DadStarted => {
            assert_eq!(cache.len(), len + 1);
            assert_eq!(
                cache.get(&home_address).map(|e| e.state),
                Some(BcState::Dad)
            );
        }
        BcChange::Updated { .. } => {
            assert_eq!(cache.len(), len);
            let e = cache.get(&home_address).expect("updated entry exists");
            assert_eq!(
                (e.sequence, e.care_of_address),
                (bu.sequence, acc.care_of_address)
            );
        }
        BcChange::Removed(e) => {
            assert_eq!(e.home_address, home_address);
            assert_eq!(cache.len() + 1, len);
            assert!(cache.get(&home_address).is_none());
        }
    }
    true
}
