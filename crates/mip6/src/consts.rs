//! Protocol numbers, status codes and timers of Mobile IPv6 (RFC 6275 §6.1,
//! §12) and NEMO (RFC 3963), with the values UMIP uses (docs/protocol-notes.md#constants).

use std::fmt;
use std::time::Duration;

/// IPv6 next-header value of the Mobility Header (RFC 6275 §6.1).
pub const IPPROTO_MH: u8 = 135;
/// IPv6 next-header value "no next header" (RFC 8200 §4.7), the only payload
/// protocol a Mobility Header may carry (RFC 6275 §6.1.1).
pub const IPPROTO_NONE: u8 = 59;
/// IPv6 next-header value of a Destination Options header (RFC 8200 §4.6).
pub const IPPROTO_DSTOPTS: u8 = 60;
/// IPv6 next-header value of a Routing header (RFC 8200 §4.4).
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 next-header value of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// Offset of the checksum inside a Mobility Header: what `IPV6_CHECKSUM` is set
/// to on the MH raw socket so the kernel fills and verifies it.
pub const MH_CHECKSUM_OFFSET: usize = 4;

/// Binding Refresh Advice and lifetimes are carried in units of 4 seconds.
pub const LIFETIME_UNIT_SECS: u32 = 4;
/// Largest binding lifetime expressible on the wire: 0xffff × 4 s.
pub const MAX_BINDING_LIFETIME_SECS: u32 = 0xffff * LIFETIME_UNIT_SECS;

/// RFC 6275 §12 `DHAAD_RETRIES`.
pub const DHAAD_RETRIES: u32 = 4;
/// RFC 6275 §12 `INITIAL_BINDACK_TIMEOUT` (UMIP `InitialBindackTimeoutReReg`
/// default): first retransmission delay of a re-registration BU.
pub const INITIAL_BINDACK_TIMEOUT: Duration = Duration::from_secs(1);
/// UMIP `InitialBindackTimeoutFirstReg` default: first retransmission delay
/// of a first home registration (RFC 6275 §11.7.1 `InitialBindackTimeoutFirstReg`).
pub const INITIAL_BINDACK_TIMEOUT_FIRST_REG: Duration = Duration::from_millis(1500);
/// RFC 6275 §12 `INITIAL_DHAAD_TIMEOUT`.
pub const INITIAL_DHAAD_TIMEOUT: Duration = Duration::from_secs(3);
/// RFC 6275 §12 `INITIAL_SOLICIT_TIMER` (UMIP `InitialSolicitTimer` default).
pub const INITIAL_SOLICIT_TIMER: Duration = Duration::from_secs(3);
/// RFC 6275 §12 `MAX_BINDACK_TIMEOUT`: cap of the BU retransmission back-off.
pub const MAX_BINDACK_TIMEOUT: Duration = Duration::from_secs(32);
/// RFC 6275 §12 `MAX_NONCE_LIFETIME`.
pub const MAX_NONCE_LIFETIME: Duration = Duration::from_secs(240);
/// RFC 6275 §12 `MAX_TOKEN_LIFETIME`.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(210);
/// RFC 6275 §12 `MAX_RR_BINDING_LIFETIME`: cap of a correspondent binding.
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);
/// RFC 6275 §12 `PREFIX_ADV_RETRIES`.
pub const PREFIX_ADV_RETRIES: u32 = 3;
/// RFC 6275 §12 `PREFIX_ADV_TIMEOUT`.
pub const PREFIX_ADV_TIMEOUT: Duration = Duration::from_secs(3);
/// UMIP `MN_TEST_INIT_DELAY`: first HoTI/CoTI retransmission delay.
pub const MN_TEST_INIT_DELAY: Duration = Duration::from_secs(5);
/// UMIP: how long an HA that rejected a BU is considered unusable, and the
/// lifetime of a non-MIPv6 CN entry.
pub const HA_UNUSABLE_TIME: Duration = Duration::from_secs(420);
/// UMIP `MnMaxHaConsecutiveResends` default: BU resends before a
/// DHAAD-learned HA is abandoned.
pub const MN_MAX_HA_CONSECUTIVE_RESENDS: u32 = 5;
/// UMIP: DAD wait of the MN returning home and of the HA's proxy DAD.
pub const DAD_WAIT: Duration = Duration::from_secs(1);
/// Home BU refresh point, in percent of the granted lifetime.
pub const BU_REFRESH_PERCENT: u32 = 95;
/// First Mobile Prefix Solicitation, in percent of the binding lifetime.
pub const FIRST_MPS_PERCENT: u32 = 90;

