//! Sans-IO Mobile IPv6 (RFC 6275) and NEMO (RFC 3963).
//!
//! Like `teredo`, this crate never opens a socket, spawns a task or reads the
//! clock: callers pass `now` and bytes in, and get actions back.
//!
//! # The sans-IO contract
//!
//! Every state machine in this crate and in `teredo` follows one contract:
//!
//! - **Inputs** from the network go in through `handle_*` methods taking
//!   `now` first (a monotonic [`std::time::Instant`] the driver reads; left
//!   out where the answer cannot depend on time, as in the stateless Teredo
//!   server) and then the input: `handle_packet`, `handle_binding_ack`,
//!   `handle_reply`, …. The driver's own commands and the results of its
//!   kernel work are plain verbs (`register`, `requalify`, `set_state`,
//!   `dad_finished`).
//! - **Results** come back from the call that produced them, as its return
//!   value (an action, an event, a list of either). On the per-packet path,
//!   where a fresh `Vec` per call would be an allocation per packet, they are
//!   appended to a caller-owned buffer passed as `out: &mut Outputs`, which
//!   the driver drains and reuses. Nothing is queued inside a state machine
//!   for the driver to poll later.
//! - **Timers**: `poll_timeout()` says when `handle_timeout(now, …)` must be
//!   called next (`None`: no timer armed); `handle_timeout` returns what fell
//!   due, like any other input.
//!
//! The same concept has the same name in both cores: `handle_timeout` for
//! timers, `handle_binding_ack` for a Binding Acknowledgement, and so on.
//!
//! # Modules
//!
//! - [`wire`]: Mobility Header, mobility options, HAO, Type 2 Routing Header,
//!   ND/DHAAD/MPD messages (the checksum and ND options shared with Teredo
//!   come from the `wire6` crate);
//! - [`consts`]: protocol numbers, BA/BE status codes, RFC 6275 §12 timers;
//! - [`seq`]: the 16-bit sequence number window (RFC 6275 §9.5.1);
//! - [`bul`]: the mobile node's binding update list and home registration;
//! - [`bcache`]: the home agent's binding cache and its BU checks;
//! - [`cn`]: the correspondent node: test replies, route-optimisation BU checks, its binding cache;
//! - [`coa`]: interface and care-of address selection (UMIP's choice, docs/protocol-notes.md);
//! - [`dhaad`]: home agent address discovery, both sides;
//! - [`haselect`]: the mobile node's choice of home agent by DHAAD;
//! - [`halist`]: the home agent's Home Agents List, learnt from RAs;
//! - [`mpd`]: mobile prefix solicitation on the mobile node;
//! - [`rr`]: return routability: tokens, nonces, Kbm and the authenticator;
//! - [`ro`]: the mobile node's route optimisation with one correspondent.

#![forbid(unsafe_code)]
pub mod bcache;
pub mod bul;
pub mod cn;
pub mod coa;
pub mod consts;
pub mod deadlines;
pub mod dhaad;
pub mod halist;
pub mod haselect;
pub mod mpa_schedule;
pub mod mpd;
pub mod ro;
pub mod rr;
pub mod seq;
pub mod wire;
