//! Home registration (RFC 6275 §10.3): a Binding Update is decided by
//! [`super::home_bu`] ([`mip6::bcache::check_home_bu`] in UMIP's order,
//! applied to the binding cache) and carried out here: answered with a
//! Binding Acknowledgement through a Type 2 routing header, the binding's
//! tunnel moved or removed; a new binding first waits for DAD
//! ([`super::dad`]).
//!
//! What a remote host can make it do is bounded (`docs/compat.md`, "Home
//! agent admission"): with `UseMnHaIPsec`, only pairs an IPsec policy
//! protects register; at most `HaMaxBindings` bindings; at most
//! [`super::admission::NEW_BINDINGS_PER_SOURCE`] new ones per source per
//! minute; one log line per source and outcome per minute.

use std::net::Ipv6Addr;

use mip6::bcache::care_of_address;
use mip6::wire::mh::{MhMessage, MhRepr};
use tracing::{debug, error, warn};

use super::binding::BindingState;
use super::home_bu::{BuAction, BuInput, HomeRegistrar};
use super::HomeAgent;

impl HomeAgent {
    pub(super) async fn on_mh(&mut self, msg: crate::kernel::raw::Received) {
        let repr = match MhRepr::parse(&msg.payload) {
            Ok(r) => r,
            Err(e) => {
                debug!("malformed MH from {}: {e}", msg.src);
                return;
            }
        };
        let MhMessage::BindingUpdate(bu) = repr.message else {
            debug!(
                "MH type {} from {} ignored",
                repr.message.mh_type(),
                msg.src
            );
            return;
        };
        // After the kernel's swap, the source is the home address and the
        // HAO holds the address the packet came from.
        let home_address = msg.src;
        self.finish_queued(&home_address).await;
        let packet_source = msg.hao.unwrap_or(msg.src);
        let home_ifindex = self.ha_iface_of(msg.dst).await;
        let input = BuInput {
            home_address,
            packet_source,
            dst: msg.dst,
            coa: care_of_address(packet_source, &repr.options),
            bu,
            options: &repr.options,
            home_ifindex,
            home_prefix: home_ifindex.and_then(|i| self.home_prefix(i, home_address)),
        };
        let actions = self
            .registrar()
            .handle_binding_update(std::time::Instant::now(), &input);
        self.view.changed();
        for action in actions {
            self.carry_out(action).await;
        }
    }

    /// The home agent's protocol state, to decide on an event.
    pub(super) fn registrar(&mut self) -> HomeRegistrar<'_> {
        HomeRegistrar {
            config: &self.config,
            cache: &mut self.cache,
            new_bindings: &mut self.admission.new_bindings,
            log_limit: &mut self.admission.log_limit,
            counters: &mut self.counters,
        }
    }

    /// Carries out what a BU decided.
    async fn carry_out(&mut self, action: BuAction) {
        match action {
            BuAction::SendBa { hoa, via, src, ba } => {
                self.send_ba(hoa, via, Some(src), &ba).await;
            }
            BuAction::StartDad {
                hoa,
                coa,
                ifindex,
                ha_address,
                mobile_network_prefixes,
                link_local,
            } => {
                self.start_dad(hoa, ifindex, ha_address, link_local).await;
                self.bindings.insert(
                    hoa,
                    BindingState::pending(hoa, coa, ha_address, mobile_network_prefixes)
                        .with_ipsec(&self.config)
                        .with_link_local(link_local),
                );
            }
            BuAction::MoveBinding { hoa, coa } => {
                if let Some(b) = self.bindings.get_mut(&hoa) {
                    if let Err(e) = b.move_to(&mut self.io.kernel, coa).await {
                        error!("cannot re-point the tunnel of {hoa}: {e}");
                    }
                }
            }
            BuAction::RemoveBinding { hoa } => {
                self.dad.cancel(&hoa);
                if let Some(mut b) = self.bindings.remove(&hoa) {
                    b.remove(&mut self.io.kernel).await;
                }
            }
        }
    }

    /// Sends a BA to `hoa`, through a Type 2 routing header to `coa` when
    /// the mobile node is away.
    pub(super) async fn send_ba(
        &self,
        hoa: Ipv6Addr,
        coa: Option<Ipv6Addr>,
        src: Option<Ipv6Addr>,
        ba: &MhRepr,
    ) {
        let bytes = match ba.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("BA to {hoa}: {e}");
                return;
            }
        };
        let src = src.unwrap_or(Ipv6Addr::UNSPECIFIED);
        if let Err(e) = self.io.mh.send_message(src, hoa, 0, coa, &bytes).await {
            warn!("BA to {hoa} via {coa:?}: {e}");
        }
    }
}