/// Mobility Header message types (RFC 6275 §6.1.2–§6.1.9).
pub mod mh_type {
    /// Binding Refresh Request (§6.1.2).
    pub const BRR: u8 = 0;
    /// Home Test Init (§6.1.3).
    pub const HOTI: u8 = 1;
    /// Care-of Test Init (§6.1.4).
    pub const COTI: u8 = 2;
    /// Home Test (§6.1.5).
    pub const HOT: u8 = 3;
    /// Care-of Test (§6.1.6).
    pub const COT: u8 = 4;
    /// Binding Update (§6.1.7).
    pub const BU: u8 = 5;
    /// Binding Acknowledgement (§6.1.8).
    pub const BA: u8 = 6;
    /// Binding Error (§6.1.9).
    pub const BE: u8 = 7;
}

/// Mobility option types (RFC 6275 §6.2, RFC 3963 §4.3).
pub mod mh_opt {
    /// Pad1 (§6.2.2).
    pub const PAD1: u8 = 0;
    /// PadN (§6.2.3).
    pub const PADN: u8 = 1;
    /// Binding Refresh Advice (§6.2.4).
    pub const BINDING_REFRESH_ADVICE: u8 = 2;
    /// Alternate Care-of Address (§6.2.5).
    pub const ALTERNATE_COA: u8 = 3;
    /// Nonce Indices (§6.2.6).
    pub const NONCE_INDICES: u8 = 4;
    /// Binding Authorization Data (§6.2.7).
    pub const BINDING_AUTH_DATA: u8 = 5;
    /// Mobile Network Prefix (RFC 3963 §4.3).
    pub const MOBILE_NETWORK_PREFIX: u8 = 6;
}

/// Status of a Binding Acknowledgement (RFC 6275 §6.1.8, RFC 3963 §4.2).
/// Values below 128 accept the binding; 128 and above reject it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaStatus(pub u8);

impl BaStatus {
    /// 0: Binding Update accepted.
    pub const ACCEPTED: BaStatus = BaStatus(0);
    /// 1: Accepted but prefix discovery necessary.
    pub const PREFIX_DISCOVERY_NECESSARY: BaStatus = BaStatus(1);
    /// 128: Reason unspecified.
    pub const REASON_UNSPECIFIED: BaStatus = BaStatus(128);
    /// 129: Administratively prohibited.
    pub const ADMIN_PROHIBITED: BaStatus = BaStatus(129);
    /// 130: Insufficient resources.
    pub const INSUFFICIENT_RESOURCES: BaStatus = BaStatus(130);
    /// 131: Home registration not supported.
    pub const HOME_REGISTRATION_NOT_SUPPORTED: BaStatus = BaStatus(131);
    /// 132: Not home subnet.
    pub const NOT_HOME_SUBNET: BaStatus = BaStatus(132);
    /// 133: Not home agent for this mobile node.
    pub const NOT_HOME_AGENT: BaStatus = BaStatus(133);
    /// 134: Duplicate Address Detection failed.
    pub const DAD_FAILED: BaStatus = BaStatus(134);
    /// 135: Sequence number out of window.
    pub const SEQUENCE_OUT_OF_WINDOW: BaStatus = BaStatus(135);
    /// 136: Expired home nonce index.
    pub const EXPIRED_HOME_NONCE: BaStatus = BaStatus(136);
    /// 137: Expired care-of nonce index.
    pub const EXPIRED_CAREOF_NONCE: BaStatus = BaStatus(137);
    /// 138: Expired nonces.
    pub const EXPIRED_NONCES: BaStatus = BaStatus(138);
    /// 139: Registration type change disallowed.
    pub const REGISTRATION_TYPE_CHANGE: BaStatus = BaStatus(139);
    /// 140: Mobile Router Operation not permitted (RFC 3963).
    pub const MOBILE_ROUTER_NOT_PERMITTED: BaStatus = BaStatus(140);
    /// 141: Invalid Prefix (RFC 3963).
    pub const INVALID_PREFIX: BaStatus = BaStatus(141);
    /// 142: Not Authorized for Prefix (RFC 3963).
    pub const NOT_AUTHORIZED_FOR_PREFIX: BaStatus = BaStatus(142);
    /// 143: Forwarding Setup failed (RFC 3963).
    pub const FORWARDING_SETUP_FAILED: BaStatus = BaStatus(143);

