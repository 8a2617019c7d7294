//! The sequence of hook invocations, as miredo's privproc produces it.
//!
//! privproc keeps one environment across calls. After each real call it
//! sets `OLD_STATE` to that call's state and `OLD_*` to its values (or
//! clears them after a `down`). When the worker exits it runs `down` then
//! `destroy` without touching `OLD_*` in between, so both carry the values
//! prepared after the last real call — including `OLD_STATE=up` on
//! `destroy` even though a `down` just ran. Observed with Debian's 1.2.6:
//!
//! | call | STATE | OLD_STATE | current | OLD_* |
//! |---|---|---|---|---|
//! | first qualification | up | down | yes | no |
//! | new address/MTU | up | up | yes | previous up |
//! | connectivity lost | down | up | no | previous up |
//! | exit, after up P | down, destroy | up, up | no | P, P |
//! | exit, after down | down, destroy | down, down | no | no |

use super::{HookEvent, HookParams, HookState, OldState};

/// Produces [`HookEvent`]s for one interface.
#[derive(Debug, Clone)]
pub struct HookTracker {
    ifindex: u32,
    /// The values of the last real call, if it was `up`.
    last_up: Option<HookParams>,
}

impl HookTracker {
    /// A tracker for interface `ifindex`; nothing has run yet.
    pub fn new(ifindex: u32) -> HookTracker {
        HookTracker {
            ifindex,
            last_up: None,
        }
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether the last real call was `up`.
    pub fn is_up(&self) -> bool {
        self.last_up.is_some()
    }

    /// The values of the last `up`, while up.
    pub fn current(&self) -> Option<HookParams> {
        self.last_up
    }

    fn old_state(&self) -> OldState {
        if self.last_up.is_some() {
            OldState::Up
        } else {
            OldState::Down
        }
    }

    /// Qualified, or the address or MTU changed while up. `None` when
    /// nothing changed (miredo only calls the hook on a change).
    pub fn up(&mut self, iface: &str, params: HookParams) -> Option<HookEvent> {
        if self.last_up == Some(params) {
            return None;
        }
        let ev = HookEvent {
            state: HookState::Up,
            old_state: self.old_state(),
            iface: iface.to_string(),
            ifindex: self.ifindex,
            current: Some(params),
            old: self.last_up,
        };
        self.last_up = Some(params);
        Some(ev)
    }

    /// Connectivity lost. `None` when already down (or never up).
    pub fn down(&mut self, iface: &str) -> Option<HookEvent> {
        let old = self.last_up.take()?;
        Some(HookEvent {
            state: HookState::Down,
            old_state: OldState::Up,
            iface: iface.to_string(),
            ifindex: self.ifindex,
            current: None,
            old: Some(old),
        })
    }

    /// Worker exit: `down` then `destroy`, both with the stale `OLD_*` of
    /// the last real call. They always run (the caller skips them only if
    /// the interface is already gone).
    pub fn shutdown(self, iface: &str) -> [HookEvent; 2] {
        let make = |state| HookEvent {
            state,
            old_state: self.old_state(),
            iface: iface.to_string(),
            ifindex: self.ifindex,
            current: None,
            old: self.last_up,
        };
        [make(HookState::Down), make(HookState::Destroy)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn p(last: u16, mtu: u32) -> HookParams {
        HookParams::new(Ipv6Addr::new(0x2001, 0, 0xc000, 0x201, 0, 0, 0, last), mtu)
    }

    fn names(ev: &HookEvent) -> Vec<String> {
        let mut v: Vec<String> = ev
            .env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn full_sequence() {
        let mut t = HookTracker::new(7);
        assert!(t.down("teredo").is_none(), "no down before the first up");

        let up1 = t.up("teredo", p(1, 1280)).expect("first up");
        assert_eq!(up1.old_state, OldState::Down);
        assert_eq!(up1.old, None);
        assert_eq!(
            names(&up1),
            [
                "ADDRESS=2001:0:c000:201::1",
                "IFACE=teredo",
                "IFINDEX=7",
                "LLADDRESS=fe80::ffff:ffff:ffff",
                "MTU=1280",
                "OLD_STATE=down",
                "STATE=up",
            ]
        );
        assert!(t.up("teredo", p(1, 1280)).is_none(), "no change, no call");

        let up2 = t.up("teredo", p(2, 1400)).expect("change");
        assert_eq!(up2.old_state, OldState::Up);
        assert_eq!(up2.old, Some(p(1, 1280)));
        assert_eq!(up2.current, Some(p(2, 1400)));

        let down = t.down("teredo").expect("lost");
        assert_eq!(
            (down.state, down.old_state),
            (HookState::Down, OldState::Up)
        );
        assert_eq!((down.current, down.old), (None, Some(p(2, 1400))));
        assert!(t.down("teredo").is_none());

        let up3 = t.up("teredo", p(3, 1280)).expect("requalified");
        assert_eq!((up3.old_state, up3.old), (OldState::Down, None));

        let [d, x] = t.shutdown("teredo");
        for ev in [&d, &x] {
            assert_eq!(ev.old_state, OldState::Up);
            assert_eq!((ev.current, ev.old), (None, Some(p(3, 1280))));
        }
        assert_eq!((d.state, x.state), (HookState::Down, HookState::Destroy));
    }

    #[test]
    fn shutdown_after_loss_has_no_old_values() {
        let mut t = HookTracker::new(3);
        t.up("teredo", p(1, 1280));
        t.down("teredo");
        let [d, x] = t.shutdown("teredo");
        assert_eq!(
            names(&x),
            [
                "IFACE=teredo",
                "IFINDEX=3",
                "OLD_STATE=down",
                "STATE=destroy"
            ]
        );
        assert_eq!(d.state, HookState::Down);
        assert_eq!(d.old, None);
    }
}
