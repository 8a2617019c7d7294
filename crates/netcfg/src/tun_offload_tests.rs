//! Split and coalesce round trips over hand-built TCP/IPv6 packets, checked
//! with a checksum computed here (RFC 1071 sum, RFC 8200 §8.1 pseudo-header),
//! not with the code under test.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::tun_gro::TunSendBatch;

const SRC: [u8; 16] = [0x20, 0x01, 0, 0, 0xc0, 0, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 1];
const DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;
/// Timestamps option padded: NOP NOP TS(10).
const TS_OPTION: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

fn sum(data: &[u8], mut acc: u32) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo(packet: &[u8], proto: u8) -> u32 {
    let len = (packet.len() - 40) as u32;
    let mut acc = sum(&packet[8..40], 0);
    acc += len >> 16;
    acc += len & 0xffff;
    acc + u32::from(proto)
}

/// True when the transport checksum of an extension-free IPv6 packet is right.
fn checksum_ok(packet: &[u8]) -> bool {
    fold(sum(&packet[40..], pseudo(packet, packet[6]))) == 0xffff
}

struct Tcp<'a> {
    sport: u16,
    seq: u32,
    flags: u8,
    options: &'a [u8],
    payload: &'a [u8],
}

fn tcp6(t: &Tcp) -> Vec<u8> {
    let thl = 20 + t.options.len();
    let mut p = vec![0u8; 40 + thl + t.payload.len()];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((thl + t.payload.len()) as u16).to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8..24].copy_from_slice(&SRC);
    p[24..40].copy_from_slice(&DST);
    let h = &mut p[40..];
    h[0..2].copy_from_slice(&t.sport.to_be_bytes());
    h[2..4].copy_from_slice(&80u16.to_be_bytes());
    h[4..8].copy_from_slice(&t.seq.to_be_bytes());
    h[8..12].copy_from_slice(&7u32.to_be_bytes());
    h[12] = ((thl / 4) as u8) << 4;
    h[13] = t.flags;
    h[14..16].copy_from_slice(&500u16.to_be_bytes());
    h[20..thl].copy_from_slice(t.options);
    h[thl..].copy_from_slice(t.payload);
    let c = !fold(sum(&p[40..], pseudo(&p, 6)));
    p[56..58].copy_from_slice(&c.to_be_bytes());
    p
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A TSO frame as the kernel reads it out: virtio header with GSO_TCPV6,
/// partial checksum (the pseudo-header sum in the field).
fn super_segment(mss: u16, options: &[u8], data: &[u8], flags: u8) -> Vec<u8> {
    let mut p = tcp6(&Tcp {
        sport: 4000,
        seq: 1000,
        flags,
        options,
        payload: data,
    });
    let partial = fold(pseudo(&p, 6));
    p[56..58].copy_from_slice(&partial.to_be_bytes());
    let hdr = VirtioNetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: tun_rs::VIRTIO_NET_HDR_GSO_TCPV6,
        hdr_len: (60 + options.len()) as u16,
        gso_size: mss,
        csum_start: 40,
        csum_offset: 16,
    };
    let mut frame = vec![0u8; VNET_HDR_LEN];
    hdr.encode(&mut frame).unwrap();
    frame.extend_from_slice(&p);
    frame
}

fn tcp_payload(p: &[u8]) -> &[u8] {
    &p[40 + usize::from(p[52] >> 4) * 4..]
}

fn seq(p: &[u8]) -> u32 {
    u32::from_be_bytes(p[44..48].try_into().unwrap())
}

/// Splits `frame` and checks every segment; returns the segments.
fn split_checked(frame: &[u8], mtu: usize, data: &[u8]) -> Vec<Vec<u8>> {
    let mut batch = TunRecvBatch::new();
    let n = batch.split_frame(frame, mtu).unwrap();
    let segs: Vec<Vec<u8>> = batch.packets().map(<[u8]>::to_vec).collect();
    assert_eq!(segs.len(), n);
    let mut joined = Vec::new();
    let mut next_seq = 1000;
    for (i, s) in segs.iter().enumerate() {
        assert!(
            s.len() <= mtu,
            "segment {i} of {} bytes > MTU {mtu}",
            s.len()
        );
        assert!(checksum_ok(s), "segment {i} checksum");
        assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])), s.len() - 40);
        assert_eq!(seq(s), next_seq, "segment {i} sequence number");
        let last = i + 1 == segs.len();
        assert_eq!(
            s[53] & (PSH | FIN) != 0,
            last && frame[VNET_HDR_LEN + 53] & (PSH | FIN) != 0
        );
        next_seq += tcp_payload(s).len() as u32;
        joined.extend_from_slice(tcp_payload(s));
    }
    assert_eq!(joined, data, "payload bytes survive the split");
    segs
}

