//! Vectors derived for this crate and cross-checked with Python's `hmac` and
//! `hashlib` (the commands are in the comments), then the nonce table and the
//! mobile node's test runs in simulated time.

use super::*;
use crate::consts::BaStatus;
use crate::wire::mh::{BaFlags, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr};
use crate::wire::options::MobilityOption;
use std::time::Duration;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// kcn = bytes(range(1, 21)); nonce = bytes(range(0xa0, 0xa8))
// hmac.new(kcn, HoA.packed + nonce + b"\0", sha1).digest()[:8], etc.
const KCN: Kcn = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
];
const NONCE: [u8; 8] = [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7];
const HOME_TOKEN: &str = "26efe9212ea0e752";
const CAREOF_TOKEN: &str = "c662c9fcc78ccd7b";
const KBM: &str = "b4d04039a3ef8ac1102bb6472c91250add852785";
const KBM_DEREG: &str = "e87550aa0d58ecb71d1b27504e34a2f1e24504a9";

fn hoa() -> Ipv6Addr {
    a("2001:db8:1::100")
}
fn coa() -> Ipv6Addr {
    a("2001:db8:2::100")
}
fn cn() -> Ipv6Addr {
    a("2001:db8:3::1")
}

#[test]
fn keygen_tokens_and_kbm_match_python_hmac() {
    let h = keygen_token(&KCN, &hoa(), &NONCE, TokenKind::Home);
    let c = keygen_token(&KCN, &coa(), &NONCE, TokenKind::CareOf);
    assert_eq!(hex(&h), HOME_TOKEN);
    assert_eq!(hex(&c), CAREOF_TOKEN);
    assert_eq!(hex(&binding_key(&h, Some(&c))), KBM);
    assert_eq!(hex(&binding_key(&h, None)), KBM_DEREG);
    // The trailing octet separates the two tests of one address.
    assert_ne!(
        keygen_token(&KCN, &hoa(), &NONCE, TokenKind::CareOf),
        keygen_token(&KCN, &hoa(), &NONCE, TokenKind::Home)
    );
}

fn kbm() -> Kbm {
    let h = keygen_token(&KCN, &hoa(), &NONCE, TokenKind::Home);
    let c = keygen_token(&KCN, &coa(), &NONCE, TokenKind::CareOf);
    binding_key(&h, Some(&c))
}

fn signed_bu() -> Vec<u8> {
    let mut repr = MhRepr::new(MhMessage::BindingUpdate(BindingUpdate {
        sequence: 0x1234,
        flags: BuFlags(BuFlags::ACK),
        lifetime_units: 105,
    }));
    repr.options = vec![
        MobilityOption::NonceIndices {
            home: 7,
            care_of: 9,
        },
        MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]),
    ];
    let mut bytes = repr.emit_without_checksum().unwrap();
    sign(&kbm(), &coa(), &cn(), &mut bytes).unwrap();
    bytes
}

#[test]
fn bu_authenticator_matches_python_hmac() {
    // bu = 3b0305000000 12348000 0069 040400070009 050c (no padding needed);
    // hmac.new(kbm, CoA + CN + bu, sha1).digest()[:12]
    let bytes = signed_bu();
    assert_eq!(
        hex(&bytes[..20]),
        "3b030500000012348000006904040007000905 0c".replace(' ', "")
    );
    assert_eq!(hex(&bytes[20..]), "b76da854449e58ccd278dbbe");
    assert!(verify(&kbm(), &coa(), &cn(), &bytes));
}

#[test]
fn ba_authenticator_matches_python_hmac() {
    // ba = 3b0306000000 0000 1234 0069 010400000000 050c (PadN 6 to 8n+2)
    let mut repr = MhRepr::new(MhMessage::BindingAck(BindingAck {
        status: BaStatus::ACCEPTED,
        flags: BaFlags::default(),
        sequence: 0x1234,
        lifetime_units: 105,
    }));
    repr.options = vec![MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN])];
    let mut bytes = repr.emit_without_checksum().unwrap();
    sign(&kbm(), &coa(), &cn(), &mut bytes).unwrap();
    assert_eq!(
        hex(&bytes[..20]),
        "3b03060000000000123400690104000000000 50c".replace(' ', "")
    );
    assert_eq!(hex(&bytes[20..]), "0f85010a57b4a57fa7c24038");
}

