//! Fuzz the UDP offload bookkeeping of the Teredo socket
//! (`miredo::udp::runs`): the GRO split of a received buffer and the GSO
//! grouping of a send batch, the paths where one buffer carries several
//! Teredo datagrams (RFC 4380 §5.2 checks each one: none may be lost,
//! merged or cut wrong).
#![no_main]

#[path = "common/input.rs"]
mod input;

use std::net::{Ipv4Addr, SocketAddrV4};

use input::Input;
use libfuzzer_sys::fuzz_target;
use miredo::udp::runs::{group_runs, split_gro, Run, MAX_MESSAGE, MAX_SEGMENTS};

fuzz_target!(|data: &[u8]| {
    // GRO: the first two octets are the segment size, the rest the buffer.
    let (head, buf) = data.split_at(data.len().min(2));
    let segment = usize::from(u16::from_be_bytes([
        head.first().copied().unwrap_or(0),
        head.get(1).copied().unwrap_or(0),
    ]));
    check_gro_split(buf, segment);

    // GSO: the same octets read as datagrams of a send batch.
    let mut input = Input::new(data);
    let count = usize::from(input.u8()) % 160;
    let mut list = Vec::with_capacity(count);
    let mut at = 0usize;
    for _ in 0..count {
        let d = input.u8();
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, d & 3), 3544);
        let mut len = usize::from(input.u16()) % 3000;
        if d & 0x40 != 0 {
            // Large datagrams reach the per-message byte cap quickly.
            len *= 22;
        }
        if d & 0x04 != 0 {
            at += 1; // a gap: not contiguous with the previous one
        }
        if d & 0x08 != 0 {
            at = 0; // a range that goes backwards
        }
        list.push((dst, at..at + len));
        at += len;
    }
    let mut runs = Vec::new();
    group_runs(&list, &mut runs);
    check_runs(&list, &runs);
});

fn check_gro_split(buf: &[u8], segment: usize) {
    let pieces: Vec<&[u8]> = split_gro(buf, segment).collect();
    assert!(!pieces.is_empty(), "every buffer holds one datagram at least");
    assert_eq!(pieces.concat(), buf, "the datagrams are the buffer, in order");
    let (last, rest) = pieces.split_last().expect("not empty");
    if segment == 0 || buf.len() <= segment {
        assert_eq!(pieces.len(), 1);
    } else {
        assert!(rest.iter().all(|p| p.len() == segment));
        assert!(!last.is_empty() && last.len() <= segment);
    }
}

fn check_runs(list: &[(SocketAddrV4, std::ops::Range<usize>)], runs: &[Run]) {
    // The runs give back exactly the datagrams, in order.
    let back: Vec<_> = runs
        .iter()
        .flat_map(|r| r.datagrams().map(move |b| (r.dst, b)))
        .collect();
    assert_eq!(back, list);
    for r in runs {
        assert!(r.count >= 1 && r.count <= MAX_SEGMENTS);
        if r.is_segmented() {
            assert!(r.segment > 0 && r.bytes.len() <= MAX_MESSAGE);
            // The receiver's GRO split cuts the run where the sender's
            // datagrams end.
            let buf = vec![0u8; r.bytes.len()];
            let sizes: Vec<_> = split_gro(&buf, r.segment).map(<[u8]>::len).collect();
            let want: Vec<_> = r.datagrams().map(|b| b.len()).collect();
            assert_eq!(sizes, want);
        } else {
            assert_eq!(r.segment, r.bytes.len());
        }
    }
}