    /// True for the accepting statuses (0–127).
    pub fn is_accepted(self) -> bool {
        self.0 < 128
    }

    /// The text UMIP logs for this status (`mh_ba_status_str`).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "Binding Update accepted",
            1 => "Accepted but prefix discovery necessary",
            128 => "Reason unspecified",
            129 => "Administratively prohibited",
            130 => "Insufficient resources",
            131 => "Home registration not supported",
            132 => "Not home subnet",
            133 => "Not home agent for this mobile node",
            134 => "Duplicate Address Detection failed",
            135 => "Sequence number out of window",
            136 => "Expired home nonce index",
            137 => "Expired care-of nonce index",
            138 => "Expired nonces",
            139 => "Registration type change disallowed",
            140 => "Mobile Router Operation not permitted",
            141 => "Invalid Prefix",
            142 => "Not Authorized for Prefix",
            143 => "Forwarding Setup failed",
            _ => "unknown",
        }
    }
}

impl fmt::Display for BaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

/// Status of a Binding Error (RFC 6275 §6.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BeStatus(pub u8);

impl BeStatus {
    /// 1: Unknown binding for Home Address destination option.
    pub const UNKNOWN_BINDING_FOR_HAO: BeStatus = BeStatus(1);
    /// 2: Unrecognized MH Type value.
    pub const UNRECOGNIZED_MH_TYPE: BeStatus = BeStatus(2);

    /// A human-readable name.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "Unknown binding for Home Address destination option",
            2 => "Unrecognized MH Type value",
            _ => "unknown",
        }
    }
}

impl fmt::Display for BeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_ba_status_of_rfc6275_and_rfc3963_has_a_name() {
        for code in [0u8, 1].into_iter().chain(128..=143) {
            assert_ne!(BaStatus(code).name(), "unknown", "{code}");
        }
        assert_eq!(BaStatus(2).name(), "unknown");
        assert_eq!(BaStatus(144).name(), "unknown");
        assert!(BaStatus::PREFIX_DISCOVERY_NECESSARY.is_accepted());
        assert!(!BaStatus::REASON_UNSPECIFIED.is_accepted());
        assert_eq!(
            BaStatus::SEQUENCE_OUT_OF_WINDOW.to_string(),
            "135 (Sequence number out of window)"
        );
    }

    #[test]
    fn timers_match_rfc6275_section_12() {
        assert_eq!(INITIAL_BINDACK_TIMEOUT, Duration::from_secs(1));
        assert_eq!(MAX_BINDACK_TIMEOUT, Duration::from_secs(32));
        assert_eq!(MAX_BINDING_LIFETIME_SECS, 262_140);
        assert_eq!(
            BeStatus::UNRECOGNIZED_MH_TYPE.name(),
            "Unrecognized MH Type value"
        );
    }
}