#[test]
fn verification_fails_on_any_change() {
    let bytes = signed_bu();
    // Another CoA, another correspondent, another key.
    assert!(!verify(&kbm(), &hoa(), &cn(), &bytes));
    assert!(!verify(&kbm(), &coa(), &hoa(), &bytes));
    assert!(!verify(&[0; 20], &coa(), &cn(), &bytes));
    // Any octet of the message or the authenticator, but the checksum.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let ok = verify(&kbm(), &coa(), &cn(), &b);
        assert_eq!(ok, i == 4 || i == 5, "octet {i}");
    }
    // Without the option, or truncated: no panic, no success.
    assert!(!verify(&kbm(), &coa(), &cn(), &bytes[..18]));
    assert!(!verify(&kbm(), &coa(), &cn(), &[]));
}

#[test]
fn sign_needs_the_authorization_data_option_last() {
    let repr = MhRepr::new(MhMessage::BindingUpdate(BindingUpdate {
        sequence: 1,
        flags: BuFlags(0),
        lifetime_units: 1,
    }));
    let mut bytes = repr.emit_without_checksum().unwrap();
    assert_eq!(
        sign(&kbm(), &coa(), &cn(), &mut bytes),
        Err(WireError::NoAuthorizationData)
    );
}

#[test]
fn nonces_are_handed_out_30s_and_valid_240s() {
    let t0 = Instant::now();
    let mut t = NonceTable::new(0xfffe);
    let (i0, n0) = t.current(t0, [1; 8]);
    assert_eq!((i0, n0), (0xfffe, [1; 8]));
    // Same nonce for 30 s, whatever fresh octets are offered.
    assert_eq!(t.current(t0 + Duration::from_secs(29), [2; 8]), (i0, n0));
    let (i1, n1) = t.current(t0 + Duration::from_secs(30), [2; 8]);
    assert_eq!((i1, n1), (0xffff, [2; 8]));
    let (i2, _) = t.current(t0 + Duration::from_secs(60), [3; 8]);
    assert_eq!(i2, 0, "the index wraps");
    assert_eq!(t.lookup(i0, t0 + Duration::from_secs(240)), Some(n0));
    assert_eq!(t.lookup(i0, t0 + Duration::from_secs(241)), None);
    assert_eq!(t.lookup(i1, t0 + Duration::from_secs(241)), Some(n1));
    assert_eq!(t.lookup(5, t0), None, "never handed out");
}

#[test]
fn a_slot_reused_forgets_its_old_index() {
    let t0 = Instant::now();
    let mut t = NonceTable::new(0);
    for k in 0..=NONCE_SLOTS as u64 {
        t.current(t0 + Duration::from_secs(30 * k), [k as u8; 8]);
    }
    // Index 16 took slot 0: index 0 is gone even if it were still young.
    assert_eq!(t.lookup(0, t0), None);
    assert_eq!(t.lookup(16, t0 + Duration::from_secs(480)), Some([16; 8]));
}

#[test]
fn keygen_regenerates_the_tokens_a_bu_names() {
    let t0 = Instant::now();
    let mut k = Keygen::new(KCN, 7);
    let (hi, ht) = k.test_reply(t0, &hoa(), TokenKind::Home, NONCE);
    let (ci, ct) = k.test_reply(
        t0 + Duration::from_secs(1),
        &coa(),
        TokenKind::CareOf,
        [9; 8],
    );
    assert_eq!((hi, ci), (7, 7), "one nonce for both tests within 30 s");
    assert_eq!(hex(&ht), HOME_TOKEN);
    assert_eq!(hex(&ct), CAREOF_TOKEN);
    let now = t0 + Duration::from_secs(100);
    assert_eq!(
        k.bu_tokens(now, &hoa(), hi, Some((&coa(), ci))),
        BuTokens::Valid(kbm())
    );
    assert_eq!(
        hex(match &k.bu_tokens(now, &hoa(), hi, None) {
            BuTokens::Valid(kbm) => kbm,
            other => panic!("{other:?}"),
        }),
        KBM_DEREG
    );
    // A later care-of nonce with an old home nonce.
    let (ci2, _) = k.test_reply(
        t0 + Duration::from_secs(200),
        &coa(),
        TokenKind::CareOf,
        [4; 8],
    );
    assert_eq!(ci2, 8);
    let late = t0 + Duration::from_secs(250);
    assert_eq!(
        k.bu_tokens(late, &hoa(), hi, Some((&coa(), ci2))),
        BuTokens::HomeExpired
    );
    assert_eq!(
        k.bu_tokens(late, &hoa(), ci2, Some((&coa(), hi))),
        BuTokens::CareOfExpired
    );
    assert_eq!(
        k.bu_tokens(late, &hoa(), hi, Some((&coa(), hi))),
        BuTokens::BothExpired
    );
    assert_eq!(k.bu_tokens(late, &hoa(), hi, None), BuTokens::HomeExpired);
}
