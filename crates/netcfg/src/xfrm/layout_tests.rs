//! Byte layouts of the messages the typed policies and states become.

#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;

use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_xfrm::{
    policy::ModifyMessage as PolicyModifyMessage, state::ModifyMessage as StateModifyMessage,
};

use super::policy::{PolicyDir, PolicyType, Template, XfrmPolicy};
use super::state::XfrmState;
use super::types::{Selector, XfrmProto, IPPROTO_DSTOPTS, IPPROTO_MH, XFRM_STATE_WILDRECV};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// `xfrm_usersa_info` is 224 bytes: selector (56) at 0, id (24) at 56
/// with proto at 76, saddr at 80, lifetimes, stats, seq, reqid at 208,
/// family at 212, mode at 214, flags at 216; `XFRMA_COADDR` (14)
/// follows as a 20-byte attribute.
#[test]
fn ro_state_layout() {
    let st = XfrmState::ro(
        XfrmProto::Route2,
        a("2001:db8:1::100"),
        a("2001:db8:c::2"),
        a("2001:db8:a::100"),
    )
    .wildrecv();
    let m = st.to_nl();
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    assert_eq!(buf.len(), 224 + 20);
    // selector: daddr, saddr, ..., family (u16 at 40), plen d/s at 42/43.
    assert_eq!(&buf[0..16], &a("2001:db8:c::2").octets());
    assert_eq!(&buf[16..32], &a("2001:db8:1::100").octets());
    assert_eq!(u16::from_ne_bytes([buf[40], buf[41]]), 10);
    assert_eq!((buf[42], buf[43]), (128, 128));
    assert_eq!(&buf[56..72], &a("2001:db8:c::2").octets());
    assert_eq!(buf[76], 43, "id.proto");
    assert_eq!(&buf[80..96], &a("2001:db8:1::100").octets());
    assert_eq!(u16::from_ne_bytes([buf[212], buf[213]]), 10, "family");
    assert_eq!(buf[214], 2, "mode ro");
    assert_eq!(buf[216], XFRM_STATE_WILDRECV);
    assert_eq!(u16::from_ne_bytes([buf[224], buf[225]]), 20);
    assert_eq!(u16::from_ne_bytes([buf[226], buf[227]]), 14, "XFRMA_COADDR");
    assert_eq!(&buf[228..244], &a("2001:db8:a::100").octets());

    let back = StateModifyMessage::parse(&buf[..]).unwrap();
    assert_eq!(XfrmState::from_nl(&back), Some(st));
}

/// `xfrm_userpolicy_info` is 168 bytes (priority at 152, index 156,
/// dir 160, action 161); the MH-type selector puts the type in the
/// big-endian source port (offset 36) with an all-ones mask.
#[test]
fn sub_policy_with_ro_template_layout() {
    let p = XfrmPolicy::new(
        Selector::hosts(a("2001:db8:1::100"), a("2001:db8:1::2")).mh_type(5),
        PolicyDir::Out,
        PolicyType::Sub,
        2,
    )
    .tmpl(Template::ro(XfrmProto::Hao, Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED).optional());
    let m = p.to_nl();
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    assert_eq!(&buf[36..40], &[0, 5, 0xff, 0xff], "sport, sport_mask");
    assert_eq!(buf[44], IPPROTO_MH);
    assert_eq!(u32::from_ne_bytes(buf[152..156].try_into().unwrap()), 2);
    assert_eq!((buf[160], buf[161]), (1, 0), "dir out, allow");
    // XFRMA_TMPL (5): 4 + 64 bytes.
    assert_eq!(u16::from_ne_bytes([buf[168], buf[169]]), 68);
    assert_eq!(u16::from_ne_bytes([buf[170], buf[171]]), 5);
    let t = &buf[172..236];
    assert_eq!(t[20], IPPROTO_DSTOPTS, "tmpl id.proto");
    assert_eq!(u16::from_ne_bytes([t[24], t[25]]), 10, "tmpl family");
    assert_eq!((t[48], t[50]), (2, 1), "mode ro, optional");
    // XFRMA_POLICY_TYPE (16): 4 + 6 bytes, padded to 12, type 1.
    assert_eq!(u16::from_ne_bytes([buf[236], buf[237]]), 10);
    assert_eq!(u16::from_ne_bytes([buf[238], buf[239]]), 16);
    assert_eq!(buf[240], 1);

    let back = PolicyModifyMessage::parse(&buf[..]).unwrap();
    assert_eq!(XfrmPolicy::from_nl(&back), Some(p));
}

