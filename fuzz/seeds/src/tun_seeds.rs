//! Seeds of the `tun_offload` target: an MTU byte, then a TUN read (virtio
//! header and a TCP/IPv6 super-segment) or records `[fix][len BE][packet]`
//! of segments to coalesce (see fuzz_targets/tun_offload.rs).

use crate::Seeds;

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// A TCP/IPv6 segment from port `sport`; length and checksum are left for
/// the target's fix-up (or ignored by the split).
fn tcp6(sport: u16, seq: u32, flags: u8, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 60 + payload_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8..10].copy_from_slice(&[0x20, 0x01]);
    p[23] = 1;
    p[24..28].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    p[39] = 2;
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&80u16.to_be_bytes());
    p[44..48].copy_from_slice(&seq.to_be_bytes());
    p[48..52].copy_from_slice(&1u32.to_be_bytes());
    p[52] = 5 << 4;
    p[53] = flags;
    p[54..56].copy_from_slice(&500u16.to_be_bytes());
    for (i, b) in p[60..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// `struct virtio_net_hdr` (native endian) for a TCP/IPv6 super-segment.
fn vnet_tcp6(gso_size: u16) -> Vec<u8> {
    let mut h = vec![1u8, 4];
    for v in [60u16, gso_size, 40, 16] {
        h.extend_from_slice(&v.to_ne_bytes());
    }
    h
}

fn records(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0u8];
    for p in packets {
        out.push(1);
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn flow(sport: u16, sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut seq = 1000u32;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let flags = if i + 1 == sizes.len() { ACK | PSH } else { ACK };
            let p = tcp6(sport, seq, flags, n);
            seq += n as u32;
            p
        })
        .collect()
}

pub(crate) fn tun_offload() -> Seeds {
    let mut read = vec![0u8];
    read.extend(vnet_tcp6(1220));
    read.extend(tcp6(4000, 1000, ACK | PSH, 3000));
    let a = flow(4000, &[1220, 1220, 1220, 300]);
    let b = flow(4001, &[1220, 1220]);
    let mixed = vec![a[0].clone(), b[0].clone(), a[1].clone(), b[1].clone()];
    let mut icmp = tcp6(4000, 0, 0, 8);
    icmp[6] = 58;
    vec![
        ("tso_read", read),
        ("one_flow", records(&a)),
        ("two_flows", records(&mixed)),
        ("icmp", records(&[icmp])),
    ]
}
