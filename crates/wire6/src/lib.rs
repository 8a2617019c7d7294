//! IPv6 wire pieces that both sans-IO cores (`teredo` and `mip6`) need: the
//! upper-layer checksum over the IPv6 pseudo-header ([`checksum`]), neighbor
//! discovery options with the Prefix Information option ([`ndopt`]), and the
//! kernel's interface-name limit ([`IF_NAME_MAX`]).
//!
//! Like the cores, nothing here does I/O.

#![forbid(unsafe_code)]
pub mod checksum;
pub mod ndopt;

/// Longest interface name Linux accepts: `IFNAMSIZ` (16) minus the
/// terminating NUL. Longer names are refused or cut to this many bytes.
pub const IF_NAME_MAX: usize = 15;
