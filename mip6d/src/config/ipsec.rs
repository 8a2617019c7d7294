//! The IPsec part of the model: `IPsecPolicySet` blocks and their policies
//! (RFC 6275 §5.1, RFC 4877), with UMIP's traffic classes as bit sets so that
//! overlapping policies can be found.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use super::prefix::Prefix;

/// The traffic an `IPsecPolicy` protects (`ipsec.h` bit sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpsecPolicyType {
    /// BU/BA.
    HomeRegBinding,
    /// Every Mobility Header message, BE included.
    Mh,
    /// Mobile prefix solicitation/advertisement.
    MobPfxDisc,
    /// All ICMPv6 (MPD and ND included).
    #[serde(rename = "ICMP")]
    Icmp,
    /// All transport-mode traffic.
    #[serde(rename = "any")]
    Any,
    /// HoTI/HoT in tunnel mode.
    TunnelHomeTesting,
    /// All tunnelled MH.
    TunnelMh,
    /// All tunnelled traffic.
    TunnelPayload,
}

impl IpsecPolicyType {
    /// The keyword in `mip6d.conf`.
    pub fn keyword(self) -> &'static str {
        match self {
            IpsecPolicyType::HomeRegBinding => "HomeRegBinding",
            IpsecPolicyType::Mh => "Mh",
            IpsecPolicyType::MobPfxDisc => "MobPfxDisc",
            IpsecPolicyType::Icmp => "ICMP",
            IpsecPolicyType::Any => "any",
            IpsecPolicyType::TunnelHomeTesting => "TunnelHomeTesting",
            IpsecPolicyType::TunnelMh => "TunnelMh",
            IpsecPolicyType::TunnelPayload => "TunnelPayload",
        }
    }

    /// The traffic classes covered, as UMIP's `IPSEC_F_*` bits: two policies
    /// for one HA/HoA pair may not share a bit.
    pub fn coverage(self) -> u32 {
        const MH_BUBA: u32 = 0x001;
        const MH_BERR: u32 = 0x002;
        const MH: u32 = 0x004;
        const ICMP_MPD: u32 = 0x008;
        const ICMP_ND: u32 = 0x010;
        const ICMP: u32 = 0x020;
        const ANY: u32 = 0x040;
        const TNL_MH_RR: u32 = 0x100;
        const TNL_MH: u32 = 0x200;
        const TNL_ANY: u32 = 0x400;
        match self {
            IpsecPolicyType::HomeRegBinding => MH_BUBA,
            IpsecPolicyType::Mh => MH_BUBA | MH_BERR | MH,
            IpsecPolicyType::MobPfxDisc => ICMP_MPD,
            IpsecPolicyType::Icmp => ICMP_MPD | ICMP_ND | ICMP,
            IpsecPolicyType::Any => MH_BUBA | MH_BERR | MH | ICMP_MPD | ICMP_ND | ICMP | ANY,
            IpsecPolicyType::TunnelHomeTesting => TNL_MH_RR,
            IpsecPolicyType::TunnelMh => TNL_MH_RR | TNL_MH,
            IpsecPolicyType::TunnelPayload => TNL_MH_RR | TNL_MH | TNL_ANY,
        }
    }

    /// Whether the policy is a tunnel-mode one.
    pub fn is_tunnel(self) -> bool {
        self.coverage() >= 0x100
    }
}

/// `UseESP` / `UseAH` / `UseIPComp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpsecProtocol {
    /// ESP, the only protocol UMIP 1.0 (and we) apply.
    #[serde(rename = "UseESP")]
    Esp,
    /// AH: accepted only next to `UseESP`, then ignored (as UMIP).
    #[serde(rename = "UseAH")]
    Ah,
    /// IPComp: accepted only next to `UseESP`, then ignored (as UMIP).
    #[serde(rename = "UseIPComp")]
    IpComp,
}

impl IpsecProtocol {
    /// The keyword in `mip6d.conf`.
    pub fn keyword(self) -> &'static str {
        match self {
            IpsecProtocol::Esp => "UseESP",
            IpsecProtocol::Ah => "UseAH",
            IpsecProtocol::IpComp => "UseIPComp",
        }
    }
}

/// `IPsecPolicy TYPE PROTOS [REQID [REQID]] [BOOL]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpsecPolicy {
    /// What it protects.
    #[serde(rename = "type")]
    pub kind: IpsecPolicyType,
    /// 1 to 3 protocols, as written.
    pub protocols: Vec<IpsecProtocol>,
    /// reqid of SAs towards the HA (0: none).
    #[serde(default)]
    pub reqid_to_ha: u32,
    /// reqid of SAs towards the MN (a single reqid in the file sets both).
    #[serde(default)]
    pub reqid_to_mn: u32,
    /// `true`/omitted: protect (allow); `false`/`block`: block.
    #[serde(default = "yes")]
    pub allow: bool,
}

fn yes() -> bool {
    true
}

/// `IPsecPolicySet { HomeAgentAddress; HomeAddress+; IPsecPolicy+ }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpsecPolicySet {
    /// The HA of the set.
    pub home_agent_address: Ipv6Addr,
    /// Home addresses; every policy applies to each of them.
    pub home_address: Vec<Prefix>,
    /// The policies.
    pub ipsec_policy: Vec<IpsecPolicy>,
}
