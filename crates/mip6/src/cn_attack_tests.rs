//! What a remote host can make the correspondent do: fill its binding
//! cache (and the kernel state behind each binding), or replay a recorded
//! BU after the binding went (RFC 6275 §5.2.8).

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn seq_of(o: &CnBuOutcome) -> u16 {
    match &o.ack().unwrap().message.message {
        MhMessage::BindingAck(b) => b.sequence,
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_host_with_many_home_addresses_cannot_grow_the_cache_past_its_limit() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mut c = CnBindingCache::with_limit(3);
    let mns: Vec<Mn> = (1..=50)
        .map(|i| Mn::tests_from(&mut k, t0, &format!("2001:db8:1::{i:x}"), "2001:db8:2::100"))
        .collect();
    let mut statuses = Vec::new();
    for mn in &mns {
        statuses.push(status(&mn.send(
            &mut c,
            &k,
            t0,
            &mn.bu(BuFlags::ACK, 10, 60),
            true,
        )));
    }
    assert_eq!(&statuses[..3], &[0, 0, 0]);
    assert!(statuses[3..].iter().all(|&s| s == 130), "{statuses:?}");
    assert_eq!(c.len(), 3);
    // The refusal is signed: the mobile node can tell it from a forgery.
    let out = mns[3].send(&mut c, &k, t0, &mns[3].bu(BuFlags::ACK, 11, 60), true);
    let CnBuOutcome::Rejected(ack) = &out else {
        panic!("{out:?}")
    };
    assert!(rr::verify(
        &mns[3].kbm(false),
        &mns[3].coa,
        &mns[3].cn,
        &ack.emit().unwrap()
    ));
    // Bindings already there are still refreshed.
    assert_eq!(
        status(&mns[0].send(&mut c, &k, t0, &mns[0].bu(BuFlags::ACK, 11, 60), true)),
        0
    );
    // A deregistered binding leaves a nonce-block entry that still takes
    // its place: deregistering cannot be used to make room for more.
    assert_eq!(
        status(&mns[1].send(&mut c, &k, t0, &mns[1].bu(BuFlags::ACK, 11, 0), true)),
        0
    );
    assert_eq!((c.len(), c.nonce_blocks()), (2, 1));
    assert_eq!(
        status(&mns[4].send(&mut c, &k, t0, &mns[4].bu(BuFlags::ACK, 12, 60), true)),
        130
    );
    // Its owner may come back.
    assert_eq!(
        status(&mns[1].send(&mut c, &k, t0, &mns[1].bu(BuFlags::ACK, 12, 60), true)),
        0
    );
    assert_eq!((c.len(), c.nonce_blocks()), (3, 0));
    // Once the bindings and their nonces are gone, there is room again.
    let later = t0 + secs(241);
    assert_eq!(c.handle_timeout(later).len(), 3);
    assert_eq!(c.nonce_blocks(), 0);
    let fresh = Mn::tests_from(&mut k, later, "2001:db8:1::99", "2001:db8:2::100");
    assert_eq!(
        status(&fresh.send(&mut c, &k, later, &fresh.bu(BuFlags::ACK, 1, 60), true)),
        0
    );
}

#[test]
fn a_lowered_limit_refuses_new_bindings_and_keeps_the_others() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mns: Vec<Mn> = (1..=2)
        .map(|i| Mn::tests_from(&mut k, t0, &format!("2001:db8:1::{i}"), "2001:db8:2::100"))
        .collect();
    let mut c = CnBindingCache::with_limit(2);
    for mn in &mns {
        mn.send(&mut c, &k, t0, &mn.bu(BuFlags::ACK, 10, 60), true);
    }
    mns[1].send(&mut c, &k, t0, &mns[1].bu(BuFlags::ACK, 11, 0), true);
    assert_eq!((c.len(), c.nonce_blocks()), (1, 1));
    c.set_limit(1);
    // The binding there is refreshed; the deregistered one is not let back
    // while the cache holds more than the limit.
    assert_eq!(
        status(&mns[0].send(&mut c, &k, t0, &mns[0].bu(BuFlags::ACK, 11, 60), true)),
        0
    );
    assert_eq!(
        status(&mns[1].send(&mut c, &k, t0, &mns[1].bu(BuFlags::ACK, 12, 60), true)),
        130
    );
    c.set_limit(2);
    assert_eq!(
        status(&mns[1].send(&mut c, &k, t0, &mns[1].bu(BuFlags::ACK, 13, 60), true)),
        0
    );
    assert_eq!((c.len(), c.nonce_blocks()), (2, 0));
}