#[test]
fn super_segments_split_at_below_and_above_the_mtu() {
    for mtu in [1280usize, 1400] {
        let mss = (mtu - 60) as u16;
        let m = usize::from(mss);
        // Below one segment, exactly one, exactly three, three and a short last.
        for (len, want) in [
            (100, 1),
            (m, 1),
            (3 * m, 3),
            (3 * m + 17, 4),
            (65535 - 60, 54),
        ] {
            let data = payload(len);
            let segs = split_checked(&super_segment(mss, &[], &data, ACK | PSH), mtu, &data);
            if mtu == 1280 {
                assert_eq!(segs.len(), want, "{len} bytes at MSS {mss}");
            }
            assert!(segs[..segs.len() - 1].iter().all(|s| s.len() == mtu));
        }
    }
}

#[test]
fn a_segment_size_above_the_mtu_is_cut_to_it() {
    let data = payload(5000);
    let segs = split_checked(&super_segment(1440, &[], &data, ACK), 1280, &data);
    assert_eq!(segs.len(), 5);
    assert_eq!(segs[0].len(), 1280);
    // MTU below the headers: refused, not wrapped.
    let mut batch = TunRecvBatch::new();
    assert!(batch
        .split_frame(&super_segment(1440, &[], &data, ACK), 50)
        .is_err());
    assert!(batch.is_empty());
}

#[test]
fn tcp_options_are_copied_into_every_segment() {
    let data = payload(4000);
    let frame = super_segment(1208, &TS_OPTION, &data, ACK | FIN);
    let segs = split_checked(&frame, 1280, &data);
    assert_eq!(segs.len(), 4);
    for s in &segs {
        assert_eq!(s[52] >> 4, 8, "data offset 32 bytes");
        assert_eq!(&s[60..72], &TS_OPTION);
    }
}

#[test]
fn a_partial_checksum_is_completed_on_a_single_packet() {
    let data = payload(300);
    let mut frame = super_segment(1220, &[], &data, ACK);
    frame[1] = GSO_NONE;
    let mut batch = TunRecvBatch::new();
    assert_eq!(batch.split_frame(&frame, 1280).unwrap(), 1);
    let p: Vec<&[u8]> = batch.packets().collect();
    assert_eq!(p.len(), 1);
    assert!(checksum_ok(p[0]));
    assert_eq!(tcp_payload(p[0]), &data[..]);
    // Without NEEDS_CSUM the packet is passed exactly as read.
    frame[0] = 0;
    batch.split_frame(&frame, 1280).unwrap();
    assert_eq!(batch.packets().next().unwrap(), &frame[VNET_HDR_LEN..]);
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    let data = payload(3000);
    let good = super_segment(1220, &[], &data, ACK);
    let mut batch = TunRecvBatch::new();
    let mut zero_size = good.clone();
    zero_size[4..6].fill(0);
    let mut bad_version = good.clone();
    bad_version[VNET_HDR_LEN] = 0x50;
    let mut bad_type = good.clone();
    bad_type[1] = 9;
    let mut bad_offset = good.clone();
    bad_offset[8] = 3;
    for (what, frame) in [
        ("gso_size 0", &zero_size[..]),
        ("version 5", &bad_version[..]),
        ("gso_type 9", &bad_type[..]),
        ("csum_offset 3", &bad_offset[..]),
        ("truncated TCP header", &good[..VNET_HDR_LEN + 50]),
        ("header only", &good[..VNET_HDR_LEN]),
    ] {
        assert!(batch.split_frame(frame, 1280).is_err(), "{what}");
        assert!(batch.is_empty(), "{what}");
    }
}

/// Whichever queued packet starts a super-segment, the batch keeps only as
/// many 64 KiB buffers as one batch had super-segments: a daemon's memory
/// does not grow with every slot that once led a flow.
#[test]
fn super_segment_buffers_do_not_grow_with_the_slots_that_led_one() {
    let mut batch = TunSendBatch::new();
    for k in 1..64 {
        let mut packets = segments(4000, 1000, &vec![1220; k], &[]);
        packets.extend(segments(4000, 900_000, &vec![1220; 64 - k], &[]));
        for p in &packets {
            batch.push(p);
        }
        batch.coalesce(false);
        // Two flows' worth of segments; one part may pass 64 KiB and split.
        let frames = batch.frames().count();
        assert!((2..=3).contains(&frames), "k = {k}: {frames} frames");
        batch.clear();
    }
    let small = 64 * (VNET_HDR_LEN + 2048);
    let supers = 3 * (VNET_HDR_LEN + 65535);
    assert!(
        batch.retained_bytes() <= small + supers,
        "{} bytes kept, at most {} expected",
        batch.retained_bytes(),
        small + supers
    );
}

