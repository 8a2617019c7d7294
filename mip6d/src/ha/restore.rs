//! The home agent's side of `NonVolatileBindingCache` ([`super::cache_file`]):
//! the snapshot it saves, and the restore at start. A saved binding names
//! kernel objects to create, so each is checked first
//! ([`mip6::bcache::saved::check_restore`]) against the configuration and
//! the interfaces as they are now, as a Binding Update creating it would be;
//! what passes is installed at once, with its remaining lifetime and its
//! sequence number, and announced on the home link with unsolicited proxy
//! NAs (RFC 6275 §10.4.1), without waiting for the mobile nodes.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::bcache::saved::{self, check_restore, RestoreContext, SavedBinding};
use mip6::bcache::{link_local_of, AclDecision, BcState};
use mip6::wire::mh::BuFlags;
use netcfg::Family;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::binding::BindingState;
use super::cache_file::unix_now;
use super::home_bu::acl_of;
use super::home_dad::DadAction;
use super::HomeAgent;

impl HomeAgent {
    /// The file's text for the installed bindings now.
    pub(super) fn cache_snapshot(&self) -> String {
        let now = std::time::Instant::now();
        let now_unix = unix_now();
        let mut bindings: Vec<SavedBinding> = self
            .cache
            .iter()
            .filter(|e| e.state == BcState::Active)
            .filter_map(|e| {
                let ifindex = self.bindings.get(&e.home_address)?.home_ifindex()?;
                let iface = self.links.ifaces.iter().find(|i| i.index == ifindex)?;
                Some(SavedBinding::from_entry(e, now, now_unix, &iface.name))
            })
            .collect();
        // A stable order: an unchanged cache gives the same text.
        bindings.sort_by_key(|b| b.home_address);
        saved::encode(&bindings)
    }

    /// Saves the cache if a write is due (and the keyword is on).
    pub(super) fn save_cache_if_due(&mut self) {
        if !self.config.non_volatile_binding_cache {
            return;
        }
        if self.cache_file.take_due(Instant::now()) {
            let text = self.cache_snapshot();
            self.cache_file.write(text);
        }
    }

    /// The clean exit's last write: the bindings stay valid at the mobile
    /// nodes, so the next start restores them.
    pub(super) async fn save_cache_at_exit(&mut self) {
        if !self.config.non_volatile_binding_cache {
            return;
        }
        let text = self.cache_snapshot();
        self.cache_file.flush(text).await;
        info!(
            "binding cache saved to {} ({} bindings)",
            self.cache_file.path().display(),
            self.cache.len()
        );
    }

    /// Restores what the file holds, each binding checked; logs what was
    /// skipped and why.
    pub(super) async fn restore_cache(&mut self) {
        if !self.config.non_volatile_binding_cache {
            return;
        }
        let saved = self.cache_file.read();
        let path = self.cache_file.path().display().to_string();
        if saved.is_empty() {
            return;
        }
        let addresses = match self.io.kernel.nl.addresses(Some(Family::V6), None).await {
            Ok(a) => a,
            Err(e) => {
                error!("{path}: not restored: cannot read the interfaces' addresses: {e}");
                return;
            }
        };
        let (mut restored, mut skipped) = (0usize, 0usize);
        for entry in &saved {
            let iface = self
                .links
                .ifaces
                .iter()
                .find(|i| i.name == entry.interface)
                .map(|i| i.index);
            let home_prefixes: Vec<(Ipv6Addr, u8)> = addresses
                .iter()
                .filter(|a| a.scope == 0 && Some(a.index) == iface)
                .filter_map(|a| match a.addr {
                    IpAddr::V6(v6) => Some((v6, a.prefix_len)),
                    IpAddr::V4(_) => None,
                })
                .collect();
            match self.restore_one(entry, iface, &home_prefixes).await {
                Ok(()) => restored += 1,
                Err(why) => {
                    warn!(
                        "{path}: binding {} (CoA {}) not restored: {why}",
                        entry.home_address, entry.care_of_address
                    );
                    skipped += 1;
                }
            }
        }
        info!("{path}: restored {restored} bindings, skipped {skipped}");
        self.view.changed();
    }

    /// Checks and installs one saved binding.
    async fn restore_one(
        &mut self,
        entry: &SavedBinding,
        iface: Option<u32>,
        home_prefixes: &[(Ipv6Addr, u8)],
    ) -> Result<(), String> {
        let config = &self.config;
        let hoa = entry.home_address;
        let (acl_status, acl_prefixes) = acl_of(config, hoa);
        let max_bindings = usize::try_from(config.ha_max_bindings).unwrap_or(usize::MAX);
        self.cache.set_max_bindings(max_bindings);
        let ctx = RestoreContext {
            now_unix: unix_now(),
            interface_served: iface.is_some(),
            home_prefixes,
            home_agent_present: home_prefixes.iter().any(|&(a, _)| a == entry.home_agent),
            served_prefix_covers_hoa: config.ha_served_prefix.iter().any(|p| p.contains(hoa)),
            accept_mobile_router: config.ha_accept_mob_rtr,
            acl: AclDecision {
                status: acl_status,
                prefixes: acl_prefixes.as_deref(),
            },
            ipsec_required: config.use_mn_ha_ipsec,
            ipsec_protected: crate::ipsec::protects_home_registration(
                config,
                entry.home_agent,
                hoa,
            ),
            max_binding_life: Duration::from_secs(u64::from(config.ha_max_binding_life)),
            cache_full: self.cache.is_full(),
            conflicts: self.cache.has_binding(&hoa)
                || self.cache.has_binding(&entry.care_of_address),
        };
        let remaining = check_restore(entry, &ctx).map_err(|r| r.to_string())?;
        let ifindex = iface.ok_or("interface not served")?;
        let link_local = entry
            .flags
            .contains(BuFlags::LINK_LOCAL)
            .then(|| link_local_of(hoa));
        let mut binding = BindingState::pending(
            hoa,
            entry.care_of_address,
            entry.home_agent,
            entry.mobile_network_prefixes.clone(),
        )
        .with_ipsec(&self.config)
        .with_link_local(link_local);
        if let Err(e) = binding
            .install(&mut self.io.kernel, &mut self.tunnel_names, ifindex)
            .await
        {
            binding.remove(&mut self.io.kernel).await;
            return Err(format!("cannot install it: {e}"));
        }
        info!(
            "binding {hoa} -> {} restored (tunnel {}, seq {}, {} s left)",
            entry.care_of_address,
            binding.tunnel_name(),
            entry.sequence,
            remaining.as_secs()
        );
        self.cache
            .restore(std::time::Instant::now(), entry, remaining);
        self.bindings.insert(hoa, binding);
        let announce = DadAction::ProxyNa {
            hoa,
            ifindex,
            mobile_router: entry.flags.contains(BuFlags::MOBILE_ROUTER),
        };
        self.carry_out_dad(vec![announce]).await;
        Ok(())
    }
}
