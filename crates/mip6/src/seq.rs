//! Binding Update sequence numbers: 16 bits compared in a circular space
//! (RFC 6275 §9.5.1, "modulo 2**16 ... less than if the difference is less
//! than 2**15", the same rule as TCP sequence numbers, RFC 1982 style).

/// True if `a` is greater than `b`: `a` lies in the 2^15 − 1 values after `b`
/// (modulo 2^16). Exactly half the circle apart is neither greater nor less.
pub fn seq_greater(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000
}

/// True if `a` is less than `b` in the circular order.
pub fn seq_less(a: u16, b: u16) -> bool {
    seq_greater(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_of_rfc6275_9_5_1() {
        assert!(seq_greater(1, 0));
        assert!(seq_greater(0, 0xffff)); // wrap-around
        assert!(seq_greater(0x7fff, 0));
        assert!(!seq_greater(0x8000, 0)); // half the circle: not greater
        assert!(!seq_greater(0x8001, 0)); // in the past
        assert!(!seq_greater(5, 5));
        assert!(seq_less(0xfff0, 0x0010));
    }

    proptest! {
        #[test]
        fn antisymmetric(a in any::<u16>(), b in any::<u16>()) {
            prop_assert!(!(seq_greater(a, b) && seq_greater(b, a)));
            prop_assert!(seq_greater(a.wrapping_add(1), a));
            if a != b && a.wrapping_sub(b) != 0x8000 {
                prop_assert!(seq_greater(a, b) ^ seq_greater(b, a));
            }
        }
    }
}
