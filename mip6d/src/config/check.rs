//! The checks UMIP makes while parsing, shared by the
//! legacy parser and the TOML form. Each returns UMIP's message text.

use std::net::Ipv6Addr;

use super::model::{
    HomeLink, InterfaceConfig, IpsecPolicy, IpsecProtocol, Prefix, Role, MAX_BINDING_LIFETIME,
    MAX_RR_BINDING_LIFETIME,
};
use super::Host;

/// `HaMaxBindingLife` / `MnMaxHaBindingLife` (≤ 262140).
pub fn binding_life(value: u32) -> Result<u32, String> {
    if value > MAX_BINDING_LIFETIME {
        return Err(format!(
            "max allowed binding lifetime is {MAX_BINDING_LIFETIME}"
        ));
    }
    Ok(value)
}

/// `HaMaxBindings` (ours): at least one binding.
pub fn max_bindings(value: u32) -> Result<u32, String> {
    if value == 0 {
        return Err("HaMaxBindings must be at least 1".to_owned());
    }
    Ok(value)
}

/// `MnMaxCnBindingLife` (≤ 420).
pub fn rr_binding_life(value: u32) -> Result<u32, String> {
    if value > MAX_RR_BINDING_LIFETIME {
        return Err(format!(
            "max allowed binding lifetime is {MAX_RR_BINDING_LIFETIME}"
        ));
    }
    Ok(value)
}

/// `MnIfPreference` 0..=10.
pub fn if_preference(value: u32) -> Result<u8, String> {
    u8::try_from(value)
        .ok()
        .filter(|&v| v <= 10)
        .ok_or_else(|| {
            format!("Found bad interface preference value ({value}). Valid range is [0,10].")
        })
}

/// A prefix length 0..=128.
pub fn prefix_len(value: u32) -> Result<u8, String> {
    u8::try_from(value)
        .ok()
        .filter(|&v| v <= 128)
        .ok_or_else(|| format!("invalid prefix length {value}"))
}

/// A BA status given as a number in `BindingAclPolicy`/`DefaultBindingAclPolicy`
/// (our check: the status field is 8 bits; UMIP truncates silently).
pub fn acl_status(value: u32) -> Result<u8, String> {
    u8::try_from(value)
        .map_err(|_| format!("invalid binding status {value}. Valid range is [0,255]."))
}

/// A `DECIMAL` setting read from TOML (the legacy syntax cannot write a
/// negative or non-finite one).
pub fn seconds_value(keyword: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 && super::seconds(value).is_some() {
        Ok(value)
    } else {
        Err(format!(
            "{keyword} must be a non-negative number of seconds, not {value}"
        ))
    }
}

/// The end-of-block checks of `Interface` against the role in force when the
/// block was read. `written_name` is the name before truncation (UMIP looks
/// that one up). Returns whether the HA serves the interface.
pub fn interface(
    iface: &InterfaceConfig,
    written_name: &str,
    role_so_far: Role,
    host: &dyn Host,
) -> Result<bool, String> {
    let ha = role_so_far == Role::HomeAgent && iface.serves(Role::HomeAgent);
    if ha && iface.tunnel {
        return Err("Use of tunnel interface is not possible for HA yet".to_owned());
    }
    if ha && !host.interface_exists(written_name) {
        return Err(format!("HA interface {written_name} unavailable"));
    }
    Ok(ha)
}

/// The end-of-block checks of `MnHomeLink`.
pub fn home_link(link: &HomeLink, written_name: &str, host: &dyn Host) -> Result<(), String> {
    if link.home_address.addr.is_unspecified() {
        // Typo and stray 0 are UMIP's.
        return Err("No home addresses definedfor homelink 0".to_owned());
    }
    if !host.interface_exists(written_name) {
        return Err("invalid interface".to_owned());
    }
    Ok(())
}

/// An address as UMIP's `NIP6ADDR` prints it: eight `%x` groups.
pub fn nip6(addr: Ipv6Addr) -> String {
    let s = addr.segments();
    format!(
        "{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
    )
}

/// One expanded policy: (HA, HoA, coverage bits).
pub type Expanded = (Ipv6Addr, Ipv6Addr, u32);

/// The checks of one `IPsecPolicy` line in a set, against the policies
/// accepted so far (`done`, to which the expansion is added).
pub fn ipsec_policy(
    home_agent: Ipv6Addr,
    home_addresses: &[Prefix],
    policy: &IpsecPolicy,
    done: &mut Vec<Expanded>,
) -> Result<(), String> {
    if policy.protocols.is_empty() {
        return Err("IPsecPolicy must set at least one protocol".to_owned());
    }
    if home_agent.is_unspecified() {
        return Err("HomeAgentAddress missing for IPsecPolicy".to_owned());
    }
    if home_addresses.is_empty() {
        return Err("HomeAddress missing for IPsecPolicy".to_owned());
    }
    let coverage = policy.kind.coverage();
    for hoa in home_addresses {
        // AH and IPComp count for nothing without MULTIPROTO_MIGRATE, so
        // "UseESP UseAH" passes and "UseAH" alone does not.
        if !policy.protocols.contains(&IpsecProtocol::Esp) {
            return Err("only UseESP is allowed".to_owned());
        }
        if done
            .iter()
            .any(|&(ha, mn, c)| ha == home_agent && mn == hoa.addr && c & coverage != 0)
        {
            return Err(format!(
                "overlapping IPsec policies found for HA {} MN {} pair",
                nip6(home_agent),
                nip6(hoa.addr)
            ));
        }
        done.push((home_agent, hoa.addr, coverage));
    }
    Ok(())
}
