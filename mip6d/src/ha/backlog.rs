//! Kernel work the home agent does between messages. Installing a binding
//! (after its DAD) and removing one (after expiry) each cost several netlink
//! requests, and the kernel's share grows with the number of tunnels. When
//! thousands come due together (mobile nodes that registered together), doing
//! them all in one go would leave Binding Updates unread for minutes, so
//! bindings would expire while their refreshes wait in the socket. They are
//! queued here and done [`BATCH`] at a time, taking turns with the sockets.
//! The bindings restored at start (`NonVolatileBindingCache`, [`super::restore`])
//! wait here for their kernel state too, so that Binding Updates arriving
//! during a restore of thousands are answered.

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
    pub(super) restores: RestoreQueue,
}

/// A restored binding: checked, in the binding cache (so a BU for it is a
/// refresh), its kernel state not yet installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueuedRestore {
    /// The home link's interface.
    pub(super) ifindex: u32,
    /// A mobile router: its proxy NA has the Router flag (RFC 3963 §6.3).
    pub(super) mobile_router: bool,
}

/// The restored bindings waiting for their kernel state, in the file's
/// order, and the count the summary line gives when the last is done.
#[derive(Debug, Default)]
pub(super) struct RestoreQueue {
    order: VecDeque<Ipv6Addr>,
    waiting: HashMap<Ipv6Addr, QueuedRestore>,
    restored: usize,
    skipped: usize,
    /// A restore is under way: the summary is still to be given.
    running: bool,
}

impl RestoreQueue {
    /// A restore starts; `skipped` entries of the file were refused.
    pub(super) fn start(&mut self, skipped: usize) {
        self.running = true;
        self.skipped += skipped;
    }

    /// `hoa` waits for its kernel state.
    pub(super) fn queue(&mut self, hoa: Ipv6Addr, restore: QueuedRestore) {
        if self.waiting.insert(hoa, restore).is_none() {
            self.order.push_back(hoa);
        }
    }

    /// The home link's interface of a binding still waiting.
    pub(super) fn ifindex_of(&self, hoa: &Ipv6Addr) -> Option<u32> {
        self.waiting.get(hoa).map(|r| r.ifindex)
    }

    /// The queued restore of `hoa`, taken out of the queue (a BU for it
    /// arrived: its state is installed before the BU is decided on).
    pub(super) fn take(&mut self, hoa: &Ipv6Addr) -> Option<QueuedRestore> {
        self.waiting.remove(hoa)
    }

    fn next(&mut self) -> Option<(Ipv6Addr, QueuedRestore)> {
        while let Some(hoa) = self.order.pop_front() {
            if let Some(r) = self.waiting.remove(&hoa) {
                return Some((hoa, r));
            }
        }
        None
    }

    /// One queued restore ended: installed, or not (it failed, or the
    /// binding expired or went while it waited).
    pub(super) fn done(&mut self, restored: bool) {
        if restored {
            self.restored += 1;
        } else {
            self.skipped += 1;
        }
    }

    /// (restored, skipped), once, when the restore under way has nothing
    /// left waiting.
    pub(super) fn finished(&mut self) -> Option<(usize, usize)> {
        if !self.running || !self.waiting.is_empty() {
            return None;
        }
        self.running = false;
        self.order.clear();
        let counts = (self.restored, self.skipped);
        (self.restored, self.skipped) = (0, 0);
        Some(counts)
    }
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        self.installs.is_empty() && self.removals.is_empty() && self.restores.waiting.is_empty()
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
    /// Does up to [`BATCH`] queued removals, installs and restores,
    /// removals first (they free what the installs need), then the installs
    /// (a mobile node waits for their BA).
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
            } else if let Some((hoa, restore)) = self.backlog.restores.next() {
                self.install_restored(hoa, restore).await;
            } else {
                break;
            }
        }
    }

    /// A BU for `hoa` arrived while kernel work for the address was queued:
    /// an old binding's removal, or a restored binding's install. It is done
    /// now, before the BU is decided on, so the BU finds the kernel as the
    /// cache says (a refresh then installs nothing, a move re-points the
    /// restored tunnel, a deregistration removes it).
    pub(super) async fn finish_queued(&mut self, hoa: &Ipv6Addr) {
        if let Some(mut b) = self.backlog.take_removal(hoa) {
            info!("binding {hoa}: removing its expired state first");
            b.remove(&mut self.io.kernel).await;
        }
        if let Some(restore) = self.backlog.restores.take(hoa) {
            self.install_restored(*hoa, restore).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    const EACH: QueuedRestore = QueuedRestore {
        ifindex: 2,
        mobile_router: false,
    };

    /// A restore waits in the backlog: the loop keeps reading its sockets.
    #[test]
    fn queued_restores_make_the_backlog_busy_until_taken() {
        let mut backlog = Backlog::default();
        assert!(backlog.is_empty());
        backlog.restores.start(0);
        backlog.restores.queue(a("2001:db8:1::1"), EACH);
        assert!(!backlog.is_empty());
        assert_eq!(backlog.restores.ifindex_of(&a("2001:db8:1::1")), Some(2));
        assert_eq!(backlog.restores.next(), Some((a("2001:db8:1::1"), EACH)));
        assert!(backlog.is_empty());
    }

    /// A BU for a binding still waiting takes its restore out of the queue:
    /// installed once, by the BU, never again by the queue.
    #[test]
    fn a_restore_taken_for_a_bu_is_not_installed_again() {
        let mut q = RestoreQueue::default();
        q.start(0);
        for hoa in ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"] {
            q.queue(a(hoa), EACH);
        }
        q.queue(a("2001:db8:1::1"), EACH);
        assert_eq!(q.take(&a("2001:db8:1::2")), Some(EACH));
        assert_eq!(q.take(&a("2001:db8:1::2")), None);
        assert_eq!(q.ifindex_of(&a("2001:db8:1::2")), None);
        let order: Vec<Ipv6Addr> = std::iter::from_fn(|| q.next().map(|(h, _)| h)).collect();
        assert_eq!(order, vec![a("2001:db8:1::1"), a("2001:db8:1::3")]);
    }

    /// The summary comes once, when the last restore is done, with what was
    /// refused up front and what failed or expired while waiting.
    #[test]
    fn the_summary_comes_once_when_the_last_restore_is_done() {
        let mut q = RestoreQueue::default();
        assert_eq!(q.finished(), None, "no restore under way");
        q.start(2);
        q.queue(a("2001:db8:1::1"), EACH);
        q.queue(a("2001:db8:1::2"), EACH);
        assert!(q.next().is_some());
        q.done(true);
        assert_eq!(q.finished(), None, "one still waits");
        assert!(q.take(&a("2001:db8:1::2")).is_some());
        q.done(false);
        assert_eq!(q.finished(), Some((1, 3)));
        assert_eq!(q.finished(), None);
        q.start(1);
        assert_eq!(q.finished(), Some((0, 1)), "nothing to install: at once");
    }
}