#[test]
fn a_limit_of_zero_refuses_every_binding() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::with_limit(0);
    assert_eq!(
        status(&mn.send(&mut c, &k, t0, &mn.bu(BuFlags::ACK, 1, 60), true)),
        130
    );
    assert!(c.is_empty());
}

#[test]
fn a_bu_replayed_after_the_deregistration_is_refused_until_its_nonce_expires() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    // The attacker records the registration.
    let recorded = mn.bu(BuFlags::ACK, 10, 60);
    assert_eq!(status(&mn.send(&mut c, &k, t0, &recorded, true)), 0);
    // The mobile node deregisters (back home, or done with this CN).
    let out = mn.send(&mut c, &k, t0 + secs(10), &mn.bu(BuFlags::ACK, 11, 0), true);
    assert!(
        matches!(out, CnBuOutcome::Done(CnChange::Removed(_), _)),
        "{out:?}"
    );
    assert!(c.is_empty());
    // The recorded BU, byte for byte, while its nonces are valid: 135 with
    // the last sequence number, as for a live binding, and no binding.
    for at in [secs(11), secs(100), secs(240)] {
        let out = mn.send(&mut c, &k, t0 + at, &recorded, true);
        assert_eq!(status(&out), 135, "at {at:?}: {out:?}");
        assert_eq!(seq_of(&out), 11);
        assert!(c.is_empty(), "at {at:?}");
    }
    assert_eq!(c.nonce_blocks(), 1);
    // Once the nonces expired, the entry goes; the replay fails on them.
    let late = t0 + secs(241);
    assert!(c.handle_timeout(late).is_empty());
    assert_eq!(c.nonce_blocks(), 0);
    assert_eq!(status(&mn.send(&mut c, &k, late, &recorded, true)), 138);
    assert!(c.is_empty());
}

#[test]
fn a_fresh_bu_after_the_deregistration_still_binds() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    mn.send(&mut c, &k, t0, &mn.bu(BuFlags::ACK, 10, 60), true);
    mn.send(&mut c, &k, t0 + secs(5), &mn.bu(BuFlags::ACK, 11, 0), true);
    assert_eq!(c.nonce_blocks(), 1);
    let out = mn.send(&mut c, &k, t0 + secs(6), &mn.bu(BuFlags::ACK, 12, 60), true);
    assert!(
        matches!(out, CnBuOutcome::Done(CnChange::Installed { .. }, Some(_))),
        "{out:?}"
    );
    assert_eq!((c.len(), c.nonce_blocks()), (1, 0));
    // The new binding keeps the older nonce's protection when it goes.
    mn.send(&mut c, &k, t0 + secs(7), &mn.bu(BuFlags::ACK, 13, 0), true);
    assert_eq!(
        status(&mn.send(&mut c, &k, t0 + secs(8), &mn.bu(BuFlags::ACK, 12, 60), true)),
        135
    );
}

#[test]
fn a_bu_replayed_after_the_binding_expired_is_refused() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    let recorded = mn.bu(BuFlags::ACK, 10, 8);
    assert_eq!(status(&mn.send(&mut c, &k, t0, &recorded, true)), 0);
    assert_eq!(c.handle_timeout(t0 + secs(8)).len(), 1);
    let out = mn.send(&mut c, &k, t0 + secs(9), &recorded, true);
    assert_eq!((status(&out), seq_of(&out)), (135, 10));
    assert!(c.is_empty());
}
