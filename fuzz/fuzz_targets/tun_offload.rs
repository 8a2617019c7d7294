#![no_main]
//! The TUN offload paths (crates/netcfg/src/tun_offload.rs, tun_gro.rs):
//! cutting what a read returned (virtio-net header and a super-segment)
//! into MTU-sized packets, and coalescing packets bound for the TUN.
//!
//! Input: one byte choosing the MTU (and, its low bit, whether UDP
//! datagrams are merged too), then either a raw read (split) or
//! records `[fix: u8][len: u16 BE][packet]` (coalesce); every input is tried
//! both ways. Checked: no panic; TCP pieces fit the MTU; and coalescing
//! loses, invents and alters nothing: cutting every written frame up again
//! gives back exactly the packets pushed (as a multiset), so no packet can
//! pass merged that would not have passed alone (a corrupt segment is never
//! given a fresh checksum).
use libfuzzer_sys::fuzz_target;
use netcfg::tun_offload::VNET_HDR_LEN;
use netcfg::{TunRecvBatch, TunSendBatch};

/// One's-complement sum (RFC 1071) of `data` onto `acc`.
fn sum(data: &[u8], mut acc: u32) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Makes a record's packet a well-formed TCP/IPv6 segment or UDP/IPv6
/// datagram where it can: payload length, UDP length and checksum (RFC
/// 8200 §3, §8.1; RFC 768) set right, so that the fuzzer reaches the
/// merging code.
fn fix_up(p: &mut [u8]) {
    if p.len() < 48 || p[0] >> 4 != 6 {
        return;
    }
    let len = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&len.to_be_bytes());
    let at = match p[6] {
        6 if p.len() >= 60 => 56,
        17 => {
            p[44..46].copy_from_slice(&len.to_be_bytes());
            46
        }
        _ => return,
    };
    p[at] = 0;
    p[at + 1] = 0;
    let mut acc = sum(&p[8..40], u32::from(len) + u32::from(p[6]));
    acc = sum(&p[40..], acc);
    let ck = !(acc as u16);
    p[at..at + 2].copy_from_slice(&ck.to_be_bytes());
}

/// A checksum of 0xffff and of 0x0000 are the same one's-complement zero;
/// compare packets with one spelling.
fn canonical(mut p: Vec<u8>) -> Vec<u8> {
    let at = match p.get(6) {
        Some(6) => 56,
        Some(17) => 46,
        _ => return p,
    };
    if p.len() >= at + 2 && p[0] >> 4 == 6 && p[at..at + 2] == [0xff, 0xff] {
        p[at..at + 2].fill(0);
    }
    p
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let mtu = 1280 + usize::from(m) * 8;

    // A raw read.
    let mut rx = TunRecvBatch::new();
    if let Ok(n) = rx.split_frame(rest, mtu) {
        assert_eq!(n, rx.len());
        let tcp_gso = rest.len() > 1 && matches!(rest[1] & 0x7f, 1 | 4);
        for p in rx.packets() {
            assert!(p.len() <= rest.len());
            if tcp_gso {
                assert!(p.len() <= mtu, "{}-byte piece, MTU {mtu}", p.len());
            }
        }
    } else {
        assert!(rx.is_empty());
    }

    // Records to coalesce.
    let mut pushed = Vec::new();
    let mut tx = TunSendBatch::new();
    let mut r = rest;
    while let [fix, hi, lo, tail @ ..] = r {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let mut p = tail[..len].to_vec();
        if fix & 1 != 0 {
            fix_up(&mut p);
        }
        r = &tail[len..];
        if p.is_empty() {
            continue;
        }
        tx.push(&p);
        pushed.push(canonical(p));
    }
    tx.coalesce(m & 1 == 1);
    let mut back = Vec::new();
    for frame in tx.frames() {
        assert!(frame.len() > VNET_HDR_LEN);
        let n = rx
            .split_frame(frame, usize::MAX)
            .unwrap_or_else(|e| panic!("a written frame does not split: {e}"));
        assert!(n > 0);
        back.extend(rx.packets().map(|p| canonical(p.to_vec())));
    }
    pushed.sort();
    back.sort();
    assert!(pushed == back, "coalescing changed the packets");
});
