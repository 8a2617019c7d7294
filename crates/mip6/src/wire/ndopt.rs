//! Neighbor discovery options (RFC 4861 §4.6) with the Mobile IPv6 additions
//! (RFC 6275 §7.2–§7.4): the codec lives in [`wire6::ndopt`], shared with
//! Teredo; its errors become [`WireError`]s.

pub use wire6::ndopt::*;

use super::WireError;

impl From<NdOptError> for WireError {
    fn from(e: NdOptError) -> Self {
        match e {
            NdOptError::Truncated => WireError::Truncated,
            NdOptError::TruncatedOption => WireError::TruncatedOption,
            NdOptError::BadOptionLength { ty, len } => WireError::BadOptionLength { ty, len },
            NdOptError::ZeroLengthOption => WireError::ZeroLengthOption,
            NdOptError::TooLong => WireError::TooLong,
        }
    }
}