fn segments(sport: u16, seq0: u32, sizes: &[usize], options: &[u8]) -> Vec<Vec<u8>> {
    let mut seq = seq0;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let data = payload(n);
            let last = i + 1 == sizes.len();
            let p = tcp6(&Tcp {
                sport,
                seq,
                flags: if last { ACK | PSH } else { ACK },
                options,
                payload: &data,
            });
            seq += n as u32;
            p
        })
        .collect()
}

/// Coalesces `packets`; returns the frames to write.
fn coalesce(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut batch = TunSendBatch::new();
    for p in packets {
        batch.push(p);
    }
    assert_eq!(batch.len(), packets.len());
    batch.coalesce(false);
    let frames = batch.frames().map(<[u8]>::to_vec).collect();
    batch.clear();
    assert!(batch.is_empty());
    frames
}

#[test]
fn segments_of_one_flow_coalesce_and_split_back_unchanged() {
    for (sizes, options) in [
        (vec![1220, 1220, 1220, 1220, 500], &[][..]),
        (vec![1208, 1208, 1208], &TS_OPTION[..]),
        (vec![1220; 40], &[][..]),
    ] {
        let segs = segments(4000, 1000, &sizes, options);
        let frames = coalesce(&segs);
        assert_eq!(
            frames.len(),
            1,
            "one super-segment for {} segments",
            sizes.len()
        );
        let hdr = VirtioNetHdr::decode(&frames[0]).unwrap();
        assert_eq!(hdr.gso_type, tun_rs::VIRTIO_NET_HDR_GSO_TCPV6);
        assert_eq!(usize::from(hdr.gso_size), sizes[0]);
        assert_eq!(hdr.flags, F_NEEDS_CSUM);
        let merged = &frames[0][VNET_HDR_LEN..];
        assert_eq!(
            u16::from_be_bytes([merged[56], merged[57]]),
            fold(pseudo(merged, 6)),
            "partial checksum: the pseudo-header sum of the whole super-segment"
        );
        let data: Vec<u8> = segs.iter().flat_map(|s| tcp_payload(s).to_vec()).collect();
        let back = split_checked(&frames[0], 1280, &data);
        assert_eq!(back, segs, "split(coalesce(x)) == x");
    }
}

#[test]
fn interleaved_flows_coalesce_each_on_its_own() {
    let a = segments(4000, 1000, &[1220, 1220, 1220], &[]);
    let b = segments(4001, 9000, &[1220, 1220], &[]);
    let mixed = vec![
        a[0].clone(),
        b[0].clone(),
        a[1].clone(),
        b[1].clone(),
        a[2].clone(),
    ];
    let frames = coalesce(&mixed);
    assert_eq!(frames.len(), 2);
    let lens: Vec<usize> = frames.iter().map(|f| f.len() - VNET_HDR_LEN).collect();
    assert_eq!(lens, [60 + 3 * 1220, 60 + 2 * 1220]);
    assert_eq!(
        u16::from_be_bytes([frames[0][VNET_HDR_LEN + 40], frames[0][VNET_HDR_LEN + 41]]),
        4000
    );
}

