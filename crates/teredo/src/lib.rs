//! Sans-IO Teredo (RFC 4380, RFC 5991).
//!
//! Nothing in this crate opens a socket, spawns a task or reads the clock: callers
//! pass `now` and bytes in, and get back what to send, what to write to the tunnel
//! and when to call again.

#![forbid(unsafe_code)]
pub mod addr;
pub mod maintain;
pub mod peers;
pub mod qualified;
pub mod relay;
pub mod security;
pub mod server;
pub mod wire;
