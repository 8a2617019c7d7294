//! The home agent's side of `NonVolatileBindingCache` ([`super::cache_file`]):
//! the snapshot it saves, and the restore at start. A saved binding names
//! kernel objects to create, so each is checked first
//! ([`mip6::bcache::saved::check_restore`]) against the configuration and
//! the interfaces as they are now, as a Binding Update creating it would be.
//! What passes enters the binding cache at once, with its remaining lifetime
//! and its sequence number, so a Binding Update for it is a refresh; its
//! kernel state is queued in the install backlog ([`super::backlog`]) and
//! installed between messages, without DAD (the home address was the
//! binding's before the restart, RFC 6275 §10.3.1 asks DAD for a new
//! binding), and announced on the home link with unsolicited proxy NAs
//! (RFC 6275 §10.4.1), without waiting for the mobile nodes.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::bcache::saved::{self, check_restore, RestoreContext, SavedBinding};
use mip6::bcache::{link_local_of, AclDecision, BcState};
use mip6::wire::mh::BuFlags;
use netcfg::Family;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::backlog::QueuedRestore;
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
                let hoa = &e.home_address;
                // Restored and still waiting for its kernel state: saved
                // too, or a crash during a long restore would lose it.
                let ifindex = self
                    .bindings
                    .get(hoa)?
                    .home_ifindex()
                    .or_else(|| self.backlog.restores.ifindex_of(hoa))?;
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
    /// skipped and why. The kernel state of what passes is queued.
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
        let (mut queued, mut skipped) = (0usize, 0usize);
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
            match self.admit(entry, iface, &home_prefixes) {
                Ok(()) => queued += 1,
                Err(why) => {
                    warn!(
                        "{path}: binding {} (CoA {}) not restored: {why}",
                        entry.home_address, entry.care_of_address
                    );
                    skipped += 1;
                }
            }
        }
        info!("{path}: restoring {queued} bindings, their kernel state between messages");
        self.backlog.restores.start(skipped);
        self.restore_summary();
        self.view.changed();
    }

    /// Checks one saved binding and, if it passes, puts it in the cache and
    /// queues its kernel state.
    fn admit(
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
        let binding = BindingState::pending(
            hoa,
            entry.care_of_address,
            entry.home_agent,
            entry.mobile_network_prefixes.clone(),
        )
        .with_ipsec(&self.config)
        .with_link_local(link_local);
        self.cache
            .restore(std::time::Instant::now(), entry, remaining);
        self.bindings.insert(hoa, binding);
        let restore = QueuedRestore {
            ifindex,
            mobile_router: entry.flags.contains(BuFlags::MOBILE_ROUTER),
        };
        self.backlog.restores.queue(hoa, restore);
        Ok(())
    }

    /// Installs the kernel state of a restored binding (its turn in the
    /// backlog came, or a BU for it arrived) and announces the home address.
    pub(super) async fn install_restored(&mut self, hoa: Ipv6Addr, restore: QueuedRestore) {
        let path = self.cache_file.path().display().to_string();
        // Expired (or gone) while it waited: nothing to install.
        let Some(binding) = self
            .bindings
            .get_mut(&hoa)
            .filter(|b| b.home_ifindex().is_none())
        else {
            info!("{path}: binding {hoa} not restored: gone before its turn");
            self.backlog.restores.done(false);
            self.restore_summary();
            return;
        };
        let coa = binding.care_of_address;
        let installed = binding
            .install(&mut self.io.kernel, &mut self.tunnel_names, restore.ifindex)
            .await;
        match installed {
            Ok(()) => {
                let (seq, left) = self
                    .cache
                    .get(&hoa)
                    .map(|e| {
                        (
                            e.sequence,
                            e.expires_at
                                .saturating_duration_since(std::time::Instant::now()),
                        )
                    })
                    .unwrap_or_default();
                info!(
                    "binding {hoa} -> {coa} restored (tunnel {}, seq {seq}, {} s left)",
                    binding.tunnel_name(),
                    left.as_secs()
                );
                self.backlog.restores.done(true);
                let announce = DadAction::ProxyNa {
                    hoa,
                    ifindex: restore.ifindex,
                    mobile_router: restore.mobile_router,
                };
                self.carry_out_dad(vec![announce]).await;
            }
            Err(e) => {
                warn!("{path}: binding {hoa} (CoA {coa}) not restored: cannot install it: {e}");
                binding.remove(&mut self.io.kernel).await;
                self.bindings.remove(&hoa);
                self.cache.remove(&hoa);
                self.backlog.restores.done(false);
                self.view.changed();
            }
        }
        self.restore_summary();
    }

    /// The summary line, once the restore under way has nothing left.
    fn restore_summary(&mut self) {
        if let Some((restored, skipped)) = self.backlog.restores.finished() {
            let path = self.cache_file.path().display();
            info!("{path}: restored {restored} bindings, skipped {skipped}");
        }
    }
}
