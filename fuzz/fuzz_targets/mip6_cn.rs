#![no_main]
//! The correspondent node's return routability and binding cache
//! (RFC 6275 §5.2, §9.4–§9.5) driven by a sequence of events decoded from the
//! input, in simulated time: Home/Care-of Test Inits from chosen addresses,
//! Binding Updates signed with the tokens those tests handed out (as an honest
//! mobile node would), Binding Updates made of arbitrary Mobility Header
//! octets, and the passing of time. Checked after every event:
//! - nothing panics;
//! - the cache changes only as the outcome says (a Dropped or Rejected BU
//!   leaves it as it was; Installed/Removed do exactly that), so its size is
//!   bounded by what was accepted;
//! - a BU not signed with the right key (arbitrary octets) never changes it;
//! - every BA emits, parses back, carries the refusal status it should and,
//!   when signed, verifies with the key it was signed with;
//! - granted lifetimes stay within `MAX_RR_BINDING_LIFETIME`;
//! - after `handle_timeout(now)` no binding has ended, and a test answer echoes its cookie.
#[path = "common/input.rs"]
mod input;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use input::Input;
use libfuzzer_sys::fuzz_target;
use mip6::cn::{answer_test_init, CnBinding, CnBindingCache, CnBuContext, CnBuOutcome, CnChange};
use mip6::consts::MAX_RR_BINDING_LIFETIME;
use mip6::rr::{self, binding_key, Keygen, Token};
use mip6::wire::options::AUTHENTICATOR_LEN;
use mip6::wire::{BindingUpdate, BuFlags, MhMessage, MhRepr, MobilityOption, TestInit};

type Shadow = BTreeMap<(Ipv6Addr, Ipv6Addr), CnBinding>;

struct World {
    keygen: Keygen,
    cache: CnBindingCache,
    /// What the cache must hold, from the outcomes alone.
    shadow: Shadow,
    now: Instant,
    fresh: u64,
    /// Tokens handed out, by (address, care-of?).
    tokens: BTreeMap<(Ipv6Addr, bool), (u16, Token)>,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut w = World {
        keygen: Keygen::new([7; rr::KCN_LEN], input.u16()),
        cache: CnBindingCache::new(),
        shadow: Shadow::new(),
        now: Instant::now(),
        fresh: 0,
        tokens: BTreeMap::new(),
    };
    let mut events = 0;
    while !input.is_empty() && events < 64 {
        events += 1;
        match input.u8() % 6 {
            0 | 1 => test_init(&mut w, &mut input),
            2 | 3 => honest_bu(&mut w, &mut input),
            4 => raw_bu(&mut w, &mut input),
            _ => {
                w.now += Duration::from_millis(u64::from(input.u16()) * 16);
                for b in w.cache.refresh_requests_due(w.now) {
                    assert!(b.refresh_requested && b.expires > w.now);
                    w.shadow.insert((b.correspondent, b.home_address), b);
                }
                for b in w.cache.handle_timeout(w.now) {
                    assert!(b.expires <= w.now);
                    assert!(w
                        .shadow
                        .remove(&(b.correspondent, b.home_address))
                        .is_some());
                }
                assert!(w.cache.iter().all(|b| b.expires > w.now));
            }
        }
        let now: Vec<&CnBinding> = w.cache.iter().collect();
        let want: Vec<&CnBinding> = w.shadow.values().collect();
        assert_eq!(now, want, "cache differs from what the outcomes said");
    }
});

fn test_init(w: &mut World, input: &mut Input) {
    let source = input.addr();
    let care_of = input.bool();
    let cookie: [u8; 8] = input.array();
    let init = TestInit { cookie };
    let message = if care_of {
        MhMessage::CareOfTestInit(init)
    } else {
        MhMessage::HomeTestInit(init)
    };
    w.fresh += 1;
    let fresh = w.fresh.to_be_bytes();
    let Some(reply) = answer_test_init(&mut w.keygen, w.now, &source, &message, fresh) else {
        panic!("no answer to {message:?}");
    };
    let bytes = reply.emit(&source, &source).expect("test reply emits");
    assert_eq!(MhRepr::parse(&bytes).as_ref(), Ok(&reply));
    let r = match reply.message {
        MhMessage::HomeTest(r) if !care_of => r,
        MhMessage::CareOfTest(r) if care_of => r,
        other => panic!("{other:?} answers {message:?}"),
    };
    assert_eq!(r.cookie, cookie);
    w.tokens
        .insert((source, care_of), (r.nonce_index, r.keygen_token));
}

