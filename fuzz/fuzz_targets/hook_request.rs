//! Fuzzes the root hook runner's request decoder (`miredo::hook::request`), the
//! only code that reads what the unprivileged daemon sends to root. It must not
//! panic; what it accepts must pass the checks, encode back to the same bytes,
//! and give a hook environment of the known variables with plain values. The
//! input is also read as a stream of frames, as the runner reads its socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miredo::hook::request::{check, decode, decode_body, encode, Header, HEADER_LEN};

const VARS: [&str; 10] = [
    "STATE",
    "OLD_STATE",
    "IFACE",
    "IFINDEX",
    "ADDRESS",
    "LLADDRESS",
    "MTU",
    "OLD_ADDRESS",
    "OLD_LLADDRESS",
    "OLD_MTU",
];

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = decode(data) {
        assert_eq!(check(&ev), Ok(()));
        assert_eq!(encode(&ev), data, "not canonical: {ev:?}");
        for (k, v) in ev.env() {
            assert!(VARS.contains(&k.as_str()), "unknown variable {k}");
            assert!(
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic()),
                "{k}={v:?}"
            );
        }
    }
    // The runner's view: header, then exactly the stated body, again and again.
    let mut rest = data;
    while let Some((head, tail)) = rest.split_first_chunk::<HEADER_LEN>() {
        let h = Header::parse(*head);
        let Some((body, next)) = tail.split_at_checked(h.len) else {
            break;
        };
        if let Ok(ev) = decode_body(h, body) {
            assert_eq!(check(&ev), Ok(()));
        }
        rest = next;
    }
});
