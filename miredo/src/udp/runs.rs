//! How datagrams map onto UDP segmentation offload messages, with no I/O:
//! the send side groups datagrams into runs (one `UDP_SEGMENT` message each),
//! the receive side cuts a `UDP_GRO` buffer back into its datagrams.
//!
//! Linux's UDP GSO (`UDP_SEGMENT`, udp(7)) sends one buffer as several
//! datagrams to one destination, all `segment` bytes long except the last,
//! which may be shorter; UDP GRO (`UDP_GRO`) hands a receiver several
//! datagrams of one sender in one buffer, cut the same way, with the segment
//! size in a control message. Each datagram stays a separate Teredo packet
//! (RFC 4380 §5.2): the offloads only change how many syscalls carry them.

use std::net::SocketAddrV4;
use std::ops::Range;

/// Most segments in one GSO message (the kernel's `UDP_MAX_SEGMENTS` on every
/// kernel with UDP GSO; newer kernels allow more, older ones refuse more).
pub const MAX_SEGMENTS: usize = 64;

/// Most bytes in one GSO message: an IPv4 datagram's 65535 less the IPv4 and
/// UDP headers (RFC 791, RFC 768), the kernel's limit for a GSO send too.
pub const MAX_MESSAGE: usize = 65507;

/// One datagram to send: its destination and where its payload lies in the
/// send buffer.
pub type Datagram = (SocketAddrV4, Range<usize>);

/// Consecutive datagrams sent as one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Destination of every datagram of the run.
    pub dst: SocketAddrV4,
    /// The run's bytes in the send buffer: the datagrams back to back.
    pub bytes: Range<usize>,
    /// Size of every datagram but the last, which may be shorter; equal to
    /// `bytes.len()` for a run of one.
    pub segment: usize,
    /// Number of datagrams.
    pub count: usize,
}

impl Run {
    /// True if the run needs a `UDP_SEGMENT` message (more than one datagram).
    pub fn is_segmented(&self) -> bool {
        self.count > 1
    }

    /// The datagrams of the run, as ranges of the send buffer.
    pub fn datagrams(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let step = self.segment.max(1);
        (0..self.count).map(move |i| {
            let start = self.bytes.start + i * step;
            start..(start + step).min(self.bytes.end)
        })
    }
}

/// Groups `datagrams` into runs, in order, appending to `runs`: a datagram
/// joins the previous one's run when it goes to the same destination, starts
/// where the run ends, and the run is not closed, that is when every
/// datagram so far has the run's segment size, this one is no longer, and the
/// run stays within [`MAX_SEGMENTS`] and [`MAX_MESSAGE`]. A shorter datagram
/// closes its run (only the last segment may be short). Empty datagrams are
/// runs of their own (a zero segment size means no segmentation).
pub fn group_runs(datagrams: &[Datagram], runs: &mut Vec<Run>) {
    // Whether the last run still takes datagrams.
    let mut open = false;
    for (dst, range) in datagrams {
        let len = range.end.saturating_sub(range.start);
        if open {
            if let Some(run) = runs.last_mut() {
                let joins = run.dst == *dst
                    && run.bytes.end == range.start
                    && len > 0
                    && len <= run.segment
                    && run.count < MAX_SEGMENTS
                    && run.bytes.len() + len <= MAX_MESSAGE;
                if joins {
                    run.bytes.end = range.end;
                    run.count += 1;
                    open = len == run.segment;
                    continue;
                }
            }
        }
        runs.push(Run {
            dst: *dst,
            bytes: range.start..range.start + len,
            segment: len,
            count: 1,
        });
        open = len > 0;
    }
}

/// The next datagram of a received buffer of `len` bytes that the kernel
/// may have coalesced at `segment` bytes (`UDP_GRO`; zero: not coalesced),
/// after the one that ended at `cursor` (`None`: the first). The first is
/// always yielded, even empty (an empty datagram is still one).
pub fn next_gro_datagram(
    len: usize,
    segment: usize,
    cursor: Option<usize>,
) -> Option<Range<usize>> {
    let start = cursor.unwrap_or(0);
    if cursor.is_some() && start >= len {
        return None;
    }
    let step = if segment == 0 { len } else { segment };
    Some(start..start.saturating_add(step).min(len))
}

