//! Kernel work the home agent does between messages. Installing a binding
//! (after its DAD) and removing one (after expiry) each cost several netlink
//! requests, and the kernel's share grows with the number of tunnels. When
//! thousands come due together (mobile nodes that registered together), doing
//! them all in one go would leave Binding Updates unread for minutes, so
//! bindings would expire while their refreshes wait in the socket. They are
//! queued here and done [`BATCH`] at a time, taking turns with the sockets.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;

use tracing::info;

use super::binding::BindingState;
use super::home_dad::DadRun;
use super::HomeAgent;

/// How many queued installs or removals run before the sockets get a turn.
const BATCH: usize = 8;

/// Bindings waiting for their kernel state to be installed or removed.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    installs: VecDeque<(Ipv6Addr, DadRun)>,
    removal_order: VecDeque<Ipv6Addr>,
    removals: HashMap<Ipv6Addr, BindingState>,
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        self.installs.is_empty() && self.removals.is_empty()
    }

    /// DAD for `hoa` found nobody: its forwarding state is to be installed.
    pub(super) fn install(&mut self, hoa: Ipv6Addr, run: DadRun) {
        self.installs.push_back((hoa, run));
    }

    /// `binding` is gone from the cache: its kernel objects are to go.
    pub(super) fn remove(&mut self, binding: BindingState) {
        let hoa = binding.home_address;
        if self.removals.insert(hoa, binding).is_none() {
            self.removal_order.push_back(hoa);
        }
    }

    /// The queued removal for `hoa`, taken out of the queue (a new BU for it
    /// arrived: the old state must go before new state is installed).
    pub(super) fn take_removal(&mut self, hoa: &Ipv6Addr) -> Option<BindingState> {
        self.removals.remove(hoa)
    }

    /// Every binding still waiting for removal.
    pub(super) fn removals_mut(&mut self) -> impl Iterator<Item = &mut BindingState> {
        self.removals.values_mut()
    }

    /// Every binding still waiting for removal.
    pub(super) fn removals(&self) -> impl Iterator<Item = &BindingState> {
        self.removals.values()
    }

    fn next_removal(&mut self) -> Option<BindingState> {
        while let Some(hoa) = self.removal_order.pop_front() {
            if let Some(b) = self.removals.remove(&hoa) {
                return Some(b);
            }
        }
        None
    }
}

impl HomeAgent {
    /// Does up to [`BATCH`] queued removals and installs, removals first
    /// (they free what the installs need).
    pub(super) async fn work_backlog(&mut self) {
        for _ in 0..BATCH {
            if let Some(mut b) = self.backlog.next_removal() {
                b.remove(&mut self.io.kernel).await;
            } else if let Some((hoa, run)) = self.backlog.installs.pop_front() {
                // A deregistration and a new BU came while this install
                // waited: the new BU's own DAD decides, not this old one.
                if self.dad.is_running(&hoa) {
                    continue;
                }
                self.dad_done(hoa, run).await;
            } else {
                break;
            }
        }
    }

    /// A BU for `hoa` arrived while its old binding's removal was queued:
    /// remove it now, before anything new is installed for the address.
    pub(super) async fn finish_removal(&mut self, hoa: &Ipv6Addr) {
        if let Some(mut b) = self.backlog.take_removal(hoa) {
            info!("binding {hoa}: removing its expired state first");
            b.remove(&mut self.io.kernel).await;
        }
    }
}
