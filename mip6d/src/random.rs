//! The daemon's one source of random numbers (the OS's, through
//! `getrandom`). Without entropy it never fails loudly; what it hands out
//! instead depends on what the number is for:
//!
//! - [`secret`]: all zeros, which a caller holding a secret (Kcn, RFC 6275
//!   §5.2.1) checks for and refuses; cookies and nonces are merely
//!   predictable then;
//! - [`weak_u16`], [`weak_u64`]: bytes from the clock and the PID, for
//!   sequence numbers and spreading timers, never for secrets.

/// Random bytes, or `None` without entropy.
fn os_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).ok().map(|()| b)
}

/// Random bytes for keys, cookies and nonces; all zeros without entropy.
pub fn secret<const N: usize>() -> [u8; N] {
    os_bytes().unwrap_or([0; N])
}

/// Random bytes, or without entropy bytes from the clock and the PID.
fn weak<const N: usize>() -> [u8; N] {
    os_bytes().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed = (t ^ std::process::id()).to_be_bytes();
        let mut b = [0u8; N];
        for (i, x) in b.iter_mut().enumerate() {
            *x = seed[i % seed.len()];
        }
        b
    })
}

/// A random 16-bit number (initial BU sequence numbers, RFC 6275 §11.7.1).
pub fn weak_u16() -> u16 {
    u16::from_be_bytes(weak())
}

/// A random 64-bit number (delays spread over a window).
pub fn weak_u64() -> u64 {
    u64::from_be_bytes(weak())
}