#[test]
fn a_gap_a_bad_checksum_or_other_protocols_are_not_merged() {
    let mut segs = segments(4000, 1000, &[1220, 1220, 1220], &[]);
    // A gap in sequence numbers starts a new super-segment.
    let gap = segments(4000, 1000 + 3 * 1220 + 1, &[1220], &[]);
    segs.extend(gap);
    assert_eq!(coalesce(&segs).len(), 2);

    // A segment with a wrong checksum goes out alone, as it came in.
    let mut segs = segments(4000, 1000, &[1220, 1220, 1220], &[]);
    segs[1][100] ^= 0xff;
    let frames = coalesce(&segs);
    assert!(frames.iter().any(|f| f[VNET_HDR_LEN..] == segs[1][..]));

    // ICMPv6 and UDP: untouched, plain header.
    let mut icmp = segments(4000, 1000, &[64], &[])[0].clone();
    icmp[6] = 58;
    let mut udp = icmp.clone();
    udp[6] = 17;
    let frames = coalesce(&[icmp.clone(), udp.clone(), udp.clone()]);
    assert_eq!(frames.len(), 3);
    for (f, p) in frames.iter().zip([&icmp, &udp, &udp]) {
        assert_eq!(&f[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
        assert_eq!(&f[VNET_HDR_LEN..], &p[..]);
    }
}

#[test]
fn buffers_are_reused_across_batches() {
    let segs = segments(4000, 1000, &[1220; 8], &[]);
    let mut batch = TunSendBatch::new();
    for _ in 0..3 {
        for p in &segs {
            batch.push(p);
        }
        batch.coalesce(false);
        assert_eq!(batch.frames().count(), 1);
        batch.clear();
    }
    let plain: Vec<&[u8]> = {
        for p in &segs[..2] {
            batch.push(p);
        }
        batch.packets().collect()
    };
    assert_eq!(plain, [&segs[0][..], &segs[1][..]]);
}

/// A UDP/IPv6 datagram from `sport` to port 53 with a right checksum.
fn udp6(sport: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut p = vec![0u8; 40 + len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&SRC);
    p[24..40].copy_from_slice(&DST);
    p[40..42].copy_from_slice(&sport.to_be_bytes());
    p[42..44].copy_from_slice(&53u16.to_be_bytes());
    p[44..46].copy_from_slice(&(len as u16).to_be_bytes());
    p[48..].copy_from_slice(data);
    let c = !fold(sum(&p[40..], pseudo(&p, 17)));
    p[46..48].copy_from_slice(&c.to_be_bytes());
    p
}

/// Coalesces `packets` with UDP merging on; returns the frames to write.
fn coalesce_udp(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut batch = TunSendBatch::new();
    for p in packets {
        batch.push(p);
    }
    batch.coalesce(true);
    batch.frames().map(<[u8]>::to_vec).collect()
}

#[test]
fn udp_datagrams_of_one_flow_coalesce_and_split_back_unchanged() {
    for sizes in [vec![1200; 10], vec![1200, 1200, 500], vec![64; 64], vec![1]] {
        let grams: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| udp6(5000, &vec![i as u8; n]))
            .collect();
        let frames = coalesce_udp(&grams);
        assert_eq!(frames.len(), 1, "one super-datagram for {sizes:?}");
        let mut back = TunRecvBatch::new();
        back.split_frame(&frames[0], 1280).unwrap();
        let split: Vec<Vec<u8>> = back.packets().map(<[u8]>::to_vec).collect();
        assert_eq!(split, grams, "split(coalesce(x)) == x for {sizes:?}");
        if sizes.len() > 1 {
            let hdr = VirtioNetHdr::decode(&frames[0]).unwrap();
            assert_eq!(hdr.gso_type, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4);
            assert_eq!(usize::from(hdr.gso_size), sizes[0]);
            assert_eq!((hdr.csum_start, hdr.csum_offset), (40, 6));
        }
    }
}

#[test]
fn udp_merging_stops_at_the_kernels_segment_limit_and_a_shorter_datagram() {
    let grams: Vec<Vec<u8>> = (0..crate::tun_gro::MAX_UDP_SEGMENTS + 1)
        .map(|_| udp6(5000, &[7; 64]))
        .collect();
    assert_eq!(coalesce_udp(&grams).len(), 2);
    let mut grams = vec![udp6(5000, &[1; 500]), udp6(5000, &[2; 400])];
    grams.push(udp6(5000, &[3; 400]));
    let frames = coalesce_udp(&grams);
    assert_eq!(frames.len(), 2, "a shorter datagram ends a super-datagram");
    assert_eq!(&frames[1][VNET_HDR_LEN..], &grams[2][..]);
}

#[test]
fn udp_of_other_flows_bad_or_zero_checksums_or_without_uso_is_not_merged() {
    let a = udp6(5000, &[1; 300]);
    let other_port = udp6(5001, &[1; 300]);
    let mut bad = a.clone();
    bad[60] ^= 1;
    let mut zero = a.clone();
    zero[46..48].fill(0);
    let packets = [a.clone(), other_port.clone(), bad.clone(), zero.clone()];
    let frames = coalesce_udp(&packets);
    assert_eq!(frames.len(), 4);
    for (f, p) in frames.iter().zip(&packets) {
        assert_eq!(&f[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
        assert_eq!(&f[VNET_HDR_LEN..], &p[..]);
    }
    // Without UDP segmentation on the TUN, even a perfect run stays apart.
    assert_eq!(coalesce(&[a.clone(), a.clone(), a]).len(), 3);
}
