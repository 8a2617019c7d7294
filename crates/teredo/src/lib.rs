//! Sans-IO Teredo (RFC 4380, RFC 5991).
//!
//! Nothing in this crate opens a socket, spawns a task or reads the clock: callers
//! pass `now` and bytes in, and get back what to send, what to write to the tunnel
//! and when to call again.
//!
//! # The sans-IO contract
//!
//! Every state machine in this crate and in `mip6` follows one contract:
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

#![forbid(unsafe_code)]
pub mod addr;
pub mod maintain;
pub mod mire;
pub mod peers;
pub mod qualified;
pub mod relay;
pub mod security;
pub mod server;
pub mod wire;