/// A BU as a mobile node that ran the tests would sign it (or with a
/// stale/absent token when the input asks for addresses never tested).
fn honest_bu(w: &mut World, input: &mut Input) {
    let hoa = input.addr();
    let packet_source = input.addr();
    let correspondent = input.addr();
    let alt_coa = input.bool().then(|| input.addr());
    let bu = BindingUpdate {
        sequence: input.u16(),
        flags: BuFlags(input.u16() & 0xff00),
        lifetime_units: if input.bool() { 0 } else { input.u16() },
    };
    let policy_allows = input.u8() != 0;
    let coa = alt_coa.unwrap_or(packet_source);
    let dereg = bu.lifetime_units == 0 || coa == hoa;
    let (home_index, home_token) = w.tokens.get(&(hoa, false)).copied().unwrap_or_default();
    let (coa_index, coa_token) = w.tokens.get(&(coa, true)).copied().unwrap_or_default();
    let mut repr = MhRepr::new(MhMessage::BindingUpdate(bu));
    repr.options
        .extend(alt_coa.map(MobilityOption::AlternateCoa));
    repr.options.push(MobilityOption::NonceIndices {
        home: home_index,
        care_of: coa_index,
    });
    repr.options
        .push(MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]));
    let mut mh = repr.emit_without_checksum().expect("BU emits");
    let kbm = binding_key(&home_token, (!dereg).then_some(&coa_token));
    rr::sign(&kbm, &coa, &correspondent, &mut mh).expect("BU signs");
    let ctx = CnBuContext {
        home_address: hoa,
        packet_source,
        correspondent,
        bu,
        options: &repr.options,
        mh: &mh,
        policy_allows,
    };
    on_bu(w, &ctx, true);
}

/// Arbitrary octets as a BU: parsed as the CN's receive path would.
fn raw_bu(w: &mut World, input: &mut Input) {
    let hoa = input.addr();
    let packet_source = input.addr();
    let correspondent = input.addr();
    let policy_allows = input.bool();
    let mh = input.chunk();
    let Ok(repr) = MhRepr::parse(mh) else {
        return;
    };
    let MhMessage::BindingUpdate(bu) = repr.message else {
        return;
    };
    let ctx = CnBuContext {
        home_address: hoa,
        packet_source,
        correspondent,
        bu,
        options: &repr.options,
        mh,
        policy_allows,
    };
    on_bu(w, &ctx, false);
}

/// The CN API in one place: one BU, then the outcome against the shadow.
fn on_bu(w: &mut World, ctx: &CnBuContext<'_>, signed: bool) {
    let outcome = w.cache.handle_binding_update(w.now, &w.keygen, ctx);
    if let Some(ack) = outcome.ack() {
        let bytes = ack.emit().expect("BA emits");
        let parsed = MhRepr::parse(&bytes).expect("BA parses back");
        let MhMessage::BindingAck(ba) = parsed.message else {
            panic!("not a BA: {parsed:?}");
        };
        assert_eq!(ba.status, ack.status);
        if let Some(kbm) = &ack.kbm {
            assert!(rr::verify(
                kbm,
                &ack.care_of_address,
                &ack.correspondent,
                &bytes
            ));
        }
    }
    match outcome {
        CnBuOutcome::Dropped(_) => {}
        CnBuOutcome::Rejected(ack) => assert!(ack.status.0 >= 128, "{ack:?}"),
        CnBuOutcome::Done(change, _) => {
            // Forging HMAC-SHA1 is out of the fuzzer's reach: only a BU signed
            // with the tokens changes anything.
            assert!(signed, "unsigned BU changed the cache: {change:?}");
            match change {
                CnChange::Installed { binding, .. } => {
                    assert!(binding.lifetime <= MAX_RR_BINDING_LIFETIME);
                    assert!(binding.expires > w.now);
                    w.shadow
                        .insert((binding.correspondent, binding.home_address), binding);
                }
                CnChange::Removed(b) => {
                    assert_eq!(
                        w.shadow.remove(&(b.correspondent, b.home_address)).as_ref(),
                        Some(&b)
                    );
                }
            }
        }
    }
}