/// `XFRM_MSG_MIGRATE`: `xfrm_userpolicy_id` (64 bytes: selector 56, index,
/// dir at 60), then `XFRMA_MIGRATE` (17) with the 76-byte
/// `xfrm_user_migrate` (old daddr, old saddr, new daddr, new saddr, proto at
/// 64, mode 65, reqid 68, families 72/74), `XFRMA_KMADDRESS` (19, 40 bytes)
/// and the policy type.
#[test]
fn migrate_layout() {
    use super::migrate::{migrate_message, Migration};
    use super::types::XfrmMode;
    let sel = Selector::hosts(a("2001:db8:1::100"), Ipv6Addr::UNSPECIFIED);
    let m = Migration {
        proto: XfrmProto::Esp,
        mode: XfrmMode::Tunnel,
        reqid: 11,
        old_src: a("2001:db8:1::100"),
        old_dst: a("2001:db8:1::2"),
        new_src: a("2001:db8:a::100"),
        new_dst: a("2001:db8:1::2"),
    };
    let msg = migrate_message(
        &sel,
        PolicyDir::Out,
        PolicyType::Main,
        &[m],
        Some((a("2001:db8:a::100"), a("2001:db8:1::2"))),
    );
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.emit(&mut buf);
    assert_eq!(
        &buf[16..32],
        &a("2001:db8:1::100").octets(),
        "selector saddr"
    );
    assert_eq!((buf[42], buf[43]), (0, 128), "prefix lengths d/s");
    assert_eq!(buf[60], 1, "dir out");
    assert_eq!(u16::from_ne_bytes([buf[64], buf[65]]), 4 + 76);
    assert_eq!(u16::from_ne_bytes([buf[66], buf[67]]), 17, "XFRMA_MIGRATE");
    let um = &buf[68..144];
    assert_eq!(&um[0..16], &a("2001:db8:1::2").octets(), "old daddr");
    assert_eq!(&um[16..32], &a("2001:db8:1::100").octets(), "old saddr");
    assert_eq!(&um[32..48], &a("2001:db8:1::2").octets(), "new daddr");
    assert_eq!(&um[48..64], &a("2001:db8:a::100").octets(), "new saddr");
    assert_eq!((um[64], um[65]), (50, 1), "esp, tunnel");
    assert_eq!(u32::from_ne_bytes(um[68..72].try_into().unwrap()), 11);
    assert_eq!(u16::from_ne_bytes([um[72], um[73]]), 10);
    assert_eq!(u16::from_ne_bytes([um[74], um[75]]), 10);
    assert_eq!(u16::from_ne_bytes([buf[144], buf[145]]), 4 + 40);
    assert_eq!(
        u16::from_ne_bytes([buf[146], buf[147]]),
        19,
        "XFRMA_KMADDRESS"
    );
    assert_eq!(&buf[148..164], &a("2001:db8:a::100").octets(), "km local");
    // XFRMA_POLICY_TYPE main.
    assert_eq!(u16::from_ne_bytes([buf[190], buf[191]]), 16);
    assert_eq!(buf[192], 0);
}

/// An ESP template: proto 50 in `id`, reqid at 40, mode at 48, required.
#[test]
fn esp_template_layout() {
    use super::types::XfrmMode;
    let p = XfrmPolicy::new(
        Selector::hosts(a("2001:db8:1::100"), a("2001:db8:1::2")).mh_type(5),
        PolicyDir::Out,
        PolicyType::Main,
        2,
    )
    .tmpl(Template::ipsec(
        XfrmProto::Esp,
        XfrmMode::Transport,
        Ipv6Addr::UNSPECIFIED,
        Ipv6Addr::UNSPECIFIED,
        11,
    ));
    let m = p.to_nl();
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    let t = &buf[172..236];
    assert_eq!(t[20], 50, "tmpl id.proto esp");
    assert_eq!(
        u32::from_ne_bytes(t[44..48].try_into().unwrap()),
        11,
        "reqid"
    );
    assert_eq!((t[48], t[50]), (0, 0), "mode transport, required");
    assert_eq!(buf[240], 0, "main type");
    let back = PolicyModifyMessage::parse(&buf[..]).unwrap();
    assert_eq!(XfrmPolicy::from_nl(&back), Some(p));
}