/// The datagrams of a received buffer, cut as [`next_gro_datagram`] does.
pub fn split_gro(buf: &[u8], segment: usize) -> impl Iterator<Item = &[u8]> {
    let mut cursor = None;
    std::iter::from_fn(move || {
        let range = next_gro_datagram(buf.len(), segment, cursor)?;
        cursor = Some(range.end);
        buf.get(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(last: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, last), 3544)
    }

    /// Datagrams of `sizes` laid back to back from 0, to `dst(i)`.
    fn laid(sizes: &[usize], dst: impl Fn(usize) -> SocketAddrV4) -> Vec<Datagram> {
        let mut at = 0;
        let mut out = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            out.push((dst(i), at..at + n));
            at += n;
        }
        out
    }

    fn grouped(d: &[Datagram]) -> Vec<(SocketAddrV4, Range<usize>, usize, usize)> {
        let mut runs = Vec::new();
        group_runs(d, &mut runs);
        runs.into_iter()
            .map(|r| (r.dst, r.bytes, r.segment, r.count))
            .collect()
    }

    #[test]
    fn same_destination_equal_sizes_make_one_run() {
        let d = laid(&[100, 100, 100], |_| a(1));
        assert_eq!(grouped(&d), vec![(a(1), 0..300, 100, 3)]);
    }

    #[test]
    fn last_short_datagram_joins_and_closes_the_run() {
        let d = laid(&[100, 100, 40, 100], |_| a(1));
        assert_eq!(
            grouped(&d),
            vec![(a(1), 0..240, 100, 3), (a(1), 240..340, 100, 1)]
        );
    }

    #[test]
    fn a_longer_datagram_starts_a_new_run() {
        let d = laid(&[100, 200, 200], |_| a(1));
        assert_eq!(
            grouped(&d),
            vec![(a(1), 0..100, 100, 1), (a(1), 100..500, 200, 2)]
        );
    }

    #[test]
    fn destinations_split_runs() {
        let d = laid(&[100, 100, 100, 100], |i| a(1 + (i / 2) as u8));
        assert_eq!(
            grouped(&d),
            vec![(a(1), 0..200, 100, 2), (a(2), 200..400, 100, 2)]
        );
        // Alternating destinations: nothing to group.
        let d = laid(&[100, 100, 100], |i| a(1 + (i % 2) as u8));
        assert_eq!(grouped(&d).len(), 3);
    }

    #[test]
    fn non_contiguous_datagrams_are_not_grouped() {
        let d = vec![(a(1), 0..100), (a(1), 101..201), (a(1), 0..100)];
        assert_eq!(
            grouped(&d),
            vec![
                (a(1), 0..100, 100, 1),
                (a(1), 101..201, 100, 1),
                (a(1), 0..100, 100, 1)
            ]
        );
    }

    #[test]
    fn segment_and_byte_caps_start_new_runs() {
        let d = laid(&[10; 130], |_| a(1));
        assert_eq!(
            grouped(&d),
            vec![
                (a(1), 0..640, 10, 64),
                (a(1), 640..1280, 10, 64),
                (a(1), 1280..1300, 10, 2)
            ]
        );
        // 1400-byte datagrams: 46 fit in 65507 bytes (64400), the 47th not.
        let d = laid(&[1400; 47], |_| a(1));
        let g = grouped(&d);
        assert_eq!(g[0], (a(1), 0..46 * 1400, 1400, 46));
        assert_eq!(g[1], (a(1), 46 * 1400..47 * 1400, 1400, 1));
    }

    #[test]
    fn empty_datagrams_stand_alone() {
        let d = laid(&[0, 0, 10, 0], |_| a(1));
        assert_eq!(
            grouped(&d),
            vec![
                (a(1), 0..0, 0, 1),
                (a(1), 0..0, 0, 1),
                (a(1), 0..10, 10, 1),
                (a(1), 10..10, 0, 1)
            ]
        );
    }

    #[test]
    fn run_datagrams_and_gro_split_give_back_the_sizes() {
        let d = laid(&[100, 100, 40], |_| a(1));
        let mut runs = Vec::new();
        group_runs(&d, &mut runs);
        let ranges: Vec<_> = runs[0].datagrams().collect();
        assert_eq!(ranges, vec![0..100, 100..200, 200..240]);
        let buf = [7u8; 240];
        let sizes: Vec<_> = split_gro(&buf, 100).map(<[u8]>::len).collect();
        assert_eq!(sizes, vec![100, 100, 40]);
        assert_eq!(split_gro(&buf, 0).count(), 1);
        assert_eq!(split_gro(&buf, 1000).count(), 1);
        assert_eq!(split_gro(&[], 0).map(<[u8]>::len).collect::<Vec<_>>(), [0]);
    }
}
